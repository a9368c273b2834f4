"""VI engine: ADVI / FullRankADVI against exact posteriors, fit/refine/hist, callbacks, errors."""

import numpy as np
import pytensor
import pytest

import symvi as pm


def normal_normal(seed=0, n=20, prior_sd=10.0):
    rng = np.random.default_rng(seed)
    y = rng.normal(1.5, 1.0, size=n)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, prior_sd)
        pm.Normal("y", mu, 1.0, observed=y)
    prec = 1 / prior_sd**2 + n
    return model, y.sum() / prec, prec**-0.5


@pytest.mark.parametrize("method", ["advi", "fullrank_advi"])
def test_normal_normal_posterior(method):
    model, post_mean, post_sd = normal_normal()
    with model:
        approx = pm.fit(20000, method=method, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.005))
    mean = float(approx.mean.eval()[0])
    sd = float(approx.std.eval()[0])
    assert abs(mean - post_mean) < 0.05 * abs(post_mean)
    assert abs(sd - post_sd) < 0.2 * post_sd
    assert len(approx.hist) == 20000


def test_fullrank_recovers_regression_correlations():
    rng = np.random.default_rng(3)
    n = 50
    x1 = rng.normal(size=n)
    X = np.column_stack([np.ones(n), x1, x1 + 0.3 * rng.normal(size=n)])
    y = X @ np.array([1.0, 0.5, -0.5]) + rng.normal(size=n)
    with pm.Model():
        b = pm.Normal("b", 0, 10, shape=3)
        pm.Normal("y", pm.math.dot(X, b), 1.0, observed=y)
        advi = pm.FullRankADVI(random_seed=2)
        approx = advi.fit(15000, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01), obj_n_mc=4)
    cov_exact = np.linalg.inv(X.T @ X + np.eye(3) / 100)
    corr = lambda c: c / np.sqrt(np.outer(np.diag(c), np.diag(c)))  # noqa: E731
    got = corr(approx.cov.eval())
    exact = corr(cov_exact)
    assert np.abs(got - exact).max() < 0.1
    assert abs(exact[1, 2]) > 0.5  # the test would not notice a mean-field answer otherwise
    np.testing.assert_allclose(approx.mean.eval(), np.linalg.solve(X.T @ X + np.eye(3) / 100, X.T @ y), atol=0.1)


def test_seed_gamma_model_matches_long_run():
    rng = np.random.default_rng(42)
    data = rng.gamma(2, 0.5, size=200)
    with pm.Model():
        alpha = pm.Exponential("alpha", 0.1)
        beta = pm.Exponential("beta", 0.1)
        pm.Gamma("y", alpha, beta, observed=data)
        approx = pm.fit(10000, obj_optimizer=pm.adagrad_window(learning_rate=1e-2), random_seed=1, progressbar=False)
    idata = approx.sample(2000, random_seed=1)
    a = idata.posterior["alpha"].values
    assert idata.posterior["alpha"].dims == ("chain", "draw")
    assert a.shape == (1, 2000)
    # shape ~ 2, rate ~ 2 generated the data
    assert 1.6 < a.mean() < 2.6
    assert 1.5 < idata.posterior["beta"].values.mean() < 2.8
    assert np.isfinite(approx.hist).all()


def test_tracker_and_refine_extend_history():
    model, *_ = normal_normal()
    with model:
        advi = pm.ADVI(random_seed=1)
    tracker = pm.callbacks.Tracker(mean=advi.approx.mean.eval, std=advi.approx.std.eval, it=lambda approx, losses, i: i)
    advi.fit(300, callbacks=[tracker], progressbar=False)
    assert len(tracker["mean"]) == 300 and len(tracker["std"]) == 300
    assert tracker["it"][:3] == [1, 2, 3] and tracker["it"][-1] == 300
    advi.refine(200, progressbar=False)
    assert len(advi.hist) == 500
    assert len(tracker["mean"]) == 500
    assert advi.approx.hist is advi.hist or len(advi.approx.hist) == 500


def test_check_parameters_convergence_stops_early(capsys):
    model, *_ = normal_normal()
    with model:
        approx = pm.fit(
            20000,
            random_seed=1,
            obj_optimizer=pm.adam(learning_rate=0.05),
            callbacks=[pm.callbacks.CheckParametersConvergence(every=100, diff="absolute", tolerance=0.05)],
        )
    out = capsys.readouterr().out
    n = len(approx.hist)
    assert n < 20000 and n % 100 == 0
    assert f"Convergence achieved at {n}" in out
    assert f"Interrupted at {n:,d}" in out


def test_stop_iteration_callback_keeps_exactly_i_losses(capsys):
    def stop_after_10(approx, loss_history, i):
        if i > 0 and i % 10 == 0:
            raise StopIteration("I was slow, sorry")

    model, *_ = normal_normal()
    with model:
        approx = pm.fit(callbacks=[stop_after_10], random_seed=1)
    assert len(approx.hist) == 10
    out = capsys.readouterr().out
    assert "I was slow, sorry" in out and "Interrupted at 10" in out


