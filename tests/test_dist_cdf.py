"""logcdf and icdf of the univariate distributions against scipy.stats.

Grids include the edges of the support, points outside it, and both tails; the reference
log cdf is scipy's ``log(cdf)`` in the lower half and ``log1p(-sf)`` in the upper half (scipy's
own ``logcdf`` is ``log(cdf)`` for most distributions, which loses the upper tail).
Everything is compiled once (one pytensor function for all cases).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.stats as st

import symvi as pm
from symvi.distributions import dist_info
from symvi.pytensorf import ONE_SHOT_MODE

INF = np.inf


def _tn(mu, sigma, lower, upper):
    return st.truncnorm((lower - mu) / sigma, (upper - mu) / sigma, loc=mu, scale=sigma)


class _HalfT:
    """|t(nu, 0, sigma)| (scipy has none): cdf, sf and ppf."""

    def __init__(self, nu, sigma):
        self.t = st.t(nu, 0, sigma)

    def cdf(self, x):
        return np.where(x < 0, 0.0, self.t.cdf(x) - self.t.sf(x))

    def sf(self, x):
        return np.where(x < 0, 1.0, 2 * self.t.sf(x))

    def ppf(self, q):
        return self.t.ppf((np.asarray(q) + 1) / 2)


class _Summed:
    """A finite discrete scipy distribution whose cdf and sf are sums of its pmf (scipy's
    betabinom sf is 1 - cdf, which loses the upper tail)."""

    def __init__(self, frozen, n):
        self.f, self.k = frozen, np.arange(n + 1)

    def cdf(self, x):
        x = np.floor(np.asarray(x, dtype=float))
        return np.array([self.f.pmf(self.k[self.k <= v]).sum() for v in x])

    def sf(self, x):
        x = np.floor(np.asarray(x, dtype=float))
        return np.array([self.f.pmf(self.k[self.k > v]).sum() for v in x])

    def ppf(self, q):
        return self.f.ppf(q)


# id, symvi variable, scipy frozen distribution, support (lo, hi), extra points, has icdf
CONTINUOUS = [
    ("Normal", pm.Normal.dist(1.0, 2.0), st.norm(1, 2), (-INF, INF), [-60.0, 60.0], True),
    ("StudentT", pm.StudentT.dist(4, 1, 2), st.t(4, 1, 2), (-INF, INF), [-1e4, 1e4, 1.0], True),
    ("StudentT-nu07", pm.StudentT.dist(0.7, 0, 1), st.t(0.7), (-INF, INF), [-1e3, 1e3], True),
    ("Cauchy", pm.Cauchy.dist(1.0, 3.0), st.cauchy(1, 3), (-INF, INF), [-1e8, 1e8], True),
    ("Laplace", pm.Laplace.dist(-1.0, 0.5), st.laplace(-1, 0.5), (-INF, INF), [-20.0, 20.0], True),
    ("Logistic", pm.Logistic.dist(1.0, 2.0), st.logistic(1, 2), (-INF, INF), [-500.0, 500.0], True),
    ("HalfNormal", pm.HalfNormal.dist(2.0), st.halfnorm(scale=2), (0, INF), [20.0], True),
    ("Exponential", pm.Exponential.dist(3.0), st.expon(scale=1 / 3), (0, INF), [1e-12, 10.0], True),
    ("Gamma", pm.Gamma.dist(3.0, 7.0), st.gamma(3, scale=1 / 7), (0, INF), [1e-5, 5.0], True),
    ("Gamma-small-alpha", pm.Gamma.dist(0.3, 2.0), st.gamma(0.3, scale=0.5), (0, INF), [1e-20, 10.0], True),
    ("InverseGamma", pm.InverseGamma.dist(3.0, 2.0), st.invgamma(3, scale=2), (0, INF), [0.01, 1e3], True),
    ("LogNormal", pm.LogNormal.dist(0.5, 0.8), st.lognorm(0.8, scale=np.exp(0.5)), (0, INF), [1e-8, 1e4], True),
    ("HalfStudentT", pm.HalfStudentT.dist(3, 2.0), _HalfT(3, 2), (0, INF), [1e3, 1e-6], True),
    ("HalfCauchy", pm.HalfCauchy.dist(2.0), st.halfcauchy(scale=2), (0, INF), [1e-9, 1e9, 2.0], True),
    ("Weibull", pm.Weibull.dist(1.5, 2.0), st.weibull_min(1.5, scale=2), (0, INF), [1e-9, 12.0], True),
    ("Pareto", pm.Pareto.dist(3.0, 2.0), st.pareto(3, scale=2), (2, INF), [2 + 1e-9, 1e4], True),
    ("ChiSquared", pm.ChiSquared.dist(5.0), st.chi2(5), (0, INF), [1e-4, 60.0], True),
    ("Wald", pm.Wald.dist(2.0, 3.0), st.invgauss(2 / 3, scale=3), (0, INF), [0.05, 30.0], False),
    ("Wald-alpha", pm.Wald.dist(mu=2.0, phi=1.5, alpha=1.0), st.invgauss(2 / 3, loc=1, scale=3), (1, INF), [], False),
    ("Uniform", pm.Uniform.dist(-1.0, 3.0), st.uniform(-1, 4), (-1, 3), [], True),
    ("Beta", pm.Beta.dist(2.5, 4.0), st.beta(2.5, 4), (0, 1), [1e-6, 1 - 1e-6], True),
    ("Beta-small", pm.Beta.dist(0.5, 0.3), st.beta(0.5, 0.3), (0, 1), [1e-9, 1 - 1e-9], True),
    ("TruncNormal", pm.TruncatedNormal.dist(0.5, 2.0, lower=-1.0, upper=3.0), _tn(0.5, 2, -1, 3), (-1, 3), [], True),
    ("TruncNormal-lower", pm.TruncatedNormal.dist(0.0, 1.0, lower=1.5), _tn(0, 1, 1.5, INF), (1.5, INF), [8.0], True),
    ("TruncNormal-upper", pm.TruncatedNormal.dist(2.0, 0.5, upper=1.0), _tn(2, 0.5, -INF, 1), (-INF, 1), [-2.0], True),
    ("TruncNormal-tail", pm.TruncatedNormal.dist(0.0, 1.0, lower=8.0, upper=9.0), _tn(0, 1, 8, 9), (8, 9), [], True),
]
DISCRETE = [
    ("Bernoulli", pm.Bernoulli.dist(0.3), st.bernoulli(0.3), (0, 1), [], True),
    ("Binomial", pm.Binomial.dist(10, 0.35), st.binom(10, 0.35), (0, 10), [2.5], True),
    ("Binomial-p0", pm.Binomial.dist(5, 0.0), st.binom(5, 0.0), (0, 5), [], True),
    ("Poisson", pm.Poisson.dist(3.5), st.poisson(3.5), (0, INF), [40.0, 3.7], True),
    ("Poisson-large", pm.Poisson.dist(2500.0), st.poisson(2500), (0, INF), [2200.0, 2800.0], True),
    ("NegativeBinomial", pm.NegativeBinomial.dist(4.0, 2.5), st.nbinom(2.5, 2.5 / 6.5), (0, INF), [60.0], True),
    ("NegativeBinomial-heavy", pm.NegativeBinomial.dist(50.0, 0.05), st.nbinom(0.05, 0.05 / 50.05), (0, INF), [1e4], True),
    ("Geometric", pm.Geometric.dist(0.2), st.geom(0.2), (1, INF), [100.0], True),
    ("Geometric-p1", pm.Geometric.dist(1.0), st.geom(1.0), (1, INF), [], True),
    ("BetaBinomial", pm.BetaBinomial.dist(2.0, 3.5, 12), _Summed(st.betabinom(12, 2.0, 3.5), 12), (0, 12), [4.5], True),
    ("BetaBinomial-tail", pm.BetaBinomial.dist(0.5, 40.0, 60), _Summed(st.betabinom(60, 0.5, 40.0), 60), (0, 60), [30.0, 45.0], True),
    ("Categorical", pm.Categorical.dist(np.array([0.2, 0.5, 0.05, 0.25])), st.rv_discrete(values=(range(4), [0.2, 0.5, 0.05, 0.25])), (0, 3), [1.5], True),
    ("DiscreteUniform", pm.DiscreteUniform.dist(-2, 4), st.randint(-2, 5), (-2, 4), [0.5], True),
]
CASES = CONTINUOUS + DISCRETE
QS = np.array([0.0, 1e-10, 1e-4, 0.05, 0.3, 0.5, 0.7, 0.95, 1 - 1e-4, 1 - 1e-10, 1.0])
POINT_MASS = {"Binomial-p0": 0.0, "Geometric-p1": 1.0}  # smallest k with F(k) >= q, for every q
BAD_QS = np.array([-0.1, 1.5, -INF])


def _grid(frozen, support, extra, discrete):
    lo, hi = support
    with np.errstate(all="ignore"):
        pts = list(frozen.ppf([1e-8, 0.001, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999, 1 - 1e-8])) + list(extra)
    for edge, out in ((lo, -1.0), (hi, 1.0)):
        if np.isfinite(edge):
            pts += [edge, edge + out * (1.0 if discrete else 1e-3), edge + out * 2.0]
    pts = np.array(sorted(set(float(p) for p in pts if np.isfinite(p))))
    return pts


def _ref_logcdf(frozen, x):
    with np.errstate(all="ignore"):
        cdf, sf = frozen.cdf(x), frozen.sf(x)
        return np.where(cdf < 0.5, np.log(cdf), np.log1p(-sf))


@pytest.fixture(scope="module")
def results():
    """Every case's logcdf on its grid and icdf on QS and BAD_QS: one compiled function."""
    outs, meta = [], {}
    for name, rv, frozen, support, extra, has_icdf in CASES:
        discrete = name in {c[0] for c in DISCRETE}
        grid = _grid(frozen, support, extra, discrete)
        meta[name] = grid
        outs.append(pm.logcdf(rv, grid))
        outs.append(pm.icdf(rv, np.concatenate([QS, BAD_QS])) if has_icdf else pt.zeros(1))
    # the python linker without rewrites: the expressions as written, compiled in a moment
    got = pytensor.function([], outs, mode=ONE_SHOT_MODE)()
    return {name: (meta[name], got[2 * i], got[2 * i + 1]) for i, (name, *_) in enumerate(CASES)}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_logcdf_matches_scipy(case, results):
    name, _, frozen, (lo, hi), _, _ = case
    grid, got, _ = results[name]
    below, above = grid < lo, grid >= hi
    assert np.all(got[below] == -INF), (grid[below], got[below])
    assert np.all(got[above] == 0.0), (grid[above], got[above])
    assert below.any() or not np.isfinite(lo)
    assert above.any() or not np.isfinite(hi)
    assert not np.any(np.isnan(got)), (grid, got)
    np.testing.assert_allclose(got, _ref_logcdf(frozen, grid), rtol=1e-7, atol=1e-300)


