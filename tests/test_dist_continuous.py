"""Continuous distributions: log densities against scipy.stats, draws, parameter checks."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.stats as st

import symvi
from symvi import transforms
from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn

INF = np.inf


class _HalfT:
    """|t(nu, 0, sigma)| - scipy has no half-t; enough of the frozen-distribution API."""

    def __init__(self, nu, sigma):
        self.t = st.t(nu, 0, sigma)

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore"):
            return np.where(x >= 0, np.log(2) + self.t.logpdf(x), -INF)

    def cdf(self, x):
        return np.clip(2 * self.t.cdf(x) - 1, 0, 1)

    def ppf(self, q):
        return self.t.ppf((np.asarray(q) + 1) / 2)


def _tn(mu, sigma, lower, upper):
    return st.truncnorm((lower - mu) / sigma, (upper - mu) / sigma, loc=mu, scale=sigma)


# id, factory of the symvi variable, scipy frozen distribution, support (lo, hi), extra points
CASES = [
    ("Normal", lambda **k: symvi.Normal.dist(1.0, 2.0, **k), st.norm(1, 2), (-INF, INF), [-1e3, 1e3]),
    ("Normal-tau", lambda **k: symvi.Normal.dist(mu=-1, tau=4, **k), st.norm(-1, 0.5), (-INF, INF), []),
    ("HalfNormal", lambda **k: symvi.HalfNormal.dist(2.0, **k), st.halfnorm(scale=2), (0, INF), []),
    ("HalfNormal-tau", lambda **k: symvi.HalfNormal.dist(tau=0.25, **k), st.halfnorm(scale=2), (0, INF), []),
    ("Exponential", lambda **k: symvi.Exponential.dist(3, **k), st.expon(scale=1 / 3), (0, INF), []),
    ("Exponential-scale", lambda **k: symvi.Exponential.dist(scale=2.0, **k), st.expon(scale=2), (0, INF), []),
    ("Gamma", lambda **k: symvi.Gamma.dist(3, 7, **k), st.gamma(3, scale=1 / 7), (0, INF), []),
    ("Gamma-alpha1", lambda **k: symvi.Gamma.dist(1.0, 2.0, **k), st.gamma(1, scale=0.5), (0, INF), []),
    ("Gamma-musigma", lambda **k: symvi.Gamma.dist(mu=2.0, sigma=0.5, **k), st.gamma(16, scale=1 / 8), (0, INF), []),
    ("Uniform", lambda **k: symvi.Uniform.dist(-1, 3, **k), st.uniform(-1, 4), (-1, 3), []),
    ("TruncNormal-both", lambda **k: symvi.TruncatedNormal.dist(0.5, 2.0, lower=-1.0, upper=3.0, **k), _tn(0.5, 2, -1, 3), (-1, 3), []),
    ("TruncNormal-lower", lambda **k: symvi.TruncatedNormal.dist(0.0, 1.0, lower=1.5, **k), _tn(0, 1, 1.5, INF), (1.5, INF), []),
    ("TruncNormal-upper", lambda **k: symvi.TruncatedNormal.dist(2.0, tau=4.0, upper=1.0, **k), _tn(2, 0.5, -INF, 1), (-INF, 1), []),
    ("TruncNormal-none", lambda **k: symvi.TruncatedNormal.dist(1.0, 2.0, **k), st.norm(1, 2), (-INF, INF), []),
    ("TruncNormal-uppertail", lambda **k: symvi.TruncatedNormal.dist(0.0, 1.0, lower=8.0, upper=9.0, **k), _tn(0, 1, 8, 9), (8, 9), []),
    ("TruncNormal-lowertail", lambda **k: symvi.TruncatedNormal.dist(0.0, 1.0, lower=-30.0, upper=-29.0, **k), _tn(0, 1, -30, -29), (-30, -29), []),
    ("TruncNormal-farlower", lambda **k: symvi.TruncatedNormal.dist(0.0, 1.0, lower=40.0, **k), _tn(0, 1, 40, INF), (40, INF), []),
    ("TruncNormal-farupper", lambda **k: symvi.TruncatedNormal.dist(0.0, 1.0, upper=-40.0, **k), _tn(0, 1, -INF, -40), (-INF, -40), []),
    ("InverseGamma", lambda **k: symvi.InverseGamma.dist(3, 2, **k), st.invgamma(3, scale=2), (0, INF), []),
    ("InverseGamma-musigma", lambda **k: symvi.InverseGamma.dist(mu=2.0, sigma=1.0, **k), st.invgamma(6, scale=10), (0, INF), []),
    ("Beta", lambda **k: symvi.Beta.dist(2.5, 4, **k), st.beta(2.5, 4), (0, 1), []),
    ("Beta-ones", lambda **k: symvi.Beta.dist(1, 1, **k), st.beta(1, 1), (0, 1), []),
    ("Beta-musigma", lambda **k: symvi.Beta.dist(mu=0.25, sigma=0.125, **k), st.beta(2.75, 8.25), (0, 1), []),
    ("Beta-munu", lambda **k: symvi.Beta.dist(mu=0.25, nu=8, **k), st.beta(2, 6), (0, 1), []),
    ("LogNormal", lambda **k: symvi.LogNormal.dist(0.5, 0.8, **k), st.lognorm(0.8, scale=np.exp(0.5)), (0, INF), []),
    ("LogNormal-tau", lambda **k: symvi.LogNormal.dist(mu=-1.0, tau=4.0, **k), st.lognorm(0.5, scale=np.exp(-1)), (0, INF), []),
    ("StudentT", lambda **k: symvi.StudentT.dist(4, 1, 2, **k), st.t(4, 1, 2), (-INF, INF), [-1e4, 1e4]),
    ("StudentT-lam", lambda **k: symvi.StudentT.dist(nu=2.5, mu=-1, lam=0.25, **k), st.t(2.5, -1, 2), (-INF, INF), []),
    ("HalfStudentT", lambda **k: symvi.HalfStudentT.dist(3, 2.0, **k), _HalfT(3, 2), (0, INF), [1e3]),
    ("HalfStudentT-lam", lambda **k: symvi.HalfStudentT.dist(nu=5, lam=4.0, **k), _HalfT(5, 0.5), (0, INF), []),
    ("Cauchy", lambda **k: symvi.Cauchy.dist(1.0, 3.0, **k), st.cauchy(1, 3), (-INF, INF), [-1e6, 1e6]),
    ("HalfCauchy", lambda **k: symvi.HalfCauchy.dist(2.0, **k), st.halfcauchy(scale=2), (0, INF), []),
    ("Laplace", lambda **k: symvi.Laplace.dist(-1.0, 0.5, **k), st.laplace(-1, 0.5), (-INF, INF), []),
    ("Logistic", lambda **k: symvi.Logistic.dist(1.0, 2.0, **k), st.logistic(1, 2), (-INF, INF), [-1e4, 1e4]),
    ("Weibull", lambda **k: symvi.Weibull.dist(1.5, 2.0, **k), st.weibull_min(1.5, scale=2), (0, INF), []),
    ("Weibull-alpha1", lambda **k: symvi.Weibull.dist(1, 2, **k), st.weibull_min(1, scale=2), (0, INF), []),
    ("Pareto", lambda **k: symvi.Pareto.dist(3.0, 2.0, **k), st.pareto(3, scale=2), (2, INF), []),
    ("ChiSquared", lambda **k: symvi.ChiSquared.dist(5, **k), st.chi2(5), (0, INF), []),
    ("ChiSquared-2", lambda **k: symvi.ChiSquared.dist(2.0, **k), st.chi2(2), (0, INF), []),
    ("Wald", lambda **k: symvi.Wald.dist(2.0, 3.0, **k), st.invgauss(2 / 3, scale=3), (0, INF), []),
    ("Wald-phi-alpha", lambda **k: symvi.Wald.dist(mu=2.0, phi=1.5, alpha=1.0, **k), st.invgauss(2 / 3, loc=1, scale=3), (1, INF), []),
    ("Wald-lamphi", lambda **k: symvi.Wald.dist(lam=3.0, phi=1.5, **k), st.invgauss(2 / 3, scale=3), (0, INF), []),
]
CASE_IDS = [c[0] for c in CASES]


def _grid(frozen, support, extra):
    lo, hi = support
    pts = list(frozen.ppf([0.001, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999])) + list(extra)
    for edge, out in ((lo, -1.0), (hi, 1.0)):
        if np.isfinite(edge):
            pts += [edge, edge + out * 1e-3, edge + out * 2.0]  # edge and two points outside
    return np.array(sorted(set(pts)), dtype="float64")


FAST = "FAST_COMPILE"  # small graphs: compiling dominates, so skip most rewrites


def _logp_graph(rv, values):
    return dist_info(rv).logp(pt.as_tensor(np.asarray(values, dtype="float64")))


def _logp(rv, values, mode=FAST):
    return pytensor.function([], _logp_graph(rv, values), mode=mode)()


@pytest.fixture(scope="module")
def scipy_logps():
    """Every case's grid, our logp (one compiled function, default backend) and scipy's."""
    grids = [_grid(frozen, support, extra) for _, _, frozen, support, extra in CASES]
    outs = [_logp_graph(make(), g) for (_, make, *_), g in zip(CASES, grids)]
    got = pytensor.function([], outs)()
    with np.errstate(all="ignore"):
        want = [np.asarray(c[2].logpdf(g), dtype="float64") for c, g in zip(CASES, grids)]
    return {c[0]: (g, o, w) for c, g, o, w in zip(CASES, grids, got, want)}


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_logp_matches_scipy(case, scipy_logps):
    name, _, _, support, _ = case
    values, got, want = scipy_logps[name]
    outside = (values < support[0]) | (values > support[1])
    assert outside.sum() >= (np.isfinite(support[0]) + np.isfinite(support[1])) * 2
    assert np.all(got[outside] == -INF), (values[outside], got[outside])
    assert not np.any(np.isnan(got)), (values, got)
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-10)


def test_flat_and_halfflat():
    values = np.array([-5.0, -1e-9, 0.0, 1e-9, 3.0])
    np.testing.assert_array_equal(_logp(symvi.Flat.dist(), values), np.zeros(5))
    np.testing.assert_array_equal(_logp(symvi.HalfFlat.dist(), values), [-INF, -INF, -INF, 0.0, 0.0])
    flat, half = pytensor.function([], [symvi.Flat.dist(size=3), symvi.HalfFlat.dist(size=3)], mode=FAST)()
    assert flat.shape == (3,) and np.all(half > 0)


def test_logp_broadcasts_over_parameters():
    rv = symvi.TruncatedNormal.dist(mu=np.array([0.0, 1.0, 2.0]), sigma=1.0, lower=np.array([-1.0, -INF, 0.5]), upper=2.5)
    got = _logp(rv, np.array([0.3, 0.3, 0.6]))
    want = [_tn(0, 1, -1, 2.5).logpdf(0.3), _tn(1, 1, -INF, 2.5).logpdf(0.3), _tn(2, 1, 0.5, 2.5).logpdf(0.6)]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_truncated_normal_symbolic_bounds_and_gradients():
    """Normaliser and its gradient stay finite with symbolic mixed (inf / finite) bounds."""
    mu, sigma = pt.dscalar("mu"), pt.dscalar("sigma")
    lo, up = pt.dvector("lo"), pt.dvector("up")
    rv = symvi.TruncatedNormal.dist(mu, sigma, lower=lo, upper=up)
    lp = dist_info(rv).logp(pt.as_tensor(np.array([0.5, 0.5, 0.5, 9.5])))
    f = pytensor.function([mu, sigma, lo, up], [lp, *pytensor.grad(lp.sum(), [mu, sigma])])  # default backend
    los, ups = np.array([-INF, 0.0, -INF, 9.0]), np.array([INF, INF, 1.0, 10.0])
    val, gmu, gsigma = f(0.2, 1.3, los, ups)
    want = [_tn(0.2, 1.3, a, b).logpdf(x) for a, b, x in zip(los, ups, [0.5, 0.5, 0.5, 9.5])]
    np.testing.assert_allclose(val, want, rtol=1e-8)
    assert np.isfinite(gmu) and np.isfinite(gsigma)
    eps = 1e-6
    num = (f(0.2 + eps, 1.3, los, ups)[0].sum() - f(0.2 - eps, 1.3, los, ups)[0].sum()) / (2 * eps)
    np.testing.assert_allclose(gmu, num, rtol=1e-5)


# ---------------------------------------------------------------------- draws
DRAW_CASES = [c for c in CASES if c[0] not in ("TruncNormal-farlower", "TruncNormal-farupper")]


@pytest.fixture(scope="module")
def draws():
    """2000 seeded draws of every case (``Dist.dist(..., size=2000)``), one compiled function."""
    rvs = [make(size=2000) for _, make, *_ in DRAW_CASES]
    out = compile_fn([], rvs, random_seed=1, mode=FAST)()
    return {c[0]: x for c, x in zip(DRAW_CASES, out)}


@pytest.mark.parametrize("case", DRAW_CASES, ids=[c[0] for c in DRAW_CASES])
def test_draws_ks(case, draws):
    name, _, frozen, support, _ = case
    x = draws[name]
    assert x.shape == (2000,)
    assert np.all((x >= support[0]) & (x <= support[1]))
    assert st.kstest(x, frozen.cdf).pvalue > 1e-3, name


def test_draws_default_backend():
    """The default (numba) backend's RandomVariable implementations, where ours use them."""
    rvs = [symvi.Cauchy.dist(1.0, 3.0, size=2000), symvi.TruncatedNormal.dist(0.0, 1.0, lower=-1.0, size=2000)]
    x, y = compile_fn([], rvs, random_seed=4)()
    assert st.kstest(x, st.cauchy(1, 3).cdf).pvalue > 1e-3
    assert st.kstest(y, _tn(0, 1, -1, INF).cdf).pvalue > 1e-3


