"""HyperGeometric: successes in draws without replacement from a finite population.

Examples
--------
>>> import numpy as np, symvi as sv
>>> from symvi.distributions import dist_info
>>> lp = dist_info(sv.HyperGeometric.dist(N=4, k=2, n=2)).logp(np.array([0, 1, 2, 3]))
>>> np.round(np.exp(lp.eval()), 4).tolist()
[0.1667, 0.6667, 0.1667, 0.0]
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import Discrete, bound, nonneg
from symvi.distributions.dist_math import as_float

__all__ = ["HyperGeometric"]


def _log_choose(n, k):
    return pt.gammaln(n + 1) - pt.gammaln(k + 1) - pt.gammaln(n - k + 1)


class HyperGeometric(Discrete):
    """HyperGeometric(N, k, n): successes among ``n`` draws without replacement from a
    population of ``N`` objects of which ``k`` are successes (PyMC's names and order).

    ``P(X = x) = C(k, x) C(N - k, n - x) / C(N, n)`` on
    ``max(0, n - N + k) <= x <= min(k, n)``; needs ``0 <= k <= N`` and ``0 <= n <= N``
    (scipy's ``hypergeom(M=N, n=k, N=n)``).  ``logcdf`` sums the mass over the support (a
    finite sum, exact); there is no closed-form ``icdf``.

    Examples
    --------
    >>> import symvi as sv
    >>> x = sv.HyperGeometric.dist(N=20, k=7, n=9, size=4).eval()
    >>> bool(((x >= 0) & (x <= 7)).all())
    True
    """

    params = ("N", "k", "n")
    support = "{max(0, n - N + k), ..., min(k, n)}"
    checks = [
        (("N",), nonneg, ">= 0"),
        (("k", "N"), lambda k, N: (k >= 0) & (k <= N), "in [0, N] (k successes among N)"),
        (("n", "N"), lambda n, N: (n >= 0) & (n <= N), "in [0, N] (n draws from N)"),
    ]

    @classmethod
    def rv_graph(cls, params, size, rng):
        N, k, n = (params[p].astype("int64") for p in ("N", "k", "n"))
        return rb.hypergeometric(k, N - k, n, size=size, rng=rng)

    @staticmethod
    def logp(value, N, k, n):
        x, N, k, n = as_float(value), as_float(N), as_float(k), as_float(n)
        lower = pt.maximum(0.0, n - N + k)
        upper = pt.minimum(k, n)
        inside = (x >= lower) & (x <= upper)
        safe = pt.switch(inside, x, lower)  # gammaln of negative counts would be nan
        lp = _log_choose(k, safe) + _log_choose(N - k, n - safe) - _log_choose(N, n)
        return bound(lp, inside)

    @staticmethod
    def logcdf(value, N, k, n):
        """log of the mass summed over ``j <= value`` (one column per possible count 0..max n)."""
        x = pt.floor(as_float(value))
        N, k, n = as_float(N), as_float(k), as_float(n)
        j = pt.arange(pt.max(n) + 1).astype(x.dtype)
        lp = HyperGeometric.logp(j, N[..., None], k[..., None], n[..., None])
        lp = pt.switch(j <= x[..., None], lp, -np.inf)
        top = pt.max(lp, axis=-1, keepdims=True)
        safe_top = pt.switch(pt.isinf(top), 0.0, top)
        total = pt.log(pt.sum(pt.exp(lp - safe_top), axis=-1)) + safe_top[..., 0]
        return pt.switch(x >= pt.minimum(k, n), 0.0, total)

    @classmethod
    def support_point(cls, rv, N, k, n):
        N, k, n = as_float(N), as_float(k), as_float(n)
        mode = pt.floor((n + 1) * (k + 1) / (N + 2))
        return pt.broadcast_to(mode, rv.shape).astype(rv.dtype)
