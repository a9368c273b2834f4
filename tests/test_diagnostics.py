"""PSIS diagnostics (``symvi.diagnose`` / ``approx.diagnose``) and ``sample(resample="psis")``.

Two models are fitted (one Numba compile each): a conjugate Normal-Normal model, where q can
be exact and the log evidence is known, and the seed NormalMixture.  Everything else builds
the approximation by hand (``start``/``start_sigma``) and evaluates with the Python linker.
"""

import contextlib
import io

import numpy as np
import pytest
from scipy import stats

import symvi as pm
from symvi.variational.diagnostics import Diagnostics, diagnose, khat_reading

Y = np.array([0.9, 1.1, 2.0, 0.3, 1.4])
PRIOR_SD = 10.0
POST_SD = 1.0 / np.sqrt(1.0 / PRIOR_SD**2 + Y.size)
POST_MEAN = POST_SD**2 * Y.sum()
LOG_EVIDENCE = stats.multivariate_normal(np.zeros(Y.size), np.eye(Y.size) + PRIOR_SD**2).logpdf(Y)


def normal_normal():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        pm.Normal("y", mu, 1.0, observed=Y)
    return m


@pytest.fixture(scope="module")
def fitted_normal():
    """ADVI on the Normal-Normal model with ``diagnose=True``: (approx, printed text)."""
    out = io.StringIO()
    with normal_normal(), contextlib.redirect_stdout(out):
        approx = pm.fit(4000, random_seed=2, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02), obj_n_mc=4, diagnose=True)
    return approx, out.getvalue()


def correlated_meanfield(d=10, rho=0.8):
    """Mean field's reverse-KL optimum for an equicorrelated Gaussian: too narrow (sd = 1/sqrt(Lambda_ii))."""
    S = np.full((d, d), rho) + (1 - rho) * np.eye(d)
    with pm.Model():
        pm.MvNormal("x", mu=np.zeros(d), cov=S)
        sd = 1.0 / np.sqrt(np.diag(np.linalg.inv(S)))
        return pm.MeanField(start={"x": np.zeros(d)}, start_sigma={"x": sd})


# ---------------------------------------------------------------------- readings
def test_khat_reading_thresholds():
    assert [khat_reading(k) for k in (-np.inf, 0.0, 0.49, 0.5, 0.7, 0.71, 3.0, np.nan)] == [
        "good", "good", "good", "ok", "ok", "untrustworthy", "untrustworthy", "untrustworthy"
    ]


def test_normal_normal_advi_is_good(fitted_normal):
    approx, _ = fitted_normal
    d = approx.diagnose(draws=2000, random_seed=0)
    assert isinstance(d, Diagnostics)
    assert d.khat < 0.5 and d.reading == "good"
    assert d.ess > 0.8 * 2000
    assert d.log_weights.shape == (2000,)
    np.testing.assert_allclose(np.exp(d.log_weights).sum(), 1.0, rtol=1e-10)


def test_elbo_matches_log_evidence(fitted_normal):
    approx, _ = fitted_normal
    d = diagnose(approx, draws=4000, random_seed=1)
    # ELBO = log p(y) - KL(q || p): within a few MCSE below the evidence, plus a small KL slack
    assert LOG_EVIDENCE - 4 * d.elbo_mcse - 0.01 < d.elbo < LOG_EVIDENCE + 4 * d.elbo_mcse
    assert d.log_evidence == pytest.approx(LOG_EVIDENCE, abs=0.01)


def test_exact_q_gives_the_evidence_at_every_draw():
    with normal_normal():
        q = pm.MeanField(start={"mu": POST_MEAN}, start_sigma={"mu": POST_SD})
    d = q.diagnose(random_seed=0)
    assert d.elbo == pytest.approx(LOG_EVIDENCE, abs=1e-9)
    assert d.elbo_mcse < 1e-9
    assert d.khat == -np.inf and d.reading == "good"  # constant weights: nothing to fit a tail to
    assert d.ess == pytest.approx(1000.0)


def test_fit_prints_the_reading(fitted_normal):
    _, text = fitted_normal
    line = [s for s in text.splitlines() if s.startswith("PSIS k-hat = ")]
    assert len(line) == 1 and "(good)" in line[0] and "ELBO" in line[0]