def test_far_tail_truncated_draws_stay_in_bounds():
    for rv, (a, b) in [
        (symvi.TruncatedNormal.dist(0.0, 1.0, lower=40.0, size=500), (40, INF)),
        (symvi.TruncatedNormal.dist(0.0, 1.0, upper=-40.0, size=500), (-INF, -40)),
    ]:
        x = compile_fn([], rv, random_seed=2, mode=FAST)()
        assert np.all(np.isfinite(x)) and np.all((x >= a) & (x <= b))
        assert np.all(np.abs(x) < 41)


BATCH = [
    lambda: symvi.TruncatedNormal.dist(0.0, 1.0, lower=np.zeros(6)),
    lambda: symvi.Weibull.dist(2.0, np.ones(6)),
    lambda: symvi.Wald.dist(1.0, 1.0, alpha=np.zeros(6)),
    lambda: symvi.HalfStudentT.dist(3.0, np.ones(6)),
    lambda: symvi.ChiSquared.dist(np.full(6, 3.0)),
    lambda: symvi.Beta.dist(np.full(6, 2.0), 2.0),
    lambda: symvi.Pareto.dist(3.0, np.ones(6)),
    lambda: symvi.InverseGamma.dist(3.0, np.ones(6)),
]


@pytest.mark.parametrize("make", BATCH)
def test_batched_parameters_give_independent_draws(make):
    x = compile_fn([], make(), random_seed=3, mode=FAST)()
    assert x.shape == (6,) and len(np.unique(x)) == 6


