"""Continuous distributions on the unit interval besides Beta: Kumaraswamy and LogitNormal.

Both default to the log-odds transform, so fits run on the real line.  Names and
parametrizations follow PyMC 5.

Examples
--------
>>> import symvi as sv
>>> x = sv.Kumaraswamy.dist(2.0, 5.0, size=3).eval()
>>> bool(((x > 0) & (x < 1)).all())
True
"""

from __future__ import annotations

import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi import transforms
from symvi.distributions.base import Continuous, bound, positive
from symvi.distributions.cdf_math import icdf_in_range, norm_ppf
from symvi.distributions.dist_math import LOG_2PI, _batch_size, _f, _norm_logcdf, _sigma_from, xlog1py, xlogy

__all__ = ["Kumaraswamy", "LogitNormal"]

_EDGE = 1e-12  # keeps support points off 0 and 1 (where the log-odds transform is infinite)


class Kumaraswamy(Continuous):
    """Kumaraswamy distribution ``Kumaraswamy(a, b)``, a Beta look-alike with a closed-form CDF.

    Density ``a b x**(a-1) (1 - x**a)**(b-1)``, CDF ``1 - (1 - x**a)**b``.

    ``a > 0``, ``b > 0``.  Support: (0, 1) (the density's limits at the ends are returned
    there).  Mean ``b B(1 + 1/a, b)``.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     p = sv.Kumaraswamy("p", a=2.0, b=3.0)
    """

    params = ("a", "b")
    support = "(0, 1)"
    checks = [(("a",), positive, "> 0"), (("b",), positive, "> 0")]

    @classmethod
    def parametrize(cls, a=None, b=None):
        if a is None or b is None:
            raise TypeError("Kumaraswamy: give a and b")
        return {"a": _f(a), "b": _f(b)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        a, b = params["a"], params["b"]
        u = rb.uniform(0.0, 1.0, size=_batch_size(size, a, b), rng=rng)
        return cls.icdf(u, a, b)

    @staticmethod
    def logp(value, a, b):
        inside = (value >= 0) & (value <= 1)
        v = pt.switch(inside, value, 0.5)
        lp = pt.log(a) + pt.log(b) + xlogy(a - 1, v) + xlog1py(b - 1, -(v**a))
        return bound(lp, inside)

    @staticmethod
    def logcdf(value, a, b):
        v = pt.clip(value, 0.0, 1.0)
        inner = pt.log1mexp(b * pt.log1p(-(v**a)))
        return pt.switch(value <= 0, -float("inf"), pt.switch(value >= 1, 0.0, inner))

    @staticmethod
    def icdf(q, a, b):
        return icdf_in_range(pt.exp(pt.log1mexp(pt.log1p(-q) / b) / a), q)

    @classmethod
    def default_transform(cls, params):
        return transforms.logodds

    @classmethod
    def support_point(cls, rv, a, b):
        mean = pt.exp(pt.log(b) + pt.gammaln(1 + 1 / a) + pt.gammaln(b) - pt.gammaln(1 + 1 / a + b))
        return pt.clip(mean, _EDGE, 1 - _EDGE)


class LogitNormal(Continuous):
    """Logit-normal distribution: ``sigmoid(Normal(mu, sigma))``; ``LogitNormal(mu=0, sigma=1)`` or ``tau=``.

    Density ``exp(-(logit(x) - mu)**2 / (2 sigma**2)) / (x (1 - x) sigma sqrt(2 pi))``.

    ``sigma > 0`` (or precision ``tau = 1/sigma**2``).  Support: (0, 1); the density is 0 at
    both ends.  Median ``sigmoid(mu)``; mean and variance have no closed form.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     p = sv.LogitNormal("p", mu=-1.0, sigma=0.5)
    """

    params = ("mu", "sigma")
    support = "(0, 1)"
    checks = [(("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=0.0, sigma=None, tau=None):
        return {"mu": _f(mu), "sigma": _sigma_from(sigma, tau)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        mu, sigma = params["mu"], params["sigma"]
        return pt.sigmoid(rb.normal(mu, sigma, size=_batch_size(size, mu, sigma), rng=rng))

    @staticmethod
    def logp(value, mu, sigma):
        inside = (value > 0) & (value < 1)
        v = pt.switch(inside, value, 0.5)
        log_v, log_1mv = pt.log(v), pt.log1p(-v)
        z = (log_v - log_1mv - mu) / sigma
        lp = -0.5 * z**2 - pt.log(sigma) - 0.5 * LOG_2PI - log_v - log_1mv
        return bound(lp, inside)

    @staticmethod
    def logcdf(value, mu, sigma):
        inside = (value > 0) & (value < 1)
        v = pt.switch(inside, value, 0.5)
        inner = _norm_logcdf((pt.log(v) - pt.log1p(-v) - mu) / sigma)
        return pt.switch(value <= 0, -float("inf"), pt.switch(value >= 1, 0.0, inner))

    @staticmethod
    def icdf(q, mu, sigma):
        # the upper half through 1 - q (norm_ppf is accurate in the lower tail)
        upper = q > 0.5
        z = pt.switch(upper, -norm_ppf(1 - q), norm_ppf(q))
        return icdf_in_range(pt.sigmoid(mu + sigma * z), q)

    @classmethod
    def default_transform(cls, params):
        return transforms.logodds

    @classmethod
    def support_point(cls, rv, mu, sigma):
        return pt.clip(pt.sigmoid(mu + 0 * sigma), _EDGE, 1 - _EDGE)  # the median
