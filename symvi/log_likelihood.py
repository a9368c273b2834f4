"""Pointwise log likelihood of posterior draws: the ``log_likelihood`` group ArviZ's
``loo`` / ``waic`` / ``compare`` read.

For every observed variable ``y`` and every draw ``s`` of the free variables, the group holds
``log p(y_i | theta_s)`` for each observation ``i`` (each *event* of a multivariate
distribution: an ``MvNormal`` row gives one number).  The log densities of all observed
variables are one graph over the free variables' constrained values; ``vectorize_graph``
gives it a leading draw axis, so one compiled function evaluates a whole block of draws
(no Python loop over draws).  Observed :func:`symvi.Minibatch` tensors are replaced by
their full data first and ``total_size`` is not applied: the log likelihood is that of each
data point.  Potentials are not part of it (as in PyMC).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model(coords={"obs": ["a", "b", "c"]}) as m:
...     mu = pm.Normal("mu", 0, 1)
...     y = pm.Normal("y", mu, 1, observed=np.array([0.0, 1.0, 2.0]), dims="obs")
>>> idata = pm.to_inference_data({"posterior": {"mu": np.zeros((1, 4))}}, m)
>>> ll = pm.compute_log_likelihood(idata, model=m).log_likelihood["y"]
>>> ll.dims, ll.values[0, 0].round(3).tolist()
(('chain', 'draw', 'obs'), [-0.919, -1.419, -2.919])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.traversal import ancestors

__all__ = ["compute_deterministics", "compute_log_likelihood", "compute_log_prior", "pointwise_log_likelihood"]

#: draws per compiled call are chosen so one call's output holds about this many numbers
_BLOCK_ELEMENTS = 4_000_000


def _observed(model, var_names, prior: bool = False) -> list:
    """The observed variables (the free ones for ``prior=True``) named by ``var_names``."""
    observed = list(model.free_RVs if prior else model.observed_RVs)
    if var_names is None:
        return observed
    names = [var_names] if isinstance(var_names, str) else list(var_names)
    known = {rv.name: rv for rv in observed}
    out = []
    for n in names:
        rv = known.get(n, known.get(model._full(n)))
        if rv is None:
            kind, who = ("a free", "compute_log_prior") if prior else ("an observed", "compute_log_likelihood")
            raise KeyError(f"{who}: var_names entry {n!r} is not {kind} variable; those are: {sorted(known)}")
        out.append(rv)
    return out


def _posterior(idata) -> dict[str, np.ndarray]:
    post = getattr(idata, "posterior", None)
    if post is None and hasattr(idata, "data_vars"):
        post = idata
    if post is None:
        raise TypeError(
            "compute_log_likelihood: idata must be InferenceData with a posterior group "
            f"(e.g. approx.sample(1000)) or a posterior Dataset, got {type(idata).__name__}"
        )
    out = {}
    for name, da in post.data_vars.items():
        if tuple(da.dims[:2]) != ("chain", "draw"):
            raise ValueError(f"compute_log_likelihood: posterior variable {name!r} has dims {da.dims}; expected ('chain', 'draw', ...)")
        out[name] = np.asarray(da.values)
    return out


def _logp_terms(model, rvs) -> list:
    """Elementwise log densities: an observed variable at its data, a free one (log prior) at
    its own constrained value."""
    from symvi.distributions.base import dist_info

    return [dist_info(rv).logp(model.rvs_to_values[rv] if rv in model.observed_RVs else rv) for rv in rvs]


def _draws_function(model, terms):
    """(compiled f(*batched free values) -> [(S, *term shape)], free RVs in input order) for
    expressions ``terms`` of the free variables and the data."""
    from symvi.minibatch import full_data_replacements
    from symvi.pytensorf import ONE_SHOT_MODE, compile_fn

    free = [rv for rv in model.free_RVs if rv in set(ancestors(terms))]
    holders = [rv.type() for rv in free]
    repl = dict(zip(free, holders))
    repl.update({rv: model.rvs_to_values[rv] for rv in model.observed_RVs})
    terms = graph_replace(terms, repl, strict=False)
    full = full_data_replacements(model, terms)  # a Minibatch model: every data point
    if full:
        terms = graph_replace(terms, full, strict=False)
    batched = [pt.tensor(f"{rv.name}_draws", dtype=rv.dtype, shape=(None, *rv.type.shape)) for rv in free]
    out = vectorize_graph(terms, dict(zip(holders, batched))) if holders else list(terms)
    n = batched[0].shape[0] if batched else pt.constant(1)
    fx = pytensor.config.floatX
    fixed = []
    for term, vec in zip(terms, out):
        if not set(holders) & set(ancestors([term])):  # no free variable in it: the same for every draw
            vec = pt.broadcast_to(vec, (n, *[vec.shape[i] for i in range(vec.ndim)]))
        fixed.append(vec.astype(fx) if vec.dtype.startswith("float") else vec)
    return compile_fn(batched, fixed, mode=ONE_SHOT_MODE), free


def pointwise_log_likelihood(model, draws: dict[str, np.ndarray], var_names=None) -> dict[str, np.ndarray]:
    """``{observed name: (S, ...) array}`` of ``log p(y_i | theta_s)`` for ``draws``
    ``{free variable name: (S, ...) constrained values}``.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model() as m:
    ...     lam = pm.Exponential("lam", 1.0)
    ...     y = pm.Poisson("y", lam, observed=np.array([0, 2]))
    >>> pointwise_log_likelihood(m, {"lam": np.array([1.0, 2.0])})["y"].round(3).tolist()
    [[-1.0, -1.693], [-2.0, -1.307]]
    """
    observed = _observed(model, var_names)
    if not observed:
        raise ValueError("compute_log_likelihood: the model has no observed variables")
    return _pointwise(model, draws, observed, _logp_terms(model, observed), "compute_log_likelihood")


def _pointwise(model, draws: dict[str, np.ndarray], observed: list, terms: list, who: str) -> dict[str, np.ndarray]:
    """``{name of each of observed: (S, ...) values of its term}`` at the draws."""
    fn, free = _draws_function(model, terms)
    missing = [rv.name for rv in free if rv.name not in draws]
    if missing:
        raise KeyError(f"{who}: the posterior has no draws of {missing} (free variables the log densities depend on)")
    values = [np.asarray(draws[rv.name], dtype=rv.dtype) for rv in free]
    sizes = {np.shape(v)[0] for v in (values or list(draws.values()))}
    if len(sizes) > 1:
        raise ValueError(f"{who}: the draws disagree on their number: {sorted(sizes)}")
    S = sizes.pop() if sizes else 1
    if not free:  # nothing to vectorise over: the same log likelihood for every draw
        return {rv.name: np.repeat(np.asarray(o), S, axis=0) for rv, o in zip(observed, fn())}
    first = fn(*[v[:1] for v in values])
    per_draw = max(1, sum(int(np.prod(np.shape(o)[1:])) for o in first))
    block = max(1, _BLOCK_ELEMENTS // per_draw)
    results = [np.empty((S, *np.shape(o)[1:]), dtype=np.asarray(o).dtype) for o in first]
    for buf, o in zip(results, first):
        buf[:1] = o
    for start in range(1, S, block):
        stop = min(S, start + block)
        for buf, o in zip(results, fn(*[v[start:stop] for v in values])):
            buf[start:stop] = o
    return {rv.name: r for rv, r in zip(observed, results)}


def compute_log_likelihood(
    idata,
    *,
    var_names: Sequence[str] | None = None,
    extend_inferencedata: bool = True,
    model=None,
    progressbar: bool = True,
):
    """Add the pointwise ``log_likelihood`` group to ``idata`` (PyMC's ``pm.compute_log_likelihood``).

    ``idata``: InferenceData with a ``posterior`` group (e.g. ``approx.sample(1000)``); the
    group gets one variable per observed variable (or per ``var_names`` entry) with dims
    ``(chain, draw, *the observed variable's dims)`` and the model's coords, so
    ``az.loo(idata)``, ``az.waic`` and ``az.compare`` work.  Returns ``idata`` extended (an
    existing ``log_likelihood`` group is replaced), or with ``extend_inferencedata=False`` the
    new group as an ``xarray.Dataset``.  ``progressbar`` is accepted for PyMC compatibility
    and ignored.  The likelihood uses the model's current data.

    Examples
    --------
    >>> import numpy as np, arviz as az, symvi as pm
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu", 0, 1)
    ...     y = pm.Normal("y", mu, 1, observed=np.linspace(-1, 1, 20))
    ...     idata = pm.MeanField(start_sigma={"mu": 0.2}).sample(400, random_seed=0)
    >>> idata = pm.compute_log_likelihood(idata, model=m)
    >>> idata.log_likelihood["y"].shape
    (1, 400, 20)
    >>> bool(np.isfinite(az.loo(idata).elpd_loo))
    True
    """
    return _add_group(idata, var_names, extend_inferencedata, model, "log_likelihood")


def compute_log_prior(
    idata,
    var_names: Sequence[str] | None = None,
    extend_inferencedata: bool = True,
    model=None,
):
    """Add the pointwise ``log_prior`` group to ``idata`` (PyMC's ``pm.compute_log_prior``).

    For every free variable (or ``var_names`` entry) and every draw: its elementwise log
    density at the drawn (constrained) value given the drawn values of its parameters, without
    the transform's Jacobian, as PyMC - what prior-sensitivity checks (``psense``) read.
    Returns ``idata`` extended, or with ``extend_inferencedata=False`` the new Dataset.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model() as m:
    ...     sigma = pm.HalfNormal("sigma", 1.0)
    >>> idata = pm.to_inference_data({"posterior": {"sigma": np.ones((1, 2))}}, m)
    >>> pm.compute_log_prior(idata, model=m).log_prior["sigma"].values.round(3).tolist()
    [[-0.726, -0.726]]
    """
    return _add_group(idata, var_names, extend_inferencedata, model, "log_prior")


def _add_group(idata, var_names, extend_inferencedata: bool, model, group_name: str):
    import arviz as az

    from symvi.model import modelcontext
    from symvi.sampling import to_inference_data

    who = f"compute_{group_name}"
    model = modelcontext(model, who=who)
    posterior = _posterior(idata)
    lead = {a.shape[:2] for a in posterior.values()}
    if len(lead) != 1:
        raise ValueError(f"{who}: posterior variables disagree on (chain, draw) sizes: {sorted(lead)}")
    n_chain, n_draw = lead.pop()
    flat = {k: v.reshape((n_chain * n_draw, *v.shape[2:])) for k, v in posterior.items()}
    rvs = _observed(model, var_names, prior=group_name == "log_prior")
    if not rvs:
        raise ValueError(f"{who}: the model has no {'free' if group_name == 'log_prior' else 'observed'} variables")
    values = _pointwise(model, flat, rvs, _logp_terms(model, rvs), who)
    arrays = {k: v.reshape((n_chain, n_draw, *v.shape[1:])) for k, v in values.items()}
    group = getattr(to_inference_data({group_name: arrays}, model), group_name)
    post = idata.posterior if hasattr(idata, "posterior") else idata
    group = group.assign_coords(chain=post["chain"].values, draw=post["draw"].values)
    if not extend_inferencedata:
        return group
    if not isinstance(idata, az.InferenceData):
        raise TypeError(f"{who}: extend_inferencedata=True needs InferenceData; pass extend_inferencedata=False for a Dataset")
    idata.extend(az.InferenceData(**{group_name: group}), join="right")
    return idata


def compute_deterministics(
    dataset,
    *,
    var_names: Sequence[str] | None = None,
    model=None,
    sample_dims: Sequence[str] = ("chain", "draw"),
    merge_dataset: bool = False,
    progressbar: bool = True,
    compile_kwargs: dict | None = None,
):
    """The model's Deterministics at each draw of ``dataset`` (PyMC's ``pm.compute_deterministics``).

    ``dataset``: a posterior ``xarray.Dataset`` (or InferenceData, whose posterior is used)
    holding the free variables' draws along ``sample_dims``; e.g. after
    ``pm.sample(var_names=[...])`` left the Deterministics out.  Returns a Dataset of the
    Deterministics (or ``var_names`` of them) with the model's dims, merged into ``dataset``
    with ``merge_dataset=True``.  One compiled function evaluates blocks of draws at once;
    ``progressbar`` and ``compile_kwargs`` are accepted for PyMC compatibility and ignored.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model(coords={"group": [0, 2, 4]}) as m:
    ...     mu_raw = pm.Normal("mu_raw", 0, 1, dims="group")
    ...     mu = pm.Deterministic("mu", mu_raw.cumsum(), dims="group")
    >>> post = pm.to_inference_data({"posterior": {"mu_raw": np.ones((1, 2, 3))}}, m).posterior
    >>> pm.compute_deterministics(post, model=m)["mu"].values[0, 0].tolist()
    [1.0, 2.0, 3.0]
    """
    from symvi.model import modelcontext
    from symvi.sampling import to_inference_data

    who = "compute_deterministics"
    model = modelcontext(model, who=who)
    dets = list(model.deterministics)
    if var_names is not None:
        names = [var_names] if isinstance(var_names, str) else list(var_names)
        known = {d.name: d for d in dets}
        unknown = [n for n in names if n not in known and model._full(n) not in known]
        if unknown:
            raise KeyError(f"{who}: var_names {unknown} are not Deterministics of the model; those are: {sorted(known)}")
        dets = [known.get(n, known.get(model._full(n))) for n in names]
    if not dets:
        raise ValueError(f"{who}: the model has no Deterministics to compute")
    post = getattr(dataset, "posterior", dataset)
    sample_dims = tuple(sample_dims)
    if not 1 <= len(sample_dims) <= 2 or any(d not in post.dims for d in sample_dims):
        raise ValueError(f"{who}: sample_dims {sample_dims} must be one or two dims of the dataset {tuple(post.dims)}")
    lead = tuple(post.sizes[d] for d in sample_dims)
    n = int(np.prod(lead))
    flat = {}
    for rv in model.free_RVs:
        if rv.name in post:
            da = post[rv.name].transpose(*sample_dims, ...)
            flat[rv.name] = np.asarray(da.values).reshape((n, *da.shape[len(sample_dims):]))
    values = _pointwise(model, flat, dets, dets, who)
    shape2 = lead if len(lead) == 2 else (1, *lead)
    arrays = {k: v.reshape((*shape2, *v.shape[1:])) for k, v in values.items()}
    out = to_inference_data({"posterior": arrays}, model).posterior
    out = out.rename({"chain": sample_dims[0], "draw": sample_dims[1]}) if len(lead) == 2 else out.isel(chain=0, drop=True).rename({"draw": sample_dims[0]})
    out = out.assign_coords({d: post[d].values for d in sample_dims if d in post.coords})
    return post.merge(out) if merge_dataset else out