def test_progress_line_finished(capsys):
    model, *_ = normal_normal()
    with model:
        pm.fit(100, random_seed=1)
    assert "Finished [100%]: Average Loss = " in capsys.readouterr().out


def test_keyboard_interrupt_keeps_state_and_refine_continues():
    model, *_ = normal_normal()
    calls = {"n": 0}

    def interrupt(approx, losses, i):
        calls["n"] += 1
        if i == 37:
            raise KeyboardInterrupt

    with model:
        advi = pm.ADVI(random_seed=1)
        advi.fit(1000, callbacks=[interrupt], progressbar=False)
    assert len(advi.hist) == 37
    advi.refine(13, progressbar=False)
    assert len(advi.hist) == 50


def test_callback_error_propagates_with_step_and_keeps_state():
    model, *_ = normal_normal()

    def broken(approx, losses, i):
        if i == 5:
            raise RuntimeError("boom")

    with model:
        advi = pm.ADVI(random_seed=1)
        with pytest.raises(RuntimeError, match="boom") as info:
            advi.fit(100, callbacks=[broken], progressbar=False)
    assert any("at step 5" in note for note in info.value.__notes__)
    assert len(advi.hist) == 5


def test_seed_reproducibility_and_chunking_invariance():
    def run(seed, **kw):
        model, *_ = normal_normal()
        with model:
            advi = pm.ADVI(random_seed=seed)
            advi.fit(500, progressbar=False, **kw)
        return advi.hist, advi.approx.get_params()

    h1, p1 = run(5)
    h2, p2 = run(5, callbacks=[lambda a, l, i: None])  # K = 1 per compiled call
    h3, _ = run(6)
    np.testing.assert_array_equal(h1, h2)
    np.testing.assert_array_equal(p1["mu"], p2["mu"])
    assert not np.array_equal(h1, h3)


def test_refine_does_not_recompile():
    model, *_ = normal_normal()
    with model:
        advi = pm.ADVI(random_seed=1)
        advi.fit(50, progressbar=False)
        step = advi._state[0]
        advi.refine(50, progressbar=False)
        advi.fit(50, progressbar=False)
    assert advi._state[0] is step
    assert len(advi._steps) == 1


def test_start_and_start_sigma_with_zero_steps():
    with pm.Model():
        mu = pm.Normal("mu", 0, 1, shape=2)
        s = pm.HalfNormal("s", 1)
        approx = pm.fit(0, start={"mu": np.array([1.0, -1.0]), "s": 2.0}, start_sigma={"mu": 0.1, "s_log__": 0.5}, progressbar=False)
    np.testing.assert_allclose(approx.mean.eval(), [1.0, -1.0, np.log(2.0)])
    np.testing.assert_allclose(approx.std.eval(), [0.1, 0.1, 0.5])
    assert len(approx.hist) == 0


def test_fullrank_start_sigma():
    with pm.Model():
        pm.Normal("mu", 0, 1, shape=2)
        approx = pm.fit(0, method="fullrank_advi", start_sigma={"mu": [0.3, 2.0]}, progressbar=False)
    np.testing.assert_allclose(approx.std.eval(), [0.3, 2.0])


def test_shared_params_and_data_views():
    with pm.Model(coords={"k": ["a", "b"]}):
        pm.Normal("mu", 0.34, 1, dims="k")
        advi = pm.ADVI()
    assert set(advi.approx.shared_params) == {"mu", "rho"}
    np.testing.assert_allclose(advi.approx.mean.eval(), [0.34, 0.34])
    np.testing.assert_allclose(advi.approx.std.eval(), np.log(2))
    md = advi.approx.mean_data
    assert md["mu"].dims == ("k",) and list(md["mu"].coords["k"].values) == ["a", "b"]


def test_unknown_method_and_bad_types():
    model, *_ = normal_normal()
    with model:
        with pytest.raises(KeyError, match="advi"):
            pm.fit(10, method="nuts")
        with pytest.raises(TypeError, match="Inference"):
            pm.fit(10, method=3)
        with pytest.raises(ValueError, match="n "):
            pm.fit(-1)
        with pytest.raises(TypeError, match="integer"):
            pm.fit(2.5)
        with pytest.raises(TypeError, match="callable"):
            pm.fit(10, callbacks=[3])
        with pytest.raises(TypeError, match="obj_optimizer"):
            pm.fit(10, obj_optimizer="adam")
        with pytest.raises(KeyError, match="nope"):
            pm.fit(10, start={"nope": 1.0})