def test_support_points_in_support():
    rvs = [make() for _, make, *_ in CASES]
    sps = [dist_info(rv).cls.support_point(rv, **dist_info(rv).params) for rv in rvs]
    outs = pytensor.function([], sps + [dist_info(rv).logp(sp) for rv, sp in zip(rvs, sps)], mode=FAST)()
    for (name, _, _, support, _), sp, lp in zip(CASES, outs[: len(CASES)], outs[len(CASES) :]):
        assert support[0] < sp < support[1], (name, sp)
        assert np.isfinite(lp), name


# ---------------------------------------------------------------------- parameter checks
INVALID = [
    (symvi.Normal, (0, -1), {}, "sigma"),
    (symvi.Normal, (0,), {"tau": -1.0}, "tau"),  # the message names the argument given
    (symvi.HalfNormal, (0.0,), {}, "sigma"),
    (symvi.Exponential, (-2.0,), {}, "lam"),
    (symvi.Gamma, (1.0, -1.0), {}, "beta"),
    (symvi.Uniform, (2.0, 1.0), {}, "lower and upper"),
    (symvi.TruncatedNormal, (0.0, 1.0), {"lower": 2.0, "upper": 1.0}, "lower and upper"),
    (symvi.TruncatedNormal, (0.0, -1.0), {}, "sigma"),
    (symvi.InverseGamma, (-1.0, 1.0), {}, "alpha"),
    (symvi.Beta, (1.0, 0.0), {}, "beta"),
    (symvi.Beta, (), {"mu": 0.5, "sigma": 0.9}, "alpha"),
    (symvi.LogNormal, (0.0, -1.0), {}, "sigma"),
    (symvi.StudentT, (-1.0,), {}, "nu"),
    (symvi.StudentT, (1.0, 0.0), {"lam": -1.0}, "lam"),
    (symvi.HalfStudentT, (1.0, -2.0), {}, "sigma"),
    (symvi.Cauchy, (0.0, -1.0), {}, "beta"),
    (symvi.HalfCauchy, (np.array([1.0, -1.0]),), {}, "beta"),
    (symvi.Laplace, (0.0, 0.0), {}, "b"),
    (symvi.Logistic, (0.0, -1.0), {}, "s"),
    (symvi.Weibull, (0.0, 1.0), {}, "alpha"),
    (symvi.Pareto, (1.0, -1.0), {}, "m"),
    (symvi.ChiSquared, (0,), {}, "nu"),
    (symvi.Wald, (-1.0, 1.0), {}, "mu"),
    (symvi.Wald, (1.0,), {"phi": -1.0}, "lam"),
]


