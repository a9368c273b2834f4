"""Out-of-sample prediction: ``shape=x.shape`` of a Data container, observed variables that
follow their parameters' shape after ``set_data``, coords of the ``predictions`` group.

The approximations' parameters are set by hand (no fit) where the test is about prediction,
so the expected moments of the predictions are known in closed form:
``y* = a + b x* + s eps`` with (a, b, log s) ~ q gives ``E[y*] = E[a] + E[b] x*`` and
``Var[y*] = Var(a) + 2 x* Cov(a, b) + x*^2 Var(b) + E[s^2]``, ``E[s^2] = exp(2 m + 2 v)``
for ``log s ~ N(m, v)``.
"""

import numpy as np
import pytensor
import pytest
from scipy import stats

import symvi as pm

X_TRAIN = np.random.default_rng(0).normal(size=100)
Y_TRAIN = 1.0 + 2.0 * X_TRAIN + 0.5 * np.random.default_rng(1).normal(size=100)
X_TEST = np.linspace(-2.0, 2.0, 7)
DRAWS = 4000


def regression(form: str):
    """The PyMC-docs regression in one of its three spellings."""
    coords = {"obs_id": np.arange(100)} if form == "dims" else None
    with pm.Model(coords=coords) as m:
        x = pm.Data("x", X_TRAIN, dims="obs_id" if form == "dims" else None)
        a = pm.Normal("a", 0, 1)
        b = pm.Normal("b", 0, 1)
        s = pm.HalfNormal("s", 1)
        if form == "shape":
            pm.Normal("y", a + b * x, s, observed=Y_TRAIN, shape=x.shape)
        elif form == "dims":
            pm.Normal("y", a + b * x, s, observed=Y_TRAIN, dims="obs_id")
        else:
            pm.Normal("y", a + b * x, s, observed=Y_TRAIN)
    return m


def moments(mean, cov, x):
    """Closed-form mean and sd of y* at x for q = N(mean, cov) over (a, b, log s)."""
    m = mean[0] + mean[1] * x
    var = cov[0, 0] + 2 * x * cov[0, 1] + x**2 * cov[1, 1] + np.exp(2 * mean[2] + 2 * cov[2, 2])
    return m, np.sqrt(var)


def check_predictions(y, mean, cov):
    """Predictions ``y`` (chain, draw, 7) against the closed forms, within Monte Carlo error."""
    m, sd = moments(mean, cov, X_TEST)
    vals = y.values.reshape(-1, len(X_TEST))
    se = sd / np.sqrt(vals.shape[0])
    assert np.all(np.abs(vals.mean(0) - m) < 4 * se), (vals.mean(0), m)
    np.testing.assert_allclose(vals.std(0), sd, rtol=0.06)


@pytest.mark.parametrize("form", ["shape", "plain", "dims"])
def test_mean_field_predictions_have_the_new_length(form):
    m = regression(form)
    with m:
        q = pm.MeanField(random_seed=1)
    mean = np.array([1.0, 2.0, np.log(0.5)])
    sd = np.array([0.3, 0.2, 0.1])
    q.set_params({"mu": mean, "rho": np.log(np.expm1(sd))})
    idata = q.sample(DRAWS, random_seed=2)
    assert idata.constant_data["x"].shape == (100,)  # approx.sample records the training inputs
    with m:
        pm.set_data({"x": X_TEST}, coords={"obs_id": list("abcdefg")} if form == "dims" else None)
        pred = pm.sample_posterior_predictive(idata, predictions=True, random_seed=3)
    y = pred.predictions["y"]
    assert y.shape == (1, DRAWS, 7)
    if form == "dims":
        assert y.dims == ("chain", "draw", "obs_id")
        assert y.coords["obs_id"].values.tolist() == list("abcdefg")
        assert pred.predictions_constant_data["x"].coords["obs_id"].values.tolist() == list("abcdefg")
    np.testing.assert_allclose(pred.predictions_constant_data["x"], X_TEST)
    check_predictions(y, mean, np.diag(sd**2))


def test_full_rank_predictions_use_the_correlation():
    """With a strong a-b correlation the predictive sd differs from the independent case
    by far more than the Monte Carlo error; the draws match the correlated closed form."""
    m = regression("plain")
    with m:
        q = pm.FullRank(random_seed=1)
    mean = np.array([1.0, 2.0, np.log(0.3)])
    L = np.array([[0.4, 0.0, 0.0], [-0.36, 0.1744, 0.0], [0.0, 0.0, 0.1]])  # corr(a, b) = -0.9
    cov = L @ L.T
    q.set_params({"mu": mean, "L_tril": L[np.tril_indices(3)]})
    idata = q.sample(DRAWS, random_seed=4)
    with m:
        pm.set_data({"x": X_TEST})
        pred = pm.sample_posterior_predictive(idata, predictions=True, random_seed=5)
    y = pred.predictions["y"]
    assert y.shape == (1, DRAWS, 7) and y.dims[-1] == "y_dim_0"
    check_predictions(y, mean, cov)
    _, independent = moments(mean, np.diag(np.diag(cov)), X_TEST)
    assert np.abs(y.values.std((0, 1)) - independent).max() > 0.2