def test_khat_flags_a_too_narrow_meanfield():
    q = correlated_meanfield()
    d = q.diagnose(random_seed=3)
    assert d.khat > 0.7 and d.reading == "untrustworthy"
    assert "untrustworthy" in str(d)


def _mixture_advi(**kwargs):
    with pm.Model():
        pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
        return pm.fit(10000, random_seed=1, progressbar=False, **kwargs)


def test_normal_mixture_advi_on_one_mode_is_flagged():
    """The seed NormalMixture under ADVI (adam): q locks onto the 0.8-weight mode.

    k-hat cannot flag the missed mode - q's draws never reach it (8 sd away) and where q has
    mass the ratios p/q are nearly constant - but the widened draws of the coverage check
    find it: about 20 % of the mass is missing and q's mean is ~0.5 posterior sd off
    (exact: mean 0.34, sd 0.33).  The model is normalised, so ``log_evidence`` from q alone
    is log 0.8.
    """
    approx = _mixture_advi(obj_optimizer=pm.adam(learning_rate=0.01))
    assert abs(float(approx.mean.eval()[0]) - 0.5) < 0.05
    exact_mean = 0.2 * -0.3 + 0.8 * 0.5
    exact_sd = np.sqrt(0.2 * (0.01 + 0.09) + 0.8 * (0.01 + 0.25) - exact_mean**2)
    for seed in range(3):
        d = approx.diagnose(draws=1000, random_seed=seed)
        assert d.khat < 0.7  # honest: the tail of p/q over q's draws is light
        assert d.reading == "untrustworthy"
        assert d.coverage.missing_mass == pytest.approx(0.2, abs=0.12)
        assert any("misses about" in p for p in d.problems)
        assert "misses about" in str(d)
        np.testing.assert_allclose(d.coverage.posterior_mean, exact_mean, atol=0.12)
        np.testing.assert_allclose(d.coverage.posterior_sd, exact_sd, atol=0.08)
    d = approx.diagnose(draws=4000, random_seed=0)
    assert d.log_evidence == pytest.approx(np.log(0.8), abs=0.05)
    assert d.elbo < d.log_evidence < 0.0


def test_normal_mixture_default_advi_blob_is_flagged():
    """With PyMC's default optimizer (the seed's) ADVI ends as one wide blob over both modes
    (mean ~0.16, sd ~0.4, average loss ~2.1, like PyMC's 2.2 in the seed).  Importance
    sampling from it works (k-hat < 0), but q's own mean is ~0.5 posterior sd off: the reading
    is "inaccurate" with that size, not the "untrustworthy" of missed mass."""
    approx = _mixture_advi(obj_optimizer=pm.adagrad_window())
    assert float(approx.std.eval()[0]) > 0.25
    d = approx.diagnose(random_seed=0)
    assert d.khat < 0.5
    assert d.reading == "inaccurate"
    assert any(p.startswith("inaccurate: q's mean is 0.") and "posterior sd off" in p for p in d.problems)
    assert d.coverage.mean_shift > 0.3 and abs(d.coverage.missing_mass) < 0.1
    assert d.coverage.posterior_mean[0] == pytest.approx(0.34, abs=0.06)


def test_coverage_quiet_when_q_is_the_posterior(fitted_normal):
    approx, _ = fitted_normal
    for seed in range(3):
        c = approx.diagnose(random_seed=seed).coverage
        assert c.conclusive and c.problems == []
        assert abs(c.missing_mass) < 0.05 and c.mean_shift < 0.3
        np.testing.assert_allclose(c.posterior_mean, POST_MEAN, atol=0.03 * POST_SD * 10)
        np.testing.assert_allclose(c.posterior_sd, POST_SD, rtol=0.1)


def test_coverage_inconclusive_in_high_dimension():
    """200 independent coordinates, q a bit too narrow: the weights of 2000 draws degenerate,
    so the coverage check reports itself inconclusive instead of raising alarms (k-hat speaks)."""
    with pm.Model():
        pm.Normal("x", 0.0, 1.0, shape=200)
        q = pm.MeanField(start={"x": np.zeros(200)}, start_sigma={"x": 0.8})
    d = q.diagnose(random_seed=0)
    assert not d.coverage.conclusive and d.coverage.problems == []
    assert d.khat > 0.7 and d.reading == "untrustworthy"


