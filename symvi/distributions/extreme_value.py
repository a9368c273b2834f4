"""Right-skewed location-scale distributions of extreme-value type: Gumbel and Moyal.

Both are ``mu + scale * (-log E)`` for a positive variable ``E``: Gumbel with ``E`` standard
exponential, Moyal with ``E`` chi-squared with one degree of freedom (halved).  Names and
parametrizations follow PyMC 5.

Examples
--------
>>> import symvi as sv
>>> sv.Gumbel.dist(0.0, 2.0, size=3).eval().shape
(3,)
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import Continuous, positive
from symvi.distributions.cdf_math import icdf_in_range
from symvi.distributions.dist_math import LOG_2PI, SQRT2, _batch_size, _f

__all__ = ["Gumbel", "Moyal"]


class Gumbel(Continuous):
    """Gumbel (maximum extreme value) distribution ``Gumbel(mu, beta)``.

    Density ``exp(-(z + exp(-z))) / beta`` with ``z = (x - mu)/beta``.

    Location ``mu``, scale ``beta > 0``.  Support: the real line.  Mean
    ``mu + beta * euler_gamma``, variance ``pi**2 beta**2 / 6``.  For minima negate ``x`` and ``mu``.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     m = sv.Gumbel("m", mu=10.0, beta=2.0)
    """

    params = ("mu", "beta")
    rv_op = rb.gumbel
    support = "real"
    checks = [(("beta",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=None, beta=None):
        if mu is None or beta is None:
            raise TypeError("Gumbel: give mu (location) and beta (scale)")
        return {"mu": _f(mu), "beta": _f(beta)}

    @staticmethod
    def logp(value, mu, beta):
        z = (value - mu) / beta
        return -z - pt.exp(-z) - pt.log(beta)

    @staticmethod
    def logcdf(value, mu, beta):
        return -pt.exp(-(value - mu) / beta)

    @staticmethod
    def icdf(q, mu, beta):
        return icdf_in_range(mu - beta * pt.log(-pt.log(q)), q)

    @classmethod
    def support_point(cls, rv, mu, beta):
        return mu + beta * np.euler_gamma  # the mean


class Moyal(Continuous):
    """Moyal distribution ``Moyal(mu=0, sigma=1)``.

    Density ``exp(-(z + exp(-z))/2) / (sqrt(2 pi) sigma)`` with ``z = (x - mu)/sigma``.

    Location ``mu``, scale ``sigma > 0``; ``exp(-z)`` is chi-squared with one degree of
    freedom.  Support: the real line.  Mean ``mu + sigma (euler_gamma + log 2)``, variance
    ``pi**2 sigma**2 / 2``.  The CDF is ``erfc(exp(-z/2) / sqrt(2))``.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     e = sv.Moyal("e", mu=1.0, sigma=0.5)
    """

    params = ("mu", "sigma")
    support = "real"
    checks = [(("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=0.0, sigma=1.0):
        return {"mu": _f(mu), "sigma": _f(sigma)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        mu, sigma = params["mu"], params["sigma"]
        z = rb.normal(0.0, 1.0, size=_batch_size(size, mu, sigma), rng=rng)
        return mu - 2 * sigma * pt.log(pt.abs(z))  # exp(-(x - mu)/sigma) = z**2

    @staticmethod
    def logp(value, mu, sigma):
        z = (value - mu) / sigma
        return -0.5 * (z + pt.exp(-z)) - pt.log(sigma) - 0.5 * LOG_2PI

    @staticmethod
    def logcdf(value, mu, sigma):
        z = (value - mu) / sigma
        t = pt.exp(-z / 2) / SQRT2
        small = t < 1.0
        ts = pt.switch(small, t, 0.0)
        tl = pt.switch(small, 1.0, t)
        # log erfc(t): log1p(-erf) near t = 0 (upper tail), erfcx where erfc underflows
        return pt.switch(small, pt.log1p(-pt.erf(ts)), pt.log(pt.erfcx(tl)) - 0.5 * pt.exp(-z))

    @staticmethod
    def icdf(q, mu, sigma):
        return icdf_in_range(mu - sigma * pt.log(2.0 * pt.erfcinv(q) ** 2), q)

    @classmethod
    def support_point(cls, rv, mu, sigma):
        return mu + sigma * (np.euler_gamma + np.log(2.0))  # the mean
