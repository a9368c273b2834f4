"""Gumbel and Moyal (symvi/distributions/extreme_value.py) against scipy.stats and PyMC 5."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
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
    check_value_gradient,
    evaluate,
)

import symvi
from symvi.distributions import dist_info

R = (-INF, INF)
CASES = [
    ("Gumbel", lambda **k: symvi.Gumbel.dist(0.5, 2.0, **k), st.gumbel_r(0.5, 2.0), R),
    ("Gumbel-narrow", lambda **k: symvi.Gumbel.dist(mu=-3.0, beta=0.1, **k), st.gumbel_r(-3.0, 0.1), R),
    ("Moyal", lambda **k: symvi.Moyal.dist(0.5, 2.0, **k), st.moyal(0.5, 2.0), R),
    ("Moyal-default", lambda **k: symvi.Moyal.dist(**k), st.moyal(), R),
]
TAILS = {"Gumbel": [-10.0, 1e3], "Gumbel-narrow": [-4.0, 50.0], "Moyal": [-8.0, 1e3], "Moyal-default": [-4.0, 300.0]}


def test_logp_matches_scipy():
    check_logp(CASES, TAILS)


def test_logcdf_and_icdf_match_scipy():
    check_logcdf_icdf(CASES, TAILS)
    check_icdf_outside_unit_is_nan(CASES)


def test_moyal_logcdf_far_lower_tail():
    """Where erfc underflows (scipy's logcdf is -inf): the asymptotic series of log erfc(t)."""
    x = np.array([-10.0, -20.0, -40.0])  # Moyal(0, 1): t = exp(-x/2)/sqrt(2) from 105 to 3.4e8
    t = np.exp(-x / 2) / np.sqrt(2)
    want = -(t**2) - np.log(t * np.sqrt(np.pi)) + np.log1p(-1 / (2 * t**2) + 3 / (4 * t**4))
    got = evaluate([(symvi.Moyal.dist(0.0, 1.0), "logcdf", x)])[0]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert np.all(np.isfinite(got)) and np.all(np.isneginf(st.moyal().logcdf(x)))


def test_matches_pymc():
    """PyMC 5.28.5 reference values, from /tmp/venv-pymc: ``pm.logp / pm.logcdf / pm.icdf(rv,
    x).eval()`` with ``rv = pm.Gumbel.dist(np.float64(0.5), np.float64(2.0))`` and the same Moyal."""
    x = [-3.0, 0.1, 0.5, 4.0]
    q = [0.01, 0.3, 0.5, 0.95]
    gum, moy = symvi.Gumbel.dist(0.5, 2.0), symvi.Moyal.dist(0.5, 2.0)
    want = [
        (gum, "logp", x, [-4.697749856565676, -1.7145499387201153, -1.6931471805599454, -2.6169211240103905]),
        (gum, "logcdf", x, [-5.754602676005731, -1.2214027581601699, -1.0, -0.17377394345044514]),
        (gum, "icdf", q, [-2.5543592516158022, 0.12874648227526853, 1.2330258411633288, 6.440390498084327]),
        (moy, "logp", x, [-3.6143870517674834, -2.122787092844703, -2.112085713764618, -2.5739726854898404]),
        (moy, "logcdf", x, [-4.107702518938968, -1.3127259731296266, -1.147874464449318, -0.390410003999814]),
        (moy, "icdf", q, [-3.2846861675850803, 0.3568584560437681, 2.0751951984035646, 11.57714294407235]),
    ]
    got = evaluate([(rv, fn, v) for rv, fn, v, _ in want])
    for (_, fn, _, ref), out in zip(want, got):
        np.testing.assert_allclose(out, ref, rtol=1e-9, err_msg=fn)


def test_value_gradient_matches_finite_differences():
    check_value_gradient(CASES)


def test_draws_match_scipy():
    check_draws(CASES)


def test_batched_parameters_give_independent_draws():
    check_batched_draws([lambda: symvi.Gumbel.dist(np.zeros(4), 1.0), lambda: symvi.Moyal.dist(0.0, np.ones(4))])


def test_support_points_are_the_means():
    check_support_points(CASES)
    rvs = [make() for _, make, _, _ in CASES]
    sps = pytensor.function([], [dist_info(rv).cls.support_point(rv, **dist_info(rv).params) for rv in rvs], mode=FAST)()
    np.testing.assert_allclose(sps, [ref.mean() for _, _, ref, _ in CASES], rtol=1e-12)
    for rv in rvs:
        assert dist_info(rv).cls.default_transform(dist_info(rv).params) is None


@pytest.mark.parametrize(
    "dist, args, param",
    [(symvi.Gumbel, (0.0, -1.0), "beta"), (symvi.Moyal, (0.0, 0.0), "sigma"), (symvi.Gumbel, (np.nan, 1.0), "mu")],
)
def test_constant_invalid_parameter_raises(dist, args, param):
    with symvi.Model():
        with pytest.raises(ValueError, match=rf"'bad_var'.*parameter {param} must be"):
            dist("bad_var", *args)


def test_symbolic_invalid_scale_gives_minus_inf_and_missing_gumbel_args_raise():
    s = pt.dscalar("s")
    rvs = [symvi.Gumbel.dist(0.0, s), symvi.Moyal.dist(0.0, s)]
    f = pytensor.function([s], [dist_info(rv).logp(pt.as_tensor(0.3)) for rv in rvs], mode=FAST)
    assert all(v == -INF for v in f(-1.0))
    assert all(np.isfinite(v) for v in f(0.5))
    with pytest.raises(TypeError):
        symvi.Gumbel.dist(0.0)


def test_gumbel_logcdf_exact_in_the_upper_tail():
    """log F = -exp(-z): tiny and exact where F rounds to 1."""
    got = evaluate([(symvi.Gumbel.dist(0.0, 1.0), "logcdf", np.array([40.0, 100.0]))])[0]
    np.testing.assert_allclose(got, -np.exp(-np.array([40.0, 100.0])), rtol=1e-14)
    assert sp.expm1(got[0]) < 0
