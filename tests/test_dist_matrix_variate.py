"""MatrixNormal, KroneckerNormal, Wishart: scipy.stats, PyMC values, draws, Wishart's transform."""

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import stats

import symvi as sv
from symvi import transforms
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

U = np.array([[2.0, 0.3], [0.3, 1.0]])
V = np.array([[1.0, 0.2, 0.1], [0.2, 1.5, -0.3], [0.1, -0.3, 0.8]])
M = np.arange(6.0).reshape(2, 3) / 4


# ---------------------------------------------------------------------- MatrixNormal
@pytest.mark.parametrize(
    "row,col",
    [({"rowcov": U}, {"colcov": V}), ({"rowchol": np.linalg.cholesky(U)}, {"colchol": np.linalg.cholesky(V)}), ({"rowtau": np.linalg.inv(U)}, {"coltau": np.linalg.inv(V)})],
)
def test_matrix_normal_matches_scipy(row, col):
    rv = sv.MatrixNormal.dist(mu=M, **row, **col)
    X = np.random.default_rng(0).normal(size=(4, 2, 3)) * 2
    np.testing.assert_allclose(logp_of(rv, X), stats.matrix_normal(M, U, V).logpdf(X), rtol=1e-10)


def test_matrix_normal_matches_pymc():
    # PyMC 5.28.5: pm.logp(pm.MatrixNormal.dist(mu=M, rowcov=U, colcov=V), X).eval()
    X = np.array([[0.1, 0.5, -0.2], [1.0, 0.3, 0.7]])
    np.testing.assert_allclose(logp_of(sv.MatrixNormal.dist(mu=M, rowcov=U, colcov=V), X), -7.244607956044862, rtol=1e-10)


def test_matrix_normal_draws_and_model():
    d = draw(sv.MatrixNormal.dist(mu=M, rowcov=U, colcov=V, size=20000), 1)
    assert d.shape == (20000, 2, 3)
    np.testing.assert_allclose(d.mean(0), M, atol=0.04)
    np.testing.assert_allclose(np.cov(d.reshape(-1, 6).T), np.kron(U, V), atol=0.06)
    with sv.Model() as m:
        x = sv.MatrixNormal("x", mu=M, rowcov=U, colcov=V)
    assert m.rvs_to_transforms[x] is None
    np.testing.assert_allclose(m.initial_point()["x"], M)


def test_matrix_normal_errors():
    with pytest.raises(ValueError, match="exactly one of rowcov, rowchol or rowtau"):
        sv.MatrixNormal.dist(mu=M, colcov=V)
    with pytest.raises(ValueError, match="colcov must be a square matrix"):
        sv.MatrixNormal.dist(mu=M, rowcov=U, colcov=np.ones((2, 3)))
    with pytest.raises(ValueError, match="rowcov must be positive definite"):
        sv.MatrixNormal.dist(mu=M, rowcov=np.array([[1.0, 2.0], [2.0, 1.0]]), colcov=V)
    with pytest.raises(ValueError, match="does not fit"):
        sv.MatrixNormal.dist(mu=np.zeros((3, 3)), rowcov=U, colcov=V)


# ---------------------------------------------------------------------- KroneckerNormal
@pytest.mark.parametrize("sigma", [0.0, 0.3])
@pytest.mark.parametrize("kind", ["covs", "chols", "evds"])
def test_kronecker_normal_matches_dense_mvnormal(kind, sigma):
    factors = {"covs": [U, V], "chols": [np.linalg.cholesky(U), np.linalg.cholesky(V)], "evds": [np.linalg.eigh(U), np.linalg.eigh(V)]}[kind]
    mu = np.linspace(-1, 1, 6)
    rv = sv.KroneckerNormal.dist(mu=mu, sigma=sigma, **{kind: factors})
    x = np.random.default_rng(1).normal(size=(3, 6))
    want = stats.multivariate_normal(mu, np.kron(U, V) + sigma**2 * np.eye(6)).logpdf(x)
    np.testing.assert_allclose(logp_of(rv, x), want, rtol=1e-10)


