"""What runs on a dask worker for a data-parallel fit: one shard's log-likelihood and its gradient.

A worker builds the user's model on its shard once and compiles ``(theta, *data) -> (sum of
the observed variables' log densities, its gradient in theta)`` over the model's flat
unconstrained vector, the data arrays found in the model's graph made inputs.  The function
stays in a per-process cache keyed by the structure (the build function's token, the layout,
the data's shapes and dtypes), so other shards and later fits of the same model on that
worker reuse it; a model that derives arrays from its data in numpy keeps them in its graph
and gets a function of its own shard.  Every later
step sends only the draws ``z`` (``(S, D)``) and gets back ``S`` values and an ``(S, D)``
gradient: the prior, the Jacobians of the transforms and the entropy of q are the driver's.

Minibatch fits compile the function with the batch arrays as inputs (the model is built once
on a probe batch, and the constants that hold the probe's rows become inputs); each step draws
its rows from ``(seed, shard, step)``, so a step that a restarted worker reruns sees the same
rows, and scales by ``shard rows / batch rows`` so that the sum over shards is unbiased.

Nothing here imports dask: the functions are plain Python that the driver submits as tasks.
"""

from __future__ import annotations

import collections

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.traversal import ancestors
from pytensor.graph.replace import graph_replace
from pytensor.tensor.variable import TensorConstant

__all__ = ["ShardSpec", "shard_loglik", "batch_rows", "forget"]

#: compiled shard functions of this process: {(fit token, shard index): _Compiled}
_CACHE: collections.OrderedDict = collections.OrderedDict()
_CACHE_SIZE = 64


class ShardSpec:
    """What a worker needs to know about the fit, besides its data (sent once per step, small).

    ``names``/``shapes``: the driver's layout of the flat vector; ``batch``: rows per step of
    this shard (None: the whole shard); ``seed``: the minibatch seed of the fit.
    """

    __slots__ = ("token", "index", "names", "shapes", "batch", "seed", "structure", "backend")

    def __init__(self, token: str, index: int, names, shapes, batch: int | None, seed: int, structure=None, backend=None):
        self.token, self.index = token, int(index)
        self.names, self.shapes = list(names), [tuple(s) for s in shapes]
        self.batch, self.seed = batch, int(seed)
        self.structure, self.backend = structure, backend


def batch_rows(seed: int, shard: int, step: int, n_rows: int, batch: int) -> np.ndarray:
    """Row indices (with replacement) that shard ``shard`` uses at step ``step``.

    >>> batch_rows(1, 0, 5, 100, 3).tolist() == batch_rows(1, 0, 5, 100, 3).tolist()
    True
    """
    rng = np.random.default_rng([int(seed), int(shard), int(step) + 2])  # (probes use steps -1, -2)
    return rng.integers(0, n_rows, size=int(batch))


class _Compiled:
    def __init__(self, fn, scale: float, n_rows: int):
        self.fn, self.scale, self.n_rows = fn, scale, n_rows


def _check_model(model, spec: ShardSpec):
    from symvi.model import Model

    if not isinstance(model, Model):
        raise TypeError(f"build_model must return a symvi Model, got {type(model).__name__} (shard {spec.index})")
    sized = [rv.name for rv in model.observed_RVs if model.rvs_to_total_sizes.get(rv) is not None]
    if sized:
        raise ValueError(
            f"build_model gives observed variable(s) {sized} a total_size: in a distributed fit the shards' "
            "log-likelihoods are summed and minibatches scaled by the fit itself; leave total_size out"
        )
    names = [v.name for v in model.value_vars]
    point = model.initial_point()
    shapes = [tuple(np.shape(point[n])) for n in names]
    if names != spec.names or shapes != spec.shapes:
        raise ValueError(
            f"build_model on shard {spec.index} gives free variables {dict(zip(names, shapes))}, but on the "
            f"driver's probe rows {dict(zip(spec.names, spec.shapes))}: the free variables' shapes must not "
            "depend on the number of rows"
        )


