"""Covariance functions (kernels) for Gaussian processes, under PyMC's names (``pm.gp.cov``).

A kernel is called as ``k(X)`` (the ``n x n`` matrix), ``k(X, Xs)`` (``n x m``) or
``k(X, diag=True)`` (the ``n`` diagonal entries); ``X`` is a 2-d array or tensor with one
row per point.  Kernels combine with ``+`` and ``*`` (with each other, with numbers and with
tensors, on either side) and ``**`` (a power of a kernel), e.g.
``eta**2 * ExpQuad(1, ls=ell) + WhiteNoise(0.1)``.

Example
-------
>>> import numpy as np
>>> from symvi.gp import cov
>>> k = 2.0 * cov.ExpQuad(1, ls=0.5)
>>> K = k(np.array([[0.0], [1.0]])).eval()
>>> bool(np.isclose(K[0, 1], 2.0 * np.exp(-0.5 * (1.0 / 0.5) ** 2)))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from operator import add, mul

import numpy as np
import pytensor.tensor as pt

__all__ = [
    "Covariance", "Combination", "Add", "Prod", "Exponentiated", "Constant", "WhiteNoise",
    "Stationary", "ExpQuad", "RatQuad", "Matern52", "Matern32", "Matern12", "Exponential",
    "Cosine", "Periodic", "Linear", "Polynomial", "ScaledCov", "BaseCovariance",
]

# PyMC kernels symvi does not provide yet: asking for one says so by name
_NOT_PROVIDED = ("Kron", "Circular", "WarpedInput", "WrappedPeriodic", "Gibbs", "Coregion")


def __getattr__(name: str):
    if name in _NOT_PROVIDED:
        raise AttributeError(
            f"pm.gp.cov.{name} (PyMC's kernel) is not available in symvi yet; available kernels: "
            f"{', '.join(__all__)}")
    raise AttributeError(f"module 'symvi.gp.cov' has no attribute {name!r}")


def _is_kernel(x) -> bool:
    return isinstance(x, Covariance)


class Covariance:
    """Base class of kernels: ``input_dim`` columns in ``X``, of which ``active_dims`` are used.

    Subclasses define ``full(X, Xs=None)`` and ``diag(X)``; calling the kernel dispatches.

    >>> import numpy as np
    >>> from symvi.gp.cov import Linear
    >>> Linear(2, c=0.0, active_dims=[1])(np.array([[5.0, 2.0]])).eval()
    array([[4.]])
    """

    __array_ufunc__ = None  # numpy scalars/arrays defer to our __rmul__/__radd__

    def __init__(self, input_dim: int | None = None, active_dims: Sequence[int] | None = None):
        if input_dim is not None:
            if isinstance(input_dim, bool) or not isinstance(input_dim, (int, np.integer)) or input_dim < 1:
                raise ValueError(f"{type(self).__name__}: input_dim must be a positive integer, got {input_dim!r}")
            input_dim = int(input_dim)
        self.input_dim = input_dim
        if active_dims is None:
            self.active_dims = None if input_dim is None else np.arange(input_dim)
        else:
            dims = np.atleast_1d(np.asarray(active_dims))
            if dims.dtype.kind not in "iu" or dims.ndim != 1:
                raise ValueError(f"{type(self).__name__}: active_dims must be a list of column indices, got {active_dims!r}")
            if input_dim is not None and (dims.max() >= input_dim or dims.min() < 0):
                raise ValueError(
                    f"{type(self).__name__}: active_dims {dims.tolist()} must index columns 0..{input_dim - 1} "
                    f"(input_dim={input_dim})")
            self.active_dims = dims.astype(int)

    @property
    def n_dims(self) -> int:
        """How many columns of ``X`` the kernel reads (``len(active_dims)``)."""
        return len(self.active_dims)

    def __call__(self, X, Xs=None, diag: bool = False):
        """The covariance matrix between the rows of ``X`` and of ``Xs`` (default ``X``), or its
        diagonal with ``diag=True`` (only for ``Xs=None``)."""
        if diag:
            if Xs is not None:
                raise ValueError(f"{type(self).__name__}: diag=True gives the diagonal of k(X, X); do not pass Xs")
            return self.diag(X)
        return self.full(X, Xs)

    def full(self, X, Xs=None):
        raise TypeError(f"{type(self).__name__} is an abstract kernel: use a concrete one such as ExpQuad")

    def diag(self, X):
        return pt.diagonal(self.full(X))

    def _slice(self, X, Xs=None):
        """The active columns of ``X`` (and ``Xs``) as tensors."""
        X = pt.as_tensor_variable(X)
        if X.ndim != 2:
            raise ValueError(f"{type(self).__name__}: X must be 2-d (n points x input_dim columns), got {X.ndim}-d")
        X = X[:, self.active_dims] if self.active_dims is not None else X
        if Xs is not None:
            Xs = pt.as_tensor_variable(Xs)
            if Xs.ndim != 2:
                raise ValueError(f"{type(self).__name__}: Xs must be 2-d (m points x input_dim columns), got {Xs.ndim}-d")
            Xs = Xs[:, self.active_dims] if self.active_dims is not None else Xs
        return X, Xs

    # ------------------------------------------------------------------ algebra
    def __add__(self, other):
        return Add([self, other])

    def __radd__(self, other):
        return Add([other, self])

    def __mul__(self, other):
        return Prod([self, other])

    def __rmul__(self, other):
        return Prod([other, self])

    def __pow__(self, other):
        return Exponentiated(self, other)


BaseCovariance = Covariance  # PyMC's name for the base of kernels without input_dim (Constant, WhiteNoise)


class Combination(Covariance):
    """Sum or product of kernels and constants (numbers, scalar tensors, or n x n matrices)."""

    _op = staticmethod(add)

    def __init__(self, factor_list: Sequence):
        kernels = [f for f in factor_list if _is_kernel(f)]
        dims = {k.input_dim for k in kernels if k.input_dim is not None}
        if len(dims) > 1:
            raise ValueError(f"{type(self).__name__}: all kernels must have the same input_dim, got {sorted(dims)}")
        input_dim = dims.pop() if dims else None
        active = [set(k.active_dims.tolist()) for k in kernels if k.active_dims is not None]
        active_dims = sorted(set.union(*active)) if active else None
        super().__init__(input_dim, active_dims)
        self._factor_list: list = []
        for f in factor_list:
            if type(f) is type(self):  # flatten (a + b) + c into one sum
                self._factor_list.extend(f._factor_list)
            else:
                self._factor_list.append(f)

    def _evaluated(self, X, Xs, diag):
        out = []
        for f in self._factor_list:
            if _is_kernel(f):
                out.append(f(X, Xs, diag=diag))
            else:
                t = pt.as_tensor_variable(f)
                out.append(pt.diagonal(t) if diag and t.ndim == 2 else t)
        return out

    def __call__(self, X, Xs=None, diag: bool = False):
        if diag and Xs is not None:
            raise ValueError(f"{type(self).__name__}: diag=True gives the diagonal of k(X, X); do not pass Xs")
        return reduce(self._op, self._evaluated(X, Xs, diag))

    def full(self, X, Xs=None):
        return self(X, Xs)

    def diag(self, X):
        return self(X, diag=True)

    def power_spectral_density(self, omega):
        """Spectral density of the combination: a sum of kernels has the sum of their densities;
        scaling by a constant scales it (a product of two kernels has no closed form here)."""
        parts = [f.power_spectral_density(omega) if _is_kernel(f) else pt.as_tensor_variable(f) for f in self._factor_list]
        if self._op is mul and sum(_is_kernel(f) for f in self._factor_list) > 1:
            raise ValueError("power_spectral_density: a product of two or more kernels has no closed-form density "
                             "(scale one kernel by constants instead)")
        if self._op is add and any(not _is_kernel(f) for f in self._factor_list):
            raise ValueError("power_spectral_density: a kernel plus a constant has no spectral density")
        return reduce(self._op, parts)


class Add(Combination):
    """``k1 + k2 + ...``."""

    _op = staticmethod(add)


class Prod(Combination):
    """``k1 * k2 * ...`` (elementwise product of the matrices)."""

    _op = staticmethod(mul)


class Exponentiated(Covariance):
    """``kernel ** power`` (elementwise power)."""

    def __init__(self, kernel: Covariance, power):
        super().__init__(kernel.input_dim, kernel.active_dims)
        self.kernel, self.power = kernel, power

    def __call__(self, X, Xs=None, diag: bool = False):
        return self.kernel(X, Xs, diag=diag) ** self.power

    def full(self, X, Xs=None):
        return self(X, Xs)

    def diag(self, X):
        return self(X, diag=True)


def _n_rows(X):
    return pt.as_tensor_variable(X).shape[0]


class Constant(Covariance):
    """``k(x, x') = c`` for every pair of points."""

    def __init__(self, c):
        super().__init__(None, None)
        self.c = c

    def full(self, X, Xs=None):
        m = _n_rows(X if Xs is None else Xs)
        return pt.alloc(pt.as_tensor_variable(self.c).astype("float64"), _n_rows(X), m)

    def diag(self, X):
        return pt.alloc(pt.as_tensor_variable(self.c).astype("float64"), _n_rows(X))


class WhiteNoise(Covariance):
    """``k(x, x') = sigma^2`` on the diagonal of ``k(X)``, 0 elsewhere (and 0 between ``X`` and ``Xs``)."""

    def __init__(self, sigma):
        super().__init__(None, None)
        self.sigma = sigma

    def diag(self, X):
        return pt.alloc(pt.square(pt.as_tensor_variable(self.sigma)).astype("float64"), _n_rows(X))

    def full(self, X, Xs=None):
        if Xs is None:
            return pt.diag(self.diag(X))
        return pt.zeros((_n_rows(X), _n_rows(Xs)), dtype="float64")


class Stationary(Covariance):
    """Kernels of the scaled distance ``r = |(x - x') / ls|``: give ``ls`` (one lengthscale, or
    one per active dimension) or ``ls_inv = 1 / ls``."""

    def __init__(self, input_dim: int, ls=None, ls_inv=None, active_dims: Sequence[int] | None = None):
        super().__init__(input_dim, active_dims)
        if (ls is None) == (ls_inv is None):
            raise ValueError(f"{type(self).__name__}: give exactly one of ls or ls_inv")
        if ls is None:
            ls = 1.0 / np.asarray(ls_inv, dtype="float64") if isinstance(ls_inv, (list, tuple)) else 1.0 / ls_inv
        elif isinstance(ls, (list, tuple)):
            ls = np.asarray(ls, dtype="float64")
        self.ls = pt.as_tensor_variable(ls)

    @property
    def ls_inv(self):
        return 1.0 / self.ls

    def square_dist(self, X, Xs=None):
        """Squared scaled distances between rows (clipped at 0 against rounding)."""
        Xl = X / self.ls
        Xsl = Xl if Xs is None else Xs / self.ls
        sq = pt.sum(pt.square(Xl), axis=1)[:, None] + pt.sum(pt.square(Xsl), axis=1)[None, :]
        return pt.maximum(sq - 2.0 * pt.dot(Xl, Xsl.T), 0.0)

    def euclidean_dist(self, X, Xs=None):
        # the tiny shift keeps the gradient of sqrt finite at r = 0 (the diagonal)
        return pt.sqrt(self.square_dist(X, Xs) + 1e-12)

    def full(self, X, Xs=None):
        X, Xs = self._slice(X, Xs)
        return self.full_from_distance(self.square_dist(X, Xs), squared=True)

    def diag(self, X):
        return pt.ones((_n_rows(X),), dtype="float64")

    def full_from_distance(self, dist, squared: bool = False):
        raise TypeError(f"{type(self).__name__} is an abstract stationary kernel")

    def _r(self, dist, squared):
        return pt.sqrt(dist + 1e-12) if squared else dist

    def _ls_vector(self):
        return pt.ones((self.n_dims,), dtype="float64") * self.ls

    def power_spectral_density(self, omega):
        raise ValueError(f"{type(self).__name__} has no power spectral density in symvi "
                         "(HSGP supports ExpQuad, Matern52, Matern32 and their sums and scalings)")


class ExpQuad(Stationary):
    """Squared exponential: ``k = exp(-r^2 / 2)``."""

    def full_from_distance(self, dist, squared: bool = False):
        r2 = dist if squared else pt.square(dist)
        return pt.exp(-0.5 * r2)

    def power_spectral_density(self, omega):
        """``S(w) = (2 pi)^(D/2) prod(ls) exp(-sum(ls^2 w^2) / 2)``; ``omega`` is (m, D)."""
        ls = self._ls_vector()
        return (2.0 * np.pi) ** (self.n_dims / 2) * pt.prod(ls) * pt.exp(-0.5 * pt.dot(pt.square(omega), pt.square(ls)))


class RatQuad(Stationary):
    """Rational quadratic: ``k = (1 + r^2 / (2 alpha))^(-alpha)``."""

    def __init__(self, input_dim: int, alpha, ls=None, ls_inv=None, active_dims=None):
        super().__init__(input_dim, ls, ls_inv, active_dims)
        self.alpha = alpha

    def full_from_distance(self, dist, squared: bool = False):
        r2 = dist if squared else pt.square(dist)
        return (1.0 + 0.5 * r2 / self.alpha) ** (-self.alpha)


def _matern_psd(nu: float, ls, n_dims: int, omega):
    """Spectral density of a Matern-nu kernel with lengthscales ``ls`` in ``n_dims`` dimensions:
    ``2^D pi^(D/2) Gamma(nu + D/2) (2 nu)^nu / Gamma(nu) prod(ls) (2 nu + sum(ls^2 w^2))^-(nu + D/2)``."""
    from scipy.special import gammaln

    half = nu + n_dims / 2
    log_c = n_dims * np.log(2.0) + 0.5 * n_dims * np.log(np.pi) + gammaln(half) + nu * np.log(2 * nu) - gammaln(nu)
    return np.exp(log_c) * pt.prod(ls) * (2 * nu + pt.dot(pt.square(omega), pt.square(ls))) ** (-half)


class Matern52(Stationary):
    """Matern 5/2: ``k = (1 + sqrt(5) r + 5 r^2 / 3) exp(-sqrt(5) r)``."""

    def full_from_distance(self, dist, squared: bool = False):
        r = self._r(dist, squared)
        return (1.0 + np.sqrt(5.0) * r + 5.0 / 3.0 * pt.square(r)) * pt.exp(-np.sqrt(5.0) * r)

    def power_spectral_density(self, omega):
        return _matern_psd(2.5, self._ls_vector(), self.n_dims, omega)


class Matern32(Stationary):
    """Matern 3/2: ``k = (1 + sqrt(3) r) exp(-sqrt(3) r)``."""

    def full_from_distance(self, dist, squared: bool = False):
        r = self._r(dist, squared)
        return (1.0 + np.sqrt(3.0) * r) * pt.exp(-np.sqrt(3.0) * r)

    def power_spectral_density(self, omega):
        return _matern_psd(1.5, self._ls_vector(), self.n_dims, omega)


class Matern12(Stationary):
    """Matern 1/2 (Ornstein-Uhlenbeck): ``k = exp(-r)``."""

    def full_from_distance(self, dist, squared: bool = False):
        return pt.exp(-self._r(dist, squared))

    def power_spectral_density(self, omega):
        return _matern_psd(0.5, self._ls_vector(), self.n_dims, omega)


class Exponential(Stationary):
    """PyMC's exponential kernel: ``k = exp(-r / 2)`` (note the 1/2: ``Matern12`` is ``exp(-r)``)."""

    def full_from_distance(self, dist, squared: bool = False):
        return pt.exp(-0.5 * self._r(dist, squared))


class Cosine(Stationary):
    """Cosine: ``k = cos(2 pi r)``."""

    def full_from_distance(self, dist, squared: bool = False):
        return pt.cos(2.0 * np.pi * self._r(dist, squared))


class Periodic(Stationary):
    """Periodic (PyMC's scaling): ``k = exp(-sum_d (sin(pi |x_d - x'_d| / period) / ls_d)^2 / 2)``.

    The usual cookbook form has 2 instead of 1/2 in the exponent: halve ``ls`` to get it."""

    def __init__(self, input_dim: int, period, ls=None, ls_inv=None, active_dims=None):
        super().__init__(input_dim, ls, ls_inv, active_dims)
        self.period = period

    def full(self, X, Xs=None):
        X, Xs = self._slice(X, Xs)
        Xs = X if Xs is None else Xs
        s = pt.sin(np.pi * (X[:, None, :] - Xs[None, :, :]) / self.period) / self.ls
        return self.full_from_distance(pt.sum(pt.square(s), axis=2), squared=True)

    def full_from_distance(self, dist, squared: bool = False):
        r2 = dist if squared else pt.square(dist)
        return pt.exp(-0.5 * r2)


class Linear(Covariance):
    """Linear: ``k = (x - c) . (x' - c)``."""

    def __init__(self, input_dim: int, c, active_dims=None):
        super().__init__(input_dim, active_dims)
        self.c = c

    def full(self, X, Xs=None):
        X, Xs = self._slice(X, Xs)
        Xc = X - self.c
        return pt.dot(Xc, (Xc if Xs is None else Xs - self.c).T)

    def diag(self, X):
        X, _ = self._slice(X)
        return pt.sum(pt.square(X - self.c), axis=1)


class Polynomial(Linear):
    """Polynomial: ``k = ((x - c) . (x' - c) + offset)^d``."""

    def __init__(self, input_dim: int, c, d, offset, active_dims=None):
        super().__init__(input_dim, c, active_dims)
        self.d, self.offset = d, offset

    def full(self, X, Xs=None):
        return (super().full(X, Xs) + self.offset) ** self.d

    def diag(self, X):
        return (super().diag(X) + self.offset) ** self.d


class ScaledCov(Covariance):
    """``k(x, x') = s(x) k0(x, x') s(x')`` with ``s = scaling_func(X, *args)`` (a vector per point)."""

    def __init__(self, input_dim: int, cov_func: Covariance, scaling_func, args=None, active_dims=None):
        super().__init__(input_dim, active_dims)
        if not _is_kernel(cov_func):
            raise TypeError(f"ScaledCov: cov_func must be a kernel, got {type(cov_func).__name__}")
        if not callable(scaling_func):
            raise TypeError("ScaledCov: scaling_func must be callable")
        self.cov_func, self.scaling_func = cov_func, scaling_func
        self.args = () if args is None else (args if isinstance(args, tuple) else (args,))

    def _scale(self, X):
        return self.scaling_func(self._slice(X)[0], *self.args)

    def full(self, X, Xs=None):
        sx = self._scale(X)
        ss = sx if Xs is None else self._scale(Xs)
        return pt.outer(sx, ss) * self.cov_func(X, Xs)

    def diag(self, X):
        return pt.square(self._scale(X)) * self.cov_func(X, diag=True)

