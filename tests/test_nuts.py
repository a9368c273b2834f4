"""pm.sample(): NUTS through nutpie on symvi's compiled log density (symvi.mcmc).

Exact references: the conjugate Normal-Normal posterior (closed form), scipy.stats log
densities for lp and the log likelihood group.  One model is compiled once per module (the
compiled density is cached on the model), every run is seeded and short.
"""

import builtins

import numpy as np
import pytest
from scipy import stats

import symvi as pm

pytest.importorskip("nutpie")

Y = np.random.default_rng(7).normal(1.0, 1.0, size=20)
PRIOR_SD = 10.0


def exact_posterior():
    """mu ~ N(0, 10^2), y_i ~ N(mu, 1): posterior N(m, s^2) in closed form."""
    prec = 1 / PRIOR_SD**2 + len(Y)
    return Y.sum() / prec, np.sqrt(1 / prec)


@pytest.fixture(scope="module")
def model():
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        pm.Deterministic("two_mu", 2 * mu)
        pm.Normal("y", mu, 1.0, observed=Y)
    return m


@pytest.fixture(scope="module")
def trace(model):
    return pm.sample(1000, tune=400, chains=2, random_seed=11, progressbar=False, model=model, idata_kwargs={"log_likelihood": True})


def within_mc_error(draws, mean, sd):
    import arviz as az

    ess = float(az.ess(np.asarray(draws)[None, :] if np.ndim(draws) == 1 else draws))
    return abs(np.mean(draws) - mean) < 4 * sd / np.sqrt(ess) and abs(np.std(draws) / sd - 1) < 0.1


def test_conjugate_posterior(trace):
    m, s = exact_posterior()
    draws = trace.posterior["mu"].values
    assert draws.shape == (2, 1000)
    assert within_mc_error(draws, m, s)


def test_deterministics_and_groups(trace):
    np.testing.assert_allclose(trace.posterior["two_mu"].values, 2 * trace.posterior["mu"].values)
    np.testing.assert_allclose(trace.observed_data["y"].values, Y)
    ll = trace.log_likelihood["y"].values
    assert ll.shape == (2, 1000, 20)
    mu = trace.posterior["mu"].values
    np.testing.assert_allclose(ll[1, 5], stats.norm.logpdf(Y, mu[1, 5], 1.0), rtol=1e-10)


def test_sample_stats(trace):
    ss = trace.sample_stats
    for name in ("diverging", "energy", "step_size", "tree_depth", "lp", "n_steps", "acceptance_rate"):
        assert ss[name].shape == (2, 1000), name
    assert ss["diverging"].dtype == bool and not ss["diverging"].values.any()
    assert (ss["tree_depth"].values >= 1).all() and (ss["step_size"].values > 0).all()
    # lp is the model's log density at the draw (mu has no transform)
    mu = trace.posterior["mu"].values[0, :5]
    expected = stats.norm.logpdf(mu, 0, PRIOR_SD) + stats.norm.logpdf(Y[None, :], mu[:, None], 1.0).sum(axis=1)
    np.testing.assert_allclose(ss["lp"].values[0, :5], expected, rtol=1e-10)
    assert trace.posterior.attrs["init"] == "auto" and trace.posterior.attrs["tuning_gradient_evals"] > 0


def test_reproducible_and_numba_cfunc_matches(model, trace):
    """Same seed, same draws; nutpie fed the Numba cfunc computes the same chains as with the
    (default) Python callback."""
    again = pm.sample(50, tune=400, chains=2, random_seed=11, progressbar=False, model=model)
    np.testing.assert_allclose(again.posterior["mu"].values, trace.posterior["mu"].values[:, :50])
    cf = pm.sample(50, tune=400, chains=2, random_seed=11, progressbar=False, model=model, nutpie_backend="numba")
    np.testing.assert_allclose(cf.posterior["mu"].values, trace.posterior["mu"].values[:, :50], rtol=1e-8)


def test_init_from_approximation(model):
    with model:
        approx = pm.fit(2000, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.05), backend="c")
        tr = pm.sample(500, tune=100, chains=2, random_seed=2, init=approx, progressbar=False)
    assert tr.posterior.attrs["init"] == "MeanField"
    m, s = exact_posterior()
    assert within_mc_error(tr.posterior["mu"].values, m, s)
    np.testing.assert_allclose(tr.posterior["two_mu"].values, 2 * tr.posterior["mu"].values)


@pytest.mark.slow  # ~30 s: the fit inside compiles a training loop with Numba
def test_init_string_fits_first(model):
    tr = pm.sample(300, tune=100, chains=2, random_seed=5, init="fullrank_advi", n_init=1500, progressbar=False, model=model)
    assert tr.posterior.attrs["init"] == "fullrank_advi"
    m, s = exact_posterior()
    assert within_mc_error(tr.posterior["mu"].values, m, s)


