"""Continuous distributions on the whole real line: Flat, Normal, StudentT, Cauchy, Laplace, Logistic.

Each class maps the user's parametrization to canonical parameters, draws with pytensor's
RandomVariable ops and writes its own log density.
"""

from __future__ import annotations

import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import Continuous, positive
from symvi.distributions.dist_math import (
    LOG_2,
    LOG_2PI,
    LOG_PI,
    _batch_size,
    _f,
    _floats,
    _sigma_from,
    _student_t_logp,
)

__all__ = ["Flat", "Normal", "StudentT", "Cauchy", "Laplace", "Logistic"]


class Flat(Continuous):
    """Improper uniform density on the real line (logp 0)."""

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

    @classmethod
    def support_point(cls, rv, mu, sigma):
        return mu


class StudentT(Continuous):
    """StudentT(nu, mu=0, sigma=1), or with lam=precision (sigma = lam**-0.5)."""

    params = ("nu", "mu", "sigma")
    rv_op = rb.t
    checks = [(("nu",), positive, "> 0"), (("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, nu=None, mu=0.0, sigma=None, lam=None):
        if nu is None:
            raise TypeError("StudentT: missing parameter 'nu'")
        return {"nu": _f(nu), "mu": _f(mu), "sigma": _sigma_from(sigma, lam, tau_name="lam")}

    @staticmethod
    def logp(value, nu, mu, sigma):
        return _student_t_logp(value, nu, mu, sigma)

    @classmethod
    def support_point(cls, rv, nu, mu, sigma):
        return mu


class Cauchy(Continuous):
    """Cauchy(alpha, beta): location alpha, scale beta."""

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

    @classmethod
    def support_point(cls, rv, alpha, beta):
        return alpha


class Laplace(Continuous):
    """Laplace(mu, b): location mu, scale b."""

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

    @classmethod
    def support_point(cls, rv, mu, b):
        return mu


class Logistic(Continuous):
    """Logistic(mu, s): location mu, scale s."""

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

    @classmethod
    def support_point(cls, rv, mu, s):
        return mu
