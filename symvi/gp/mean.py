"""Mean functions for Gaussian processes, under PyMC's names (``pm.gp.mean``).

A mean function maps the ``n x d`` inputs ``X`` to a length-``n`` vector; they combine with
``+`` and ``*``.

Example
-------
>>> import numpy as np
>>> from symvi.gp import mean
>>> m = mean.Linear(coeffs=np.array([2.0]), intercept=1.0) + mean.Constant(0.5)
>>> m(np.array([[0.0], [1.0]])).eval()
array([1.5, 3.5])
"""

from __future__ import annotations

import pytensor.tensor as pt

__all__ = ["Mean", "Zero", "Constant", "Linear", "Add", "Prod"]


def _n_rows(X):
    X = pt.as_tensor_variable(X)
    if X.ndim != 2:
        raise ValueError(f"mean function: X must be 2-d (n points x input columns), got {X.ndim}-d")
    return X.shape[0]


class Mean:
    """Base class of mean functions: subclasses define ``__call__(X)``."""

    def __call__(self, X):
        raise TypeError(f"{type(self).__name__} is abstract: use Zero, Constant or Linear, or define __call__")

    def __add__(self, other):
        return Add(self, other)

    def __mul__(self, other):
        return Prod(self, other)


class Zero(Mean):
    """``m(x) = 0``."""

    def __call__(self, X):
        return pt.zeros((_n_rows(X),), dtype="float64")


class Constant(Mean):
    """``m(x) = c`` (a number or a scalar tensor)."""

    def __init__(self, c=0):
        self.c = c

    def __call__(self, X):
        return pt.ones((_n_rows(X),), dtype="float64") * self.c


class Linear(Mean):
    """``m(x) = x . coeffs + intercept``."""

    def __init__(self, coeffs, intercept=0):
        self.A, self.b = coeffs, intercept

    def __call__(self, X):
        _n_rows(X)
        out = pt.dot(pt.as_tensor_variable(X), self.A) + self.b
        return out[:, 0] if out.ndim == 2 and out.type.shape[1] == 1 else out


class Add(Mean):
    """``m1(x) + m2(x)``."""

    def __init__(self, first_mean: Mean, second_mean: Mean):
        self.m1, self.m2 = first_mean, second_mean

    def __call__(self, X):
        return self.m1(X) + self.m2(X)


class Prod(Mean):
    """``m1(x) * m2(x)``."""

    def __init__(self, first_mean: Mean, second_mean: Mean):
        self.m1, self.m2 = first_mean, second_mean

    def __call__(self, X):
        return self.m1(X) * self.m2(X)
