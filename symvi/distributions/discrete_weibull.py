"""DiscreteWeibull: a count distribution for over- and under-dispersed data.

Examples
--------
>>> import numpy as np, symvi as sv
>>> from symvi.distributions import dist_info
>>> lp = dist_info(sv.DiscreteWeibull.dist(q=0.5, beta=1.0)).logp(np.array([0, 1]))
>>> np.round(np.exp(lp.eval()), 3).tolist()   # beta = 1: a geometric on {0, 1, ...}
[0.5, 0.25]
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import Discrete, bound, positive
from symvi.distributions.dist_math import _batch_size, as_float

__all__ = ["DiscreteWeibull"]


def _open_unit(q):
    return (q > 0) & (q < 1)


class DiscreteWeibull(Discrete):
    """DiscreteWeibull(q, beta) on {0, 1, 2, ...} (Nakagawa & Osaki's type I).

    ``P(X >= x) = q ** (x ** beta)``, so ``P(X = x) = q**(x**beta) - q**((x+1)**beta)`` with
    ``0 < q < 1`` and ``beta > 0``; ``beta = 1`` is the geometric distribution counting
    failures (``P(X = x) = (1 - q) q**x``), ``beta < 1`` gives heavier tails than that and
    ``beta > 1`` lighter ones.  ``logcdf`` and ``icdf`` are closed forms.

    Examples
    --------
    >>> import symvi as sv
    >>> sv.DiscreteWeibull.dist(q=0.8, beta=1.5, size=3).eval().shape
    (3,)
    """

    params = ("q", "beta")
    support = "{0, 1, 2, ...}"
    checks = [(("q",), _open_unit, "in (0, 1)"), (("beta",), positive, "> 0")]

    @classmethod
    def rv_graph(cls, params, size, rng):
        q, beta = as_float(params["q"]), as_float(params["beta"])
        u = rb.uniform(0.0, 1.0, size=_batch_size(size, q, beta), rng=rng)
        return pt.maximum(DiscreteWeibull.icdf(u, q, beta), 0).astype("int64")

    @staticmethod
    def logp(value, q, beta):
        x, q, beta = as_float(value), as_float(q), as_float(beta)
        safe = pt.maximum(x, 0.0)
        log_q = pt.log(q)
        # log(q^(x^b) - q^((x+1)^b)) = x^b log q + log(1 - q^((x+1)^b - x^b))
        lo = safe**beta * log_q
        hi = (safe + 1) ** beta * log_q
        return bound(lo + pt.log1mexp(hi - lo), x >= 0)

    @staticmethod
    def logcdf(value, q, beta):
        x, q, beta = pt.floor(as_float(value)), as_float(q), as_float(beta)
        safe = pt.maximum(x, 0.0)
        return pt.switch(x < 0, -np.inf, pt.log1mexp((safe + 1) ** beta * pt.log(q)))

    @staticmethod
    def icdf(value, q, beta):
        """Smallest x with ``F(x) >= value``: ``ceil((log1p(-value) / log q) ** (1 / beta) - 1)``."""
        p, q, beta = as_float(value), as_float(q), as_float(beta)
        x = pt.ceil((pt.log1p(-p) / pt.log(q)) ** (1 / beta) - 1)
        return pt.switch((p >= 0) & (p <= 1), pt.maximum(x, 0.0), np.nan)

    @classmethod
    def support_point(cls, rv, q, beta):
        median = DiscreteWeibull.icdf(0.5, q, beta)
        return pt.broadcast_to(median, rv.shape).astype(rv.dtype)
