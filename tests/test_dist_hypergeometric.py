"""HyperGeometric: log mass and log CDF against scipy.stats.hypergeom and PyMC, draws, checks."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

import symvi as sv
from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn

# the hypergeometric draw has no numba implementation; pytensor falls back to object mode
pytestmark = pytest.mark.filterwarnings("ignore:Numba will use object mode:UserWarning")

FAST = "FAST_COMPILE"
# (N, k, n): lower bound 0; lower bound n - N + k > 0; k = 0; n = N; n = 0
PARAMS = [(20, 7, 9), (10, 7, 6), (12, 0, 5), (8, 3, 8), (8, 3, 0)]
GRID = np.arange(-2, 12)


def ref(N, k, n):
    return stats.hypergeom(M=N, n=k, N=n)  # scipy: population M, successes n, draws N


@pytest.fixture(scope="module")
def evaluated():
    outs = []
    for N, k, n in PARAMS:
        info = dist_info(sv.HyperGeometric.dist(N=N, k=k, n=n))
        v = pt.as_tensor(GRID)
        outs += [info.logp(v), info.cls.logcdf(v, **info.params)]
    res = pytensor.function([], outs, mode=FAST)()
    return [res[i : i + 2] for i in range(0, len(res), 2)]


@pytest.mark.parametrize("i", range(len(PARAMS)), ids=[f"N{N}-k{k}-n{n}" for N, k, n in PARAMS])
def test_logp_logcdf_match_scipy(i, evaluated):
    N, k, n = PARAMS[i]
    lp, lc = evaluated[i]
    with np.errstate(divide="ignore"):
        want_lp, want_lc = ref(N, k, n).logpmf(GRID), ref(N, k, n).logcdf(GRID)
    lo, hi = max(0, n - N + k), min(k, n)
    inside = (GRID >= lo) & (GRID <= hi)
    assert (~inside).sum() >= 3
    np.testing.assert_allclose(lp[inside], want_lp[inside], rtol=1e-9, atol=1e-12)
    assert np.all(np.isneginf(lp[~inside]))
    np.testing.assert_allclose(lc, want_lc, rtol=1e-9, atol=1e-12)
    assert np.all(lc[GRID >= hi] == 0.0) and np.all(np.isneginf(lc[GRID < lo]))


def test_matches_pymc():
    # PyMC 5.28.5: pm.logp(pm.HyperGeometric.dist(N=20, k=7, n=9), [-1, 0, 1, 5, 7, 8]) and
    # pm.logcdf at each value (PyMC's logcdf gives 9.1e-15 instead of 0 at the top)
    info = dist_info(sv.HyperGeometric.dist(N=20, k=7, n=9))
    v = pt.as_tensor(np.array([-1, 0, 1, 5, 7, 8]))
    lp, lc = pytensor.function([], [info.logp(v), info.cls.logcdf(v, **info.params)], mode=FAST)()
    np.testing.assert_allclose(lp, [-np.inf, -5.459198592104116, -2.925501778146696, -2.414676154380686, -7.6747723081085155, -np.inf], rtol=1e-12)
    np.testing.assert_allclose(lc, [-np.inf, -5.459198592104116, -2.8491287993621213, -0.012461220437802897, 0.0, 0.0], rtol=1e-12, atol=1e-13)


def test_batched_parameters_and_values():
    N = np.array([20, 10, 30])
    k = np.array([7, 7, 15])
    n = np.array([9, 6, 12])
    x = np.array([[3, 4, 6], [0, 3, 12]])
    info = dist_info(sv.HyperGeometric.dist(N=N, k=k, n=n))
    v = pt.as_tensor(x)
    lp, lc = pytensor.function([], [info.logp(v), info.cls.logcdf(v, **info.params)], mode=FAST)()
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(lp, stats.hypergeom.logpmf(x, N, k, n), rtol=1e-9)
        np.testing.assert_allclose(lc, stats.hypergeom.logcdf(x, N, k, n), rtol=1e-9, atol=1e-12)


def test_draws_match_pmf():
    N, k, n = 20, 7, 9
    size = 20000
    d = compile_fn([], sv.HyperGeometric.dist(N=N, k=k, n=n, size=size), random_seed=1)()
    support = np.arange(0, 8)
    p = ref(N, k, n).pmf(support)
    freq = np.array([(d == j).mean() for j in support])
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / size) + 1e-3)
    assert abs(d.mean() - n * k / N) < 5 * ref(N, k, n).std() / np.sqrt(size)


def test_support_point_is_mode():
    with sv.Model() as m:
        sv.HyperGeometric("h", N=20, k=7, n=9)
    point = m.initial_point()["h"]
    assert point == np.argmax(ref(20, 7, 9).pmf(np.arange(8)))


@pytest.mark.parametrize(
    "kwargs,param",
    [({"N": 5, "k": 6, "n": 2}, "k and N"), ({"N": 5, "k": 2, "n": 6}, "n and N"), ({"N": -1, "k": 0, "n": 0}, "N")],
)
def test_invalid_parameters(kwargs, param):
    with sv.Model():
        with pytest.raises(ValueError, match=rf"'bad'.*parameter {param}\b"):
            sv.HyperGeometric("bad", **kwargs)
