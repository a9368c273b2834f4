"""Truncated and Censored wrappers: densities against scipy.stats, normalisation, draws,
transforms and errors."""

from __future__ import annotations

import numpy as np
import pytensor
import pytest
import scipy.stats as st

import symvi as pm
from symvi import transforms
from symvi.distributions import dist_info
from symvi.pytensorf import ONE_SHOT_MODE, compile_fn

INF = np.inf
FAST = ONE_SHOT_MODE  # the python linker without rewrites: compiles in a moment


def _eval(outs, mode=FAST):
    return pytensor.function([], outs, mode=mode)()


class _TruncRef:
    """Truncation of a scipy frozen distribution (reference density, cdf and ppf)."""

    def __init__(self, frozen, lower, upper, discrete=False):
        self.f, self.lo, self.up, self.discrete = frozen, lower, upper, discrete
        self.f_lo = frozen.cdf(lower - 1) if discrete else frozen.cdf(lower)
        self.mass = frozen.cdf(upper) - self.f_lo

    def logpdf(self, x):
        with np.errstate(divide="ignore"):
            base = self.f.logpmf(x) if self.discrete else self.f.logpdf(x)
        return np.where((x >= self.lo) & (x <= self.up), base - np.log(self.mass), -INF)

    def cdf(self, x):
        return np.clip((self.f.cdf(np.minimum(x, self.up)) - self.f_lo) / self.mass, 0, 1) * (x >= self.lo)

    def ppf(self, q):
        return self.f.ppf(self.f_lo + q * self.mass)


# id, base, lower, upper, reference, grid
TRUNC = [
    ("Normal-both", pm.Normal.dist(0.5, 2.0), -1.0, 3.0, st.truncnorm(-0.75, 1.25, loc=0.5, scale=2), np.linspace(-2, 4, 25)),
    ("Normal-lower", pm.Normal.dist(0.0, 1.0), 0.0, None, st.truncnorm(0, INF), np.array([-1.0, 0.0, 0.3, 2.0, 8.0])),
    ("Normal-farlower", pm.Normal.dist(0.0, 1.0), 10.0, None, st.truncnorm(10, INF), np.array([9.0, 10.0, 10.05, 10.5, 12.0])),
    ("Normal-farupper", pm.Normal.dist(0.0, 1.0), 10.0, 11.0, st.truncnorm(10, 11), np.array([10.0, 10.05, 10.5, 11.0, 11.5])),
    ("Gamma-upper", pm.Gamma.dist(2.0, 1.5), None, 3.0, _TruncRef(st.gamma(2, scale=1 / 1.5), -INF, 3.0), np.array([-1.0, 0.0, 0.5, 2.9, 3.0, 3.1])),
    ("Exponential-both", pm.Exponential.dist(0.7), 1.0, 4.0, _TruncRef(st.expon(scale=1 / 0.7), 1.0, 4.0), np.linspace(0.5, 4.5, 9)),
    ("Wald-both", pm.Wald.dist(2.0, 3.0), 0.5, 4.0, _TruncRef(st.invgauss(2 / 3, scale=3), 0.5, 4.0), np.linspace(0.25, 4.5, 9)),
    ("Poisson-both", pm.Poisson.dist(3.0), 1, 4, _TruncRef(st.poisson(3), 1, 4, True), np.arange(-1.0, 7.0)),
    ("Binomial-lower", pm.Binomial.dist(10, 0.3), 2, None, _TruncRef(st.binom(10, 0.3), 2, INF, True), np.arange(0.0, 12.0)),
    ("Geometric-upper", pm.Geometric.dist(0.4), None, 5, _TruncRef(st.geom(0.4), -INF, 5, True), np.arange(0.0, 8.0)),
    ("NegBinomial-both", pm.NegativeBinomial.dist(4.0, 2.0), 2, 9, _TruncRef(st.nbinom(2, 2 / 6), 2, 9, True), np.arange(0.0, 11.0)),
]
TRUNC_IDS = [c[0] for c in TRUNC]


@pytest.fixture(scope="module")
def trunc_results():
    outs = []
    for _, base, lo, up, _, grid in TRUNC:
        rv = pm.Truncated.dist(base, lower=lo, upper=up)
        outs += [pm.logp(rv, grid), pm.logcdf(rv, grid)]
    got = _eval(outs)
    return {c[0]: (got[2 * i], got[2 * i + 1]) for i, c in enumerate(TRUNC)}


