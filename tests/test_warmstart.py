"""Default fits start from a Pathfinder Gaussian and step in its scales (symvi.variational.warmstart).

The badly scaled model is kidiq's shape: a regression on an unscaled predictor (values near
100), whose posterior is a ridge with correlation near -1 and sds 100x apart.  With known
noise sd and Normal priors the posterior is exactly Gaussian (conjugate), so both ADVI
families can match it: FullRank exactly, MeanField with the exact means and sds
``1 / sqrt(diag(precision))``.  From the initial point with unit scales, the default fit
stalled about 4 posterior sds away on kidiq.
"""

import numpy as np
import pytest

import symvi as pm
from symvi.variational import warmstart

RNG = np.random.default_rng(11)
X = RNG.uniform(80, 130, size=80)
SIGMA = 18.0
Y = 26.0 + 0.6 * X + RNG.normal(0, SIGMA, size=80)
DESIGN = np.c_[np.ones_like(X), X]
PRECISION = DESIGN.T @ DESIGN / SIGMA**2 + np.eye(2) / 100.0**2
COV = np.linalg.inv(PRECISION)
MEAN = COV @ DESIGN.T @ Y / SIGMA**2
SD = np.sqrt(np.diag(COV))


def _ridge():
    with pm.Model() as m:
        beta = pm.Normal("beta", 0.0, 100.0, shape=2)
        pm.Normal("y", beta[0] + beta[1] * X, SIGMA, observed=Y)
    return m


def test_the_posterior_is_a_badly_scaled_ridge():
    corr = COV[0, 1] / (SD[0] * SD[1])
    assert corr < -0.98 and SD[0] / SD[1] > 50


def test_fullrank_defaults_recover_a_badly_scaled_posterior():
    with _ridge():
        inference = pm.FullRankADVI(random_seed=1)
        approx = inference.fit(None, progressbar=False)
    assert inference.warm_start is not None and inference.converged
    err = np.abs(approx.mean.eval() - MEAN) / SD
    assert np.all(err < 0.1), err
    np.testing.assert_allclose(approx.std.eval(), SD, rtol=0.1)
    cov = approx.cov.eval()
    assert cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]) == pytest.approx(COV[0, 1] / (SD[0] * SD[1]), abs=0.01)


def test_meanfield_defaults_recover_the_means_of_a_badly_scaled_posterior():
    with _ridge():
        inference = pm.ADVI(random_seed=1)
        approx = inference.fit(None, progressbar=False)
    assert inference.warm_start is not None
    err = np.abs(approx.mean.eval() - MEAN) / SD
    assert np.all(err < 0.2), err
    np.testing.assert_allclose(approx.std.eval(), 1 / np.sqrt(np.diag(PRECISION)), rtol=0.15)


def test_warm_start_puts_q_at_the_gaussian_and_scales_the_steps():
    """On a Gaussian target the Pathfinder Gaussian is exact: FullRank starts at the exact
    mean and covariance; MeanField at the exact mean with the reverse-KL sds; the step
    scales are the marginal sds (FullRank's rows of L by the row's sd)."""
    cov = np.array([[4.0, 1.9], [1.9, 1.0]])
    with pm.Model():
        pm.MvNormal("x", mu=np.array([3.0, -1.0]), cov=cov)
        full = pm.FullRankADVI(random_seed=0)
        mean_field = pm.ADVI(random_seed=0)
    for inference in (full, mean_field):
        assert warmstart.applies(inference)
        assert warmstart.warm_start(inference) is not None
        np.testing.assert_allclose(inference.approx.mean.eval(), [3.0, -1.0], atol=1e-4)
    np.testing.assert_allclose(full.approx.cov.eval(), cov, atol=1e-3)
    np.testing.assert_allclose(mean_field.approx.std.eval(), 1 / np.sqrt(np.diag(np.linalg.inv(cov))), rtol=1e-3)
    full.step_function()  # builds the default optimizer's update, which takes the scales
    scales = {k: v.get_value() for k, v in full._adaptive.scales.items()}
    np.testing.assert_allclose(scales["mu"], [2.0, 1.0], rtol=1e-3)
    np.testing.assert_allclose(scales["L_tril"], [2.0, 1.0, 1.0], rtol=1e-3)  # rows 0, 1, 1