def test_nan_learning_rate_raises_and_keeps_last_finite_state():
    model, *_ = normal_normal()
    with model:
        advi = pm.ADVI(random_seed=1)
        advi.fit(20, progressbar=False, obj_optimizer=pm.sgd(learning_rate=1e-3))
        before = advi.approx.get_params()
        bad = pytensor.shared(np.asarray(np.nan), name="lr")  # a literal NaN is refused up front
        with pytest.raises(FloatingPointError, match="step 21.*mu"):
            advi.fit(20, progressbar=False, obj_optimizer=pm.sgd(learning_rate=bad))
    after = advi.approx.get_params()
    np.testing.assert_array_equal(before["mu"], after["mu"])
    assert len(advi.hist) == 20
    # the user fixes the optimizer and carries on
    advi.fit(10, progressbar=False, obj_optimizer=pm.sgd(learning_rate=1e-3))
    assert len(advi.hist) == 30 and np.isfinite(advi.hist).all()


def test_discrete_latent_rejected():
    with pm.Model():
        pm.Normal("x", 0, 1)
        if hasattr(pm, "Poisson"):
            pm.Poisson("k", 3.0)
            with pytest.raises(TypeError, match="'k'|\\['k'\\]"):
                pm.ADVI()
        else:
            pytest.skip("Poisson not available")


def test_obj_n_mc_and_grad_norm_constraint_run():
    model, post_mean, _ = normal_normal()
    with model:
        approx = pm.fit(3000, random_seed=2, progressbar=False, obj_n_mc=5, total_grad_norm_constraint=10.0, obj_optimizer=pm.adam(learning_rate=0.05))
    assert abs(approx.mean.eval()[0] - post_mean) < 0.1


def test_approx_sample_dict_and_deterministic():
    with pm.Model():
        x = pm.Normal("x", 1.0, 0.5)
        pm.Deterministic("x2", x**2)
        approx = pm.fit(0, progressbar=False, start_sigma={"x": 0.5})
    d = approx.sample(4000, random_seed=3, return_inferencedata=False)
    np.testing.assert_allclose(d["x2"], d["x"] ** 2)
    assert abs(d["x"].mean() - 1.0) < 0.05
    with pytest.raises(ValueError, match="draws"):
        approx.sample(0)


def test_seed003_poisson_gamma_conjugate_posterior():
    """Seed 003: Gamma(a=2*x0, b=2) prior on 64 pixel rates, Poisson pixels; exact posterior is
    Gamma(a + sum x, b + m) per pixel."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:8, 0:8]
    ring = np.exp(-((np.hypot(yy - 3.5, xx - 3.5) - 2.5) ** 2))  # a "zero"-like ring
    x0 = (0.5 + 12 * ring).ravel()  # domain-knowledge image
    X = rng.poisson(0.3 + 14 * ring.ravel(), size=(60, 64))
    a, b = 2.0 * x0, 2.0
    with pm.Model():
        theta = pm.Gamma("theta", a, b, shape=64)
        pm.Poisson("x", theta, observed=X)
        approx = pm.fit(30000, random_seed=4, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.005))
    post_a, post_b = a + X.sum(0), b + X.shape[0]
    exact_mean = post_a / post_b
    draws = approx.sample(4000, random_seed=1).posterior["theta"].values[0]
    np.testing.assert_allclose(draws.mean(0), exact_mean, rtol=0.05)
    np.testing.assert_allclose(draws.std(0), np.sqrt(post_a) / post_b, rtol=0.25)


def test_more_replacements_swaps_data_for_the_fit():
    import pytensor

    rng = np.random.default_rng(11)
    real = rng.normal(3.0, 1.0, size=40)
    placeholder = pytensor.shared(np.zeros(40), name="placeholder")
    with pm.Model():
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1.0, observed=placeholder)
        approx = pm.fit(4000, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02),
                        more_replacements={placeholder: real})
    exact = real.sum() / (40 + 0.01)
    assert abs(approx.mean.eval()[0] - exact) < 0.1


def test_more_obj_params_are_optimised_jointly():
    import pytensor

    rng = np.random.default_rng(12)
    data = rng.normal(0.0, 2.5, size=400)
    log_sigma = pytensor.shared(np.array(0.0), name="log_sigma")
    with pm.Model():
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, pm.math.exp(log_sigma), observed=data)
        pm.fit(4000, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02), more_obj_params=[log_sigma])
    assert abs(np.exp(log_sigma.get_value()) - data.std()) < 0.1


def test_more_updates_run_every_step_and_score_false_skips_hist():
    import pytensor

    counter = pytensor.shared(np.array(0.0), name="counter")
    model, *_ = normal_normal()
    with model:
        advi = pm.ADVI(random_seed=1)
        advi.fit(123, progressbar=False, more_updates={counter: counter + 1})
        assert counter.get_value() == 123
        advi.fit(10, progressbar=False, score=False)
    assert len(advi.hist) == 123