@pytest.mark.parametrize("case", TRUNC, ids=TRUNC_IDS)
def test_truncated_logp_and_logcdf_match_scipy(case, trunc_results):
    name, _, lo, up, ref, grid = case
    lp, lc = trunc_results[name]
    lo = -INF if lo is None else lo
    up = INF if up is None else up
    with np.errstate(divide="ignore"):
        want_lc = np.log(ref.cdf(grid))
    np.testing.assert_allclose(lp, ref.logpdf(grid) if not hasattr(ref, "logpmf") else ref.logpmf(grid), rtol=1e-7)
    np.testing.assert_allclose(lc, want_lc, rtol=1e-7, atol=1e-12)
    assert np.all(lp[(grid < lo) | (grid > up)] == -INF)
    assert np.all(lc[grid >= up] == 0.0) and np.all(lc[grid < lo] == -INF)


def test_truncated_is_normalised():
    """Continuous: the density integrates to one; discrete: the masses sum to one."""
    x = np.linspace(-1.0, 3.0, 40001)
    cont = pm.Truncated.dist(pm.StudentT.dist(3.0, 0.5, 1.2), lower=-1.0, upper=3.0)
    k = np.arange(0.0, 200.0)
    disc = pm.Truncated.dist(pm.Poisson.dist(7.0), lower=3)
    lp_c, lp_d = _eval([pm.logp(cont, x), pm.logp(disc, k)])
    np.testing.assert_allclose(np.trapezoid(np.exp(lp_c), x), 1.0, rtol=1e-7)
    np.testing.assert_allclose(np.exp(lp_d).sum(), 1.0, rtol=1e-12)
    assert np.all(lp_d[:3] == -INF)


def test_truncated_icdf_matches_scipy():
    q = np.array([0.0, 0.01, 0.3, 0.5, 0.9, 1.0, 1.5])
    rv = pm.Truncated.dist(pm.Normal.dist(0.5, 2.0), lower=-1.0, upper=3.0)
    got = _eval(pm.icdf(rv, q))
    np.testing.assert_allclose(got[:-1], st.truncnorm(-0.75, 1.25, loc=0.5, scale=2).ppf(q[:-1]), rtol=1e-9)
    assert np.isnan(got[-1])


DRAWS = [
    ("Normal-both", pm.Truncated.dist(pm.Normal.dist(0.5, 2.0), lower=-1.0, upper=3.0, size=3000), st.truncnorm(-0.75, 1.25, loc=0.5, scale=2).cdf),
    ("Gamma-upper", pm.Truncated.dist(pm.Gamma.dist(2.0, 1.5), upper=3.0, size=3000), _TruncRef(st.gamma(2, scale=1 / 1.5), -INF, 3.0).cdf),
    # F(10) rounds to one: the draws are set on the survival function (Newton on log S)
    ("Normal-far-upper-tail", pm.Truncated.dist(pm.Normal.dist(0.0, 1.0), lower=10.0, size=3000), st.truncnorm(10, INF).cdf),
    ("Wald-both-bisection", pm.Truncated.dist(pm.Wald.dist(2.0, 3.0), lower=0.5, upper=4.0, size=3000), _TruncRef(st.invgauss(2 / 3, scale=3), 0.5, 4.0).cdf),
]


def test_truncated_continuous_draws_ks():
    out = compile_fn([], [d for _, d, _ in DRAWS], random_seed=3, mode=FAST)()
    for (name, rv, cdf), x in zip(DRAWS, out):
        lo, up = (float(v.data) for v in (dist_info(rv).params["lower"], dist_info(rv).params["upper"]))
        assert np.all((x >= lo) & (x <= up)), name
        assert st.kstest(x, cdf).pvalue > 1e-3, name


