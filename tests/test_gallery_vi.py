"""PyMC's example-gallery VI notebooks, written as the gallery writes them, against PyMC's numbers.

Reference numbers were computed once with PyMC 5.28.5 (``/tmp/venv-pymc/bin/python``) running
the same model code with ``import pymc as pm`` (same data, seeds, optimizer and step count);
each test quotes them.  Differences between the two libraries' runs are Monte Carlo noise
(their random streams differ), so the tolerances are a few Monte Carlo standard errors.
"""

import json
import os

import arviz
import numpy as np
import pytensor.tensor as pt
import pytest

import symvi as pm


# ---------------------------------------------------------------------- Empirical from a trace
def test_empirical_from_a_trace_matches_pymc():
    """Empirical-approximation notebook: a trace in, mean/cov/ordering/trace_cov out.

    PyMC: the same draws as a MultiTrace (its Empirical takes no InferenceData) gave
    mean [-0.025370, 0.970702, 0.418613] (x, then log sd), cov[0][1] 0.505939,
    cov[2][2] 0.628101, ordering {"x": 0:2 (2,), "sd_log__": 2:3 ()}, trace_cov (x, sd)
    diagonal [1.023754, 0.986952, 1.935328], and sample(2000, return_inferencedata=False)
    with len 2000 and x (2000, 2), sd (2000,), sd_log__ (2000,).
    """
    r = np.random.default_rng(11)
    mu = np.array([0.0, 1.0])
    cov = np.array([[1.0, 0.5], [0.5, 1.0]])
    xs = r.multivariate_normal(mu, cov, size=5000)
    s = r.gamma(2.0, 1.0, size=5000)
    with pm.Model() as model:
        pm.MvNormal("x", mu=mu, cov=cov, shape=2)
        pm.Gamma("sd", 2.0, 1.0)
    idata = arviz.from_dict(posterior={"x": xs[None], "sd": s[None]})
    with model:
        approx = pm.Empirical(idata)
        tcov = pm.trace_cov(idata)
    np.testing.assert_allclose(approx.mean.eval(), [-0.025370019302415923, 0.9707021782657296, 0.4186126884708898], rtol=1e-9)
    got_cov = approx.cov.eval()
    np.testing.assert_allclose([got_cov[0, 1], got_cov[2, 2]], [0.5059392479784123, 0.6281005862393589], rtol=1e-9)
    np.testing.assert_allclose(np.diag(tcov), [1.0237539775279862, 0.9869515496798521, 1.9353277294009044], rtol=1e-9)
    np.testing.assert_allclose(tcov, np.cov(np.c_[xs, s].T), rtol=1e-12)
    assert {k: (v[1], v[2]) for k, v in approx.ordering.items()} == {"x": (slice(0, 2), (2,)), "sd_log__": (slice(2, 3), ())}
    trace = approx.sample(2000, random_seed=1, return_inferencedata=False)
    assert len(trace) == 2000
    assert {k: np.shape(trace[k]) for k in ("x", "sd", "sd_log__")} == {"x": (2000, 2), "sd": (2000,), "sd_log__": (2000,)}
    assert sorted(trace.varnames) == ["sd", "sd_log__", "x"]
    assert trace.varnames.index("sd_log__") < trace.varnames.index("sd")  # value variables first, as PyMC
    point = trace[5]  # the gallery indexes draws
    np.testing.assert_allclose(np.log(point["sd"]), point["sd_log__"], rtol=1e-6)
    np.testing.assert_allclose(trace["x"].mean(0), mu, atol=0.1)


