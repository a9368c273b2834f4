"""StickBreakingWeights: the first K + 1 weights of a Dirichlet process (truncated GEM).

Examples
--------
>>> import symvi as sv
>>> w = sv.StickBreakingWeights.dist(alpha=2.0, K=4, size=3)
>>> d = sv.draw(w, random_seed=1)
>>> d.shape, bool(abs(d.sum(-1) - 1).max() < 1e-12)
((3, 5), True)
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorConstant

from symvi import transforms
from symvi.distributions.base import Continuous, bound, positive
from symvi.distributions.dist_math import as_float, xlogy

__all__ = ["StickBreakingWeights"]


def _int_k(k, who="StickBreakingWeights") -> int:
    if isinstance(k, TensorConstant):
        k = k.data
    if isinstance(k, Variable):
        raise TypeError(f"{who}: K must be a constant integer (the number of breaks), got a symbolic {k}")
    arr = np.asarray(k)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf" or float(arr) != int(arr) or int(arr) < 1:
        raise ValueError(f"{who}: K must be an integer >= 1, got {k!r}")
    return int(arr)


class StickBreakingWeights(Continuous):
    """StickBreakingWeights(alpha, K): ``x_k = v_k prod_{l<k} (1 - v_l)`` for k = 1..K with
    ``v_k ~ Beta(1, alpha)`` i.i.d., and ``x_{K+1} = 1 - sum_k x_k``.

    Density over the first K weights: ``K log(alpha) + alpha log x_{K+1}
    - sum_{k=1}^{K+1} log(x_k + ... + x_{K+1})``.  Support: the (K+1)-simplex.  ``alpha > 0``.
    Default transform: :data:`symvi.transforms.stick_breaking` (the same construction with
    logistic pieces).

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model() as m:
    ...     w = sv.StickBreakingWeights("w", alpha=1.0, K=3)
    >>> m.initial_point()["w_stickbreaking__"].shape
    (3,)
    """

    params = ("alpha", "K")
    ndim_supp = 1
    support = "simplex of length K + 1"
    checks = [(("alpha",), positive, "> 0")]

    @classmethod
    def parametrize(cls, alpha, K):
        return {"alpha": alpha, "K": np.int64(_int_k(K))}

    @classmethod
    def rv_graph(cls, params, size, rng):
        alpha = as_float(params["alpha"])
        k = _int_k(params["K"])
        batch = tuple(alpha.shape) if size is None else (
            tuple(size[i] for i in range(pt.get_vector_length(size))) if isinstance(size, Variable) else tuple(size)
        )
        v = rb.beta(1.0, alpha[..., None], size=batch + (k,), rng=rng)
        log_rest = pt.cumsum(pt.log1p(-v), axis=-1)
        before = pt.concatenate([pt.zeros_like(log_rest[..., :1]), log_rest[..., :-1]], axis=-1)
        return pt.concatenate([v * pt.exp(before), pt.exp(log_rest[..., -1:])], axis=-1)

    @staticmethod
    def logp(value, alpha, K):
        x, alpha = as_float(value), as_float(alpha)
        k = _int_k(K)
        tails = pt.cumsum(x[..., ::-1], axis=-1)  # x_{K+1}, x_K + x_{K+1}, ..., 1
        log_beta = pt.gammaln(alpha) - pt.gammaln(1 + alpha)  # log B(1, alpha) = -log(alpha)
        # the first tail is x_{K+1} itself: alpha log x_{K+1} - log x_{K+1}, finite at x_{K+1} = 0
        lp = -pt.sum(pt.log(tails[..., 1:]), axis=-1) - k * log_beta + xlogy(alpha - 1, x[..., -1])
        on_simplex = pt.and_(pt.all(x >= 0, axis=-1), pt.abs(pt.sum(x, axis=-1) - 1) <= 1e-6)
        return bound(lp, on_simplex, pt.eq(x.shape[-1], k + 1))

    @classmethod
    def default_transform(cls, params):
        return transforms.stick_breaking

    @classmethod
    def support_point(cls, rv, alpha, K):
        k = _int_k(K)
        alpha = as_float(alpha)[..., None]
        ratio = alpha / (1 + alpha)
        head = ratio ** pt.arange(k) / (1 + alpha)
        return pt.broadcast_to(pt.concatenate([head, ratio**k], axis=-1), rv.shape)