def test_truncated_discrete_draws_frequencies():
    poisson = pm.Truncated.dist(pm.Poisson.dist(3.0), lower=1, upper=4, size=20000)
    negbin = pm.Truncated.dist(pm.NegativeBinomial.dist(4.0, 2.0), lower=2, upper=9, size=20000)
    a, b = compile_fn([], [poisson, negbin], random_seed=5, mode=FAST)()
    assert a.dtype.kind == "i" and b.dtype.kind == "i"
    for x, ref, ks in ((a, _TruncRef(st.poisson(3), 1, 4, True), np.arange(1, 5)), (b, _TruncRef(st.nbinom(2, 1 / 3), 2, 9, True), np.arange(2, 10))):
        assert x.min() >= ks[0] and x.max() <= ks[-1]
        freq = np.array([(x == k).mean() for k in ks])
        np.testing.assert_allclose(freq, np.exp(ref.logpdf(ks)), atol=0.015)


def test_truncated_draw_without_icdf_and_infinite_bound_raises_at_run_time():
    rv = pm.Truncated.dist(pm.Wald.dist(2.0, 3.0), lower=0.5)
    with pytest.raises(AssertionError, match="Wald has no icdf"):
        _eval(rv)
    assert np.isfinite(_eval(pm.logp(rv, 1.0)))  # the density does not need draws


def test_truncated_default_transforms():
    with pm.Model() as m:
        pm.Truncated("a", pm.Normal.dist(0, 1), lower=0, upper=2)
        pm.Truncated("b", pm.Normal.dist(0, 1), lower=1)
        pm.Truncated("c", pm.Normal.dist(0, 1), upper=1)
        pm.Truncated("d", pm.Gamma.dist(2, 1), upper=3)  # base support gives the lower end
        pm.Truncated("e", pm.Beta.dist(2, 2), lower=0.2)
        pm.Truncated("f", pm.Poisson.dist(2.0), upper=3)
    tr = {rv.name: m.rvs_to_transforms[rv] for rv in m.free_RVs}
    assert isinstance(tr["a"], transforms.Interval) and isinstance(tr["b"], transforms.LowerBound)
    assert isinstance(tr["c"], transforms.UpperBound) and isinstance(tr["d"], transforms.Interval)
    assert isinstance(tr["e"], transforms.Interval) and tr["f"] is None
    np.testing.assert_allclose([tr["d"].lower.eval(), tr["d"].upper.eval()], [0.0, 3.0])
    np.testing.assert_allclose([tr["e"].lower.eval(), tr["e"].upper.eval()], [0.2, 1.0])


def test_truncated_latent_logp_and_gradient_in_a_model():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 1.0)
        x = pm.Truncated("x", pm.Normal.dist(mu, 1.0), lower=0.0, upper=2.0)
        pm.Truncated("y", pm.Normal.dist(x, 0.5), lower=0.0, observed=np.array([0.3, 1.1, 2.5]))
    point = {"mu": np.array(0.4), "x_interval__": np.array(0.2)}
    values = [m.rvs_to_values[m["mu"]], m.rvs_to_values[m["x"]]]
    logp = m.logp()
    f = pytensor.function(values, [logp, *pytensor.grad(logp, values)], mode=FAST)
    lp, *grads = f(point["mu"], point["x_interval__"])
    xv = 2 / (1 + np.exp(-0.2))
    want = (
        st.norm.logpdf(0.4)
        + st.truncnorm(-0.4, 1.6, loc=0.4).logpdf(xv)
        + np.log(2 * np.exp(-0.2) / (1 + np.exp(-0.2)) ** 2)
        + st.truncnorm(-xv / 0.5, INF, loc=xv, scale=0.5).logpdf([0.3, 1.1, 2.5]).sum()
    )
    np.testing.assert_allclose(lp, want, rtol=1e-9)
    assert np.all(np.isfinite(grads))


def test_truncated_errors_name_the_distribution():
    with pytest.raises(TypeError, match="Flat has no logcdf"):
        pm.Truncated.dist(pm.Flat.dist(), lower=0)
    with pytest.raises(TypeError, match="univariate.*MvNormal"):
        pm.Truncated.dist(pm.MvNormal.dist(np.zeros(2), np.eye(2)), lower=0)
    with pytest.raises(ValueError, match="lower must be < upper"):
        pm.Truncated.dist(pm.Normal.dist(0, 1), lower=2, upper=1)
    with pytest.raises(TypeError, match="icdf: Truncated\\(Wald\\)"):
        pm.icdf(pm.Truncated.dist(pm.Wald.dist(1.0, 1.0), lower=0.5, upper=2.0), 0.5)


