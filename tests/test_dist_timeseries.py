"""Time series (RandomWalk, GaussianRandomWalk, MvGaussianRandomWalk, AR, GARCH11): log
densities against numpy loops, scipy.stats and PyMC, draws against closed-form moments,
shapes and errors, and the series as VI latents / observed likelihoods."""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

import symvi as pm
from symvi import logprob
from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn

COV = np.array([[1.0, 0.3], [0.3, 2.0]])


def series(T, k=None, off=0.0):
    """A deterministic test series (trend plus oscillation), (T,) or (T, k)."""
    t = np.arange(T)
    if k is None:
        return 2 * np.sin(0.7 * t + off) + 0.1 * t
    return np.stack([2 * np.sin(0.7 * t + j + off) + 0.1 * t * (j + 1) for j in range(k)], -1)


def logp_of(rv, value):
    """The distribution's log density at ``value``, compiled cheaply (FAST_COMPILE)."""
    value = np.asarray(value, dtype="float64")
    v = pt.tensor("v", dtype="float64", shape=(None,) * value.ndim)
    return pytensor.function([v], dist_info(rv).logp(v), mode="FAST_COMPILE")(value)


def draws_of(rv, seed=1):
    """One joint draw of ``rv`` (batch axes give the replicates), cheaply compiled."""
    return compile_fn([], rv, mode="FAST_COMPILE", random_seed=seed)()