def test_kronecker_normal_three_factors_and_pymc():
    W = np.array([[1.0, -0.4], [-0.4, 0.7]])
    rv = sv.KroneckerNormal.dist(mu=np.zeros(12), covs=[U, V, W], sigma=0.2)
    x = np.random.default_rng(2).normal(size=(2, 12))
    want = stats.multivariate_normal(np.zeros(12), np.kron(np.kron(U, V), W) + 0.04 * np.eye(12)).logpdf(x)
    np.testing.assert_allclose(logp_of(rv, x), want, rtol=1e-10)
    # PyMC 5.28.5: pm.logp(pm.KroneckerNormal.dist(mu=..., covs/chols=..., sigma=...), kv).eval()
    kv = np.array([0.2, -0.1, 0.4, 1.0, 0.0, -0.5])
    np.testing.assert_allclose(logp_of(sv.KroneckerNormal.dist(mu=np.zeros(6), covs=[U, V], sigma=0.3), kv), -7.554813753691044, rtol=1e-10)
    chols = [np.linalg.cholesky(U), np.linalg.cholesky(V)]
    np.testing.assert_allclose(logp_of(sv.KroneckerNormal.dist(mu=np.ones(6), chols=chols), kv), -9.186426020117475, rtol=1e-10)


def test_kronecker_normal_draws_model_errors():
    d = draw(sv.KroneckerNormal.dist(mu=np.zeros(6), covs=[U, V], sigma=0.5, size=20000), 3)
    np.testing.assert_allclose(np.cov(d.T), np.kron(U, V) + 0.25 * np.eye(6), atol=0.08)
    with sv.Model() as m:
        x = sv.KroneckerNormal("x", mu=np.zeros(6), covs=[U, V])
    assert dist_info(x).cls.__name__ == "KroneckerNormal" and dist_info(x).cls.params[2:] == ("cov_0", "cov_1")
    np.testing.assert_allclose(compile_logp(m, mode="FAST_COMPILE")({"x": np.ones(6)}), stats.multivariate_normal(np.zeros(6), np.kron(U, V)).logpdf(np.ones(6)))
    with pytest.raises(ValueError, match="exactly one of covs, chols or evds"):
        sv.KroneckerNormal.dist(mu=np.zeros(6))
    with pytest.raises(ValueError, match=r"covs\[1\] must be a square matrix"):
        sv.KroneckerNormal.dist(mu=np.zeros(6), covs=[U, np.ones((2, 3))])
    with pytest.raises(ValueError, match="sigma"):
        sv.KroneckerNormal.dist(mu=np.zeros(6), covs=[U, V], sigma=-1.0)


# ---------------------------------------------------------------------- Wishart
WX = np.array([[3.0, 0.5, 0.2], [0.5, 2.0, -0.4], [0.2, -0.4, 1.5]])


def test_wishart_matches_scipy_and_pymc():
    rv = sv.Wishart.dist(nu=5, V=V)
    Xs = stats.wishart(5, V).rvs(4, random_state=1)
    np.testing.assert_allclose(logp_of(rv, Xs), stats.wishart(5, V).logpdf(Xs.transpose(1, 2, 0)), rtol=1e-10)
    # PyMC 5.28.5: pm.logp(pm.Wishart.dist(nu=5, V=V), WX).eval()
    np.testing.assert_allclose(logp_of(rv, WX), -9.290766840741018, rtol=1e-8)
    # nu just above p - 1 (= 2)
    np.testing.assert_allclose(logp_of(sv.Wishart.dist(nu=2.01, V=V), WX), stats.wishart(2.01, V).logpdf(WX), rtol=1e-10)


def test_wishart_support_edges():
    rv = sv.Wishart.dist(nu=4, V=np.eye(2))
    got = logp_of(rv, np.array([[[1.0, 2.0], [2.0, 1.0]], [[1.0, 0.5], [0.4, 1.0]], [[1.0, 0.5], [0.5, 1.0]]]))
    assert np.isneginf(got[:2]).all()  # not positive definite; not symmetric
    np.testing.assert_allclose(got[2], stats.wishart(4, np.eye(2)).logpdf(np.array([[1.0, 0.5], [0.5, 1.0]])))


def test_wishart_draws():
    d = draw(sv.Wishart.dist(nu=6.0, V=V, size=20000), 2)
    assert d.shape == (20000, 3, 3)
    np.testing.assert_allclose(d, np.swapaxes(d, -1, -2))
    np.testing.assert_allclose(d.mean(0), 6 * V, atol=0.1)
    var = 6 * (V**2 + np.outer(np.diag(V), np.diag(V)))
    np.testing.assert_allclose(d.var(0), var, rtol=0.08)