@pytest.mark.parametrize("case", [c for c in CASES if c[5]], ids=[c[0] for c in CASES if c[5]])
def test_icdf_matches_scipy(case, results):
    name, _, frozen, (lo, hi), _, _ = case
    _, _, got = results[name]
    got, bad = got[: len(QS)], got[len(QS) :]
    assert np.all(np.isnan(bad)), bad
    with np.errstate(all="ignore"):
        want = frozen.ppf(QS)
    if name in POINT_MASS:  # scipy's answers for a degenerate law are off the support
        want = np.full(len(QS), POINT_MASS[name])
    elif name in {c[0] for c in DISCRETE}:
        want[0] = lo  # q = 0: the lowest point of the support (scipy answers lo - 1)
    else:
        assert got[0] == lo and got[-1] == hi, (got[0], got[-1])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-12)


def test_normal_logcdf_far_tails_and_gradient():
    x = pt.dvector("x")
    lc = pm.logcdf(pm.Normal.dist(0.0, 1.0), x)
    f = pytensor.function([x], [lc, pytensor.grad(lc.sum(), x)])
    vals = np.array([-1e3, -40.0, -5.0, 0.0, 5.0, 40.0])
    got, grad = f(vals)
    np.testing.assert_allclose(got, st.norm.logcdf(vals), rtol=1e-10)
    np.testing.assert_allclose(grad, np.exp(st.norm.logpdf(vals) - st.norm.logcdf(vals)), rtol=1e-6)


