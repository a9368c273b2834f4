"""Continuous distributions on an interval: Uniform, Beta, TruncatedNormal.

Each class maps the user's parametrization to canonical parameters, draws with pytensor's
RandomVariable ops and writes its own log density.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi import transforms
from symvi.distributions.base import Continuous, bound, positive
from symvi.distributions.dist_math import (
    _FAR,
    LOG_2,
    LOG_2PI,
    _batch_size,
    _const_all,
    _f,
    _floats,
    _norm_log_ppf,
    _norm_logcdf,
    _sigma_from,
    xlog1py,
    xlogy,
    cdf_bounds,
    cdf_guard,
    log_cdf_pair,
    quantile,
    safe_q,
)

__all__ = ["Uniform", "Beta", "TruncatedNormal"]


class Uniform(Continuous):
    """Uniform(lower, upper)."""

    support = "[lower, upper]"
    params = ("lower", "upper")
    rv_op = rb.uniform
    checks = [(("lower", "upper"), lambda lo, up: up > lo, "ordered: upper > lower")]

    @classmethod
    def parametrize(cls, lower=0.0, upper=1.0):
        return _floats({"lower": lower, "upper": upper})

    @staticmethod
    def logp(value, lower, upper):
        lp = -pt.log(upper - lower) + pt.zeros_like(value)
        return bound(lp, value >= lower, value <= upper)

    @staticmethod
    def logcdf(value, lower, upper):
        v, below, above = cdf_guard(value, lower, upper, safe=(lower + upper) / 2)
        return cdf_bounds(pt.log(v - lower) - pt.log(upper - lower), below, above)

    @staticmethod
    def icdf(q, lower, upper):
        return quantile(q, lower + safe_q(q) * (upper - lower))

    @classmethod
    def default_transform(cls, params):
        return transforms.Interval(params["lower"], params["upper"])

    @classmethod
    def support_point(cls, rv, lower, upper):
        return (lower + upper) / 2


class Beta(Continuous):
    """Beta(alpha, beta), Beta(mu=, sigma=) or Beta(mu=, nu=) (nu = alpha + beta)."""

    support = "[0, 1]"
    params = ("alpha", "beta")
    rv_op = rb.beta
    checks = [(("alpha",), positive, "> 0"), (("beta",), positive, "> 0")]

    @classmethod
    def parametrize(cls, alpha=None, beta=None, *, mu=None, sigma=None, nu=None):
        if mu is not None or sigma is not None or nu is not None:
            if alpha is not None or beta is not None or mu is None or (sigma is None) == (nu is None):
                raise TypeError("Beta: give (alpha, beta), (mu, sigma) or (mu, nu)")
            mu = _f(mu)
            if sigma is not None:
                sigma = _f(sigma)
                nu = mu * (1 - mu) / sigma**2 - 1
            nu = _f(nu)
            return {"alpha": mu * nu, "beta": (1 - mu) * nu}
        if alpha is None or beta is None:
            raise TypeError("Beta: give (alpha, beta), (mu, sigma) or (mu, nu)")
        return _floats({"alpha": alpha, "beta": beta})

    @staticmethod
    def logp(value, alpha, beta):
        lp = (
            xlogy(alpha - 1, value)
            + xlog1py(beta - 1, -value)
            - pt.special.betaln(alpha, beta)
        )
        return bound(lp, value >= 0, value <= 1)

    @staticmethod
    def logcdf(value, alpha, beta):
        v, below, above = cdf_guard(value, 0.0, 1.0, safe=0.5)
        lc = log_cdf_pair(pt.betainc(alpha, beta, v), pt.betainc(beta, alpha, 1 - v))
        return cdf_bounds(lc, below, above)

    @staticmethod
    def icdf(q, alpha, beta):
        u = safe_q(q)
        low = u < 0.5
        x = pt.switch(
            low,
            pt.betaincinv(alpha, beta, pt.switch(low, u, 0.5)),
            1 - pt.betaincinv(beta, alpha, 1 - pt.switch(low, 0.5, u)),
        )
        return quantile(q, x)

    @classmethod
    def default_transform(cls, params):
        return transforms.logodds

    @classmethod
    def support_point(cls, rv, alpha, beta):
        return alpha / (alpha + beta)


class TruncatedNormal(Continuous):
    """Normal(mu, sigma) (or tau=) truncated to [lower, upper]; None means no bound there.

    Canonical bounds are always present: a missing one is stored as -inf / +inf.  The default
    transform is Interval, LowerBound, UpperBound or none, by which bounds are finite
    constants (a symbolic bound counts as given).
    """

    support = "[lower, upper]"
    params = ("mu", "sigma", "lower", "upper")
    infinite_ok = ("lower", "upper")
    checks = [
        (("sigma",), positive, "> 0"),
        (("lower", "upper"), lambda lo, up: up > lo, "ordered: upper > lower"),
    ]

    @classmethod
    def parametrize(cls, mu=0.0, sigma=None, tau=None, lower=None, upper=None):
        return {
            "mu": _f(mu),
            "sigma": _sigma_from(sigma, tau),
            "lower": _f(-np.inf if lower is None else lower),
            "upper": _f(np.inf if upper is None else upper),
        }

    @classmethod
    def rv_graph(cls, params, size, rng):
        mu, sigma, lower, upper = (params[k] for k in cls.params)
        size = _batch_size(size, mu, sigma, lower, upper)
        u = rb.uniform(0.0, 1.0, size=size, rng=rng)
        return pt.clip(TruncatedNormal._icdf(u, mu, sigma, lower, upper), lower, upper)

    @staticmethod
    def _icdf(u, mu, sigma, lower, upper):
        a, b = (lower - mu) / sigma, (upper - mu) / sigma
        # inverse CDF, in the lower tail (where Phi keeps its relative precision) and in log
        # space: log p = log(Phi(a) + u (Phi(b) - Phi(a)))
        flip = a > 0
        a, b = pt.switch(flip, -b, a), pt.switch(flip, -a, b)
        u = pt.switch(flip, 1 - u, u)
        lcdf_a, lcdf_b = _norm_logcdf(a), _norm_logcdf(b)
        logp = lcdf_b + pt.log(u + (1 - u) * pt.exp(lcdf_a - lcdf_b))
        z = _norm_log_ppf(logp)
        z = pt.switch(flip, -z, z)
        return mu + sigma * z

    @staticmethod
    def icdf(q, mu, sigma, lower, upper):
        u = safe_q(q)
        x = TruncatedNormal._icdf(u, mu, sigma, lower, upper)
        x = pt.switch(pt.eq(u, 0), lower, pt.switch(pt.eq(u, 1), upper, pt.clip(x, lower, upper)))
        return quantile(q, x)

    @staticmethod
    def logcdf(value, mu, sigma, lower, upper):
        # F(x) = (Phi(x') - Phi(a)) / (Phi(b) - Phi(a)): the normaliser with x in place of upper
        lo_inf = pt.isinf(lower)
        safe = pt.switch(lo_inf, pt.switch(pt.isinf(upper), mu, upper - sigma), lower + sigma)
        safe = pt.switch(pt.and_(~lo_inf, ~pt.isinf(upper)), (pt.switch(lo_inf, 0.0, lower) + pt.switch(pt.isinf(upper), 0.0, upper)) / 2, safe)
        v, below, above = cdf_guard(value, lower, upper, safe=safe)
        below = pt.or_(below, pt.eq(value, lower))
        v = pt.switch(below, safe, v)
        # log F from the mass below x where F is small, from the mass above x where it is not
        log_z = TruncatedNormal._log_normalizer(mu, sigma, lower, upper)
        lower_part = TruncatedNormal._log_normalizer(mu, sigma, lower, v) - log_z
        upper_part = TruncatedNormal._log_normalizer(mu, sigma, v, upper) - log_z
        small = lower_part < -LOG_2
        lc = pt.switch(small, lower_part, pt.log1mexp(pt.switch(small, -1.0, pt.minimum(upper_part, 0.0))))
        return cdf_bounds(pt.minimum(lc, 0.0), below, above)

    @staticmethod
    def _log_normalizer(mu, sigma, lower, upper):
        """log(Phi(beta) - Phi(alpha)) computed in log space."""
        no_lower, no_upper = _const_all(lower, -np.inf), _const_all(upper, np.inf)
        if no_lower and no_upper:
            return pt.zeros_like(mu + sigma, dtype=pytensor.config.floatX)
        if no_upper:
            return _norm_logcdf((mu - lower) / sigma)  # log Q(alpha)
        if no_lower:
            return _norm_logcdf((upper - mu) / sigma)  # log Phi(beta)
        lo_inf, up_inf = pt.isinf(lower), pt.isinf(upper)
        alpha = pt.switch(lo_inf, -_FAR, (pt.switch(lo_inf, 0.0, lower) - mu) / sigma)
        beta = pt.switch(up_inf, _FAR, (pt.switch(up_inf, 0.0, upper) - mu) / sigma)
        lcdf_a, lcdf_b = _norm_logcdf(alpha), _norm_logcdf(beta)
        lsf_a, lsf_b = _norm_logcdf(-alpha), _norm_logcdf(-beta)
        upper_tail = lsf_a + pt.log1mexp(lsf_b - lsf_a)  # both bounds above the mean
        lower_tail = lcdf_b + pt.log1mexp(lcdf_a - lcdf_b)  # both below
        middle = pt.log1p(-pt.exp(lcdf_a) - pt.exp(lsf_b))
        return pt.switch(alpha > 0, upper_tail, pt.switch(beta < 0, lower_tail, middle))

    @staticmethod
    def logp(value, mu, sigma, lower, upper):
        z = (value - mu) / sigma
        lp = -0.5 * z**2 - pt.log(sigma) - 0.5 * LOG_2PI
        lp = lp - TruncatedNormal._log_normalizer(mu, sigma, lower, upper)
        return bound(lp, value >= lower, value <= upper)

    @classmethod
    def default_transform(cls, params):
        no_lower = _const_all(params["lower"], -np.inf)
        no_upper = _const_all(params["upper"], np.inf)
        if no_lower and no_upper:
            return None
        if no_upper:
            return transforms.LowerBound(params["lower"])
        if no_lower:
            return transforms.UpperBound(params["upper"])
        return transforms.Interval(params["lower"], params["upper"])

    @classmethod
    def support_point(cls, rv, mu, sigma, lower, upper):
        inside = (mu > lower) & (mu < upper)
        lo_inf, up_inf = pt.isinf(lower), pt.isinf(upper)
        mid = (pt.switch(lo_inf, 0.0, lower) + pt.switch(up_inf, 0.0, upper)) / 2
        fallback = pt.switch(lo_inf, upper - sigma, pt.switch(up_inf, lower + sigma, mid))
        return pt.switch(inside, mu, fallback)
