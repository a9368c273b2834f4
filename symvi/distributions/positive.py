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
    _batch_size,
    student_t_draw,
    LOG_2,
    LOG_2PI,
    LOG_PI,
    SQRT2,
    _batch_size,
    _const_all,
    _f,
    _floats,
    _sigma_from,
    _student_t_logp,
    xlogy,
    _norm_logcdf,
    cdf_bounds,
    cdf_guard,
    log_cdf_pair,
    norm_icdf,
    quantile,
    safe_q,
)
from symvi.distributions.unbounded import _student_t_icdf

__all__ = ["HalfFlat", "HalfNormal", "Exponential", "Gamma", "InverseGamma", "LogNormal", "HalfStudentT", "HalfCauchy", "Weibull", "Pareto", "ChiSquared", "Wald", "Lognormal"]


class HalfFlat(Continuous):
    """Improper uniform density on (0, inf)."""

    support = "(0, inf)"
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

    support = "[0, inf)"
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

    @staticmethod
    def logcdf(value, sigma):
        v, below, _ = cdf_guard(value, 0.0)
        z = v / (sigma * SQRT2)
        return cdf_bounds(log_cdf_pair(pt.erf(z), pt.erfc(z)), below, False)

    @staticmethod
    def icdf(q, sigma):
        u = safe_q(q)
        lower = u < 0.5
        z = pt.switch(lower, pt.erfinv(pt.switch(lower, u, 0.0)), pt.erfcinv(1 - pt.switch(lower, 0.5, u)))
        return quantile(q, sigma * SQRT2 * z)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, sigma):
        return sigma


class Exponential(Continuous):
    """Exponential(lam) (rate) or Exponential(scale=1/lam)."""

    support = "[0, inf)"
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

    @staticmethod
    def logcdf(value, lam):
        v, below, _ = cdf_guard(value, 0.0)
        return cdf_bounds(pt.log1mexp(-lam * v), below, False)

    @staticmethod
    def icdf(q, lam):
        return quantile(q, -pt.log1p(-safe_q(q)) / lam)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, lam):
        return 1 / lam


class Gamma(Continuous):
    """Gamma(alpha, beta) (shape, rate) or Gamma(mu=, sigma=)."""

    support = "[0, inf)"
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

    @staticmethod
    def logcdf(value, alpha, beta):
        v, below, _ = cdf_guard(value, 0.0)
        x = beta * v
        return cdf_bounds(log_cdf_pair(pt.gammainc(alpha, x), pt.gammaincc(alpha, x)), below, False)

    @staticmethod
    def icdf(q, alpha, beta):
        return quantile(q, _gamma_icdf(safe_q(q), alpha) / beta)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, alpha, beta):
        return alpha / beta


class InverseGamma(Continuous):
    """InverseGamma(alpha, beta) (shape, scale) or InverseGamma(mu=, sigma=)."""

    support = "(0, inf)"
    params = ("alpha", "beta")
    checks = [(("alpha",), positive, "> 0"), (("beta",), positive, "> 0")]

    @classmethod
    def rv_graph(cls, params, size, rng):
        # beta / Gamma(alpha): PyTensor's Numba invgamma raises ZeroDivisionError when the gamma
        # draw underflows (tiny alpha), where numpy gives inf; an elementwise division gives inf
        alpha, beta = params["alpha"], params["beta"]
        return beta / rb.gamma(alpha, scale=1.0, size=_batch_size(size, alpha, beta), rng=rng)

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

    @staticmethod
    def logcdf(value, alpha, beta):
        v, below, _ = cdf_guard(value, 0.0)
        x = beta / pt.switch(pt.le(v, 0), 1.0, v)
        lc = log_cdf_pair(pt.gammaincc(alpha, x), pt.gammainc(alpha, x))
        return cdf_bounds(pt.switch(pt.le(v, 0), -np.inf, lc), below, False)

    @staticmethod
    def icdf(q, alpha, beta):
        u = safe_q(q)
        return quantile(q, beta / _gamma_icdf(1 - u, alpha, upper_q=u))

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, alpha, beta):
        # the mean where it exists, else the mode
        return pt.switch(alpha > 1, beta / (alpha - 1), beta / (alpha + 1))


class LogNormal(Continuous):
    """exp(Normal(mu, sigma)); or with tau=precision of the log."""

    support = "(0, inf)"
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

    @staticmethod
    def logcdf(value, mu, sigma):
        v, below, _ = cdf_guard(value, 0.0)
        pos = v > 0
        lc = _norm_logcdf((pt.log(pt.switch(pos, v, 1.0)) - mu) / sigma)
        return cdf_bounds(pt.switch(pos, lc, -np.inf), below, False)

    @staticmethod
    def icdf(q, mu, sigma):
        return quantile(q, pt.exp(mu + sigma * norm_icdf(safe_q(q))))

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, mu, sigma):
        return pt.exp(mu)  # the median: finite even for large sigma