@pytest.mark.parametrize("dist, args, kwargs, param", INVALID, ids=[f"{d.__name__}-{p}" for d, _, _, p in INVALID])
def test_constant_invalid_parameter_raises(dist, args, kwargs, param):
    with symvi.Model():
        with pytest.raises(ValueError, match=rf"'bad_var'.*parameter {param} must be"):
            dist("bad_var", *args, **kwargs)


@pytest.mark.parametrize(
    "make, value",
    [
        (lambda s: symvi.Normal.dist(0.0, s), 0.5),
        (lambda s: symvi.Gamma.dist(s, 1.0), 0.5),
        (lambda s: symvi.Beta.dist(2.0, s), 0.5),
        (lambda s: symvi.StudentT.dist(s, 0.0, 1.0), 0.5),
        (lambda s: symvi.TruncatedNormal.dist(0.0, s, lower=0.0), 0.5),
        (lambda s: symvi.TruncatedNormal.dist(0.0, 1.0, lower=-s, upper=s), 0.0),
        (lambda s: symvi.Pareto.dist(1.0, s), 2.0),
        (lambda s: symvi.Wald.dist(s, 1.0), 2.0),
    ],
)
def test_symbolic_invalid_parameter_gives_minus_inf(make, value):
    s = pt.dscalar("s")
    lp = dist_info(make(s)).logp(pt.as_tensor(value))
    f = pytensor.function([s], lp, mode=FAST)
    assert f(-1.0) == -INF
    assert np.isfinite(f(1.0))


