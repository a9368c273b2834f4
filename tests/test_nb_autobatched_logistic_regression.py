"""notebooks/autobatched_logistic_regression.ipynb: batched log density and two mean-field fits.

The references are computed here, independently of the notebook: the log joint with
scipy.stats, and the exact mean-field optimum from a Gauss-Hermite ELBO maximised with
numerical gradients.
"""

import numpy as np
import pytest
import scipy.optimize
import scipy.special
import scipy.stats
from nbrun import run_notebook

PRIOR_SD = 10.0


@pytest.fixture(scope="module")
def results():
    r = run_notebook("autobatched_logistic_regression")
    return {k: np.asarray(v) if isinstance(v, list) else v for k, v in r.items()}


def scipy_log_joint(b, X, y):
    p = scipy.special.expit(X @ b)
    return scipy.stats.norm.logpdf(b, 0, PRIOR_SD).sum() + scipy.stats.bernoulli.logpmf(y, p).sum()


@pytest.fixture(scope="module")
def mean_field_optimum(results):
    X, y = results["X"], results["y"]
    d = X.shape[1]
    nodes, weights = np.polynomial.hermite.hermgauss(80)  # physicists' form: E f(Z) = sum w f(sqrt2 x) / sqrt(pi)
    sign = 2 * y - 1

    def neg_elbo(params):
        m, s = params[:d], np.exp(params[d:])
        centre, spread = X @ m, np.sqrt((X**2) @ s**2)
        t = centre[:, None] + np.sqrt(2) * spread[:, None] * nodes
        lik = (scipy.special.log_expit(sign[:, None] * t) @ weights).sum() / np.sqrt(np.pi)
        prior = scipy.stats.norm.logpdf(m, 0, PRIOR_SD).sum() - np.sum(s**2) / (2 * PRIOR_SD**2)
        entropy = scipy.stats.norm(0, s).entropy().sum()
        return -(lik + prior + entropy)

    res = scipy.optimize.minimize(neg_elbo, np.zeros(2 * d), method="BFGS", options=dict(gtol=1e-6))
    # finite-difference gradients end in "precision loss"; check stationarity directly instead
    grad = scipy.optimize.approx_fprime(res.x, neg_elbo, 1e-7)
    assert np.abs(grad).max() < 1e-3, grad
    return res.x[:d], np.exp(res.x[d:]), -res.fun


def test_batched_logp_matches_loop_and_scipy(results):
    assert results["batched_shape"].tolist() == [16]
    assert results["max_abs_batched_minus_looped"] < 1e-9
    assert results["max_abs_batched_minus_scipy"] < 1e-9
    expected = [scipy_log_joint(b, results["X"], results["y"]) for b in results["test_betas"]]
    np.testing.assert_allclose(results["batched_logp"], expected, rtol=1e-10, atol=1e-9)


def test_notebook_mean_field_optimum_is_exact(results, mean_field_optimum):
    mean, sd, elbo = mean_field_optimum
    np.testing.assert_allclose(results["mf_opt_mean"], mean, atol=2e-4)
    np.testing.assert_allclose(results["mf_opt_sd"], sd, rtol=2e-4)
    assert results["mf_opt_elbo"] == pytest.approx(elbo, abs=1e-5)


def test_advi_reaches_the_mean_field_optimum(results, mean_field_optimum):
    mean, sd, elbo = mean_field_optimum
    # posterior sds are 0.3-0.5, so 0.05 is a small fraction of one; the un-averaged last iterate misses it
    assert np.abs(results["advi_mean"] - mean).max() < 0.05
    assert np.abs(results["advi_sd"] / sd - 1).max() < 0.06
    assert results["advi_final_loss"] == pytest.approx(-elbo, abs=0.5)


def test_hand_written_sgd_reaches_the_mean_field_optimum(results, mean_field_optimum):
    mean, sd, elbo = mean_field_optimum
    assert np.abs(results["sgd_mean"] - mean).max() < 0.05
    assert np.abs(results["sgd_sd"] / sd - 1).max() < 0.06
    assert results["sgd_final_elbo"] == pytest.approx(elbo, abs=0.5)
    assert results["advi_vs_sgd_beta_err"] == pytest.approx(np.abs(results["advi_mean"] - results["sgd_mean"]).max())
    assert results["advi_vs_sgd_beta_err"] < 0.06


def test_exact_posterior_and_coverage(results, mean_field_optimum):
    mean, sd, _ = mean_field_optimum
    assert results["is_ess_fraction"] > 0.1
    post_mean, post_sd = results["posterior_mean"], results["posterior_sd"]
    # mean-field Gaussians are narrower than the exact posterior, and centred close to it
    assert np.all(post_sd > sd)
    assert np.all(np.abs(post_mean - mean) < 0.5 * post_sd)
    true_beta = results["true_beta"]
    for key, m, s in [
        ("coverage_advi", results["advi_mean"], results["advi_sd"]),
        ("coverage_sgd", results["sgd_mean"], results["sgd_sd"]),
        ("coverage_posterior", post_mean, post_sd),
    ]:
        assert results[key] == pytest.approx(np.mean(np.abs(true_beta - m) <= 2 * s))
    assert results["coverage_posterior"] >= results["coverage_advi"]
    assert results["coverage_posterior"] >= 0.8