# ---------------------------------------------------------------------- factor analysis with dims
def test_factor_analysis_with_packed_dims_matches_pymc():
    """Factor-analysis notebook: a packed lower-trapezoidal loading matrix whose free entries
    have ``dims="packed_dim"`` and ``shape=`` but no coords (PyMC gives them integer coords).

    PyMC, ADVI with adam(0.01), 20000 steps: psi 0.5388 (sd 0.0125), mean |E[W W^T] - W_true
    W_true^T| 0.635, packed_dim coords 0..8.
    """
    r = np.random.default_rng(5)
    n, d, k = 150, 6, 2
    w_true = r.normal(size=(d, k))
    Y = w_true @ r.normal(size=(k, n)) + 0.5 * r.normal(size=(d, n))
    coords = {"latent_columns": np.arange(k), "rows": np.arange(n), "observed_columns": np.arange(d)}
    n_od = int(k * d - k * (k - 1) / 2 - k)
    rows, cols = np.tril_indices(d, -1)
    keep = cols < k
    with pm.Model(coords=coords) as model:
        b = pm.Normal("W_b", 0.0, 1.0, shape=(n_od,), dims="packed_dim")
        z = pm.HalfNormal("W_z", 1.0, dims="latent_columns")
        L = pt.zeros((d, k))
        L = pt.set_subtensor(L[rows[keep], cols[keep]], b)
        L = pt.set_subtensor(L[np.arange(k), np.arange(k)], 1.0)
        W = pm.Deterministic("W", L @ pt.diag(pt.extra_ops.cumsum(z)), dims=("observed_columns", "latent_columns"))
        F = pm.Normal("F", dims=("latent_columns", "rows"))
        psi = pm.HalfNormal("psi", 1.0)
        pm.Normal("X", mu=pt.dot(W, F), sigma=psi, observed=Y, dims=("observed_columns", "rows"))
        approx = pm.fit(20000, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01))
    post = approx.sample(2000, random_seed=2).posterior
    assert list(post["W_b"].coords["packed_dim"].values) == list(range(9))
    assert model.coords["packed_dim"] == tuple(range(9))
    psi_mean, psi_sd = float(post["psi"].mean()), float(post["psi"].std())
    assert abs(psi_mean - 0.5388) < 4 * 0.0125
    assert 0.0125 / 1.4 < psi_sd < 0.0125 * 1.4
    wwt = np.einsum("cdik,cdjk->cdij", post["W"].values, post["W"].values).mean((0, 1))
    assert abs(np.abs(wwt - w_true @ w_true.T).mean() - 0.635) < 0.1


# ---------------------------------------------------------------------- hierarchical minibatch GLM
def _radon():
    path = os.path.join(os.path.dirname(arviz.__file__), "data", "example_data", "code", "radon", "radon.json")
    if not os.path.exists(path):
        pytest.skip("ArviZ's radon example data are not installed")
    with open(path) as fh:
        d = json.load(fh)
    county = np.asarray(d["county"])
    return np.asarray(d["y"], dtype=float), np.asarray(d["x"], dtype=float), county - county.min()


def radon_model(minibatch: bool):
    """The gallery's GLM-hierarchical-advi-minibatch model (919 rows, 85 counties)."""
    y, x, county = _radon()
    with pm.Model(coords={"county": np.arange(85)}) as model:
        if minibatch:
            y_t, x_t, c_t = pm.Minibatch(y, x, county, batch_size=100, random_seed=4)
        else:
            y_t, x_t, c_t = y, x, county
        mu_a = pm.Normal("mu_alpha", mu=0.0, sigma=100**2)
        sigma_a = pm.Uniform("sigma_alpha", lower=0, upper=100)
        mu_b = pm.Normal("mu_beta", mu=0.0, sigma=100**2)
        sigma_b = pm.Uniform("sigma_beta", lower=0, upper=100)
        a = pm.Normal("alpha", mu=mu_a, sigma=sigma_a, dims="county")
        b = pm.Normal("beta", mu=mu_b, sigma=sigma_b, dims="county")
        eps = pm.Uniform("eps", lower=0, upper=100)
        pm.Normal("radon_like", mu=a[c_t] + b[c_t] * x_t, sigma=eps, observed=y_t, total_size=919 if minibatch else None)
    return model


def test_minibatch_loss_is_on_the_batch_scale_like_pymc():
    """PyMC divides the objective by total_size / batch_size (9.19 here): its loss settles at
    ~124 on the minibatch model against ~1135 on the full data."""
    from symvi.variational.objective import normalizing_constant

    mb = radon_model(True)
    with mb:
        q = pm.MeanField()
    assert float(normalizing_constant(q).eval()) == pytest.approx(9.19)
    with radon_model(False):
        assert normalizing_constant(pm.MeanField()) is None  # full data: the loss graph is untouched
    with mb:
        approx = pm.fit(3000, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02))
    assert 100 < np.median(approx.hist[-500:]) < 160  # batch scale (full-data scale: ~1130)