def test_wrong_parametrizations_raise_typeerror():
    for call in [
        lambda: symvi.Gamma.dist(1.0, mu=1.0, sigma=1.0),
        lambda: symvi.InverseGamma.dist(mu=1.0),
        lambda: symvi.Beta.dist(mu=0.5, sigma=0.1, nu=3.0),
        lambda: symvi.Normal.dist(0.0, sigma=1.0, tau=1.0),
        lambda: symvi.StudentT.dist(mu=0.0),
        lambda: symvi.Wald.dist(mu=1.0, lam=1.0, phi=1.0),
        lambda: symvi.Exponential.dist(1.0, scale=1.0),
        lambda: symvi.Cauchy.dist(0.0),
    ]:
        with pytest.raises(TypeError):
            call()


# ---------------------------------------------------------------------- transforms / model use
@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda: symvi.TruncatedNormal.dist(0.0, 1.0), type(None)),
        (lambda: symvi.TruncatedNormal.dist(0.0, 1.0, lower=0.0), transforms.LowerBound),
        (lambda: symvi.TruncatedNormal.dist(0.0, 1.0, upper=0.0), transforms.UpperBound),
        (lambda: symvi.TruncatedNormal.dist(0.0, 1.0, lower=-1.0, upper=1.0), transforms.Interval),
        (lambda: symvi.TruncatedNormal.dist(0.0, 1.0, lower=pt.dscalar("a")), transforms.LowerBound),
        (lambda: symvi.Beta.dist(2.0, 2.0), transforms.LogOddsTransform),
        (lambda: symvi.Pareto.dist(2.0, 3.0), transforms.LowerBound),
        (lambda: symvi.Wald.dist(1.0, 1.0), transforms.LogTransform),
        (lambda: symvi.Wald.dist(1.0, 1.0, alpha=2.0), transforms.LowerBound),
        (lambda: symvi.StudentT.dist(3.0), type(None)),
        (lambda: symvi.HalfCauchy.dist(1.0), transforms.LogTransform),
    ],
)
def test_default_transforms(make, expected):
    info = dist_info(make())
    assert isinstance(info.cls.default_transform(info.params), expected)


def test_model_with_new_distributions_has_finite_logp_and_gradient():
    with symvi.Model() as m:
        mu = symvi.Normal("mu", 0.0, 1.0)
        s = symvi.HalfStudentT("s", 3.0, 1.0)
        symvi.TruncatedNormal("tn", mu, s, lower=0.0, upper=5.0)
        symvi.TruncatedNormal("tn1", mu, s, lower=-1.0)
        symvi.Beta("p", mu=0.3, nu=5.0)
        symvi.Pareto("pa", 2.0, 1.5)
        symvi.Wald("w", mu=1.0, phi=2.0, alpha=0.5)
        symvi.StudentT("y", 4.0, mu, s, observed=np.array([0.1, -0.3, 2.0]))
    point = m.initial_point()
    logp = m.logp()
    f = pytensor.function(m.value_vars, [logp, *pytensor.grad(logp, m.value_vars)], mode=FAST)
    out = f(*[point[v.name] for v in m.value_vars])
    assert all(np.all(np.isfinite(o)) for o in out)
