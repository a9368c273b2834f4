"""``pm.gp.HSGP``: the Hilbert-space (reduced-rank) approximation of a stationary GP.

On a box ``[-L, L]`` around the centred inputs the kernel is approximated by ``m`` sine basis
functions per dimension, ``k(x, x') ~ sum_j S(sqrt(lambda_j)) phi_j(x) phi_j(x')`` with
``S`` the kernel's power spectral density, so the GP becomes a linear model
``f = mean(X) + Phi (beta * sqrt(S))`` with ``beta`` standard normal: cost linear in the number
of points.  Kernels with a spectral density here: ExpQuad, Matern52, Matern32, Matern12, and
their sums and scalings by constants (``eta**2 * ExpQuad(...)``).

Example
-------
>>> import numpy as np, symvi as pm
>>> X = np.linspace(0, 5, 20)[:, None]
>>> with pm.Model() as model:
...     gp = pm.gp.HSGP(m=[15], c=1.5, cov_func=pm.gp.cov.ExpQuad(1, ls=1.0))
...     f = gp.prior("f", X=X)
>>> model["f_hsgp_coeffs"].type.shape
(15,)
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence

import numpy as np
import pytensor.tensor as pt

from symvi.distributions import Normal
from symvi.gp.util import Base, as_inputs
from symvi.model import Deterministic

__all__ = ["HSGP", "set_boundary", "calc_eigenvalues", "calc_eigenvectors"]


def _constant(x, who: str) -> np.ndarray:
    """Numeric value of data ``x`` (array, constant or shared data), fixed at build time."""
    if isinstance(x, np.ndarray) or np.isscalar(x) or isinstance(x, (list, tuple)):
        return np.asarray(x, dtype="float64")
    try:
        return np.asarray(pt.as_tensor_variable(x).eval(), dtype="float64")
    except Exception as err:  # a graph of random variables has no value at build time
        raise ValueError(f"{who}: X must be data (an array or pm.Data), not an expression of random variables") from err


def set_boundary(X, c) -> np.ndarray:
    """Half-width ``L = c * (max(X) - min(X)) / 2`` of the approximation box, per column."""
    Xv = _constant(X, "set_boundary")
    return np.asarray(c, dtype="float64") * (Xv.max(axis=0) - Xv.min(axis=0)) / 2.0


def _multi_indices(m: Sequence[int]) -> np.ndarray:
    """All ``prod(m)`` index tuples ``(j_1, ..., j_D)``, ``1 <= j_d <= m_d``, one row each."""
    grids = np.meshgrid(*[np.arange(1, k + 1) for k in m])
    return np.stack([g.ravel() for g in grids], axis=1)


def calc_eigenvalues(L, m: Sequence[int]) -> np.ndarray:
    """Laplacian eigenvalues on ``[-L, L]``: ``(pi j_d / (2 L_d))^2``, shape ``(prod(m), D)``."""
    return np.square(np.pi * _multi_indices(m) / (2.0 * np.asarray(L, dtype="float64")))


def calc_eigenvectors(Xs, L, eigvals, m: Sequence[int]):
    """Basis ``phi_j(x) = prod_d sin(sqrt(lambda_jd) (x_d + L_d)) / sqrt(L_d)`` at the rows of
    the centred inputs ``Xs``: an ``(n, prod(m))`` tensor."""
    L = np.asarray(L, dtype="float64")
    Xs = pt.as_tensor_variable(Xs)
    phi = 1.0
    for d in range(len(m)):
        phi = phi * pt.sin(np.sqrt(eigvals[:, d])[None, :] * (Xs[:, d][:, None] + L[d])) / np.sqrt(L[d])
    return phi


class HSGP(Base):
    """Reduced-rank latent GP: ``m`` basis functions per active dimension on a box of half-width
    ``L`` (or ``c`` times the half-range of the data).

    >>> import numpy as np, symvi as pm
    >>> gp = pm.gp.HSGP(m=[10, 8], L=[3.0, 3.0], cov_func=pm.gp.cov.Matern52(2, ls=[1.0, 2.0]))
    >>> gp.n_basis_vectors
    80
    """

    def __init__(self, m: Sequence[int], L: Sequence[float] | None = None, c: numbers.Real | None = None,
                 drop_first: bool = False, parametrization: str | None = "noncentered", *,
                 mean_func=None, cov_func):
        super().__init__(mean_func=mean_func, cov_func=cov_func)
        n_dims = cov_func.n_dims if cov_func.active_dims is not None else None
        if isinstance(m, (str, bytes)) or not isinstance(m, Sequence) or (n_dims is not None and len(m) != n_dims):
            raise ValueError(f"HSGP: m must be a sequence with one basis size per active dimension of cov_func "
                             f"({n_dims}), got {m!r}")
        if any(not isinstance(k, (int, np.integer)) or k < 1 for k in m):
            raise ValueError(f"HSGP: every entry of m must be a positive integer, got {m!r}")
        if (L is None) == (c is None):
            raise ValueError("HSGP: give exactly one of L (box half-widths) or c (a multiple of the data's half-range)")
        if L is not None and (not isinstance(L, Sequence) or len(L) != len(m)):
            raise ValueError(f"HSGP: L must be a sequence with one half-width per active dimension, got {L!r}")
        if c is not None and np.any(np.asarray(c) < 1.2):
            warnings.warn("HSGP: c >= 1.2 is recommended for an adequate approximation", UserWarning, stacklevel=2)
        p = (parametrization or "").lower().replace("-", "").replace("_", "")
        if p not in ("centered", "noncentered"):
            raise ValueError(f"HSGP: parametrization must be 'centered' or 'noncentered', got {parametrization!r}")
        self._m = tuple(int(k) for k in m)
        self.n_basis_vectors = int(np.prod(self._m))
        self._L = None if L is None else np.asarray(L, dtype="float64")
        self._c, self._drop_first, self._parametrization = c, bool(drop_first), p
        self._X_center = None

    def __add__(self, other):
        raise TypeError("HSGP + HSGP is not supported (as in PyMC): add the kernels inside one HSGP instead")

    @property
    def L(self) -> np.ndarray:
        if self._L is None:
            raise ValueError("HSGP.L is set from the data by prior()/prior_linearized(); none was given yet")
        return self._L

    def _active(self, X):
        X = as_inputs(X, "HSGP")
        return X[:, self.cov_func.active_dims] if self.cov_func.active_dims is not None else X

    def _basis(self, Xa):
        eig = calc_eigenvalues(self.L, self._m)
        phi = calc_eigenvectors(Xa - self._X_center, self.L, eig, self._m)
        return phi[:, int(self._drop_first):], eig[int(self._drop_first):]

    def prior_linearized(self, X):
        """``(phi, sqrt_psd)``: the basis at ``X`` (n x m*) and the square roots of the spectral
        density at the basis frequencies, so that ``f = phi @ (beta * sqrt_psd)`` with
        ``beta ~ N(0, 1)`` is the approximate GP (the mean function is not included).  The
        centre of ``X`` (and ``L`` from ``c``) is fixed at the first call, so new ``X`` (e.g. via
        ``pm.set_data``) gives predictions."""
        Xa = self._active(X)
        if self._X_center is None:
            Xv = _constant(Xa, "HSGP.prior_linearized")
            self._X_center = (Xv.max(axis=0) + Xv.min(axis=0)) / 2.0
            if self._L is None:
                self._L = set_boundary(Xv - self._X_center, self._c)
        phi, eig = self._basis(Xa)
        psd = self.cov_func.power_spectral_density(pt.as_tensor_variable(np.sqrt(eig)))
        return phi, pt.sqrt(psd)

    def prior(self, name: str, X, dims: str | None = None, hsgp_coeffs_dims: str | None = None, *args, **kwargs):
        """The approximate GP at ``X`` as a Deterministic ``name``, with coefficients
        ``name + "_hsgp_coeffs"`` (standard normal, or with sd ``sqrt_psd`` when centred)."""
        phi, sqrt_psd = self.prior_linearized(X)
        n = self.n_basis_vectors - int(self._drop_first)
        coeffs = {"dims": hsgp_coeffs_dims} if hsgp_coeffs_dims is not None else {"size": n}
        if self._parametrization == "noncentered":
            self._beta = Normal(f"{name}_hsgp_coeffs", mu=0.0, sigma=1.0, **coeffs)
            f = self.mean_func(as_inputs(X, "HSGP.prior")) + pt.dot(phi, self._beta * sqrt_psd)
        else:
            self._beta = Normal(f"{name}_hsgp_coeffs", mu=0.0, sigma=sqrt_psd, **coeffs)
            f = self.mean_func(as_inputs(X, "HSGP.prior")) + pt.dot(phi, self._beta)
        self._sqrt_psd = sqrt_psd
        self.f = Deterministic(name, f, dims=dims)
        return self.f

    def _build_conditional(self, Xnew):
        if not hasattr(self, "_beta"):
            raise ValueError("HSGP.conditional: call prior(name, X) first")
        phi, _ = self._basis(self._active(Xnew))
        w = self._beta * self._sqrt_psd if self._parametrization == "noncentered" else self._beta
        return self.mean_func(as_inputs(Xnew, "HSGP.conditional")) + pt.dot(phi, w)

    def conditional(self, name: str, Xnew, dims: str | None = None):
        """The approximate GP at new inputs (same coefficients as the prior) as a Deterministic."""
        return Deterministic(name, self._build_conditional(Xnew), dims=dims)
