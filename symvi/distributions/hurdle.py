"""Hurdle models: zeros from one process, the rest from a distribution kept away from zero.

PyMC's convention: ``psi`` is the probability of crossing the hurdle (a non-zero value), so

    P(X = 0) = 1 - psi,    p(x) = psi * p_base(x) / S_base(0)   (x != 0),

where for counts the base is truncated to {1, 2, ...} (``S_base(0) = P_base(X > 0)``) and for
the continuous HurdleGamma/HurdleLogNormal the base already puts no mass at 0 (``S = 1``).
``P(X <= x) = 1 - psi * S_base(x) / S_base(0)`` for ``x >= 0``.

Draws: a Bernoulli(psi) draw times a zero-truncated draw.  Zero-truncated Poisson counts use
the first arrival of a Poisson process on [0, 1] given that there is one (a truncated
exponential time ``t``) plus Poisson(mu (1 - t)) later arrivals; the negative binomial is the
same process with a Gamma rate, whose first arrival time is Lomax-distributed and after which
the rate is Gamma(alpha + 1, beta + t) - exact, no rejection loop.

Examples
--------
>>> import numpy as np, symvi as sv
>>> from symvi.distributions import dist_info
>>> lp = dist_info(sv.HurdlePoisson.dist(psi=0.6, mu=2.0)).logp(np.array([0, 1]))
>>> np.round(np.exp(lp.eval()), 4).tolist()   # [0.4, 0.6 * 2 e^-2 / (1 - e^-2)]
[0.4, 0.1878]
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import Continuous, Discrete, bound, positive, unit
from symvi.distributions.count_cdf import negbin_logsf, poisson_logsf
from symvi.distributions.discrete import NegativeBinomial, Poisson
from symvi.distributions.dist_math import SQRT2, _norm_logcdf, as_float
from symvi.distributions.positive import Gamma, LogNormal
from symvi.distributions.zero_inflated import _joint_size
from symvi.pytensorf import new_rng

__all__ = ["HurdlePoisson", "HurdleNegativeBinomial", "HurdleGamma", "HurdleLogNormal"]


def _hurdle_logp(value, psi, base_logp):
    """``log(1 - psi)`` at 0, ``log(psi) + base_logp(x)`` elsewhere (x = 1 where it is 0, so that
    gradients of the unused branch stay finite)."""
    x = as_float(value)
    at_zero = pt.eq(x, 0)
    return pt.switch(at_zero, pt.log1p(-psi), pt.log(psi) + base_logp(pt.switch(at_zero, 1.0, x)))


def _hurdle_logcdf(value, psi, logsf_ratio):
    """``log(1 - psi * S(x) / S(0))`` for x >= 0, -inf below."""
    x = as_float(value)
    return pt.switch(x < 0, -np.inf, pt.log1p(-as_float(psi) * pt.exp(logsf_ratio)))


def _crossed(psi, draws, size, rng):
    return rb.bernoulli(psi, size=size, rng=rng) * draws


def zero_truncated_poisson(mu, size):
    """Draws of Poisson(mu) given that they are > 0 (exact; see the module docstring)."""
    mu = as_float(mu)
    u = rb.uniform(0.0, 1.0, size=size, rng=new_rng())
    t = -pt.log1p(u * pt.expm1(-mu)) / mu  # first arrival time given one in [0, 1]
    return 1 + rb.poisson(mu * (1 - t), size=size, rng=new_rng())


def zero_truncated_negbin(mu, alpha, size):
    """Draws of NegativeBinomial(mu, alpha) given that they are > 0 (Gamma-Poisson process)."""
    mu, alpha = as_float(mu), as_float(alpha)
    beta = alpha / mu  # rate of the Gamma-distributed Poisson rate
    log_p0 = alpha * (pt.log(beta) - pt.log1p(beta))
    u = rb.uniform(0.0, 1.0, size=size, rng=new_rng())
    w = -u * pt.expm1(log_p0)  # uniform on (0, P(X > 0)): the Lomax CDF at t
    t = beta * pt.expm1(-pt.log1p(-w) / alpha)
    rate = rb.gamma(alpha + 1, scale=1 / (beta + t), size=size, rng=new_rng())
    return 1 + rb.poisson(rate * (1 - t), size=size, rng=new_rng())


class HurdlePoisson(Discrete):
    """HurdlePoisson(psi, mu): 0 with probability ``1 - psi``, else a Poisson(mu) draw
    conditioned on being positive.

    ``P(0) = 1 - psi``; ``P(x) = psi * Poisson(x | mu) / (1 - exp(-mu))`` for x >= 1.  Needs
    ``0 <= psi <= 1`` and ``mu > 0``.  ``logcdf`` is closed form (incomplete gamma).

    Examples
    --------
    >>> import symvi as sv
    >>> bool((sv.HurdlePoisson.dist(psi=1.0, mu=0.5, size=50).eval() >= 1).all())
    True
    """

    params = ("psi", "mu")
    support = "{0, 1, 2, ...}"
    checks = [(("psi",), unit, "in [0, 1]"), (("mu",), positive, "> 0")]

    @classmethod
    def rv_graph(cls, params, size, rng):
        psi, mu = params["psi"], params["mu"]
        size = _joint_size(size, psi, mu)
        return _crossed(psi, zero_truncated_poisson(mu, size), size, rng)

    @staticmethod
    def logp(value, psi, mu):
        psi, mu = as_float(psi), as_float(mu)
        log_sf0 = pt.log1mexp(-mu)  # log P(X > 0) = log(1 - e^-mu)
        lp = _hurdle_logp(value, psi, lambda x: Poisson.logp(x, mu) - log_sf0)
        return bound(lp, as_float(value) >= 0)

    @staticmethod
    def logcdf(value, psi, mu):
        x = pt.maximum(as_float(value), 0.0)
        return _hurdle_logcdf(value, psi, poisson_logsf(x, mu) - pt.log1mexp(-as_float(mu)))

    @classmethod
    def support_point(cls, rv, psi, mu):
        mean = psi * mu / -pt.expm1(-as_float(mu))
        return pt.broadcast_to(pt.floor(mean).astype(rv.dtype), rv.shape)


class HurdleNegativeBinomial(Discrete):
    """HurdleNegativeBinomial(psi, mu, alpha) or (psi, n=, p=): 0 with probability ``1 - psi``,
    else a NegativeBinomial draw conditioned on being positive.

    The count is :class:`NegativeBinomial` (mean ``mu``, overdispersion ``alpha``; or scipy's
    ``n``, ``p``), truncated to {1, 2, ...}; canonical parameters ``(psi, mu, alpha)`` with
    ``mu > 0``, ``alpha > 0``.  ``logcdf`` is closed form (incomplete beta).

    Examples
    --------
    >>> import symvi as sv
    >>> bool((sv.HurdleNegativeBinomial.dist(psi=1.0, mu=0.5, alpha=2.0, size=50).eval() >= 1).all())
    True
    """

    params = ("psi", "mu", "alpha")
    support = "{0, 1, 2, ...}"
    checks = [(("psi",), unit, "in [0, 1]"), (("mu",), positive, "> 0"), (("alpha",), positive, "> 0")]

    @classmethod
    def parametrize(cls, psi, mu=None, alpha=None, *, n=None, p=None):
        try:
            nb = NegativeBinomial.parametrize(mu, alpha, n=n, p=p)
        except TypeError:
            raise TypeError("HurdleNegativeBinomial: give psi and (mu, alpha) or (n, p)") from None
        return {"psi": psi, **nb}

    @classmethod
    def rv_graph(cls, params, size, rng):
        psi, mu, alpha = params["psi"], params["mu"], params["alpha"]
        size = _joint_size(size, psi, mu, alpha)
        return _crossed(psi, zero_truncated_negbin(mu, alpha, size), size, rng)

    @staticmethod
    def _log_sf0(mu, alpha):
        # log P(X > 0) = log(1 - (alpha / (mu + alpha))^alpha); log1p keeps a huge alpha (the
        # Poisson limit) accurate where log(alpha) - log(mu + alpha) rounds to 0
        return pt.log1mexp(-alpha * pt.log1p(mu / alpha))

    @staticmethod
    def logp(value, psi, mu, alpha):
        psi, mu, alpha = as_float(psi), as_float(mu), as_float(alpha)
        log_sf0 = HurdleNegativeBinomial._log_sf0(mu, alpha)
        lp = _hurdle_logp(value, psi, lambda x: NegativeBinomial.logp(x, mu, alpha) - log_sf0)
        return bound(lp, as_float(value) >= 0)

    @staticmethod
    def logcdf(value, psi, mu, alpha):
        mu, alpha = as_float(mu), as_float(alpha)
        x = pt.maximum(as_float(value), 0.0)
        ratio = negbin_logsf(x, mu, alpha) - HurdleNegativeBinomial._log_sf0(mu, alpha)
        return _hurdle_logcdf(value, psi, ratio)

    @classmethod
    def support_point(cls, rv, psi, mu, alpha):
        mean = psi * mu / pt.exp(HurdleNegativeBinomial._log_sf0(as_float(mu), as_float(alpha)))
        return pt.broadcast_to(pt.floor(mean).astype(rv.dtype), rv.shape)


class HurdleGamma(Continuous):
    """HurdleGamma(psi, alpha, beta) or (psi, mu=, sigma=): exactly 0 with probability
    ``1 - psi``, else a Gamma(alpha, beta) draw (shape, rate; or mean ``mu``, sd ``sigma``).

    A continuous density with an atom: ``logp(0) = log(1 - psi)`` (a probability) and
    ``logp(x) = log(psi) + Gamma.logp(x)`` for x > 0 (a density), -inf for x < 0, as in PyMC.
    Support ``{0} U (0, inf)``.  Observed data may contain exact zeros.  As a *latent*
    variable it has no default transform (PyMC's choice too: no transform maps an atom plus
    a half-line to the real line), so the value lives on the real line, negative values have
    log density -inf and the atom at 0 has measure zero - a latent HurdleGamma behaves like
    ``psi * Gamma`` on (0, inf) and is a poor fit for ADVI; use it observed.
    ``logcdf`` is closed form.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model() as m:
    ...     psi = sv.Beta("psi", 1, 1)
    ...     y = sv.HurdleGamma("y", psi=psi, alpha=2.0, beta=1.0, observed=np.array([0.0, 1.3]))
    >>> sorted(m.initial_point())
    ['psi_logodds__']
    """

    params = ("psi", "alpha", "beta")
    support = "{0} U (0, inf)"
    checks = [(("psi",), unit, "in [0, 1]"), (("alpha",), positive, "> 0"), (("beta",), positive, "> 0")]

    @classmethod
    def parametrize(cls, psi, alpha=None, beta=None, *, mu=None, sigma=None):
        try:
            base = Gamma.parametrize(alpha, beta, mu=mu, sigma=sigma)
        except TypeError:
            raise TypeError("HurdleGamma: give psi and (alpha, beta) or (mu, sigma)") from None
        return {"psi": psi, **base}

    @classmethod
    def rv_graph(cls, params, size, rng):
        psi, alpha, beta = params["psi"], params["alpha"], params["beta"]
        size = _joint_size(size, psi, alpha, beta)
        draws = rb.gamma(alpha, scale=1 / beta, size=size, rng=new_rng())
        return _crossed(psi, draws, size, rng)

    @staticmethod
    def logp(value, psi, alpha, beta):
        return _hurdle_logp(value, as_float(psi), lambda x: Gamma.logp(x, alpha, beta))

    @staticmethod
    def logcdf(value, psi, alpha, beta):
        x = pt.maximum(as_float(value), 0.0)
        return _hurdle_logcdf(value, psi, pt.log(pt.gammaincc(as_float(alpha), beta * x)))

    @staticmethod
    def icdf(value, psi, alpha, beta):
        """0 up to ``1 - psi``, then the Gamma quantile of ``(value - (1 - psi)) / psi``."""
        q, psi = as_float(value), as_float(psi)
        tail = (1 - q) / psi  # Gamma survival probability at the answer
        x = pt.gammainccinv(as_float(alpha), pt.clip(tail, 0.0, 1.0)) / beta
        out = pt.switch(q <= 1 - psi, 0.0, x)
        return pt.switch((q >= 0) & (q <= 1), out, np.nan)

    @classmethod
    def support_point(cls, rv, psi, alpha, beta):
        return pt.broadcast_to(psi * alpha / beta, rv.shape)


class HurdleLogNormal(Continuous):
    """HurdleLogNormal(psi, mu, sigma) or (psi, mu, tau=): exactly 0 with probability
    ``1 - psi``, else a LogNormal(mu, sigma) draw (``mu``, ``sigma`` of the log; ``mu``
    defaults to 0, ``tau = 1 / sigma**2``).

    A continuous density with an atom, like :class:`HurdleGamma` (same convention for
    ``logp`` at 0, support ``{0} U (0, inf)``, and no default transform: use it observed).
    ``logcdf`` and ``icdf`` are closed forms.

    Examples
    --------
    >>> import symvi as sv
    >>> x = sv.HurdleLogNormal.dist(psi=0.5, mu=0.0, sigma=1.0, size=200).eval()
    >>> bool((x >= 0).all() and (x == 0).any())
    True
    """

    params = ("psi", "mu", "sigma")
    support = "{0} U (0, inf)"
    checks = [(("psi",), unit, "in [0, 1]"), (("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, psi, mu=0.0, sigma=None, tau=None):
        return {"psi": psi, **LogNormal.parametrize(mu, sigma, tau)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        psi, mu, sigma = params["psi"], params["mu"], params["sigma"]
        size = _joint_size(size, psi, mu, sigma)
        draws = rb.lognormal(mu, sigma, size=size, rng=new_rng())
        return _crossed(psi, draws, size, rng)

    @staticmethod
    def logp(value, psi, mu, sigma):
        return _hurdle_logp(value, as_float(psi), lambda x: LogNormal.logp(x, mu, sigma))

    @staticmethod
    def logcdf(value, psi, mu, sigma):
        x = as_float(value)
        z = (pt.log(pt.switch(x > 0, x, 1.0)) - mu) / sigma
        log_sf = pt.switch(x > 0, _norm_logcdf(-z), 0.0)
        return _hurdle_logcdf(value, psi, log_sf)

    @staticmethod
    def icdf(value, psi, mu, sigma):
        """0 up to ``1 - psi``, then the LogNormal quantile of ``(value - (1 - psi)) / psi``."""
        q, psi = as_float(value), as_float(psi)
        tail = pt.clip((1 - q) / psi, 0.0, 1.0)  # LogNormal survival probability at the answer
        x = pt.exp(mu + sigma * SQRT2 * pt.erfcinv(2 * tail))
        out = pt.switch(q <= 1 - psi, 0.0, x)
        return pt.switch((q >= 0) & (q <= 1), out, np.nan)

    @classmethod
    def support_point(cls, rv, psi, mu, sigma):
        return pt.broadcast_to(psi * pt.exp(mu + sigma**2 / 2), rv.shape)