def quiet(fn, *args, **kwargs):
    """Build a distribution whose default init_dist warns (as PyMC) without the warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return fn(*args, **kwargs)


# ---------------------------------------------------------------------- hand-written formulas
def walk_logp_loop(x, init, innov):
    """log p(x_0) + sum_t log p(x_t - x_{t-1}), one time step at a time."""
    total = init.logpdf(x[0])
    for t in range(1, len(x)):
        total += innov.logpdf(x[t] - x[t - 1])
    return total


def ar_logp_loop(x, rho, sigma, p, constant, init_logpdf):
    total = np.sum(init_logpdf(x[:p]))
    for t in range(p, len(x)):
        mean = rho[0] if constant else 0.0
        for k in range(1, p + 1):
            mean += rho[int(constant) + k - 1] * x[t - k]
        total += stats.norm(mean, sigma).logpdf(x[t])
    return total


def garch_logp_loop(y, omega, alpha, beta, vol0):
    var = vol0**2
    total = stats.norm(0, np.sqrt(var)).logpdf(y[0])
    for t in range(1, len(y)):
        var = omega + alpha * y[t - 1] ** 2 + beta * var
        total += stats.norm(0, np.sqrt(var)).logpdf(y[t])
    return total


# Reference values from PyMC 5.28.5 (/tmp/venv-pymc): pm.logp(<the same distribution>.dist(...),
# value).eval() with the same series(...) values and parameters passed as float64 numpy arrays
# (python-float parameters make PyMC compute parts in float32).
PYMC = {
    "grw": -12.648540135456388,
    "grw_batch": [-11.166598976752027, -14.014839829059024],
    "rw_studentt": -11.402068862353033,
    "mvgrw": -16.98637517389993,
    "mvgrw_default_init": -20.18955999170635,
    "ar2": -13.778334346797045,
    "ar1_const": -13.364689892545568,
    "ar_batch": [-13.778334346797045, -18.825684082016295],
    "ar_tau": -17.423366299022522,
    "ar_mvinit": -12.979269835057714,
    "garch": -17.011042128970427,
    "garch_batch": [-17.011042128970427, -20.325130031555048],
    # PyMC's default init Normal.dist(0, 100) has integer parameters: its log(100) is float32,
    # so these two agree with symvi (float64 throughout) to ~5e-9 relative only
    "grw_default_init": -16.435563204835407,
    "ar_default_init": -21.361507774557715,
}

PYMC_CASES = [
    ("grw", lambda: pm.GaussianRandomWalk.dist(mu=0.3, sigma=1.5, init_dist=pm.Normal.dist(1, 2), steps=7), series(8)),
    (
        "grw_batch",
        lambda: pm.GaussianRandomWalk.dist(mu=np.array([0.0, 0.5]), sigma=np.array([1.0, 2.0]), init_dist=pm.Normal.dist(1, 2), steps=7),
        np.stack([series(8), series(8, off=1.0)]),
    ),
    (
        "rw_studentt",
        lambda: pm.RandomWalk.dist(init_dist=pm.Normal.dist(0, 1), innovation_dist=pm.StudentT.dist(nu=4, mu=0.1, sigma=0.7), steps=7),
        series(8),
    ),
    (
        "mvgrw",
        lambda: pm.MvGaussianRandomWalk.dist(mu=np.array([0.1, -0.2]), cov=COV, init_dist=pm.MvNormal.dist(np.zeros(2), np.eye(2)), steps=5),
        series(6, 2),
    ),
    ("mvgrw_default_init", lambda: quiet(pm.MvGaussianRandomWalk.dist, mu=np.array([0.1, -0.2]), cov=COV, steps=5), series(6, 2)),
    ("ar2", lambda: pm.AR.dist(rho=np.array([0.5, -0.2]), sigma=0.8, init_dist=pm.Normal.dist(0, 2), steps=8), series(10)),
    (
        "ar1_const",
        lambda: pm.AR.dist(rho=np.array([0.3, 0.6]), sigma=1.2, constant=True, init_dist=pm.Normal.dist(0, 1), steps=8),
        series(10),
    ),
    (
        "ar_batch",
        lambda: pm.AR.dist(rho=np.array([[0.5, -0.2], [0.1, 0.3]]), sigma=np.array([0.8, 1.5]), init_dist=pm.Normal.dist(0, 2), steps=8),
        np.stack([series(10), series(10, off=2.0)]),
    ),
    ("ar_tau", lambda: pm.AR.dist(rho=np.array([0.5, -0.2]), tau=4.0, init_dist=pm.Normal.dist(0, 2), steps=8), series(10)),
    ("ar_mvinit", lambda: pm.AR.dist(rho=np.array([0.5, -0.2]), sigma=0.8, init_dist=pm.MvNormal.dist(np.zeros(2), COV), steps=8), series(10)),
    ("garch", lambda: pm.GARCH11.dist(omega=0.2, alpha_1=0.3, beta_1=0.5, initial_vol=0.9, steps=9), series(10)),
    (
        "garch_batch",
        lambda: pm.GARCH11.dist(omega=np.array([0.2, 0.5]), alpha_1=0.3, beta_1=np.array([0.5, 0.1]), initial_vol=0.9, steps=9),
        np.stack([series(10), series(10, off=1.0)]),
    ),
    ("grw_default_init", lambda: quiet(pm.GaussianRandomWalk.dist, mu=0.3, sigma=1.5, steps=7), series(8)),
    ("ar_default_init", lambda: quiet(pm.AR.dist, rho=np.array([0.5, -0.2]), sigma=0.8, steps=8), series(10)),
]


@pytest.mark.parametrize("name,make,value", PYMC_CASES, ids=[c[0] for c in PYMC_CASES])
def test_logp_matches_pymc(name, make, value):
    rtol = 2e-8 if name.endswith("default_init") else 1e-12
    np.testing.assert_allclose(logp_of(make(), value), PYMC[name], rtol=rtol)


def test_grw_logp_matches_loop_and_batches():
    mu, sigma = np.array([0.0, 0.5, -1.0]), np.array([1.0, 2.0, 0.3])
    rv = pm.GaussianRandomWalk.dist(mu=mu, sigma=sigma, init_dist=pm.Normal.dist(1.0, 2.0), steps=11)
    assert rv.type.shape == (3, 12)
    x = np.stack([series(12, off=o) for o in (0.0, 1.0, 2.0)])
    want = [walk_logp_loop(x[i], stats.norm(1, 2), stats.norm(mu[i], sigma[i])) for i in range(3)]
    np.testing.assert_allclose(logp_of(rv, x), want, rtol=1e-12)


def test_random_walk_logp_matches_loop_scipy_pieces():
    rv = pm.RandomWalk.dist(pm.Laplace.dist(0.5, 2.0), pm.StudentT.dist(nu=3, mu=-0.1, sigma=0.4), steps=14)
    x = series(15)
    want = walk_logp_loop(x, stats.laplace(0.5, 2.0), stats.t(3, -0.1, 0.4))
    np.testing.assert_allclose(logp_of(rv, x), want, rtol=1e-12)


def test_random_walk_outside_innovation_support_is_minus_inf():
    rv = pm.RandomWalk.dist(pm.Normal.dist(0, 1), pm.HalfNormal.dist(1.0), steps=3)
    assert np.isneginf(logp_of(rv, [0.0, 1.0, 0.5, 2.0]))  # 1.0 -> 0.5 is a negative step
    np.testing.assert_allclose(
        logp_of(rv, [0.0, 1.0, 1.5, 2.0]),
        walk_logp_loop(np.array([0.0, 1.0, 1.5, 2.0]), stats.norm(0, 1), stats.halfnorm(scale=1)),
        rtol=1e-12,
    )


def test_mv_walk_logp_matches_scipy_mvnormal():
    mu = np.array([0.1, -0.2])
    rv = pm.MvGaussianRandomWalk.dist(mu=mu, cov=COV, init_dist=pm.MvNormal.dist(np.ones(2), np.eye(2)), steps=6, size=2)
    assert rv.type.shape == (2, 7, 2)
    x = np.stack([series(7, 2), series(7, 2, off=0.5)])
    init, innov = stats.multivariate_normal(np.ones(2), np.eye(2)), stats.multivariate_normal(mu, COV)
    want = [walk_logp_loop(x[i], init, innov) for i in range(2)]
    np.testing.assert_allclose(logp_of(rv, x), want, rtol=1e-12)
    # chol= and tau= give the same density; a RandomWalk of MvNormal innovations too
    chol = pm.MvGaussianRandomWalk.dist(mu=mu, chol=np.linalg.cholesky(COV), init_dist=pm.MvNormal.dist(np.ones(2), np.eye(2)), steps=6)
    tau = pm.MvGaussianRandomWalk.dist(mu=mu, tau=np.linalg.inv(COV), init_dist=pm.MvNormal.dist(np.ones(2), np.eye(2)), steps=6)
    generic = pm.RandomWalk.dist(pm.MvNormal.dist(np.ones(2), np.eye(2)), pm.MvNormal.dist(mu, COV), steps=6)
    assert dist_info(generic).cls.ndim_supp == 2 and generic.type.shape == (7, 2)
    for other in (chol, tau, generic):
        np.testing.assert_allclose(logp_of(other, x[0]), want[0], rtol=1e-10)


@pytest.mark.parametrize("constant", [False, True])
def test_ar_logp_matches_loop(constant):
    rho = np.array([0.4, 0.3, -0.2, 0.1]) if constant else np.array([0.3, -0.2, 0.1])
    rv = pm.AR.dist(rho=rho, sigma=0.7, constant=constant, init_dist=pm.Normal.dist(0.5, 3.0), steps=12)
    assert rv.type.shape == (15,)
    x = series(15)
    want = ar_logp_loop(x, rho, 0.7, 3, constant, stats.norm(0.5, 3.0).logpdf)
    np.testing.assert_allclose(logp_of(rv, x), want, rtol=1e-12)


def test_ar_batched_rho_and_vector_init():
    rho = np.array([[0.5, -0.2], [0.1, 0.3], [0.9, 0.0]])
    rv = pm.AR.dist(rho=rho, sigma=np.array([0.5, 1.0, 2.0]), init_dist=pm.MvNormal.dist(np.zeros(2), COV), steps=9)
    assert rv.type.shape == (3, 11)
    x = np.stack([series(11, off=o) for o in (0.0, 1.0, 2.0)])
    init = stats.multivariate_normal(np.zeros(2), COV).logpdf
    want = [ar_logp_loop(x[i], rho[i], [0.5, 1.0, 2.0][i], 2, False, init) for i in range(3)]
    np.testing.assert_allclose(logp_of(rv, x), want, rtol=1e-12)


def test_garch_logp_matches_loop():
    rv = pm.GARCH11.dist(omega=np.array([0.1, 0.4]), alpha_1=np.array([0.0, 0.25]), beta_1=0.6, initial_vol=np.array([0.5, 1.5]), steps=19)
    y = np.stack([np.sin(np.arange(20.0)), series(20, off=0.3) / 3])
    want = [garch_logp_loop(y[0], 0.1, 0.0, 0.6, 0.5), garch_logp_loop(y[1], 0.4, 0.25, 0.6, 1.5)]
    np.testing.assert_allclose(logp_of(rv, y), want, rtol=1e-12)


def test_symbolic_invalid_parameters_give_minus_inf():
    s = pt.dscalar("s")
    for rv, x in (
        (pm.GaussianRandomWalk.dist(sigma=s, init_dist=pm.Normal.dist(0, 1), steps=3), series(4)),
        (pm.AR.dist(rho=[0.5], sigma=s, init_dist=pm.Normal.dist(0, 1), steps=3), series(4)),
        (pm.GARCH11.dist(omega=s, alpha_1=0.1, beta_1=0.1, initial_vol=1.0, steps=3), series(4)),
    ):
        lp = dist_info(rv).logp(pt.as_tensor(x))
        f = pytensor.function([s], lp, mode="FAST_COMPILE")
        assert np.isneginf(f(-1.0)) and np.isfinite(f(0.5))


# ---------------------------------------------------------------------- draws
def test_grw_draw_moments_grow_linearly():
    mu, sigma, steps = 0.2, 0.5, 30
    d = draws_of(pm.GaussianRandomWalk.dist(mu=mu, sigma=sigma, init_dist=pm.Normal.dist(1.0, 2.0), steps=steps, size=20000))
    assert d.shape == (20000, 31)
    t = np.arange(31)
    # E[x_t] = 1 + mu t, Var[x_t] = 4 + sigma^2 t; sd of the estimates ~ 0.03 / 1.5 %
    np.testing.assert_allclose(d.mean(0), 1 + mu * t, atol=0.06)
    np.testing.assert_allclose(d.var(0), 4 + sigma**2 * t, rtol=0.05)
    steps_ = np.diff(d, axis=1)
    np.testing.assert_allclose(np.corrcoef(steps_[:, 3], steps_[:, 4])[0, 1], 0.0, atol=0.03)
    np.testing.assert_allclose(steps_.std(), sigma, rtol=0.01)


def test_random_walk_studentt_draw_variance():
    nu, s = 5.0, 0.3
    d = draws_of(pm.RandomWalk.dist(pm.Normal.dist(0, 1), pm.StudentT.dist(nu=nu, sigma=s), steps=20, size=20000))
    # Var[x_t] = 1 + t s^2 nu / (nu - 2)
    np.testing.assert_allclose(d[:, -1].var(), 1 + 20 * s**2 * nu / (nu - 2), rtol=0.06)


def test_mv_walk_draw_covariance():
    d = draws_of(pm.MvGaussianRandomWalk.dist(mu=np.array([1.0, -1.0]), cov=COV, init_dist=pm.MvNormal.dist(np.zeros(2), np.eye(2)), steps=8, size=20000))
    assert d.shape == (20000, 9, 2)
    np.testing.assert_allclose(d[:, -1].mean(0), [8.0, -8.0], atol=0.1)
    np.testing.assert_allclose(np.cov(d[:, -1].T), np.eye(2) + 8 * COV, rtol=0.05, atol=0.1)


def test_stationary_ar1_draw_moments():
    rho, sigma = 0.6, 1.3
    sd_stat = sigma / np.sqrt(1 - rho**2)  # stationary sd: the whole series has it
    d = draws_of(pm.AR.dist(rho=[rho], sigma=sigma, init_dist=pm.Normal.dist(0, sd_stat), steps=40, size=20000))
    assert d.shape == (20000, 41)
    np.testing.assert_allclose(d.var(0), sd_stat**2, rtol=0.06)
    np.testing.assert_allclose(np.corrcoef(d[:, 20], d[:, 21])[0, 1], rho, atol=0.02)
    np.testing.assert_allclose(np.corrcoef(d[:, 20], d[:, 22])[0, 1], rho**2, atol=0.02)


def test_ar2_with_constant_draw_mean_and_order():
    c, r1, r2 = 1.0, 0.5, 0.2
    d = draws_of(pm.AR.dist(rho=[c, r1, r2], sigma=0.5, constant=True, init_dist=pm.Normal.dist(0.0, 0.01), steps=60, size=5000))
    assert d.shape == (5000, 62)
    np.testing.assert_allclose(d[:, -1].mean(), c / (1 - r1 - r2), atol=0.03)  # long-run mean 10/3
    # residuals of the AR(2) recursion are the N(0, 0.5) innovations
    resid = d[:, 2:] - (c + r1 * d[:, 1:-1] + r2 * d[:, :-2])
    np.testing.assert_allclose(resid.std(), 0.5, rtol=0.01)
    assert abs(np.corrcoef(resid[:, 10], resid[:, 11])[0, 1]) < 0.04


def test_garch_draw_unconditional_variance_and_fat_tails():
    w, a, b = 0.2, 0.15, 0.7
    v = w / (1 - a - b)  # E[y_t^2] stays at v when sigma_0^2 = v
    d = draws_of(pm.GARCH11.dist(omega=w, alpha_1=a, beta_1=b, initial_vol=np.sqrt(v), steps=30, size=20000))
    assert d.shape == (20000, 31)
    np.testing.assert_allclose((d**2).mean(0)[[0, 10, 30]], v, rtol=0.06)
    assert stats.kurtosis(d[:, -1]) > 0.3  # conditionally normal, unconditionally fat-tailed
    # the recursion: y_t / sigma_t is standard normal
    var = np.empty_like(d)
    var[:, 0] = v
    for t in range(1, 31):
        var[:, t] = w + a * d[:, t - 1] ** 2 + b * var[:, t - 1]
    z = d / np.sqrt(var)
    np.testing.assert_allclose([z.mean(), z.std()], [0.0, 1.0], atol=0.01)


def test_pm_draw_default_mode_all_series():
    """``pm.draw`` (the default, Numba-compiled path) of every kind at once, seeded."""
    series_ = [
        pm.GaussianRandomWalk.dist(sigma=0.5, init_dist=pm.Normal.dist(0, 1), steps=5, size=3),
        pm.MvGaussianRandomWalk.dist(mu=np.zeros(2), cov=COV, init_dist=pm.MvNormal.dist(np.zeros(2), np.eye(2)), steps=4),
        pm.AR.dist(rho=[0.5, 0.2], sigma=1.0, init_dist=pm.Normal.dist(0, 1), steps=6),
        pm.GARCH11.dist(omega=0.1, alpha_1=0.2, beta_1=0.5, initial_vol=1.0, steps=7),
    ]
    a = pm.draw(series_, draws=2, random_seed=3)
    b = pm.draw(series_, draws=2, random_seed=3)
    assert [x.shape for x in a] == [(2, 3, 6), (2, 5, 2), (2, 8), (2, 8)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
        assert np.all(np.isfinite(x)) and not np.allclose(x[0], x[1])


# ---------------------------------------------------------------------- shapes, steps, errors
def test_steps_from_shape_size_dims_and_observed():
    assert pm.GaussianRandomWalk.dist(init_dist=pm.Normal.dist(), shape=(4, 10)).type.shape == (4, 10)
    assert pm.GaussianRandomWalk.dist(init_dist=pm.Normal.dist(), steps=9, size=(2, 4)).type.shape == (2, 4, 10)
    assert pm.AR.dist(rho=[0.1, 0.2, 0.3], init_dist=pm.Normal.dist(), shape=(10,)).type.shape == (10,)
    assert pm.AR.dist(rho=[0.1, 0.2, 0.3], init_dist=pm.Normal.dist(), steps=10).type.shape == (13,)
    assert pm.GARCH11.dist(0.1, 0.2, 0.3, 1.0, shape=(5,)).type.shape == (5,)
    with pm.Model(coords={"time": range(12)}) as m:
        a = pm.GaussianRandomWalk("a", init_dist=pm.Normal.dist(), dims="time")
        b = pm.AR("b", rho=[0.5, 0.1], init_dist=pm.Normal.dist(), observed=series(12))
        c = pm.MvGaussianRandomWalk("c", mu=np.zeros(2), cov=COV, init_dist=pm.MvNormal.dist(np.zeros(2), np.eye(2)), observed=series(12, 2))
        data = pm.Data("data", series(12))
        d = pm.GARCH11("d", 0.1, 0.2, 0.3, 1.0, observed=data)
    assert a.type.shape == (12,) and b.type.shape == (12,) and c.type.shape == (12, 2)
    assert int(dist_info(b).params["steps"].data) == 10
    assert draws_of(d).shape == (12,)  # steps follow the Data container's length
    pm.set_data({"data": series(7)}, model=m)
    assert draws_of(d).shape == (7,)


def test_shape_errors_name_the_variable():
    with pm.Model():
        with pytest.raises(ValueError, match=r"GaussianRandomWalk 'w'.*steps=5.*length 6.*length 4"):
            pm.GaussianRandomWalk("w", init_dist=pm.Normal.dist(), steps=5, shape=(4,))
        with pytest.raises(ValueError, match=r"'w2'.*give steps="):
            pm.GaussianRandomWalk("w2", init_dist=pm.Normal.dist())
        with pytest.raises(ValueError, match=r"'w3'.*parameter steps must be an integer >= 1"):
            pm.GaussianRandomWalk("w3", init_dist=pm.Normal.dist(), steps=0)
        with pytest.raises(ValueError, match=r"'w4'.*steps must be an integer"):
            pm.GaussianRandomWalk("w4", init_dist=pm.Normal.dist(), steps=2.5)
        with pytest.raises(ValueError, match=r"AR 'a'.*parameter steps must be an integer >= 1"):
            pm.AR("a", rho=[0.1, 0.2], init_dist=pm.Normal.dist(), shape=(2,))  # only the 2 initial values
        with pytest.raises(ValueError, match=r"MvGaussianRandomWalk 'm'.*shape=\(5,\) needs at least 2"):
            pm.MvGaussianRandomWalk("m", mu=np.zeros(2), cov=COV, init_dist=pm.MvNormal.dist(np.zeros(2), np.eye(2)), shape=(5,))


def test_parameter_errors_name_the_variable():
    with pm.Model():
        with pytest.raises(ValueError, match=r"GaussianRandomWalk 'g'.*parameter sigma must be > 0"):
            pm.GaussianRandomWalk("g", sigma=-1.0, init_dist=pm.Normal.dist(), steps=3)
        with pytest.raises(ValueError, match=r"AR 'a'.*parameter sigma must be > 0"):
            pm.AR("a", rho=[0.5], sigma=np.array([1.0, -2.0]), init_dist=pm.Normal.dist(), steps=3)
        with pytest.raises(ValueError, match=r"AR 'a2'.*tau must be > 0"):
            pm.AR("a2", rho=[0.5], tau=-1.0, init_dist=pm.Normal.dist(), steps=3)
        with pytest.raises(ValueError, match=r"GARCH11 'h'.*parameter omega must be > 0"):
            pm.GARCH11("h", omega=0.0, alpha_1=0.1, beta_1=0.1, initial_vol=1.0, steps=3)
        with pytest.raises(ValueError, match=r"GARCH11 'h2'.*parameter beta_1 must be >= 0"):
            pm.GARCH11("h2", omega=0.1, alpha_1=0.1, beta_1=-0.1, initial_vol=1.0, steps=3)
        with pytest.raises(ValueError, match=r"MvNormal 'm' \(innovations\).*positive definite"):
            pm.MvGaussianRandomWalk("m", mu=np.zeros(2), cov=-np.eye(2), init_dist=pm.MvNormal.dist(np.zeros(2), np.eye(2)), steps=3)


def test_ar_order_rules():
    with pytest.raises(ValueError, match="ar_order=3 with constant=False needs 3"):
        pm.AR.dist(rho=[0.1, 0.2], ar_order=3, init_dist=pm.Normal.dist(), steps=4)
    with pytest.raises(ValueError, match="leaves no lag coefficient"):
        pm.AR.dist(rho=[0.1], constant=True, init_dist=pm.Normal.dist(), steps=4)
    with pytest.raises(ValueError, match="cannot infer ar_order"):
        pm.AR.dist(rho=pt.dvector("r"), init_dist=pm.Normal.dist(), steps=4)
    with pytest.raises(ValueError, match="vector init_dist must have length ar_order=2"):
        pm.AR.dist(rho=[0.1, 0.2], init_dist=pm.MvNormal.dist(np.zeros(3), np.eye(3)), steps=4)
    with pytest.raises(TypeError, match="constant must be True or False"):
        pm.AR.dist(rho=[0.1, 0.2], constant="yes", init_dist=pm.Normal.dist(), steps=4)
    r = pt.dvector("r")
    rv = pm.AR.dist(rho=r, ar_order=2, constant=True, init_dist=pm.Normal.dist(0.0, 1.0), steps=4)
    lp = pytensor.function([r], dist_info(rv).logp(pt.as_tensor(series(6))), mode="FAST_COMPILE")
    np.testing.assert_allclose(lp([0.2, 0.5, 0.1]), ar_logp_loop(series(6), [0.2, 0.5, 0.1], 1.0, 2, True, stats.norm(0, 1).logpdf), rtol=1e-12)


def test_component_errors():
    with pytest.raises(TypeError, match="init_dist must be a distribution"):
        pm.RandomWalk.dist(np.zeros(1), pm.Normal.dist(), steps=3)
    with pytest.raises(TypeError, match="same support dimension"):
        pm.RandomWalk.dist(pm.Normal.dist(), pm.MvNormal.dist(np.zeros(2), np.eye(2)), steps=3)
    with pytest.raises(TypeError, match="innovation_dist must be a continuous"):
        pm.RandomWalk.dist(pm.Normal.dist(), pm.Poisson.dist(1.0), steps=3)
    with pm.Model():
        z = pm.Normal("z")
        with pytest.raises(ValueError, match="registered model variable 'z'"):
            pm.GaussianRandomWalk("g", init_dist=z, steps=3)


def test_default_init_warns_as_pymc():
    with pytest.warns(UserWarning, match=r"Normal.dist\(0, 100\)"):
        rv = pm.GaussianRandomWalk.dist(steps=3)
    init = dist_info(rv).params["init_dist"]
    assert float(dist_info(init).params["sigma"].data) == 100.0
    with pytest.warns(UserWarning, match=r"I\*100"):
        pm.MvGaussianRandomWalk.dist(mu=np.zeros(2), cov=COV, steps=3)
    with pytest.warns(UserWarning, match="Initial distribution not specified"):
        pm.AR.dist(rho=[0.5], steps=3)


def test_support_points_match_pymc():
    # PyMC 5.28.5: pm.distributions.distribution.support_point(<same .dist>).eval()
    with pm.Model() as m:
        pm.GaussianRandomWalk("g", mu=0.3, sigma=1.5, init_dist=pm.Normal.dist(1, 2), steps=4)
        pm.AR("a", rho=[0.5, -0.2], sigma=0.8, init_dist=pm.Normal.dist(np.array([1.0, 3.0]), 2), steps=3)
        pm.MvGaussianRandomWalk("v", mu=np.array([0.1, -0.2]), cov=COV, init_dist=pm.MvNormal.dist(np.array([1.0, 2.0]), np.eye(2)), steps=3)
        pm.GARCH11("h", 0.1, 0.2, 0.3, 1.0, steps=3, size=2)
    point = m.initial_point()
    np.testing.assert_allclose(point["g"], [1.0, 1.3, 1.6, 1.9, 2.2])
    np.testing.assert_allclose(point["a"], [3.0] * 5)
    np.testing.assert_allclose(point["v"], [[1.0, 2.0], [1.1, 1.8], [1.2, 1.6], [1.3, 1.4]])
    np.testing.assert_array_equal(point["h"], np.zeros((2, 4)))
    assert all(m.rvs_to_transforms[rv] is None for rv in m.free_RVs)


# ---------------------------------------------------------------------- models
def test_grw_latent_model_logp_and_gradient():
    y = series(10) + 0.3
    with pm.Model() as m:
        x = pm.GaussianRandomWalk("x", mu=0.1, sigma=0.5, init_dist=pm.Normal.dist(0.0, 3.0), steps=9)
        pm.Normal("y", x, 0.4, observed=y)
    assert m.rvs_to_values[x].type.shape == (10,)  # the whole series is the value
    xv = series(10)
    want = walk_logp_loop(xv, stats.norm(0, 3), stats.norm(0.1, 0.5)) + stats.norm(xv, 0.4).logpdf(y).sum()
    np.testing.assert_allclose(logprob.compile_logp(m, mode="FAST_COMPILE")({"x": xv}), want, rtol=1e-12)
    grad = logprob.compile_dlogp(m, mode="FAST_COMPILE")({"x": xv})
    eps = 1e-6
    f = logprob.compile_logp(m, mode="FAST_COMPILE")
    fd = [(f({"x": xv + eps * e}) - f({"x": xv - eps * e})) / (2 * eps) for e in np.eye(10)]
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_garch_observed_gradient_through_scan():
    y = np.sin(np.arange(15.0)) * np.linspace(0.5, 2.0, 15)
    with pm.Model() as m:
        w = pm.HalfNormal("w", 1.0)
        a = pm.Uniform("a", 0.0, 0.5)
        b = pm.Uniform("b", 0.0, 0.5)
        pm.GARCH11("y", omega=w, alpha_1=a, beta_1=b, initial_vol=0.8, observed=y)
    point = {"w_log__": np.log(0.3), "a_interval__": 0.2, "b_interval__": -0.4}
    f, g = logprob.compile_logp(m, mode="FAST_COMPILE"), logprob.compile_dlogp(m, mode="FAST_COMPILE")
    eps = 1e-6
    fd = []
    for k in point:
        hi, lo = dict(point), dict(point)
        hi[k] += eps
        lo[k] -= eps
        fd.append((f(hi) - f(lo)) / (2 * eps))
    np.testing.assert_allclose(g(point), fd, rtol=1e-5)
    a_, b_ = 0.5 / (1 + np.exp(-0.2)), 0.5 / (1 + np.exp(0.4))
    want = garch_logp_loop(y, 0.3, a_, b_, 0.8)
    terms = logprob.point_logps(m, point, round_vals=10, mode="FAST_COMPILE")
    np.testing.assert_allclose(terms["y"], want, rtol=1e-9)


def test_observed_walk_with_latent_sigma_and_posterior_predictive():
    y = np.cumsum(np.random.default_rng(0).normal(0, 0.5, size=(2, 25)), axis=-1)
    with pm.Model(coords={"series": [0, 1], "time": range(25)}) as m:
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.GaussianRandomWalk("y", sigma=sigma, init_dist=pm.Normal.dist(0, 1), observed=y, dims=("series", "time"))
    s = 0.7
    want = stats.halfnorm.logpdf(s) + np.log(s) + sum(walk_logp_loop(r, stats.norm(0, 1), stats.norm(0, s)) for r in y)
    np.testing.assert_allclose(logprob.compile_logp(m, mode="FAST_COMPILE")({"sigma_log__": np.log(s)}), want, rtol=1e-12)
    pp = pm.sample_posterior_predictive({"sigma": np.array([0.01, 2.0])}, model=m, random_seed=1, return_inferencedata=False)
    assert pp["y"].shape == (1, 2, 2, 25)
    steps = np.diff(pp["y"][0], axis=-1)
    assert steps[0].std() < 0.03 and 1.5 < steps[1].std() < 2.5


def test_prior_predictive_of_ar_and_garch():
    with pm.Model():
        rho = pm.Normal("rho", 0.0, 0.2, shape=2)
        pm.AR("x", rho=rho, sigma=1.0, init_dist=pm.Normal.dist(0, 1), steps=20)
        pm.GARCH11("h", omega=0.1, alpha_1=0.2, beta_1=0.3, initial_vol=1.0, steps=10)
        prior = pm.sample_prior_predictive(draws=50, random_seed=2)
    assert prior.prior["x"].shape == (1, 50, 22)
    assert prior.prior["h"].shape == (1, 50, 11)
    assert np.all(np.isfinite(prior.prior["x"].values))


# ---------------------------------------------------------------------- variational inference
def _grw_exact_posterior(T, s, s0, so, seed):
    """Data and the exact Gaussian posterior of x ~ GRW(0, s, init N(0, s0)), y ~ N(x, so)."""
    rng = np.random.default_rng(seed)
    y = np.cumsum(np.r_[rng.normal(0, 1.0), rng.normal(0, s, T - 1)]) + rng.normal(0, so, T)
    D = np.diff(np.eye(T), axis=0)  # innovations: D x
    Q = D.T @ D / s**2 + np.eye(T) / so**2  # posterior precision
    Q[0, 0] += 1 / s0**2
    cov = np.linalg.inv(Q)
    return y, cov @ (y / so**2), Q, cov


def _fit_grw(y, s, s0, so, method, n):
    with pm.Model() as m:
        x = pm.GaussianRandomWalk("x", mu=0.0, sigma=s, init_dist=pm.Normal.dist(0.0, s0), steps=len(y) - 1)
        pm.Normal("y", x, so, observed=y)
        return m, pm.fit(n, method=method, random_seed=1, progressbar=False)


def test_grw_trend_advi_matches_exact_posterior():
    """Mean-field ADVI on a Gaussian posterior: the optimum has the exact means and the
    sds 1/sqrt(Q_ii) (Q the posterior precision) - both known here in closed form."""
    s, s0, so = 0.3, 2.0, 0.5
    y, mean, Q, cov = _grw_exact_posterior(20, s, s0, so, seed=5)
    model, approx = _fit_grw(y, s, s0, so, "advi", 1500)
    assert approx.mean.eval().shape == (20,)  # the whole series is the unconstrained vector
    sd = np.sqrt(np.diag(cov))
    # tolerance: 0.15 posterior sd for the means, 15 % for the mean-field sds
    np.testing.assert_allclose(approx.mean.eval(), mean, atol=0.15 * sd.min())
    np.testing.assert_allclose(approx.std.eval(), 1 / np.sqrt(np.diag(Q)), rtol=0.15)
    # posterior predictive: y_rep ~ N(x, so) at each draw of the series
    trace = approx.sample(500, random_seed=2)
    assert trace.posterior["x"].shape == (1, 500, 20)
    pp = pm.sample_posterior_predictive(trace, model=model, random_seed=3, return_inferencedata=False)["y"][0]
    np.testing.assert_allclose(pp.mean(0), trace.posterior["x"].values[0].mean(0), atol=0.12)  # se ~0.025
    np.testing.assert_allclose(pp.std(0).mean(), np.sqrt(so**2 + (1 / np.diag(Q)).mean()), rtol=0.1)


@pytest.mark.slow
def test_grw_trend_fullrank_advi_matches_exact_posterior():
    s, s0, so = 0.3, 2.0, 0.5
    y, mean, Q, cov = _grw_exact_posterior(30, s, s0, so, seed=5)
    _, approx = _fit_grw(y, s, s0, so, "fullrank_advi", 3000)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(approx.mean.eval(), mean, atol=0.15 * sd.min())
    np.testing.assert_allclose(approx.std.eval(), sd, rtol=0.1)
    corr = lambda c: c / np.sqrt(np.outer(np.diag(c), np.diag(c)))  # noqa: E731
    assert np.abs(corr(approx.cov.eval()) - corr(cov)).max() < 0.1
    assert corr(cov)[10, 11] > 0.5  # a mean-field answer would fail the line above


def test_ar1_advi_recovers_rho():
    rng = np.random.default_rng(11)
    rho_true, T = 0.7, 300
    x = np.empty(T)
    x[0] = rng.normal(0, 1 / np.sqrt(1 - rho_true**2))
    for t in range(1, T):
        x[t] = rho_true * x[t - 1] + rng.normal()
    rho_ls = (x[1:] @ x[:-1]) / (x[:-1] @ x[:-1])  # conditional least squares = the posterior mode here
    se = 1 / np.sqrt(x[:-1] @ x[:-1])  # its standard error (sigma = 1)
    with pm.Model():
        rho = pm.Normal("rho", 0.0, 1.0)
        pm.AR("x", rho=rho, sigma=1.0, init_dist=pm.Normal.dist(0.0, 2.0), observed=x)
        approx = pm.fit(1000, random_seed=3, progressbar=False)
    m, sd = float(approx.mean.eval()[0]), float(approx.std.eval()[0])
    assert abs(rho_ls - rho_true) < 0.1
    assert abs(m - rho_ls) < 0.25 * se  # the posterior is N(rho_ls, se) up to the N(0, 1) prior
    np.testing.assert_allclose(sd, se, rtol=0.2)


def test_length_one_batch_parameters_broadcast_against_longer_ones():
    # found by the fuzz test: rho of batch length 1 and sigma of length 2 failed to draw (AR:
    # "Could not broadcast dimensions"; GARCH11: incompatible Alloc shapes)
    init = pm.Normal.dist(0.0, 10.0)
    ar = pm.AR.dist(np.array([[0.5, -0.2]]), np.array([1.0, 2.0]), init_dist=init, steps=4, ar_order=2)
    garch = pm.GARCH11.dist(np.array([0.1]), np.array([0.2, 0.3]), 0.4, 1.0, steps=4)
    assert pm.draw(ar, random_seed=1).shape == (2, 6)
    assert pm.draw(garch, random_seed=1).shape == (2, 5)
    x = np.linspace(-1.0, 1.0, 12).reshape(2, 6)
    one = [pm.AR.dist(np.array([0.5, -0.2]), s, init_dist=init, steps=4) for s in (1.0, 2.0)]
    lp = compile_fn([], [dist_info(ar).logp(x)] + [dist_info(o).logp(x[i]) for i, o in enumerate(one)], mode="FAST_COMPILE")()
    np.testing.assert_allclose(lp[0], [lp[1], lp[2]], rtol=1e-12)
