"""Continuous distributions on the positive half-line (log transform by default).

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
from symvi.distributions.unbounded import Normal
from symvi.distributions.dist_math import (
    LOG_2,
    LOG_2PI,
    LOG_PI,
    _batch_size,
    _const_all,
    _f,
    _floats,
    _sigma_from,
    _student_t_logp,
    xlogy,
)

__all__ = ["HalfFlat", "HalfNormal", "Exponential", "Gamma", "InverseGamma", "LogNormal", "HalfStudentT", "HalfCauchy", "Weibull", "Pareto", "ChiSquared", "Wald"]


class HalfFlat(Continuous):
    """Improper uniform density on (0, inf)."""

    params = ()

    @classmethod
    def rv_graph(cls, params, size, rng):
        return pt.ones(() if size is None else size, dtype=pytensor.config.floatX)

    @staticmethod
    def logp(value):
        return bound(pt.zeros_like(value, dtype=pytensor.config.floatX), value > 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, **params):
        return pt.ones_like(rv, dtype=pytensor.config.floatX)


class HalfNormal(Continuous):
    """|Normal(0, sigma)|, or with tau=precision."""

    params = ("sigma",)
    rv_op = rb.halfnormal
    checks = [(("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, sigma=None, tau=None):
        return {"sigma": _sigma_from(sigma, tau)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.halfnormal(0.0, params["sigma"], size=size, rng=rng)

    @staticmethod
    def logp(value, sigma):
        z = value / sigma
        lp = -0.5 * z**2 - pt.log(sigma) + 0.5 * np.log(2 / np.pi)
        return bound(lp, value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, sigma):
        return sigma


class Exponential(Continuous):
    """Exponential(lam) (rate) or Exponential(scale=1/lam)."""

    params = ("lam",)
    checks = [(("lam",), lambda lam: (lam > 0) & (lam < np.inf), "> 0 and finite (scale > 0)")]

    @classmethod
    def parametrize(cls, lam=None, *, scale=None):
        if (lam is None) == (scale is None):
            raise TypeError("Exponential: give exactly one of lam or scale")
        if scale is not None:
            lam = 1 / (scale if isinstance(scale, pt.Variable) else np.asarray(scale, dtype="float64"))
        return {"lam": _f(lam)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.exponential(1 / params["lam"], size=size, rng=rng)

    @staticmethod
    def logp(value, lam):
        return bound(pt.log(lam) - lam * value, value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, lam):
        return 1 / lam


class Gamma(Continuous):
    """Gamma(alpha, beta) (shape, rate) or Gamma(mu=, sigma=)."""

    params = ("alpha", "beta")
    checks = [(("alpha",), positive, "> 0"), (("beta",), positive, "> 0")]

    @classmethod
    def parametrize(cls, alpha=None, beta=None, *, mu=None, sigma=None):
        if mu is not None or sigma is not None:
            if alpha is not None or beta is not None or mu is None or sigma is None:
                raise TypeError("Gamma: give (alpha, beta) or (mu, sigma)")
            mu, sigma = _f(mu), _f(sigma)
            return {"alpha": mu**2 / sigma**2, "beta": mu / sigma**2}
        if alpha is None or beta is None:
            raise TypeError("Gamma: give (alpha, beta) or (mu, sigma)")
        return _floats({"alpha": alpha, "beta": beta})

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.gamma(params["alpha"], scale=1 / params["beta"], size=size, rng=rng)

    @staticmethod
    def logp(value, alpha, beta):
        # xlogy: finite density at 0 when alpha == 1 (the exponential case), as scipy/PyMC
        lp = alpha * pt.log(beta) - pt.gammaln(alpha) + xlogy(alpha - 1, value) - beta * value
        return bound(lp, value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, alpha, beta):
        return alpha / beta


class InverseGamma(Continuous):
    """InverseGamma(alpha, beta) (shape, scale) or InverseGamma(mu=, sigma=)."""

    params = ("alpha", "beta")
    rv_op = rb.invgamma
    checks = [(("alpha",), positive, "> 0"), (("beta",), positive, "> 0")]

    @classmethod
    def parametrize(cls, alpha=None, beta=None, *, mu=None, sigma=None):
        if mu is not None or sigma is not None:
            if alpha is not None or beta is not None or mu is None or sigma is None:
                raise TypeError("InverseGamma: give (alpha, beta) or (mu, sigma)")
            mu, sigma = _f(mu), _f(sigma)
            alpha = mu**2 / sigma**2 + 2
            return {"alpha": alpha, "beta": mu * (alpha - 1)}
        if alpha is None or beta is None:
            raise TypeError("InverseGamma: give (alpha, beta) or (mu, sigma)")
        return _floats({"alpha": alpha, "beta": beta})

    @staticmethod
    def logp(value, alpha, beta):
        lp = alpha * pt.log(beta) - pt.gammaln(alpha) - (alpha + 1) * pt.log(value) - beta / value
        return bound(lp, value > 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, alpha, beta):
        # the mean where it exists, else the mode
        return pt.switch(alpha > 1, beta / (alpha - 1), beta / (alpha + 1))


class LogNormal(Continuous):
    """exp(Normal(mu, sigma)); or with tau=precision of the log."""

    params = ("mu", "sigma")
    rv_op = rb.lognormal
    checks = [(("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=0.0, sigma=None, tau=None):
        return {"mu": _f(mu), "sigma": _sigma_from(sigma, tau)}

    @staticmethod
    def logp(value, mu, sigma):
        logx = pt.log(value)
        return bound(Normal.logp(logx, mu, sigma) - logx, value > 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, mu, sigma):
        return pt.exp(mu)  # the median: finite even for large sigma


class HalfStudentT(Continuous):
    """|StudentT(nu, 0, sigma)|, or with lam=precision."""

    params = ("nu", "sigma")
    checks = [(("nu",), positive, "> 0"), (("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, nu=1.0, sigma=None, lam=None):
        return {"nu": _f(nu), "sigma": _sigma_from(sigma, lam, tau_name="lam")}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return pt.abs(rb.t(params["nu"], 0.0, params["sigma"], size=size, rng=rng))

    @staticmethod
    def logp(value, nu, sigma):
        return bound(LOG_2 + _student_t_logp(value, nu, 0.0, sigma), value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, nu, sigma):
        return sigma


class HalfCauchy(Continuous):
    """|Cauchy(0, beta)|."""

    params = ("beta",)
    checks = [(("beta",), positive, "> 0")]

    @classmethod
    def parametrize(cls, beta=None):
        if beta is None:
            raise TypeError("HalfCauchy: missing parameter 'beta'")
        return {"beta": _f(beta)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.halfcauchy(0.0, params["beta"], size=size, rng=rng)

    @staticmethod
    def logp(value, beta):
        z = value / beta
        return bound(LOG_2 - LOG_PI - pt.log(beta) - pt.log1p(z**2), value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, beta):
        return beta


class Weibull(Continuous):
    """Weibull(alpha, beta): shape alpha, scale beta."""

    params = ("alpha", "beta")
    checks = [(("alpha",), positive, "> 0"), (("beta",), positive, "> 0")]

    @classmethod
    def parametrize(cls, alpha=None, beta=None):
        if alpha is None or beta is None:
            raise TypeError("Weibull: give alpha (shape) and beta (scale)")
        return _floats({"alpha": alpha, "beta": beta})

    @classmethod
    def rv_graph(cls, params, size, rng):
        alpha, beta = params["alpha"], params["beta"]
        return beta * rb.weibull(alpha, size=_batch_size(size, alpha, beta), rng=rng)

    @staticmethod
    def logp(value, alpha, beta):
        x = value / beta
        lp = pt.log(alpha) - pt.log(beta) + xlogy(alpha - 1, x) - x**alpha
        return bound(lp, value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, alpha, beta):
        return beta * pt.exp(pt.gammaln(1 + 1 / alpha))  # the mean


class Pareto(Continuous):
    """Pareto(alpha, m): shape alpha, scale (and lower end of the support) m."""

    params = ("alpha", "m")
    rv_op = rb.pareto
    checks = [(("alpha",), positive, "> 0"), (("m",), positive, "> 0")]

    @classmethod
    def parametrize(cls, alpha=None, m=None):
        if alpha is None or m is None:
            raise TypeError("Pareto: give alpha (shape) and m (scale)")
        return _floats({"alpha": alpha, "m": m})

    @staticmethod
    def logp(value, alpha, m):
        lp = pt.log(alpha) + alpha * pt.log(m) - (alpha + 1) * pt.log(value)
        return bound(lp, value >= m)

    @classmethod
    def default_transform(cls, params):
        return transforms.LowerBound(params["m"])

    @classmethod
    def support_point(cls, rv, alpha, m):
        return m * 2 ** (1 / alpha)  # the median


class ChiSquared(Continuous):
    """ChiSquared(nu) = Gamma(nu/2, rate 1/2)."""

    params = ("nu",)
    checks = [(("nu",), positive, "> 0")]

    @classmethod
    def parametrize(cls, nu=None):
        if nu is None:
            raise TypeError("ChiSquared: missing parameter 'nu'")
        return {"nu": _f(nu)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.chisquare(params["nu"], size=size, rng=rng)

    @staticmethod
    def logp(value, nu):
        k = nu / 2
        lp = xlogy(k - 1, value) - value / 2 - pt.gammaln(k) - k * LOG_2
        return bound(lp, value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, nu):
        return nu


class Wald(Continuous):
    """Wald / inverse Gaussian shifted by alpha: Wald(mu, lam), Wald(mu, phi=) or Wald(lam=, phi=).

    phi = lam / mu; the support is x > alpha.
    """

    params = ("mu", "lam", "alpha")
    checks = [(("mu",), positive, "> 0"), (("lam",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=None, lam=None, phi=None, alpha=0.0):
        given = sum(p is not None for p in (mu, lam, phi))
        if given != 2:
            raise TypeError("Wald: give two of mu, lam and phi")
        mu, lam, phi = _f(mu), _f(lam), _f(phi)
        if phi is not None:
            if mu is not None:
                lam = mu * phi
            else:
                mu = lam / phi
        return {"mu": mu, "lam": lam, "alpha": _f(alpha)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        mu, lam, alpha = params["mu"], params["lam"], params["alpha"]
        return rb.wald(mu, lam, size=_batch_size(size, mu, lam, alpha), rng=rng) + alpha

    @staticmethod
    def logp(value, mu, lam, alpha):
        x = value - alpha
        lp = 0.5 * (pt.log(lam) - LOG_2PI) - 1.5 * pt.log(x) - lam * (x - mu) ** 2 / (2 * mu**2 * x)
        return bound(lp, x > 0)

    @classmethod
    def default_transform(cls, params):
        if _const_all(params["alpha"], 0):
            return transforms.log
        return transforms.LowerBound(params["alpha"])

    @classmethod
    def support_point(cls, rv, mu, lam, alpha):
        return mu + alpha
