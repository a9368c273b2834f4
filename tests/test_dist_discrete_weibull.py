"""DiscreteWeibull: log mass / CDF against the closed forms, PyMC's values, quantiles, draws."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

import symvi as sv
from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn

FAST = "FAST_COMPILE"
GRID = np.arange(-2, 40)
PARAMS = [(0.7, 1.3), (0.5, 1.0), (0.95, 0.4), (0.2, 3.0)]


def pmf(x, q, b):
    x = np.asarray(x, dtype=float)
    xs = np.maximum(x, 0)
    return np.where(x >= 0, q ** (xs**b) - q ** ((xs + 1) ** b), 0.0)


def cdf(x, q, b):
    x = np.asarray(x, dtype=float)
    return np.where(x >= 0, 1 - q ** ((np.maximum(x, 0) + 1) ** b), 0.0)


@pytest.fixture(scope="module")
def evaluated():
    """logp, logcdf on GRID and icdf on a probability grid for every PARAMS row: one function."""
    outs = []
    probs = np.array([0.0, 1e-9, 0.1, 0.5, 0.9, 0.999])
    for q, b in PARAMS:
        info = dist_info(sv.DiscreteWeibull.dist(q=q, beta=b))
        v = pt.as_tensor(GRID)
        outs += [info.logp(v), info.cls.logcdf(v, **info.params), info.cls.icdf(pt.as_tensor(probs), **info.params)]
    res = pytensor.function([], outs, mode=FAST)()
    return probs, [res[i : i + 3] for i in range(0, len(res), 3)]


@pytest.mark.parametrize("i", range(len(PARAMS)), ids=[f"q{q}-b{b}" for q, b in PARAMS])
def test_logp_logcdf_match_closed_form(i, evaluated):
    q, b = PARAMS[i]
    _, rows = evaluated
    lp, lc, _ = rows[i]
    with np.errstate(divide="ignore"):
        want_lp, want_lc = np.log(pmf(GRID, q, b)), np.log(cdf(GRID, q, b))
    finite = np.isfinite(want_lp)
    np.testing.assert_allclose(lp[finite], want_lp[finite], rtol=1e-8)
    assert np.all(np.isneginf(lp[GRID < 0]))
    np.testing.assert_allclose(lc[GRID >= 0], want_lc[GRID >= 0], rtol=1e-8, atol=1e-14)
    assert np.all(np.isneginf(lc[GRID < 0]))
    # the closed-form CDF is the running sum of the mass
    np.testing.assert_allclose(np.exp(lc[GRID >= 0]), np.cumsum(np.exp(lp[GRID >= 0])), rtol=1e-10, atol=1e-14)


def _geometric_case_logp():
    info = dist_info(sv.DiscreteWeibull.dist(q=0.5, beta=1.0))
    return None, pytensor.function([], info.logp(pt.as_tensor(GRID)), mode=FAST)()


def test_geometric_special_case():
    _, lp = _geometric_case_logp()
    with np.errstate(divide="ignore"):
        want = stats.geom(0.5).logpmf(GRID + 1)  # failures before the first success
    np.testing.assert_allclose(lp, want, rtol=1e-12)


def test_matches_pymc():
    # PyMC 5.28.5: pm.logp / pm.logcdf(pm.DiscreteWeibull.dist(q=0.7, beta=1.3), [-1, 0, 1, 2, 5, 10])
    values = np.array([-1, 0, 1, 2, 5, 10])
    pymc_logp = [-np.inf, -1.203972804325936, -1.2570745099369247, -1.6626550117188397, -3.509410414529416, -7.612745183888957]
    pymc_logcdf = [-np.inf, -1.203972804325936, -0.537024044083967, -0.25602851172091334, -0.025983096329247158, -0.00031745745674469664]
    info = dist_info(sv.DiscreteWeibull.dist(q=0.7, beta=1.3))
    v = pt.as_tensor(values)
    lp, lc = pytensor.function([], [info.logp(v), info.cls.logcdf(v, **info.params)], mode=FAST)()
    np.testing.assert_allclose(lp, pymc_logp, rtol=1e-12)
    np.testing.assert_allclose(lc, pymc_logcdf, rtol=1e-12)


@pytest.mark.parametrize("i", range(len(PARAMS)), ids=[f"q{q}-b{b}" for q, b in PARAMS])
def test_icdf_is_smallest_x_with_cdf_at_least_p(i, evaluated):
    q, b = PARAMS[i]
    probs, rows = evaluated
    x = rows[i][2]
    assert x[0] == 0 and x[1] == 0
    inner = x[2:]
    assert np.all(cdf(inner, q, b) >= probs[2:])
    assert np.all(cdf(inner - 1, q, b) < probs[2:])


def test_icdf_edges():
    info = dist_info(sv.DiscreteWeibull.dist(q=0.7, beta=1.3))
    x = pytensor.function([], info.cls.icdf(pt.as_tensor(np.array([-0.5, 1.0, 1.5])), **info.params), mode=FAST)()
    assert np.isnan(x[0]) and np.isposinf(x[1]) and np.isnan(x[2])


def test_draws_match_pmf_and_mean():
    q, b = 0.7, 1.3
    n = 20000
    d = compile_fn([], sv.DiscreteWeibull.dist(q=q, beta=b, size=n), random_seed=1, mode=FAST)()
    assert d.dtype == np.int64 and d.min() >= 0
    support = np.arange(0, 12)
    p = pmf(support, q, b)
    freq = np.array([(d == k).mean() for k in support])
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n) + 1e-3)
    mean = (q ** (np.arange(1, 400) ** b)).sum()  # E X = sum_{x >= 1} P(X >= x)
    sd = np.sqrt(2 * (np.arange(1, 400) * q ** (np.arange(1, 400) ** b)).sum() - mean - mean**2)
    assert abs(d.mean() - mean) < 5 * sd / np.sqrt(n)


def test_batched_draw_shape_and_support_point():
    rv = sv.DiscreteWeibull.dist(q=np.array([0.3, 0.9]), beta=np.array([[1.0], [2.0], [0.5]]))
    assert compile_fn([], rv, random_seed=2, mode=FAST)().shape == (3, 2)
    with sv.Model() as m:
        sv.DiscreteWeibull("k", q=0.7, beta=1.3)
    # the median: smallest x with F(x) >= 1/2
    assert m.initial_point()["k"] == 1 and cdf(1, 0.7, 1.3) >= 0.5 > cdf(0, 0.7, 1.3)


@pytest.mark.parametrize("kwargs,param", [({"q": 1.0, "beta": 1.0}, "q"), ({"q": 0.0, "beta": 1.0}, "q"), ({"q": 0.5, "beta": 0.0}, "beta")])
def test_invalid_parameters(kwargs, param):
    with sv.Model():
        with pytest.raises(ValueError, match=rf"'bad'.*parameter {param}\b"):
            sv.DiscreteWeibull("bad", **kwargs)
