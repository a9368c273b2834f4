"""Areal (graph) Gaussian models: CAR and ICAR over a symmetric adjacency matrix ``W``.

Both follow PyMC 5.28.5's log densities, constants included: CAR's omits the
``-k/2 log(2 pi) + 1/2 sum(log D)`` terms of the normalised Gaussian (as PyMC's docstring
says, it differs from the true density by a constant), ICAR's is the pairwise-difference
term plus a normal density on ``sum(x)`` with sd ``zero_sum_stdev * N``.

Examples
--------
>>> import numpy as np, symvi as sv
>>> W = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
>>> x = sv.CAR.dist(mu=np.zeros(3), W=W, alpha=0.5, tau=1.0)
>>> sv.draw(x, random_seed=1).shape
(3,)
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.tensor.linalg import cholesky, eigvalsh, solve_triangular

from symvi.distributions.base import Continuous, bound, positive
from symvi.distributions.dist_math import LOG_2PI, as_float

__all__ = ["CAR", "ICAR"]


def _square_symmetric(W):
    if isinstance(W, np.ndarray):
        return W.ndim == 2 and W.shape[0] == W.shape[1] and np.allclose(W, W.T)
    return pt.all(pt.isclose(W, W.T))


def _zero_one(W):
    if isinstance(W, np.ndarray):
        return (W == 0) | (W == 1)
    return pt.eq(W, 0) | pt.eq(W, 1)  # `==` on a tensor is identity, not elementwise


def _batch(size, mu_shape=()):
    if size is None:
        return tuple(mu_shape)
    if isinstance(size, pt.Variable):
        return tuple(size[i] for i in range(pt.get_vector_length(size)))
    return tuple(size)


def _gmrf_draw(mu, Q, size, rng):
    """mu + L^-T z with Q = L L^T: a normal draw with precision Q (dense)."""
    lower = cholesky(Q, lower=True)
    z = rb.normal(0.0, 1.0, size=_batch(size, tuple(mu.shape)[:-1]) + (Q.shape[-1],), rng=rng)
    return mu + solve_triangular(pt.swapaxes(lower, -1, -2), z, lower=False, b_ndim=1)


class CAR(Continuous):
    """CAR(mu, W, alpha, tau): conditional autoregression, a normal with precision
    ``tau (D - alpha W)``, ``D = diag(column sums of W)``.

    ``W``: symmetric adjacency matrix (numpy or scipy.sparse, used dense; 0/1 or non-negative
    weights); ``-1 < alpha < 1``;
    ``tau > 0`` scalar.  Log density as PyMC 5.28.5:
    ``1/2 [k log tau + sum_i log(1 - alpha lambda_i) - tau (x-mu)^T (D - alpha W) (x-mu)]``,
    ``lambda`` the eigenvalues of ``D^-1/2 W D^-1/2``.  Support: R^k.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> W = np.array([[0, 1], [1, 0]])
    >>> with sv.Model() as m:
    ...     x = sv.CAR("x", mu=np.zeros(2), W=W, alpha=0.3, tau=2.0)
    >>> m.initial_point()["x"].tolist()
    [0.0, 0.0]
    """

    params = ("mu", "W", "alpha", "tau")
    ndim_supp = 1
    support = "R^k"
    checks = [
        (("W",), _square_symmetric, "a symmetric square adjacency matrix"),
        (("alpha",), lambda a: (a > -1) & (a < 1), "in (-1, 1)"),
        (("tau",), positive, "> 0"),
    ]

    @classmethod
    def parametrize(cls, mu, W, alpha, tau):
        for name, v in (("alpha", alpha), ("tau", tau)):
            if not isinstance(v, pt.Variable) and np.ndim(v) != 0:
                raise ValueError(f"CAR: {name} must be a scalar, got shape {np.shape(v)}")
        if not isinstance(W, pt.Variable):
            if hasattr(W, "toarray"):  # a scipy.sparse adjacency matrix, as PyMC accepts
                W = W.toarray()
            W = np.asarray(W, dtype="float64")
            if W.ndim != 2 or W.shape[0] != W.shape[1]:
                raise ValueError(f"CAR: W must be a square matrix, got shape {W.shape}")
        return {"mu": mu, "W": W, "alpha": alpha, "tau": tau}

    @classmethod
    def rv_graph(cls, params, size, rng):
        W, alpha, tau = as_float(params["W"]), as_float(params["alpha"]), as_float(params["tau"])
        mu = as_float(params["mu"]) + pt.zeros((W.shape[-1],))
        Q = tau * (pt.diag(pt.sum(W, axis=0)) - alpha * W)
        return _gmrf_draw(mu, Q, size, rng)

    @staticmethod
    def logp(value, mu, W, alpha, tau):
        x, mu, W = as_float(value), as_float(mu), as_float(W)
        alpha, tau = as_float(alpha), as_float(tau)
        d = pt.sum(W, axis=0)
        scaled = W / pt.sqrt(d)[:, None] / pt.sqrt(d)[None, :]
        lam = eigvalsh(scaled, pt.eye(W.shape[0]))
        k = W.shape[0].astype(x.dtype)
        delta = x - mu
        quad = pt.sum(delta * (d * delta - alpha * (delta @ W)), axis=-1)
        return 0.5 * (k * pt.log(tau) + pt.sum(pt.log1p(-alpha * lam)) - tau * quad)

    @classmethod
    def support_point(cls, rv, mu, W, alpha, tau):
        return pt.broadcast_to(mu, rv.shape)


class ICAR(Continuous):
    """ICAR(W, sigma=1, zero_sum_stdev=0.001): intrinsic CAR (alpha = 1) with a soft sum-to-zero
    constraint.

    ``log p(x) = -sum_{i~j} (x_i - x_j)^2 / (2 sigma^2) + log N(sum(x) | 0, zero_sum_stdev N)``
    (each edge once; ``W`` symmetric of 0s and 1s), as PyMC 5.28.5.  Support: R^N.

    PyMC cannot draw from ICAR; symvi draws from the proper normal this log density defines,
    precision ``(D - W)/sigma^2 + 1 1^T / (zero_sum_stdev N)^2`` (singular, so no draws, when
    the graph is disconnected).

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> W = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    >>> d = sv.draw(sv.ICAR.dist(W=W, sigma=1.0), random_seed=1)
    >>> bool(abs(d.sum()) < 0.05)
    True
    """

    params = ("W", "sigma", "zero_sum_stdev")
    ndim_supp = 1
    support = "R^N"
    checks = [
        (("W",), _square_symmetric, "a symmetric square adjacency matrix"),
        (("W",), _zero_one, "made of 0s and 1s"),
        (("sigma",), positive, "> 0"),
        (("zero_sum_stdev",), positive, "> 0"),
    ]

    @classmethod
    def parametrize(cls, W, sigma=1.0, zero_sum_stdev=0.001):
        if not isinstance(W, pt.Variable):
            W = np.asarray(W.toarray() if hasattr(W, "toarray") else W)  # scipy.sparse too
            if W.ndim != 2 or W.shape[0] != W.shape[1]:
                raise ValueError(f"ICAR: W must be a square matrix, got shape {W.shape}")
            W = W.astype("int64")
        return {"W": W, "sigma": sigma, "zero_sum_stdev": zero_sum_stdev}

    @classmethod
    def rv_graph(cls, params, size, rng):
        W, sigma, zss = as_float(params["W"]), as_float(params["sigma"]), as_float(params["zero_sum_stdev"])
        n = W.shape[0]
        Q = (pt.diag(pt.sum(W, axis=0)) - W) / sigma**2 + 1.0 / (zss * n.astype(W.dtype)) ** 2
        return _gmrf_draw(pt.zeros((n,)), Q, size, rng)

    @staticmethod
    def logp(value, W, sigma, zero_sum_stdev):
        x, sigma, zss = as_float(value), as_float(sigma), as_float(zero_sum_stdev)
        n = pt.as_tensor_variable(W).shape[0].astype(x.dtype)
        i, j = pt.eq(pt.tril(W), 1).nonzero()
        pairs = -pt.sum((x[..., i] - x[..., j]) ** 2, axis=-1) / (2 * sigma**2)
        scale = zss * n
        zero_sum = -0.5 * (pt.sum(x, axis=-1) / scale) ** 2 - 0.5 * LOG_2PI - pt.log(scale)
        return bound(pairs + zero_sum, pt.eq(pt.as_tensor_variable(W).shape[0], x.shape[-1]))