@pytest.mark.slow
def test_radon_minibatch_with_pymcs_default_optimizer_matches_pymc():
    """Same explicit optimizer (PyMC's default adagrad_window(1e-3)), 100 000 steps.

    PyMC (mean, sd): mu_alpha (1.4546, 0.0410), sigma_alpha (0.3612, 0.0294), mu_beta
    (-0.6495, 0.0677), sigma_beta (0.5770, 0.0490), eps (0.7649, 0.0190).  Before the
    objective was divided by total_size / batch_size, symvi's steps were ~9x larger.
    """
    ref = {
        "mu_alpha": (1.4546, 0.0410),
        "sigma_alpha": (0.3612, 0.0294),
        "mu_beta": (-0.6495, 0.0677),
        "sigma_beta": (0.5770, 0.0490),
        "eps": (0.7649, 0.0190),
    }
    with radon_model(True):
        approx = pm.fit(100_000, random_seed=1, progressbar=False, obj_optimizer=pm.adagrad_window())
    post = approx.sample(4000, random_seed=2).posterior
    for name, (mean, sd) in ref.items():
        assert abs(float(post[name].mean()) - mean) < 0.5 * sd, name
        assert float(post[name].std()) == pytest.approx(sd, rel=0.15), name


# ---------------------------------------------------------------------- Bayesian neural network
def moons(n, noise, seed):
    """Two interleaved half circles (scikit-learn's make_moons, written out), standardised."""
    r = np.random.default_rng(seed)
    n1 = n // 2
    t1, t2 = np.pi * r.random(n1), np.pi * r.random(n - n1)
    X = np.concatenate([np.c_[np.cos(t1), np.sin(t1)], np.c_[1 - np.cos(t2), 0.5 - np.sin(t2)]])
    X += noise * r.normal(size=X.shape)
    return (X - X.mean(0)) / X.std(0), np.r_[np.zeros(n1), np.ones(n - n1)]


@pytest.mark.slow
def test_bayesian_neural_network_with_minibatch_matches_pymc():
    """BNN notebook: 2-5-5-1 tanh network, Bernoulli likelihood on 50-row minibatches of 500.

    PyMC, ADVI with adam(1e-2), 30 000 steps: test accuracy 0.970 (posterior-mean
    probability > 0.5 on the 500 held-out points) and a final loss of 11.57 (mean of the
    last 2000 steps, on the batch scale: the objective is divided by 500 / 50).
    """
    X, Y = moons(1000, 0.2, 0)
    Xtr, Xte, Ytr, Yte = X[:500], X[500:], Y[:500], Y[500:]
    r = np.random.default_rng(1)
    init_1, init_2, init_out = r.normal(size=(2, 5)), r.normal(size=(5, 5)), r.normal(size=5)
    coords = {"hidden_layer_1": np.arange(5), "hidden_layer_2": np.arange(5), "train_cols": np.arange(2)}
    with pm.Model(coords=coords):
        xb, yb = pm.Minibatch(Xtr, Ytr, batch_size=50)
        w1 = pm.Normal("w_in_1", 0, sigma=1, initval=init_1, dims=("train_cols", "hidden_layer_1"))
        w2 = pm.Normal("w_1_2", 0, sigma=1, initval=init_2, dims=("hidden_layer_1", "hidden_layer_2"))
        wo = pm.Normal("w_2_out", 0, sigma=1, initval=init_out, dims="hidden_layer_2")
        act_out = pm.math.sigmoid(pm.math.dot(pm.math.tanh(pm.math.dot(pm.math.tanh(pm.math.dot(xb, w1)), w2)), wo))
        pm.Bernoulli("out", act_out, observed=yb, total_size=len(Ytr))
        approx = pm.fit(30000, method="advi", random_seed=2, progressbar=False, obj_optimizer=pm.adam(learning_rate=1e-2))
    post = approx.sample(500, random_seed=3).posterior
    W1 = post["w_in_1"].values.reshape(-1, 2, 5)
    W2 = post["w_1_2"].values.reshape(-1, 5, 5)
    Wo = post["w_2_out"].values.reshape(-1, 5)
    h2 = np.tanh(np.einsum("snj,sjk->snk", np.tanh(np.einsum("ni,sij->snj", Xte, W1)), W2))
    p = 1 / (1 + np.exp(-np.einsum("snk,sk->sn", h2, Wo)))
    accuracy = float(((p.mean(0) > 0.5) == Yte).mean())
    assert accuracy > 0.970 - 0.03
    assert abs(float(np.mean(approx.hist[-2000:])) - 11.57) < 1.5


# ------------------------------------------------------ minibatch fits with the default optimizer
def _small_minibatch_model(seed=0):
    y = np.random.default_rng(seed).normal(1.0, 2.0, size=2000)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 10)
        s = pm.HalfNormal("s", 5)
        pm.Normal("y", mu, s, observed=pm.Minibatch(y, batch_size=50, random_seed=3), total_size=2000)
    return model


