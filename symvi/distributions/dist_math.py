"""Numerical helpers shared by the log densities."""

from __future__ import annotations

import pytensor.tensor as pt

__all__ = ["xlogy", "xlog1py"]


def xlogy(x, y):
    """``x * log(y)`` with 0 where ``x == 0`` (gradients broadcast correctly).

    pytensor's ``special.xlogy`` returns an unreduced gradient when ``x`` is broadcast
    against ``y``; this switch-based form differentiates cleanly.

    >>> float(xlogy(0.0, 0.0).eval())
    0.0
    """
    x = pt.as_tensor_variable(x)
    y = pt.as_tensor_variable(y)
    return pt.switch(pt.eq(x, 0), pt.zeros_like(x * y), x * pt.log(pt.switch(pt.eq(x, 0), 1, y)))


def xlog1py(x, y):
    """``x * log1p(y)`` with 0 where ``x == 0``."""
    x = pt.as_tensor_variable(x)
    y = pt.as_tensor_variable(y)
    return pt.switch(pt.eq(x, 0), pt.zeros_like(x * y), x * pt.log1p(pt.switch(pt.eq(x, 0), 0, y)))
