"""Pointwise log likelihood (``pm.compute_log_likelihood``, ``approx.sample(log_likelihood=True)``)
checked against scipy.stats, and ArviZ's loo / waic / compare on it checked against numpy."""

import arviz as az
import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

import symvi as pm
from symvi import log_likelihood as ll_mod

RNG = np.random.default_rng(20261204)
X = np.linspace(-1.0, 1.0, 12)
Y = 0.5 + 1.5 * X + RNG.normal(0, 0.3, size=12)


def regression(slope: bool = True):
    with pm.Model(coords={"obs": [f"o{i}" for i in range(12)]}) as m:
        x = pm.Data("x", X, dims="obs")
        a = pm.Normal("a", 0, 2)
        b = pm.Normal("b", 0, 2) if slope else 0.0
        sigma = pm.HalfNormal("sigma", 1)
        pm.Normal("y", a + b * x, sigma, observed=Y, dims="obs")
    return m


def posterior(m, **arrays):
    return pm.to_inference_data({"posterior": arrays}, m)


def test_normal_with_data_and_coords_matches_scipy():
    m = regression()
    a, b = RNG.normal(0.5, 0.1, (2, 50)), RNG.normal(1.5, 0.1, (2, 50))
    sigma = RNG.uniform(0.2, 0.5, (2, 50))
    idata = pm.compute_log_likelihood(posterior(m, a=a, b=b, sigma=sigma), model=m)
    got = idata.log_likelihood["y"]
    assert got.dims == ("chain", "draw", "obs")
    assert list(got.coords["obs"].values) == [f"o{i}" for i in range(12)]
    assert got.coords["draw"].values.tolist() == list(range(50))
    want = st.norm(a[..., None] + b[..., None] * X, sigma[..., None]).logpdf(Y)
    np.testing.assert_allclose(got.values, want, rtol=1e-10, atol=1e-12)
    assert set(idata.groups()) >= {"posterior", "log_likelihood"}


def test_poisson_matches_scipy_and_counts_zero():
    counts = np.array([0, 1, 3, 7, 2])
    with pm.Model() as m:
        lam = pm.Gamma("lam", 2.0, 1.0)
        pm.Poisson("y", lam, observed=counts)
    lam_draws = np.array([[1e-3, 0.5, 2.0, 10.0]])
    got = pm.compute_log_likelihood(posterior(m, lam=lam_draws), model=m, extend_inferencedata=False)
    assert got["y"].dims == ("chain", "draw", "y_dim_0")
    np.testing.assert_allclose(got["y"].values, st.poisson(lam_draws[..., None]).logpmf(counts), rtol=1e-10)


def test_multivariate_observed_gives_one_value_per_event():
    obs = RNG.normal(size=(6, 2))
    with pm.Model(coords={"row": range(6), "k": ["u", "v"]}) as m:
        mu = pm.Normal("mu", 0, 1, dims="k")
        pm.MvNormal("y", mu, np.array([[1.0, 0.4], [0.4, 2.0]]), observed=obs, dims=("row", "k"))
    mu_draws = RNG.normal(size=(1, 5, 2))
    got = pm.compute_log_likelihood(posterior(m, mu=mu_draws), model=m).log_likelihood["y"]
    assert got.dims == ("chain", "draw", "row")
    cov = np.array([[1.0, 0.4], [0.4, 2.0]])
    want = np.array([st.multivariate_normal(mu_draws[0, s], cov).logpdf(obs) for s in range(5)])[None]
    np.testing.assert_allclose(got.values, want, rtol=1e-10)


def test_blocks_of_draws_give_the_same_numbers(monkeypatch):
    m = regression()
    draws = {"a": RNG.normal(size=37), "b": RNG.normal(size=37), "sigma": RNG.uniform(0.1, 1, 37)}
    whole = ll_mod.pointwise_log_likelihood(m, draws)["y"]
    monkeypatch.setattr(ll_mod, "_BLOCK_ELEMENTS", 50)  # 12 numbers per draw: blocks of 4 draws
    blocks = ll_mod.pointwise_log_likelihood(m, draws)["y"]
    np.testing.assert_array_equal(whole, blocks)
    assert whole.shape == (37, 12)