# ---------------------------------------------------------------------- Censored
def test_censored_logp_matches_pymc_definition():
    cont = pm.Censored.dist(pm.Normal.dist(0.5, 2.0), lower=-1.0, upper=2.0)
    disc = pm.Censored.dist(pm.Poisson.dist(3.0), lower=1, upper=5)
    half = pm.Censored.dist(pm.Normal.dist(0.0, 1.0), lower=None, upper=0.0)
    xc = np.array([-2.0, -1.0, 0.0, 1.5, 2.0, 2.5])
    xd = np.array([0.0, 1.0, 3.0, 5.0, 6.0])
    xh = np.array([-50.0, -1.0, 0.0, 0.5])
    got_c, got_d, got_h = _eval([pm.logp(cont, xc), pm.logp(disc, xd), pm.logp(half, xh)])
    n, p = st.norm(0.5, 2.0), st.poisson(3.0)
    np.testing.assert_allclose(got_c, [-INF, n.logcdf(-1.0), n.logpdf(0.0), n.logpdf(1.5), n.logsf(2.0), -INF], rtol=1e-10)
    np.testing.assert_allclose(got_d, [-INF, p.logcdf(1), p.logpmf(3), np.log(p.sf(4)), -INF], rtol=1e-10)
    np.testing.assert_allclose(got_h, [st.norm.logpdf(-50.0), st.norm.logpdf(-1.0), np.log(0.5), -INF], rtol=1e-10)


def test_censored_draws_are_clipped_base_draws():
    x, k = compile_fn([], [pm.Censored.dist(pm.Normal.dist(0.0, 1.0), lower=-0.5, upper=1.0, size=20000),
                           pm.Censored.dist(pm.Poisson.dist(3.0), upper=4, size=20000)], random_seed=7, mode=FAST)()
    assert x.min() == -0.5 and x.max() == 1.0 and k.dtype.kind == "i" and k.max() == 4
    np.testing.assert_allclose([(x == -0.5).mean(), (x == 1.0).mean(), (k == 4).mean()],
                               [st.norm.cdf(-0.5), st.norm.sf(1.0), st.poisson(3).sf(3)], atol=0.012)
    inside = x[(x > -0.5) & (x < 1.0)]
    assert st.kstest(inside, st.truncnorm(-0.5, 1.0).cdf).pvalue > 1e-3


def test_censored_observed_in_a_model_and_errors():
    data = np.array([-1.0, 0.2, 1.0, 1.0])
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Censored("y", pm.Normal.dist(mu, 1.0), lower=-1.0, upper=1.0, observed=data)
    lp = m.compile_logp()({"mu": np.array(0.3)})
    n = st.norm(0.3, 1.0)
    want = st.norm.logpdf(0.3) + n.logcdf(-1.0) + n.logpdf(0.2) + 2 * n.logsf(1.0)
    np.testing.assert_allclose(lp, want, rtol=1e-10)
    with pytest.raises(TypeError, match="Flat has no logcdf"):
        pm.Censored.dist(pm.Flat.dist(), lower=0)
    with pytest.raises(TypeError, match="univariate"):
        pm.Censored.dist(pm.Dirichlet.dist(np.ones(3)), lower=0)


def test_truncated_discrete_without_icdf_draws_by_bisection():
    """A discrete base with a logcdf but no icdf (a CustomDist): draws invert the cdf by
    bisection between the bounds."""
    base = pm.CustomDist.dist(
        3.0,
        logp=lambda v, mu: pm.logp(pm.Poisson.dist(mu), v),
        logcdf=lambda v, mu: pm.logcdf(pm.Poisson.dist(mu), v),
        dtype="int64",
    )
    rv = pm.Truncated.dist(base, lower=1, upper=6, size=20000)
    x = compile_fn([], rv, random_seed=11, mode=FAST)()
    ks = np.arange(1, 7)
    assert x.dtype.kind == "i" and x.min() == 1 and x.max() == 6
    freq = np.array([(x == k).mean() for k in ks])
    np.testing.assert_allclose(freq, np.exp(_TruncRef(st.poisson(3), 1, 6, True).logpdf(ks)), atol=0.012)
