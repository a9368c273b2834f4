"""Proposal distributions for random-walk steps (PyMC's ``pm.NormalProposal``,
``pm.UniformProposal``, ``pm.CauchyProposal``, ``pm.LaplaceProposal``, ``pm.PoissonProposal``
and ``pm.MultivariateNormalProposal``).

A proposal is made from a scale ``s`` (one number per element, or a covariance matrix for the
multivariate normal) and, called with a numpy Generator, returns one zero-centred jump of the
same size.  Step methods take the class as ``proposal_dist=`` and build it from their ``S``.

Examples
--------
>>> import numpy as np, symvi as pm
>>> jump = pm.LaplaceProposal(np.array([1.0, 0.1]))(rng=np.random.default_rng(0))
>>> jump.shape
(2,)
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

__all__ = [
    "Proposal",
    "NormalProposal",
    "UniformProposal",
    "CauchyProposal",
    "LaplaceProposal",
    "PoissonProposal",
    "MultivariateNormalProposal",
]


class Proposal:
    """Base of the proposals: holds the scale ``s`` (a positive finite array)."""

    def __init__(self, s):
        s = np.asarray(s, dtype=float)
        if s.size == 0 or not np.all(np.isfinite(s)) or np.any(s < 0):
            raise ValueError(f"{type(self).__name__}: s must be a non-empty array of non-negative finite scales, got {s!r}")
        self.s = s

    def __call__(self, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = np.random.default_rng() if rng is None else rng
        return self.draw(rng)

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} is the base class; use NormalProposal, CauchyProposal, ...")


class NormalProposal(Proposal):
    """Normal jumps with standard deviation ``s``.

    Examples
    --------
    >>> import numpy as np
    >>> NormalProposal(np.ones(3))(rng=np.random.default_rng(1)).shape
    (3,)
    """

    def draw(self, rng):
        return self.s * rng.standard_normal(self.s.shape)


class UniformProposal(Proposal):
    """Uniform jumps on ``[-s, s]``.

    Examples
    --------
    >>> import numpy as np
    >>> bool(np.all(np.abs(UniformProposal(np.full(4, 0.5))(rng=np.random.default_rng(1))) <= 0.5))
    True
    """

    def draw(self, rng):
        return self.s * rng.uniform(-1.0, 1.0, self.s.shape)


class CauchyProposal(Proposal):
    """Cauchy jumps with scale ``s`` (heavy tails: occasional long moves).

    Examples
    --------
    >>> import numpy as np
    >>> CauchyProposal(np.ones(2))(rng=np.random.default_rng(1)).shape
    (2,)
    """

    def draw(self, rng):
        return self.s * rng.standard_cauchy(self.s.shape)


class LaplaceProposal(Proposal):
    """Laplace (double exponential) jumps with scale ``s`` (variance ``2 s**2``).

    Examples
    --------
    >>> import numpy as np
    >>> LaplaceProposal(np.ones(2))(rng=np.random.default_rng(1)).shape
    (2,)
    """

    def draw(self, rng):
        return rng.laplace(0.0, 1.0, self.s.shape) * self.s


class PoissonProposal(Proposal):
    """Integer jumps ``Poisson(s) - s`` (mean 0, variance ``s``), for count variables.

    The jumps are skewed (not symmetric), so a Metropolis step using them - here as in PyMC,
    which applies no Hastings correction - is not exactly reversible and biases the chain
    slightly (towards smaller counts for small ``s``).

    Examples
    --------
    >>> import numpy as np
    >>> PoissonProposal(np.full(2, 3.0))(rng=np.random.default_rng(1)).shape
    (2,)
    """

    def draw(self, rng):
        return rng.poisson(self.s) - self.s


class MultivariateNormalProposal(Proposal):
    """Correlated normal jumps with covariance matrix ``s`` (square, positive definite).

    ``__call__(num_draws=n)`` returns ``n`` jumps as rows.

    Examples
    --------
    >>> import numpy as np
    >>> MultivariateNormalProposal(np.eye(2))(num_draws=5, rng=np.random.default_rng(1)).shape
    (5, 2)
    """

    def __init__(self, s):
        s = np.asarray(s, dtype=float)
        if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] == 0:
            raise ValueError(f"MultivariateNormalProposal: s must be a square covariance matrix, got shape {s.shape}")
        if not np.all(np.isfinite(s)) or not np.allclose(s, s.T):
            raise ValueError("MultivariateNormalProposal: s must be a finite symmetric covariance matrix")
        try:
            self.chol = scipy.linalg.cholesky(s, lower=True)
        except np.linalg.LinAlgError as err:
            raise ValueError("MultivariateNormalProposal: s is not positive definite") from err
        self.s = s
        self.n = s.shape[0]

    def __call__(self, num_draws: int | None = None, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = np.random.default_rng() if rng is None else rng
        if num_draws is None:
            return self.chol @ rng.standard_normal(self.n)
        if int(num_draws) < 1:
            raise ValueError(f"MultivariateNormalProposal: num_draws must be a positive integer, got {num_draws!r}")
        return rng.standard_normal((int(num_draws), self.n)) @ self.chol.T


def check_proposal_dist(owner: str, proposal_dist) -> None:
    """Raise unless ``proposal_dist`` is None, a Proposal class or a Proposal instance."""
    if proposal_dist is None or isinstance(proposal_dist, Proposal):
        return
    if not (isinstance(proposal_dist, type) and issubclass(proposal_dist, Proposal)):
        raise TypeError(f"{owner}: proposal_dist must be a proposal class such as pm.CauchyProposal, got {proposal_dist!r}")


def make_proposal(owner: str, proposal_dist, S: np.ndarray) -> Proposal:
    """The proposal a step uses: ``proposal_dist`` (a Proposal class, or an instance used as
    is) built from ``S``; the default is normal (``S`` 1-D) or multivariate normal (``S`` 2-D)."""
    check_proposal_dist(owner, proposal_dist)
    if isinstance(proposal_dist, Proposal):
        return proposal_dist
    if proposal_dist is None:
        return MultivariateNormalProposal(S) if S.ndim == 2 else NormalProposal(S)
    return proposal_dist(S)
