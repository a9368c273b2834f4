"""Optimizers: the calling convention, each update rule against numpy, and convergence."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symvi as pm
from symvi.variational import optimizers as opt

MODE = "FAST_COMPILE"  # tiny graphs: the Python linker compiles instantly
ALL = ["sgd", "momentum", "nesterov_momentum", "adagrad", "adagrad_window", "rmsprop", "adadelta", "adam", "adamax"]


def run(optimizer, steps, start=(3.0, -2.0)):
    w = pytensor.shared(np.array(start), name="w")
    loss = pt.sum((w - np.array([1.0, 0.5])) ** 2)
    f = pytensor.function([], loss, updates=optimizer(loss, [w]), mode=MODE)
    losses = [f() for _ in range(steps)]
    return w.get_value(), losses


@pytest.mark.parametrize("name", ALL)
def test_every_optimizer_minimises_a_quadratic(name):
    lr = {"sgd": 0.1, "momentum": 0.05, "nesterov_momentum": 0.05, "adagrad": 0.5, "adagrad_window": 0.1, "rmsprop": 0.05, "adadelta": 1.0, "adam": 0.1, "adamax": 0.1}[name]
    w, losses = run(getattr(pm, name)(learning_rate=lr), 3000 if name == "adadelta" else 600)
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(w, [1.0, 0.5], atol=0.05)


def test_partial_convention_and_bad_calls():
    configured = pm.adam(learning_rate=0.3)
    assert callable(configured) and configured.keywords == {"learning_rate": 0.3}
    w = pytensor.shared(np.zeros(2), name="w")
    updates = configured(pt.sum(w**2), [w])
    assert w in updates and len(updates) == 4  # w, two moments, step counter
    with pytest.raises(ValueError, match="both"):
        pm.adam(pt.sum(w**2))
    with pytest.raises(ValueError, match="n_win"):
        pm.adagrad_window(n_win=0)
    with pytest.raises(ValueError, match="gradients"):
        pm.sgd([pt.ones(2), pt.ones(2)], [w])


def test_adam_first_steps_match_numpy():
    g_fn = lambda w: 2 * (w - np.array([1.0, 0.5]))  # noqa: E731
    w_np, m, v = np.array([3.0, -2.0]), np.zeros(2), np.zeros(2)
    for t in range(1, 4):
        g = g_fn(w_np)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g**2
        w_np = w_np - 0.1 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m / (np.sqrt(v) + 1e-8)
    w, _ = run(pm.adam(learning_rate=0.1), 3)
    np.testing.assert_allclose(w, w_np, rtol=1e-12)


def test_adagrad_window_uses_only_the_last_n_gradients():
    # with n_win=1 the step is lr * g / sqrt(g^2 + eps): ~lr in the direction of -sign(g)
    w, _ = run(pm.adagrad_window(learning_rate=0.01, n_win=1, epsilon=1e-12), 1)
    np.testing.assert_allclose(w, [3.0 - 0.01, -2.0 + 0.01], rtol=1e-9)


def test_total_norm_constraint():
    g = opt.total_norm_constraint([pt.as_tensor([3.0, 0.0]), pt.as_tensor([4.0])], max_norm=1.0)
    out = [x.eval() for x in g]
    assert abs(np.sqrt(sum((o**2).sum() for o in out)) - 1.0) < 1e-6
    small = opt.total_norm_constraint([pt.as_tensor([0.3])], max_norm=1.0)[0].eval()
    np.testing.assert_allclose(small, [0.3], rtol=1e-6)


def test_chain_composes_transforms():
    t = opt.chain(opt.scale(2.0), opt.scale(-0.5))
    w = pytensor.shared(np.array([1.0]), name="w")
    updates = opt.apply_transform(t, [pt.as_tensor([4.0])], [w])
    pytensor.function([], [], updates=updates, mode=MODE)()
    np.testing.assert_allclose(w.get_value(), [1.0 - 4.0])


def test_exponential_decay_schedule_values_and_fit():
    import pytensor
    import pytensor.tensor as pt

    sched = pm.exponential_decay(0.1, 1e-3, 100)
    t = pt.dscalar("t")
    f = pytensor.function([t], sched(t))
    np.testing.assert_allclose([f(1.0), f(51.0), f(101.0), f(1000.0)], [0.1, 0.01, 1e-3, 1e-3])
    # sgd with a schedule: w <- w - lr_t * 2w on loss w**2, checked step by step
    w = pytensor.shared(np.array([1.0]), name="w")
    step = pm.sgd(pt.sum(w**2), [w], learning_rate=pm.exponential_decay(0.25, 0.0025, 2))
    fn = pytensor.function([], [], updates=step)
    expected = 1.0
    for k in range(1, 5):
        fn()
        expected *= 1 - 2 * 0.25 * 0.01 ** min((k - 1) / 2, 1)
        np.testing.assert_allclose(w.get_value(), [expected])


@pytest.mark.parametrize("bad", [-1.0, np.nan, np.inf])
def test_learning_rate_must_be_finite_and_not_negative(bad):
    with pytest.raises(ValueError, match="learning_rate must be a finite number >= 0"):
        pm.adam(learning_rate=bad)
    with pytest.raises(ValueError, match="exponential_decay"):
        pm.exponential_decay(bad, 1e-3, 10)
    with pytest.raises(ValueError, match="exponential_decay"):
        pm.exponential_decay(0.1, 0.0, 10)


def test_scheduled_fit_is_checkpointed_and_resumes_exactly(tmp_path):
    def model():
        with pm.Model() as m:
            pm.Normal("x", 3.0, 0.1)
        return m

    opt = pm.adam(learning_rate=pm.exponential_decay(0.1, 1e-4, 200))
    whole = pm.fit(200, model=model(), random_seed=2, progressbar=False, obj_optimizer=opt)
    half = pm.fit(120, model=model(), random_seed=2, progressbar=False, obj_optimizer=opt)
    loaded = pm.load(half.save(tmp_path / "s.npz"), model())
    assert loaded.resumable
    loaded.inference.refine(80, progressbar=False)
    np.testing.assert_array_equal(loaded.get_params()["mu"], whole.get_params()["mu"])
    assert abs(whole.mean.eval()[0] - 3.0) < 0.02


def _run(updates_of, steps=6):
    w = pytensor.shared(np.array([1.5, -2.0]), name="w")
    fn = pytensor.function([], [], updates=updates_of(pt.sum(w**2 + 0.3 * w**4), [w]))
    out = []
    for _ in range(steps):
        fn()
        out.append(w.get_value().copy())
    return np.array(out)


def test_apply_momentum_on_sgd_is_heavy_ball_momentum():
    composed = _run(lambda loss, ps: pm.apply_momentum(pm.sgd(loss, ps, learning_rate=0.05), momentum=0.7))
    builtin = _run(lambda loss, ps: pm.momentum(loss, ps, learning_rate=0.05, momentum=0.7))
    np.testing.assert_allclose(composed, builtin, rtol=1e-12)


def test_apply_nesterov_momentum_by_hand():
    lr, mu = 0.05, 0.7
    got = _run(lambda loss, ps: pm.apply_nesterov_momentum(pm.sgd(loss, ps, learning_rate=lr), momentum=mu))
    w, v = np.array([1.5, -2.0]), np.zeros(2)
    for row in got:
        step = -lr * (2 * w + 1.2 * w**3)
        v = mu * v + step
        w = w + mu * v + step
        np.testing.assert_allclose(row, w, rtol=1e-12)
    with pytest.raises(ValueError, match="parameter 'q' has no update"):
        pm.apply_momentum({}, params=[pytensor.shared(np.zeros(1), name="q")])


def test_norm_constraint_against_numpy():
    x = np.random.default_rng(2).normal(size=(4, 3)) * 3
    got = pm.norm_constraint(pt.as_tensor(x), 2.0).eval()
    norms = np.sqrt((x**2).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(got, x * np.minimum(norms, 2.0) / (norms + 1e-7), rtol=1e-12)
    assert np.all(np.sqrt((got**2).sum(axis=0)) <= 2.0 + 1e-9)
    t = np.random.default_rng(3).normal(size=(2, 3, 4))
    got3 = pm.norm_constraint(pt.as_tensor(t), 1.0).eval()
    assert np.all(np.sqrt((got3**2).sum(axis=(1, 2))) <= 1.0 + 1e-9)