def test_logcdf_gradient_finite_at_support_edge():
    """logcdf at a bound outside the support: -inf, with a finite parameter gradient (Truncated's
    normaliser relies on it)."""
    alpha, beta = pt.dscalar("alpha"), pt.dscalar("beta")
    lc = pm.logcdf(pm.Gamma.dist(alpha, beta), np.array([-1.0, 0.0, 2.0]))
    grads = pytensor.grad(pt.switch(pt.isinf(lc), 0.0, lc).sum(), [alpha, beta])
    f = pytensor.function([alpha, beta], [lc, *grads], mode=ONE_SHOT_MODE)
    val, ga, gb = f(2.0, 1.5)
    assert val[0] == -INF and val[1] == -INF
    np.testing.assert_allclose(val[2], st.gamma(2, scale=1 / 1.5).logcdf(2.0), rtol=1e-10)
    assert np.isfinite(ga) and np.isfinite(gb)


def test_model_variable_and_tensor_value():
    with pm.Model():
        x = pm.Exponential("x", 2.0)
    v = pt.dscalar("v")
    f = pytensor.function([v], [pm.logp(x, v), pm.logcdf(x, v), pm.icdf(x, v)])
    lp, lc, q = f(0.25)
    np.testing.assert_allclose([lp, lc, q], [st.expon(scale=0.5).logpdf(0.25), st.expon(scale=0.5).logcdf(0.25), st.expon(scale=0.5).ppf(0.25)], rtol=1e-12)