def test_no_warm_start_with_a_start_or_an_explicit_optimizer():
    with _ridge():
        given = pm.ADVI(random_seed=1, start={"beta": np.zeros(2)})
        sigma = pm.FullRankADVI(random_seed=1, start_sigma={"beta": 1.0})
        plain = pm.ADVI(random_seed=1)
        plain.fit(5, obj_optimizer=pm.adam(learning_rate=0.01), progressbar=False)
    assert not warmstart.applies(given) and not warmstart.applies(sigma)
    assert plain.warm_start is None and plain._adaptive is None


def test_no_warm_start_on_big_data():
    with pm.Model():  # the full 40 000 x 100 data set of the quickstart notebook: too big
        pm.Normal("x", pm.Normal("m", 0, 1, shape=100), 1.0, observed=np.zeros((40_000, 100)))
        big = pm.ADVI(random_seed=1)
    assert not warmstart.applies(big)
    with _ridge():
        assert warmstart.applies(pm.ADVI(random_seed=1))


def _minibatch_model(rows=40_000, cols=20):
    r = np.random.default_rng(0)
    data = r.normal(3.0, 2.0, size=(rows, cols))
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10, shape=cols)
        sd = pm.HalfNormal("sd", 5, shape=cols)
        pm.Normal("obs", mu, sd, observed=pm.Minibatch(data, batch_size=100, random_seed=1), total_size=data.shape)
    return m, data


def test_minibatch_models_warm_start_on_a_fixed_subsample_of_rows():
    """A minibatch fit starts from Pathfinder on fixed rows scaled to total_size: q's sds are
    then of the posterior's size (here 2 / sqrt(40 000) = 0.01 for mu; the L-BFGS curvature
    estimate gives ~0.006) instead of the initial ~0.7."""
    m, data = _minibatch_model()
    with m:
        inference = pm.ADVI(random_seed=1)
    assert warmstart.applies(inference)
    (sub,) = warmstart.subsample_replacements(m).values()
    rows = sub.eval()
    assert rows.shape == (warmstart.SUBSAMPLE_ELEMENTS // 20, 20)
    assert all(any(np.array_equal(r, d) for d in data) for r in rows[:3])  # rows of the data
    path = warmstart.warm_start(inference)
    assert path is not None
    sd = inference.approx.std.eval()
    exact = data.std(0) / np.sqrt(len(data))
    assert np.all((sd[:20] > exact / 3) & (sd[:20] < 3 * exact))  # mu's sds: the posterior's order
    sub_se = data.std(0) / np.sqrt(len(rows))  # the centre: the subsample's, within its error
    assert np.all(np.abs(inference.approx.mean.eval()[:20] - data.mean(0)) < 4 * sub_se)


def test_streams_and_other_randomness_are_not_warm_started():
    data = np.random.default_rng(0).normal(size=(500, 2))
    with pm.Model():
        mu = pm.Normal("mu", 0, 10, shape=2)
        noise = pm.Normal.dist(0, 1, size=2)  # a random input that is not a minibatch
        pm.Normal("obs", mu + 0 * noise, 1, observed=pm.Minibatch(data, batch_size=50, random_seed=1), total_size=data.shape)
        inference = pm.ADVI(random_seed=1)
    assert not warmstart.applies(inference)


def test_the_path_compares_fewer_gaussians_on_large_data():
    """The ELBO estimates along the path cost log-density evaluations of the whole data set:
    on 2000 x 100 data at most ELBO_BUDGET / data elements of them (was 10 per iterate)."""
    data = np.random.default_rng(0).normal(size=(2000, 100))
    with pm.Model():
        mu = pm.Normal("mu", 0, 10, shape=100)
        pm.Normal("obs", mu, 1.0, observed=data)
        inference = pm.ADVI(random_seed=1)
    path = warmstart.warm_start(inference)
    cap = max(8, warmstart.ELBO_BUDGET // (10 * data.size))
    assert path.n_logp_evals <= 10 * cap
    assert np.allclose(inference.approx.mean.eval(), data.mean(0), atol=0.05)
