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
