"""CAR and ICAR: hand formulas (PyMC's constants), PyMC values, draws, errors."""

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import stats

import symvi as sv
from symvi.distributions.base import dist_info
from symvi.logprob import compile_logp
from symvi.pytensorf import compile_fn


def logp_of(rv, values):
    """Log density of ``rv`` at ``values`` (one cheaply compiled function)."""
    values = np.asarray(values)
    v = pt.as_tensor(values).type()
    return compile_fn([v], dist_info(rv).logp(v), mode="FAST_COMPILE")(values)


def draw(rv, seed):
    """One draw of ``rv`` (the default mode would JIT-compile the sampler)."""
    return compile_fn([], rv, mode="FAST_COMPILE", random_seed=seed)()

# a 4-cycle and a path graph
W = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]])
PATH = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]])
X = np.array([[0.3, -0.2, 0.1, -0.15], [1.0, 2.0, 3.0, 4.0]])
MU = np.array([0.1, 0.0, 0.0, 0.2])


def car_by_hand(x, mu, W, alpha, tau):
    """The normal with precision Q = tau (D - alpha W), minus PyMC's omitted constant
    (-k/2 log(2 pi) + 1/2 sum(log D))."""
    D = W.sum(0)
    Q = tau * (np.diag(D) - alpha * W)
    full = stats.multivariate_normal(mu, np.linalg.inv(Q)).logpdf(x)
    return full + 0.5 * len(D) * np.log(2 * np.pi) - 0.5 * np.log(D).sum()


@pytest.mark.parametrize("alpha,tau", [(0.6, 1.7), (-0.9, 0.5), (0.0, 2.0), (0.999, 1.0)])
def test_car_matches_hand_formula(alpha, tau):
    rv = sv.CAR.dist(mu=MU, W=W, alpha=alpha, tau=tau)
    np.testing.assert_allclose(logp_of(rv, X), car_by_hand(X, MU, W, alpha, tau), rtol=1e-10)


def test_car_matches_pymc_and_weighted_w():
    # PyMC 5.28.5: pm.logp(pm.CAR.dist(mu=MU, W=W, alpha=0.6, tau=1.7), X).eval()
    np.testing.assert_allclose(logp_of(sv.CAR.dist(mu=MU, W=W, alpha=0.6, tau=1.7), X), [0.3085629508101311, -24.114487049189865], rtol=1e-10)
    Ww = np.array([[0, 2.0, 0.5], [2.0, 0, 1.0], [0.5, 1.0, 0]])
    x = np.array([0.2, -0.4, 0.9])
    np.testing.assert_allclose(logp_of(sv.CAR.dist(mu=np.zeros(3), W=Ww, alpha=0.4, tau=3.0), x), car_by_hand(x, np.zeros(3), Ww, 0.4, 3.0), rtol=1e-10)



def test_car_and_icar_take_a_scipy_sparse_adjacency():
    # PyMC accepts W as a scipy.sparse matrix; the densities equal the dense-W ones
    from scipy import sparse

    dense = sv.CAR.dist(mu=MU, W=W, alpha=0.6, tau=1.7)
    for fmt in (sparse.csr_matrix, sparse.coo_array):
        rv = sv.CAR.dist(mu=MU, W=fmt(W), alpha=0.6, tau=1.7)
        np.testing.assert_allclose(logp_of(rv, X), logp_of(dense, X), rtol=1e-12)
        icar = sv.ICAR.dist(W=fmt(W), sigma=1.3)
        np.testing.assert_allclose(logp_of(icar, X), logp_of(sv.ICAR.dist(W=W, sigma=1.3), X), rtol=1e-12)

def test_car_symbolic_alpha_out_of_range_is_minus_inf():
    a = pt.dscalar("a")
    lp = dist_info(sv.CAR.dist(mu=MU, W=W, alpha=a, tau=1.0)).logp(pt.as_tensor(X[0]))
    assert np.isneginf(lp.eval({a: 1.0})) and np.isneginf(lp.eval({a: -1.5}))
    np.testing.assert_allclose(lp.eval({a: 0.5}), car_by_hand(X[0], MU, W, 0.5, 1.0))


def test_car_draws_have_the_car_covariance():
    alpha, tau = 0.6, 1.7
    d = draw(sv.CAR.dist(mu=MU, W=W, alpha=alpha, tau=tau, size=30000), 1)
    assert d.shape == (30000, 4)
    np.testing.assert_allclose(d.mean(0), MU, atol=0.02)
    cov = np.linalg.inv(tau * (np.diag(W.sum(0)) - alpha * W))
    np.testing.assert_allclose(np.cov(d.T), cov, atol=0.02)


