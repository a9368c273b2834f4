"""Low-rank plus diagonal Gaussian approximation: ``q(z) = N(mu, diag(d^2) + W W^T)``.

Between :class:`~symvi.variational.approximations.MeanField` (no correlations, ``2 D``
parameters) and :class:`~symvi.variational.approximations.FullRank` (every correlation,
``D (D + 3) / 2`` parameters, cubic cost) sits a covariance with ``k`` principal directions of
correlation: ``W`` has shape ``(D, k)`` and ``d = softplus(rho)`` is a per-coordinate standard
deviation.  Draws are ``mu + d * eps1 + W @ eps2`` with ``eps1 ~ N(0, I_D)`` and
``eps2 ~ N(0, I_k)``.  Everything costs ``O(D k^2 + k^3)``: the entropy uses the matrix
determinant lemma

    log det(diag(d^2) + W W^T) = 2 sum(log d) + log det(I_k + W^T diag(d^-2) W)

and ``logq`` the Woodbury identity for the inverse, both through the ``k x k`` capacitance
matrix ``I_k + W^T diag(d^-2) W``.

``W`` starts at small seeded random values (``0.1 * d_i * N(0, 1) / sqrt(k)``): at ``W = 0``
the ELBO's gradient with respect to ``W`` vanishes in expectation, a saddle the optimiser
would leave only by noise.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     x = pm.MvNormal("x", mu=np.zeros(2), cov=np.array([[1.0, 0.9], [0.9, 1.0]]))
...     approx = pm.fit(4000, method="lowrank_advi", inf_kwargs={"rank": 1}, random_seed=0,
...                     progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02), obj_n_mc=4)
>>> bool(abs(approx.cov.eval()[0, 1] - 0.9) < 0.15)
True
"""

from __future__ import annotations

import numbers

import numpy as np
import pytensor
import pytensor.tensor as pt

from symvi.pytensorf import seed_sequence
from symvi.variational.approximations import LOG_2PI, Approximation
from symvi.variational.checkpoint import checkpointable
from symvi.variational.inference import KLqp, register_method

__all__ = ["LowRank", "LowRankADVI"]


def _check_rank(rank) -> int:
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank < 1:
        raise ValueError(f"rank must be a positive integer, got {rank!r}")
    return int(rank)


@checkpointable
class LowRank(Approximation):
    """Gaussian with low-rank plus diagonal covariance: ``N(mu, diag(softplus(rho)^2) + W W^T)``.

    ``shared_params`` are ``mu`` (D,), ``rho`` (D,) and ``W`` (D, k).

    Parameters
    ----------
    rank : number of columns ``k`` of ``W`` (directions of correlation), ``>= 1``.
    model, start, random_seed : as for :class:`~symvi.variational.approximations.MeanField`.
    start_sigma : initial diagonal standard deviations ``d`` (unconstrained space) per variable.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1, shape=3)
    ...     q = pm.LowRank(rank=2, random_seed=0)
    >>> {k: v.shape for k, v in q.get_params().items()}
    {'mu': (3,), 'rho': (3,), 'W': (3, 2)}
    """

    supports_path_derivative = True  # (objective.default_kl_loss)

    def __init__(self, rank: int = 1, model=None, start=None, start_sigma=None, random_seed=None):
        self.rank = _check_rank(rank)
        super().__init__(model, start, random_seed)
        d = np.ones(self.ndim)  # diagonal std 1, as FullRank starts from the identity
        if start_sigma:
            for sl, val in self._start_sigmas(start_sigma):
                d[sl] = val
        seed = seed_sequence(random_seed).spawn(1)[0]
        w0 = 0.1 * d[:, None] * np.random.default_rng(seed).standard_normal((self.ndim, self.rank)) / np.sqrt(self.rank)
        self.shared_params = {
            "mu": pytensor.shared(self._start.copy(), name="mu"),
            "rho": pytensor.shared(np.log(np.expm1(d)).astype(self.dtype), name="rho"),
            "W": pytensor.shared(w0.astype(self.dtype), name="W"),
        }

    def _checkpoint_kwargs(self) -> dict:
        return {"rank": self.rank}

    # ---- pieces
    @property
    def diag_std(self):
        """``d = softplus(rho)``: the diagonal part's standard deviations."""
        return pt.softplus(self.shared_params["rho"])

    @property
    def W(self):
        return self.shared_params["W"]

    def _capacitance(self):
        """``I_k + W^T diag(d^-2) W`` (k x k, eigenvalues >= 1)."""
        Wd = self.W / self.diag_std[:, None]
        return pt.eye(self.rank, dtype=self.dtype) + Wd.T @ Wd

    def _logdet_cov(self):
        # slogdet rather than a Cholesky factor: in pytensor 3.0's Numba backend the gradient
        # of cholesky (and solve_triangular) runs ~1000x slower than LU-based slogdet
        return 2.0 * pt.sum(pt.log(self.diag_std)) + pt.linalg.slogdet(self._capacitance())[1]

    # ---- interface
    @property
    def cov(self):
        W = self.W
        return pt.diag(self.diag_std**2) + W @ W.T

    @property
    def std(self):
        return pt.sqrt(self.diag_std**2 + pt.sum(self.W**2, axis=1))

    def random(self, size=None):
        """Symbolic draws from q: shape (D,) or (size, D); fresh on every compiled call."""
        width = self.ndim + self.rank
        shape = (width,) if size is None else (size, width)
        return self.draw_from_noise(pt.random.normal(0.0, 1.0, size=shape, rng=self.rng, dtype=self.dtype))

    def draw_from_noise(self, eps):
        """q draws from standard normal noise ``eps`` (..., D + k); noise of width D (as
        ``sample_node`` passes) goes through the Cholesky factor of the full covariance."""
        D = self.ndim
        width = eps.type.shape[-1]
        if width == D:  # O(D^3), but exact: only for callers that give one normal per coordinate
            return self.mean + eps @ pt.linalg.cholesky(self.cov).T
        return self.mean + self.diag_std * eps[..., :D] + eps[..., D:] @ self.W.T

    def entropy(self):
        return 0.5 * self._logdet_cov() + 0.5 * self.ndim * (1.0 + LOG_2PI)

    def logq(self, z):
        d2 = self.diag_std**2
        r = z - self.mean
        quad = pt.sum(r**2 / d2, axis=-1)
        v = (r / d2) @ self.W  # (..., k) = W^T D^-1 r
        quad = quad - pt.sum((v @ pt.linalg.inv(self._capacitance())) * v, axis=-1)  # Woodbury, any leading axes
        return -0.5 * (quad + self._logdet_cov() + self.ndim * LOG_2PI)


@checkpointable
class LowRankADVI(KLqp):
    """ADVI with a :class:`LowRank` approximation: ``KLqp(LowRank(rank, ...))``.

    Also ``fit(method="lowrank_advi", inf_kwargs={"rank": k})``.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1, shape=4)
    ...     inference = pm.LowRankADVI(rank=2, random_seed=1)
    >>> inference.approx.W.get_value().shape
    (4, 2)
    """

    def __init__(self, rank: int = 1, model=None, random_seed=None, start=None, start_sigma=None):
        super().__init__(LowRank(rank=rank, model=model, start=start, start_sigma=start_sigma, random_seed=random_seed))

    def _checkpoint_kwargs(self) -> dict:
        return {"rank": int(self.approx.rank)}


register_method("lowrank_advi", LowRankADVI)
