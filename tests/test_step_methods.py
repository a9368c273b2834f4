"""pm.sample(step=...) with Metropolis, Slice and Gibbs steps, and discrete latent variables:
posterior means and sds against exact posteriors, within a few Monte Carlo errors."""

import numpy as np
import pytest

import symvi as pm
from symvi.pytensorf import ONE_SHOT_MODE

CHEAP = {"mode": ONE_SHOT_MODE}  # compiles in milliseconds, ~1 ms a call (the default Numba mode: seconds, ~30 us)

Y = np.array([0.8, 1.9, 1.2, 0.4, 1.6])
# mu ~ N(0, 2^2), y_i ~ N(mu, 1): posterior N(m, s^2) with precision 1/4 + 5
PREC = 0.25 + len(Y)
POST_MEAN, POST_SD = Y.sum() / PREC, PREC**-0.5


def conjugate():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 2.0)
        pm.Normal("y", mu, 1.0, observed=Y)
    return m


@pytest.mark.parametrize("make_step", [lambda: pm.Metropolis(), lambda: pm.Slice()], ids=["metropolis", "slice"])
def test_continuous_steps_match_the_conjugate_posterior(make_step):
    m = conjugate()
    with m:
        idata = pm.sample(1500, tune=500, chains=2, step=make_step(), random_seed=7, progressbar=False)
    draws = idata.posterior["mu"].values
    assert draws.shape == (2, 1500)
    ess = float(pm.ess(idata)["mu"])
    assert ess > 150
    mcse = POST_SD / np.sqrt(ess)
    assert abs(draws.mean() - POST_MEAN) < 4 * mcse
    assert abs(draws.std() - POST_SD) < 0.15 * POST_SD
    assert set(idata.sample_stats) >= {"lp", "accept"} and "observed_data" in idata.groups()


def test_bernoulli_latent_gibbs_with_slice():
    # z ~ Bernoulli(0.3), y | z ~ N(2 z, 1), y = 1.4 observed; x ~ N(0, 1) independent
    # P(z=1 | y) = 0.3 N(1.4; 2, 1) / (0.3 N(1.4; 2, 1) + 0.7 N(1.4; 0, 1))
    w1, w0 = 0.3 * np.exp(-0.5 * 0.6**2), 0.7 * np.exp(-0.5 * 1.4**2)
    exact = w1 / (w1 + w0)
    with pm.Model():
        z = pm.Bernoulli("z", 0.3)
        pm.Normal("x", 0, 1)
        pm.Normal("y", 2.0 * z, 1.0, observed=1.4)
        idata = pm.sample(2000, tune=200, chains=1, random_seed=3, progressbar=False)  # steps assigned
    zs = idata.posterior["z"].values
    assert zs.dtype.kind == "i" and set(np.unique(zs)) <= {0, 1}
    assert abs(zs.mean() - exact) < 4 * np.sqrt(exact * (1 - exact) / 2000)
    assert abs(idata.posterior["x"].values.std() - 1.0) < 0.1


def test_categorical_latent_and_compound_step():
    # c ~ Categorical(p), y | c ~ N(means[c], 1): posterior p_k N(y; means_k, 1) normalised
    p, means, y = np.array([0.2, 0.3, 0.5]), np.array([-2.0, 0.0, 2.0]), 0.5
    post = p * np.exp(-0.5 * (y - means) ** 2)
    post /= post.sum()
    with pm.Model():
        c = pm.Categorical("c", p)
        k = pm.Poisson("k", 3.0)  # a discrete prior-only variable: Metropolis with rounded moves
        pm.Normal("y", pm.math.stack(list(means))[c], 1.0, observed=y)
        step = pm.CompoundStep([pm.CategoricalGibbsMetropolis([c]), pm.Metropolis([k])])
        idata = pm.sample(2000, tune=300, chains=1, step=step, random_seed=5, progressbar=False)
    freq = np.bincount(idata.posterior["c"].values.ravel(), minlength=3) / 2000
    assert np.all(np.abs(freq - post) < 4 * np.sqrt(post * (1 - post) / 2000)), (freq, post)
    ks = idata.posterior["k"].values
    ess = float(pm.ess(idata)["k"])
    assert abs(ks.mean() - 3.0) < 4 * np.sqrt(3.0 / ess)


def test_step_errors_name_the_argument():
    m = conjugate()
    with pytest.raises(ValueError, match="scaling must be a positive number"):
        pm.Metropolis(scaling=-1.0)
    with pytest.raises(ValueError, match="w must be a positive number"):
        pm.Slice(w=0.0)
    with pytest.raises(ValueError, match="more than one step"):
        with m:
            pm.sample(10, tune=0, chains=1, step=[pm.Metropolis(), pm.Slice()], progressbar=False)
    with pytest.raises(TypeError, match="compile_kwargs \\['bad'\\] are not supported"):
        pm.sample(10, tune=0, chains=1, step=pm.Slice(), model=m, progressbar=False, compile_kwargs={"bad": 1})
    with pytest.raises(ValueError, match="vars entry 'y' is not a free variable"):
        with m:
            pm.sample(10, tune=0, chains=1, step=pm.Metropolis(["y"]), progressbar=False)
    with pytest.raises(TypeError, match="methods must be step methods"):
        pm.CompoundStep([1])


def test_ctrl_c_keeps_the_draws_done(monkeypatch):
    from symvi.mcmc import steps

    calls = {"n": 0}
    real = steps.Metropolis.step

    def interrupted(self, *args):
        calls["n"] += 1
        if calls["n"] == 60:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(steps.Metropolis, "step", interrupted)
    with pytest.warns(UserWarning, match="interrupted; returning the first 49 draws"):
        idata = pm.sample(100, tune=10, chains=2, step=pm.Metropolis(), model=conjugate(), random_seed=1, progressbar=False,
                          compile_kwargs=CHEAP)
    assert idata.posterior["mu"].shape == (1, 49)
