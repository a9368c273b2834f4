"""``pm.math``: PyTensor's tensor functions plus the helpers PyMC models call through ``pm.math``.

Everything of ``pytensor.tensor`` is here (``pm.math.exp``, ``pm.math.dot``, ``switch``,
``sigmoid``, ``logsumexp``...), and these:

* link functions ``invlogit`` / ``logit``, ``invprobit`` / ``probit``;
* ``softmax`` / ``log_softmax`` (over ``axis``, the last by default), ``logdiffexp``;
* linear algebra ``logdet``, ``matrix_inverse``, ``kronecker``, ``block_diagonal``,
  ``expand_packed_triangular``;
* NumPy-level helpers ``cartesian`` and ``logbern``.

Examples
--------
>>> import numpy as np, symvi as pm
>>> float(pm.math.invlogit(0.0).eval()), float(pm.math.logit(0.5).eval())
(0.5, 0.0)
>>> pm.math.cartesian([1, 2], [3, 4]).tolist()
[[1, 3], [1, 4], [2, 3], [2, 4]]
"""

from __future__ import annotations

import functools

import numpy as np
import pytensor.tensor as pt
from pytensor.tensor import *  # noqa: F403 - pm.math is pytensor.tensor plus the helpers below
# (this brings pytensor's own ``round``, ``abs``, ``max``... into this namespace, as in PyMC)
from pytensor.tensor import special as _special
from pytensor.tensor.math import log1mexp as _log1mexp
from pytensor.tensor.linalg import solve_triangular  # noqa: F401 - as pm.math.solve_triangular

from symvi.pytensorf import floatX  # noqa: F401 - as pm.math.floatX

_SQRT2 = float(np.sqrt(2.0))


def invlogit(x, eps: float | None = None):
    """Logistic sigmoid ``1 / (1 + exp(-x))`` (``eps`` is accepted for PyMC compatibility and ignored).

    >>> f"{float(invlogit(2.0).eval()):.4f}"
    '0.8808'
    """
    return pt.sigmoid(x)


def logit(p):
    """``log(p / (1 - p))``.

    >>> f"{float(logit(0.8808).eval()):.3f}"
    '2.000'
    """
    p = pt.as_tensor_variable(p)
    return pt.log(p) - pt.log1p(-p)


def invprobit(x):
    """The standard normal CDF, ``Phi(x) = erfc(-x / sqrt(2)) / 2``.

    >>> float(invprobit(0.0).eval())
    0.5
    """
    return 0.5 * pt.erfc(-pt.as_tensor_variable(x) / _SQRT2)


def probit(p):
    """The standard normal quantile, ``Phi^-1(p) = -sqrt(2) erfcinv(2 p)``.

    >>> f"{float(probit(0.975).eval()):.3f}"
    '1.960'
    """
    return -_SQRT2 * pt.erfcinv(2.0 * pt.as_tensor_variable(p))


def softmax(x, axis: int | None = -1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (the last by default; None: over all entries).

    >>> softmax([0.0, 0.0]).eval().tolist()
    [0.5, 0.5]
    """
    return _special.softmax(x, axis=axis)


def log_softmax(x, axis: int | None = -1):
    """``x - logsumexp(x)`` along ``axis`` (the last by default).

    >>> np.round(log_softmax([0.0, 0.0]).eval(), 4).tolist()
    [-0.6931, -0.6931]
    """
    return _special.log_softmax(x, axis=axis)


def logdiffexp(a, b):
    """``log(exp(a) - exp(b))`` without overflow, for ``a >= b``.

    >>> bool(np.isclose(logdiffexp(np.log(3.0), np.log(1.0)).eval(), np.log(2.0)))
    True
    """
    a, b = pt.as_tensor_variable(a), pt.as_tensor_variable(b)
    return a + _log1mexp(b - a)


def logdet(m):
    """``log |det(m)|`` of a square matrix (the log determinant of a positive definite one).

    >>> bool(np.isclose(logdet(np.diag([2.0, 3.0])).eval(), np.log(6.0)))
    True
    """
    return pt.linalg.slogdet(pt.as_tensor_variable(m))[1]


def matrix_inverse(m):
    """The inverse of a square matrix.

    >>> matrix_inverse(np.diag([2.0, 4.0])).eval().tolist()
    [[0.5, 0.0], [0.0, 0.25]]
    """
    return pt.linalg.inv(pt.as_tensor_variable(m))


def kronecker(*matrices):
    """The Kronecker product ``m1 (x) m2 (x) ...`` of matrices.

    >>> kronecker(np.eye(2), np.ones((1, 2))).eval().tolist()
    [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]
    """
    if not matrices:
        raise TypeError("kronecker: expected at least one matrix")
    return functools.reduce(pt.linalg.kron, [pt.as_tensor_variable(m) for m in matrices])


def block_diagonal(matrices, sparse: bool = False, format: str = "csr"):
    """A block-diagonal matrix with ``matrices`` on its diagonal (``sparse`` is not supported).

    >>> block_diagonal([np.ones((1, 1)), 2 * np.ones((1, 1))]).eval().tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    if sparse:
        raise TypeError("block_diagonal: sparse=True is not supported by symvi; use a dense block diagonal")
    return pt.linalg.block_diag(*[pt.as_tensor_variable(m) for m in matrices])


def expand_packed_triangular(n: int, packed, lower: bool = True, diagonal_only: bool = False):
    """The n x n triangular matrix whose entries, row by row, are the vector ``packed`` of
    length n (n + 1) / 2 (PyMC's packing: lower triangle row-major, or upper triangle
    row-major with ``lower=False``); ``diagonal_only`` returns just its diagonal.

    >>> expand_packed_triangular(2, np.array([1.0, 2.0, 3.0])).eval().tolist()
    [[1.0, 0.0], [2.0, 3.0]]
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"expand_packed_triangular: n must be a positive integer, got {n}")
    packed = pt.as_tensor_variable(packed)
    if packed.ndim != 1:
        raise ValueError(f"expand_packed_triangular: packed must be a vector, got {packed.ndim} dimensions")
    rows, cols = np.tril_indices(n) if lower else np.triu_indices(n)
    if diagonal_only:
        return packed[np.flatnonzero(rows == cols)]
    out = pt.zeros((n, n), dtype=packed.dtype)
    return pt.set_subtensor(out[rows, cols], packed)


def cartesian(*arrays) -> np.ndarray:
    """Every combination of one entry of each array, as rows (NumPy arrays in, one out).

    >>> cartesian([0, 1], [5]).tolist()
    [[0, 5], [1, 5]]
    """
    arrays = [np.asarray(a) for a in arrays]
    grids = np.meshgrid(*arrays, indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=-1)


def logbern(log_p, rng: np.random.Generator | None = None, size=None) -> np.ndarray:
    """Bernoulli draws given ``log p`` (``log(u) < log_p``, u uniform): safe for tiny p.

    >>> logbern(np.log(0.5), rng=np.random.default_rng(0), size=4).dtype
    dtype('bool')
    """
    log_p = np.asarray(log_p, dtype="float64")
    if np.isnan(log_p).any():
        raise FloatingPointError("logbern: log_p holds NaN")
    rng = np.random.default_rng() if rng is None else rng
    return np.log(rng.uniform(size=size if size is not None else log_p.shape)) < log_p
