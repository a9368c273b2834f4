"""Numerical helpers shared by the log densities."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt

__all__ = ["xlogy", "xlog1py", "as_float", "normalize", "is_numeric"]


def xlogy(a, x):
    """``a * log(x)`` with the limit 0 at ``a == 0, x == 0`` (and -inf * sign(a) otherwise).

    Not ``pt.special.xlogy``: its gradient is unreduced when ``a`` is broadcast against
    ``x``, and pytensor rewrites it into ``a*log(x)`` and distributes a constant ``a = k - 1``
    into ``k*log(x) - log(x)``, which is nan at ``x = 0``.

    Examples
    --------
    >>> float(xlogy(0.0, 0.0).eval())
    0.0
    """
    at_zero = pt.eq(x, 0)
    limit = pt.switch(pt.eq(a, 0), 0.0, -np.inf * pt.sign(a))
    return pt.switch(at_zero, limit, a * pt.log(pt.switch(at_zero, 1.0, x)))


def xlog1py(a, y):
    """``a * log1p(y)`` with the limit 0 at ``a == 0, y == -1`` (see :func:`xlogy`)."""
    at_edge = pt.eq(y, -1)
    limit = pt.switch(pt.eq(a, 0), 0.0, -np.inf * pt.sign(a))
    return pt.switch(at_edge, limit, a * pt.log1p(pt.switch(at_edge, 0.0, y)))


def is_numeric(x) -> bool:
    """A plain number or numpy array (not a tensor, not a bool)."""
    return isinstance(x, np.ndarray | np.number | int | float) and not isinstance(x, bool)


def as_float(x):
    """``x`` as a floatX tensor (integer counts included)."""
    return pt.as_tensor_variable(x).astype(pytensor.config.floatX)


def normalize(p):
    """``p`` divided by its sum over the last axis (category probabilities)."""
    p = as_float(p)
    return p / pt.sum(p, axis=-1, keepdims=True)