def test_var_names_and_a_likelihood_without_free_variables():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu, 1, observed=np.array([0.0, 1.0]))
        pm.Normal("z", 0, 2, observed=np.array([0.5, -1.0, 3.0]))
    idata = posterior(m, mu=np.array([[0.0, 1.0, 2.0]]))
    only_z = pm.compute_log_likelihood(idata, var_names=["z"], model=m, extend_inferencedata=False)
    assert list(only_z.data_vars) == ["z"]
    np.testing.assert_allclose(only_z["z"].values, np.broadcast_to(st.norm(0, 2).logpdf([0.5, -1.0, 3.0]), (1, 3, 3)))
    with pytest.raises(KeyError, match="'mu' is not an observed variable"):
        pm.compute_log_likelihood(idata, var_names=["mu"], model=m)
    with pytest.raises(KeyError, match=r"no draws of \['mu'\]"):
        pm.compute_log_likelihood(posterior(m, other=np.zeros((1, 3))), model=m)
    with pytest.raises(TypeError, match="posterior group"):
        pm.compute_log_likelihood({"mu": np.zeros(3)}, model=m)


def test_minibatch_model_uses_the_full_data_without_total_size():
    data = RNG.normal(1.0, 1.0, size=40)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1, observed=pm.Minibatch(data, batch_size=8, random_seed=0), total_size=40)
    got = pm.compute_log_likelihood(posterior(m, mu=np.array([[0.0, 1.0]])), model=m).log_likelihood["y"]
    assert got.shape == (1, 2, 40)
    np.testing.assert_allclose(got.values[0], st.norm(np.array([[0.0], [1.0]]), 1).logpdf(data), rtol=1e-10)


def waic_numpy(ll):
    """elpd_waic by its formula: sum_i log mean_s p(y_i|s) - var_s log p(y_i|s)."""
    lppd = sp.logsumexp(ll, axis=0) - np.log(ll.shape[0])
    return float(np.sum(lppd - ll.var(axis=0)))


def loo_is_numpy(ll):
    """elpd_loo by plain importance sampling: sum_i -log mean_s 1/p(y_i|s)."""
    return float(np.sum(-(sp.logsumexp(-ll, axis=0) - np.log(ll.shape[0]))))


def test_arviz_waic_and_loo_agree_with_numpy_and_exact_loo():
    # y_i ~ N(mu, 1), mu ~ N(0, 10^2): the posterior and every leave-one-out posterior are
    # normal, so elpd_loo has a closed form: sum_i log N(y_i | m_-i, 1 + v_-i)
    y = RNG.normal(0.7, 1.0, size=40)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1, observed=y)
    v = 1 / (len(y) + 1 / 100)
    draws = RNG.normal(v * y.sum(), np.sqrt(v), size=(2, 1000))
    idata = pm.compute_log_likelihood(posterior(m, mu=draws), model=m)
    ll = idata.log_likelihood["y"].values.reshape(2000, 40)
    np.testing.assert_allclose(ll, st.norm(draws.reshape(-1, 1), 1).logpdf(y), rtol=1e-10)
    assert az.waic(idata).elpd_waic == pytest.approx(waic_numpy(ll), rel=1e-10)
    loo = az.loo(idata, pointwise=True)
    assert float(loo.pareto_k.max()) < 0.5
    assert loo.elpd_loo == pytest.approx(loo_is_numpy(ll), abs=0.02)
    v_i = 1 / (len(y) - 1 + 1 / 100)
    m_i = v_i * (y.sum() - y)
    exact = float(np.sum(st.norm(m_i, np.sqrt(1 + v_i)).logpdf(y)))
    assert loo.elpd_loo == pytest.approx(exact, abs=0.1)  # Monte Carlo error of 2000 draws
    assert loo.elpd_loo != pytest.approx(exact, abs=1e-6)  # a real estimate, not an echo


def test_approx_sample_log_likelihood_and_compare():
    fits = {}
    for name, slope in (("line", True), ("constant", False)):
        m = regression(slope)
        # q placed by hand near the least-squares fit (a fit would only add compile time here)
        start = {"a": 0.5, "sigma": 0.35, **({"b": 1.5} if slope else {})}
        with m:
            approx = pm.MeanField(start=start, start_sigma={k: 0.1 for k in start}, random_seed=3)
        idata = approx.sample(500, random_seed=4, log_likelihood=True)
        ll = idata.log_likelihood["y"]
        assert ll.dims == ("chain", "draw", "obs") and ll.shape == (1, 500, 12)
        post = idata.posterior
        b = post["b"].values[..., None] if slope else 0.0
        want = st.norm(post["a"].values[..., None] + b * X, post["sigma"].values[..., None]).logpdf(Y)
        np.testing.assert_allclose(ll.values, want, rtol=1e-8)
        fits[name] = idata
    table = az.compare(fits)
    assert table.index[0] == "line"  # the data were made with a slope of 1.5
    assert table.loc["line", "elpd_loo"] > table.loc["constant", "elpd_loo"] + 3
    with pytest.raises(ValueError, match="return_inferencedata=True"):
        approx.sample(10, return_inferencedata=False, log_likelihood=True)


