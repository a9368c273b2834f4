"""``pm.sample_smc``: posterior and marginal likelihood against exact values (conjugate normal,
a bimodal target, a discrete variable), both kernels, InferenceData layout, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import symvi as pm

M0, S0, SIGMA = 0.5, 2.0, 1.0
Y = np.array([[0.3, 1.9], [-0.5, 2.4], [1.2, 1.6], [0.8, 2.2]])  # 4 observations of 2 means


def _exact():
    """Posterior mean / sd of each mean and the log evidence (each data column ~ MVN)."""
    n = Y.shape[0]
    prec = 1 / S0**2 + n / SIGMA**2
    mean = (M0 / S0**2 + Y.sum(axis=0) / SIGMA**2) / prec
    cov = SIGMA**2 * np.eye(n) + S0**2 * np.ones((n, n))
    log_ev = sum(stats.multivariate_normal(np.full(n, M0), cov).logpdf(Y[:, j]) for j in range(2))
    return mean, np.full(2, prec**-0.5), log_ev


@pytest.fixture(scope="module")
def conjugate():
    with pm.Model(coords={"k": ["a", "b"], "obs": range(4)}) as m:
        mu = pm.Normal("mu", M0, S0, dims="k")
        pm.Deterministic("twice", 2 * mu, dims="k")
        pm.Normal("y", mu, SIGMA, observed=Y, dims=("obs", "k"))
    return m


@pytest.fixture(scope="module")
def imh_idata(conjugate):
    return pm.sample_smc(1000, chains=2, random_seed=11, progressbar=False, model=conjugate)


def test_imh_matches_the_exact_posterior_and_evidence(imh_idata):
    mean, sd, log_ev = _exact()
    draws = imh_idata.posterior["mu"].values.reshape(-1, 2)
    # errors over 12 seeds: <= 0.06 sd (means), 5% (sds), 0.07 (log evidence)
    np.testing.assert_allclose(draws.mean(axis=0), mean, atol=0.15 * sd[0])
    np.testing.assert_allclose(draws.std(axis=0), sd, rtol=0.1)
    lml = imh_idata.sample_stats["log_marginal_likelihood"].values
    final = lml[:, -1]
    assert np.all(np.isnan(lml[:, :-1]))  # only the last stage carries it, as in PyMC
    np.testing.assert_allclose(final, log_ev, atol=0.15)
    np.testing.assert_allclose(imh_idata.posterior["twice"].values, 2 * imh_idata.posterior["mu"].values)


def test_mh_kernel_matches_the_exact_posterior(conjugate):
    mean, sd, log_ev = _exact()
    idata = pm.sample_smc(1000, kernel=pm.smc.MH, chains=1, random_seed=3, progressbar=False, model=conjugate)
    draws = idata.posterior["mu"].values.reshape(-1, 2)
    np.testing.assert_allclose(draws.mean(axis=0), mean, atol=0.2 * sd[0])
    np.testing.assert_allclose(draws.std(axis=0), sd, rtol=0.1)
    np.testing.assert_allclose(idata.sample_stats["log_marginal_likelihood"].values[0, -1], log_ev, atol=0.2)
    assert set(idata.sample_stats.data_vars) == {"log_marginal_likelihood", "beta", "mean_accept_rate", "mean_proposal_scale"}
    assert 0 < float(idata.sample_stats["mean_accept_rate"].mean()) < 1


def test_inference_data_layout(imh_idata, conjugate):
    post = imh_idata.posterior
    assert dict(post["mu"].sizes) == {"chain": 2, "draw": 1000, "k": 2}
    assert list(post["k"].values) == ["a", "b"]
    assert set(post.data_vars) == {"mu", "twice"}
    ss = imh_idata.sample_stats
    assert set(ss.data_vars) == {"log_marginal_likelihood", "beta", "accept_rate"}
    assert ss["beta"].dims == ("chain", "draw")
    beta = ss["beta"].values
    assert np.all(beta[:, -1] == 1.0)
    for row in beta:  # increasing; a chain with fewer stages is NaN-padded in front
        assert np.all(np.diff(row[~np.isnan(row)]) > 0)
    assert ss.attrs["_n_draws"] == 1000 and ss.attrs["threshold"] == 0.5 and ss.attrs["_n_tune"] >= 1
    assert imh_idata.observed_data["y"].shape == (4, 2)
    # return_inferencedata=False: PyMC's MultiTrace role, statistics in .report
    trace = pm.sample_smc(50, chains=2, random_seed=1, progressbar=False, model=conjugate, return_inferencedata=False,
                          compute_convergence_checks=False)
    assert trace.nchains == 2 and trace["mu"].shape == (100, 2) and len(trace) == 50
    assert len(trace.report.beta) == 2 and trace.report.beta[0][-1] == 1.0
    assert np.isfinite(trace.report.log_marginal_likelihood[1][-1])
    ll = pm.sample_smc(20, chains=1, random_seed=1, progressbar=False, model=conjugate, idata_kwargs={"log_likelihood": True})
    assert dict(ll.log_likelihood["y"].sizes) == {"chain": 1, "draw": 20, "obs": 4, "k": 2}


def test_seeded_runs_repeat(conjugate):
    kw = {"chains": 1, "random_seed": 5, "progressbar": False, "model": conjugate, "compute_convergence_checks": False}
    a, b = pm.sample_smc(100, **kw), pm.sample_smc(100, **kw)
    np.testing.assert_array_equal(a.posterior["mu"].values, b.posterior["mu"].values)


def test_bimodal_target_keeps_both_modes_weights():
    # prior N(0, 5) times a likelihood 0.3 N(x | -4, 0.5) + 0.7 N(x | 4, 0.5): by symmetry of
    # the prior the posterior modes keep weights 0.3 / 0.7
    w, loc, s = np.array([0.3, 0.7]), np.array([-4.0, 4.0]), 0.5
    with pm.Model():
        x = pm.Normal("x", 0.0, 5.0)
        comps = [np.log(wk) - 0.5 * ((x - lk) / s) ** 2 - np.log(s * np.sqrt(2 * np.pi)) for wk, lk in zip(w, loc)]
        pm.Potential("lik", pm.math.logaddexp(comps[0], comps[1]))
        idata = pm.sample_smc(1000, chains=2, random_seed=2, progressbar=False)
    x = idata.posterior["x"].values.ravel()
    assert abs(np.mean(x < 0) - 0.3) < 0.06
    np.testing.assert_allclose(np.mean(x[x > 0]), 4 * 25 / 25.25, atol=0.1)
    exact = np.log(np.sum(w * stats.norm(0, np.sqrt(25 + s**2)).pdf(loc)))
    np.testing.assert_allclose(idata.sample_stats["log_marginal_likelihood"].values[:, -1], exact, atol=0.2)


def test_discrete_variable_is_rounded_and_weighted_exactly():
    y = np.array([2.2, 2.9])
    with pm.Model():
        n = pm.DiscreteUniform("n", 0, 6)
        pm.Normal("y", n, 1.0, observed=y)
        idata = pm.sample_smc(1000, chains=1, random_seed=4, progressbar=False)
    draws = idata.posterior["n"].values.ravel()
    assert np.issubdtype(draws.dtype, np.integer)
    k = np.arange(7)
    p = np.exp(stats.norm(k[:, None], 1).logpdf(y).sum(axis=1))
    np.testing.assert_allclose(np.bincount(draws, minlength=7) / draws.size, p / p.sum(), atol=0.05)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"draws": 0}, "draws"),
        ({"draws": 1.5}, "draws"),
        ({"kernel": "IMH"}, "kernel"),
        ({"kernel": object}, "kernel"),
        ({"kernel": pm.smc.SMC_KERNEL}, "abstract"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": 1.0}, "threshold"),
        ({"correlation_threshold": -1}, "correlation_threshold"),
        ({"chains": 0}, "chains"),
        ({"resampling": "stratified"}, "resampling"),
    ],
)
def test_bad_arguments_name_the_argument(conjugate, kwargs, match):
    kw = {"draws": 10, "chains": 1, "progressbar": False, "model": conjugate}
    kw.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        pm.sample_smc(**kw)


def test_random_seed_list_must_match_chains(conjugate):
    with pytest.raises(ValueError, match="random_seed"):
        pm.sample_smc(10, chains=2, random_seed=[1, 2, 3], progressbar=False, model=conjugate)


def test_start_and_initval_set_the_initial_particles(conjugate):
    start = {"mu": np.full((40, 2), 1.0)}
    k = pm.smc.IMH(draws=40, model=conjugate)
    k.initialize(start, np.random.default_rng(0))
    np.testing.assert_array_equal(k.particles, 1.0)
    with pytest.raises(KeyError, match="'nu'"):
        k.initialize({"mu": np.ones((40, 2)), "nu": 1.0}, np.random.default_rng(0))
    with pm.Model():
        pm.HalfNormal("s", 1.0, initval=2.0)
        with pytest.warns(UserWarning, match="initval"):
            idata = pm.sample_smc(20, chains=1, random_seed=0, progressbar=False, compute_convergence_checks=False)
    assert idata.posterior["s"].shape == (1, 20)
    assert idata.sample_stats["log_marginal_likelihood"].values[0, -1] == 0.0  # no likelihood: evidence 1


def test_every_density_evaluation_is_one_call_over_all_particles(conjugate):
    k = pm.smc.IMH(draws=64, model=conjugate)
    shapes = []
    inner = k.density.fn

    def counting(particles):
        shapes.append(particles.shape)
        return inner(particles)

    k.density.fn = counting
    try:
        k.initialize(None, np.random.default_rng(1))
        steps = 0
        while k.beta < 1:
            k.update_beta_and_weights()
            k.step()
            steps += k.n_steps
    finally:
        k.density.fn = inner
    assert shapes == [(64, 2)] * (1 + steps)


def test_prior_particles_are_drawn_in_one_call_with_parents_per_particle():
    from symvi.smc.population import PriorDraws
    from symvi.variational.approximations import Layout

    with pm.Model() as m:
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("x", 2.0, s, shape=3)
        pm.Poisson("k", 3.0)
    draws = PriorDraws(m, Layout(m, m.initial_point()))
    assert draws.batched
    z = draws(4000, seed=0)  # columns: log s, x (3), k
    s_, x, k = np.exp(z[:, 0]), z[:, 1:4], z[:, 4]
    np.testing.assert_allclose(np.mean(np.log(s_)), -0.635, atol=0.05)  # E log|N(0, 1)|
    np.testing.assert_allclose(x.mean(), 2.0, atol=0.05)
    np.testing.assert_allclose(x.var(), 1.0, rtol=0.08)  # E s^2
    assert np.corrcoef(np.abs(x[:, 0] - 2), s_)[0, 1] > 0.4  # each particle's x follows its own s
    assert abs(np.corrcoef(x[:, 0], x[:, 1])[0, 1]) < 0.05
    np.testing.assert_allclose([k.mean(), k.var()], [3.0, 3.0], rtol=0.08)
    np.testing.assert_array_equal(draws(10, seed=1), draws(10, seed=1))


def test_interrupt_returns_the_finished_chains(conjugate):
    class Interrupted(pm.smc.IMH):
        calls = 0

        def initialize(self, start, rng):
            Interrupted.calls += 1
            if Interrupted.calls == 2:
                raise KeyboardInterrupt
            super().initialize(start, rng)

    with pytest.warns(UserWarning, match="1 finished chain"):
        idata = pm.sample_smc(30, kernel=Interrupted, chains=3, random_seed=0, progressbar=False, model=conjugate)
    assert idata.posterior.sizes["chain"] == 1 and idata.sample_stats["beta"].values[0, -1] == 1.0


@pytest.mark.filterwarnings("ignore:Numba will use object mode:UserWarning")  # HalfCauchy's draws
def test_hierarchical_evidence_matches_quadrature():
    # eight schools, non-centred: the evidence integrates theta out analytically
    # (y_j ~ N(mu, sqrt(sigma_j^2 + tau^2))) and (mu, tau) by quadrature
    from scipy import integrate

    y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
    sig = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])

    def joint(mu, tau):
        var = sig**2 + tau**2
        lp = -0.5 * (mu / 5) ** 2 - np.log(5 * np.sqrt(2 * np.pi)) + np.log(2 / (np.pi * 5 * (1 + (tau / 5) ** 2)))
        return np.exp(lp - 0.5 * np.sum((y - mu) ** 2 / var + np.log(2 * np.pi * var)))

    exact = np.log(integrate.dblquad(joint, 0, np.inf, -60, 60, epsabs=1e-22, epsrel=1e-8)[0])
    assert abs(exact - -31.3113) < 1e-3  # scipy.stats' densities give the same (slowly)
    with pm.Model():
        mu = pm.Normal("mu", 0, 5)
        tau = pm.HalfCauchy("tau", 5)
        th = pm.Normal("theta_t", 0, 1, shape=8)
        pm.Normal("y", mu + tau * th, sig, observed=y)
        idata = pm.sample_smc(1000, chains=2, random_seed=7, progressbar=False)
    # 12 chains of 1000 particles (seeds 0-5) were within 0.06 of it
    np.testing.assert_allclose(idata.sample_stats["log_marginal_likelihood"].values[:, -1], exact, atol=0.15)
