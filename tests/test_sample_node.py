"""approx.sample_node (fresh draws, size, deterministic, more_replacements) and
sample_posterior_predictive."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symvi as pm
from symvi.pytensorf import ONE_SHOT_MODE


@pytest.fixture(scope="module")
def normal_q():
    with pm.Model() as model:
        x = pm.Normal("x", 0.34, 1.0)
        s = pm.HalfNormal("s", 1.0, shape=2)
        q = pm.MeanField(random_seed=1, start_sigma={"x": 0.5})
    return model, x, s, q


def test_stochastic_node_gives_fresh_draws_each_eval(normal_q):
    _, x, s, q = normal_q
    node = q.sample_node(x**2)
    a, b, c = node.eval(), node.eval(), node.eval()
    assert a.shape == ()
    assert len({float(a), float(b), float(c)}) == 3
    # also when compiled by hand, in Numba and with the Python linker
    for mode in ("NUMBA", ONE_SHOT_MODE):
        f = pytensor.function([], q.sample_node(s, size=3), mode=mode)
        first, second = f(), f()
        assert first.shape == (3, 2) and np.all(first > 0)
        assert not np.allclose(first, second)


def test_draws_follow_q(normal_q):
    _, x, s, q = normal_q
    draws = q.sample_node([x, s], size=20000)
    xs, ss = draws[0].eval(), draws[1].eval()
    assert xs.shape == (20000,) and ss.shape == (20000, 2)
    assert abs(xs.mean() - 0.34) < 0.02 and abs(xs.std() - 0.5) < 0.02
    # s is exp of the q draw on s_log__
    mu, sd = q.mean.eval()[1:], q.std.eval()[1:]
    np.testing.assert_allclose(np.log(ss).mean(0), mu, atol=0.03)
    np.testing.assert_allclose(np.log(ss).std(0), sd, rtol=0.03)


def test_symbolic_size(normal_q):
    _, x, _, q = normal_q
    i = pt.iscalar("i")
    node = q.sample_node(x**2, size=i)
    assert node.eval({i: 100}).shape == (100,)
    assert node.eval({i: 10000}).shape == (10000,)
    with pytest.raises(TypeError, match="integer scalar"):
        q.sample_node(x, size=pt.dvector("v"))
    with pytest.raises(ValueError, match="size"):
        q.sample_node(x, size=0)


def test_deterministic_flag(normal_q):
    _, x, _, q = normal_q
    assert float(q.sample_node(2 * x, deterministic=True).eval()) == pytest.approx(0.68)
    flag = pytensor.shared(False)
    node = q.sample_node(x, size=5, deterministic=flag)
    stochastic = node.eval()
    assert len(set(stochastic.tolist())) == 5
    flag.set_value(True)
    np.testing.assert_allclose(node.eval(), np.full(5, 0.34))
    np.testing.assert_allclose(node.eval(), np.full(5, 0.34))
    flag.set_value(False)
    assert not np.allclose(node.eval(), stochastic)
    with pytest.raises(TypeError, match="deterministic"):
        q.sample_node(x, deterministic="yes")


def test_more_replacements_swaps_data():
    rng = np.random.default_rng(0)
    X_train, X_test = rng.normal(size=(30, 2)), rng.normal(size=(7, 2))
    Xt = pytensor.shared(X_train)
    with pm.Model():
        w = pm.Normal("w", 0, 1, shape=2)
        mu = Xt.dot(w)
        pm.Normal("y", mu, 1.0, observed=X_train @ np.array([1.0, -1.0]))
        q = pm.MeanField(random_seed=3)
    train = q.sample_node(mu, size=4)
    test = q.sample_node(mu, size=4, more_replacements={Xt: X_test})
    assert train.eval().shape == (4, 30)
    assert test.eval().shape == (4, 7)
    at_mean = q.sample_node(mu, deterministic=True, more_replacements={Xt: X_test}).eval()
    np.testing.assert_allclose(at_mean, X_test @ q.mean.eval())


def test_sample_node_in_tracker_during_fit():
    with pm.Model():
        x = pm.Normal("x", 1.0, 0.5)
        advi = pm.ADVI(random_seed=4, start={"x": -3.0})
    node = advi.approx.sample_node(x, size=50)
    tracker = pm.callbacks.Tracker(draws=node.eval, mean=advi.approx.mean.eval)
    advi.fit(40, callbacks=[tracker], progressbar=False, obj_optimizer=pm.adam(learning_rate=0.1))
    draws = np.asarray(tracker["draws"])
    assert draws.shape == (40, 50)
    assert len({tuple(d) for d in draws}) == 40  # fresh every step
    # the draws follow the parameters as they change
    means = np.asarray(tracker["mean"])[:, 0]
    assert means[-1] - means[0] > 2
    assert np.corrcoef(draws.mean(1), means)[0, 1] > 0.9


def test_seeded_approximations_give_same_node_draws():
    vals = []
    for _ in range(2):
        with pm.Model():
            x = pm.Normal("x", 0, 1)
            q = pm.MeanField(random_seed=11)
        vals.append(q.sample_node(x, size=3).eval())
    np.testing.assert_array_equal(vals[0], vals[1])


# ---------------------------------------------------------------------- posterior predictive
def regression(n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=n)
    y = 1.0 + 2.0 * x + rng.normal(0, 0.1, size=n)
    with pm.Model(coords={"obs": np.arange(n)}) as model:
        xd = pm.Data("x", x, dims="obs")
        yd = pm.Data("y_obs", y, dims="obs")
        a = pm.Normal("a", 0, 10)
        b = pm.Normal("b", 0, 10)
        sigma = pm.HalfNormal("sigma", 1.0)
        mu = pm.Deterministic("mu", a + b * xd, dims="obs")
        pm.Normal("y", mu, sigma, observed=yd, dims="obs")
    return model


def test_posterior_predictive_after_set_data_predictions():
    model = regression()
    rng = np.random.default_rng(1)
    post = {"a": 1.0 + 0.01 * rng.normal(size=(2, 50)), "b": 2.0 + 0.01 * rng.normal(size=(2, 50)),
            "sigma": np.full((2, 50), 0.1)}
    import arviz as az

    idata = az.from_dict(posterior=post)
    pp = pm.sample_posterior_predictive(idata, model=model, random_seed=2)
    assert pp.posterior_predictive["y"].shape == (2, 50, 20)
    assert pp.posterior_predictive["y"].dims == ("chain", "draw", "obs")
    assert "observed_data" in pp.groups()
    # new inputs of another length
    x_new = np.array([0.0, 0.5, 1.0, 2.0, 3.0])
    with model:
        pm.set_data({"x": x_new, "y_obs": np.zeros(5)}, coords={"obs": [10, 11, 12, 13, 14]})
        preds = pm.sample_posterior_predictive(idata, var_names=["y", "mu"], predictions=True, random_seed=2)
    assert set(preds.groups()) == {"predictions", "predictions_constant_data"}
    y = preds.predictions["y"]
    assert y.shape == (2, 50, 5)
    assert y.coords["obs"].values.tolist() == [10, 11, 12, 13, 14]
    np.testing.assert_allclose(y.mean(("chain", "draw")), 1.0 + 2.0 * x_new, atol=0.05)
    np.testing.assert_allclose(y.std(("chain", "draw")), 0.1, rtol=0.3)
    np.testing.assert_allclose(preds.predictions["mu"].values, post["a"][..., None] + post["b"][..., None] * x_new)
    np.testing.assert_allclose(preds.predictions_constant_data["x"], x_new)
    # seeded: same draws again
    with model:
        again = pm.sample_posterior_predictive(idata, var_names=["y", "mu"], predictions=True, random_seed=2)
    np.testing.assert_array_equal(again.predictions["y"], y)
    # extend the trace in place
    with model:
        out = pm.sample_posterior_predictive(idata, predictions=True, extend_inferencedata=True, random_seed=3)
    assert out is idata and "predictions" in idata.groups() and "posterior" in idata.groups()


def test_posterior_predictive_from_approximation_and_errors():
    model = regression(seed=3)
    with model:
        approx = pm.fit(3000, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.05))
        trace = approx.sample(100, random_seed=1)
        pp = pm.sample_posterior_predictive(trace, random_seed=1, return_inferencedata=False)
    assert pp["y"].shape == (1, 100, 20)
    resid = pp["y"].mean((0, 1)) - model["y_obs"].get_value()
    assert np.abs(resid).mean() < 0.1
    with model:
        with pytest.raises(KeyError, match="nope"):
            pm.sample_posterior_predictive(trace, var_names=["nope"])
        with pytest.raises(TypeError, match="trace"):
            pm.sample_posterior_predictive([1, 2, 3])
        with pytest.raises(TypeError, match="InferenceData"):
            pm.sample_posterior_predictive({"a": np.ones(3), "b": np.ones(3), "sigma": np.ones(3)}, extend_inferencedata=True)
