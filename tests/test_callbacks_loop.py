"""Watched fits: Trackers of expressions recorded inside the compiled loop, per-step callbacks.

A Tracker of expressions (or their bound ``.eval``) must give exactly what evaluating them in
Python after every step gives; stopping or interrupting from a callback at step i must keep
exactly i losses and the parameters of step i; a shared variable changed by a callback must be
seen by the very next step.
"""

import numpy as np
import pytensor
import pytest

import symvi as pm
from symvi.variational.callbacks import Tracker, loop_expression

Y = np.random.default_rng(5).normal([1.0, -2.0], 1.0, size=(30, 2))


def small_model():
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0, shape=2)
        pm.Normal("y", mu, 1.0, observed=Y)
    return model


def make_inference(method):
    model = small_model()
    with model:
        if method == "advi":
            return pm.ADVI(random_seed=3)
        if method == "fullrank_advi":
            return pm.FullRankADVI(random_seed=3)
        if method == "lowrank_advi":
            from symvi.variational.lowrank import LowRankADVI

            return LowRankADVI(rank=1, random_seed=3)
        return pm.SVGD(n_particles=8, random_seed=3)


def python_tracker(approx):
    """The same quantities, through plain callables: evaluated from Python after every step."""
    mean, std = approx.mean, approx.std
    return Tracker(mean=lambda: mean.eval(), std=lambda: std.eval())


def fit_tracked(method, in_loop, n=60):
    inf = make_inference(method)
    approx = inf.approx
    tracker = Tracker(mean=approx.mean.eval, std=approx.std) if in_loop else python_tracker(approx)
    assert (tracker.loop_expressions() is not None) == in_loop
    inf.fit(n, callbacks=[tracker], progressbar=False, obj_optimizer=pm.adam(learning_rate=0.05))
    return inf, tracker


@pytest.mark.parametrize(
    "method",
    ["advi", pytest.param("fullrank_advi", marks=pytest.mark.slow), pytest.param("lowrank_advi", marks=pytest.mark.slow), "svgd"],
)
def test_in_loop_tracker_equals_python_evaluation(method):
    inf_a, loop = fit_tracked(method, in_loop=True)
    inf_b, python = fit_tracked(method, in_loop=False)
    np.testing.assert_array_equal(inf_a.hist, inf_b.hist)
    for key in ("mean", "std"):
        assert len(loop[key]) == len(python[key]) == 60
        for i, (a, b) in enumerate(zip(loop[key], python[key])):
            assert np.shape(a) == np.shape(b)
            # equal to rounding: the compiled loop may sum in another order (fused kernels)
            np.testing.assert_allclose(a, b, rtol=1e-14, atol=0, err_msg=f"{method} {key} after step {i + 1}")
    # the loop ran in large chunks: nothing forced one compiled call per step
    assert len(inf_a._state[0]._fns) == 1


def test_in_loop_tracker_thins_by_every_and_continues_on_refine():
    inf = make_inference("advi")
    tracker = Tracker(mean=inf.approx.mean)
    tracker.every = 7
    inf.fit(30, callbacks=[tracker], progressbar=False)
    assert len(tracker["mean"]) == 4  # steps 7, 14, 21, 28
    inf.refine(12, progressbar=False)
    assert len(tracker["mean"]) == 6  # steps 35, 42
    np.testing.assert_array_equal(tracker["mean"][-1], inf.approx.mean.eval())


def test_loop_expression_accepts_only_deterministic_expressions_of_shared_state():
    inf = make_inference("advi")
    approx = inf.approx
    assert loop_expression(approx.mean) is approx.mean
    assert loop_expression(approx.std.eval) is not None
    assert loop_expression(lambda: approx.mean.eval()) is None  # any other callable: called from Python
    assert loop_expression(approx.random().eval) is None  # draws random numbers
    assert loop_expression(pytensor.tensor.dvector("free").eval) is None  # not computable alone


@pytest.mark.parametrize("signal", [StopIteration, KeyboardInterrupt])
def test_stopping_from_a_callback_keeps_exactly_that_step(signal):
    stop_at = 23

    def stopper(approx, losses, i):
        assert len(losses) == i
        if i == stop_at:
            raise signal("stop")

    inf = make_inference("advi")
    tracker = Tracker(mean=inf.approx.mean.eval)  # recorded in the loop, up to the stopping step
    inf.fit(100, callbacks=[tracker, stopper], progressbar=False, obj_optimizer=pm.adam(learning_rate=0.05))
    assert len(inf.hist) == stop_at and len(tracker["mean"]) == stop_at

    ref = make_inference("advi")
    ref.fit(stop_at, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.05))
    np.testing.assert_array_equal(inf.hist, ref.hist)
    for name, value in ref.approx.get_params().items():
        np.testing.assert_array_equal(inf.approx.get_params()[name], value)
    np.testing.assert_array_equal(tracker["mean"][-1], ref.approx.mean.eval())


def test_a_tracker_after_the_stopping_callback_misses_that_step():
    def stopper(approx, losses, i):
        if i == 5:
            raise StopIteration

    inf = make_inference("advi")
    tracker = Tracker(mean=inf.approx.mean)
    inf.fit(20, callbacks=[stopper, tracker], progressbar=False)
    assert len(inf.hist) == 5 and len(tracker["mean"]) == 4  # as if it were called from Python


