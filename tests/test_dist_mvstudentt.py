"""MvStudentT: scipy.stats.multivariate_t, PyMC values, draws, parametrizations."""

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


S = np.array([[2.0, 0.3], [0.3, 1.0]])
MU = np.array([1.0, -1.0])


@pytest.mark.parametrize("param", ["scale", "cov", "Sigma", "chol", "tau"])
def test_logp_matches_scipy(param):
    arg = {"scale": S, "cov": S, "Sigma": S, "chol": np.linalg.cholesky(S), "tau": np.linalg.inv(S)}[param]
    rv = sv.MvStudentT.dist(nu=4.5, mu=MU, **{param: arg})
    x = np.random.default_rng(1).normal(size=(5, 2)) * 3
    np.testing.assert_allclose(logp_of(rv, x), stats.multivariate_t(MU, S, df=4.5).logpdf(x), rtol=1e-10)


def test_logp_matches_pymc_and_edges():
    # PyMC 5.28.5: pm.logp(pm.MvStudentT.dist(nu=4.5, mu=MU, scale=S), x).eval()
    x = np.array([[0.5, -0.3], [2.0, 1.0]])
    np.testing.assert_allclose(logp_of(sv.MvStudentT.dist(nu=4.5, mu=MU, scale=S), x), [-2.664848304543339, -4.260264945700347], rtol=1e-8)
    # nu -> large: the normal; nu = 1: the multivariate Cauchy
    big = sv.MvStudentT.dist(nu=1e8, mu=MU, scale=S)
    np.testing.assert_allclose(logp_of(big, x), stats.multivariate_normal(MU, S).logpdf(x), rtol=1e-6)
    np.testing.assert_allclose(logp_of(sv.MvStudentT.dist(nu=1.0, mu=MU, scale=S), x), stats.multivariate_t(MU, S, df=1).logpdf(x), rtol=1e-10)


def test_symbolic_nu_invalid_gives_minus_inf():
    nu = pt.dscalar("nu")
    lp = dist_info(sv.MvStudentT.dist(nu=nu, mu=MU, scale=S)).logp(pt.as_tensor(np.zeros(2)))
    assert np.isneginf(lp.eval({nu: -1.0}))
    np.testing.assert_allclose(lp.eval({nu: 3.0}), stats.multivariate_t(MU, S, df=3).logpdf(np.zeros(2)))


def test_draws_moments():
    d = draw(sv.MvStudentT.dist(nu=6.0, mu=MU, scale=S, size=40000), 1)
    assert d.shape == (40000, 2)
    np.testing.assert_allclose(d.mean(0), MU, atol=0.04)
    np.testing.assert_allclose(np.cov(d.T), S * 6 / 4, rtol=0.08, atol=0.03)  # nu / (nu - 2) Sigma
    batched = draw(sv.MvStudentT.dist(nu=np.array([3.0, 30.0]), mu=MU, scale=S), 2)
    assert batched.shape == (2, 2)


def test_model_and_errors():
    with sv.Model() as m:
        x = sv.MvStudentT("x", nu=5, mu=MU, scale=S)
    assert m.rvs_to_transforms[x] is None
    np.testing.assert_allclose(m.initial_point()["x"], MU)
    np.testing.assert_allclose(compile_logp(m, mode="FAST_COMPILE")({"x": np.zeros(2)}), stats.multivariate_t(MU, S, df=5).logpdf(np.zeros(2)))
    with pytest.raises(TypeError, match="exactly one of"):
        sv.MvStudentT.dist(nu=3, mu=MU)
    with pytest.raises(ValueError, match="nu"):
        sv.MvStudentT.dist(nu=-3.0, mu=MU, scale=S)
    with sv.Model():
        with pytest.raises(ValueError, match="'y'"):
            sv.MvStudentT("y", nu=3, mu=MU, scale=np.array([[1.0, 2.0], [2.0, 1.0]]))


def test_length_one_mu_broadcasts_against_a_longer_nu():
    # found by the fuzz test: nu of length 2 with mu of batch length 1 failed to draw
    rv = sv.MvStudentT.dist(nu=np.array([3.0, 8.0]), mu=np.array([[0.5, -1.0]]), chol=np.eye(2))
    draws = sv.draw(rv, draws=200, random_seed=1)
    assert draws.shape == (200, 2, 2) and np.all(np.isfinite(draws))
    x = np.array([[0.3, 0.1], [-2.0, 1.0]])
    lp = compile_fn([], dist_info(rv).logp(x), mode="FAST_COMPILE")()
    want = [stats.multivariate_t([0.5, -1.0], np.eye(2), df=nu).logpdf(xi) for nu, xi in zip((3.0, 8.0), x)]
    np.testing.assert_allclose(lp, want, rtol=1e-10)