def test_car_model_and_errors():
    with sv.Model() as m:
        a = sv.Uniform("a", 0.0, 1.0)
        x = sv.CAR("x", mu=MU, W=W, alpha=a, tau=1.7)
    assert m.rvs_to_transforms[x] is None
    np.testing.assert_allclose(m.initial_point()["x"], MU)
    got = compile_logp(m, jacobian=False, mode="FAST_COMPILE")({"a_interval__": 0.0, "x": X[0]})
    np.testing.assert_allclose(got, car_by_hand(X[0], MU, W, 0.5, 1.7), rtol=1e-10)
    with pytest.raises(ValueError, match="symmetric"):
        sv.CAR.dist(mu=np.zeros(3), W=np.array([[0, 1, 0], [0, 0, 1], [0, 1, 0]]), alpha=0.5, tau=1.0)
    with pytest.raises(ValueError, match="square"):
        sv.CAR.dist(mu=np.zeros(3), W=np.ones((2, 3)), alpha=0.5, tau=1.0)
    with sv.Model():
        with pytest.raises(ValueError, match="'c'.*alpha"):
            sv.CAR("c", mu=MU, W=W, alpha=1.5, tau=1.0)
        with pytest.raises(ValueError, match="'d'.*tau"):
            sv.CAR("d", mu=MU, W=W, alpha=0.5, tau=0.0)


# ---------------------------------------------------------------------- ICAR
def icar_by_hand(x, W, sigma, zss):
    i, j = np.nonzero(np.tril(W))
    pairs = -np.sum((x[..., i] - x[..., j]) ** 2, axis=-1) / (2 * sigma**2)
    return pairs + stats.norm(0, zss * W.shape[0]).logpdf(x.sum(-1))


@pytest.mark.parametrize("sigma,zss", [(0.8, 0.001), (1.0, 0.5), (2.5, 0.01)])
def test_icar_matches_hand_formula(sigma, zss):
    rv = sv.ICAR.dist(W=W, sigma=sigma, zero_sum_stdev=zss)
    np.testing.assert_allclose(logp_of(rv, X), icar_by_hand(X, W, sigma, zss), rtol=1e-10)


def test_icar_matches_pymc():
    # PyMC 5.28.5: pm.logp(pm.ICAR.dist(W=W, sigma=0.8), X[0]) and (sigma=0.8, zero_sum_stdev=0.5) at X[1]
    np.testing.assert_allclose(logp_of(sv.ICAR.dist(W=W, sigma=0.8), X[0]), -73.99513386534238, rtol=1e-10)
    np.testing.assert_allclose(logp_of(sv.ICAR.dist(W=W, sigma=0.8, zero_sum_stdev=0.5), X[1]), -23.487085713764614, rtol=1e-10)


def test_icar_draws_from_the_density_it_defines():
    sigma, zss = 1.3, 0.01
    d = draw(sv.ICAR.dist(W=PATH, sigma=sigma, zero_sum_stdev=zss, size=30000), 2)
    Q = (np.diag(PATH.sum(0)) - PATH) / sigma**2 + 1 / (zss * 3) ** 2
    np.testing.assert_allclose(np.cov(d.T), np.linalg.inv(Q), atol=0.03)
    np.testing.assert_allclose(d.sum(-1).std(), zss * 3, rtol=0.05)


def test_icar_model_and_errors():
    with sv.Model() as m:
        s = sv.HalfNormal("s", 1.0)
        sv.ICAR("phi", W=W, sigma=s)
    got = compile_logp(m, jacobian=False, mode="FAST_COMPILE")({"s_log__": np.log(0.8), "phi": X[0]})
    np.testing.assert_allclose(got, icar_by_hand(X[0], W, 0.8, 0.001) + stats.halfnorm.logpdf(0.8), rtol=1e-10)
    with pytest.raises(ValueError, match="0s and 1s"):
        sv.ICAR.dist(W=2 * W)
    with pytest.raises(ValueError, match="symmetric"):
        sv.ICAR.dist(W=np.array([[0, 1, 0], [0, 0, 1], [0, 1, 0]]))
    with sv.Model():
        with pytest.raises(ValueError, match="'p'.*sigma"):
            sv.ICAR("p", W=W, sigma=-1.0)


def test_icar_with_symbolic_adjacency_checks_zero_one_entries():
    # found by the fuzz test: the 0/1 check on a symbolic W used `==` (identity) and failed to build
    W = pt.lmatrix("W")
    x = np.array([0.3, -0.1, -0.2])
    f = compile_fn([W], dist_info(sv.ICAR.dist(W=W, sigma=0.8)).logp(x), mode="FAST_COMPILE")
    ring = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    const = compile_fn([], dist_info(sv.ICAR.dist(W=ring, sigma=0.8)).logp(x), mode="FAST_COMPILE")
    np.testing.assert_allclose(f(ring), const(), rtol=1e-12)
    assert f(2 * ring) == -np.inf
