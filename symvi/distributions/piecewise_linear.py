"""Distributions with piecewise-linear densities on a bounded interval: Triangular and Interpolated.

Their CDFs are piecewise quadratic, so ``logcdf`` and ``icdf`` are closed forms and draws
are inverse-CDF transforms of uniform draws (or pytensor's ``triangular``).  Both default
to the ``Interval`` transform between the ends of the support.

Examples
--------
>>> import symvi as sv
>>> x = sv.Triangular.dist(lower=0.0, upper=2.0, c=0.5, size=3).eval()
>>> bool(((x >= 0) & (x <= 2)).all())
True
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable
from pytensor.tensor.extra_ops import searchsorted

from symvi import transforms
from symvi.distributions.base import Continuous, bound
from symvi.distributions.cdf_math import icdf_in_range
from symvi.distributions.dist_math import LOG_2, _f

__all__ = ["Triangular", "Interpolated"]


class Triangular(Continuous):
    """Triangular distribution ``Triangular(lower=0, upper=1, c=0.5)`` with mode ``c``.

    Density ``2 (x - lower) / ((upper - lower)(c - lower))`` for ``lower <= x < c`` and
    ``2 (upper - x) / ((upper - lower)(upper - c))`` for ``c <= x <= upper``.

    ``lower <= c <= upper`` and ``lower < upper`` (PyMC's positional order is ``lower, upper,
    c``; the canonical order is ``lower, c, upper``).  Support: [lower, upper].  Mean
    ``(lower + c + upper) / 3``.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     t = sv.Triangular("t", lower=0.0, upper=10.0, c=3.0)
    """

    params = ("lower", "c", "upper")
    rv_op = rb.triangular
    support = "[lower, upper]"
    checks = [
        (
            ("lower", "c", "upper"),
            lambda lo, c, up: (lo <= c) & (c <= up) & (lo < up),
            "ordered: lower <= c <= upper, lower < upper",
        )
    ]

    @classmethod
    def parametrize(cls, lower=0.0, upper=1.0, c=0.5):
        return {"lower": _f(lower), "c": _f(c), "upper": _f(upper)}

    @staticmethod
    def logp(value, lower, c, upper):
        log_width = pt.log(upper - lower)
        left = LOG_2 + pt.log(value - lower) - log_width - pt.log(c - lower)
        right = LOG_2 + pt.log(upper - value) - log_width - pt.log(upper - c)
        at_mode = LOG_2 - log_width  # also when c is an end point (0/0 in either branch)
        lp = pt.switch(value < c, left, pt.switch(value > c, right, at_mode))
        return bound(lp, value >= lower, value <= upper)

    @staticmethod
    def logcdf(value, lower, c, upper):
        width = upper - lower
        left = 2 * pt.log(value - lower) - pt.log(width) - pt.log(c - lower)
        right = pt.log1p(-((upper - value) ** 2) / (width * (upper - c)))
        inner = pt.switch(value <= c, left, right)
        return pt.switch(value <= lower, -np.inf, pt.switch(value >= upper, 0.0, inner))

    @staticmethod
    def icdf(q, lower, c, upper):
        width = upper - lower
        x = pt.switch(
            q < (c - lower) / width,
            lower + pt.sqrt(width * (c - lower) * q),
            upper - pt.sqrt(width * (upper - c) * (1 - q)),
        )
        return icdf_in_range(x, q)

    @classmethod
    def default_transform(cls, params):
        return transforms.Interval(params["lower"], params["upper"])

    @classmethod
    def support_point(cls, rv, lower, c, upper):
        return (lower + c + upper) / 3  # the mean


def _increasing(x):
    return x[..., 1:] > x[..., :-1]


class Interpolated(Continuous):
    """The density through the points ``(x_points, pdf_points)``, linear in between, normalised.

    ``Interpolated(x_points, pdf_points)``: ``x_points`` strictly increasing (at least two),
    ``pdf_points >= 0`` of the same length and not all zero.  As in PyMC the density is
    divided by its integral (the trapezoid rule, exact for this density); canonical
    parameters are ``x_points``, the normalised ``pdf_points`` and ``cdf_points`` (the CDF at
    ``x_points``).  Both arrays must be numbers, not tensors (as in PyMC).  Support:
    [x_points[0], x_points[-1]]; the density is 0 (log density -inf) outside and wherever
    the interpolant is 0.  The support point is the middle of the segment with the most
    probability (inside the support, with positive density).

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model():
    ...     z = sv.Interpolated("z", np.array([0.0, 1.0, 3.0]), np.array([0.0, 2.0, 0.0]))
    """

    params = ("x_points", "pdf_points", "cdf_points")
    support = "[x_points[0], x_points[-1]]"
    checks = [(("x_points",), _increasing, "strictly increasing")]

    @classmethod
    def parametrize(cls, x_points=None, pdf_points=None):
        if x_points is None or pdf_points is None:
            raise TypeError("Interpolated: give x_points and pdf_points")
        for name, arr in (("x_points", x_points), ("pdf_points", pdf_points)):
            if isinstance(arr, Variable):
                raise TypeError(f"Interpolated: {name} must be an array of numbers, not a tensor (as in PyMC)")
        x = np.asarray(x_points, dtype="float64")
        pdf = np.asarray(pdf_points, dtype="float64")
        if x.ndim != 1 or x.shape[0] < 2:
            raise ValueError(f"parameter x_points must be a vector of at least 2 points, got shape {x.shape}")
        if not np.all(np.diff(x) > 0):  # before the masses, whose sign it decides
            raise ValueError(f"parameter x_points must be strictly increasing, got x_points={np.array2string(x, threshold=6)}")
        if pdf.shape != x.shape:
            raise ValueError(f"parameter pdf_points must have the shape of x_points {x.shape}, got {pdf.shape}")
        if not np.all(pdf >= 0):
            raise ValueError(f"parameter pdf_points must be >= 0, got pdf_points={np.array2string(pdf, threshold=6)}")
        masses = np.diff(x) * (pdf[1:] + pdf[:-1]) / 2
        total = masses.sum()
        if not total > 0:
            raise ValueError("parameter pdf_points must not be all 0 (the density integrates to 0)")
        cdf = np.concatenate([[0.0], np.cumsum(masses)]) / total
        cdf[-1] = 1.0
        return {"x_points": x, "pdf_points": pdf / total, "cdf_points": cdf}

    @classmethod
    def rv_graph(cls, params, size, rng):
        u = rb.uniform(0.0, 1.0, size=size, rng=rng)
        return cls.icdf(u, params["x_points"], params["pdf_points"], params["cdf_points"])

    @staticmethod
    def _segment(value, x_points, pdf_points):
        """Per value: the segment's left end, width, end densities and the density at value."""
        n = x_points.shape[0]
        i = pt.clip(searchsorted(x_points, value, side="right") - 1, 0, n - 2)
        x0, x1 = x_points[i], x_points[i + 1]
        p0, p1 = pdf_points[i], pdf_points[i + 1]
        t = pt.clip((value - x0) / (x1 - x0), 0.0, 1.0)
        return i, x0, x1, p0, p1, p0 + (p1 - p0) * t

    @staticmethod
    def logp(value, x_points, pdf_points, cdf_points):
        _, _, _, _, _, pdf = Interpolated._segment(value, x_points, pdf_points)
        return bound(pt.log(pdf), value >= x_points[0], value <= x_points[-1])

    @staticmethod
    def logcdf(value, x_points, pdf_points, cdf_points):
        i, x0, x1, p0, p1, pdf = Interpolated._segment(value, x_points, pdf_points)
        v = pt.clip(value, x0, x1)
        below = cdf_points[i] + (v - x0) * (p0 + pdf) / 2  # trapezoids: exact for linear pdf
        above = (1 - cdf_points[i + 1]) + (x1 - v) * (pdf + p1) / 2  # 1 - F, precise near 1
        inner = pt.switch(below < 0.5, pt.log(below), pt.log1p(-above))
        return pt.switch(value <= x_points[0], -np.inf, pt.switch(value >= x_points[-1], 0.0, inner))

    @staticmethod
    def icdf(q, x_points, pdf_points, cdf_points):
        n = x_points.shape[0]
        i = pt.clip(searchsorted(cdf_points, q, side="left") - 1, 0, n - 2)
        x0, x1 = x_points[i], x_points[i + 1]
        p0, p1 = pdf_points[i], pdf_points[i + 1]
        slope = (p1 - p0) / (x1 - x0)
        r = pt.maximum(q - cdf_points[i], 0.0)
        # p0 d + slope d^2 / 2 = r, in the form without cancellation (and finite at slope 0)
        denom = p0 + pt.sqrt(pt.maximum(p0**2 + 2 * slope * r, 0.0))
        d = pt.switch(denom > 0, 2 * r / pt.switch(denom > 0, denom, 1.0), 0.0)
        return icdf_in_range(x0 + pt.clip(d, 0.0, x1 - x0), q)

    @classmethod
    def default_transform(cls, params):
        x = params["x_points"]
        return transforms.Interval(x[0], x[-1])

    @classmethod
    def support_point(cls, rv, x_points, pdf_points, cdf_points):
        heaviest = pt.argmax(cdf_points[1:] - cdf_points[:-1])
        mid = (x_points[heaviest] + x_points[heaviest + 1]) / 2
        return pt.zeros_like(rv, dtype=mid.dtype) + mid
