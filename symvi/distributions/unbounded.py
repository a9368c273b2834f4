"""Continuous distributions on the whole real line: Flat, Normal, StudentT, Cauchy, Laplace, Logistic.

Each class maps the user's parametrization to canonical parameters, draws with pytensor's
RandomVariable ops and writes its own log density.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import Continuous, positive
from symvi.distributions.dist_math import (
    student_t_draw,
    LOG_2,
    LOG_2PI,
    LOG_PI,
    _batch_size,
    _f,
    _floats,
    _sigma_from,
    _norm_logcdf,
    _student_t_logp,
    norm_icdf,
    quantile,
    safe_q,
)

__all__ = ["Flat", "Normal", "StudentT", "Cauchy", "Laplace", "Logistic"]


class Flat(Continuous):
    """Improper uniform density on the real line (logp 0)."""

    support = "real"
    params = ()

    @classmethod
    def rv_graph(cls, params, size, rng):
        # Flat has no proper draw; prior draws return zeros of the right shape.
        return pt.zeros(() if size is None else size, dtype=pytensor.config.floatX)

    @staticmethod
    def logp(value):
        return pt.zeros_like(value, dtype=pytensor.config.floatX)


class Normal(Continuous):
    """Normal(mu, sigma) or Normal(mu, tau=precision)."""

    support = "real"
    params = ("mu", "sigma")
    rv_op = rb.normal
    checks = [(("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=0.0, sigma=None, tau=None):
        return {"mu": _f(mu), "sigma": _sigma_from(sigma, tau)}

    @staticmethod
    def logp(value, mu, sigma):
        z = (value - mu) / sigma
        return -0.5 * z**2 - pt.log(sigma) - 0.5 * LOG_2PI

    @staticmethod
    def logcdf(value, mu, sigma):
        return _norm_logcdf((value - mu) / sigma)

    @staticmethod
    def icdf(q, mu, sigma):
        return quantile(q, mu + sigma * norm_icdf(safe_q(q)))

    @classmethod
    def support_point(cls, rv, mu, sigma):
        return mu


class StudentT(Continuous):
    """StudentT(nu, mu=0, sigma=1), or with lam=precision (sigma = lam**-0.5)."""

    support = "real"
    params = ("nu", "mu", "sigma")
    checks = [(("nu",), positive, "> 0"), (("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, nu=None, mu=0.0, sigma=None, lam=None):
        if nu is None:
            raise TypeError("StudentT: missing parameter 'nu'")
        return {"nu": _f(nu), "mu": _f(mu), "sigma": _sigma_from(sigma, lam, tau_name="lam")}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return student_t_draw(params["nu"], params["mu"], params["sigma"], size, rng)

    @staticmethod
    def logp(value, nu, mu, sigma):
        return _student_t_logp(value, nu, mu, sigma)

    @staticmethod
    def logcdf(value, nu, mu, sigma):
        return _student_t_logcdf((value - mu) / sigma, nu)

    @staticmethod
    def icdf(q, nu, mu, sigma):
        return quantile(q, mu + sigma * _student_t_icdf(safe_q(q), nu))

    @classmethod
    def support_point(cls, rv, nu, mu, sigma):
        return mu


class Cauchy(Continuous):
    """Cauchy(alpha, beta): location alpha, scale beta."""

    support = "real"
    params = ("alpha", "beta")
    checks = [(("beta",), positive, "> 0")]

    @classmethod
    def parametrize(cls, alpha=None, beta=None):
        if alpha is None or beta is None:
            raise TypeError("Cauchy: give alpha (location) and beta (scale)")
        return _floats({"alpha": alpha, "beta": beta})

    @classmethod
    def rv_graph(cls, params, size, rng):
        # standard draws, scaled here: pytensor 3.0.7's numba CauchyRV returns
        # (loc + standard_cauchy) / scale
        alpha, beta = params["alpha"], params["beta"]
        return alpha + beta * rb.cauchy(0.0, 1.0, size=_batch_size(size, alpha, beta), rng=rng)

    @staticmethod
    def logp(value, alpha, beta):
        z = (value - alpha) / beta
        return -LOG_PI - pt.log(beta) - pt.log1p(z**2)

    @staticmethod
    def logcdf(value, alpha, beta):
        # F(z) = atan2(1, -z) / pi keeps its precision in the lower tail; 1 - F = atan2(1, z) / pi
        z = (value - alpha) / beta
        neg = z < 0
        return pt.switch(neg, pt.log(pt.arctan2(1.0, -z)) - LOG_PI, pt.log1p(-pt.arctan2(1.0, z) / np.pi))

    @staticmethod
    def icdf(q, alpha, beta):
        # x = alpha - beta cot(pi q): for q < 1/2 directly, above from 1 - q (no cancellation)
        u = safe_q(q)
        low = u < 0.5
        z = pt.switch(low, -1.0 / pt.tan(np.pi * u), 1.0 / pt.tan(np.pi * (1 - u)))
        x = pt.switch(pt.eq(u, 0), -np.inf, pt.switch(pt.eq(u, 1), np.inf, alpha + beta * z))
        return quantile(q, x)

    @classmethod
    def support_point(cls, rv, alpha, beta):
        return alpha


class Laplace(Continuous):
    """Laplace(mu, b): location mu, scale b."""

    support = "real"
    params = ("mu", "b")
    rv_op = rb.laplace
    checks = [(("b",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=None, b=None):
        if mu is None or b is None:
            raise TypeError("Laplace: give mu (location) and b (scale)")
        return _floats({"mu": mu, "b": b})

    @staticmethod
    def logp(value, mu, b):
        return -LOG_2 - pt.log(b) - pt.abs(value - mu) / b

    @staticmethod
    def logcdf(value, mu, b):
        z = (value - mu) / b
        neg = z < 0
        return pt.switch(neg, pt.switch(neg, z, 0.0) - LOG_2, pt.log1p(-0.5 * pt.exp(-pt.switch(neg, 0.0, z))))

    @staticmethod
    def icdf(q, mu, b):
        u = safe_q(q)
        x = pt.switch(u < 0.5, mu + b * pt.log(2 * u), mu - b * pt.log(2 - 2 * u))
        return quantile(q, x)

    @classmethod
    def support_point(cls, rv, mu, b):
        return mu


class Logistic(Continuous):
    """Logistic(mu, s): location mu, scale s."""

    support = "real"
    params = ("mu", "s")
    rv_op = rb.logistic
    checks = [(("s",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=0.0, s=1.0):
        return _floats({"mu": mu, "s": s})

    @staticmethod
    def logp(value, mu, s):
        az = pt.abs((value - mu) / s)  # the density is symmetric; |z| keeps exp() from overflowing
        return -az - pt.log(s) - 2 * pt.log1p(pt.exp(-az))

    @staticmethod
    def logcdf(value, mu, s):
        return -pt.softplus(-(value - mu) / s)

    @staticmethod
    def icdf(q, mu, s):
        u = safe_q(q)
        return quantile(q, mu + s * (pt.log(u) - pt.log1p(-u)))

    @classmethod
    def support_point(cls, rv, mu, s):
        return mu


def _student_t_logcdf(t, nu):
    """log F of the standard Student t: I_x(nu/2, 1/2) / 2 with x = nu / (nu + t^2) in the
    tail, and its complement I_(1-x)(1/2, nu/2) computed directly near the centre."""
    t2 = t**2
    x = nu / (nu + t2)
    tail = 0.5 * pt.betainc(nu / 2, 0.5, x)  # P(T < -|t|)
    centre = 0.5 * pt.betainc(0.5, nu / 2, t2 / (nu + t2))  # P(0 < T < |t|)
    log_lower = pt.log(tail)  # t < 0
    log_upper = pt.switch(tail < 0.25, pt.log1p(-tail), pt.log(0.5 + centre))  # t >= 0
    return pt.switch(t < 0, log_lower, log_upper)


def _student_t_icdf(q, nu):
    """Quantile of the standard Student t by inverting the regularized incomplete beta."""
    p = pt.minimum(q, 1 - q)  # the tail probability
    tail = 2 * p < 0.5
    x = pt.betaincinv(nu / 2, 0.5, pt.switch(tail, 2 * p, 0.5))  # nu / (nu + t^2)
    y = pt.betaincinv(0.5, nu / 2, pt.switch(tail, 0.5, 1 - 2 * p))  # t^2 / (nu + t^2)
    t2 = pt.switch(tail, nu * (1 - x) / x, nu * y / (1 - y))
    t = pt.sqrt(t2)
    return pt.switch(q < 0.5, -t, t)
