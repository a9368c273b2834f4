"""Hurdle models: log density / CDF against scipy-based formulas and PyMC, exact zero-truncated
draws, quantiles, the latent (no transform) convention, gradients and MLE fits."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import optimize, stats

import symvi as sv
from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn

FAST = "FAST_COMPILE"
COUNT_GRID = np.arange(-2, 30).astype(float)
REAL_GRID = np.array([-2.0, -1e-9, 0.0, 1e-9, 1e-3, 0.3, 1.0, 2.5, 7.0, 30.0])


def _gamma(alpha, beta):
    return stats.gamma(alpha, scale=1 / beta)


def _lognorm(mu, sigma):
    return stats.lognorm(sigma, scale=np.exp(mu))


# id, symvi factory, psi, scipy base distribution, discrete?
CASES = [
    ("poisson", lambda: sv.HurdlePoisson.dist(psi=0.6, mu=2.5), 0.6, stats.poisson(2.5), True),
    ("poisson-small-mu", lambda: sv.HurdlePoisson.dist(psi=0.3, mu=0.01), 0.3, stats.poisson(0.01), True),
    ("poisson-psi1", lambda: sv.HurdlePoisson.dist(psi=1.0, mu=4.0), 1.0, stats.poisson(4.0), True),
    ("negbin", lambda: sv.HurdleNegativeBinomial.dist(psi=0.6, mu=3.0, alpha=2.0), 0.6, stats.nbinom(2.0, 0.4), True),
    ("negbin-np", lambda: sv.HurdleNegativeBinomial.dist(psi=0.2, n=0.5, p=0.1), 0.2, stats.nbinom(0.5, 0.1), True),
    ("gamma", lambda: sv.HurdleGamma.dist(psi=0.7, alpha=2.0, beta=3.0), 0.7, _gamma(2.0, 3.0), False),
    ("gamma-musigma", lambda: sv.HurdleGamma.dist(psi=0.7, mu=2.0, sigma=0.5), 0.7, _gamma(16.0, 8.0), False),
    ("gamma-alpha<1", lambda: sv.HurdleGamma.dist(psi=0.4, alpha=0.5, beta=1.0), 0.4, _gamma(0.5, 1.0), False),
    ("lognormal", lambda: sv.HurdleLogNormal.dist(psi=0.7, mu=0.3, sigma=0.8), 0.7, _lognorm(0.3, 0.8), False),
    ("lognormal-tau", lambda: sv.HurdleLogNormal.dist(psi=0.7, mu=0.3, tau=4.0), 0.7, _lognorm(0.3, 0.5), False),
]


def hurdle_logp(x, psi, base, discrete):
    with np.errstate(divide="ignore", invalid="ignore"):
        if discrete:
            body = np.log(psi) + base.logpmf(x) - base.logsf(0)
        else:
            body = np.log(psi) + base.logpdf(x)
        out = np.where(x == 0, np.log1p(-psi), body)
        return np.where(x < 0, -np.inf, out)


def hurdle_logcdf(x, psi, base, discrete):
    with np.errstate(divide="ignore", invalid="ignore"):  # x < 0: masked below
        ratio = base.sf(x) / base.sf(0) if discrete else base.sf(x)
        return np.where(x < 0, -np.inf, np.log1p(-psi * ratio))


@pytest.fixture(scope="module")
def evaluated():
    outs = []
    for _, make, _, _, discrete in CASES:
        info = dist_info(make())
        v = pt.as_tensor(COUNT_GRID if discrete else REAL_GRID)
        outs += [info.logp(v), info.cls.logcdf(v, **info.params)]
    res = pytensor.function([], outs, mode=FAST)()
    return {c[0]: res[2 * i : 2 * i + 2] for i, c in enumerate(CASES)}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_logp_logcdf_match_scipy(case, evaluated):
    name, _, psi, base, discrete = case
    grid = COUNT_GRID if discrete else REAL_GRID
    lp, lc = evaluated[name]
    want = hurdle_logp(grid, psi, base, discrete)
    assert not np.any(np.isnan(lp)) and not np.any(np.isnan(lc))
    np.testing.assert_array_equal(np.isneginf(lp), np.isneginf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(lp[finite], want[finite], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lc, hurdle_logcdf(grid, psi, base, discrete), rtol=1e-8, atol=1e-12)
    assert np.all(np.isneginf(lp[grid < 0])) and np.all(np.isneginf(lc[grid < 0]))
    if discrete:  # the mass sums to one and the CDF is its running sum
        inside = grid >= 0
        np.testing.assert_allclose(np.exp(lc[inside]), np.cumsum(np.exp(lp[inside])), rtol=1e-9)


def test_matches_pymc():
    # PyMC 5.28.5: pm.logp(rv, values).eval() and pm.logcdf(rv, values).eval(), parameters given
    # as np.float64 (PyMC keeps python floats such as 2.5 as float32 constants)
    pymc = [
        (sv.HurdlePoisson.dist(psi=0.6, mu=2.5), [-1, 0, 1, 3, 10],
         [-np.inf, -0.916290731874155, -2.0088844081497976, -1.9680624136295422, -8.866680394357918],
         [-np.inf, -0.916290731874155, -0.6271006069476219, -0.17252368581411, -4.028356742195456e-05]),
        (sv.HurdleNegativeBinomial.dist(psi=0.6, mu=3.0, alpha=2.0), [-1, 0, 1, 4, 20],
         [-np.inf, -0.916290731874155, -1.9867321435755683, -2.6029182829993855, -9.341043737965913],
         [-np.inf, -0.916290731874155, -0.6214911916535102, -0.18227584355310636, -0.00014730180267752906]),
        (sv.HurdleNegativeBinomial.dist(psi=0.6, n=2.0, p=0.4), [-1, 0, 1, 4, 20],
         [-np.inf, -0.916290731874155, -1.9867321435755683, -2.6029182829993855, -9.341043737965913],
         [-np.inf, -0.916290731874155, -0.6214911916535102, -0.18227584355310636, -0.00014730180267752906]),
        (sv.HurdleGamma.dist(psi=0.7, alpha=2.0, beta=3.0), [-1.0, 0.0, 0.5, 2.0],
         [-np.inf, -1.203972804325936, -0.35259754716245817, -3.4663031860425675],
         [-np.inf, -1.203972804325936, -0.49507987503990913, -0.01222024969306075]),
        (sv.HurdleGamma.dist(psi=0.7, mu=2.0, sigma=0.5), [-1.0, 0.0, 0.5, 2.0],
         [-np.inf, -1.203972804325936, -9.382089369301433, -0.5876739525030752],
         [-np.inf, -1.203972804325936, -1.2039613882994191, -0.39559610329167705]),
        (sv.HurdleLogNormal.dist(psi=0.7, mu=0.3, sigma=0.8), [-1.0, 0.0, 0.5, 2.0],
         [-np.inf, -1.203972804325936, -1.1299019032803193, -1.8663707826252613],
         [-np.inf, -1.203972804325936, -0.9806801566645318, -0.2460179833599819]),
        (sv.HurdleLogNormal.dist(psi=0.7, mu=0.3, tau=4.0), [-1.0, 0.0, 0.5, 2.0],
         [-np.inf, -1.203972804325936, -1.862001760531851, -1.5847428883078736],
         [-np.inf, -1.203972804325936, -1.1505893112702552, -0.16380595333586254]),
    ]
    outs = []
    for rv, values, _, _ in pymc:
        info = dist_info(rv)
        v = pt.as_tensor(np.array(values))
        outs += [info.logp(v), info.cls.logcdf(v, **info.params)]
    res = pytensor.function([], outs, mode=FAST)()
    for i, (_, _, want_lp, want_lc) in enumerate(pymc):
        np.testing.assert_allclose(res[2 * i], want_lp, rtol=1e-10)
        np.testing.assert_allclose(res[2 * i + 1], want_lc, rtol=1e-7, atol=1e-15)


# ---------------------------------------------------------------------- quantiles
@pytest.mark.parametrize(
    "make,psi,base",
    [
        (lambda: sv.HurdleGamma.dist(psi=0.7, alpha=2.0, beta=3.0), 0.7, _gamma(2.0, 3.0)),
        (lambda: sv.HurdleLogNormal.dist(psi=0.6, mu=0.3, sigma=0.8), 0.6, _lognorm(0.3, 0.8)),
    ],
    ids=["gamma", "lognormal"],
)
def test_icdf(make, psi, base):
    q = np.array([-0.1, 0.0, 0.1, 0.3, 1 - psi, 0.5, 0.9, 0.999, 1.0, 1.1])
    info = dist_info(make())
    x = pytensor.function([], info.cls.icdf(pt.as_tensor(q), **info.params), mode=FAST)()
    assert np.isnan(x[0]) and np.isnan(x[-1])
    atom = q[1:-1] <= 1 - psi
    np.testing.assert_array_equal(x[1:-1][atom], 0.0)
    above = q[1:-1][~atom]
    np.testing.assert_allclose(x[1:-1][~atom], base.ppf((above - (1 - psi)) / psi), rtol=1e-8)


# ---------------------------------------------------------------------- draws
N_DRAWS = 20000
COUNT_DRAWS = [
    ("poisson", lambda size: sv.HurdlePoisson.dist(psi=0.6, mu=2.5, size=size), 0.6, stats.poisson(2.5)),
    ("poisson-small-mu", lambda size: sv.HurdlePoisson.dist(psi=0.8, mu=0.05, size=size), 0.8, stats.poisson(0.05)),
    ("poisson-large-mu", lambda size: sv.HurdlePoisson.dist(psi=0.8, mu=30.0, size=size), 0.8, stats.poisson(30.0)),
    ("negbin", lambda size: sv.HurdleNegativeBinomial.dist(psi=0.6, mu=3.0, alpha=2.0, size=size), 0.6, stats.nbinom(2.0, 0.4)),
    ("negbin-small", lambda size: sv.HurdleNegativeBinomial.dist(psi=0.9, mu=0.2, alpha=0.5, size=size), 0.9, stats.nbinom(0.5, 0.5 / 0.7)),
    ("negbin-overdispersed", lambda size: sv.HurdleNegativeBinomial.dist(psi=0.9, mu=8.0, alpha=0.3, size=size), 0.9, stats.nbinom(0.3, 0.3 / 8.3)),
]
REAL_DRAWS = [
    ("gamma", lambda size: sv.HurdleGamma.dist(psi=0.7, alpha=2.0, beta=3.0, size=size), 0.7, _gamma(2.0, 3.0)),
    ("lognormal", lambda size: sv.HurdleLogNormal.dist(psi=0.4, mu=0.3, sigma=0.8, size=size), 0.4, _lognorm(0.3, 0.8)),
]


@pytest.fixture(scope="module")
def draws():
    cases = COUNT_DRAWS + REAL_DRAWS
    out = compile_fn([], [make(N_DRAWS) for _, make, *_ in cases], random_seed=3, mode=FAST)()
    return {c[0]: x for c, x in zip(cases, out)}


@pytest.mark.parametrize("case", COUNT_DRAWS, ids=[c[0] for c in COUNT_DRAWS])
def test_count_draws_match_pmf(case, draws):
    """Frequencies of every value within 5 binomial standard errors of the hurdle pmf."""
    name, _, psi, base = case
    d = draws[name]
    assert d.shape == (N_DRAWS,) and np.issubdtype(d.dtype, np.integer) and d.min() >= 0
    support = np.arange(0, int(base.ppf(0.999)) + 3)
    p = np.exp(hurdle_logp(support.astype(float), psi, base, True))
    freq = np.array([(d == k).mean() for k in support])
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / N_DRAWS) + 1e-3)
    nonzero = d[d > 0]
    mean = base.mean() / base.sf(0)  # mean of the zero-truncated count
    sd = np.sqrt(base.var() + base.mean() ** 2) / np.sqrt(base.sf(0))
    assert abs(nonzero.mean() - mean) < 5 * sd / np.sqrt(nonzero.size)


@pytest.mark.parametrize("case", REAL_DRAWS, ids=[c[0] for c in REAL_DRAWS])
def test_continuous_draws(case, draws):
    name, _, psi, base = case
    x = draws[name]
    zeros = (x == 0).mean()
    assert abs(zeros - (1 - psi)) < 5 * np.sqrt(psi * (1 - psi) / N_DRAWS)
    assert np.all(x >= 0)
    assert stats.kstest(x[x > 0], base.cdf).pvalue > 1e-3


def test_draw_shape_without_size():
    rvs = [
        sv.HurdlePoisson.dist(psi=np.array([0.5, 0.9]), mu=np.array([[1.0], [2.0], [3.0]])),
        sv.HurdleNegativeBinomial.dist(psi=0.5, mu=np.array([1.0, 4.0]), alpha=np.array([[0.5], [1.0], [2.0]])),
        sv.HurdleGamma.dist(psi=np.array([0.5, 0.9]), alpha=np.array([[1.0], [2.0], [3.0]]), beta=1.0),
        sv.HurdleLogNormal.dist(psi=0.5, mu=np.array([[1.0], [2.0], [3.0]]), sigma=np.array([1.0, 2.0])),
    ]
    for x in compile_fn([], rvs, random_seed=1, mode=FAST)():
        assert x.shape == (3, 2)


# ---------------------------------------------------------------------- models
def test_latent_continuous_hurdle_has_no_transform():
    """PyMC 5.28.5 gives HurdleGamma / HurdleLogNormal latents no transform and the initial
    point psi * mean (0.7 * 2/3 = 0.4667 and 0.7 * exp(0.5) = 1.1541 here)."""
    with sv.Model() as m:
        sv.HurdleGamma("g", psi=0.7, alpha=2.0, beta=3.0)
        sv.HurdleLogNormal("l", psi=0.7, mu=0.0, sigma=1.0)
    assert m.rvs_to_transforms[m["g"]] is None and m.rvs_to_transforms[m["l"]] is None
    point = m.initial_point()
    np.testing.assert_allclose([point["g"], point["l"]], [0.7 * 2 / 3, 0.7 * np.exp(0.5)], rtol=1e-12)


def test_gradients_finite_with_zeros_in_data():
    y = np.array([0.0, 0.0, 0.4, 2.0])
    with sv.Model() as m:
        psi = sv.Beta("psi", 2, 2)
        a = sv.Exponential("a", 1.0)
        mu = sv.Normal("mu", 0, 1)
        sv.HurdleGamma("yg", psi=psi, alpha=a, beta=2.0, observed=y)
        sv.HurdleLogNormal("yl", psi=psi, mu=mu, sigma=1.0, observed=y)
        sv.HurdlePoisson("yp", psi=psi, mu=a, observed=np.array([0, 1, 3]))
        sv.HurdleNegativeBinomial("yn", psi=psi, mu=a, alpha=a, observed=np.array([0, 1, 3]))
    names = ["psi_logodds__", "a_log__", "mu"]
    values = [m.rvs_to_values[m[n.split("_")[0]]] for n in names]
    assert [v.name for v in values] == names
    lp = m.logp()
    f = pytensor.function(values, [lp, *pytensor.grad(lp, values)], mode=FAST)  # cheap compile
    x = np.array([0.2, 0.3, -0.4])
    _, *grad = f(*x)
    fd = [(f(*(x + e))[0] - f(*(x - e))[0]) / 2e-6 for e in np.eye(3) * 1e-6]
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


BAD = [
    (sv.HurdlePoisson, {"psi": 1.5, "mu": 1.0}, "psi"),
    (sv.HurdlePoisson, {"psi": 0.5, "mu": 0.0}, "mu"),
    (sv.HurdleNegativeBinomial, {"psi": 0.5, "mu": 1.0, "alpha": -1.0}, "alpha"),
    (sv.HurdleGamma, {"psi": 0.5, "alpha": 0.0, "beta": 1.0}, "alpha"),
    (sv.HurdleGamma, {"psi": -0.5, "alpha": 1.0, "beta": 1.0}, "psi"),
    (sv.HurdleLogNormal, {"psi": 0.5, "mu": 0.0, "sigma": -1.0}, "sigma"),
]


@pytest.mark.parametrize("cls,kwargs,param", BAD, ids=[f"{b[0].__name__}-{b[2]}" for b in BAD])
def test_constant_invalid_params_raise(cls, kwargs, param):
    with sv.Model():
        with pytest.raises(ValueError, match=rf"'bad'.*parameter {param}\b"):
            cls("bad", **kwargs)


def test_parametrization_errors():
    with pytest.raises(TypeError, match="alpha, beta"):
        sv.HurdleGamma.dist(psi=0.5, alpha=1.0, mu=1.0)
    with pytest.raises(TypeError, match="mu, alpha"):
        sv.HurdleNegativeBinomial.dist(psi=0.5, n=1.0)


def test_hurdle_fits_recover_parameters():
    """MAP with flat priors = maximum likelihood on simulated data: equal to scipy's optimum and
    within 4 asymptotic standard errors of the simulating values (HurdlePoisson, HurdleGamma)."""
    rng = np.random.default_rng(11)
    n, psi, mu, alpha, beta = 3000, 0.35, 1.7, 2.0, 0.8
    crossed = rng.random(n) < psi
    counts = stats.poisson(mu).ppf(rng.uniform(stats.poisson(mu).cdf(0), 1, size=n))  # zero-truncated
    yp = np.where(crossed, counts, 0).astype(int)
    yg = np.where(rng.random(n) < psi, rng.gamma(alpha, 1 / beta, size=n), 0.0)
    with sv.Model():
        p1, p2 = sv.Uniform("p1", 0, 1), sv.Uniform("p2", 0, 1)
        m_, a_, b_ = sv.HalfFlat("mu"), sv.HalfFlat("alpha"), sv.HalfFlat("beta")
        sv.HurdlePoisson("yp", psi=p1, mu=m_, observed=yp)
        sv.HurdleGamma("yg", psi=p2, alpha=a_, beta=b_, observed=yg)
        est = sv.find_MAP(progressbar=False)

    def nll_p(t):
        return np.inf if not (0 < t[0] < 1 and t[1] > 0) else -hurdle_logp(yp, t[0], stats.poisson(t[1]), True).sum()

    def nll_g(t):
        ok = 0 < t[0] < 1 and t[1] > 0 and t[2] > 0
        return np.inf if not ok else -hurdle_logp(yg, t[0], _gamma(t[1], t[2]), False).sum()

    for nll, x0, got, truth in [
        (nll_p, [0.5, 1.0], [est["p1"], est["mu"]], [psi, mu]),
        (nll_g, [0.5, 1.0, 1.0], [est["p2"], est["alpha"], est["beta"]], [psi, alpha, beta]),
    ]:
        res = optimize.minimize(nll, np.array(x0), method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 20000})
        np.testing.assert_allclose(np.array(got, dtype=float), res.x, rtol=2e-3)
        hess = optimize.approx_fprime(res.x, lambda t: optimize.approx_fprime(t, nll, 1e-6), 1e-5)
        sd = np.sqrt(np.diag(np.linalg.inv((hess + hess.T) / 2)))
        assert np.all(np.abs(np.array(got, dtype=float) - truth) < 4 * sd), (got, truth, sd)


def test_hurdle_negative_binomial_with_huge_alpha_is_the_hurdle_poisson():
    # found by the fuzz test: alpha = 4e15 rounded log(alpha) - log(mu + alpha) to 0, so
    # P(X > 0) was 0 (infinite support point, OverflowError on the initial point)
    x = np.array([0, 1, 3, 20])
    nb = sv.HurdleNegativeBinomial.dist(0.63, 13.5, 4148250510831052.0)
    po = sv.HurdlePoisson.dist(0.63, 13.5)
    f = compile_fn([], [dist_info(nb).logp(x), dist_info(po).logp(x)], mode="FAST_COMPILE")
    lp_nb, lp_po = f()
    np.testing.assert_allclose(lp_nb, lp_po, rtol=1e-9)
    with sv.Model() as m:
        sv.HurdleNegativeBinomial("y", 0.63, 13.5, 4148250510831052.0)
    assert np.isfinite(m.initial_point()["y"])