def test_wishart_cholesky_transform_jacobian():
    for n in (1, 2, 3):
        tr = transforms.CholeskyMatrix(n)
        y = np.random.default_rng(n).normal(size=n * (n + 1) // 2)
        yv = pt.dvector("y")
        f = compile_fn([yv], tr.backward(yv), mode="FAST_COMPILE")
        rows, cols = np.tril_indices(n)
        eps = 1e-6
        jac = np.stack([(f(y + eps * e) - f(y - eps * e))[rows, cols] / (2 * eps) for e in np.eye(y.size)], 1)
        np.testing.assert_allclose(np.linalg.slogdet(jac)[1], float(tr.log_jac_det(yv).eval({yv: y})), atol=1e-6)
        np.testing.assert_allclose(tr.forward(pt.as_tensor(f(y))).eval(), y, atol=1e-10)


def test_wishart_in_model_runs_unconstrained():
    with sv.Model() as m:
        X = sv.Wishart("X", nu=5, V=V)
    tr = m.rvs_to_transforms[X]
    assert isinstance(tr, transforms.CholeskyMatrix)
    point = m.initial_point()
    y = point["X_cholesky__"]
    x = tr.backward(pt.as_tensor(y)).eval()
    np.testing.assert_allclose(x, 5 * V)  # the mean
    want = stats.wishart(5, V).logpdf(x) + float(tr.log_jac_det(pt.as_tensor(y)).eval())
    np.testing.assert_allclose(compile_logp(m, mode="FAST_COMPILE")(point), want, rtol=1e-10)
    # a symbolic V of unknown size cannot be transformed: a clear error
    with sv.Model():
        with pytest.raises(ValueError, match="V's size"):
            sv.Wishart("Y", nu=5, V=pt.dmatrix("V"))


def test_wishart_errors():
    with pytest.raises(ValueError, match="square"):
        sv.Wishart.dist(nu=5, V=np.ones((2, 3)))
    with pytest.raises(ValueError, match="positive definite"):
        sv.Wishart.dist(nu=5, V=np.array([[1.0, 2.0], [2.0, 1.0]]))
    with sv.Model():
        with pytest.raises(ValueError, match="'W'.*nu > p - 1"):
            sv.Wishart("W", nu=1.5, V=np.eye(3))


@pytest.mark.slow
def test_wishart_latent_vi_matches_conjugate_posterior():
    """A Wishart prior on a normal's precision is conjugate: the posterior is
    Wishart(nu + N, (V^-1 + S)^-1).  FullRankADVI through the Cholesky transform recovers its
    mean (measured: within 0.006 of every entry; posterior sds 0.09-0.16).  ~30-70 s."""
    rng = np.random.default_rng(0)
    P = np.array([[2.0, 0.6], [0.6, 1.0]])
    data = rng.multivariate_normal(np.zeros(2), np.linalg.inv(P), size=300)
    nu, V0 = 4.0, np.eye(2)
    with sv.Model():
        X = sv.Wishart("X", nu=nu, V=V0)
        sv.MvNormal("y", mu=np.zeros(2), tau=X, observed=data)
        approx = sv.fit(3000, method="fullrank_advi", random_seed=1, progressbar=False)
    post = approx.sample(1000, random_seed=2).posterior["X"].values.reshape(-1, 2, 2)
    exact = (nu + 300) * np.linalg.inv(np.linalg.inv(V0) + data.T @ data)
    np.testing.assert_allclose(post.mean(0), exact, atol=0.04)


def test_wishart_with_symbolic_scale_matrix():
    # found by the fuzz test: the square check on a symbolic V used `==` on shape entries
    V = pt.dmatrix("V")
    X = np.array([[2.0, 0.3], [0.3, 1.0]])
    f = compile_fn([V], dist_info(sv.Wishart.dist(nu=4.0, V=V)).logp(X), mode="FAST_COMPILE")
    V0 = np.array([[1.0, 0.2], [0.2, 0.5]])
    np.testing.assert_allclose(f(V0), stats.wishart(4.0, V0).logpdf(X), rtol=1e-10)
    assert f(-V0) == -np.inf  # not positive definite


def test_wishart_batch_one_scale_broadcasts_against_longer_nu():
    # same pattern as the fuzz finding in MvStudentT/DirichletMultinomial: nu of length 2 with
    # V of batch length 1 failed to draw
    rv = sv.Wishart.dist(nu=np.array([3.0, 6.0]), V=np.eye(2)[None])
    d = sv.draw(rv, random_seed=1)
    assert d.shape == (2, 2, 2) and np.all(np.linalg.eigvalsh(d) > 0)
