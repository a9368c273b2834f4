"""Log survival functions of the Poisson, binomial and negative binomial counts.

The zero-inflated and hurdle families need ``log P(X > k)`` of their count component: the
zero-inflated CDF is ``1 - psi * S(k)`` and the hurdle (zero-truncated) one divides by
``S(0)``.  Working with the survival function ``S`` keeps the upper tail accurate, where
``1 - F(k)`` would cancel.  All functions take ``k`` on the integers (``floor`` is applied to
other values) and expect ``k >= 0``; callers mask ``k < 0`` themselves.

Examples
--------
>>> import numpy as np
>>> round(float(np.exp(poisson_logsf(0.0, 2.0).eval())), 6)   # 1 - exp(-2)
0.864665
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from symvi.distributions.dist_math import as_float

__all__ = ["poisson_logsf", "binomial_logsf", "negbin_logsf"]


def poisson_logsf(k, mu):
    """``log P(X > k)`` for X ~ Poisson(mu): the regularized lower incomplete gamma P(k+1, mu)."""
    k, mu = pt.floor(as_float(k)), as_float(mu)
    return pt.log(pt.gammainc(k + 1, mu))


def binomial_logsf(k, n, p):
    """``log P(X > k)`` for X ~ Binomial(n, p): I_p(k+1, n-k) for k < n, -inf for k >= n."""
    k, n, p = pt.floor(as_float(k)), as_float(n), as_float(p)
    below = k < n
    safe_k = pt.switch(below, k, n - 1)  # betainc needs n - k > 0
    sf = pt.betainc(safe_k + 1, n - safe_k, p)
    return pt.switch(below, pt.log(sf), -np.inf)


def negbin_logsf(k, mu, alpha):
    """``log P(X > k)`` for X ~ NegativeBinomial(mu, alpha): I_{mu/(mu+alpha)}(k+1, alpha)."""
    k, mu, alpha = pt.floor(as_float(k)), as_float(mu), as_float(alpha)
    return pt.log(pt.betainc(k + 1, alpha, mu / (mu + alpha)))
