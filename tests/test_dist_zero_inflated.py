"""Zero-inflated counts: log mass / CDF against scipy-based formulas and PyMC, draws, checks,
and maximum-likelihood fits that recover the simulating parameters."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import optimize, stats

import symvi as sv
from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn

FAST = "FAST_COMPILE"
GRID = np.arange(-2, 26)  # negative values, zero, the bulk and the tail

# id, symvi factory, psi, scipy frozen count distribution, upper support edge
CASES = [
    ("zip", lambda: sv.ZeroInflatedPoisson.dist(psi=0.7, mu=2.5), 0.7, stats.poisson(2.5)),
    ("zip-psi1", lambda: sv.ZeroInflatedPoisson.dist(psi=1.0, mu=3.0), 1.0, stats.poisson(3.0)),
    ("zip-psi0", lambda: sv.ZeroInflatedPoisson.dist(psi=0.0, mu=3.0), 0.0, stats.poisson(3.0)),
    ("zip-mu0", lambda: sv.ZeroInflatedPoisson.dist(psi=0.4, mu=0.0), 0.4, stats.poisson(0.0)),
    ("zib", lambda: sv.ZeroInflatedBinomial.dist(psi=0.6, n=8, p=0.3), 0.6, stats.binom(8, 0.3)),
    ("zib-p1", lambda: sv.ZeroInflatedBinomial.dist(psi=0.6, n=5, p=1.0), 0.6, stats.binom(5, 1.0)),
    ("zib-p0", lambda: sv.ZeroInflatedBinomial.dist(psi=0.6, n=5, p=0.0), 0.6, stats.binom(5, 0.0)),
    ("zinb", lambda: sv.ZeroInflatedNegativeBinomial.dist(psi=0.6, mu=3.0, alpha=2.0), 0.6, stats.nbinom(2.0, 0.4)),
    ("zinb-np", lambda: sv.ZeroInflatedNegativeBinomial.dist(psi=0.3, n=0.7, p=0.2), 0.3, stats.nbinom(0.7, 0.2)),
]


def zi_logpmf(k, psi, frozen):
    with np.errstate(divide="ignore"):
        pmf = np.where(k == 0, (1 - psi) + psi * frozen.pmf(0), psi * frozen.pmf(k))
        return np.where(k < 0, -np.inf, np.log(pmf))


def zi_logcdf(k, psi, frozen):
    with np.errstate(divide="ignore"):
        return np.where(k < 0, -np.inf, np.log1p(-psi * frozen.sf(k)))


@pytest.fixture(scope="module")
def evaluated():
    outs = []
    for _, make, *_ in CASES:
        info = dist_info(make())
        v = pt.as_tensor(GRID)
        outs += [info.logp(v), info.cls.logcdf(v, **info.params)]
    res = pytensor.function([], outs, mode=FAST)()
    return {c[0]: res[2 * i : 2 * i + 2] for i, c in enumerate(CASES)}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_logp_logcdf_match_scipy(case, evaluated):
    name, _, psi, frozen = case
    lp, lc = evaluated[name]
    want = zi_logpmf(GRID, psi, frozen)
    assert not np.any(np.isnan(lp))
    np.testing.assert_array_equal(np.isneginf(lp), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(lp[finite], want[finite], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lc, zi_logcdf(GRID, psi, frozen), rtol=1e-9, atol=1e-12)
    assert np.all(np.isneginf(lp[GRID < 0])) and np.all(np.isneginf(lc[GRID < 0]))


def test_matches_pymc():
    # PyMC 5.28.5: pm.logp(rv, values).eval() and pm.logcdf(rv, values).eval(), parameters given
    # as np.float64 (PyMC stores a python 2.5 as a float32 constant and is then off by ~3e-7)
    pymc = [
        (sv.ZeroInflatedPoisson.dist(psi=0.7, mu=2.5), [-1, 0, 1, 3, 10],
         [-np.inf, -1.0287332126735549, -1.9403842120645773, -1.899562217544322, -8.798180198272696],
         [-np.inf, -1.0287332126735549, -0.6909331401002831, -0.18596423145302302, -4.3139767593901914e-05]),
        (sv.ZeroInflatedBinomial.dist(psi=0.6, n=8, p=0.3), [-1, 0, 1, 4, 8, 9],
         [-np.inf, -0.833354968509473, -2.132081493983218, -2.5049213747753045, -10.14260805837348, -np.inf],
         [-np.inf, -0.833354968509473, -0.5920736444819824, -0.035399835611661545, 0.0, 0.0]),
        (sv.ZeroInflatedNegativeBinomial.dist(psi=0.6, mu=3.0, alpha=2.0), [-1, 0, 1, 4, 20],
         [-np.inf, -0.7011793522572095, -2.161085530720346, -2.777271670144163, -9.515397125110692],
         [-np.inf, -0.7011793522572095, -0.4923310411298262, -0.15078568112450694, -0.0001237320561068289]),
        (sv.ZeroInflatedNegativeBinomial.dist(psi=0.6, n=2.0, p=0.4), [-1, 0, 1, 4, 20],
         [-np.inf, -0.7011793522572095, -2.161085530720346, -2.777271670144163, -9.515397125110692],
         [-np.inf, -0.7011793522572095, -0.4923310411298262, -0.15078568112450694, -0.0001237320561068289]),
    ]
    outs = []
    for rv, values, _, _ in pymc:
        info = dist_info(rv)
        v = pt.as_tensor(np.array(values))
        outs += [info.logp(v), info.cls.logcdf(v, **info.params)]
    res = pytensor.function([], outs, mode=FAST)()
    for i, (_, _, want_lp, want_lc) in enumerate(pymc):
        np.testing.assert_allclose(res[2 * i], want_lp, rtol=1e-12)
        np.testing.assert_allclose(res[2 * i + 1], want_lc, rtol=1e-10, atol=1e-15)


def test_negative_binomial_parametrizations_agree():
    a = dist_info(sv.ZeroInflatedNegativeBinomial.dist(psi=0.5, n=2.0, p=0.4)).params
    b = dist_info(sv.ZeroInflatedNegativeBinomial.dist(0.5, 3.0, 2.0)).params
    assert np.isclose(float(a["mu"].eval()), float(b["mu"].eval())) and float(a["alpha"].eval()) == 2.0
    with pytest.raises(TypeError, match="mu, alpha"):
        sv.ZeroInflatedNegativeBinomial.dist(psi=0.5, mu=1.0)


# ---------------------------------------------------------------------- draws
DRAWS = [
    ("zip", lambda size: sv.ZeroInflatedPoisson.dist(psi=0.6, mu=3.0, size=size), 0.6, stats.poisson(3.0)),
    ("zib", lambda size: sv.ZeroInflatedBinomial.dist(psi=0.6, n=8, p=0.3, size=size), 0.6, stats.binom(8, 0.3)),
    ("zinb", lambda size: sv.ZeroInflatedNegativeBinomial.dist(psi=0.6, mu=3.0, alpha=2.0, size=size), 0.6, stats.nbinom(2.0, 0.4)),
]


@pytest.fixture(scope="module")
def draws():
    out = compile_fn([], [make(20000) for _, make, *_ in DRAWS], random_seed=1, mode=FAST)()
    return {c[0]: x for c, x in zip(DRAWS, out)}


@pytest.mark.parametrize("case", DRAWS, ids=[c[0] for c in DRAWS])
def test_draw_frequencies_and_mean(case, draws):
    name, _, psi, frozen = case
    d = draws[name]
    assert d.shape == (20000,) and np.issubdtype(d.dtype, np.integer)
    support = np.arange(0, 12)
    p = np.exp(zi_logpmf(support, psi, frozen))
    freq = np.array([(d == k).mean() for k in support])
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / d.size) + 1e-3)
    mean = psi * frozen.mean()
    sd = np.sqrt(psi * frozen.var() + psi * (1 - psi) * frozen.mean() ** 2)
    assert abs(d.mean() - mean) < 5 * sd / np.sqrt(d.size)


def test_draw_shape_without_size():
    rvs = [
        sv.ZeroInflatedPoisson.dist(psi=np.array([0.5, 0.9]), mu=np.array([[1.0], [2.0], [3.0]])),
        sv.ZeroInflatedBinomial.dist(psi=0.5, n=np.array([3, 4]), p=np.array([[0.1], [0.5], [0.9]])),
        sv.ZeroInflatedNegativeBinomial.dist(psi=np.array([0.5, 0.9]), mu=np.array([[1.0], [2.0], [3.0]]), alpha=1.0),
    ]
    for x in compile_fn([], rvs, random_seed=1, mode=FAST)():
        assert x.shape == (3, 2)


# ---------------------------------------------------------------------- checks
BAD = [
    (sv.ZeroInflatedPoisson, {"psi": 1.2, "mu": 1.0}, "psi"),
    (sv.ZeroInflatedPoisson, {"psi": 0.5, "mu": -1.0}, "mu"),
    (sv.ZeroInflatedBinomial, {"psi": -0.1, "n": 3, "p": 0.5}, "psi"),
    (sv.ZeroInflatedBinomial, {"psi": 0.5, "n": -3, "p": 0.5}, "n"),
    (sv.ZeroInflatedBinomial, {"psi": 0.5, "n": 3, "p": 1.5}, "p"),
    (sv.ZeroInflatedNegativeBinomial, {"psi": 0.5, "mu": 1.0, "alpha": 0.0}, "alpha"),
    (sv.ZeroInflatedNegativeBinomial, {"psi": 0.5, "mu": -1.0, "alpha": 1.0}, "mu"),
    (sv.ZeroInflatedNegativeBinomial, {"psi": 2.0, "mu": 1.0, "alpha": 1.0}, "psi"),
]


@pytest.mark.parametrize("cls,kwargs,param", BAD, ids=[f"{b[0].__name__}-{b[2]}" for b in BAD])
def test_constant_invalid_params_raise(cls, kwargs, param):
    with sv.Model():
        with pytest.raises(ValueError, match=rf"'bad'.*parameter {param}\b"):
            cls("bad", **kwargs)


def test_symbolic_invalid_psi_gives_minus_inf():
    psi = pt.dscalar("psi")
    lp = dist_info(sv.ZeroInflatedPoisson.dist(psi=psi, mu=2.0)).logp(pt.as_tensor(np.array([0, 2])))
    assert np.all(np.isneginf(lp.eval({psi: 1.5})))
    np.testing.assert_allclose(lp.eval({psi: 0.5}), zi_logpmf(np.array([0, 2]), 0.5, stats.poisson(2.0)))


# ---------------------------------------------------------------------- fits
def _mle_and_sd(negloglik, x0):
    """scipy's maximum-likelihood estimate and its asymptotic sds (finite-difference Hessian)."""
    res = optimize.minimize(negloglik, x0, method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 20000})
    h, k = 1e-4, len(x0)
    hess = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hess[i, j] = (negloglik(res.x + ei + ej) - negloglik(res.x + ei - ej) - negloglik(res.x - ei + ej) + negloglik(res.x - ei - ej)) / (4 * h * h)
    return res.x, np.sqrt(np.diag(np.linalg.inv(hess)))