def test_mixture_and_logit_bernoulli_on_data_next_to_a_potential():
    y = RNG.normal(size=30)
    Xb = RNG.normal(size=(30, 2))
    yb = (RNG.random(30) < 0.5).astype(int)
    with pm.Model():
        w = pm.Dirichlet("w", np.ones(2))
        mu = pm.Normal("mu", 0, 1, shape=2)
        pm.NormalMixture("y", w, mu, sigma=np.array([1.0, 2.0]), observed=y)
        beta = pm.Normal("beta", 0, 1, shape=2)
        pm.Bernoulli("b", logit_p=pm.math.dot(Xb, beta), observed=pm.Data("yb", yb))
        pm.Potential("pen", -(beta.sum() ** 2))  # not part of the likelihood
        q = pm.MeanField(random_seed=1)
    idata = q.sample(7, random_seed=2, log_likelihood=True)
    post, ll = idata.posterior, idata.log_likelihood
    assert set(ll.data_vars) == {"y", "b"}
    W, MU, B = (post[k].values[0] for k in ("w", "mu", "beta"))
    comp = np.log(W[:, None, :]) + st.norm(MU[:, None, :], np.array([1.0, 2.0])).logpdf(y[None, :, None])
    np.testing.assert_allclose(ll["y"].values[0], sp.logsumexp(comp, axis=-1), rtol=1e-10)
    np.testing.assert_allclose(ll["b"].values[0], st.bernoulli(sp.expit(B @ Xb.T)).logpmf(yb), rtol=1e-10)


def test_compute_log_prior_matches_pymc():
    # values from PyMC 5.28.5: pm.compute_log_prior on the same model and draws
    with pm.Model(coords={"k": ["a", "b", "c"]}) as m:
        sigma = pm.HalfNormal("sigma", 1.0)
        mu = pm.Normal("mu", 0, sigma, dims="k")
        pm.Normal("y", mu.sum(), 1, observed=np.zeros(4))
    post = {"sigma": np.array([[0.5, 2.0]]), "mu": np.array([[[0.1, 0.2, 0.3], [1, -1, 0]]])}
    idata = pm.compute_log_prior(pm.to_inference_data({"posterior": post}, m), model=m)
    np.testing.assert_allclose(idata.log_prior["sigma"].values, [[-0.35079135, -2.22579135]], rtol=1e-7)
    np.testing.assert_allclose(
        idata.log_prior["mu"].values,
        [[[-0.2457913526447274, -0.30579135264472745, -0.4057913526447273], [-1.737085713764618, -1.737085713764618, -1.612085713764618]]],
        rtol=1e-10,
    )
    assert idata.log_prior["mu"].dims == ("chain", "draw", "k")
    only = pm.compute_log_prior(idata, var_names=["sigma"], extend_inferencedata=False, model=m)
    assert list(only.data_vars) == ["sigma"]
    with pytest.raises(KeyError, match="'y' is not a free variable"):
        pm.compute_log_prior(idata, var_names=["y"], model=m)


def test_compute_deterministics_from_free_draws():
    with pm.Model(coords={"group": [0, 2, 4]}) as m:
        mu_raw = pm.Normal("mu_raw", 0, 1, dims="group")
        pm.Deterministic("mu", mu_raw.cumsum(), dims="group")
        pm.Deterministic("n_pos", pm.math.sum(mu_raw > 0))
    raw = np.random.default_rng(0).normal(size=(2, 5, 3))
    post = pm.to_inference_data({"posterior": {"mu_raw": raw}}, m).posterior
    ds = pm.compute_deterministics(post, model=m)
    np.testing.assert_allclose(ds["mu"].values, raw.cumsum(-1))
    assert ds["mu"].dims == ("chain", "draw", "group") and ds["n_pos"].dtype.kind == "i"
    np.testing.assert_array_equal(ds["n_pos"].values, (raw > 0).sum(-1))
    stacked = post.stack(sample=("chain", "draw"))
    merged = pm.compute_deterministics(stacked, var_names=["mu"], sample_dims=["sample"], model=m, merge_dataset=True)
    np.testing.assert_allclose(merged["mu"].transpose("sample", "group").values, raw.reshape(10, 3).cumsum(-1))
    assert set(merged.data_vars) == {"mu_raw", "mu"}
    with pytest.raises(KeyError, match="not Deterministics"):
        pm.compute_deterministics(post, var_names=["mu_raw"], model=m)
