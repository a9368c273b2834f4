"""notebooks/bayesian_regression_meanfield_vs_fullrank.ipynb: ADVI and FullRankADVI against the exact posterior.

The exact posterior (conjugate Gaussian coefficients given sigma, sigma on a fine 1-D grid)
is computed in the notebook; the fits must match its means, and FullRank its spreads and
correlations, while MeanField must show the known shrunken spreads and zero correlations.
"""

import pytest
from nbrun import run_notebook

PARAMS = ["a", "bA", "bR", "bAR", "sigma"]
COEFS = ["a", "bA", "bR", "bAR"]


@pytest.fixture(scope="module")
def results():
    return run_notebook("bayesian_regression_meanfield_vs_fullrank")


def test_exact_posterior_recovers_the_simulation(results):
    for p in PARAMS:
        z = (results["exact_mean"][p] - results["true_params"][p]) / results["exact_sd"][p]
        assert abs(z) < 3.5, (p, z)
    assert 0.03 < results["exact_sd"]["sigma"] < 0.08


def test_both_fits_get_the_means(results):
    assert results["mf_max_abs_mean_err_sd"] < 0.2
    assert results["fr_max_abs_mean_err_sd"] < 0.2


def test_fullrank_matches_the_exact_spreads(results):
    for p in PARAMS:
        assert 0.85 < results["fr_sd_ratio"][p] < 1.15, (p, results["fr_sd_ratio"][p])


def test_meanfield_underestimates_correlated_spreads(results):
    for p in COEFS:
        assert 0.4 < results["mf_sd_ratio"][p] < 0.8, (p, results["mf_sd_ratio"][p])
    assert 0.85 < results["mf_sd_ratio"]["sigma"] < 1.15


def test_correlations(results):
    c = results["corr_bR_bAR"]
    assert c["exact"] < -0.4
    assert abs(c["FullRank"] - c["exact"]) < 0.1
    assert abs(c["MeanField"]) < 0.1
    for key in ("corr_a_bR", "corr_a_bA"):
        c = results[key]
        assert abs(c["exact"]) > 0.4 and abs(c["FullRank"] - c["exact"]) < 0.1 and abs(c["MeanField"]) < 0.1, (key, c)


def test_posterior_predictive_bands(results):
    assert all(0.85 < r < 1.15 for r in results["line_band_width_ratio_fr"]), results["line_band_width_ratio_fr"]
    assert max(abs(r - 1) for r in results["line_band_width_ratio_mf"]) > 0.2, results["line_band_width_ratio_mf"]
    assert 0.8 < results["fr_predictive_coverage_90"] < 0.97