def _loglik_graph(model, theta):
    """(sum of the observed log densities over ``theta``, its gradient)."""
    from symvi.variational.approximations import Layout

    layout = Layout(model, model.initial_point())
    loglik = model.logp(vars=model.observed_RVs, jacobian=False)
    loglik = graph_replace(loglik, layout.replacements(theta), strict=False)
    return [loglik, pt.grad(loglik, theta)]


def _data_constants(outputs, probe) -> dict:
    """{constant: index of the probe array it holds}: the data inside the model's graph."""
    found = {}
    for var in ancestors(outputs):
        if not isinstance(var, TensorConstant) or var.data.ndim == 0:
            continue
        for k, arr in enumerate(probe):
            if var.data.shape == arr.shape and (np.shares_memory(var.data, arr) or np.array_equal(var.data, arr)):
                found[var] = k
                break
    return found


def _row_constants(outputs, n_rows: int) -> list:
    """Constants left in the graph with ``n_rows`` rows: arrays the model derived from its data."""
    return [
        v for v in ancestors(outputs) if isinstance(v, TensorConstant) and v.data.ndim and v.data.shape[0] == n_rows and n_rows > 1
    ]


def _same_on(build, fn, batch, spec: ShardSpec) -> tuple[float, float]:
    """(compiled function's, rebuilt model's) log-likelihood on ``batch`` at the initial point."""
    from symvi.logprob import compile_logp
    from symvi.pytensorf import ONE_SHOT_MODE
    from symvi.variational.approximations import Layout

    model = build(*batch)
    point = model.initial_point()
    expected = compile_logp(model, vars=model.observed_RVs, jacobian=False, mode=ONE_SHOT_MODE)(point)
    return float(fn(Layout(model, point).ravel(point), *batch)[0]), float(expected)


#: the workers' default compiler: the C backend calls BLAS for the products of a regression's
#: likelihood and its gradient (one 200 000 x 50 shard: 15 ms of CPU per call, 119 ms with Numba)
DEFAULT_BACKEND = "c"


def _mode(backend):
    """A symvi backend name (None: ``DEFAULT_BACKEND``), or a pytensor ``Mode`` as it is."""
    from pytensor.compile.mode import Mode

    from symvi.backends import get_mode

    return backend if isinstance(backend, Mode) else get_mode(backend or DEFAULT_BACKEND)


def _compile(build, arrays, spec: ShardSpec, backend) -> tuple[_Compiled, bool]:
    """The shard's function over ``(theta, *data)``; True when it holds none of this shard's
    data (shared by every shard and fit of the same structure)."""
    from symvi.pytensorf import lift_constants

    n_rows = len(arrays[0])
    if spec.batch is None:
        probe = arrays
    else:
        probe = [np.ascontiguousarray(a[batch_rows(spec.seed, spec.index, -1, n_rows, spec.batch)]) for a in arrays]
    model = build(*probe)
    _check_model(model, spec)
    theta = pt.vector("theta", dtype=pytensor.config.floatX)
    outs = _loglik_graph(model, theta)
    consts = _data_constants(outs, probe)
    inputs = [pt.tensor(f"data{k}", dtype=a.dtype, shape=a.shape) for k, a in enumerate(probe)]
    outs = graph_replace(outs, {c: inputs[k].astype(c.dtype) for c, k in consts.items()}, strict=False)
    derived = _row_constants(outs, len(probe[0]))
    fn = pytensor.function([theta, *inputs], lift_constants(outs), mode=_mode(backend), on_unused_input="ignore")
    fn.trust_input = True  # inputs are given as aligned arrays of the right dtypes
    scale = 1.0 if spec.batch is None else n_rows / spec.batch
    if spec.batch is not None:
        # the model may derive arrays from its data in numpy (which would stay the probe's):
        # compare the compiled function with the model built on another batch
        other = [np.ascontiguousarray(a[batch_rows(spec.seed, spec.index, -2, n_rows, spec.batch)]) for a in arrays]
        got, expected = _same_on(build, fn, other, spec)
        if derived or not np.isclose(got, expected, rtol=1e-8, atol=1e-8):
            raise ValueError(
                f"build_model's graph does not use its data arguments directly (shard {spec.index}: log-likelihood "
                f"{got} on a new batch, {expected} when rebuilt on it); for minibatch fits use the arguments in "
                "the model as they are (pytensor operations on them), not numpy arrays derived from them"
            )
    return _Compiled(fn, scale, n_rows), not derived


