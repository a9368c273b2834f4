"""Prior / prior predictive sampling, ``draw`` and ``to_inference_data``."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from scipy import stats

import symvi as pm
from symvi.sampling import to_inference_data


def _model(n_obs=6):
    rng = np.random.default_rng(0)
    y = rng.normal(size=(n_obs, 2))
    with pm.Model(coords={"obs": [f"o{i}" for i in range(n_obs)], "col": ["a", "b"]}) as m:
        x = pm.Data("x", np.linspace(0, 1, n_obs), dims="obs")
        mu = pm.Normal("mu", 3.0, 2.0, dims="col")
        sigma = pm.Gamma("sigma", 3.0, 2.0)
        pm.Deterministic("mu_sum", mu.sum())
        pm.Normal("y", mu + x[:, None], sigma, observed=y, dims=("obs", "col"))
    return m, y


def test_prior_predictive_groups_shapes_dims():
    m, y = _model()
    idata = pm.sample_prior_predictive(draws=50, model=m, random_seed=1)
    assert isinstance(idata, az.InferenceData)
    assert set(idata.groups()) == {"prior", "prior_predictive", "observed_data", "constant_data"}
    assert set(idata.prior.data_vars) == {"mu", "sigma", "mu_sum"}
    assert set(idata.prior_predictive.data_vars) == {"y"}
    assert idata.prior["mu"].dims == ("chain", "draw", "col")
    assert idata.prior["mu"].shape == (1, 50, 2)
    assert idata.prior["sigma"].shape == (1, 50)
    assert idata.prior["mu_sum"].shape == (1, 50)
    assert idata.prior_predictive["y"].dims == ("chain", "draw", "obs", "col")
    assert idata.prior_predictive["y"].shape == (1, 50, 6, 2)
    assert list(idata.prior_predictive["obs"].values) == [f"o{i}" for i in range(6)]
    assert list(idata.prior["col"].values) == ["a", "b"]
    np.testing.assert_array_equal(idata.prior["draw"].values, np.arange(50))
    np.testing.assert_array_equal(idata.prior["chain"].values, [0])
    # observed_data / constant_data content
    np.testing.assert_array_equal(idata.observed_data["y"].values, y)
    assert idata.observed_data["y"].dims == ("obs", "col")
    np.testing.assert_allclose(idata.constant_data["x"].values, np.linspace(0, 1, 6))
    assert idata.constant_data["x"].dims == ("obs",)
    # deterministics are consistent with the drawn free variables
    np.testing.assert_allclose(idata.prior["mu_sum"].values, idata.prior["mu"].values.sum(-1))
    assert idata.prior.attrs["inference_library"] == "symvi"


def test_prior_predictive_seed_reproducible():
    m, _ = _model()
    a = pm.sample_prior_predictive(draws=20, model=m, random_seed=42)
    b = pm.sample_prior_predictive(draws=20, model=m, random_seed=42)
    c = pm.sample_prior_predictive(draws=20, model=m, random_seed=43)
    for group, name in [("prior", "mu"), ("prior", "sigma"), ("prior_predictive", "y")]:
        np.testing.assert_array_equal(a[group][name].values, b[group][name].values)
        assert not np.allclose(a[group][name].values, c[group][name].values)
    # an identically built model with the same seed gives the same draws
    m2, _ = _model()
    d = pm.sample_prior_predictive(draws=20, model=m2, random_seed=42)
    np.testing.assert_array_equal(a.prior_predictive["y"].values, d.prior_predictive["y"].values)
    # no seed: fresh draws every time; draws within a run differ
    e = pm.sample_prior_predictive(draws=20, model=m)
    f = pm.sample_prior_predictive(draws=20, model=m)
    assert not np.allclose(e.prior["mu"].values, f.prior["mu"].values)
    mu = a.prior["mu"].values[0]
    assert len(np.unique(mu[:, 0])) == 20


def test_prior_predictive_seed_has_no_side_effect():
    m, _ = _model()
    a = pm.sample_prior_predictive(draws=5, model=m, random_seed=1)
    pm.sample_prior_predictive(draws=5, model=m, random_seed=2)
    b = pm.sample_prior_predictive(draws=5, model=m, random_seed=1)
    np.testing.assert_array_equal(a.prior["sigma"].values, b.prior["sigma"].values)


def test_prior_moments():
    with pm.Model() as m:
        n = pm.Normal("n", 3.0, 2.0)
        g = pm.Gamma("g", 2.5, 4.0)
        h = pm.HalfNormal("h", 1.5)
        e = pm.Exponential("e", 0.5)
        pm.Normal("y", n, 1.0, observed=np.zeros(3))
    draws = 4000
    idata = pm.sample_prior_predictive(draws=draws, model=m, random_seed=7)
    nv = idata.prior["n"].values.ravel()
    se = 2.0 / np.sqrt(draws)
    assert abs(nv.mean() - 3.0) < 4 * se
    assert abs(nv.std() - 2.0) < 4 * 2.0 / np.sqrt(2 * draws)
    gv = idata.prior["g"].values.ravel()
    gamma = stats.gamma(a=2.5, scale=1 / 4.0)
    assert abs(gv.mean() - gamma.mean()) < 4 * gamma.std() / np.sqrt(draws)
    assert stats.kstest(gv, gamma.cdf).pvalue > 1e-3
    assert stats.kstest(idata.prior["h"].values.ravel(), stats.halfnorm(scale=1.5).cdf).pvalue > 1e-3
    assert stats.kstest(idata.prior["e"].values.ravel(), stats.expon(scale=2.0).cdf).pvalue > 1e-3
    # prior predictive y = n + N(0, 1): sd sqrt(5), each observation drawn independently
    yv = idata.prior_predictive["y"].values.reshape(draws, 3)
    assert abs(yv.std() - np.sqrt(5)) < 0.1
    assert abs(np.corrcoef(yv[:, 0] - nv, yv[:, 1] - nv)[0, 1]) < 0.1


def test_prior_predictive_var_names_and_errors():
    m, _ = _model()
    idata = pm.sample_prior_predictive(draws=5, model=m, var_names=["mu", "y"], random_seed=0)
    assert set(idata.prior.data_vars) == {"mu"}
    assert set(idata.prior_predictive.data_vars) == {"y"}
    with pytest.raises(KeyError, match="nope"):
        pm.sample_prior_predictive(draws=5, model=m, var_names=["nope"])
    with pytest.raises(ValueError, match="draws"):
        pm.sample_prior_predictive(draws=0, model=m)
    with pytest.raises(TypeError, match="with symvi.Model"):
        pm.sample_prior_predictive(draws=5)
    with m:
        idata2 = pm.sample_prior_predictive(draws=3, random_seed=0)
    assert idata2.prior["mu"].shape == (1, 3, 2)


def test_prior_predictive_after_set_data_and_potential_warning():
    with pm.Model() as m:
        x = pm.Data("x", np.arange(3.0), dims="obs")
        y_obs = pm.Data("y_obs", np.zeros(3), dims="obs")
        b = pm.Normal("b", 0, 1)
        pm.Normal("y", b * x, 1.0, observed=y_obs, dims="obs")
        pm.Potential("pen", -(b**2))
    with pytest.warns(UserWarning, match="Potential"):
        idata = pm.sample_prior_predictive(draws=4, model=m, random_seed=0)
    assert idata.prior_predictive["y"].shape == (1, 4, 3)
    assert set(idata.constant_data.data_vars) == {"x"}  # y_obs is the observed data, as in PyMC
    pm.set_data({"x": np.arange(5.0), "y_obs": np.ones(5)}, model=m)
    with pytest.warns(UserWarning):
        idata = pm.sample_prior_predictive(draws=4, model=m, random_seed=0)
    assert idata.prior_predictive["y"].shape == (1, 4, 5)
    assert idata.prior_predictive["y"].dims == ("chain", "draw", "obs")
    np.testing.assert_array_equal(idata.observed_data["y"].values, np.ones(5))


def test_draw():
    x = pm.Normal.dist(3.0, 2.0, size=2)
    one = pm.draw(x, random_seed=1)
    assert one.shape == (2,)
    many = pm.draw(x, draws=3000, random_seed=1)
    assert many.shape == (3000, 2)
    assert abs(many.mean() - 3.0) < 4 * 2.0 / np.sqrt(6000)
    np.testing.assert_array_equal(many, pm.draw(x, draws=3000, random_seed=1))
    assert not np.allclose(pm.draw(x, draws=5), pm.draw(x, draws=5))
    a, b = pm.draw([x, 2 * x], draws=4, random_seed=0)
    np.testing.assert_allclose(b, 2 * a)
    with pytest.raises(ValueError, match="draws"):
        pm.draw(x, draws=0)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 1)
    with pytest.raises(ValueError, match="mu"):
        pm.draw(m.rvs_to_values[mu] + 1)  # a value variable is not drawable


def test_to_inference_data_helper():
    with pm.Model(coords={"k": ["a", "b", "c"]}) as m:
        pm.Normal("w", 0, 1, dims="k")
        pm.HalfNormal("s", 1.0)
    post = {"w": np.zeros((2, 10, 3)), "s": np.ones((2, 10)), "s_log__": np.zeros((2, 10))}
    idata = to_inference_data({"posterior": post, "sample_stats": {"loss": np.ones((2, 10))}}, m)
    assert idata.posterior["w"].dims == ("chain", "draw", "k")
    assert list(idata.posterior["k"].values) == ["a", "b", "c"]
    assert idata.posterior["s"].shape == (2, 10)
    assert idata.sample_stats["loss"].dims == ("chain", "draw")
    # draw-only arrays get a chain axis of 1; unknown / mismatched axes get default dims
    idata = to_inference_data(
        {"posterior": {"w": np.zeros((10, 3)), "v": np.zeros((10, 4)), "w4": np.zeros((10, 4))}},
        m,
        add_chain_dim=True,
        dims={"w4": ["k"]},
    )
    assert idata.posterior["w"].shape == (1, 10, 3)
    assert idata.posterior["v"].dims == ("chain", "draw", "v_dim_0")
    assert idata.posterior["w4"].dims == ("chain", "draw", "w4_dim_0")  # length 4 != len(k)
    with pytest.raises(ValueError, match="'s'"):
        to_inference_data({"posterior": {"s": np.zeros(3)}}, m)


def test_sample_approx_is_approx_sample():
    with pm.Model():
        pm.Normal("x", 1.0, 2.0)
        approx = pm.fit(200, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.1))
    a = pm.sample_approx(approx, draws=30, random_seed=4)
    b = approx.sample(30, random_seed=4)
    np.testing.assert_array_equal(a.posterior["x"].values, b.posterior["x"].values)


def test_approx_sample_carries_observed_and_constant_data():
    y = np.array([0.5, 1.5, 2.0])
    with pm.Model():
        x = pm.Data("x", np.array([1.0, 2.0, 3.0]))
        a = pm.Normal("a", 0, 1)
        pm.Normal("y", a * x, 1.0, observed=y)
        approx = pm.fit(50, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.1))
    idata = approx.sample(20, random_seed=2)
    assert set(idata.groups()) == {"posterior", "observed_data", "constant_data"}
    np.testing.assert_array_equal(idata.observed_data["y"].values, y)
    np.testing.assert_array_equal(idata.constant_data["x"].values, [1.0, 2.0, 3.0])


# ---------------------------------------------------------------------- PyMC habits
def test_heavy_tailed_draws_give_inf_not_an_exception():
    # PyTensor's Numba t / invgamma raised ZeroDivisionError when their gamma draw underflowed
    # (tiny nu / alpha, as in a prior predictive with nu ~ Exponential(0.1)); numpy gives inf
    for rv in (pm.StudentT.dist(nu=1e-3), pm.HalfStudentT.dist(nu=1e-3), pm.InverseGamma.dist(1e-3, 1.0)):
        d = pm.draw(rv, 2000, random_seed=1)
        assert np.isinf(d).any() and not np.isnan(d).any()


def test_prior_predictive_takes_pymc_keywords():
    with pm.Model(coords={"k": ["a", "b"]}) as m:
        mu = pm.Normal("mu", 0, 1, dims="k")
        pm.Normal("y", mu.sum(), 1, observed=np.zeros(3))
    with m:
        with pytest.warns(FutureWarning, match="draws="):
            old = pm.sample_prior_predictive(samples=7, random_seed=np.random.default_rng(5))
        raw = pm.sample_prior_predictive(7, return_inferencedata=False, random_seed=np.random.default_rng(5))
        dims = pm.sample_prior_predictive(7, idata_kwargs={"dims": {"y": ["obs"]}}, compile_kwargs={"mode": "FAST_COMPILE"})
        with pytest.raises(TypeError, match="idata_kwargs.*log_likelihood"):
            pm.sample_prior_predictive(7, idata_kwargs={"log_likelihood": True})
    assert old.prior["mu"].shape == (1, 7, 2)
    # a Generator as random_seed seeds from its next draws: the same generator state, the same draws
    np.testing.assert_array_equal(raw["mu"], old.prior["mu"].values[0])
    assert raw["y"].shape == (7, 3)
    assert dims.prior_predictive["y"].dims == ("chain", "draw", "obs")


def test_posterior_predictive_takes_pymc_keywords():
    with pm.Model() as m:
        b = pm.Normal("b", 0, 1)
        pm.Normal("y", b, 0.1, observed=np.zeros(4))
    post = {"b": np.array([1.0, 2.0, 3.0])}
    pp = pm.sample_posterior_predictive(
        post, model=m, random_seed=np.random.default_rng(1), idata_kwargs={"attrs": {"run": "x"}},
        compile_kwargs={"mode": "FAST_COMPILE"}, progressbar_theme=None,
    )
    assert pp.posterior_predictive.attrs["run"] == "x"
    np.testing.assert_allclose(pp.posterior_predictive["y"].values[0].mean(-1), [1.0, 2.0, 3.0], atol=0.2)
    with pytest.raises(TypeError, match="compile_kwargs.*on_unused_input"):
        pm.sample_posterior_predictive(post, model=m, compile_kwargs={"on_unused_input": "ignore"})