def test_default_minibatch_fit_shows_the_averaged_iterate_and_resumes_from_the_raw_one():
    """Minibatch default fits average their iterates after the decay starts (adapt.py, 4.):
    between calls the approximation shows the average; the next call continues from the raw
    iterate, so fit(n1) + refine(n2) is fit(n1 + n2) bit for bit."""
    with _small_minibatch_model():
        one = pm.ADVI(random_seed=5)
        one.fit(4000, progressbar=False)
        a = one._adaptive
        assert a.averaging and a.decay_start is not None  # the decay (and averaging) started
        mu = one.approx.shared_params["mu"]
        assert np.array_equal(mu.get_value(), a.averages[mu].get_value())  # shown: the average
        raw = a._raw[mu][0]
        assert not np.array_equal(raw, mu.get_value())  # ... which differs from the iterate
        one.refine(3000, progressbar=False)
    with _small_minibatch_model():  # (a new model: the minibatch draws its own batches anew)
        two = pm.ADVI(random_seed=5)
        two.fit(7000, progressbar=False)
    assert np.array_equal(one.hist, two.hist)
    for name, p in one.approx.shared_params.items():
        assert np.array_equal(p.get_value(), two.approx.shared_params[name].get_value()), name


def test_default_minibatch_fit_finds_the_posterior_sds():
    """Default minibatch fits correct each step's gradient with a full-data control variate
    and drop the score term of log q (objective.default_kl_loss): after 4000 steps on 50-row
    batches both sds are within 1 % of the exact posterior's (0.999, 0.993; without: 0.937,
    0.939 - the batch noise of 4000 steps, even averaged)."""
    y = np.random.default_rng(0).normal(1.0, 2.0, size=2000)
    with _small_minibatch_model():
        inference = pm.ADVI(random_seed=5)
        approx = inference.fit(4000, progressbar=False)
    step = next(iter(inference._steps.values()))
    # refreshed at the start and where the decay started
    assert step.control_variate is not None and step.control_variate.refreshes == 2 and inference._adaptive.decay_step is not None
    exact = np.array([y.std() / np.sqrt(2000), 1 / np.sqrt(2 * 2000)])
    np.testing.assert_allclose(approx.std.eval(), exact, rtol=0.03)


def test_a_parameter_set_between_minibatch_fits_is_kept():
    with _small_minibatch_model():
        inf = pm.ADVI(random_seed=5)
        inf.fit(4000, progressbar=False)
        mu = inf.approx.shared_params["mu"]
        mine = np.full_like(mu.get_value(), 0.25)
        mu.set_value(mine)
        inf.refine(1, progressbar=False)  # starts from the user's value, not the stashed iterate
        assert abs(float(mu.get_value()[0]) - 0.25) < 0.05


@pytest.mark.slow
def test_radon_minibatch_default_fit_matches_the_full_data_fit(monkeypatch):
    """Issue 24: with defaults, every posterior sd of the minibatch fit (batch 100 of 919
    rows, 30 000 steps) within 6 % of the full-data fit's.

    The full-data reference is fitted with the path-derivative gradient: the plain default
    full-data fit (PyMC's estimator) is itself up to 17.5 % off on the county slopes' sds
    after 30 000 steps (beta sds 0.33 against 0.28), where path-derivative full-data fits at
    30 000 and 100 000 steps agree within 2.4 % and a sample-average ELBO optimum (2000 fixed
    draws, L-BFGS) within 5 %.  Measured against the path-derivative full-data fit at 100 000
    steps: 0.983-1.042 (seed 1), 0.969-1.008 (seed 2); before the control variate the
    minibatch fit tracked the noisy full-data fit instead (4.7 %)."""
    from symvi.variational import objective

    names = ["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta", "eps", "alpha", "beta"]

    def sds(minibatch):
        with radon_model(minibatch):
            approx = pm.fit(30_000, random_seed=1, progressbar=False)
        post = approx.sample(4000, random_seed=2).posterior
        return {k: post[k].std(("chain", "draw")).values for k in names}

    mb = sds(True)
    monkeypatch.setattr(objective, "default_kl_loss", lambda q, n_mc=1, r=None: (objective.kl_loss(q, n_mc, r, path_derivative=True), None))
    full = sds(False)
    for k in names:
        ratio = np.atleast_1d(mb[k] / full[k])
        assert np.all(np.abs(ratio - 1) < 0.06), (k, ratio.min(), ratio.max())