def test_learning_rate_set_by_a_callback_is_seen_by_the_next_step():
    lr = pytensor.shared(0.05, name="lr")

    def freeze(approx, losses, i):
        if i == 10:
            lr.set_value(0.0)

    inf = make_inference("advi")
    tracker = Tracker(mean=inf.approx.mean)
    inf.fit(15, callbacks=[freeze, tracker], progressbar=False, obj_optimizer=pm.sgd(learning_rate=lr))
    means = np.array(tracker["mean"])
    assert not np.array_equal(means[8], means[9])  # moving up to step 10
    for row in means[10:]:
        np.testing.assert_array_equal(row, means[9])  # step 11 on: a zero learning rate


def test_progressbar_and_a_per_step_callback_keep_the_losses(capsys):
    inf_a = make_inference("advi")
    inf_a.fit(40, progressbar=False)
    inf_b = make_inference("advi")
    seen = []
    inf_b.fit(40, progressbar=True, callbacks=[lambda approx, losses, i: seen.append(i)])
    np.testing.assert_array_equal(inf_a.hist, inf_b.hist)
    assert seen == list(range(1, 41))
    assert "Average Loss" in capsys.readouterr().out


def test_in_loop_tracker_keeps_every_finite_step_when_a_step_goes_non_finite():
    with pm.Model():
        x = pm.Normal("x", 0.0, 1.0)
        pm.Potential("explode", pm.math.exp(pm.math.exp(x)))  # overflows once x drifts up
        advi = pm.ADVI(random_seed=1, start={"x": 3.0})
    tracker = Tracker(mean=advi.approx.mean)
    with pytest.raises(FloatingPointError, match=r"at step \d+"):
        advi.fit(5000, callbacks=[tracker], progressbar=False, obj_optimizer=pm.sgd(learning_rate=1.0))
    assert len(tracker["mean"]) == len(advi.hist) > 0
    np.testing.assert_array_equal(tracker["mean"][-1], advi.approx.mean.eval())  # the last finite state


def test_fast_numba_call_matches_the_thunk_and_falls_back_on_other_input_types():
    from symvi.variational.fastcall import fast_numba_vm

    w = pytensor.shared(np.arange(3.0), name="w")
    rng = pytensor.shared(np.random.default_rng(0))
    nxt, eps = pytensor.tensor.random.normal(size=3, rng=rng, return_next_rng=True)
    f = pytensor.function([], w + eps, updates={w: w + eps, rng: nxt}, mode="NUMBA")
    f.vm = fast_numba_vm(f.vm)
    first = f()
    assert f.vm._entry is not None  # compiled once: later calls skip Numba's typing
    second = f()
    expected = np.random.default_rng(0)
    a = np.arange(3.0) + expected.normal(size=3)
    np.testing.assert_allclose(first, a)
    np.testing.assert_allclose(second, a + expected.normal(size=3))
    frozen = np.zeros(3)
    frozen.setflags(write=False)  # another Numba type: the ordinary thunk takes this call
    w.set_value(frozen, borrow=True)
    np.testing.assert_allclose(f(), expected.normal(size=3))


def test_fast_call_checks_a_new_array_again():
    """Arrays the previous call produced skip the type check; any other object is checked, so a
    non-contiguous array set by hand goes through the ordinary thunk and stays correct."""
    from symvi.variational.fastcall import fast_numba_vm

    w = pytensor.shared(np.zeros(3), name="w")
    f = pytensor.function([], w * 2.0, updates={w: w + 1.0}, mode="NUMBA")
    f.vm = fast_numba_vm(f.vm)
    f(), f()
    strided = np.arange(6.0)[::2]
    w.set_value(strided, borrow=True)
    np.testing.assert_array_equal(f(), [0.0, 4.0, 8.0])
    np.testing.assert_array_equal(f(), [2.0, 6.0, 10.0])


def test_the_loop_advances_its_generator_in_place_and_undoes_it_on_restore():
    """The compiled loop mutates its random generator (no per-call copy, ~50 us); a call undone
    by restore(mark) replays exactly the same draws."""
    from pytensor.scan.op import Scan
    from pytensor.tensor.random.type import RandomGeneratorType

    advi = make_inference("advi")
    advi.fit(5, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.05))
    step = next(iter(advi._steps.values()))
    compiled = next(iter(step.functions.values()))
    scans = [n for n in compiled.maker.fgraph.apply_nodes if isinstance(n.op, Scan)]
    rng_outs = [i for n in scans for i, o in enumerate(n.outputs) if isinstance(o.type, RandomGeneratorType)]
    assert rng_outs and all(i in scans[0].op.destroy_map for i in rng_outs)
    assert step.keeps_inputs
    mark = step.mark()
    first = step.run(3)[0]
    step.restore(mark)
    np.testing.assert_array_equal(step.run(3)[0], first)


def test_a_per_step_callback_changes_no_number():
    """Loops of one step (a callback every step) and of many give bit-identical fits."""
    results = []
    for callbacks in ([], [lambda approx, losses, i: None]):
        advi = make_inference("advi")
        advi.fit(300, callbacks=callbacks, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.05))
        results.append((advi.hist.copy(), advi.approx.mean.eval()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
