"""The Rice distribution: the length of a bivariate normal vector with a non-zero mean.

Examples
--------
>>> import symvi as sv
>>> r = sv.Rice.dist(nu=2.0, sigma=1.0, size=3).eval()
>>> bool((r > 0).all())
True
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable

from symvi import transforms
from symvi.distributions.base import Continuous, bound, nonneg, positive
from symvi.distributions.dist_math import _batch_size, _f
from symvi.distributions.special_ops import chndtr
from symvi.pytensorf import new_rng

__all__ = ["Rice"]


class Rice(Continuous):
    """Rice distribution ``Rice(nu, sigma=1)`` or ``Rice(b=, sigma=)`` with ``b = nu / sigma``.

    Density ``x / sigma**2 exp(-(x**2 + nu**2) / (2 sigma**2)) I0(x nu / sigma**2)``.

    The distribution of ``sqrt(X**2 + Y**2)`` for independent ``X ~ Normal(nu, sigma)`` and
    ``Y ~ Normal(0, sigma)``; ``nu >= 0`` (noncentrality), ``sigma > 0``.  ``nu = 0`` is the
    Rayleigh distribution.  Support: (0, inf); the default transform is log.  Canonical
    parameters are PyMC's ``(b, sigma)``.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     r = sv.Rice("r", nu=3.0, sigma=0.5)
    """

    params = ("b", "sigma")
    support = "(0, inf)"
    # sigma first: b = nu / sigma is negative whenever sigma is, and the error must name sigma
    checks = [(("sigma",), positive, "> 0"), (("b",), nonneg, ">= 0 (nu >= 0)")]

    @classmethod
    def parametrize(cls, nu=None, sigma=None, b=None):
        if (nu is None) == (b is None):
            raise TypeError("Rice: give exactly one of nu or b (= nu / sigma)")
        sigma = _f(1.0 if sigma is None else sigma)
        if b is None:
            if not isinstance(nu, Variable) and not np.all(np.asarray(nu, dtype="float64") >= 0):
                raise ValueError(f"parameter nu must be >= 0, got nu={np.array2string(np.asarray(nu), threshold=6)}")
            with np.errstate(divide="ignore", invalid="ignore"):  # sigma <= 0: the checks name it
                b = _f(nu) / sigma
        return {"b": _f(b), "sigma": sigma}

    @classmethod
    def rv_graph(cls, params, size, rng):
        b, sigma = params["b"], params["sigma"]
        size = _batch_size(size, b, sigma)
        x = rb.normal(b, 1.0, size=size, rng=rng)
        y = rb.normal(0.0, 1.0, size=size, rng=new_rng())
        return sigma * pt.sqrt(x**2 + y**2)

    @staticmethod
    def logp(value, b, sigma):
        inside = value > 0
        x = pt.switch(inside, value, 1.0) / sigma
        # log I0(x b) = log ive(0, x b) + x b, folded into the square
        lp = pt.log(x) - 0.5 * (x - b) ** 2 + pt.log(pt.ive(0.0, x * b)) - pt.log(sigma)
        return bound(lp, inside)

    @staticmethod
    def logcdf(value, b, sigma):
        # (value / sigma)^2 is noncentral chi-square with 2 degrees of freedom and noncentrality
        # b^2: F = chndtr((x/sigma)^2, 2, b^2) = 1 - Q_1(b, x/sigma) (Marcum's Q)
        inside = value > 0
        # outside, a point where F is far from 0 (F underflowing there would put 0 * inf = NaN
        # into the gradients of the branch not taken)
        y = pt.switch(inside, value / sigma, b + 1.0)
        return pt.switch(inside, pt.log(chndtr(y**2, 2.0, b**2)), -np.inf)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, b, sigma):
        # the mean, sigma sqrt(pi/2) L_{1/2}(-b^2/2), with exponentially scaled Bessel functions
        y = b**2 / 4
        return sigma * np.sqrt(np.pi / 2) * ((1 + 2 * y) * pt.ive(0.0, y) + 2 * y * pt.ive(1.0, y))
