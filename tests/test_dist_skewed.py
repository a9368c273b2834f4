"""Skewed real-line distributions (symvi/distributions/skewed.py) against scipy.stats and PyMC 5.

AsymmetricLaplace = scipy ``laplace_asymmetric(kappa, loc=mu, scale=1/b)``, ExGaussian =
``exponnorm(nu/sigma, loc=mu, scale=sigma)``, SkewNormal = ``skewnorm``, SkewStudentT =
``jf_skew_t``.  Also a short ADVI fit with latents from several of the new families.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
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
    ("AL", lambda **k: symvi.AsymmetricLaplace.dist(kappa=2.0, mu=0.5, b=1.5, **k), st.laplace_asymmetric(2.0, 0.5, 1 / 1.5), R),
    ("AL-q", lambda **k: symvi.AsymmetricLaplace.dist(q=0.3, mu=-1.0, b=2.0, **k), st.laplace_asymmetric(np.sqrt(0.3 / 0.7), -1.0, 0.5), R),
    ("AL-positional", lambda **k: symvi.AsymmetricLaplace.dist(0.5, 1.0, 3.0, **k), st.laplace_asymmetric(0.5, 1.0, 1 / 3), R),
    ("ExGaussian", lambda **k: symvi.ExGaussian.dist(0.5, 1.2, nu=0.3, **k), st.exponnorm(0.3 / 1.2, 0.5, 1.2), R),
    ("ExGaussian-smallnu", lambda **k: symvi.ExGaussian.dist(0.5, 1.2, 0.01, **k), st.exponnorm(0.01 / 1.2, 0.5, 1.2), R),
    ("ExGaussian-bignu", lambda **k: symvi.ExGaussian.dist(mu=-1.0, sigma=0.5, nu=4.0, **k), st.exponnorm(8.0, -1.0, 0.5), R),
    ("SkewNormal", lambda **k: symvi.SkewNormal.dist(alpha=3.0, mu=0.5, sigma=2.0, **k), st.skewnorm(3.0, 0.5, 2.0), R),
    ("SkewNormal-tau", lambda **k: symvi.SkewNormal.dist(-2.0, 1.0, tau=4.0, **k), st.skewnorm(-2.0, 1.0, 0.5), R),
    ("SkewNormal-alpha0", lambda **k: symvi.SkewNormal.dist(0.0, 1.0, 2.0, **k), st.norm(1.0, 2.0), R),
    ("SkewStudentT", lambda **k: symvi.SkewStudentT.dist(4.0, 2.5, mu=0.5, sigma=2.0, **k), st.jf_skew_t(4.0, 2.5, 0.5, 2.0), R),
    ("SkewStudentT-lam", lambda **k: symvi.SkewStudentT.dist(1.5, 3.0, mu=-1.0, lam=0.25, **k), st.jf_skew_t(1.5, 3.0, -1.0, 2.0), R),
    # a = b = nu/2 is Student's t with nu degrees of freedom
    ("SkewStudentT-sym", lambda **k: symvi.SkewStudentT.dist(2.5, 2.5, 1.0, 0.5, **k), st.t(5.0, 1.0, 0.5), R),
]
IDS = [c[0] for c in CASES]
TAILS = {
    "AL": [-60.0, 60.0],
    "ExGaussian": [-40.0, 80.0],
    "ExGaussian-smallnu": [-40.0, 80.0],
    "ExGaussian-bignu": [-20.0, 200.0],
    "SkewNormal": [-30.0, 30.0],
    "SkewNormal-tau": [-10.0, 4.0, 10.0],
    "SkewStudentT": [-1e4, 1e4],
    "SkewStudentT-sym": [-1e4, 1e4],
}
CDF_CASES = [c for c in CASES if c[0].startswith(("AL", "ExGaussian", "SkewStudentT"))]


def test_logp_matches_scipy():
    check_logp(CASES, TAILS)


def test_logcdf_and_icdf_match_scipy():
    exg = [c for c in CDF_CASES if c[0].startswith("ExGaussian")]
    rest = [c for c in CDF_CASES if not c[0].startswith("ExGaussian")]
    check_logcdf_icdf(rest, {k: v for k, v in TAILS.items() if not k.startswith("ExG")}, rtol=1e-7)
    # F = Phi(z) - nu f(x) loses a few digits to cancellation in the far lower tail
    check_logcdf_icdf(exg, {k: [-15.0, 80.0] for k in TAILS}, rtol=1e-6, icdf=False)
    check_icdf_outside_unit_is_nan(rest)


def test_matches_pymc():
    """PyMC 5.28.5 reference values, from /tmp/venv-pymc: ``pm.logp(rv, x).eval()`` (also
    ``pm.logcdf`` / ``pm.icdf``), rv built with the same arguments passed as ``np.float64``
    (PyMC makes python floats such as 1.5 float32 constants)."""
    x = [-3.0, 0.1, 0.5, 4.0]
    q = [0.01, 0.3, 0.5, 0.95]
    al = symvi.AsymmetricLaplace.dist(kappa=2.0, mu=0.5, b=1.5)
    al_q = symvi.AsymmetricLaplace.dist(q=0.3, mu=-1.0, b=2.0)
    exg = symvi.ExGaussian.dist(0.5, 1.2, nu=0.3)
    sn = symvi.SkewNormal.dist(alpha=3.0, mu=0.5, sigma=2.0)
    sn_tau = symvi.SkewNormal.dist(-2.0, 1.0, tau=4.0)
    sst = symvi.SkewStudentT.dist(3.0, 1.5, mu=0.5, sigma=2.0)
    want = [
        (al, "logp", x, [-3.1358256237659905, -0.8108256237659908, -0.5108256237659907, -11.01082562376599]),
        (al_q, "logp", x, [-6.197277620180175, -1.5274147691299387, -2.0511377056963203, -6.6337134006521605]),
        (exg, "logp", x, [-5.922280933568221, -1.2843992392934442, -1.1561286976457623, -4.4336021546382565]),
        (exg, "logcdf", x, [-6.943130161480337, -1.2503788058538552, -0.9024140594058764, -0.005344720274413956]),
        (sn, "logp", x, [-18.842069030786337, -2.2326423572952696, -1.612085713764618, -2.4501886092542438]),
        # PyMC: -inf at x = 4 (its 1 + erf underflows); ours is scipy's finite value there
        (sn_tau, "logp", x[:3], [-31.532644172084783, -1.1528032932963483, -0.05565707952269183]),
        (sst, "logp", x, [-4.54547961033553, -2.155378508430089, -1.9898293896564385, -2.289363515171119]),
        (sst, "logcdf", x, [-4.404991123426743, -1.8021046559823357, -1.5345465364801185, -0.3146899628827841]),
        (sst, "icdf", q, [-3.2315211230740037, 1.0674431351934037, 2.275812917489482, 8.968616520968876]),
    ]
    got = evaluate([(rv, fn, v) for rv, fn, v, _ in want])
    for (_, fn, _, ref), out in zip(want, got):
        # rtol 1e-7: PyMC's ExGaussian and SkewNormal divide by pt.sqrt(2.0), a float32
        # constant, so they are good to ~1e-8 relative (ours and scipy agree with mpmath)
        np.testing.assert_allclose(out, ref, rtol=1e-7, err_msg=fn)
    sn_far = evaluate([(sn_tau, "logp", [4.0])])[0]
    np.testing.assert_allclose(sn_far, st.skewnorm(-2.0, 1.0, 0.5).logpdf(4.0), rtol=1e-9)


def test_value_gradient_matches_finite_differences():
    check_value_gradient(CASES)


def test_draws_match_scipy():
    check_draws(CASES, no_moments={"SkewStudentT-lam"})  # a = 1.5: no fourth moment


def test_batched_parameters_give_independent_draws():
    check_batched_draws(
        [
            lambda: symvi.AsymmetricLaplace.dist(kappa=np.ones(4), mu=0.0, b=1.0),
            lambda: symvi.ExGaussian.dist(np.zeros(4), 1.0, nu=1.0),
            lambda: symvi.SkewNormal.dist(np.ones(4)),
            lambda: symvi.SkewStudentT.dist(2.0, 2.0, sigma=np.ones(4)),
        ]
    )


def test_support_points_and_no_transform():
    check_support_points(CASES)
    for _, make, _, _ in CASES:
        info = dist_info(make())
        assert info.cls.default_transform(info.params) is None


INVALID = [
    (symvi.AsymmetricLaplace, (), {"kappa": -1.0, "mu": 0.0, "b": 1.0}, "kappa"),
    (symvi.AsymmetricLaplace, (), {"q": 1.5, "mu": 0.0, "b": 1.0}, "q"),
    (symvi.AsymmetricLaplace, (1.0, 0.0, 0.0), {}, "b"),
    (symvi.ExGaussian, (0.0, -1.0), {"nu": 1.0}, "sigma"),
    (symvi.ExGaussian, (0.0, 1.0), {"nu": 0.0}, "nu"),
    (symvi.SkewNormal, (1.0, 0.0, -1.0), {}, "sigma"),
    (symvi.SkewNormal, (1.0, 0.0), {"tau": -1.0}, "tau"),
    (symvi.SkewStudentT, (-1.0, 1.0), {}, "a"),
    (symvi.SkewStudentT, (1.0, 0.0), {}, "b"),
    (symvi.SkewStudentT, (1.0, 1.0), {"sigma": -2.0}, "sigma"),
    (symvi.SkewStudentT, (1.0, 1.0), {"lam": -2.0}, "lam"),
]


@pytest.mark.parametrize("dist, args, kwargs, param", INVALID, ids=[f"{d.__name__}-{p}" for d, _, _, p in INVALID])
def test_constant_invalid_parameter_raises(dist, args, kwargs, param):
    with symvi.Model():
        with pytest.raises(ValueError, match=rf"'bad_var'.*parameter {param} must be"):
            dist("bad_var", *args, **kwargs)


def test_symbolic_invalid_parameter_gives_minus_inf():
    s = pt.dscalar("s")
    rvs = [
        symvi.AsymmetricLaplace.dist(kappa=s, mu=0.0, b=1.0),
        symvi.AsymmetricLaplace.dist(q=s, mu=0.0, b=1.0),  # q = -1: kappa is NaN
        symvi.ExGaussian.dist(0.0, 1.0, nu=s),
        symvi.SkewNormal.dist(1.0, 0.0, s),
        symvi.SkewStudentT.dist(s, 2.0),
    ]
    f = pytensor.function([s], [dist_info(rv).logp(pt.as_tensor(0.3)) for rv in rvs], mode=FAST)
    assert all(v == -INF for v in f(-1.0))
    assert all(np.isfinite(v) for v in f(0.5))


def test_wrong_parametrizations_raise_typeerror():
    for call in [
        lambda: symvi.AsymmetricLaplace.dist(kappa=1.0, q=0.5, mu=0.0, b=1.0),
        lambda: symvi.AsymmetricLaplace.dist(kappa=1.0, mu=0.0),
        lambda: symvi.ExGaussian.dist(0.0, 1.0),
        lambda: symvi.SkewNormal.dist(1.0, 0.0, sigma=1.0, tau=1.0),
        lambda: symvi.SkewStudentT.dist(2.0),
    ]:
        with pytest.raises(TypeError):
            call()


def test_advi_with_new_families_recovers_parameters():
    """Gumbel, Rice, Kumaraswamy and VonMises latents (no, log, log-odds and interval transforms),
    SkewNormal, AsymmetricLaplace and VonMises likelihoods: the posterior means land near the
    data-generating values, and theta near its exact (conjugate von Mises) posterior mode."""
    rng = np.random.default_rng(0)
    y1 = st.skewnorm(2.0, 1.5, 0.8).rvs(300, random_state=rng)
    y2 = st.laplace_asymmetric(np.sqrt(0.3 / 0.7), 0.0, 1.0).rvs(300, random_state=rng)
    y3 = st.vonmises(4.0, loc=1.0).rvs(50, random_state=rng)
    with symvi.Model():
        mu = symvi.Gumbel("mu", 0.0, 5.0)
        s = symvi.Rice("s", nu=1.0, sigma=1.0)
        p = symvi.Kumaraswamy("p", 2.0, 2.0)
        theta = symvi.VonMises("theta", 0.0, 1.0)
        symvi.SkewNormal("y1", alpha=2.0, mu=mu, sigma=s, observed=y1)
        symvi.AsymmetricLaplace("y2", q=p, mu=0.0, b=1.0, observed=y2)
        symvi.VonMises("y3", mu=theta, kappa=4.0, observed=y3)
        approx = symvi.fit(3000, random_seed=1, progressbar=False, obj_optimizer=symvi.adam(learning_rate=0.03))
    post = approx.sample(500, random_seed=1).posterior
    assert np.isfinite(approx.hist).all()
    assert abs(float(post["mu"].mean()) - 1.5) < 0.15
    assert abs(float(post["s"].mean()) - 0.8) < 0.12
    # p is the probability of y2 < mu: the posterior sits near the fraction of negative data
    assert abs(float(post["p"].mean()) - np.mean(y2 < 0)) < 0.06
    # exact posterior: VonMises(angle(z), |z|), z = 1 * e^{i 0} + 4 sum_i e^{i y3_i} (|z| ~ 180)
    z = 1.0 + 4.0 * np.exp(1j * y3).sum()
    assert abs(float(post["theta"].mean()) - np.angle(z)) < 0.03
    assert abs(float(post["theta"].std()) - 1 / np.sqrt(abs(z))) < 0.03
