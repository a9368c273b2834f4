"""Forward sampling (prior / prior predictive, ``draw``) and InferenceData assembly.

Every random variable in a symvi model is a pytensor ``RandomVariable`` draw with its own
shared generator, so forward sampling is one compiled function of the requested variables:
:func:`symvi.pytensorf.compile_fn` adds the generator updates (each call gives a fresh joint
draw) and the generators are reseeded from ``random_seed`` before the first call, so a seed
reproduces the draws.  The compiled call costs tens of microseconds, so ``draws`` calls are
made in a Python loop (robust for every distribution, mixtures included).  The generators'
previous states are restored afterwards: sampling has no side effect on the model.

Examples
--------
>>> import numpy as np, symvi as sv
>>> with sv.Model(coords={"obs": range(4)}) as m:
...     mu = sv.Normal("mu", 0, 1)
...     y = sv.Normal("y", mu, 1, observed=np.zeros(4), dims="obs")
>>> idata = sv.sample_prior_predictive(draws=10, model=m, random_seed=1)
>>> idata.prior_predictive["y"].dims
('chain', 'draw', 'obs')
>>> sv.draw(sv.Normal.dist(0, 1, size=2), draws=3, random_seed=0).shape
(3, 2)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.traversal import ancestors

from symvi.lazy_imports import arviz as _arviz
from symvi.lazy_imports import xarray as _xarray
from symvi.pytensorf import compile_fn, find_rngs, reseed_rngs

__all__ = ["sample_prior_predictive", "sample_posterior_predictive", "draw", "to_inference_data"]

# Groups whose variables carry leading (chain, draw) axes; every other group holds plain data.
DATA_GROUPS = frozenset({"observed_data", "constant_data", "predictions_constant_data"})


# ---------------------------------------------------------------------- drawing
def _free_inputs(outputs) -> list:
    """Root variables that are neither constants nor shared (i.e. would need an input)."""
    return [
        v
        for v in ancestors(list(outputs))
        if v.owner is None and not isinstance(v, Constant | SharedVariable)
    ]


def _draw_loop(outputs: Sequence[Variable], draws: int, random_seed, what: str, mode=None) -> list[np.ndarray]:
    """``draws`` joint forward draws of ``outputs`` as arrays with a leading ``draws`` axis."""
    outputs = list(outputs)
    if not outputs:
        return []
    missing = _free_inputs(outputs)
    if missing:
        names = sorted({str(v.name or v) for v in missing})
        raise ValueError(
            f"{what}: cannot draw because the graph depends on symbolic input(s) {names} "
            "(e.g. value variables); draw random variables, deterministics or constant expressions"
        )
    fn = compile_fn([], outputs, mode=mode)
    rngs = find_rngs(outputs)
    saved = [r.get_value(borrow=False) for r in rngs]
    reseed_rngs(rngs, random_seed)
    try:
        first = [np.asarray(v) for v in fn()]
        out = [np.empty((draws,) + a.shape, dtype=a.dtype) for a in first]
        for buf, a in zip(out, first):
            buf[0] = a
        for i in range(1, draws):
            for buf, a in zip(out, fn()):
                buf[i] = a
    finally:
        for r, s in zip(rngs, saved):
            r.set_value(s, borrow=True)
    return out


def draw(vars, draws: int = 1, random_seed=None):
    """Forward draws of one variable or a list of variables (PyMC's ``pm.draw``).

    Returns a numpy array (a list of arrays for a list of variables); with ``draws > 1`` each
    array has a leading axis of length ``draws``.  Variables in one call are drawn jointly.

    Examples
    --------
    >>> import symvi as sv
    >>> x = sv.Normal.dist(5.0, 1e-6)
    >>> round(float(sv.draw(x, random_seed=1)), 3)
    5.0
    """
    if not isinstance(draws, int | np.integer) or isinstance(draws, bool) or draws < 1:
        raise ValueError(f"draw: draws must be a positive integer, got {draws!r}")
    single = not isinstance(vars, list | tuple)
    seq = [vars] if single else list(vars)
    seq = [v if isinstance(v, Variable) else pt.as_tensor_variable(v) for v in seq]
    arrays = _draw_loop(seq, int(draws), random_seed, "draw")
    if draws == 1:
        arrays = [a[0] for a in arrays]
    return arrays[0] if single else arrays


# ---------------------------------------------------------------------- InferenceData
def _var_dims(model, name: str) -> tuple | None:
    if model is None:
        return None
    dims = model.named_vars_to_dims.get(name)
    if dims is None:
        # unconstrained value variables (``sigma_log__``) share their random variable's dims
        for rv, value in model.rvs_to_values.items():
            if getattr(value, "name", None) == name and rv.name != name:
                dims = model.named_vars_to_dims.get(rv.name)
                break
    return dims


def _data_array(model, name: str, arr: np.ndarray, lead: tuple[str, ...], dims_override=None):
    arr = np.asarray(arr)
    if arr.ndim < len(lead):
        raise ValueError(f"to_inference_data: {name!r} has shape {arr.shape}; expected leading axes {lead}")
    event_shape = arr.shape[len(lead) :]
    model_dims = dims_override if dims_override is not None else _var_dims(model, name)
    coords = {}
    dims = list(lead)
    for i, n in enumerate(event_shape):
        d = model_dims[i] if model_dims is not None and i < len(model_dims) else None
        if d is not None and model is not None:
            known = model.dim_lengths.get(d)
            if known is not None and known != n:
                d = None  # e.g. a transform changed the length: do not claim the model's dim
        if d is None:
            d = f"{name}_dim_{i}"
            coords[d] = np.arange(n)
        else:
            values = model.coords.get(d) if model is not None else None
            coords[d] = np.asarray(values) if values is not None and len(values) == n else np.arange(n)
        dims.append(d)
    for ax, d in enumerate(lead):
        coords[d] = np.arange(arr.shape[ax])
    xr = _xarray()  # imported at first use, its dask probe deferred (symvi.lazy_imports)

    return xr.DataArray(arr, dims=dims, coords=coords, name=name)


def _attrs() -> dict:
    import symvi

    try:
        from arviz.data.base import make_attrs

        attrs = make_attrs()
    except Exception:  # noqa: BLE001 - attrs are cosmetic
        attrs = {}
    attrs.update(inference_library="symvi", inference_library_version=symvi.__version__)
    return attrs


def to_inference_data(
    groups: Mapping[str, Mapping[str, np.ndarray]],
    model=None,
    *,
    add_chain_dim: bool = False,
    dims: Mapping[str, Sequence] | None = None,
    attrs: Mapping | None = None,
):
    """Build an :class:`arviz.InferenceData` from ``{group: {variable name: array}}``.

    Sample groups (``posterior``, ``prior``, ``prior_predictive``, ``log_likelihood``,
    ``sample_stats`` ...) hold arrays with leading ``(chain, draw)`` axes, or just ``(draw,)``
    with ``add_chain_dim=True`` (a chain axis of length 1 is prepended).  Data groups
    (``observed_data``, ``constant_data``) hold the plain arrays.  The remaining axes take the
    model's dims (``model.named_vars_to_dims``; ``dims=`` overrides per variable) and coords
    (``model.coords``); axes without a dim, or whose length disagrees with the model's,
    get ``{name}_dim_{i}`` with integer coords.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model(coords={"k": ["a", "b"]}) as m:
    ...     x = sv.Normal("x", 0, 1, dims="k")
    >>> idata = to_inference_data({"posterior": {"x": np.zeros((5, 2))}}, m, add_chain_dim=True)
    >>> dict(idata.posterior["x"].sizes)
    {'chain': 1, 'draw': 5, 'k': 2}
    """
    az = _arviz()
    xr = _xarray()

    dims = dict(dims or {})
    base_attrs = _attrs()
    base_attrs.update(attrs or {})
    datasets = {}
    for group, variables in groups.items():
        if variables is None:
            continue
        sample = group not in DATA_GROUPS
        lead = ("chain", "draw") if sample else ()
        arrays = {}
        for name, arr in variables.items():
            arr = np.asarray(arr)
            if sample and add_chain_dim:
                arr = arr[None]
            arrays[name] = _data_array(model, name, arr, lead, dims.get(name))
        datasets[group] = xr.Dataset(arrays, attrs=dict(base_attrs))
    return az.InferenceData(**datasets)


# ---------------------------------------------------------------------- PyMC keyword parity
_IDATA_KEYS = ("dims", "attrs")


def _idata_kwargs(who: str, idata_kwargs) -> dict:
    """The ``idata_kwargs`` PyMC's predictive functions take that apply here (``dims``, ``attrs``)."""
    kw = dict(idata_kwargs or {})
    unknown = sorted(set(kw) - set(_IDATA_KEYS))
    if unknown:
        raise TypeError(f"{who}: idata_kwargs {unknown} are not supported; supported: {list(_IDATA_KEYS)}")
    return kw


def _compile_mode(who: str, compile_kwargs, default=None):
    """The ``mode`` of PyMC's ``compile_kwargs`` (the only compile option that applies here)."""
    kw = dict(compile_kwargs or {})
    unknown = sorted(set(kw) - {"mode"})
    if unknown:
        raise TypeError(f"{who}: compile_kwargs {unknown} are not supported; supported: ['mode']")
    return kw.get("mode", default)


# ---------------------------------------------------------------------- prior predictive
def _observed_value(var):
    if isinstance(var, SharedVariable):
        return np.asarray(var.get_value(borrow=False))
    if isinstance(var, Constant):
        return np.asarray(var.data)
    try:
        return np.asarray(var.eval())
    except Exception:  # noqa: BLE001 - data that cannot be evaluated is left out
        return None


def sample_prior_predictive(
    draws: int = 500,
    model=None,
    var_names=None,
    random_seed=None,
    return_inferencedata: bool = True,
    idata_kwargs: dict | None = None,
    compile_kwargs: dict | None = None,
    samples: int | None = None,
):
    """Draw from the prior and prior predictive; returns :class:`arviz.InferenceData`.

    Groups: ``prior`` (free random variables on their constrained space, and Deterministics),
    ``prior_predictive`` (observed variables drawn from the model), ``observed_data`` and
    ``constant_data`` (``Data`` containers not used as observed values, as in PyMC), each
    sample group shaped ``(chain=1, draw=draws, ...)`` with the model's dims and coords.
    ``var_names`` restricts the drawn variables; Potentials are not part of forward draws.
    As in PyMC: ``return_inferencedata=False`` gives ``{name: (draws, ...) array}``,
    ``idata_kwargs`` takes ``dims`` / ``attrs``, ``compile_kwargs`` a ``mode``, and the old
    ``samples=`` still means ``draws=`` (with a FutureWarning).

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     mu = sv.Normal("mu", 0, 1)
    ...     prior = sv.sample_prior_predictive(10, return_inferencedata=False, random_seed=1)
    >>> prior["mu"].shape
    (10,)
    """
    from symvi.model import modelcontext

    who = "sample_prior_predictive"
    if samples is not None:
        warnings.warn(f"{who}: samples= is the old name of draws=; use draws=", FutureWarning, stacklevel=2)
        draws = samples
    idata_kw = _idata_kwargs(who, idata_kwargs)
    mode = _compile_mode(who, compile_kwargs)
    model = modelcontext(model, who=who)
    if not isinstance(draws, int | np.integer) or isinstance(draws, bool) or draws < 1:
        raise ValueError(f"sample_prior_predictive: draws must be a positive integer, got {draws!r}")
    prior_vars = list(model.free_RVs) + list(model.deterministics)
    pp_vars = list(model.observed_RVs)
    if var_names is not None:
        names = [var_names] if isinstance(var_names, str) else list(var_names)
        known = {v.name: v for v in prior_vars + pp_vars}
        unknown = [n for n in names if n not in known and model._full(n) not in known]
        if unknown:
            raise KeyError(
                f"sample_prior_predictive: var_names {unknown} are not random variables or "
                f"deterministics of the model; known: {sorted(known)}"
            )
        wanted = {known.get(n, known.get(model._full(n))) for n in names}
        prior_vars = [v for v in prior_vars if v in wanted]
        pp_vars = [v for v in pp_vars if v in wanted]
    if model.potentials:
        warnings.warn(
            "sample_prior_predictive ignores the model's Potentials "
            f"({[p.name for p in model.potentials]}): the draws are from the model without them",
            UserWarning,
            stacklevel=2,
        )
    outputs = prior_vars + pp_vars
    arrays = _draw_loop(outputs, int(draws), random_seed, who, mode=mode)
    if not return_inferencedata:
        return {v.name: a for v, a in zip(outputs, arrays)}
    by_name = {v.name: a[None] for v, a in zip(outputs, arrays)}  # (chain=1, draw, ...)
    groups: dict[str, dict] = {
        "prior": {v.name: by_name[v.name] for v in prior_vars},
        "prior_predictive": {v.name: by_name[v.name] for v in pp_vars},
    }
    groups.update(data_groups(model))
    groups = {g: v for g, v in groups.items() if v}
    return to_inference_data(groups, model, **idata_kw)


def data_groups(model) -> dict:
    """``observed_data`` (each observed variable's values, where they are data rather than a
    minibatch expression) and ``constant_data`` (``Data`` containers not used as observed
    values, as in PyMC); empty groups left out.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model() as m:
    ...     x = sv.Data("x", np.arange(3.0))
    ...     y = sv.Normal("y", x, 1.0, observed=np.zeros(3))
    >>> sorted(data_groups(m))
    ['constant_data', 'observed_data']
    """
    observed = {}
    used_data = set()
    for rv in model.observed_RVs:
        value = model.rvs_to_values[rv]
        used_data.add(value)
        val = _observed_value(value)
        if val is not None:
            observed[rv.name] = val
    constant = {d.name: np.asarray(d.get_value(borrow=False)) for d in model.data_vars if d not in used_data}
    return {g: v for g, v in (("observed_data", observed), ("constant_data", constant)) if v}


# ---------------------------------------------------------------------- posterior predictive
def _own_draw(rv):
    """(rng, size) of the random-variable node that draws ``rv`` (through SpecifyShape), or
    (None, None) where ``rv`` is a graph of several draws (truncated, zero-inflated, ...)."""
    from pytensor.tensor.random.op import RandomVariable
    from pytensor.tensor.shape import SpecifyShape

    var = rv
    while var.owner is not None and isinstance(var.owner.op, SpecifyShape):
        var = var.owner.inputs[0]
    if var.owner is not None and isinstance(var.owner.op, RandomVariable):
        return var.owner.inputs[0], var.owner.inputs[1]
    return None, None


def follow_parameters(rv):
    """``rv`` redrawn with the batch shape its parameters have now (or ``rv`` itself).

    An observed variable's size is fixed when the model is built (from the observed data, its
    ``dims`` or ``shape``).  For predictions after :func:`~symvi.model.set_data` the axes along
    which a parameter varies (``a + b * x`` for a Data container ``x``) take the parameters'
    current lengths; the other axes (a scalar ``mu`` repeated over the observations) keep the
    size the variable was built with.  Where the parameters' shapes are static and equal to
    the variable's, nothing changes.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model() as m:
    ...     x = sv.Data("x", np.arange(4.0))
    ...     y = sv.Normal("y", 2 * x, 1e-6, observed=np.zeros(4))
    >>> sv.set_data({"x": np.arange(2.0)}, model=m)
    >>> (follow_parameters(y).eval().round(3) + 0.0).tolist()  # + 0.0: no -0.0
    [0.0, 2.0]
    """
    from symvi.distributions.base import dist_info
    from symvi.pytensorf import new_rng

    info = dist_info(rv)
    if info is None:
        return rv
    supp = info.cls.ndim_supp
    rng, size = _own_draw(rv)
    natural = info.cls.rv_graph(info.params, None, rng if rng is not None else new_rng())
    n_batch, n_nat = rv.ndim - supp, natural.ndim - supp
    if n_nat > n_batch or n_nat < 0:
        return rv
    lead = n_batch - n_nat
    driven = [False] * lead + [not b for b in natural.type.broadcastable[:n_nat]]
    if not any(driven):
        return rv
    static_nat = natural.type.shape[:n_nat]
    static_rv = rv.type.shape[:n_batch]
    if all(static_rv[j] is not None and static_rv[j] == static_nat[j - lead] for j in range(n_batch) if driven[j]):
        return rv  # the parameters' lengths are constants that already agree
    if all(driven):
        return natural
    entries = []
    for j in range(n_batch):
        if driven[j]:
            entries.append(natural.shape[j - lead])
        elif static_rv[j] is not None:
            entries.append(pt.constant(static_rv[j], dtype="int64"))
        elif size is not None and size.type.ndim == 1:
            entries.append(size[j])
        else:
            return natural  # the size of this axis is not known separately: follow the parameters
    return info.cls.rv_graph(info.params, pt.stack(entries), rng if rng is not None else new_rng())


def _posterior_draws(trace) -> tuple[dict[str, np.ndarray], int, int]:
    """``({name: (chain, draw, ...) array}, n_chain, n_draw)`` from the supported trace types."""
    posterior = getattr(trace, "posterior", None)
    if posterior is not None:
        trace = posterior
    if hasattr(trace, "data_vars"):  # xarray Dataset
        out = {}
        for name, da in trace.data_vars.items():
            if da.dims[:2] != ("chain", "draw"):
                raise ValueError(f"sample_posterior_predictive: posterior variable {name!r} has dims {da.dims}; expected ('chain', 'draw', ...)")
            out[name] = np.asarray(da.values)
    elif isinstance(trace, Mapping):  # {name: (draw, ...) array}
        out = {k: np.asarray(v)[None] for k, v in trace.items()}
    else:
        raise TypeError(
            "sample_posterior_predictive: trace must be InferenceData (with a posterior group), "
            f"an xarray Dataset or a dict of arrays with a leading draw axis, got {type(trace).__name__}"
        )
    lead = {a.shape[:2] for a in out.values()}
    if len(lead) > 1:
        raise ValueError(f"sample_posterior_predictive: posterior variables disagree on (chain, draw) sizes: {sorted(lead)}")
    n_chain, n_draw = lead.pop() if lead else (1, 0)
    return out, int(n_chain), int(n_draw)


def sample_posterior_predictive(
    trace,
    model=None,
    var_names=None,
    *,
    random_seed=None,
    predictions: bool = False,
    extend_inferencedata: bool = False,
    return_inferencedata: bool = True,
    progressbar: bool = True,
    idata_kwargs: dict | None = None,
    compile_kwargs: dict | None = None,
    progressbar_theme=None,
):
    """Forward-sample the observed variables (or ``var_names``) at every posterior draw.

    ``trace`` is InferenceData with a ``posterior`` group (e.g. ``approx.sample(1000)``), its
    posterior Dataset, or a dict ``{name: (draw, ...) array}``.  The free variables found in
    it are fixed at each draw's (constrained) values; everything downstream - observed
    variables, Deterministics - is recomputed with the model's *current* data, so after
    :func:`~symvi.model.set_data` it predicts for the new inputs (coords follow the new
    lengths).  Returns InferenceData with ``posterior_predictive`` (plus ``observed_data`` /
    ``constant_data``), or with ``predictions`` and ``predictions_constant_data`` when
    ``predictions=True``; ``extend_inferencedata=True`` adds them to ``trace`` and returns it;
    ``return_inferencedata=False`` gives ``{name: (chain, draw, ...) array}``.  In a model
    observing :func:`~symvi.Minibatch` tensors the draws are for the full data.  ``progressbar``
    and ``progressbar_theme`` are accepted for PyMC compatibility and ignored; ``idata_kwargs``
    takes ``dims`` / ``attrs`` and ``compile_kwargs`` a ``mode``, as in PyMC.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model() as m:
    ...     x = sv.Data("x", np.arange(3.0), dims="obs")
    ...     y_obs = sv.Data("y_obs", np.zeros(3), dims="obs")
    ...     b = sv.Normal("b", 0, 1)
    ...     y = sv.Normal("y", b * x, 0.01, observed=y_obs, dims="obs")
    >>> post = {"b": np.array([1.0, 2.0])}
    >>> sv.set_data({"x": np.arange(5.0), "y_obs": np.zeros(5)}, model=m)
    >>> pp = sv.sample_posterior_predictive(post, model=m, predictions=True, random_seed=0)
    >>> pp.predictions["y"].shape, pp.predictions["y"].values[0, 1].round(1).tolist()
    ((1, 2, 5), [0.0, 2.0, 4.0, 6.0, 8.0])
    """
    from pytensor.graph.replace import graph_replace, vectorize_graph

    from symvi.minibatch import full_data_replacements
    from symvi.model import modelcontext
    from symvi.pytensorf import ONE_SHOT_MODE

    idata_kw = _idata_kwargs("sample_posterior_predictive", idata_kwargs)
    mode = _compile_mode("sample_posterior_predictive", compile_kwargs, ONE_SHOT_MODE)
    model = modelcontext(model, who="sample_posterior_predictive")
    draws, n_chain, n_draw = _posterior_draws(trace)
    if n_draw == 0:
        raise ValueError("sample_posterior_predictive: the trace holds no draws")
    candidates = list(model.observed_RVs) + list(model.deterministics) + list(model.free_RVs)
    if var_names is None:
        outputs = list(model.observed_RVs)
    else:
        names = [var_names] if isinstance(var_names, str) else list(var_names)
        known = {v.name: v for v in candidates}
        unknown = [n for n in names if n not in known and model._full(n) not in known]
        if unknown:
            raise KeyError(
                f"sample_posterior_predictive: var_names {unknown} are not variables of the model; known: {sorted(known)}"
            )
        outputs = [known.get(n, known.get(model._full(n))) for n in names]
    if not outputs:
        raise ValueError("sample_posterior_predictive: nothing to sample (the model has no observed variables; pass var_names)")
    # as PyMC: the requested variables, and what depends on them, are drawn afresh even when
    # the trace holds them (a free variable asked for in var_names, e.g. after pm.do)
    requested = set(outputs)
    fixed = [rv for rv in model.free_RVs if rv.name in draws and not requested.intersection(ancestors([rv]))]
    holders = [rv.type() for rv in fixed]
    follow = {rv: new for rv in model.observed_RVs if (new := follow_parameters(rv)) is not rv}
    # vectorize_graph rebuilds what depends on them (graph_replace would pin the old shapes)
    graph = vectorize_graph(outputs, follow) if follow else outputs
    graph = graph_replace(graph, dict(zip(fixed, holders)), strict=False)
    full = full_data_replacements(model)  # a Minibatch model predicts on its full data
    if full:
        graph = graph_replace(graph, full, strict=False)
    fn = compile_fn(holders, graph, mode=mode)
    rngs = find_rngs(graph)
    saved = [r.get_value(borrow=False) for r in rngs]
    reseed_rngs(rngs, random_seed)
    values = [np.asarray(draws[rv.name], dtype=rv.dtype) for rv in fixed]
    try:
        results = None
        for c in range(n_chain):
            for d in range(n_draw):
                out = fn(*[v[c, d] for v in values])
                if results is None:
                    results = [np.empty((n_chain, n_draw) + np.shape(o), dtype=np.asarray(o).dtype) for o in out]
                for buf, o in zip(results, out):
                    buf[c, d] = o
    finally:
        for r, s in zip(rngs, saved):
            r.set_value(s, borrow=True)
    sampled = {v.name: a for v, a in zip(outputs, results)}
    if not return_inferencedata:
        return sampled
    used_data = {model.rvs_to_values[rv] for rv in model.observed_RVs}
    constant = {d.name: np.asarray(d.get_value(borrow=False)) for d in model.data_vars if d not in used_data}
    if predictions:
        groups = {"predictions": sampled, "predictions_constant_data": constant}
    else:
        observed = {}
        for rv in model.observed_RVs:
            value = model.rvs_to_values[rv]
            val = _observed_value(graph_replace(value, full, strict=False) if full else value)
            if val is not None:
                observed[rv.name] = val
        groups = {"posterior_predictive": sampled, "observed_data": observed, "constant_data": constant}
    groups = {g: v for g, v in groups.items() if v}
    idata = to_inference_data(groups, model, **idata_kw)
    if extend_inferencedata:
        if not hasattr(trace, "extend"):
            raise TypeError("sample_posterior_predictive: extend_inferencedata=True needs an InferenceData trace")
        az = _arviz()

        fresh = [g for g in ("predictions", "predictions_constant_data", "posterior_predictive") if g in groups]
        rest = [g for g in groups if g not in fresh]
        trace.extend(az.InferenceData(**{g: getattr(idata, g) for g in fresh}), join="right")
        if rest:  # observed/constant data already in the trace are kept
            trace.extend(az.InferenceData(**{g: getattr(idata, g) for g in rest}), join="left")
        return trace
    return idata
