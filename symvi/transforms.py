"""Bijections between a distribution's support and unconstrained real space.

Each transform has ``forward`` (constrained -> unconstrained), ``backward``
(unconstrained -> constrained) and ``log_jac_det(y)`` = log |d backward(y) / dy|, summed over
the event axes the transform couples (the last axis for ``simplex`` and ``ordered``).

Examples
--------
>>> import numpy as np, pytensor.tensor as pt
>>> y = pt.dvector("y")
>>> float(log.backward(y).eval({y: np.zeros(1)})[0])
1.0
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

__all__ = [
    "Transform",
    "log",
    "logodds",
    "Interval",
    "LowerBound",
    "UpperBound",
    "simplex",
    "ordered",
    "Ordered",
    "Chain",
]


class Transform:
    """Base class. ``name`` is used in value-variable names (``sigma_log__``)."""

    name: str = "transform"
    ndim_event: int = 0  # event axes reduced by log_jac_det

    def forward(self, x):  # constrained -> unconstrained
        raise NotImplementedError  # abstract

    def backward(self, y):  # unconstrained -> constrained
        raise NotImplementedError  # abstract

    def log_jac_det(self, y):
        raise NotImplementedError  # abstract

    def unconstrained_shape(self, shape: tuple) -> tuple:
        return tuple(shape)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class LogTransform(Transform):
    name = "log"

    def forward(self, x):
        return pt.log(x)

    def backward(self, y):
        return pt.exp(y)

    def log_jac_det(self, y):
        return y


class LogOddsTransform(Transform):
    name = "logodds"

    def forward(self, x):
        return pt.log(x) - pt.log1p(-x)

    def backward(self, y):
        return pt.sigmoid(y)

    def log_jac_det(self, y):
        return -pt.softplus(-y) - pt.softplus(y)


class Interval(Transform):
    """(lower, upper) <-> R via a scaled logit."""

    name = "interval"

    def __init__(self, lower, upper):
        self.lower = pt.as_tensor_variable(lower)
        self.upper = pt.as_tensor_variable(upper)

    def forward(self, x):
        a, b = self.lower, self.upper
        return pt.log(x - a) - pt.log(b - x)

    def backward(self, y):
        a, b = self.lower, self.upper
        return a + (b - a) * pt.sigmoid(y)

    def log_jac_det(self, y):
        a, b = self.lower, self.upper
        return pt.log(b - a) - pt.softplus(-y) - pt.softplus(y)


class LowerBound(Transform):
    """(lower, inf) <-> R via log(x - lower)."""

    name = "lowerbound"

    def __init__(self, lower):
        self.lower = pt.as_tensor_variable(lower)

    def forward(self, x):
        return pt.log(x - self.lower)

    def backward(self, y):
        return pt.exp(y) + self.lower

    def log_jac_det(self, y):
        return y


class UpperBound(Transform):
    """(-inf, upper) <-> R via log(upper - x)."""

    name = "upperbound"

    def __init__(self, upper):
        self.upper = pt.as_tensor_variable(upper)

    def forward(self, x):
        return pt.log(self.upper - x)

    def backward(self, y):
        return self.upper - pt.exp(y)

    def log_jac_det(self, y):
        return y


class SimplexTransform(Transform):
    """K-simplex <-> R^(K-1): additive log-ratio against the last component.

    backward(y) = softmax([y, 0]); the Jacobian of the map to the first K-1 components has
    log-determinant sum(log x_k) over all K components.
    """

    name = "simplex"
    ndim_event = 1

    def forward(self, x):
        # x[..., -1:] would not be broadcastable when the length is only known at run time
        return pt.log(x[..., :-1]) - pt.shape_padright(pt.log(x[..., -1]))

    def backward(self, y):
        z = pt.concatenate([y, pt.zeros_like(y[..., :1])], axis=-1)
        return pt.special.softmax(z, axis=-1)

    def log_jac_det(self, y):
        z = pt.concatenate([y, pt.zeros_like(y[..., :1])], axis=-1)
        return pt.sum(pt.special.log_softmax(z, axis=-1), axis=-1)

    def unconstrained_shape(self, shape):
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class OrderedTransform(Transform):
    """Increasing vectors <-> R^K: y_0 = x_0, y_k = log(x_k - x_{k-1}).

    PyMC's ``Ordered`` options: ``positive=True`` maps the first element through ``log`` too
    (positive increasing vectors, y_0 = log x_0); ``ascending=False`` is for decreasing vectors
    (the map acts on the reversed vector; reversing does not change |det J|).

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> y = pt.dvector("y")
    >>> OrderedTransform(positive=True, ascending=False).backward(y).eval({y: np.zeros(3)}).tolist()
    [3.0, 2.0, 1.0]
    """

    name = "ordered"
    ndim_event = 1

    def __init__(self, positive: bool = False, ascending: bool = True):
        self.positive = bool(positive)
        self.ascending = bool(ascending)

    def forward(self, x):
        if not self.ascending:
            x = x[..., ::-1]
        first = pt.log(x[..., :1]) if self.positive else x[..., :1]
        return pt.concatenate([first, pt.log(pt.diff(x, axis=-1))], axis=-1)

    def backward(self, y):
        first = pt.exp(y[..., :1]) if self.positive else y[..., :1]
        x = pt.cumsum(pt.concatenate([first, pt.exp(y[..., 1:])], axis=-1), axis=-1)
        return x if self.ascending else x[..., ::-1]

    def log_jac_det(self, y):
        return pt.sum(y if self.positive else y[..., 1:], axis=-1)

    def __repr__(self) -> str:
        return f"OrderedTransform(positive={self.positive}, ascending={self.ascending})"


class Chain(Transform):
    """Compose transforms: ``Chain([a, b]).forward(x) == b.forward(a.forward(x))``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        self.name = "_".join(t.name for t in self.transforms)
        self.ndim_event = max(t.ndim_event for t in self.transforms)

    def forward(self, x):
        for t in self.transforms:
            x = t.forward(x)
        return x

    def backward(self, y):
        for t in reversed(self.transforms):
            y = t.backward(y)
        return y

    def log_jac_det(self, y):
        total = 0
        for t in reversed(self.transforms):
            jac = t.log_jac_det(y)
            if t.ndim_event < self.ndim_event:
                jac = pt.sum(jac, axis=tuple(range(-self.ndim_event, 0)))
            total = total + jac
            y = t.backward(y)
        return total

    def unconstrained_shape(self, shape):
        for t in self.transforms:
            shape = t.unconstrained_shape(shape)
        return shape


