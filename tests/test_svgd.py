"""SVGD / ASVGD / Empirical: the seed notebook's mixture and iris examples, plus API checks."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symvi as pm
from symvi.variational.svgd import rbf_kernel, stein_direction

W, MU, SD = np.array([0.2, 0.8]), np.array([-0.3, 0.5]), np.array([0.1, 0.1])
BOUNDARY = 0.1  # between the modes; the mixture density there is ~1e-4 of a mode's


def mixture_model():
    with pm.Model() as model:
        x = pm.NormalMixture("x", w=W, mu=MU, sigma=SD)
    return model, x


@pytest.fixture(scope="module")
def mixture_fit():
    model, x = mixture_model()
    with model:
        # SVGD keeps each particle in the basin it starts in: N(0.5, 0.5^2) puts ~20% of the
        # particles left of the boundary, like the mixture weights
        svgd = pm.SVGD(n_particles=200, jitter=0.5, start={"x": 0.5}, random_seed=2)
        approx = svgd.fit(800, obj_optimizer=pm.adam(learning_rate=0.02), progressbar=False)
    return svgd, approx, x


def test_svgd_mixture_is_bimodal(mixture_fit):
    svgd, approx, _ = mixture_fit
    h = approx.histogram.get_value()[:, 0]
    assert h.shape == (200,)
    assert not np.any((h > 0.0) & (h < 0.2))  # nothing between the modes
    left, right = h[h < BOUNDARY], h[h >= BOUNDARY]
    assert len(right) > 2 * len(left) > 0
    for part, m in ((left, -0.3), (right, 0.5)):
        assert abs(part.mean() - m) < 0.02
        assert 0.08 < part.std() < 0.12
    assert abs(len(left) / 200 - 0.2) < 0.08
    # the surrogate loss (-mean logp of the particles) is recorded and goes down
    assert len(svgd.hist) == 800 and np.all(np.isfinite(svgd.hist))
    assert svgd.hist[-50:].mean() < svgd.hist[:50].mean()
    assert svgd.loss_label == "Average -logp(particles)"


def test_svgd_sample_node_moments_match_mixture(mixture_fit):
    _, approx, x = mixture_fit
    draws = approx.sample_node(x**2, size=2000).eval()
    assert draws.shape == (2000,)
    # analytic moments of x^2 under the mixture: E = sum w (mu^2 + s^2), E[x^4] = sum w (m^4 + 6 m^2 s^2 + 3 s^4)
    m2 = np.sum(W * (MU**2 + SD**2))
    m4 = np.sum(W * (MU**4 + 6 * MU**2 * SD**2 + 3 * SD**4))
    assert abs(draws.mean() - m2) < 0.02
    assert abs(draws.var() - (m4 - m2**2)) < 0.004
    # and exactly the particles' distribution (up to Monte Carlo error)
    h2 = approx.histogram.get_value()[:, 0] ** 2
    assert abs(draws.mean() - h2.mean()) < 4 * h2.std() / np.sqrt(2000)
    idata = approx.sample(2000, random_seed=1)
    xs = idata.posterior["x"].values.ravel()
    left_share = np.mean(approx.histogram.get_value()[:, 0] < BOUNDARY)
    assert np.mean(xs < BOUNDARY) == pytest.approx(left_share, abs=0.04)


def test_fit_method_svgd_and_seed_reproducible():
    model, _ = mixture_model()
    runs = []
    for _ in range(2):
        with model:
            approx = pm.fit(
                30, method="svgd", inf_kwargs=dict(n_particles=200, jitter=0.5), start={"x": 0.5},
                random_seed=5, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02),
            )
        assert isinstance(approx, pm.Empirical)
        assert isinstance(approx.inference, pm.SVGD)
        runs.append(approx.histogram.get_value())
    np.testing.assert_array_equal(runs[0], runs[1])
    with model, pytest.raises(TypeError, match="start_sigma"):
        pm.fit(10, method="svgd", start_sigma={"x": 1.0})


def test_rbf_kernel_and_direction_against_numpy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 3))
    G = rng.normal(size=(7, 3))
    d2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    h = np.median(d2[np.triu_indices(7, k=1)]) / np.log(8)  # median over distinct pairs
    K = np.exp(-d2 / h)
    # grad_{x_j} k(x_j, x_i) summed over j, by finite differences
    eps = 1e-6
    R = np.zeros_like(X)
    for j in range(7):
        for d in range(3):
            Xp = X.copy()
            Xp[j, d] += eps
            Kp = np.exp(-((Xp[j] - X) ** 2).sum(-1) / h)  # k(x_j + e, x_i) for every i
            R[:, d] += (Kp - K[j]) / eps
    Kt, Rt = rbf_kernel(pt.as_tensor(X))
    np.testing.assert_allclose(Kt.eval(), K, rtol=1e-10)
    np.testing.assert_allclose(Rt.eval(), R, rtol=1e-4, atol=1e-6)
    phi = stein_direction(pt.as_tensor(X), pt.as_tensor(G), temperature=2.0).eval()
    np.testing.assert_allclose(phi, (K @ G / 2.0 + R) / 7, rtol=1e-4, atol=1e-6)


def test_svgd_argument_errors():
    model, _ = mixture_model()
    with model:
        with pytest.raises(ValueError, match="temperature"):
            pm.SVGD(temperature=0)
        with pytest.raises(ValueError, match="n_particles must be a positive integer"):
            pm.SVGD(n_particles=0)
        with pytest.raises(ValueError, match="jitter"):
            pm.SVGD(jitter=-1)


def test_asvgd_fits_and_rejects_start():
    rng = np.random.default_rng(0)
    y = rng.normal(1.5, 1.0, size=20)
    with pm.Model():
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1.0, observed=y)
        with pytest.raises(TypeError, match="start"):
            pm.ASVGD(start={"mu": 1.0})
        with pytest.raises(TypeError, match="start"):
            pm.fit(10, method="asvgd", start={"mu": 1.0})
        with pytest.raises(TypeError, match="parametric"):
            pm.ASVGD(approx=pm.Empirical(size=3))
        approx = pm.fit(1500, method="asvgd", random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02), obj_n_mc=50)
    assert isinstance(approx, pm.MeanField) and isinstance(approx.inference, pm.ASVGD)
    post_prec = 1 / 100 + 20
    assert abs(approx.mean.eval()[0] - y.sum() / post_prec) < 0.05
    # finite-particle ASVGD is known to under-disperse a little
    assert 0.6 * post_prec**-0.5 < approx.std.eval()[0] < 1.3 * post_prec**-0.5
    assert np.all(np.isfinite(approx.hist)) and approx.hist[-100:].mean() < approx.hist[:100].mean()


def test_empirical_from_dict_and_inferencedata():
    with pm.Model() as model:
        s = pm.HalfNormal("s", 1.0)
        b = pm.Normal("b", 0, 1, shape=2)
    rng = np.random.default_rng(0)
    trace = {"s": rng.gamma(2.0, 0.5, size=40), "b": rng.normal(size=(40, 2))}
    approx = pm.Empirical(trace=trace, model=model)
    hist = approx.histogram.get_value()
    assert hist.shape == (40, 3)
    by_name = approx.layout.unravel(hist)
    np.testing.assert_allclose(np.exp(by_name["s_log__"]), trace["s"])
    np.testing.assert_allclose(by_name["b"], trace["b"])
    np.testing.assert_allclose(approx.mean.eval(), hist.mean(0))
    np.testing.assert_allclose(approx.std.eval(), hist.std(0))
    np.testing.assert_allclose(approx.cov.eval(), np.cov(hist.T, bias=True))
    # draws are particles
    idata = approx.sample(100, random_seed=3)
    assert set(np.round(idata.posterior["s"].values.ravel(), 10)) <= set(np.round(trace["s"], 10))
    # round trip through InferenceData (chain x draw pooled), and unconstrained names
    again = pm.Empirical(trace=idata, model=model)
    assert again.histogram.get_value().shape == (100, 3)
    raw = pm.Empirical(trace={"s_log__": np.zeros(5), "b": np.zeros((5, 2))}, model=model)
    np.testing.assert_allclose(raw.histogram.get_value(), 0.0)
    with pytest.raises(KeyError, match="b"):
        pm.Empirical(trace={"s": trace["s"]}, model=model)
    with pytest.raises(ValueError, match="non-finite"):
        pm.Empirical(trace={"s": -np.ones(3), "b": np.zeros((3, 2))}, model=model)


# ---------------------------------------------------------------------- seed notebook: iris
def iris_data(seed=0):
    try:
        from sklearn.datasets import load_iris

        X, y = load_iris(return_X_y=True)
    except ImportError:  # a synthetic 3-class, nearly linearly separable stand-in
        rng = np.random.default_rng(seed)
        centers = np.array([[5.0, 3.4, 1.5, 0.25], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
        y = np.repeat(np.arange(3), 50)
        X = centers[y] + rng.normal(scale=[0.35, 0.3, 0.25, 0.15], size=(150, 4))
    perm = np.random.default_rng(seed + 1).permutation(len(y))
    tr, te = perm[:112], perm[112:]
    return X[tr], X[te], y[tr], y[te]


def test_iris_svgd_tracker_accuracy():
    X_train, X_test, y_train, y_test = iris_data()
    Xt = pytensor.shared(X_train)
    yt = pytensor.shared(y_train)
    with pm.Model():
        β = pm.Normal("β", 0, sigma=1e2, shape=(4, 3))
        a = pm.Normal("a", sigma=1e4, shape=(3,))
        p = pt.special.softmax(Xt.dot(β) + a, axis=-1)
        pm.Categorical("obs", p=p, observed=yt)
        inference = pm.SVGD(n_particles=100, jitter=1, random_seed=1)
    approx = inference.approx
    test_probs = approx.sample_node(p, more_replacements={Xt: X_test}, size=100)
    train_probs = approx.sample_node(p)
    assert test_probs.eval().shape == (100, len(y_test), 3)
    test_accuracy = pt.eq(test_probs.argmax(-1), y_test).mean(-1)
    train_accuracy = pt.eq(train_probs.argmax(-1), y_train).mean(-1)
    tracker = pm.callbacks.Tracker(test_accuracy=test_accuracy.eval, train_accuracy=train_accuracy.eval)
    inference.fit(300, obj_optimizer=pm.adamax(learning_rate=0.1), callbacks=[tracker], progressbar=False)
    test_acc = np.asarray(tracker["test_accuracy"])
    assert test_acc.shape == (300, 100)
    assert test_acc[:5].mean() < 0.8  # it did have to learn
    assert test_acc[-20:].mean() > 0.9
    assert np.mean(tracker["train_accuracy"][-20:]) > 0.9


def test_empirical_has_no_density():
    with pm.Model():
        pm.Normal("x", 0, 1)
        q = pm.Empirical(size=5, jitter=1.0, random_seed=0)
    with pytest.raises(TypeError, match="Empirical has no density: logq"):
        q.logq(pt.zeros((2, 1)))
    with pytest.raises(TypeError, match="Empirical has no density: its entropy"):
        q.entropy()
