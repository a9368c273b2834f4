"""``logp``, ``logcdf`` and ``icdf`` of a random variable, as PyMC's ``pm.logp`` & co.

Each takes a variable made by ``Dist.dist(...)`` or a model's random variable and a value
(a number, an array or a tensor) and returns a symbolic tensor: call ``.eval()`` for its
value.  A distribution that does not define the function raises ``TypeError``.

Examples
--------
>>> import symvi as pm
>>> round(float(pm.logp(pm.Normal.dist(0, 1), 0.5).eval()), 4)
-1.0439
>>> round(float(pm.logcdf(pm.Normal.dist(0, 1), 0.0).eval()), 4)
-0.6931
>>> float(pm.icdf(pm.Normal.dist(0, 1), 0.5).eval())
0.0
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor.variable import TensorVariable

from symvi.distributions.base import _numeric, dist_info

__all__ = ["logp", "logcdf", "icdf"]


def _info(rv: Any, what: str):
    info = dist_info(rv)
    if info is None:
        raise TypeError(
            f"{what}: expected a symvi random variable (Dist.dist(...) or a model variable), "
            f"got {type(rv).__name__} {getattr(rv, 'name', '') or ''}".rstrip()
        )
    return info


def _as_value(value, rv):
    if isinstance(value, pt.Variable):
        return value
    arr = np.asarray(value)
    if arr.dtype.kind in "iub" and rv.dtype.startswith("float"):
        arr = arr.astype(rv.dtype)
    elif arr.dtype.kind == "f":
        arr = arr.astype("float64" if rv.dtype.startswith("int") else rv.dtype)
    return pt.as_tensor_variable(arr)


def logp(rv: TensorVariable, value: Any) -> TensorVariable:
    """Elementwise log density (log mass) of ``rv`` at ``value``; -inf outside the support.

    Examples
    --------
    >>> import symvi as pm
    >>> round(float(pm.logp(pm.Poisson.dist(3.0), 2).eval()), 4)
    -1.4959
    """
    info = _info(rv, "logp")
    return info.logp(_as_value(value, rv))


def logcdf(rv: TensorVariable, value: Any) -> TensorVariable:
    """Log cumulative distribution function log P(rv <= value).

    Raises ``TypeError`` when the distribution has no ``logcdf``.

    Examples
    --------
    >>> import symvi as pm
    >>> round(float(pm.logcdf(pm.Exponential.dist(1.0), 1.0).eval()), 4)
    -0.4587
    """
    info = _info(rv, "logcdf")
    fn = getattr(info.cls, "logcdf", None)
    if fn is None:
        raise TypeError(f"logcdf: {info.cls.__name__} has no logcdf (no closed form is implemented)")
    return _checked(info, fn(_as_value(value, rv), **info.params))


def icdf(rv: TensorVariable, q: Any) -> TensorVariable:
    """Quantile function: the value ``x`` with P(rv <= x) = ``q`` (discrete: the smallest
    ``x`` with P(rv <= x) >= ``q``); nan for ``q`` outside [0, 1].

    Raises ``TypeError`` when the distribution has no ``icdf``.

    Examples
    --------
    >>> import symvi as pm
    >>> round(float(pm.icdf(pm.Exponential.dist(2.0), 0.5).eval()), 4)
    0.3466
    """
    info = _info(rv, "icdf")
    fn = getattr(info.cls, "icdf", None)
    if fn is None:
        raise TypeError(f"icdf: {info.cls.__name__} has no icdf (no closed form is implemented)")
    q = q if isinstance(q, pt.Variable) else pt.as_tensor_variable(np.asarray(q, dtype="float64"))
    return _checked(info, fn(q, **info.params), invalid=float("nan"))


def _checked(info, out, invalid=float("-inf")):
    """``out`` with ``invalid`` where a symbolic parameter constraint fails (as logp does)."""
    conds = []
    for names, pred, _ in info.cls.checks:
        if all(_numeric(info.params[n]) is not None for n in names):
            continue
        conds.append(pt.all(pred(*[info.params[n] for n in names])))
    if not conds:
        return out
    ok = conds[0]
    for c in conds[1:]:
        ok = pt.and_(ok, c)
    return pt.switch(ok, out, invalid)
