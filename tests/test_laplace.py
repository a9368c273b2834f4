"""The Laplace approximation: exact answers on Gaussian posteriors, clear errors elsewhere.

C backend throughout (small graphs: its compiles take seconds where cold Numba ones take tens).
"""

import numpy as np
import pytest

import symvi as pm

RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, 3)) @ np.array([[1.0, 0.9, 0.0], [0.0, 0.4, 0.5], [0.0, 0.0, 1.0]])  # correlated columns
Y = X @ np.array([1.0, -0.5, 2.0]) + RNG.normal(0, 0.7, size=8)
M0 = np.array([0.5, 0.0, -1.0])
S0 = np.array([[4.0, 1.0, 0.3], [1.0, 2.0, -0.4], [0.3, -0.4, 1.0]])
SIGMA = 0.7


def _posterior():
    """Exact posterior of beta ~ N(M0, S0), y ~ N(X beta, SIGMA^2): correlated, 3 parameters."""
    prec = np.linalg.inv(S0) + X.T @ X / SIGMA**2
    cov = np.linalg.inv(prec)
    return cov @ (np.linalg.solve(S0, M0) + X.T @ Y / SIGMA**2), cov


@pytest.fixture(scope="module")
def conjugate():
    with pm.Model() as m:
        beta = pm.MvNormal("beta", mu=M0, cov=S0)
        pm.Normal("y", pm.math.dot(X, beta), SIGMA, observed=Y)
    return m


@pytest.mark.parametrize("hessian", ["exact", "fd"])
def test_exact_on_a_conjugate_normal_posterior(conjugate, hessian):
    mean, cov = _posterior()
    assert abs(cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1])) > 0.5  # the parameters are correlated
    with conjugate:
        q = pm.fit(method="laplace", inf_kwargs={"hessian": hessian, "start": {"beta": np.array([5.0, 5.0, 5.0])}}, progressbar=False, backend="c")
    assert isinstance(q, pm.FullRank)
    np.testing.assert_allclose(q.mean.eval(), mean, atol=1e-6)
    np.testing.assert_allclose(q.cov.eval(), cov, atol=1e-6)
    info = q.laplace
    assert info.hessian == hessian and info.converged and info.grad_norm < 1e-6 and info.n_grad_evals > 1


def test_mode_and_curvature_on_the_unconstrained_space():
    # lam ~ Gamma(2, 1), y ~ Poisson(lam): posterior Gamma(A, B); on u = log(lam) the density
    # (Jacobian included) is exp(A u - B e^u): mode log(A / B), curvature A
    y = np.array([3, 5, 1])
    A, B = 2.0 + y.sum(), 1.0 + len(y)
    with pm.Model():
        lam = pm.Gamma("lam", alpha=2.0, beta=1.0)
        pm.Poisson("y", lam, observed=y)
        q = pm.fit_laplace(progressbar=False, backend="c")
    np.testing.assert_allclose(q.mean.eval(), [np.log(A / B)], atol=1e-7)
    np.testing.assert_allclose(q.std.eval(), [1 / np.sqrt(A)], atol=1e-7)


def test_sample_diagnose_sample_node_and_checkpoint(conjugate, tmp_path):
    mean, cov = _posterior()
    with conjugate:
        q = pm.LaplaceApproximation(random_seed=0).fit(progressbar=False, backend="c")
    draws = q.sample(4000, random_seed=1, return_inferencedata=False)["beta"]
    assert np.all(np.abs(draws.mean(0) - mean) < 4 * np.sqrt(np.diag(cov) / 4000))
    d = q.diagnose(random_seed=0)
    assert d.reading == "good" and d.khat < 0.5  # the posterior is this Gaussian
    s = q.sample_node(conjugate["beta"].sum(), size=4000).eval()
    assert abs(s.mean() - mean.sum()) < 4 * np.sqrt(cov.sum() / 4000)
    again = pm.load(q.save(tmp_path / "laplace"), conjugate)
    np.testing.assert_array_equal(again.cov.eval(), q.cov.eval())


def test_not_positive_definite_hessian_names_the_variable():
    with pm.Model():
        pm.Flat("b")  # nothing pins b down: the Hessian is zero along it
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("y", s, 1.0, observed=np.ones(3))
        with pytest.raises(np.linalg.LinAlgError, match=r"not positive definite .*along b\b"):
            pm.fit(method="laplace", progressbar=False, backend="c")


def test_bad_arguments():
    with pm.Model():
        pm.Normal("x", 0.0, 1.0)
        with pytest.raises(ValueError, match="hessian"):
            pm.LaplaceApproximation(hessian="bfgs")
        with pytest.raises(TypeError, match="obj_optimizer"):
            pm.fit(method="laplace", obj_optimizer=pm.adam(), progressbar=False, backend="c")


def test_pm_laplace_is_still_the_distribution():
    # the approximation must not shadow PyMC's Laplace distribution
    assert issubclass(pm.Laplace, pm.Distribution) and pm.Laplace.dist(0.0, 1.0) is not None
