"""Skewed distributions on the whole real line: AsymmetricLaplace, ExGaussian, SkewNormal, SkewStudentT.

Names, parametrizations and normalising constants follow PyMC 5; draws are transformations of
pytensor's uniform / normal / exponential / beta RandomVariables.

Examples
--------
>>> import symvi as sv
>>> x = sv.SkewNormal.dist(alpha=3.0, mu=0.0, sigma=1.0, size=4)
>>> x.eval().shape
(4,)
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable

from symvi.distributions.base import Continuous, positive
from symvi.distributions.cdf_math import icdf_in_range, logdiffexp
from symvi.distributions.special_ops import owens_t
from symvi.distributions.dist_math import (
    LOG_2,
    LOG_2PI,
    SQRT2,
    _batch_size,
    _f,
    _norm_logcdf,
    _sigma_from,
)
from symvi.pytensorf import new_rng

__all__ = ["AsymmetricLaplace", "ExGaussian", "SkewNormal", "SkewStudentT"]

# Gauss-Laguerre nodes for the skew-normal's far tail (16 already give ~1e-13 relative error)
_LAG_U, _LAG_W = np.polynomial.laguerre.laggauss(20)
_TAIL_HA = 3.0  # h * alpha above which F = Phi(-h) - 2 T(h, alpha) loses digits to cancellation
_DEEP_Z = 30.0  # below z = -30 Phi(z) and T are near underflow: the log-space quadrature instead
_LEG_X, _LEG_W = np.polynomial.legendre.leggauss(20)
_LEG_X, _LEG_W = (_LEG_X + 1) / 2, _LEG_W / 2  # on [0, 1]


class AsymmetricLaplace(Continuous):
    """Asymmetric Laplace distribution, PyMC's ``AsymmetricLaplace(kappa, mu, b)`` or ``(q=, mu=, b=)``.

    Density ``b / (kappa + 1/kappa) * exp(-(x - mu) b s kappa**s)`` with ``s = sign(x - mu)``.

    ``b > 0`` is an inverse scale, ``kappa > 0`` the asymmetry (``kappa = 1`` is the Laplace
    distribution with scale ``1/b``) and ``mu`` the location (the ``q``-quantile with
    ``q = kappa**2 / (1 + kappa**2)``).  ``q`` in (0, 1) replaces ``kappa`` for quantile
    regression: ``kappa = sqrt(q / (1 - q))``.  Support: the real line.  Mean
    ``mu - (kappa - 1/kappa) / b``, variance ``(1 + kappa**4) / (b**2 kappa**2)``.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     y = sv.AsymmetricLaplace("y", q=0.9, mu=0.0, b=1.0)
    """

    params = ("b", "kappa", "mu")
    support = "real"
    checks = [(("b",), positive, "> 0"), (("kappa",), positive, "> 0")]

    @classmethod
    def parametrize(cls, kappa=None, mu=None, b=None, q=None):
        if (kappa is None) == (q is None):
            raise TypeError("AsymmetricLaplace: give exactly one of kappa or q")
        if mu is None or b is None:
            raise TypeError("AsymmetricLaplace: give mu (location) and b (inverse scale)")
        if q is not None:
            if isinstance(q, Variable):
                kappa = pt.sqrt(q / (1 - q))  # NaN outside (0, 1): the kappa check gives -inf
            else:
                q = np.asarray(q, dtype="float64")
                if not np.all((q > 0) & (q < 1)):
                    raise ValueError(f"parameter q must be in (0, 1), got q={np.array2string(q, threshold=6)}")
                kappa = np.sqrt(q / (1 - q))
        return {"b": _f(b), "kappa": _f(kappa), "mu": _f(mu)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        b, kappa, mu = (params[k] for k in cls.params)
        u = rb.uniform(0.0, 1.0, size=_batch_size(size, b, kappa, mu), rng=rng)
        return cls.icdf(u, b, kappa, mu)

    @staticmethod
    def logp(value, b, kappa, mu):
        d = value - mu
        log_norm = pt.log(b) + pt.log(kappa) - pt.log1p(kappa**2)  # log(b / (kappa + 1/kappa))
        return log_norm + pt.switch(d >= 0, -d * b * kappa, d * b / kappa)

    @staticmethod
    def logcdf(value, b, kappa, mu):
        d = value - mu
        log_split = 2 * pt.log(kappa) - pt.log1p(kappa**2)  # log F(mu)
        left = log_split + pt.minimum(d, 0.0) * b / kappa
        right = pt.log1mexp(-pt.maximum(d, 0.0) * b * kappa - pt.log1p(kappa**2))
        return pt.switch(d < 0, left, right)

    @staticmethod
    def icdf(q, b, kappa, mu):
        log_split = 2 * pt.log(kappa) - pt.log1p(kappa**2)
        below = q <= pt.exp(log_split)
        x_left = mu + kappa / b * (pt.log(q) - log_split)
        x_right = mu - (pt.log1p(-q) + pt.log1p(kappa**2)) / (kappa * b)
        return icdf_in_range(pt.switch(below, x_left, x_right), q)

    @classmethod
    def support_point(cls, rv, b, kappa, mu):
        return mu - (kappa - 1 / kappa) / b  # the mean


class ExGaussian(Continuous):
    """Exponentially modified Gaussian: Normal(mu, sigma) plus an independent Exponential of mean nu.

    Density ``exp((mu - x)/nu + sigma**2 / (2 nu**2)) Phi((x - mu)/sigma - sigma/nu) / nu``
    (``Phi`` the standard normal CDF).

    ``sigma > 0``, ``nu > 0``.  Support: the real line; mean ``mu + nu``, variance
    ``sigma**2 + nu**2``.  The log density is computed exactly for every ``nu`` (with the
    scaled complementary error function where the exponential and Phi would overflow and
    underflow); PyMC substitutes the Normal(mu, sigma) density when ``nu <= 0.05 sigma``,
    so the two agree everywhere except in that regime.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     rt = sv.ExGaussian("rt", mu=0.4, sigma=0.05, nu=0.2)
    """

    params = ("mu", "sigma", "nu")
    support = "real"
    checks = [(("sigma",), positive, "> 0"), (("nu",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=0.0, sigma=1.0, nu=None):
        if nu is None:
            raise TypeError("ExGaussian: missing parameter 'nu' (the exponential's mean)")
        return {"mu": _f(mu), "sigma": _f(sigma), "nu": _f(nu)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        mu, sigma, nu = (params[k] for k in cls.params)
        size = _batch_size(size, mu, sigma, nu)
        return rb.normal(mu, sigma, size=size, rng=rng) + rb.exponential(nu, size=size, rng=new_rng())

    @staticmethod
    def logp(value, mu, sigma, nu):
        z = (value - mu) / sigma
        r = sigma / nu
        w = z - r
        left = w < -1.0
        wl = pt.switch(left, w, -2.0)
        wr = pt.switch(left, 0.0, w)
        # w << 0: exp((mu-x)/nu + r^2/2) Phi(w) = exp(-z^2/2) erfcx(-w/sqrt2)/2 (no overflow)
        lp_left = -0.5 * z**2 + pt.log(0.5 * pt.erfcx(-wl / SQRT2))
        lp_right = -z * r + 0.5 * r**2 + pt.log1p(-0.5 * pt.erfc(wr / SQRT2))
        return -pt.log(nu) + pt.switch(left, lp_left, lp_right)

    @staticmethod
    def logcdf(value, mu, sigma, nu):
        # F(x) = Phi(z) - nu f(x)
        log_phi = _norm_logcdf((value - mu) / sigma)
        log_nu_f = pt.log(nu) + ExGaussian.logp(value, mu, sigma, nu)
        return logdiffexp(log_phi, pt.minimum(log_nu_f, log_phi))

    @classmethod
    def support_point(cls, rv, mu, sigma, nu):
        return mu + nu + 0 * sigma


class SkewNormal(Continuous):
    """Skew-normal distribution ``SkewNormal(alpha=1, mu=0, sigma=1)`` (or ``tau`` = 1/sigma**2).

    Density ``2/sigma phi(z) Phi(alpha z)`` with ``z = (x - mu)/sigma`` (``phi``, ``Phi`` the
    standard normal density and CDF).

    PyMC's positional order: ``alpha, mu, sigma, tau``.  ``alpha = 0`` is Normal(mu, sigma);
    ``alpha -> +-inf`` a half-normal.  Support: the real line.  Mean
    ``mu + sigma sqrt(2/pi) delta`` with ``delta = alpha / sqrt(1 + alpha**2)``.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     x = sv.SkewNormal("x", alpha=4.0, mu=1.0, sigma=2.0)
    """

    params = ("mu", "sigma", "alpha")
    support = "real"
    checks = [(("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, alpha=1.0, mu=0.0, sigma=None, tau=None):
        return {"mu": _f(mu), "sigma": _sigma_from(sigma, tau), "alpha": _f(alpha)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        mu, sigma, alpha = (params[k] for k in cls.params)
        size = _batch_size(size, mu, sigma, alpha)
        delta = alpha / pt.sqrt(1 + alpha**2)
        u0 = rb.normal(0.0, 1.0, size=size, rng=rng)
        v = rb.normal(0.0, 1.0, size=size, rng=new_rng())
        return mu + sigma * (delta * pt.abs(u0) + pt.sqrt(1 - delta**2) * v)

    @staticmethod
    def logp(value, mu, sigma, alpha):
        z = (value - mu) / sigma
        return LOG_2 + _norm_logcdf(alpha * z) - 0.5 * z**2 - pt.log(sigma) - 0.5 * LOG_2PI

    @staticmethod
    def logcdf(value, mu, sigma, alpha):
        # F(z) = Phi(z) - 2 T(z, alpha) and 1 - F(z) = Phi(-z) + 2 T(z, alpha) (Owen's T, scipy's
        # kernel), except where that loses digits or underflows; there in logs, by quadrature
        z = (value - mu) / sigma
        h, a = pt.abs(z), pt.abs(alpha)
        far = h * a >= _TAIL_HA
        deep = (z < -_DEEP_Z) & ~far
        # every branch gets harmless inputs where it is not used, so no NaN leaks into gradients
        use_near = ~deep & ~(far & ((z < 0) | (alpha < 0)))
        zn = pt.switch(use_near, z, 0.0)
        two_t = 2 * owens_t(zn, alpha)
        cdf = 0.5 * pt.erfc(-zn / SQRT2) - two_t
        sf = 0.5 * pt.erfc(zn / SQRT2) + two_t
        low = cdf < 0.5
        near = pt.switch(low, pt.log(pt.switch(low, cdf, 0.5)), pt.log1p(-pt.switch(low, 0.5, sf)))
        # 2 D = Phi(-h) - 2 T(h, a) = 1/pi int_a^inf exp(-h^2 (1 + s^2)/2) / (1 + s^2) ds: the short
        # side's tail (z < 0 < alpha, or its mirror), Gauss-Laguerre in s = a + u / (h^2 a)
        hf, af = pt.switch(far, h, 1.0), pt.switch(far, a, _TAIL_HA)
        hf_, af_ = pt.shape_padright(hf), pt.shape_padright(af)
        g = -0.5 * _LAG_U**2 / (hf_ * af_) ** 2 - pt.log1p((af_ + _LAG_U / (hf_**2 * af_)) ** 2)
        log_two_d = pt.logsumexp(g + np.log(_LAG_W), axis=-1) - 0.5 * hf**2 * (1 + af**2) - pt.log(np.pi * hf**2 * af)
        log_phi = _norm_logcdf(-hf)  # log Phi(-|z|)
        far_value = pt.switch(
            z < 0,
            # alpha > 0: F = 2 D; alpha < 0: F = Phi(z) + 2 T(h, a) = 2 Phi(z) - 2 D
            pt.switch(alpha > 0, log_two_d, LOG_2 + log_phi + pt.log1mexp(log_two_d - LOG_2 - log_phi)),
            pt.switch(alpha < 0, pt.log1mexp(log_two_d), near),
        )
        # z < -_DEEP_Z with h a < 3 (so a < 0.1), where Phi(z) and T alone would underflow:
        # F = Phi(z) (1 - alpha S / Phi(z)), 2 T(h, alpha) = alpha S, S = exp(-h^2/2)/pi
        # int_0^1 exp(-h^2 a^2 t^2/2)/(1 + a^2 t^2) dt by Gauss-Legendre (exact to rounding there)
        hd, ad = pt.switch(deep, h, 1.0), pt.switch(deep, a, 0.05)
        xs = pt.shape_padright(ad) * _LEG_X
        gd = -0.5 * (pt.shape_padright(hd) * xs) ** 2 - pt.log1p(xs**2)
        log_s = pt.logsumexp(gd + np.log(_LEG_W), axis=-1) - 0.5 * hd**2 - np.log(np.pi)
        log_phi_d = _norm_logcdf(-hd)
        deep_value = log_phi_d + pt.log1p(-pt.switch(deep, alpha, 0.0) * pt.exp(log_s - log_phi_d))
        return pt.switch(far, far_value, pt.switch(deep, deep_value, near))

    @classmethod
    def support_point(cls, rv, mu, sigma, alpha):
        return mu + sigma * np.sqrt(2 / np.pi) * alpha / pt.sqrt(1 + alpha**2)  # the mean


class SkewStudentT(Continuous):
    """Jones and Faddy's skewed Student t, ``SkewStudentT(a, b, mu=0, sigma=1)`` (or ``lam`` = 1/sigma**2).

    Density ``(1 + t/r)**(a + 1/2) (1 - t/r)**(b + 1/2) / (sigma C)`` with ``t = (x - mu)/sigma``,
    ``r = sqrt(a + b + t**2)`` and ``C = 2**(a + b - 1) B(a, b) sqrt(a + b)``.

    ``a > 0`` and ``b > 0`` set the two tails (``a > b``: right-skewed; ``a = b = nu/2`` is
    Student's t with ``nu`` degrees of freedom), ``sigma > 0`` the scale.  Support: the real
    line.  It is scipy's ``jf_skew_t(a, b, loc=mu, scale=sigma)``.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     x = sv.SkewStudentT("x", a=3.0, b=1.5, mu=0.0, sigma=1.0)
    """

    params = ("a", "b", "mu", "sigma")
    support = "real"
    checks = [(("a",), positive, "> 0"), (("b",), positive, "> 0"), (("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, a=None, b=None, mu=0.0, sigma=None, *, lam=None):
        if a is None or b is None:
            raise TypeError("SkewStudentT: give a and b (the two tail parameters)")
        return {"a": _f(a), "b": _f(b), "mu": _f(mu), "sigma": _sigma_from(sigma, lam, tau_name="lam")}

    @classmethod
    def rv_graph(cls, params, size, rng):
        a, b, mu, sigma = (params[k] for k in cls.params)
        beta = rb.beta(a, b, size=_batch_size(size, a, b, mu, sigma), rng=rng)
        t = (2 * beta - 1) * pt.sqrt(a + b) / (2 * pt.sqrt(beta * (1 - beta)))
        return mu + sigma * t

    @staticmethod
    def _log_halves(t, a, b):
        """log(1 + t/s) and log(1 - t/s), s = sqrt(a + b + t^2), without cancellation."""
        s = pt.sqrt(a + b + t**2)
        far = s + pt.abs(t)
        near = (a + b) / far  # s - |t|
        log_s = pt.log(s)
        return pt.log(pt.switch(t >= 0, far, near)) - log_s, pt.log(pt.switch(t >= 0, near, far)) - log_s

    @staticmethod
    def logp(value, a, b, mu, sigma):
        t = (value - mu) / sigma
        log_plus, log_minus = SkewStudentT._log_halves(t, a, b)
        log_c = (a + b - 1) * LOG_2 + pt.special.betaln(a, b) + 0.5 * pt.log(a + b)
        return (a + 0.5) * log_plus + (b + 0.5) * log_minus - log_c - pt.log(sigma)

    @staticmethod
    def logcdf(value, a, b, mu, sigma):
        t = (value - mu) / sigma
        log_plus, log_minus = SkewStudentT._log_halves(t, a, b)
        y = 0.5 * pt.exp(log_plus)  # (1 + t/s) / 2, precise for t < 0
        y_c = 0.5 * pt.exp(log_minus)  # 1 - y, precise for t > 0
        return pt.switch(t <= 0, pt.log(pt.betainc(a, b, y)), pt.log1p(-pt.betainc(b, a, y_c)))

    @staticmethod
    def icdf(q, a, b, mu, sigma):
        lower = q <= 0.5
        # B = I^-1_{a,b}(q); in the upper half take 1 - B = I^-1_{b,a}(1 - q) for precision
        small = pt.switch(lower, pt.betaincinv(a, b, q), pt.betaincinv(b, a, 1 - q))
        t = (1 - 2 * small) * pt.sqrt(a + b) / (2 * pt.sqrt(small * (1 - small)))
        return icdf_in_range(mu + sigma * pt.switch(lower, -t, t), q)

    @classmethod
    def support_point(cls, rv, a, b, mu, sigma):
        # the mean where it exists (a, b > 1/2), else the mode
        ok = (a > 0.5) & (b > 0.5)
        a_, b_ = pt.switch(ok, a, 1.0), pt.switch(ok, b, 1.0)
        log_ratio = pt.gammaln(a_ - 0.5) + pt.gammaln(b_ - 0.5) - pt.gammaln(a_) - pt.gammaln(b_)
        mean = (a - b) * pt.sqrt(a + b) / 2 * pt.exp(log_ratio)
        mode = (a - b) * pt.sqrt(a + b) / pt.sqrt((2 * a + 1) * (2 * b + 1))
        return mu + sigma * pt.switch(ok, mean, mode)