def test_dense_init_on_positive_variable():
    """A FullRank start (dense L) on a model with a log transform: posterior Gamma(2 + 5, 1 + 5 * 2)."""
    y = np.array([1.0, 3.0, 2.0, 2.5, 1.5])
    with pm.Model():
        lam = pm.Gamma("lam", 2.0, 1.0)
        pm.Exponential("y", lam, observed=y)
        approx = pm.fit(2000, method="fullrank_advi", random_seed=3, progressbar=False, backend="c")
        tr = pm.sample(1000, tune=200, chains=2, random_seed=4, init=approx, progressbar=False)
    post = stats.gamma(2 + len(y), scale=1 / (1 + y.sum()))
    assert within_mc_error(tr.posterior["lam"].values, post.mean(), post.std())


@pytest.mark.parametrize(
    "kwargs, word",
    [({"draws": 0}, "draws"), ({"chains": 0}, "chains"), ({"tune": -1}, "tune"), ({"draws": 1.5}, "draws"),
     ({"init": "magic"}, "init"), ({"nuts_sampler": "stan"}, "nuts_sampler"), ({"target_accept": 1.0}, "target_accept")],
)
def test_bad_arguments(model, kwargs, word):
    with pytest.raises(ValueError, match=word):
        pm.sample(model=model, progressbar=False, **kwargs)


def test_var_names_keeps_those_and_compute_deterministics_adds_the_rest(model):
    tr = pm.sample(30, tune=30, chains=1, random_seed=2, progressbar=False, model=model, var_names=["mu"])
    assert list(tr.posterior.data_vars) == ["mu"]
    ds = pm.compute_deterministics(tr.posterior, model=model)
    np.testing.assert_allclose(ds["two_mu"].values, 2 * tr.posterior["mu"].values)
    with pytest.raises(KeyError, match="'nope'"):
        pm.sample(10, tune=10, model=model, progressbar=False, var_names=["nope"])


def test_unknown_keyword_named(model):
    with pytest.raises(TypeError, match="not_a_setting"):
        pm.sample(10, tune=10, model=model, progressbar=False, not_a_setting=3)
    with pytest.raises(TypeError, match="step must be a step method"):
        pm.sample(10, tune=10, model=model, progressbar=False, step=object())


def test_discrete_free_variable_sampled_with_steps():
    # no NUTS for a discrete variable: Metropolis for k, Slice for x (tests/test_step_methods.py)
    with pm.Model() as m:
        pm.Poisson("k", 3.0)
        pm.Normal("x", 0, 1)
    tr = pm.sample(30, tune=10, chains=1, model=m, progressbar=False, random_seed=1, compile_kwargs={"mode": "FAST_COMPILE"})
    assert tr.posterior["k"].values.dtype.kind == "i" and tr.posterior["k"].shape == (1, 30)


def _hide(monkeypatch, hidden):
    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name.split(".")[0] in hidden:
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)


def test_missing_nutpie_names_the_extra(model, monkeypatch):
    _hide(monkeypatch, {"nutpie"})
    with pytest.raises(ImportError, match=r"pip install 'symvi\[nuts\]'"):
        pm.sample(model=model, progressbar=False)


def test_missing_blackjax_names_the_extra(model, monkeypatch):
    _hide(monkeypatch, {"blackjax"})
    with pytest.raises(ImportError, match=r"pip install 'symvi\[blackjax\]'"):
        pm.sample(model=model, progressbar=False, nuts_sampler="blackjax")


def test_seed_notebook_cells_as_written():
    """Seed 002's MCMC cells: ``trace = pm.sample()`` on the gamma model, ``pm.sample(5000)`` on
    the mixture with Deterministics, ``az.plot_trace(trace)``."""
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    np.random.seed(42)
    gamma_data = np.random.gamma(2, 0.5, size=200)
    with pm.Model() as gamma_model:
        alpha = pm.Exponential("alpha", 0.1)
        beta = pm.Exponential("beta", 0.1)
        pm.Gamma("y", alpha, beta, observed=gamma_data)
    with gamma_model:
        trace = pm.sample(progressbar=False)
    assert trace.posterior["alpha"].sizes["draw"] == 1000 and trace.posterior["alpha"].sizes["chain"] >= 2
    assert 1.5 < float(trace.posterior["alpha"].mean()) < 3.0
    with pm.Model() as model:
        x = pm.NormalMixture("x", w=np.array([0.2, 0.8]), mu=np.array([-0.3, 0.5]), sigma=np.array([0.1, 0.1]))
        pm.Deterministic("x2", x**2)
        pm.Deterministic("sin_x", pm.math.sin(x))
    with model:
        trace = pm.sample(5000, progressbar=False)
    assert trace.posterior["x"].sizes["draw"] == 5000
    np.testing.assert_allclose(trace.posterior["sin_x"].values, np.sin(trace.posterior["x"].values))
    axes = az.plot_trace(trace)
    assert axes.shape == (3, 2)