class HalfStudentT(Continuous):
    """|StudentT(nu, 0, sigma)|, or with lam=precision."""

    support = "[0, inf)"
    params = ("nu", "sigma")
    checks = [(("nu",), positive, "> 0"), (("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, nu=1.0, sigma=None, lam=None):
        return {"nu": _f(nu), "sigma": _sigma_from(sigma, lam, tau_name="lam")}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return pt.abs(student_t_draw(params["nu"], 0.0, params["sigma"], size, rng))

    @staticmethod
    def logp(value, nu, sigma):
        return bound(LOG_2 + _student_t_logp(value, nu, 0.0, sigma), value >= 0)

    @staticmethod
    def logcdf(value, nu, sigma):
        # F = P(|T| < t) = I_y(1/2, nu/2) with y = t^2 / (nu + t^2); 1 - F = I_(1-y)(nu/2, 1/2)
        v, below, _ = cdf_guard(value, 0.0)
        t2 = (v / sigma) ** 2
        cdf = pt.betainc(0.5, nu / 2, t2 / (nu + t2))
        ccdf = pt.betainc(nu / 2, 0.5, nu / (nu + t2))
        return cdf_bounds(log_cdf_pair(cdf, ccdf), below, False)

    @staticmethod
    def icdf(q, nu, sigma):
        u = safe_q(q)
        return quantile(q, sigma * _student_t_icdf((1 + u) / 2, nu))

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, nu, sigma):
        return sigma


class HalfCauchy(Continuous):
    """|Cauchy(0, beta)|."""

    support = "[0, inf)"
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

    @staticmethod
    def logcdf(value, beta):
        # F = 2 atan(z) / pi; 1 - F = 2 atan(1/z) / pi for the upper tail
        v, below, _ = cdf_guard(value, 0.0)
        z = v / beta
        small = z < 1
        zs, zl = pt.switch(small, z, 1.0), pt.switch(small, 1.0, z)
        lc = pt.switch(small, pt.log(pt.arctan(zs)) + LOG_2 - LOG_PI, pt.log1p(-2 / np.pi * pt.arctan(1 / zl)))
        return cdf_bounds(lc, below, False)

    @staticmethod
    def icdf(q, beta):
        u = safe_q(q)
        x = pt.switch(pt.eq(u, 1), np.inf, beta * pt.tan(np.pi / 2 * u))
        return quantile(q, x)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, beta):
        return beta


class Weibull(Continuous):
    """Weibull(alpha, beta): shape alpha, scale beta."""

    support = "[0, inf)"
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

    @staticmethod
    def logcdf(value, alpha, beta):
        v, below, _ = cdf_guard(value, 0.0)
        return cdf_bounds(pt.log1mexp(-((v / beta) ** alpha)), below, False)

    @staticmethod
    def icdf(q, alpha, beta):
        return quantile(q, beta * (-pt.log1p(-safe_q(q))) ** (1 / alpha))

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, alpha, beta):
        return beta * pt.exp(pt.gammaln(1 + 1 / alpha))  # the mean


class Pareto(Continuous):
    """Pareto(alpha, m): shape alpha, scale (and lower end of the support) m."""

    support = "[m, inf)"
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

    @staticmethod
    def logcdf(value, alpha, m):
        v, below, _ = cdf_guard(value, m, safe=2 * m)
        return cdf_bounds(pt.log1mexp(alpha * (pt.log(m) - pt.log(v))), below, False)

    @staticmethod
    def icdf(q, alpha, m):
        return quantile(q, m * pt.exp(-pt.log1p(-safe_q(q)) / alpha))

    @classmethod
    def default_transform(cls, params):
        return transforms.LowerBound(params["m"])

    @classmethod
    def support_point(cls, rv, alpha, m):
        return m * 2 ** (1 / alpha)  # the median


class ChiSquared(Continuous):
    """ChiSquared(nu) = Gamma(nu/2, rate 1/2)."""

    support = "[0, inf)"
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

    @staticmethod
    def logcdf(value, nu):
        v, below, _ = cdf_guard(value, 0.0)
        return cdf_bounds(log_cdf_pair(pt.gammainc(nu / 2, v / 2), pt.gammaincc(nu / 2, v / 2)), below, False)

    @staticmethod
    def icdf(q, nu):
        return quantile(q, 2 * _gamma_icdf(safe_q(q), nu / 2))

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

    support = "(alpha, inf)"
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

    @staticmethod
    def logcdf(value, mu, lam, alpha):
        # F(x) = Phi(r (x/mu - 1)) + exp(2 lam / mu) Phi(-r (x/mu + 1)), r = sqrt(lam / x)
        v, below, _ = cdf_guard(value - alpha, 0.0)
        pos = v > 0
        x = pt.switch(pos, v, 1.0)
        r = pt.sqrt(lam / x)
        lc = pt.logaddexp(_norm_logcdf(r * (x / mu - 1)), 2 * lam / mu + _norm_logcdf(-r * (x / mu + 1)))
        return cdf_bounds(pt.switch(pos, lc, -np.inf), below, False)

    @classmethod
    def default_transform(cls, params):
        if _const_all(params["alpha"], 0):
            return transforms.log
        return transforms.LowerBound(params["alpha"])

    @classmethod
    def support_point(cls, rv, mu, lam, alpha):
        return mu + alpha


Lognormal = LogNormal  # PyMC's spelling


def _gamma_icdf(q, alpha, upper_q=None):
    """x with P(alpha, x) = q (the regularized lower incomplete gamma), from the complement
    ``upper_q = 1 - q`` where that is the smaller of the two (keeps the tail's precision)."""
    upper_q = 1 - q if upper_q is None else upper_q
    use_upper = upper_q < q
    return pt.switch(
        use_upper,
        pt.gammainccinv(alpha, pt.switch(use_upper, upper_q, 0.5)),
        pt.gammaincinv(alpha, pt.switch(use_upper, 0.5, q)),
    )
