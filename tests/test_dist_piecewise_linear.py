"""Triangular and Interpolated (symvi/distributions/piecewise_linear.py) against scipy and PyMC 5.

Triangular = scipy ``triang((c - lower) / (upper - lower), loc=lower, scale=upper - lower)``.
Interpolated's reference is scipy's linear spline (``InterpolatedUnivariateSpline(k=1,
ext="zeros")``, PyMC's own construction) with its antiderivative as the CDF, ``brentq`` for
quantiles and ``quad`` for moments.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.integrate as si
import scipy.optimize as so
import scipy.stats as st
from dist_checks import (
    check_batched_draws,
    FAST,
    INF,
    check_draws,
    check_icdf_outside_unit_is_nan,
    check_logcdf_icdf,
    check_logp,
    check_support_points,
    check_transform,
    check_value_gradient,
    evaluate,
)
from scipy.interpolate import InterpolatedUnivariateSpline

import symvi
from symvi import transforms
from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn


class InterpRef:
    def __init__(self, x, pdf):
        self.x = np.asarray(x, dtype=float)
        self.spline = InterpolatedUnivariateSpline(self.x, pdf, k=1, ext="zeros")
        self.z = self.spline.integral(self.x[0], self.x[-1])
        self.anti = self.spline.antiderivative()

    def logpdf(self, v):
        with np.errstate(divide="ignore"):
            return np.log(self.spline(np.asarray(v, dtype=float)) / self.z)

    def cdf(self, v):
        v = np.clip(np.asarray(v, dtype=float), self.x[0], self.x[-1])
        return np.clip((self.anti(v) - self.anti(self.x[0])) / self.z, 0.0, 1.0)

    def logcdf(self, v):
        with np.errstate(divide="ignore"):
            return np.log(self.cdf(v))

    def ppf(self, q):
        lo, hi = self.x[0], self.x[-1]
        return np.array([so.brentq(lambda v: self.cdf(v) - qi, lo, hi, xtol=1e-14, rtol=1e-14) for qi in np.atleast_1d(q)])

    def _moment(self, k):
        f = lambda v: v**k * self.spline(v) / self.z  # noqa: E731
        return si.quad(f, self.x[0], self.x[-1], points=self.x[1:-1], epsabs=1e-13, epsrel=1e-13)[0]

    def mean(self):
        return self._moment(1)

    def var(self):
        return self._moment(2) - self._moment(1) ** 2


XA, PA = np.array([0.0, 1.0, 2.0, 4.0]), np.array([1.0, 3.0, 2.0, 0.5])
XB, PB = np.array([-1.0, 0.0, 0.5, 3.0]), np.array([0.0, 2.0, 0.0, 1.0])  # zeros at isolated points
CASES = [
    ("Triangular", lambda **k: symvi.Triangular.dist(lower=-1.0, upper=3.0, c=0.5, **k), st.triang(0.375, -1.0, 4.0), (-1.0, 3.0)),
    ("Triangular-mode-at-upper", lambda **k: symvi.Triangular.dist(0.0, 2.0, 2.0, **k), st.triang(1.0, 0.0, 2.0), (0.0, 2.0)),
    ("Triangular-mode-at-lower", lambda **k: symvi.Triangular.dist(1.0, 4.0, c=1.0, **k), st.triang(0.0, 1.0, 3.0), (1.0, 4.0)),
    ("Triangular-default", lambda **k: symvi.Triangular.dist(**k), st.triang(0.5), (0.0, 1.0)),
    ("Interpolated", lambda **k: symvi.Interpolated.dist(XA, PA, **k), InterpRef(XA, PA), (0.0, 4.0)),
    ("Interpolated-zeros", lambda **k: symvi.Interpolated.dist(x_points=XB, pdf_points=PB, **k), InterpRef(XB, PB), (-1.0, 3.0)),
    ("Interpolated-ramp", lambda **k: symvi.Interpolated.dist([0.0, 2.0], [0.0, 5.0], **k), st.triang(1.0, 0.0, 2.0), (0.0, 2.0)),
]
EXTRA = {"Interpolated": [1.0, 2.0, 1.5], "Interpolated-zeros": [0.0, 0.5, 0.25, 1e-9]}


def test_logp_matches_reference():
    check_logp(CASES, EXTRA, rtol=1e-9)


def test_logcdf_and_icdf_match_reference():
    check_logcdf_icdf(CASES, EXTRA, rtol=1e-9)
    check_icdf_outside_unit_is_nan(CASES)


def test_logcdf_precise_near_one():
    """log F just below the upper end is -(1 - F), not a rounded 0."""
    got = evaluate(
        [
            (symvi.Triangular.dist(0.0, 1.0, 0.5), "logcdf", [1 - 1e-6]),
            (symvi.Interpolated.dist(XA, PA), "logcdf", [4 - 1e-6]),
        ]
    )
    tail_tri = 2 * (1e-6) ** 2  # (upper - x)^2 / ((upper - lower)(upper - c))
    np.testing.assert_allclose(got[0], -tail_tri, rtol=1e-6)
    z = InterpRef(XA, PA).z
    np.testing.assert_allclose(got[1], -(1e-6 * 0.5 / z), rtol=1e-5)  # density 0.5 / z at x = 4


def test_matches_pymc():
    """PyMC 5.28.5, from /tmp/venv-pymc: ``pm.logp / pm.logcdf / pm.icdf(rv, x).eval()`` for
    ``pm.Triangular.dist(lower=-1., upper=3., c=0.5)`` and ``pm.Interpolated.dist(XA, PA)``."""
    tri = symvi.Triangular.dist(lower=-1.0, upper=3.0, c=0.5)
    x, q = [-0.9, 0.1, 0.5, 2.5], [0.01, 0.3, 0.5, 0.95]
    want = [
        (tri, "logp", x, [-3.4011973816621555, -1.0033021088637848, -0.6931471805599453, -2.3025850929940455]),
        (tri, "logcdf", x, [-6.396929655216147, -1.6011391096194052, -0.9808292530117262, -0.025317807984289876]),
        (tri, "icdf", q, [-0.7550510257216823, 0.34164078649987384, 0.7639320225002102, 2.292893218813452]),
        (symvi.Interpolated.dist(XA, PA), "logp", [0.0, 0.5, 1.7, 3.9], [-1.9459101490553135, -1.252762968495368, -1.1130010261202092, -2.4992953872400996]),
    ]
    got = evaluate([(rv, fn, v) for rv, fn, v, _ in want])
    for (_, fn, _, ref), out in zip(want, got):
        np.testing.assert_allclose(out, ref, rtol=1e-9, err_msg=fn)


def test_value_gradient_matches_finite_differences():
    check_value_gradient(CASES)


def test_draws_match_reference():
    check_draws(CASES, seed=2)


def test_batched_parameters_give_independent_draws():
    check_batched_draws([lambda: symvi.Triangular.dist(np.zeros(4), 1.0, 0.5), lambda: symvi.Triangular.dist(0.0, np.ones(4), 0.0)])


def test_interpolated_batched_values_and_draw_shape():
    rv = symvi.Interpolated.dist(XA, PA, size=(2, 3))
    x = compile_fn([], rv, random_seed=2, mode=FAST)()
    assert x.shape == (2, 3) and len(np.unique(x)) == 6
    got = evaluate([(rv, "logp", x)])[0]
    np.testing.assert_allclose(got, InterpRef(XA, PA).logpdf(x), rtol=1e-9)


def test_support_points_and_interval_transforms():
    check_support_points(CASES)
    for _, make, _, (lo, hi) in CASES:
        check_transform(make(), transforms.Interval, lo, hi)
        info = dist_info(make())
        tr = info.cls.default_transform(info.params)
        np.testing.assert_allclose([tr.lower.eval(), tr.upper.eval()], [lo, hi])
    tri = symvi.Triangular.dist(-1.0, 3.0, 0.5)
    sp_ = pytensor.function([], dist_info(tri).cls.support_point(tri, **dist_info(tri).params), mode=FAST)()
    np.testing.assert_allclose(sp_, 2.5 / 3)  # the mean (lower + c + upper) / 3


@pytest.mark.parametrize(
    "make, param",
    [
        (lambda: symvi.Triangular("bad_var", lower=0.0, upper=1.0, c=1.5), "lower and c and upper"),
        (lambda: symvi.Triangular("bad_var", lower=0.0, upper=0.0, c=0.0), "lower and c and upper"),
        (lambda: symvi.Interpolated("bad_var", [0.0, 2.0, 1.0], [1.0, 1.0, 1.0]), "x_points"),
        # decreasing points make the total mass negative: the error must still name x_points (fuzz)
        (lambda: symvi.Interpolated("bad_var", [2.0, 1.0, 0.0], [1.0, 1.0, 1.0]), "x_points"),
        (lambda: symvi.Interpolated("bad_var", [0.0, 1.0], [1.0, -1.0]), "pdf_points"),
        (lambda: symvi.Interpolated("bad_var", [0.0, 1.0], [0.0, 0.0]), "pdf_points"),
        (lambda: symvi.Interpolated("bad_var", [0.0, 1.0, 2.0], [1.0, 1.0]), "pdf_points"),
        (lambda: symvi.Interpolated("bad_var", [0.0], [1.0]), "x_points"),
    ],
)
def test_constant_invalid_parameter_raises(make, param):
    with symvi.Model():
        with pytest.raises(ValueError, match=rf"'bad_var'.*parameter {param} must"):
            make()


def test_symbolic_triangular_checks_and_interpolated_wants_numbers():
    s = pt.dscalar("s")
    f = pytensor.function([s], dist_info(symvi.Triangular.dist(s, 1.0, 0.5)).logp(pt.as_tensor(0.6)), mode=FAST)
    assert f(0.7) == -INF and np.isfinite(f(0.0))  # lower 0.7 above c = 0.5
    with pytest.raises(TypeError, match="x_points"):
        symvi.Interpolated.dist(pt.dvector("x"), PA)


def test_model_with_latent_and_observed_piecewise_linear_variables():
    with symvi.Model() as m:
        t = symvi.Triangular("t", lower=0.0, upper=5.0, c=1.0)
        symvi.Interpolated("z", XA, PA, shape=3)
        symvi.Interpolated("obs", XA, PA, observed=np.array([0.5, 1.5, 3.0]))
        symvi.Triangular("y", lower=-1.0, upper=t + 2.0, c=0.0, observed=np.array([0.1, 0.5, 2.0]))
    point = m.initial_point()
    # z starts mid-segment [1, 2] (the first of the heaviest), on the interval (0, 4) scale
    np.testing.assert_allclose(point["z_interval__"], np.full(3, np.log(1.5 / 2.5)))
    logp = m.logp()
    f = pytensor.function(m.value_vars, [logp, *pytensor.grad(logp, m.value_vars)], mode=FAST)
    out = f(*[point[v.name] for v in m.value_vars])
    assert all(np.all(np.isfinite(o)) for o in out)
