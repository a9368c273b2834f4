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

__all__ = ["compute_log_likelihood", "compute_log_prior", "pointwise_log_likelihood"]

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


def _loglik_function(model, observed):
    """(compiled f(*batched free values) -> [(S, *obs batch shape)], free RVs in input order)."""
    from symvi.distributions.base import dist_info
    from symvi.minibatch import full_data_replacements
    from symvi.pytensorf import ONE_SHOT_MODE, compile_fn

    # an observed variable at its data; a free one (log prior) at its own constrained value
    terms = [dist_info(rv).logp(model.rvs_to_values[rv] if rv in model.observed_RVs else rv) for rv in observed]
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
        fixed.append(vec.astype(fx))
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
    return _pointwise(model, draws, _observed(model, var_names), "compute_log_likelihood")


def _pointwise(model, draws: dict[str, np.ndarray], observed: list, who: str) -> dict[str, np.ndarray]:
    if not observed:
        raise ValueError(f"{who}: the model has no {'observed' if who.endswith('likelihood') else 'free'} variables")
    fn, free = _loglik_function(model, observed)
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
    [[-1.226, -1.226]]
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
    values = _pointwise(model, flat, rvs, who)
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