log = LogTransform()
logodds = LogOddsTransform()
simplex = SimplexTransform()
ordered = OrderedTransform()
Ordered = OrderedTransform  # PyMC's class name: Ordered(positive=True), Ordered(ascending=False)


def numeric_log_jac(transform: Transform, y: np.ndarray, eps: float = 1e-6) -> float:
    """Finite-difference log|det J| of ``backward`` at ``y`` (1-D ``y``; used by tests)."""
    import pytensor

    yv = pt.dvector("y")
    f = pytensor.function([yv], transform.backward(yv).flatten())
    base = f(y)
    cols = []
    for i in range(y.size):
        step = np.zeros_like(y)
        step[i] = eps
        cols.append((f(y + step) - f(y - step)) / (2 * eps))
    jac = np.stack(cols, axis=1)
    if jac.shape[0] != jac.shape[1]:  # simplex: drop the dependent last component
        jac = jac[: jac.shape[1]]
    del base
    return float(np.linalg.slogdet(jac)[1])


# ---------------------------------------------------------------------- multivariate supports
def _pairs_lower(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the strictly lower triangle, column by column.

    The pair (i, j) at position p is the transpose of ``np.triu_indices(n, 1)``'s p-th pair,
    so a packed vector of upper-triangle correlations and the column-major lower triangle
    share one ordering.
    """
    rows, cols = np.triu_indices(n, 1)
    return cols, rows


def _log1m_tanh_sq(y):
    """log(1 - tanh(y)^2) = 2 (log 2 - |y| - log(1 + exp(-2|y|))), stable for large |y|."""
    a = pt.abs(y)
    return 2.0 * (np.log(2.0) - a - pt.softplus(-2.0 * a))


class ZeroSumTransform(Transform):
    """Arrays summing to zero over their last ``n_axes`` axes <-> arrays one shorter on each.

    Along each zero-sum axis of length K the map is the Householder reflection ``H`` that sends
    the last unit vector to ``-1/sqrt(K)``: ``backward`` embeds ``y`` as ``H [y, 0]``, which is
    orthogonal to the ones vector.  The embedding is an isometry onto the zero-sum subspace, so
    the log-Jacobian (with respect to that subspace's own volume) is 0.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> y = pt.dvector("y")
    >>> x = ZeroSumTransform(1).backward(y).eval({y: np.array([1.0, 2.0])})
    >>> bool(abs(x.sum()) < 1e-12)
    True
    """

    name = "zerosum"

    def __init__(self, n_axes: int = 1):
        if not isinstance(n_axes, int | np.integer) or n_axes < 1:
            raise ValueError(f"ZeroSumTransform: n_axes must be a positive integer, got {n_axes!r}")
        self.n_axes = int(n_axes)
        self.ndim_event = self.n_axes

    @staticmethod
    def _embed(y, axis):
        k = (y.shape[axis] + 1).astype(y.dtype)  # length of the zero-sum axis
        s = pt.sum(y, axis=axis, keepdims=True)
        shift = s / (pt.sqrt(k) * (pt.sqrt(k) + 1.0))
        return pt.concatenate([y - shift, -s / pt.sqrt(k)], axis=axis)

    @staticmethod
    def _project(x, axis):
        k = x.shape[axis].astype(x.dtype)
        last = pt.take(x, [-1], axis=axis)
        index = [slice(None)] * x.ndim
        index[axis] = slice(None, -1)
        return x[tuple(index)] - last / (pt.sqrt(k) + 1.0)

    def forward(self, x):
        for axis in range(x.ndim - self.n_axes, x.ndim):
            x = self._project(x, axis)
        return x

    def backward(self, y):
        for axis in range(y.ndim - self.n_axes, y.ndim):
            y = self._embed(y, axis)
        return y

    def log_jac_det(self, y):
        return pt.zeros_like(pt.sum(y, axis=tuple(range(-self.n_axes, 0))))

    def unconstrained_shape(self, shape):
        cut = len(shape) - self.n_axes
        return tuple(shape[:cut]) + tuple(s - 1 for s in shape[cut:])

    def __repr__(self) -> str:
        return f"ZeroSumTransform(n_axes={self.n_axes})"


class StickBreakingTransform(Transform):
    """K+1 simplex <-> R^K by breaking a unit stick: ``x_k = z_k * (what is left)``.

    ``z_k = sigmoid(y_k - log(K - k))`` (k = 0..K-1): the offset maps ``y = 0`` to equal
    weights.  The Jacobian of the first K weights is triangular with diagonal
    ``rest_k z_k (1 - z_k)``.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> y = pt.dvector("y")
    >>> stick_breaking.backward(y).eval({y: np.zeros(3)}).round(3).tolist()
    [0.25, 0.25, 0.25, 0.25]
    """

    name = "stickbreaking"
    ndim_event = 1

    @staticmethod
    def _offset(k):
        return pt.log((k - pt.arange(k)).astype("float64"))

    def _parts(self, y):
        u = y - self._offset(y.shape[-1])
        log_z = -pt.softplus(-u)
        log_1mz = -pt.softplus(u)
        log_rest = pt.cumsum(log_1mz, axis=-1) - log_1mz  # log of the stick left before piece k
        return log_z, log_1mz, log_rest

    def forward(self, x):
        tail = pt.cumsum(x[..., ::-1], axis=-1)[..., ::-1]  # tail[k] = x_k + ... + x_K
        z = x[..., :-1] / tail[..., :-1]
        return pt.log(z) - pt.log1p(-z) + self._offset(x.shape[-1] - 1)

    def backward(self, y):
        log_z, log_1mz, log_rest = self._parts(y)
        last = pt.exp(pt.sum(log_1mz, axis=-1, keepdims=True))
        return pt.concatenate([pt.exp(log_z + log_rest), last], axis=-1)

    def log_jac_det(self, y):
        log_z, log_1mz, log_rest = self._parts(y)
        return pt.sum(log_rest + log_z + log_1mz, axis=-1)

    def unconstrained_shape(self, shape):
        return tuple(shape[:-1]) + (shape[-1] - 1,)


class CholeskyCovPacked(Transform):
    """Packed lower Cholesky factors (row-major ``np.tril_indices``) <-> R^(n(n+1)/2).

    The diagonal entries (positive) are logged, the others are left as they are.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> y = pt.dvector("y")
    >>> CholeskyCovPacked(2).backward(y).eval({y: np.zeros(3)}).tolist()
    [1.0, 0.0, 1.0]
    """

    name = "cholesky-cov-packed"
    ndim_event = 1

    def __init__(self, n: int):
        self.n = int(n)
        self.diag = np.cumsum(np.arange(1, self.n + 1)) - 1

    def forward(self, x):
        return pt.set_subtensor(x[..., self.diag], pt.log(x[..., self.diag]))

    def backward(self, y):
        return pt.set_subtensor(y[..., self.diag], pt.exp(y[..., self.diag]))

    def log_jac_det(self, y):
        return pt.sum(y[..., self.diag], axis=-1)

    def __repr__(self) -> str:
        return f"CholeskyCovPacked(n={self.n})"


class CorrCholeskyPacked(Transform):
    """Correlation matrices, packed as their upper triangle (``np.triu_indices(n, 1)`` order),
    <-> R^(n(n-1)/2) through canonical partial correlations ``z = tanh(y)``.

    Row i of the Cholesky factor is ``L[i, j] = z[i, j] * prod_{k<j} sqrt(1 - z[i, k]^2)`` with
    ``L[i, i]`` closing the row to unit length, so every ``y`` gives a positive-definite
    correlation matrix ``L L^T``.  log|J| = sum over pairs of ``(n - j)/2 * log(1 - z[i, j]^2)``
    (j the column of the pair in the lower triangle): ``(n - j - 2)/2`` from the partial
    correlations to the matrix (Lewandowski, Kurowicka and Joe 2009) plus 1 from tanh.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> y = pt.dvector("y")
    >>> CorrCholeskyPacked(2).backward(y).eval({y: np.array([np.arctanh(0.5)])}).round(6).tolist()
    [0.5]
    """

    name = "corr-cholesky"
    ndim_event = 1

    def __init__(self, n: int):
        self.n = int(n)
        self.rows, self.cols = _pairs_lower(self.n)

    def chol(self, y):
        """Lower Cholesky factor of the correlation matrix ``backward(y)`` stands for."""
        n = self.n
        shape = pt.concatenate([pt.as_tensor(y.shape[:-1], dtype="int64"), [n, n]]) if y.ndim > 1 else (n, n)
        z = pt.set_subtensor(pt.zeros(shape, dtype=y.dtype)[..., self.rows, self.cols], pt.tanh(y))
        log1m = pt.set_subtensor(pt.zeros(shape, dtype=y.dtype)[..., self.rows, self.cols], _log1m_tanh_sq(y))
        before = pt.cumsum(log1m, axis=-1) - log1m  # sum_{k<j} log(1 - z_ik^2)
        diag = np.arange(n)
        z = pt.set_subtensor(z[..., diag, diag], 1.0)  # (not `+ eye`: a pytensor rewrite trips on it)
        return z * pt.exp(0.5 * before)

    def forward(self, x):
        from pytensor.tensor.linalg import cholesky

        n = self.n
        corr = unpack_corr(x, n)
        lower = cholesky(corr, lower=True)
        sq = lower**2
        rest = 1.0 - (pt.cumsum(sq, axis=-1) - sq)
        z = lower[..., self.rows, self.cols] / pt.sqrt(rest[..., self.rows, self.cols])
        return pt.arctanh(z)

    def backward(self, y):
        lower = self.chol(y)
        corr = lower @ pt.swapaxes(lower, -1, -2)
        return corr[..., self.cols, self.rows]  # upper triangle, row-major

    def log_jac_det(self, y):
        weights = 0.5 * (self.n - self.cols).astype("float64")
        return pt.sum(weights * _log1m_tanh_sq(y), axis=-1)

    def __repr__(self) -> str:
        return f"CorrCholeskyPacked(n={self.n})"


def unpack_corr(packed, n: int):
    """Full correlation matrices from upper-triangle vectors (``np.triu_indices(n, 1)`` order)."""
    packed = pt.as_tensor_variable(packed)
    rows, cols = np.triu_indices(n, 1)
    shape = pt.concatenate([pt.as_tensor(packed.shape[:-1], dtype="int64"), [n, n]]) if packed.ndim > 1 else (n, n)
    out = pt.zeros(shape, dtype=packed.dtype)
    out = pt.set_subtensor(out[..., rows, cols], packed)
    out = pt.set_subtensor(out[..., cols, rows], packed)
    diag = np.arange(n)
    return pt.set_subtensor(out[..., diag, diag], 1.0)


class CholeskyMatrix(Transform):
    """Symmetric positive-definite n x n matrices <-> R^(n(n+1)/2) via ``X = L L^T``.

    ``y`` packs the lower triangle of ``L`` row by row with the diagonal logged.  The density of
    ``X`` is over its lower triangle, and log|dX/dy| = n log 2 + sum_i (n - i + 1) log L_ii
    (i = 0..n-1; the ``+1`` is the log of the diagonal).

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> y = pt.dvector("y")
    >>> CholeskyMatrix(2).backward(y).eval({y: np.zeros(3)}).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """

    name = "cholesky"
    ndim_event = 2

    def __init__(self, n: int):
        self.n = int(n)
        self.rows, self.cols = np.tril_indices(self.n)
        self.diag = np.cumsum(np.arange(1, self.n + 1)) - 1

    def chol(self, y):
        n = self.n
        shape = pt.concatenate([pt.as_tensor(y.shape[:-1], dtype="int64"), [n, n]]) if y.ndim > 1 else (n, n)
        entries = pt.set_subtensor(y[..., self.diag], pt.exp(y[..., self.diag]))
        return pt.set_subtensor(pt.zeros(shape, dtype=y.dtype)[..., self.rows, self.cols], entries)

    def forward(self, x):
        from pytensor.tensor.linalg import cholesky

        lower = cholesky(x, lower=True)[..., self.rows, self.cols]
        return pt.set_subtensor(lower[..., self.diag], pt.log(lower[..., self.diag]))

    def backward(self, y):
        lower = self.chol(y)
        return lower @ pt.swapaxes(lower, -1, -2)

    def log_jac_det(self, y):
        weights = (self.n + 1 - np.arange(self.n)).astype("float64")
        return self.n * np.log(2.0) + pt.sum(weights * y[..., self.diag], axis=-1)

    def unconstrained_shape(self, shape):
        return tuple(shape[:-2]) + (self.n * (self.n + 1) // 2,)

    def __repr__(self) -> str:
        return f"CholeskyMatrix(n={self.n})"


stick_breaking = StickBreakingTransform()
__all__ += ["ZeroSumTransform", "StickBreakingTransform", "CholeskyCovPacked", "CorrCholeskyPacked", "CholeskyMatrix", "stick_breaking"]
