"""notebooks/poisson_gamma_digits.ipynb: ADVI on a conjugate Poisson-Gamma model.

The reference is the exact posterior Gamma(a + sum x, b + m) per pixel (scipy.stats), and
the best log-normal approximation to it: for a Gaussian on log(theta) the ELBO optimum has
mean exactly alpha / beta and log-scale sd 1 / sqrt(alpha).
"""

import numpy as np
import pytest
import scipy.stats
from nbrun import run_notebook


@pytest.fixture(scope="module")
def results():
    r = run_notebook("poisson_gamma_digits")
    return {k: np.asarray(v) if isinstance(v, list) else v for k, v in r.items()}


@pytest.fixture(scope="module")
def exact(results):
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.images[digits.target == 0].reshape(-1, 64)
    assert results["n_images"] == X.shape[0] == 178
    alpha = results["prior_a"] + X.sum(0)
    beta = results["prior_b"] + X.shape[0]
    return alpha, scipy.stats.gamma(alpha, scale=1 / beta), X


def test_prior_from_domain_knowledge(results, exact):
    a, b = results["prior_a"], results["prior_b"]
    assert a.shape == (64,) and np.all(a > 0) and b == 2.0
    # the sketch (prior mean a / b) looks like a zero: it correlates with the data mean
    assert np.corrcoef(a / b, exact[2].mean(0))[0, 1] > 0.7


def test_advi_means_match_exact_posterior(results, exact):
    alpha, post, _ = exact
    rel = np.abs(results["advi_mean"] / post.mean() - 1)
    # blank pixels (alpha ~ 1) are the hardest; the un-averaged last iterate is off by 15-25 %
    assert rel.max() < 0.08
    assert np.median(rel) < 0.005
    assert results["max_rel_err_mean"] == pytest.approx(rel.max())


def test_advi_sds_match_best_lognormal(results, exact):
    alpha, post, _ = exact
    best_log_sd = 1 / np.sqrt(alpha)
    best_sd = post.mean() * np.sqrt(np.expm1(best_log_sd**2))
    assert np.abs(results["advi_log_sd"] / best_log_sd - 1).max() < 0.1
    assert np.abs(results["advi_sd"] / best_sd - 1).max() < 0.15
    # well-observed pixels: the log-normal is essentially the exact Gamma posterior
    big = alpha > 100
    assert big.sum() > 20
    assert np.abs(results["advi_sd"][big] / post.std()[big] - 1).max() < 0.08
    ratio = np.median(results["advi_sd"] / post.std())
    assert results["sd_ratio_median"] == pytest.approx(ratio)
    assert ratio == pytest.approx(np.median(best_sd / post.std()), abs=0.03)
    assert results["best_sd_ratio_median"] == pytest.approx(np.median(best_sd / post.std()))


def test_synthetic_images(results):
    assert results["synthetic_shape"].tolist() == [16, 8, 8]
    assert results["synthetic_min"] >= 0 and results["synthetic_dtype_kind"] == "i"
