"""Numerical helpers for log-CDFs and quantile functions (``logcdf`` / ``icdf`` staticmethods).

Examples
--------
>>> import numpy as np, pytensor.tensor as pt
>>> q = pt.as_tensor(np.array([-0.5, 0.5]))
>>> icdf_in_range(2 * q, q).eval()
array([nan,  1.])
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from symvi.distributions.dist_math import SQRT2

__all__ = ["icdf_in_range", "logdiffexp", "norm_ppf"]


def icdf_in_range(x, q):
    """``x`` where the probability ``q`` lies in [0, 1], NaN elsewhere (as scipy's ``ppf``).

    >>> float(icdf_in_range(pt.as_tensor(3.0), pt.as_tensor(1.5)).eval())
    nan
    """
    return pt.switch((q >= 0) & (q <= 1), x, np.nan)


def logdiffexp(a, b):
    """``log(exp(a) - exp(b))`` for ``a >= b``, without forming the exponentials.

    >>> round(float(logdiffexp(pt.as_tensor(-1000.0), pt.as_tensor(-1000.0 - np.log(2))).eval()), 6)
    -1000.693147
    """
    return a + pt.log1mexp(b - a)


def norm_ppf(q):
    """The standard normal quantile, accurate in the lower tail (``erfcinv`` of ``2q``).

    >>> round(float(norm_ppf(pt.as_tensor(0.975)).eval()), 4)
    1.96
    """
    return -SQRT2 * pt.erfcinv(2 * q)
