"""Ordinal regression likelihoods: OrderedLogistic and OrderedProbit.

A latent ``eta + noise`` is cut into K categories by K - 1 increasing cutpoints ``c``:

    P(Y = k) = F(c_k - eta) - F(c_{k-1} - eta),    c_{-1} = -inf, c_{K-1} = +inf,

with F the logistic CDF (OrderedLogistic) or the Normal(0, sigma) CDF (OrderedProbit).  As in
PyMC the variable is categorical on {0, ..., K-1}, the cutpoints have a trailing axis that is
not part of the variable's shape, and ``compute_p=True`` (the default) inside a model adds the
Deterministic ``{name}_probs`` with the category probabilities.  Give the cutpoints the
``ordered`` transform (``transform=pm.distributions.transforms.ordered``) when they are free.

The log probabilities are computed in log space (log-sigmoid / log-Phi differences), so they
stay finite and accurate where ``F(c_k - eta) - F(c_{k-1} - eta)`` would round to 0 or 1.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     c = pm.Normal("c", mu=[-1, 1], sigma=5, shape=2, transform=pm.distributions.transforms.ordered)
...     y = pm.OrderedLogistic("y", eta=np.zeros(3), cutpoints=c, observed=np.array([0, 1, 2]))
>>> sorted(m.named_vars)
['c', 'y', 'y_probs']
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import Discrete, bound, event_len, positive
from symvi.distributions.dist_math import _norm_logcdf, as_float

__all__ = ["OrderedLogistic", "OrderedProbit"]


def _nondecreasing(c):
    return (c[..., 1:] >= c[..., :-1]).all()


def _log_sigmoid(x):
    return -pt.softplus(-x)


def _category_edges(eta, cutpoints):
    """(x_lo, x_hi, first, last): ``x = c - eta`` at each category's lower / upper cutpoint.

    Both have shape ``batch + (K,)``.  The missing outer edges (-inf / +inf) are replaced by
    finite stand-ins one unit beyond the outer cutpoints and flagged by ``first`` / ``last``, so
    that no infinity enters the arithmetic (nor the gradients of the unused branches).
    """
    eta, c = as_float(eta), as_float(cutpoints)
    lo = pt.concatenate([c[..., :1] - 1.0, c], axis=-1)
    hi = pt.concatenate([c, c[..., -1:] + 1.0], axis=-1)
    k = pt.arange(c.shape[-1] + 1)
    return lo - eta[..., None], hi - eta[..., None], pt.eq(k, 0), pt.eq(k, c.shape[-1])


def _pick(values, k, n_cat):
    """``values[..., k]`` for integer ``k`` (broadcast), -inf where k is not in {0..n_cat-1}."""
    k = pt.as_tensor_variable(k)
    onehot = pt.eq(k[..., None], pt.arange(n_cat))
    picked = pt.sum(pt.switch(onehot, values, 0.0), axis=-1)
    return bound(picked, k >= 0, k <= n_cat - 1)


class _Ordinal(Discrete):
    """Shared machinery: ``log_probs`` (all categories), the draw, ``logp`` and ``compute_p``."""

    support = "{0, 1, ..., K-1} (K - 1 = number of cutpoints)"

    def __new__(cls, name: str, *args, compute_p: bool = True, **kwargs):
        rv = super().__new__(cls, name, *args, **kwargs)
        if compute_p:
            from symvi.distributions.base import dist_info
            from symvi.context import modelcontext

            modelcontext(None).add_deterministic(f"{name}_probs", pt.exp(cls.log_probs(**dist_info(rv).params)))
        return rv

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.categorical(pt.exp(cls.log_probs(**params)), size=size, rng=rng)

    @classmethod
    def logp(cls, value, **params):
        log_p = cls.log_probs(**params)
        return _pick(log_p, value, params["cutpoints"].shape[-1] + 1)

    @classmethod
    def _cdf_at(cls, value, params, log_cdf_at_cut):
        """log P(Y <= k): ``log_cdf_at_cut`` (batch + (K-1,)) at cutpoint k, 0 from k = K-1 on."""
        k = pt.floor(as_float(value))
        n_cut = params["cutpoints"].shape[-1]
        onehot = pt.eq(k[..., None], pt.arange(n_cut))
        picked = pt.sum(pt.switch(onehot, log_cdf_at_cut, 0.0), axis=-1)
        return pt.switch(k < 0, -np.inf, pt.switch(k >= n_cut, 0.0, picked))

    @classmethod
    def support_point(cls, rv, **params):
        mode = pt.argmax(cls.log_probs(**params), axis=-1)
        return pt.broadcast_to(mode, rv.shape).astype(rv.dtype)


class OrderedLogistic(_Ordinal):
    """OrderedLogistic(eta, cutpoints, compute_p=True): ordinal logit regression.

    ``P(Y = k) = sigmoid(c_k - eta) - sigmoid(c_{k-1} - eta)`` on {0, ..., K-1}, with K - 1
    non-decreasing ``cutpoints`` along their last axis (do not add the outer -inf / +inf).
    ``eta`` broadcasts against the cutpoints' batch axes; e.g. ``eta`` of shape (N,) and
    cutpoints of shape (K-1,) give a variable of shape (N,).  Inside a model ``compute_p``
    adds the Deterministic ``{name}_probs`` (shape ``(..., K)``), as PyMC does.
    ``logcdf`` is closed form: ``log sigmoid(c_k - eta)``.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> from symvi.distributions import dist_info
    >>> rv = sv.OrderedLogistic.dist(eta=0.0, cutpoints=np.array([0.0]))
    >>> np.exp(dist_info(rv).logp(np.array([0, 1])).eval()).tolist()
    [0.5, 0.5]
    """

    params = ("eta", "cutpoints")
    checks = [
        (("cutpoints",), event_len(1), "an array of at least one cutpoint (last axis)"),
        (("cutpoints",), _nondecreasing, "non-decreasing along the last axis"),
    ]

    @classmethod
    def parametrize(cls, eta, cutpoints):
        return {"eta": eta, "cutpoints": cutpoints}

    @classmethod
    def logcdf(cls, value, eta, cutpoints):
        """log P(Y <= k) = log sigmoid(c_k - eta)."""
        x = as_float(cutpoints) - as_float(eta)[..., None]
        return cls._cdf_at(value, {"cutpoints": cutpoints}, _log_sigmoid(x))

    @staticmethod
    def log_probs(eta, cutpoints):
        """log P(Y = k) for every category k: an array of shape ``batch + (K,)``."""
        x_lo, x_hi, first, last = _category_edges(eta, cutpoints)
        # sigmoid(b) - sigmoid(a) = sigmoid(b) sigmoid(-a) (1 - exp(a - b)) for a <= b
        middle = _log_sigmoid(x_hi) + _log_sigmoid(-x_lo) + pt.log1mexp(x_lo - x_hi)
        return pt.switch(first, _log_sigmoid(x_hi), pt.switch(last, _log_sigmoid(-x_lo), middle))



class OrderedProbit(_Ordinal):
    """OrderedProbit(eta, cutpoints, sigma=1, compute_p=True): ordinal probit regression.

    ``P(Y = k) = Phi((c_k - eta) / sigma) - Phi((c_{k-1} - eta) / sigma)`` on {0, ..., K-1};
    cutpoints and shapes as in :class:`OrderedLogistic`; ``sigma > 0`` broadcasts like ``eta``.
    ``logcdf`` is closed form: ``log Phi((c_k - eta) / sigma)``.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> from symvi.distributions import dist_info
    >>> rv = sv.OrderedProbit.dist(eta=0.0, cutpoints=np.array([-1.0, 1.0]), sigma=1.0)
    >>> np.round(np.exp(dist_info(rv).logp(np.array([0, 1, 2])).eval()), 4).tolist()
    [0.1587, 0.6827, 0.1587]
    """

    params = ("eta", "cutpoints", "sigma")
    checks = [
        (("cutpoints",), event_len(1), "an array of at least one cutpoint (last axis)"),
        (("cutpoints",), _nondecreasing, "non-decreasing along the last axis"),
        (("sigma",), positive, "> 0"),
    ]

    @classmethod
    def parametrize(cls, eta, cutpoints, sigma=1.0):
        return {"eta": eta, "cutpoints": cutpoints, "sigma": sigma}

    @classmethod
    def logcdf(cls, value, eta, cutpoints, sigma):
        """log P(Y <= k) = log Phi((c_k - eta) / sigma)."""
        x = (as_float(cutpoints) - as_float(eta)[..., None]) / as_float(sigma)[..., None]
        return cls._cdf_at(value, {"cutpoints": cutpoints}, _norm_logcdf(x))

    @staticmethod
    def log_probs(eta, cutpoints, sigma):
        """log P(Y = k) for every category k: an array of shape ``batch + (K,)``."""
        x_lo, x_hi, first, last = _category_edges(eta, cutpoints)
        s = as_float(sigma)[..., None]
        a, b = x_lo / s, x_hi / s
        # Phi(b) - Phi(a), a <= b: in the lower tail as is, in the upper one as Phi(-a) - Phi(-b)
        upper_tail = a > 0
        lower = _norm_logcdf(b) + pt.log1mexp(_norm_logcdf(a) - _norm_logcdf(b))
        upper = _norm_logcdf(-a) + pt.log1mexp(_norm_logcdf(-b) - _norm_logcdf(-a))
        middle = pt.switch(upper_tail, upper, lower)
        return pt.switch(first, _norm_logcdf(b), pt.switch(last, _norm_logcdf(-a), middle))

