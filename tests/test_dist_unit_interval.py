"""Kumaraswamy and LogitNormal (symvi/distributions/unit_interval.py) against hand formulas and PyMC 5.

scipy has neither, so the references below are written from the textbook formulas
(Kumaraswamy: F(x) = 1 - (1 - x^a)^b; LogitNormal: logit(X) ~ Normal(mu, sigma)); moments
by numerical integration.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.integrate as si
import scipy.special as sp
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

import symvi
from symvi import transforms
from symvi.distributions import dist_info


class KumaraswamyRef:
    def __init__(self, a, b):
        self.a, self.b = a, b

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        a, b = self.a, self.b
        with np.errstate(all="ignore"):
            lp = np.log(a * b) + sp.xlogy(a - 1, x) + sp.xlog1py(b - 1, -(x**a))
        return np.where((x >= 0) & (x <= 1), lp, -INF)

    def cdf(self, x):
        x = np.clip(np.asarray(x, dtype=float), 0, 1)
        return -np.expm1(self.b * np.log1p(-(x**self.a)))

    def logcdf(self, x):
        with np.errstate(divide="ignore"):
            return np.log(self.cdf(x))

    def ppf(self, q):
        return (-np.expm1(np.log1p(-np.asarray(q)) / self.b)) ** (1 / self.a)

    def mean(self):
        return self.b * sp.beta(1 + 1 / self.a, self.b)

    def var(self):
        return self.b * sp.beta(1 + 2 / self.a, self.b) - self.mean() ** 2


class LogitNormalRef:
    def __init__(self, mu, sigma):
        self.norm = st.norm(mu, sigma)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        inside = (x > 0) & (x < 1)
        xs = np.where(inside, x, 0.5)
        lp = self.norm.logpdf(sp.logit(xs)) - np.log(xs) - np.log1p(-xs)
        return np.where(inside, lp, -INF)

    def cdf(self, x):
        x = np.clip(np.asarray(x, dtype=float), 0, 1)
        with np.errstate(divide="ignore"):
            return self.norm.cdf(sp.logit(x))

    def logcdf(self, x):
        x = np.clip(np.asarray(x, dtype=float), 0, 1)
        with np.errstate(divide="ignore"):
            return self.norm.logcdf(sp.logit(x))

    def ppf(self, q):
        return sp.expit(self.norm.ppf(q))

    def _moment(self, k):
        return si.quad(lambda z: sp.expit(z) ** k * self.norm.pdf(z), -np.inf, np.inf, epsabs=1e-13)[0]

    def mean(self):
        return self._moment(1)

    def var(self):
        return self._moment(2) - self._moment(1) ** 2


U = (0.0, 1.0)
CASES = [
    ("Kumaraswamy", lambda **k: symvi.Kumaraswamy.dist(2.0, 3.0, **k), KumaraswamyRef(2.0, 3.0), U),
    ("Kumaraswamy-U", lambda **k: symvi.Kumaraswamy.dist(a=0.5, b=0.5, **k), KumaraswamyRef(0.5, 0.5), U),
    ("Kumaraswamy-ones", lambda **k: symvi.Kumaraswamy.dist(1, 1, **k), KumaraswamyRef(1.0, 1.0), U),
    ("LogitNormal", lambda **k: symvi.LogitNormal.dist(0.3, 0.8, **k), LogitNormalRef(0.3, 0.8), U),
    ("LogitNormal-tau", lambda **k: symvi.LogitNormal.dist(-1.0, tau=4.0, **k), LogitNormalRef(-1.0, 0.5), U),
    ("LogitNormal-wide", lambda **k: symvi.LogitNormal.dist(mu=2.0, sigma=3.0, **k), LogitNormalRef(2.0, 3.0), U),
]
EXTRA = {"Kumaraswamy": [1e-8, 1 - 1e-9], "LogitNormal": [1e-6, 1 - 1e-6], "LogitNormal-wide": [1e-12, 1 - 1e-12]}


def test_logp_matches_reference():
    check_logp(CASES, EXTRA, rtol=1e-9)


def test_logcdf_and_icdf_match_reference():
    check_logcdf_icdf(CASES, EXTRA, rtol=1e-9)
    check_icdf_outside_unit_is_nan(CASES)


def test_kumaraswamy_logcdf_tails():
    """log F near 0 (F ~ x^a b) and near 1 (log F ~ -(1 - x^a)^b) without rounding to 0 / -inf."""
    x = np.array([1e-150, 1 - 1e-12])
    got = evaluate([(symvi.Kumaraswamy.dist(2.0, 3.0), "logcdf", x)])[0]
    want = [np.log(3.0) + 2 * np.log(1e-150), -((1 - (1 - 1e-12) ** 2) ** 3)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_matches_pymc():
    """PyMC 5.28.5 reference values, from /tmp/venv-pymc: ``pm.logp / pm.logcdf / pm.icdf(rv,
    x).eval()`` with the same arguments given as ``np.float64``."""
    x = [0.01, 0.2, 0.5, 0.99]
    q = [0.01, 0.3, 0.5, 0.95]
    kum = symvi.Kumaraswamy.dist(2.0, 3.0)
    want = [
        (kum, "logp", x, [-2.8136107267607025, 0.10067756775344434, 0.5232481437645478, -6.052361961128824]),
        (kum, "logcdf", x, [-8.11182808497474, -2.160530129428646, -0.5479651707154475, -7.880630052083486e-06]),
        (kum, "icdf", q, [0.05783170918625556, 0.3348074047230725, 0.4542020189474065, 0.7947306777367797]),
        (symvi.LogitNormal.dist(0.3, 0.8), "logp", x, [-14.801041918784568, -1.084767168411482, 0.6201868792294276, -10.493117059283353]),
        (symvi.LogitNormal.dist(-1.0, tau=4.0), "logp", x, [-21.460344304466652, 1.3083434442375337, -0.8394969915248367, -58.22130310554322]),
    ]
    got = evaluate([(rv, fn, v) for rv, fn, v, _ in want])
    for (_, fn, _, ref), out in zip(want, got):
        np.testing.assert_allclose(out, ref, rtol=1e-9, err_msg=fn)


def test_value_gradient_matches_finite_differences():
    check_value_gradient(CASES)


def test_draws_match_reference():
    check_draws(CASES)


def test_batched_parameters_give_independent_draws():
    check_batched_draws([lambda: symvi.Kumaraswamy.dist(np.full(4, 2.0), 3.0), lambda: symvi.LogitNormal.dist(np.zeros(4), 1.0)])


def test_support_points_and_logodds_transform():
    check_support_points(CASES)
    for _, make, _, _ in CASES:
        check_transform(make(), transforms.LogOddsTransform, 0.0, 1.0)
    kum = symvi.Kumaraswamy.dist(2.0, 3.0)
    sp_ = pytensor.function([], dist_info(kum).cls.support_point(kum, **dist_info(kum).params), mode=FAST)()
    np.testing.assert_allclose(sp_, KumaraswamyRef(2.0, 3.0).mean(), rtol=1e-12)  # the mean, as PyMC


@pytest.mark.parametrize(
    "dist, args, kwargs, param",
    [
        (symvi.Kumaraswamy, (0.0, 1.0), {}, "a"),
        (symvi.Kumaraswamy, (1.0, -2.0), {}, "b"),
        (symvi.LogitNormal, (0.0, -1.0), {}, "sigma"),
        (symvi.LogitNormal, (0.0,), {"tau": 0.0}, "tau"),
    ],
)
def test_constant_invalid_parameter_raises(dist, args, kwargs, param):
    with symvi.Model():
        with pytest.raises(ValueError, match=rf"'bad_var'.*parameter {param} must be"):
            dist("bad_var", *args, **kwargs)


def test_symbolic_invalid_parameter_gives_minus_inf():
    s = pt.dscalar("s")
    rvs = [symvi.Kumaraswamy.dist(s, 2.0), symvi.Kumaraswamy.dist(2.0, s), symvi.LogitNormal.dist(0.0, s)]
    f = pytensor.function([s], [dist_info(rv).logp(pt.as_tensor(0.3)) for rv in rvs], mode=FAST)
    assert all(v == -INF for v in f(-1.0))
    assert all(np.isfinite(v) for v in f(0.5))
    with pytest.raises(TypeError):
        symvi.Kumaraswamy.dist(2.0)


def test_logp_gradient_finite_in_the_open_interval():
    v = pt.dvector("v")
    lps = [dist_info(symvi.Kumaraswamy.dist(2.0, 3.0)).logp(v).sum(), dist_info(symvi.LogitNormal.dist(0.3, 0.8)).logp(v).sum()]
    f = pytensor.function([v], [pytensor.grad(lp, v) for lp in lps], mode=FAST)
    for g in f(np.array([1e-6, 0.3, 1 - 1e-6])):
        assert np.all(np.isfinite(g))