def test_prediction_after_a_fit():
    """ADVI on the regression, then predictions at new inputs: their mean is the fitted line."""
    m = regression("plain")
    with m:
        approx = pm.fit(3000, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02))
        idata = approx.sample(2000, random_seed=2)
        pm.set_data({"x": X_TEST})
        pred = pm.sample_posterior_predictive(idata, predictions=True, random_seed=3)
    a_mean = idata.posterior["a"].values.mean()
    b_mean = idata.posterior["b"].values.mean()
    ls = np.polyfit(X_TRAIN, Y_TRAIN, 1)  # the posterior is close to least squares (100 points)
    assert abs(b_mean - ls[0]) < 0.1 and abs(a_mean - ls[1]) < 0.1
    ybar = pred.predictions["y"].values.mean((0, 1))
    np.testing.assert_allclose(ybar, a_mean + b_mean * X_TEST, atol=4 * 0.55 / np.sqrt(2000) + 0.01)


def test_symbolic_shape_logp_and_errors():
    m = regression("shape")
    y = m["y"]
    assert y.type.shape == (None,)  # follows the container, not fixed at 100
    logp = m.compile_logp()
    point = {"a": np.array(0.5), "b": np.array(1.5), "s_log__": np.array(np.log(0.7))}
    expect = (
        stats.norm(0, 1).logpdf(0.5)
        + stats.norm(0, 1).logpdf(1.5)
        + stats.halfnorm(scale=1).logpdf(0.7)
        + np.log(0.7)  # log-Jacobian of s = exp(s_log__)
        + stats.norm(0.5 + 1.5 * X_TRAIN, 0.7).logpdf(Y_TRAIN).sum()
    )
    np.testing.assert_allclose(logp(point), expect, rtol=1e-10)
    with pm.Model():
        x = pm.Data("x", np.zeros(5))
        with pytest.raises(ValueError, match=r"'y'.*\(3,\).*\(5,\)"):
            pm.Normal("y", x, 1, observed=np.zeros(3), shape=x.shape)
        with pytest.raises(ValueError, match="'w'.*shape= or size="):
            pm.Normal("w", 0, 1, shape=x.shape, size=5)
        z = pm.Normal("z", 0, 1, shape=(x.shape[0], 2))  # a symbolic entry next to an integer
        assert z.eval().shape == (5, 2)
        pm.set_data({"x": np.zeros(3)})
        assert z.eval().shape == (3, 2)


def test_only_axes_the_parameters_vary_along_follow_them():
    """A scalar mean repeated over observations keeps the observed length; a mean that varies
    along the rows only (x[:, None]) takes the new row count and keeps the 3 columns."""
    with pm.Model() as m:
        x = pm.Data("x", np.arange(4.0))
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("flat", mu, 1.0, observed=np.zeros(10))
        pm.Normal("rows", mu + 10 * x[:, None], 1e-3, observed=np.zeros((4, 3)))
    post = {"mu": np.zeros(5)}  # a dict holds (draw, ...) arrays
    pm.set_data({"x": np.arange(6.0)}, model=m)
    pred = pm.sample_posterior_predictive(post, model=m, predictions=True, random_seed=1)
    assert pred.predictions["flat"].shape == (1, 5, 10)
    rows = pred.predictions["rows"].values
    assert rows.shape == (1, 5, 6, 3)
    np.testing.assert_allclose(rows[0, 0], np.repeat(10 * np.arange(6.0)[:, None], 3, axis=1), atol=0.01)


def test_unchanged_data_draws_are_unchanged():
    """Without set_data, predictions of a Data-driven model are those of the original
    variable: the same generator, so a seed gives the same numbers as drawing it directly."""
    m = regression("plain")
    post = {"a": np.full(3, 1.0), "b": np.full(3, 2.0), "s": np.full(3, 0.5)}
    first = pm.sample_posterior_predictive(post, model=m, random_seed=7, return_inferencedata=False)["y"]
    again = pm.sample_posterior_predictive(post, model=m, random_seed=7, return_inferencedata=False)["y"]
    assert first.shape == (1, 3, 100)
    np.testing.assert_array_equal(first, again)
    resid = (first - (1.0 + 2.0 * X_TRAIN)) / 0.5
    assert abs(resid.std() - 1.0) < 0.15
    assert pytensor.config.floatX in (str(first.dtype), "float64")


def test_logistic_regression_predictions():
    """The discrete case of the docs pattern: Bernoulli(logit_p = a + b x) observed at 100
    points, predicted at 7; with q concentrated at (a, b) = (0.5, -1) the predicted frequencies
    are sigmoid(0.5 - x*) within binomial error."""
    yb = (np.random.default_rng(2).uniform(size=100) < 0.5).astype("int64")
    with pm.Model() as m:
        x = pm.Data("x", X_TRAIN)
        a = pm.Normal("a", 0, 1)
        b = pm.Normal("b", 0, 1)
        pm.Bernoulli("y", logit_p=a + b * x, observed=yb)
        q = pm.MeanField(random_seed=1)
    q.set_params({"mu": np.array([0.5, -1.0]), "rho": np.full(2, np.log(np.expm1(1e-4)))})
    idata = q.sample(DRAWS, random_seed=2)
    with m:
        pm.set_data({"x": X_TEST})
        pred = pm.sample_posterior_predictive(idata, predictions=True, random_seed=3)
    y = pred.predictions["y"].values
    assert y.shape == (1, DRAWS, 7) and set(np.unique(y)) <= {0, 1}
    p = 1 / (1 + np.exp(-(0.5 - X_TEST)))
    assert np.all(np.abs(y.mean((0, 1)) - p) < 4 * np.sqrt(p * (1 - p) / DRAWS))
