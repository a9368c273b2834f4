"""Zero-inflated counts: a count distribution mixed with extra zeros.

PyMC's convention: ``psi`` is the probability of the *count* component, so

    P(X = 0) = (1 - psi) + psi * P_count(0),    P(X = x) = psi * P_count(x)  (x > 0),

and ``P(X <= x) = 1 - psi * S_count(x)`` for ``x >= 0`` (``S`` the count's survival
function).  Draws multiply a Bernoulli(psi) draw by a count draw.

Examples
--------
>>> import numpy as np, symvi as sv
>>> with sv.Model() as m:
...     psi = sv.Beta("psi", 2, 2)
...     y = sv.ZeroInflatedPoisson("y", psi=psi, mu=3.0, observed=np.array([0, 0, 4]))
>>> sorted(m.initial_point())
['psi_logodds__']
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import Discrete, bound, nonneg, positive, unit
from symvi.distributions.count_cdf import binomial_logsf, negbin_logsf, poisson_logsf
from symvi.distributions.discrete import Binomial, NegativeBinomial
from symvi.distributions.dist_math import as_float, xlog1py, xlogy
from symvi.pytensorf import new_rng

__all__ = ["ZeroInflatedPoisson", "ZeroInflatedBinomial", "ZeroInflatedNegativeBinomial"]


def _joint_size(size, *params):
    """``size``, or the broadcast shape of ``params`` (both draws need the joint batch shape)."""
    if size is not None:
        return size
    bshape = pt.broadcast_shape(*params)
    return bshape if bshape else None


def _inflate(psi, counts, size, rng):
    return rb.bernoulli(psi, size=size, rng=rng) * counts


def _zi_logcdf(value, psi, logsf):
    """``log(1 - psi * S(x))`` for x >= 0, -inf below; ``logsf`` is log S at max(x, 0)."""
    x = pt.floor(as_float(value))
    return pt.switch(x < 0, -np.inf, pt.log1p(-as_float(psi) * pt.exp(logsf)))


class ZeroInflatedPoisson(Discrete):
    """ZeroInflatedPoisson(psi, mu): with probability ``psi`` a Poisson(mu) draw, else 0.

    (PyMC's convention: ``psi`` is the probability of the Poisson component.)  Mean
    ``psi * mu``; support {0, 1, 2, ...}; ``logcdf`` is closed form (incomplete gamma).

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> from symvi.distributions import dist_info
    >>> lp = dist_info(sv.ZeroInflatedPoisson.dist(psi=0.5, mu=1.0)).logp(np.array([0]))
    >>> round(float(np.exp(lp.eval()[0])), 4)   # 0.5 + 0.5 * exp(-1)
    0.6839
    """

    params = ("psi", "mu")
    support = "{0, 1, 2, ...}"
    checks = [(("psi",), unit, "in [0, 1]"), (("mu",), nonneg, ">= 0")]

    @classmethod
    def rv_graph(cls, params, size, rng):
        psi, mu = params["psi"], params["mu"]
        size = _joint_size(size, psi, mu)
        return _inflate(psi, rb.poisson(mu, size=size, rng=new_rng()), size, rng)

    @staticmethod
    def logp(value, psi, mu):
        k, psi, mu = as_float(value), as_float(psi), as_float(mu)
        log_pois = xlogy(k, mu) - mu - pt.gammaln(k + 1)
        lp = pt.switch(
            pt.eq(k, 0),
            pt.log1p(psi * pt.expm1(-mu)),
            pt.log(psi) + log_pois,
        )
        return bound(lp, k >= 0)

    @staticmethod
    def logcdf(value, psi, mu):
        return _zi_logcdf(value, psi, poisson_logsf(pt.maximum(value, 0), mu))

    @classmethod
    def support_point(cls, rv, psi, mu):
        return pt.broadcast_to(pt.floor(psi * mu).astype(rv.dtype), rv.shape)


class ZeroInflatedBinomial(Discrete):
    """ZeroInflatedBinomial(psi, n, p): with probability ``psi`` a Binomial(n, p) draw, else 0.

    Mean ``psi * n * p``; support {0, 1, ..., n}; ``logcdf`` is closed form (incomplete beta).

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> from symvi.distributions import dist_info
    >>> lp = dist_info(sv.ZeroInflatedBinomial.dist(psi=0.5, n=2, p=0.5)).logp(np.array([0, 2]))
    >>> np.round(np.exp(lp.eval()), 4).tolist()   # [0.5 + 0.5 / 4, 0.5 / 4]
    [0.625, 0.125]
    """

    params = ("psi", "n", "p")
    support = "{0, 1, ..., n}"
    checks = [(("psi",), unit, "in [0, 1]"), (("n",), nonneg, ">= 0"), (("p",), unit, "in [0, 1]")]

    @classmethod
    def rv_graph(cls, params, size, rng):
        psi, n, p = params["psi"], params["n"], params["p"]
        size = _joint_size(size, psi, n, p)
        return _inflate(psi, rb.binomial(n.astype("int64"), p, size=size, rng=new_rng()), size, rng)

    @staticmethod
    def logp(value, psi, n, p):
        k, psi, n, p = as_float(value), as_float(psi), as_float(n), as_float(p)
        lp = pt.switch(
            pt.eq(k, 0),
            pt.log1p(psi * pt.expm1(xlog1py(n, -p))),
            pt.log(psi) + Binomial.logp(k, n, p),
        )
        return bound(lp, k >= 0, k <= n)

    @staticmethod
    def logcdf(value, psi, n, p):
        return _zi_logcdf(value, psi, binomial_logsf(pt.maximum(value, 0), n, p))

    @classmethod
    def support_point(cls, rv, psi, n, p):
        return pt.broadcast_to(pt.floor(psi * as_float(n) * p).astype(rv.dtype), rv.shape)


class ZeroInflatedNegativeBinomial(Discrete):
    """ZeroInflatedNegativeBinomial(psi, mu, alpha) or (psi, n=, p=): with probability
    ``psi`` a NegativeBinomial draw, else 0.

    The count component is :class:`NegativeBinomial` with its two parametrizations (mean
    ``mu`` and overdispersion ``alpha``, or scipy's ``n``, ``p``); canonical parameters are
    ``(psi, mu, alpha)``.  Mean ``psi * mu``; support {0, 1, 2, ...}; ``logcdf`` is closed
    form (incomplete beta).

    Examples
    --------
    >>> import symvi as sv
    >>> rv = sv.ZeroInflatedNegativeBinomial.dist(psi=0.6, n=2.0, p=0.4)
    >>> from symvi.distributions import dist_info
    >>> round(float(dist_info(rv).params["mu"].eval()), 12)   # n (1 - p) / p
    3.0
    """

    params = ("psi", "mu", "alpha")
    support = "{0, 1, 2, ...}"
    checks = [(("psi",), unit, "in [0, 1]"), (("mu",), nonneg, ">= 0"), (("alpha",), positive, "> 0")]

    @classmethod
    def parametrize(cls, psi, mu=None, alpha=None, *, n=None, p=None):
        try:
            nb = NegativeBinomial.parametrize(mu, alpha, n=n, p=p)
        except TypeError:
            raise TypeError("ZeroInflatedNegativeBinomial: give psi and (mu, alpha) or (n, p)") from None
        return {"psi": psi, **nb}

    @classmethod
    def rv_graph(cls, params, size, rng):
        psi, mu, alpha = params["psi"], as_float(params["mu"]), as_float(params["alpha"])
        size = _joint_size(size, psi, mu, alpha)
        counts = rb.negative_binomial(alpha, alpha / (mu + alpha), size=size, rng=new_rng())
        return _inflate(psi, counts, size, rng)

    @staticmethod
    def logp(value, psi, mu, alpha):
        k, psi, mu, alpha = as_float(value), as_float(psi), as_float(mu), as_float(alpha)
        log_p0 = alpha * (pt.log(alpha) - pt.log(mu + alpha))  # log P_count(0)
        lp = pt.switch(
            pt.eq(k, 0),
            pt.log1p(psi * pt.expm1(log_p0)),
            pt.log(psi) + NegativeBinomial.logp(k, mu, alpha),
        )
        return bound(lp, k >= 0)

    @staticmethod
    def logcdf(value, psi, mu, alpha):
        return _zi_logcdf(value, psi, negbin_logsf(pt.maximum(value, 0), mu, alpha))

    @classmethod
    def support_point(cls, rv, psi, mu, alpha):
        return pt.broadcast_to(pt.floor(psi * mu).astype(rv.dtype), rv.shape)