def _compiled(build, spec: ShardSpec, arrays, backend) -> _Compiled:
    own = (spec.token, spec.index)
    if backend is not None and not isinstance(backend, str):  # a Mode: by what it is, not which copy
        backend = (type(backend.linker).__name__, str(backend.optimizer))
    rows = [a.shape if spec.batch is None else (spec.batch,) + a.shape[1:] for a in arrays]
    shared = (spec.structure, spec.batch, tuple(spec.names), tuple(spec.shapes), backend) + tuple(
        (r, a.dtype.str) for r, a in zip(rows, arrays)
    )
    for key in (own, shared):
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            if key is shared:  # same function, this shard's rows and scale
                hit = _Compiled(hit.fn, 1.0 if spec.batch is None else len(arrays[0]) / spec.batch, len(arrays[0]))
                _CACHE[own] = hit
            return hit
    made, reusable = _compile(build, arrays, spec, spec.backend)
    _CACHE[own] = made
    if reusable and spec.structure is not None:
        _CACHE[shared] = made
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return made


def shard_loglik(build, spec: ShardSpec, z: np.ndarray, step: int, *arrays):
    """``(values (S,), gradients (S, D))`` of this shard's log-likelihood at the S draws ``z``.

    The first call on a worker builds and compiles (cached for the later steps).

    >>> import numpy as np, symvi as pm
    >>> def build(y):
    ...     with pm.Model() as m:
    ...         mu = pm.Normal("mu", 0, 1)
    ...         pm.Normal("y", mu, 1, observed=y)
    ...     return m
    >>> spec = ShardSpec("doc", 0, ["mu"], [()], None, 0)
    >>> v, g = shard_loglik(build, spec, np.array([[0.5]]), 0, np.array([0.0, 1.0]))
    >>> round(float(v[0]), 6), round(float(g[0, 0]), 6)  # -log(2 pi) - (0.25 + 0.25) / 2, 1 - 2 * 0.5
    (-2.087877, 0.0)
    """
    # shards sent from another worker may be unaligned views of their message (pytensor wants aligned)
    arrays = [np.require(a, requirements=["A"]) for a in arrays]
    made = _compiled(build, spec, arrays, spec.backend)
    z = np.require(np.atleast_2d(np.asarray(z, dtype=pytensor.config.floatX)), requirements=["A", "C"])
    if spec.batch is None:
        data = tuple(arrays)
    else:
        rows = batch_rows(spec.seed, spec.index, step, made.n_rows, spec.batch)
        data = tuple(np.ascontiguousarray(a[rows]) for a in arrays)
    values = np.empty(len(z))
    grads = np.empty(z.shape)
    for i, zi in enumerate(z):
        v, g = made.fn(zi, *data)
        values[i], grads[i] = v, g
    if made.scale != 1.0:
        values *= made.scale
        grads *= made.scale
    return values, grads


def forget(token: str) -> int:
    """Drop this process's compiled functions of fit ``token``; returns how many."""
    keys = [k for k in _CACHE if k[0] == token]
    for k in keys:
        del _CACHE[k]
    return len(keys)


class ShardActor:
    """A shard's long-lived state on its worker (a dask actor): the data and the spec, so
    that each step's call carries only the draws and the step number.

    >>> import numpy as np, symvi as pm
    >>> def build(y):
    ...     with pm.Model() as m:
    ...         pm.Normal("y", pm.Normal("mu", 0, 1), 1, observed=y)
    ...     return m
    >>> actor = ShardActor(build, ShardSpec("doc2", 0, ["mu"], [()], None, 0), np.array([0.0, 1.0]))
    >>> round(float(actor.loglik(np.array([[0.5]]), 0)[0][0]), 6)
    -2.087877
    """

    def __init__(self, build, spec: ShardSpec, *arrays):
        self.build, self.spec = build, spec
        self.arrays = [np.require(a, requirements=["A"]) for a in arrays]

    def loglik(self, z: np.ndarray, step: int):
        return shard_loglik(self.build, self.spec, z, step, *self.arrays)
