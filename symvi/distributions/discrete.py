"""Discrete distributions (integer support).

Parameter names and parametrizations follow PyMC.  Draws use pytensor's RandomVariable ops;
log mass functions are written as pytensor expressions and are -inf outside the support.
Parameters are cast to floatX (float64 by default) inside ``logp``: integer constants (``n``, bounds) arrive as
``int8`` and would overflow, and exactly representable floats such as ``2.5`` arrive as
``float32`` and would lose precision.

Examples
--------
>>> import numpy as np, symvi as sv
>>> with sv.Model() as m:
...     p = sv.Uniform("p", 0, 1)
...     y = sv.Bernoulli("y", p=p, observed=np.array([0, 1, 1]))
>>> round(float(m.compile_logp()({"p_interval__": 0.0})), 3)
-3.466
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from scipy import special as sps

from symvi.distributions.dist_math import (
    LOG_2,
    as_float,
    cdf_bounds,
    cdf_guard,
    discrete_icdf_bisect,
    discrete_icdf_fix,
    discrete_icdf_search,
    is_numeric,
    log_cdf_pair,
    normalize,
    quantile,
    safe_q,
    xlog1py,
    xlogy,
)
from symvi.distributions.base import Discrete, bound, event_len, nonneg, positive, unit

__all__ = [
    "Bernoulli",
    "Binomial",
    "Poisson",
    "NegativeBinomial",
    "Geometric",
    "Categorical",
    "DiscreteUniform",
    "BetaBinomial",
]




def _prob_from(p, logit_p, who):
    """``p`` from exactly one of ``p`` / ``logit_p`` (numeric input stays numeric)."""
    if (p is None) == (logit_p is None):
        raise TypeError(f"{who}: give exactly one of p or logit_p")
    if logit_p is None:
        return p
    if is_numeric(logit_p):
        return sps.expit(np.asarray(logit_p, dtype="float64"))
    return pt.sigmoid(logit_p)


def _open_unit_right(p):
    return (p > 0) & (p <= 1)


def _log_binom_coef(n, k):
    return pt.gammaln(n + 1) - pt.gammaln(k + 1) - pt.gammaln(n - k + 1)


def _all_last(x):
    """``all`` over the trailing (category) axis; works for numpy and pytensor alike."""
    return x.all(axis=-1)


class Bernoulli(Discrete):
    """Bernoulli(p) or Bernoulli(logit_p=...) on {0, 1}."""

    support = "{0, 1}"
    params = ("p",)
    rv_op = rb.bernoulli
    checks = [(("p",), unit, "in [0, 1]")]

    @classmethod
    def parametrize(cls, p=None, logit_p=None):
        return {"p": _prob_from(p, logit_p, "Bernoulli")}

    @staticmethod
    def logp(value, p):
        k, p = as_float(value), as_float(p)
        lp = pt.switch(pt.eq(k, 1), pt.log(p), pt.log1p(-p))
        return bound(lp, pt.or_(pt.eq(k, 0), pt.eq(k, 1)))

    @staticmethod
    def logcdf(value, p):
        k, p = pt.floor(as_float(value)), as_float(p)
        return pt.switch(k < 0, -np.inf, pt.switch(k < 1, pt.log1p(-p), 0.0))

    @staticmethod
    def icdf(q, p):
        u, p = safe_q(q), as_float(p)
        return quantile(q, pt.switch(pt.le(u, 1 - p), 0.0, 1.0))

    @classmethod
    def support_point(cls, rv, p):
        return pt.broadcast_to(pt.ge(p, 0.5).astype(rv.dtype), rv.shape)


class Binomial(Discrete):
    """Binomial(n, p) or Binomial(n, logit_p=...): successes in ``n`` trials."""

    support = "{0, 1, ..., n}"
    params = ("n", "p")
    checks = [(("n",), nonneg, ">= 0"), (("p",), unit, "in [0, 1]")]

    @classmethod
    def parametrize(cls, n, p=None, logit_p=None):
        return {"n": n, "p": _prob_from(p, logit_p, "Binomial")}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.binomial(params["n"].astype("int64"), params["p"], size=size, rng=rng)

    @staticmethod
    def logp(value, n, p):
        k, n, p = as_float(value), as_float(n), as_float(p)
        lp = _log_binom_coef(n, k) + xlogy(k, p) + xlog1py(n - k, -p)
        return bound(lp, k >= 0, k <= n)

    @staticmethod
    def logcdf(value, n, p):
        # F(k) = I_(1-p)(n - k, k + 1); 1 - F(k) = I_p(k + 1, n - k)
        n, p = as_float(n), as_float(p)
        k, below, above = cdf_guard(pt.floor(as_float(value)), 0.0, n, safe=0.0, discrete=True)
        lc = log_cdf_pair(pt.betainc(n - k, k + 1, 1 - p), pt.betainc(k + 1, n - k, p))
        return cdf_bounds(lc, below, above)

    @staticmethod
    def icdf(q, n, p):
        n, p = as_float(n), as_float(p)
        u = safe_q(q)
        k = discrete_icdf_bisect(lambda k: Binomial.logcdf(k, n, p), u, pt.zeros_like(u + n + p), n + 0 * u)
        return quantile(q, k)

    @classmethod
    def support_point(cls, rv, n, p):
        return pt.broadcast_to(pt.floor(as_float(n) * p).astype(rv.dtype), rv.shape)


class Poisson(Discrete):
    """Poisson(mu) on {0, 1, 2, ...}."""

    support = "{0, 1, 2, ...}"
    params = ("mu",)
    rv_op = rb.poisson
    checks = [(("mu",), nonneg, ">= 0")]

    @staticmethod
    def logp(value, mu):
        k, mu = as_float(value), as_float(mu)
        lp = xlogy(k, mu) - mu - pt.gammaln(k + 1)
        return bound(lp, k >= 0)

    @staticmethod
    def logcdf(value, mu):
        # F(k) = Q(k + 1, mu), the regularized upper incomplete gamma
        mu = as_float(mu)
        k, below, _ = cdf_guard(pt.floor(as_float(value)), 0.0, safe=0.0, discrete=True)
        return cdf_bounds(log_cdf_pair(pt.gammaincc(k + 1, mu), pt.gammainc(k + 1, mu)), below, False)

    @staticmethod
    def icdf(q, mu):
        # bisection up to a bound past every quantile below 1 in float64 (tail < 1e-16)
        mu = as_float(mu)
        u = safe_q(q)
        top = pt.floor(mu + 12 * pt.sqrt(mu) + 40)
        k = discrete_icdf_bisect(lambda k: Poisson.logcdf(k, mu), u, pt.zeros_like(u + mu), top + 0 * u)
        return quantile(q, pt.switch(pt.eq(u, 1), np.inf, k))

    @classmethod
    def support_point(cls, rv, mu):
        return pt.broadcast_to(pt.floor(mu).astype(rv.dtype), rv.shape)


class NegativeBinomial(Discrete):
    """NegativeBinomial(mu, alpha) (mean, overdispersion) or NegativeBinomial(n=, p=).

    The variance is ``mu + mu**2 / alpha``; ``(n, p)`` is scipy's ``nbinom`` (failures before
    the ``n``-th success) and maps to ``alpha = n``, ``mu = n (1 - p) / p``.  Canonical
    parameters are ``(mu, alpha)``.
    """

    support = "{0, 1, 2, ...}"
    params = ("mu", "alpha")
    checks = [(("mu",), nonneg, ">= 0"), (("alpha",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=None, alpha=None, *, n=None, p=None):
        if n is not None or p is not None:
            if mu is not None or alpha is not None or n is None or p is None:
                raise TypeError("NegativeBinomial: give (mu, alpha) or (n, p)")
            if is_numeric(n) and is_numeric(p):
                n, p = np.asarray(n, dtype="float64"), np.asarray(p, dtype="float64")
                with np.errstate(all="ignore"):
                    return {"mu": n * (1 - p) / p, "alpha": n}
            n, p = as_float(n), as_float(p)
            return {"mu": n * (1 - p) / p, "alpha": n}
        if mu is None or alpha is None:
            raise TypeError("NegativeBinomial: give (mu, alpha) or (n, p)")
        return {"mu": mu, "alpha": alpha}

    @classmethod
    def rv_graph(cls, params, size, rng):
        mu, alpha = as_float(params["mu"]), as_float(params["alpha"])
        return rb.negative_binomial(alpha, alpha / (mu + alpha), size=size, rng=rng)

    @staticmethod
    def logp(value, mu, alpha):
        k, mu, alpha = as_float(value), as_float(mu), as_float(alpha)
        lp = (
            pt.gammaln(k + alpha)
            - pt.gammaln(k + 1)
            - pt.gammaln(alpha)
            - alpha * pt.log1p(mu / alpha)
            + xlogy(k, mu)
            - k * pt.log(mu + alpha)
        )
        # gammaln(k + alpha) - gammaln(alpha) cancels catastrophically for a huge alpha: there
        # the distribution is Poisson(mu) to double precision (PyMC switches at 1e10 too)
        poisson = xlogy(k, mu) - mu - pt.gammaln(k + 1)
        return bound(pt.switch(alpha > 1e10, poisson, lp), k >= 0)

    @staticmethod
    def logcdf(value, mu, alpha):
        # F(k) = I_p(alpha, k + 1) with p = alpha / (mu + alpha)
        mu, alpha = as_float(mu), as_float(alpha)
        k, below, _ = cdf_guard(pt.floor(as_float(value)), 0.0, safe=0.0, discrete=True)
        p = alpha / (mu + alpha)
        lc = log_cdf_pair(pt.betainc(alpha, k + 1, p), pt.betainc(k + 1, alpha, mu / (mu + alpha)))
        return cdf_bounds(lc, below, False)

    @staticmethod
    def icdf(q, mu, alpha):
        mu, alpha = as_float(mu), as_float(alpha)
        u = safe_q(q)
        k = discrete_icdf_search(lambda k: NegativeBinomial.logcdf(k, mu, alpha), pt.minimum(u, 1 - 2**-53), 0.0, mu + 1)
        return quantile(q, pt.switch(pt.eq(u, 1), np.inf, k))

    @classmethod
    def support_point(cls, rv, mu, alpha):
        return pt.broadcast_to(pt.floor(mu).astype(rv.dtype), rv.shape)


class Geometric(Discrete):
    """Geometric(p): number of trials up to and including the first success (support 1, 2, ...)."""

    support = "{1, 2, 3, ...}"
    params = ("p",)
    rv_op = rb.geometric
    checks = [(("p",), _open_unit_right, "in (0, 1]")]

    @staticmethod
    def logp(value, p):
        k, p = as_float(value), as_float(p)
        lp = xlog1py(k - 1, -p) + pt.log(p)
        return bound(lp, k >= 1)

    @staticmethod
    def logcdf(value, p):
        k, p = pt.floor(as_float(value)), as_float(p)
        k, below, _ = cdf_guard(k, 1.0, discrete=True)
        return cdf_bounds(pt.log1mexp(k * pt.log1p(-p)), below, False)

    @staticmethod
    def icdf(q, p):
        u, p = safe_q(q), as_float(p)
        guess = pt.maximum(1.0, pt.ceil(pt.log1p(-u) / pt.log1p(-p)))
        guess = pt.switch(pt.eq(p, 1), 1.0, guess)
        k = discrete_icdf_fix(lambda k: Geometric.logcdf(k, p), u, guess, 1.0)
        return quantile(q, pt.switch(pt.eq(u, 1) & (p < 1), np.inf, k))

    @classmethod
    def support_point(cls, rv, p):
        return pt.ones_like(rv)


def _softmax_input(p):
    """The logits ``x`` when ``p`` is the graph ``softmax(x, axis=-1)``, else None."""
    from pytensor.tensor.special import Softmax

    node = getattr(p, "owner", None)
    if node is None or not isinstance(node.op, Softmax):
        return None
    axis = node.op.axis
    axis = tuple(range(p.ndim)) if axis is None else tuple(np.atleast_1d(axis))
    if tuple(a % p.ndim for a in axis) == (p.ndim - 1,):
        return node.inputs[0]
    return None


class Categorical(Discrete):
    """Categorical(p) or Categorical(logit_p=...) on {0, ..., K-1}.

    ``p`` has a trailing category axis of length K that is *not* part of the variable's shape:
    ``p`` of shape (N, K) gives a variable of shape (N,).  ``p`` is normalised along that axis;
    ``logit_p`` goes through a softmax.
    """

    support = "{0, 1, ..., K-1}"
    params = ("p",)
    checks = [
        (("p",), event_len(1), "a vector of category probabilities (last axis)"),
        (("p",), lambda p: _all_last(p >= 0), "non-negative (along the last axis)"),
    ]

    @classmethod
    def parametrize(cls, p=None, logit_p=None):
        if (p is None) == (logit_p is None):
            raise TypeError("Categorical: give exactly one of p or logit_p")
        if logit_p is not None:
            if is_numeric(logit_p):
                return {"p": sps.softmax(np.asarray(logit_p, dtype="float64"), axis=-1)}
            return {"p": pt.special.softmax(logit_p, axis=-1)}
        return {"p": p}


    @classmethod
    def rv_graph(cls, params, size, rng):
        p = params["p"]
        return rb.categorical(p if _softmax_input(p) is not None else normalize(p), size=size, rng=rng)

    @classmethod
    def logp(cls, value, p):
        k = pt.as_tensor_variable(value)
        n_cat = p.shape[-1]
        onehot = pt.eq(k[..., None], pt.arange(n_cat))
        logits = _softmax_input(p)
        if logits is not None:  # log p from the logits: no underflow for large logit gaps
            logp_all = pt.special.log_softmax(logits, axis=-1)
            picked = pt.sum(pt.switch(onehot, logp_all, 0.0), axis=-1)
            return bound(picked, k >= 0, k <= n_cat - 1)
        picked = pt.sum(pt.switch(onehot, normalize(p), 0.0), axis=-1)
        return bound(pt.log(picked), k >= 0, k <= n_cat - 1)

    @staticmethod
    def logcdf(value, p):
        # log of the cumulative category probabilities at floor(value)
        k = pt.floor(as_float(value))
        cum = pt.cumsum(normalize(p), axis=-1)
        n_cat = p.shape[-1]
        idx = pt.clip(k, 0, n_cat - 1).astype("int64")
        picked = pt.sum(pt.switch(pt.eq(idx[..., None], pt.arange(n_cat)), cum, 0.0), axis=-1)
        lc = pt.log(pt.minimum(picked, 1.0))
        return pt.switch(k < 0, -np.inf, pt.switch(k >= n_cat - 1, 0.0, lc))

    @staticmethod
    def icdf(q, p):
        # smallest k with P(X <= k) >= q: the number of cumulative sums below q
        u = safe_q(as_float(q))
        cum = pt.cumsum(normalize(p), axis=-1)
        k = pt.sum(pt.lt(cum, u[..., None]), axis=-1)
        return quantile(q, pt.minimum(k, p.shape[-1] - 1).astype("float64"))

    @classmethod
    def support_point(cls, rv, p):
        return pt.broadcast_to(pt.argmax(p, axis=-1).astype(rv.dtype), rv.shape)


class DiscreteUniform(Discrete):
    """DiscreteUniform(lower, upper): equally likely integers lower, ..., upper (inclusive)."""

    support = "{lower, ..., upper}"
    params = ("lower", "upper")
    checks = [(("lower", "upper"), lambda lo, up: up >= lo, "ordered: upper >= lower")]

    @classmethod
    def rv_graph(cls, params, size, rng):
        lo = params["lower"].astype("int64")
        up = params["upper"].astype("int64")
        return rb.integers(lo, up + 1, size=size, rng=rng)

    @staticmethod
    def logp(value, lower, upper):
        k, lo, up = as_float(value), as_float(lower), as_float(upper)
        lp = -pt.log(up - lo + 1) + pt.zeros_like(k)
        return bound(lp, k >= lo, k <= up)

    @staticmethod
    def logcdf(value, lower, upper):
        lo, up = as_float(lower), as_float(upper)
        k, below, above = cdf_guard(pt.floor(as_float(value)), lo, up, safe=lo, discrete=True)
        return cdf_bounds(pt.log(k - lo + 1) - pt.log(up - lo + 1), below, above)

    @staticmethod
    def icdf(q, lower, upper):
        lo, up = as_float(lower), as_float(upper)
        u = safe_q(q)
        guess = pt.maximum(lo, lo + pt.ceil(u * (up - lo + 1)) - 1)
        k = discrete_icdf_fix(lambda k: DiscreteUniform.logcdf(k, lo, up), u, guess, lo)
        return quantile(q, pt.minimum(k, up))

    @classmethod
    def support_point(cls, rv, lower, upper):
        return pt.broadcast_to(pt.floor((as_float(lower) + as_float(upper)) / 2).astype(rv.dtype), rv.shape)


class BetaBinomial(Discrete):
    """BetaBinomial(alpha, beta, n): Binomial(n, p) with p ~ Beta(alpha, beta)."""

    support = "{0, 1, ..., n}"
    params = ("alpha", "beta", "n")
    checks = [(("alpha",), positive, "> 0"), (("beta",), positive, "> 0"), (("n",), nonneg, ">= 0")]

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.betabinom(params["n"].astype("int64"), params["alpha"], params["beta"], size=size, rng=rng)

    @staticmethod
    def logp(value, alpha, beta, n):
        k, n, alpha, beta = as_float(value), as_float(n), as_float(alpha), as_float(beta)
        lp = _log_binom_coef(n, k) + pt.special.betaln(k + alpha, n - k + beta) - pt.special.betaln(alpha, beta)
        return bound(lp, k >= 0, k <= n)

    @staticmethod
    def logcdf(value, alpha, beta, n):
        # no closed form: the masses of 0..max(n) summed in log space (below k, and above it
        # for the complement where F is close to one)
        k = pt.floor(as_float(value))
        n_f, alpha, beta = as_float(n), as_float(alpha), as_float(beta)
        j = pt.arange(pt.max(n_f) + 1).astype("float64")
        j = j.reshape((-1,) + (1,) * pt.broadcast_arrays(k, n_f, alpha, beta)[0].ndim)
        lps = BetaBinomial.logp(j, alpha, beta, n_f)
        keep = pt.le(j, k)
        log_below = pt.logsumexp(pt.switch(keep, lps, -np.inf), axis=0)
        log_above = pt.logsumexp(pt.switch(keep, -np.inf, lps), axis=0)
        lc = pt.switch(log_below < -LOG_2, log_below, pt.log1mexp(pt.minimum(log_above, 0.0)))
        return pt.switch(k < 0, -np.inf, pt.switch(k >= n_f, 0.0, pt.minimum(lc, 0.0)))

    @staticmethod
    def icdf(q, alpha, beta, n):
        n_f = as_float(n)
        u = safe_q(as_float(q))
        k = discrete_icdf_bisect(lambda k: BetaBinomial.logcdf(k, alpha, beta, n), u, pt.zeros_like(u + n_f), n_f + 0 * u)
        return quantile(q, k)

    @classmethod
    def support_point(cls, rv, alpha, beta, n):
        return pt.broadcast_to(pt.floor(as_float(n) * alpha / (alpha + beta)).astype(rv.dtype), rv.shape)