def test_zinb_fit_recovers_parameters():
    """MAP with flat priors = maximum likelihood: equal to scipy's optimum on the same data,
    and within 4 asymptotic standard errors of the simulating values."""
    rng = np.random.default_rng(5)
    psi, mu, alpha, n = 0.65, 4.0, 1.5, 3000
    y = rng.negative_binomial(alpha, alpha / (alpha + mu), size=n) * rng.binomial(1, psi, size=n)
    with sv.Model():
        p_ = sv.Uniform("psi", 0, 1)
        m_ = sv.HalfFlat("mu")
        a_ = sv.HalfFlat("alpha")
        sv.ZeroInflatedNegativeBinomial("y", psi=p_, mu=m_, alpha=a_, observed=y)
        est = sv.find_MAP(progressbar=False)

    def nll(t):
        ps, mm, aa = t
        if not (0 < ps < 1 and mm > 0 and aa > 0):
            return np.inf
        return -zi_logpmf(y, ps, stats.nbinom(aa, aa / (aa + mm))).sum()

    mle, sd = _mle_and_sd(nll, np.array([0.5, 3.0, 1.0]))
    got = np.array([est["psi"], est["mu"], est["alpha"]], dtype=float)
    np.testing.assert_allclose(got, mle, rtol=2e-3)
    assert np.all(np.abs(got - [psi, mu, alpha]) < 4 * sd), (got, sd)
