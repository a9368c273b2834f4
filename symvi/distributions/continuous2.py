"""More continuous distributions (scalar support), with PyMC's names and parametrizations.

Same protocol as :mod:`symvi.distributions.continuous`: canonical ``params``, ``parametrize``
for the alternatives, draws from pytensor's RandomVariable ops, our own log densities.

Examples
--------
>>> import numpy as np, pytensor.tensor as pt, symvi as sv
>>> from symvi.distributions import dist_info
>>> x = sv.TruncatedNormal.dist(0.0, 1.0, lower=0.0)
>>> round(float(dist_info(x).logp(pt.as_tensor(0.0)).eval()), 4)  # log(2 * phi(0))
-0.2258
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi import transforms
from symvi.distributions.base import Continuous, _numeric, bound, positive
from symvi.distributions.dist_math import xlog1py, xlogy
from symvi.distributions.continuous import LOG_2PI, Normal, _f, _floats, _sigma_from

__all__ = [
    "TruncatedNormal",
    "InverseGamma",
    "Beta",
    "LogNormal",
    "StudentT",
    "HalfStudentT",
    "Cauchy",
    "HalfCauchy",
    "Laplace",
    "Logistic",
    "Weibull",
    "Pareto",
    "ChiSquared",
    "Wald",
]

SQRT2 = float(np.sqrt(2.0))
LOG_PI = float(np.log(np.pi))
LOG_2 = float(np.log(2.0))
_FAR = 1e10  # stands in for an infinite standardized bound (Phi(-1e10) == 0 in float64)


def _batch_size(size, *params):
    """``size`` or, when None, the broadcast shape of ``params`` (for draws built from a
    single-parameter op plus arithmetic, which would otherwise share one draw per batch)."""
    if size is not None or all(p.ndim == 0 for p in params):
        return size
    return pt.broadcast_shape(*params, arrays_are_shapes=False)


def _const_all(x, target) -> bool:
    v = _numeric(x)
    return v is not None and bool(np.all(v == target))


def _norm_logcdf(x):
    """log Phi(x), accurate in both tails; gradient-safe (double ``switch``) everywhere."""
    left = x < -1.0
    xl = pt.switch(left, x, -1.0)
    xr = pt.switch(left, 0.0, x)
    # Phi(x) = erfc(-x/sqrt2)/2 = erfcx(-x/sqrt2) exp(-x^2/2)/2 for x < -1
    lo = pt.log(0.5 * pt.erfcx(-xl / SQRT2)) - 0.5 * xl**2
    hi = pt.log1p(-0.5 * pt.erfc(xr / SQRT2))
    return pt.switch(left, lo, hi)


def _norm_log_ppf(logp, newton_steps=2):
    """Phi^-1(exp(logp)), also far in the lower tail where exp(logp) underflows (draws only)."""
    central = -SQRT2 * pt.erfcinv(2 * pt.exp(pt.maximum(logp, -700.0)))
    # log Phi(-x) ~ -x^2/2 - log x - log(2 pi)/2 for large x, then Newton steps on log Phi
    t = -2 * pt.minimum(logp, -30.0)
    z = pt.switch(logp > -700, central, -pt.sqrt(t - pt.log(t) - LOG_2PI))
    for _ in range(newton_steps):
        log_pdf = -0.5 * z**2 - 0.5 * LOG_2PI
        z = z - (_norm_logcdf(z) - logp) / pt.exp(log_pdf - _norm_logcdf(z))
    return pt.switch(logp < -30, z, central)


class TruncatedNormal(Continuous):
    """Normal(mu, sigma) (or tau=) truncated to [lower, upper]; None means no bound there.

    Canonical bounds are always present: a missing one is stored as -inf / +inf.  The default
    transform is Interval, LowerBound, UpperBound or none, by which bounds are finite
    constants (a symbolic bound counts as given).
    """

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
        a, b = (lower - mu) / sigma, (upper - mu) / sigma
        # inverse CDF, in the lower tail (where Phi keeps its relative precision) and in log
        # space: log p = log(Phi(a) + u (Phi(b) - Phi(a)))
        flip = a > 0
        a, b = pt.switch(flip, -b, a), pt.switch(flip, -a, b)
        lcdf_a, lcdf_b = _norm_logcdf(a), _norm_logcdf(b)
        logp = lcdf_b + pt.log(u + (1 - u) * pt.exp(lcdf_a - lcdf_b))
        z = _norm_log_ppf(logp)
        z = pt.switch(flip, -z, z)
        return pt.clip(mu + sigma * z, lower, upper)

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


class Beta(Continuous):
    """Beta(alpha, beta), Beta(mu=, sigma=) or Beta(mu=, nu=) (nu = alpha + beta)."""

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

    @classmethod
    def default_transform(cls, params):
        return transforms.logodds

    @classmethod
    def support_point(cls, rv, alpha, beta):
        return alpha / (alpha + beta)


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


def _student_t_logp(value, nu, mu, sigma):
    z = (value - mu) / sigma
    return (
        pt.gammaln((nu + 1) / 2)
        - pt.gammaln(nu / 2)
        - 0.5 * (pt.log(nu) + LOG_PI)
        - pt.log(sigma)
        - (nu + 1) / 2 * pt.log1p(z**2 / nu)
    )


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