def test_missing_function_names_distribution():
    with pytest.raises(TypeError, match="logcdf: Flat has no logcdf"):
        pm.logcdf(pm.Flat.dist(), 0.0)
    with pytest.raises(TypeError, match="icdf: Wald has no icdf"):
        pm.icdf(pm.Wald.dist(1.0, 1.0), 0.5)
    with pytest.raises(TypeError, match="icdf: MvNormal has no icdf"):
        pm.icdf(pm.MvNormal.dist(np.zeros(2), np.eye(2)), 0.5)
    with pytest.raises(TypeError, match="logp: expected a symvi random variable"):
        pm.logp(pt.dscalar("y"), 0.0)


def test_symbolic_invalid_parameter_gives_nan_icdf_and_minus_inf_logcdf():
    sigma = pt.dscalar("sigma")
    rv = pm.Normal.dist(0.0, sigma)
    f = pytensor.function([sigma], [pm.logcdf(rv, 0.0), pm.icdf(rv, 0.5)])
    lc, q = f(-1.0)
    assert lc == -INF and np.isnan(q)


def test_every_univariate_distribution_is_covered():
    """A new logcdf/icdf anywhere in these families must get a case here too."""
    from symvi.distributions import bounded, discrete, positive, unbounded

    tested = {dist_info(c[1]).cls.__name__ for c in CASES}
    for mod in (unbounded, positive, bounded, discrete):
        for name in mod.__all__:
            cls = getattr(mod, name)
            if getattr(cls, "logcdf", None) is not None and name == cls.__name__:  # not aliases
                assert name in tested, name


def test_categorical_batched_probabilities():
    p = np.array([[0.2, 0.8], [0.6, 0.4]])
    rv = pm.Categorical.dist(p)
    lc, q = pytensor.function([], [pm.logcdf(rv, 0.0), pm.icdf(rv, 0.5)], mode=ONE_SHOT_MODE)()
    np.testing.assert_allclose(lc, np.log([0.2, 0.6]), rtol=1e-12)
    np.testing.assert_array_equal(q, [1.0, 0.0])
