"""Multivariate distributions: MvNormal, Dirichlet, Multinomial."""

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import stats

import symvi as sv
from symvi.distributions.base import dist_info
from symvi.pytensorf import compile_fn

MU = np.array([0.5, -1.0, 2.0])
COV = np.array([[2.0, 0.3, -0.4], [0.3, 1.0, 0.2], [-0.4, 0.2, 1.5]])


def logp_of(rv, values):
    return dist_info(rv).logp(pt.as_tensor(np.asarray(values))).eval()


# ---------------------------------------------------------------------- MvNormal
@pytest.mark.parametrize("param", ["cov", "chol", "tau"])
def test_mvnormal_logp_matches_scipy(param):
    arg = {"cov": COV, "chol": np.linalg.cholesky(COV), "tau": np.linalg.inv(COV)}[param]
    rv = sv.MvNormal.dist(mu=MU, **{param: arg})
    values = np.random.default_rng(1).normal(size=(4, 3))
    got = logp_of(rv, values)
    assert got.shape == (4,)
    np.testing.assert_allclose(got, stats.multivariate_normal(MU, COV).logpdf(values), rtol=1e-10)


def test_mvnormal_logp_broadcasts_batch_dims():
    rng = np.random.default_rng(2)
    mus = rng.normal(size=(2, 3))
    rv = sv.MvNormal.dist(mu=mus, cov=COV)
    values = rng.normal(size=(5, 2, 3))
    got = logp_of(rv, values)
    assert got.shape == (5, 2)
    want = np.stack([stats.multivariate_normal(mus[j], COV).logpdf(values[:, j]) for j in range(2)], axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_mvnormal_batched_cov():
    covs = np.stack([COV, np.diag([1.0, 2.0, 3.0])])
    rv = sv.MvNormal.dist(mu=MU, cov=covs)
    values = np.random.default_rng(3).normal(size=(2, 3))
    want = [stats.multivariate_normal(MU, covs[j]).logpdf(values[j]) for j in range(2)]
    np.testing.assert_allclose(logp_of(rv, values), want, rtol=1e-10)


def test_mvnormal_symbolic_cov_and_non_pd_gives_minus_inf():
    cov = pt.dmatrix("cov")
    rv = sv.MvNormal.dist(mu=np.zeros(2), cov=cov)
    lp = dist_info(rv).logp(pt.as_tensor(np.array([0.3, -0.2])))
    np.testing.assert_allclose(lp.eval({cov: np.eye(2)}), stats.multivariate_normal(np.zeros(2)).logpdf([0.3, -0.2]))
    assert np.isneginf(lp.eval({cov: np.array([[1.0, 2.0], [2.0, 1.0]])}))


def test_mvnormal_draws_moments():
    d = compile_fn([], sv.MvNormal.dist(mu=MU, cov=COV, size=20000), random_seed=1)()
    assert d.shape == (20000, 3)
    np.testing.assert_allclose(d.mean(0), MU, atol=0.05)
    np.testing.assert_allclose(np.cov(d.T), COV, atol=0.08)


def test_mvnormal_shape_and_scalar_mu():
    rv = sv.MvNormal.dist(mu=0.0, chol=np.eye(3), shape=(4, 3))
    assert compile_fn([], rv, random_seed=1)().shape == (4, 3)


def test_mvnormal_in_model():
    with sv.Model() as m:
        x = sv.MvNormal("x", mu=MU, cov=COV)
    assert m.rvs_to_transforms[x] is None
    point = m.initial_point()
    np.testing.assert_allclose(point["x"], MU)
    val = np.array([0.1, 0.2, 0.3])
    np.testing.assert_allclose(m.compile_logp()({"x": val}), stats.multivariate_normal(MU, COV).logpdf(val))


def test_mvnormal_parametrization_errors():
    with pytest.raises(TypeError):
        sv.MvNormal.dist(mu=MU, cov=COV, tau=COV)
    with pytest.raises(TypeError):
        sv.MvNormal.dist(mu=MU)


@pytest.mark.parametrize("param", ["cov", "tau"])
def test_mvnormal_constant_not_pd_raises(param):
    bad = np.array([[1.0, 2.0], [2.0, 1.0]])
    with sv.Model():
        with pytest.raises(ValueError, match=r"'bad'.*parameter chol.*positive definite"):
            sv.MvNormal("bad", mu=np.zeros(2), **{param: bad})


# ---------------------------------------------------------------------- Dirichlet
A = np.array([1.5, 0.8, 3.0])


def test_dirichlet_logp_matches_scipy_and_support():
    rng = np.random.default_rng(4)
    inside = rng.dirichlet(A, size=5)
    got = logp_of(sv.Dirichlet.dist(a=A), inside)
    np.testing.assert_allclose(got, [stats.dirichlet(A).logpdf(x) for x in inside], rtol=1e-10)
    outside = np.array([[0.5, 0.6, -0.1], [0.2, 0.2, 0.2], [1.2, -0.1, -0.1]])
    assert np.all(np.isneginf(logp_of(sv.Dirichlet.dist(a=A), outside)))


def test_dirichlet_batched_a():
    a = np.array([[1.0, 2.0, 3.0], [0.5, 0.5, 4.0]])
    x = np.array([0.2, 0.3, 0.5])
    want = [stats.dirichlet(ai).logpdf(x) for ai in a]
    np.testing.assert_allclose(logp_of(sv.Dirichlet.dist(a=a), x), want, rtol=1e-10)


def test_dirichlet_draws():
    d = compile_fn([], sv.Dirichlet.dist(a=A, size=20000), random_seed=1)()
    assert d.shape == (20000, 3)
    np.testing.assert_allclose(d.sum(-1), 1.0)
    np.testing.assert_allclose(d.mean(0), A / A.sum(), atol=0.01)
    assert stats.kstest(d[:, 0], stats.beta(A[0], A.sum() - A[0]).cdf).pvalue > 0.001


def test_dirichlet_in_model_simplex_transform_and_jacobian():
    with sv.Model() as m:
        p = sv.Dirichlet("p", a=A)
    assert m.rvs_to_transforms[p] is sv.transforms.simplex
    (value,) = m.value_vars
    assert value.name == "p_simplex__"
    point = m.initial_point()
    np.testing.assert_allclose(sv.transforms.simplex.backward(pt.as_tensor(point["p_simplex__"])).eval(), A / A.sum())
    y = np.array([0.4, -0.7])
    x = np.exp(np.append(y, 0.0)) / np.exp(np.append(y, 0.0)).sum()
    log_jac = np.log(x).sum()  # simplex transform's log |det J|
    got = m.compile_logp()({"p_simplex__": y})
    np.testing.assert_allclose(got, stats.dirichlet(A).logpdf(x) + log_jac, rtol=1e-10)
    np.testing.assert_allclose(log_jac, sv.transforms.numeric_log_jac(sv.transforms.simplex, y), rtol=1e-6)
    no_jac = m.compile_logp(jacobian=False)({"p_simplex__": y})
    np.testing.assert_allclose(no_jac, stats.dirichlet(A).logpdf(x), rtol=1e-10)


def test_dirichlet_batched_in_model():
    with sv.Model() as m:
        sv.Dirichlet("p", a=np.ones((2, 4)))
    y = np.random.default_rng(5).normal(size=(2, 3))
    z = np.concatenate([y, np.zeros((2, 1))], axis=1)
    x = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    want = sum(stats.dirichlet(np.ones(4)).logpdf(xi) for xi in x) + np.log(x).sum()
    np.testing.assert_allclose(m.compile_logp()({"p_simplex__": y}), want, rtol=1e-10)


def test_dirichlet_invalid_a_raises():
    with sv.Model():
        with pytest.raises(ValueError, match=r"'bad'.*parameter a\b"):
            sv.Dirichlet("bad", a=np.array([1.0, 0.0, 2.0]))


# ---------------------------------------------------------------------- Multinomial
P = np.array([0.2, 0.5, 0.3])


def test_multinomial_logp_matches_scipy():
    values = np.array([[2, 5, 3], [0, 0, 10], [10, 0, 0], [3, 3, 3], [-1, 6, 5], [4, 4, 4]])
    got = logp_of(sv.Multinomial.dist(n=10, p=P), values)
    with np.errstate(divide="ignore"):
        want = stats.multinomial(10, P).logpmf(values)
    np.testing.assert_allclose(got[:3], want[:3], rtol=1e-10)
    assert np.all(np.isneginf(got[3:]))


def test_multinomial_normalises_p_and_batches_n():
    n = np.array([5, 8])
    values = np.array([[1, 2, 2], [4, 4, 0]])
    got = logp_of(sv.Multinomial.dist(n=n, p=2 * P), values)
    want = [stats.multinomial(ni, P).logpmf(v) for ni, v in zip(n, values)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_multinomial_draws():
    d = compile_fn([], sv.Multinomial.dist(n=20, p=P, size=5000), random_seed=1)()
    assert d.shape == (5000, 3)
    assert np.issubdtype(d.dtype, np.integer)
    assert np.all(d.sum(-1) == 20)
    np.testing.assert_allclose(d.mean(0), 20 * P, rtol=0.03)


def test_multinomial_observed_and_invalid():
    data = np.array([[2, 5, 3], [1, 6, 3]])
    with sv.Model() as m:
        p = sv.Dirichlet("p", a=np.ones(3))
        sv.Multinomial("y", n=10, p=p, observed=data)
    y = np.array([0.1, 0.3])
    z = np.append(y, 0.0)
    x = np.exp(z) / np.exp(z).sum()
    want = stats.multinomial(10, x).logpmf(data).sum() + stats.dirichlet(np.ones(3)).logpdf(x) + np.log(x).sum()
    np.testing.assert_allclose(m.compile_logp()({"p_simplex__": y}), want, rtol=1e-10)
    with sv.Model():
        with pytest.raises(ValueError, match=r"'bad'.*parameter p\b"):
            sv.Multinomial("bad", n=3, p=np.array([0.5, -0.5, 1.0]))
        with pytest.raises(ValueError, match=r"'bad2'.*parameter n\b"):
            sv.Multinomial("bad2", n=-3, p=P)


def test_symbolic_singular_precision_gives_minus_inf_not_an_error():
    """MvNormal(tau=<tensor>) goes through tau's own Cholesky factor: a singular or indefinite
    precision met during a fit makes logp -inf (before: pt.linalg.inv raised LinAlgError)."""
    import pytensor

    tau = pt.dmatrix("tau")
    v = pt.dvector("v")
    lp = dist_info(sv.MvNormal.dist(mu=np.zeros(2), tau=tau)).logp(v)
    f = pytensor.function([tau, v], lp, mode="FAST_COMPILE")
    T = np.array([[2.0, 0.5], [0.5, 1.0]])
    V = np.array([0.3, -0.2])
    assert float(f(T, V)) == pytest.approx(stats.multivariate_normal(np.zeros(2), np.linalg.inv(T)).logpdf(V), rel=1e-12)
    assert float(f(np.ones((2, 2)), V)) == -np.inf  # singular
    assert float(f(np.array([[1.0, 2.0], [2.0, 1.0]]), V)) == -np.inf  # indefinite
