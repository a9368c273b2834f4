"""notebooks/variational_api_quickstart.ipynb: run it (fast settings) and check its numbers.

Reference values are exact: the gamma model's posterior by numerical integration (recomputed
here on a different grid), the normal mixture's probabilities and moments in closed form.
"""

import numpy as np
import pytest
from nbrun import run_notebook
from scipy import special, stats

W = np.array([0.2, 0.8])
MU = np.array([-0.3, 0.5])
SD = np.array([0.1, 0.1])


@pytest.fixture(scope="module")
def results():
    return run_notebook("variational_api_quickstart")


def exact_gamma_posterior():
    """Posterior moments of (alpha, beta) for the notebook's data, on a grid of its own."""
    data = np.random.default_rng(42).gamma(2.0, 0.5, size=200)
    n, s_log, s = len(data), np.log(data).sum(), data.sum()
    a = np.linspace(0.8, 4.0, 900)
    b = np.linspace(0.8, 5.0, 900)
    A, B = np.meshgrid(a, b, indexing="ij")
    lp = n * (A * np.log(B) - special.gammaln(A)) + (A - 1) * s_log - B * s - 0.1 * (A + B)
    wts = np.exp(lp - lp.max())
    wts /= wts.sum()
    assert wts[[0, -1], :].sum() + wts[:, [0, -1]].sum() < 1e-8
    out = {}
    for name, G in (("alpha", A), ("beta", B)):
        m = (wts * G).sum()
        out[name] = (m, np.sqrt((wts * (G - m) ** 2).sum()))
    corr = (wts * (A - out["alpha"][0]) * (B - out["beta"][0])).sum() / (out["alpha"][1] * out["beta"][1])
    return out, corr


def test_variational_api_quickstart(results):
    r = results

    # --- gamma model: ADVI against the exact posterior -------------------------------------
    exact, corr = exact_gamma_posterior()
    assert r["gamma_exact_corr"] == pytest.approx(corr, abs=1e-3)
    for name in ("alpha", "beta"):
        m, s = exact[name]
        assert r[f"gamma_exact_{name}_mean"] == pytest.approx(m, abs=1e-3)
        assert r[f"gamma_exact_{name}_sd"] == pytest.approx(s, rel=1e-2)
        # the mean-field means land on the exact ones (a quarter of a posterior sd)
        assert abs(r[f"gamma_advi_{name}_mean"] - m) < 0.25 * s
        # mean-field spread ~ the conditional sd s*sqrt(1-rho^2), well below the marginal sd
        cond = s * np.sqrt(1 - corr**2)
        assert 0.75 * cond < r[f"gamma_advi_{name}_sd"] < 1.35 * cond
        assert r[f"gamma_advi_{name}_sd"] < 0.7 * s
        # NUTS (pm.sample(), as the seed calls it): the exact marginals within Monte Carlo error
        assert abs(r[f"gamma_nuts_{name}_mean"] - m) < 4 * s / np.sqrt(r["gamma_nuts_ess"])
        assert r[f"gamma_nuts_{name}_sd"] == pytest.approx(s, rel=0.15)
    assert r["gamma_nuts_divergences"] == 0
    assert np.isfinite(r["gamma_final_loss"])
    # the mixture's pm.sample(5000) kept its Deterministics; its draws avoid the valley between
    # the modes (exact mass there 0.0013) and the heavier mode sits at 0.5 (chains may not cross)
    assert r["mix_nuts_x2_matches"]
    assert r["mix_nuts_valley_mass"] < 0.01
    assert abs(r["mix_nuts_high_mode_mean"] - 0.5) < 0.02

    # --- mixture: ADVI cannot be bimodal; SVGD finds both modes ----------------------------
    valley = float(sum(wk * (stats.norm.cdf(0.2, m, s) - stats.norm.cdf(0.0, m, s)) for wk, m, s in zip(W, MU, SD)))
    assert r["mix_exact_valley_mass"] == pytest.approx(valley, rel=1e-9)
    assert r["mix_advi_valley_mass"] > 10 * valley  # the single Gaussian puts mass between the modes
    assert r["converge_steps_absolute"] < 10000  # the absolute criterion stopped the fit early
    assert r["converge_steps_relative"] <= 10000
    assert r["tracker_len"] == r["advi_hist_len"] == 4000  # fit(2000) + refine(2000), one entry per step

    assert r["svgd_valley_mass"] < 0.01
    assert r["svgd_mode_means"] == pytest.approx(list(MU), abs=0.02)
    assert r["svgd_mode_sds"] == pytest.approx(list(SD), abs=0.015)
    assert r["svgd_mass_low"] + r["svgd_mass_high"] == pytest.approx(1.0)
    # Both modes are populated and the heavier one stays heavier; the split itself is set mostly
    # by the initial jitter (particles do not cross the valley), so it is only roughly 0.2/0.8.
    assert 0.1 < r["svgd_mass_low"] < 0.45

    # --- sample_node: Monte Carlo moments of x**2 ------------------------------------------
    m2 = float(np.sum(W * (MU**2 + SD**2)))
    m4 = float(np.sum(W * (MU**4 + 6 * MU**2 * SD**2 + 3 * SD**4)))
    assert r["x2_exact_mean"] == pytest.approx(m2)
    assert r["x2_exact_var"] == pytest.approx(m4 - m2**2)
    assert r["sample_node_fresh_draws"]
    assert r["symbolic_size_shapes"] == [[100], [10000]]
    se = np.sqrt(r["x2_svgd_weights_var"] / r["x2_node_draws"])
    # exact moments under the mode weights SVGD found: only Monte Carlo error remains
    assert abs(r["x2_node_mean"] - r["x2_svgd_weights_mean"]) < 5 * se
    assert r["x2_node_var"] == pytest.approx(r["x2_svgd_weights_var"], rel=0.15)
    assert abs(r["x2_node_mean"] - r["x2_particles_mean"]) < 5 * se
    # against the true mixture: off only by the weight error above
    assert abs(r["x2_node_mean"] - m2) < 0.04
    assert r["x2_node_var"] == pytest.approx(m4 - m2**2, rel=0.25)

    # --- diagnose(): the mixture blob is flagged by the coverage check, not by k-hat ---------
    exact_mean = float(np.dot(W, MU))
    assert r["mix_advi_khat"] < 0.7
    assert r["mix_advi_reading"] == "inaccurate"  # an off mean, not missed mass
    assert r["mix_advi_mean_shift"] > 0.3
    assert abs(r["mix_is_mean"] - exact_mean) < 0.08

    # --- iris: SVGD + adamax classifies like maximum likelihood ----------------------------
    assert r["iris_tracker_len"] == 200
    assert r["iris_test_acc"] > 0.85
    assert r["iris_test_acc"] > r["iris_reference_test_acc"] - 0.1
    assert r["iris_train_acc"] > 0.85

    # --- minibatch: column means/sds of the 40000 x 100 table ------------------------------
    assert r["full_data_steps"] == 10
    assert r["mb_mu_max_err_over_col_sd"] < 0.15
    assert r["mb_sd_max_rel_err"] < 0.1
    # total_size scaling: q's sd of mu is of the order of s/sqrt(N) (unscaled it would be ~9x)
    assert 0.5 < r["mb_mu_q_sd_ratio_median"] < 4
    assert r["mb_loss_last"] < 0.5 * r["mb_loss_first"]
