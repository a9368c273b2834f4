"""PyMC's PyTensor helpers under its top-level names: ``pm.gradient``, ``pm.jacobian``,
``pm.hessian``, ``pm.hessian_diag``, ``pm.inputvars``, ``pm.compile``, ``pm.compile_fn``,
``pm.logccdf``, ``pm.find_hessian`` and ``pm.find_hessian_diag``.

Derivatives are taken with respect to each variable in ``vars`` (flattened, then
concatenated); ``vars=None`` means the one continuous input of the expression.  As in PyMC,
``hessian`` and ``hessian_diag`` return the *negated* second derivatives unless
``negate_output=False``.

Examples
--------
>>> import pytensor.tensor as pt, symvi as pm
>>> x = pt.vector("x")
>>> pm.gradient((x**2).sum(), [x]).eval({x: [1.0, 2.0]}).tolist()
[2.0, 4.0]
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.traversal import explicit_graph_inputs, graph_inputs

from symvi.model import modelcontext
from symvi.pytensorf import ONE_SHOT_MODE
from symvi.pytensorf import compile_fn as _compile_fn

__all__ = [
    "inputvars", "cont_inputs", "gradient", "jacobian", "hessian", "hessian_diag",
    "compile", "compile_fn", "logccdf", "find_hessian", "find_hessian_diag",
]


def _as_list(a) -> list:
    return list(a) if isinstance(a, list | tuple) else [a]


def inputvars(a) -> list:
    """The root inputs of the graph(s) ``a`` that are neither constants nor shared variables.

    >>> import pytensor.tensor as pt
    >>> x, y = pt.scalar("x"), pt.scalar("y")
    >>> sorted(v.name for v in inputvars(x * y + 1))
    ['x', 'y']
    """
    return [v for v in graph_inputs(_as_list(a)) if isinstance(v, Variable) and not isinstance(v, Constant | SharedVariable)]


def cont_inputs(a) -> list:
    """The floating-point root inputs of ``a`` (no constants, no shared variables).

    >>> import pytensor.tensor as pt
    >>> [v.name for v in cont_inputs(pt.scalar("x") * pt.iscalar("n"))]
    ['x']
    """
    return [v for v in explicit_graph_inputs(_as_list(a)) if str(getattr(v, "dtype", "")).startswith(("float", "complex"))]


def _vars(f, vars, who: str) -> list:
    if vars is None:
        vars = cont_inputs(f)
        if len(vars) > 1:
            raise ValueError(f"{who}: f has {len(vars)} continuous inputs {[v.name for v in vars]}; say which in vars")
        return vars
    return _as_list(vars)


def _grad_flat(f, v):
    return pt.as_tensor_variable(pytensor.grad(f, v, disconnected_inputs="warn")).ravel()


def gradient(f, vars=None):
    """The gradient of the scalar ``f`` with respect to ``vars`` (each flattened, then joined).

    >>> import pytensor.tensor as pt
    >>> a, b = pt.scalar("a"), pt.vector("b")
    >>> gradient(a * b.sum(), [a, b]).eval({a: 2.0, b: [1.0, 3.0]}).tolist()
    [4.0, 2.0, 2.0]
    """
    vars = _vars(f, vars, "gradient")
    if not vars:
        return pt.zeros(0, dtype="float32")
    return pt.concatenate([_grad_flat(f, v) for v in vars], axis=0)


def _jac_flat(f, v):
    f = pt.as_tensor_variable(f).ravel()
    rows = pt.jacobian(f, v, disconnected_inputs="warn", vectorize=True)
    return rows.reshape((f.shape[0], -1))


def jacobian(f, vars=None):
    """The Jacobian of ``f`` (flattened) with respect to ``vars``: one row per element of
    ``f``, one column per element of the variables.

    >>> import pytensor.tensor as pt
    >>> x = pt.vector("x")
    >>> jacobian(x**2, [x]).eval({x: [1.0, 3.0]}).tolist()
    [[2.0, 0.0], [0.0, 6.0]]
    """
    vars = _vars(f, vars, "jacobian")
    if not vars:
        return pt.zeros(0, dtype="float32")
    return pt.concatenate([_jac_flat(f, v) for v in vars], axis=1)


def hessian(f, vars=None, negate_output: bool = True):
    """The Hessian of the scalar ``f`` over ``vars`` (negated unless ``negate_output=False``).

    >>> import pytensor.tensor as pt
    >>> x = pt.vector("x")
    >>> hessian((x[0] * x[1]) ** 2, [x], negate_output=False).eval({x: [1.0, 2.0]}).tolist()
    [[8.0, 8.0], [8.0, 2.0]]
    """
    vars = _vars(f, vars, "hessian")
    h = jacobian(gradient(f, vars), vars)
    return -h if negate_output else h


def hessian_diag(f, vars=None, negate_output: bool = True):
    """The diagonal of :func:`hessian` (negated unless ``negate_output=False``).

    >>> import pytensor.tensor as pt
    >>> x = pt.vector("x")
    >>> hessian_diag((x**3).sum(), [x], negate_output=False).eval({x: [1.0, 2.0]}).tolist()
    [6.0, 12.0]
    """
    vars = _vars(f, vars, "hessian_diag")
    if not vars:
        return pt.zeros(0, dtype="float32")
    diag = pt.concatenate([pt.diagonal(_jac_flat(_grad_flat(f, v), v)) for v in vars], axis=0)
    return -diag if negate_output else diag


def compile(inputs, outputs, random_seed=None, mode=None, **kwargs):
    """``pytensor.function(inputs, outputs)`` whose random generators advance on every call,
    seeded from ``random_seed`` (None: fresh entropy), as PyMC's ``pm.compile``.

    >>> import pytensor.tensor as pt, symvi as pm
    >>> x = pm.Normal.dist(0.0, 1.0, size=2)
    >>> first = compile([], x, random_seed=1)()
    >>> again = compile([], x, random_seed=1)  # reseeds the generator x shares with the first
    >>> bool((again() == first).all())
    True
    """
    seed = np.random.SeedSequence() if random_seed is None else random_seed
    return _compile_fn(_as_list(inputs), outputs, mode=mode, random_seed=seed, **kwargs)


def compile_fn(outs, *, inputs=None, mode=None, point_fn: bool = True, model=None, **kwargs):
    """``model.compile_fn(outs, ...)`` for the model in context (PyMC's ``pm.compile_fn``):
    a function of the value variables, taking a point dict when ``point_fn``.

    >>> import symvi as pm
    >>> with pm.Model():
    ...     s = pm.HalfNormal("s", 1.0)
    ...     f = pm.compile_fn(2 * s)
    >>> float(f({"s_log__": 0.0}))
    2.0
    """
    return modelcontext(model, who="compile_fn()").compile_fn(outs, inputs=inputs, mode=mode, point_fn=point_fn, **kwargs)


def logccdf(rv, value):
    """Log complementary CDF ``log P(rv > value)`` (the log survival function), from the
    distribution's ``logcdf`` as ``log(1 - exp(logcdf))`` computed with ``log1mexp`` (exact
    where ``logcdf`` itself is accurate near 0).

    >>> import numpy as np, symvi as pm
    >>> round(float(pm.logccdf(pm.Exponential.dist(2.0), 1.0).eval()), 6)
    -2.0
    """
    from symvi.distributions import logcdf

    return pt.log1mexp(logcdf(rv, value))


def _point_of(model, point, vars) -> tuple[list | None, dict]:
    """The value variables of ``vars`` (None: all) and ``point`` as a dict, checked."""
    if not isinstance(point, dict):
        raise TypeError(f"find_hessian: point must be a dict of value-variable values, got {type(point).__name__}")
    values = None
    if vars is not None:
        rvs = [model[v] if isinstance(v, str) else v for v in _as_list(vars)]
        values = [model.rvs_to_values.get(v, v) for v in rvs]
        unknown = [getattr(v, "name", v) for v in values if v not in model.value_vars]
        if unknown:
            raise ValueError(f"find_hessian: vars {unknown} are not free variables of the model")
    missing = [v.name for v in model.value_vars if v.name not in point]
    if missing:
        raise KeyError(f"find_hessian: point lacks the value variables {missing}")
    return values, dict(point)


def find_hessian(point: dict, vars=None, model=None, negate_output: bool = True) -> np.ndarray:
    """The Hessian of the model's log density (over the unconstrained value variables) at
    ``point``; negated (PyMC's sign: positive definite at a mode) unless ``negate_output=False``.
    Evaluated once, so compiled in the one-shot mode (Python linker: no Numba compile).

    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 2.0)
    ...     h = pm.find_hessian({"x": 0.3})
    >>> h.tolist()
    [[0.25]]
    """
    model = modelcontext(model, who="find_hessian()")
    values, pt_point = _point_of(model, point, vars)
    graph = hessian(model.logp(), values or model.value_vars, negate_output=negate_output)
    return np.asarray(model.compile_fn(graph, inputs=model.value_vars, mode=ONE_SHOT_MODE)(pt_point))


def find_hessian_diag(point: dict, vars=None, model=None, negate_output: bool = True) -> np.ndarray:
    """The diagonal of :func:`find_hessian` (negated unless ``negate_output=False``).

    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0.0, 2.0, shape=2)
    ...     d = pm.find_hessian_diag({"x": np.zeros(2)})
    >>> d.tolist()
    [0.25, 0.25]
    """
    model = modelcontext(model, who="find_hessian_diag()")
    values, pt_point = _point_of(model, point, vars)
    graph = hessian_diag(model.logp(), values or model.value_vars, negate_output=negate_output)
    return np.asarray(model.compile_fn(graph, inputs=model.value_vars, mode=ONE_SHOT_MODE)(pt_point))