# ---------------------------------------------------------------------- reproducibility and state
def test_seeded_and_leaves_q_generator_alone():
    q = correlated_meanfield(d=3)
    before = q.rng.get_value().bit_generator.state
    a, b = q.diagnose(random_seed=5), q.diagnose(random_seed=5)
    np.testing.assert_array_equal(a.log_weights, b.log_weights)
    assert q.diagnose(random_seed=6).elbo != a.elbo
    q.diagnose()  # unseeded: fresh entropy, still without touching q's generator
    assert q.rng.get_value().bit_generator.state == before
    assert len(q._psis_cache) == 1  # one compiled function, reused


def test_diagnose_argument_errors():
    q = correlated_meanfield(d=2)
    with pytest.raises(ValueError, match="draws must be an integer >= 100"):
        q.diagnose(draws=10)
    with pytest.raises(ValueError, match="draws"):
        diagnose(q, draws=True)
    with pytest.raises(TypeError, match="needs an approximation"):
        diagnose(object())


def test_particles_have_no_density():
    with pm.Model():
        pm.Normal("x", 0, 1)
        svgd = pm.SVGD(n_particles=10, random_seed=0)
    with pytest.raises(TypeError, match="has none"):
        svgd.approx.diagnose()
    with pytest.raises(TypeError, match="has none"):
        svgd.fit(10, diagnose=True)  # refused before anything is compiled
    with pytest.raises(TypeError, match="has none"):
        svgd.approx.sample(10, resample="psis")


# ---------------------------------------------------------------------- importance resampling
def test_psis_resampling_corrects_a_shifted_wide_q():
    with normal_normal():
        q = pm.MeanField(start={"mu": POST_MEAN + 1.0 * POST_SD}, start_sigma={"mu": 1.5 * POST_SD})
    plain = q.sample(2000, random_seed=0, return_inferencedata=False)["mu"]
    fixed = q.sample(2000, random_seed=0, return_inferencedata=False, resample="psis")["mu"]
    assert fixed.shape == plain.shape == (2000,)
    assert abs(plain.mean() - POST_MEAN) > 0.8 * POST_SD
    assert abs(fixed.mean() - POST_MEAN) < 0.15 * POST_SD
    assert fixed.std() == pytest.approx(POST_SD, rel=0.1)


def test_psis_resampling_inferencedata_and_transforms():
    with pm.Model():
        s = pm.HalfNormal("s", 1.0)
        pm.Deterministic("s2", 2 * s)
        q = pm.MeanField(start={"s": 0.5}, start_sigma={"s": 1.0})
    idata = q.sample(500, random_seed=1, resample="psis")
    post = idata.posterior
    assert dict(post["s"].sizes) == {"chain": 1, "draw": 500}
    assert (post["s"].values > 0).all()
    np.testing.assert_allclose(post["s2"].values, 2 * post["s"].values)
    assert post.attrs["resample"] == "psis" and post.attrs["psis_khat"] < 0.7
    # HalfNormal(1): mean sqrt(2/pi)
    assert float(post["s"].mean()) == pytest.approx(np.sqrt(2 / np.pi), abs=0.1)


def test_psis_resampling_warns_when_untrustworthy():
    q = correlated_meanfield()
    with pytest.warns(UserWarning, match="k-hat"):
        q.sample(300, random_seed=3, resample="psis", return_inferencedata=False)


def test_resample_argument_errors():
    q = correlated_meanfield(d=2)
    with pytest.raises(ValueError, match="resample must be None or 'psis'"):
        q.sample(10, resample="sir")
    with pytest.raises(ValueError, match="positive integer"):
        q.sample(0, resample="psis")


# ---------------------------------------------------------------------- slow: real fits
@pytest.mark.slow
def test_advi_vs_fullrank_on_a_correlated_gaussian():
    d, rho = 10, 0.8
    S = np.full((d, d), rho) + (1 - rho) * np.eye(d)
    with pm.Model():
        pm.MvNormal("x", mu=np.zeros(d), cov=S)
        mf = pm.fit(10000, random_seed=0, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01), obj_n_mc=4)
        fr = pm.fit(20000, method="fullrank_advi", random_seed=0, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.005), obj_n_mc=4)
    assert mf.diagnose(2000, random_seed=0).reading == "untrustworthy"
    assert fr.diagnose(2000, random_seed=0).khat < 0.7
