"""The JAX tier of symvi's default fit (symvi/variational/tiers.py, step.py): where JAX is
installed, a model new to Numba starts stepping on a JAX loop fed with draws made in numpy from
the loop's own generators, and moves to Numba once a background process has compiled it.  The
draws are the ones Numba makes, so the fit does not depend on where (or whether) it switches."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symvi as pm
from symvi.variational import step as step_module
from symvi.variational import jax_loop, tiers
from test_tiers import _FakeJob  # a background compile that reports ready after n polls

pytest.importorskip("jax")

Y = np.random.default_rng(5).normal(1.5, 1.0, size=40)
N_STEPS = 300


def _model(dist="Normal"):
    with pm.Model() as m:
        mu = getattr(pm, dist)("mu", 0.0, 10.0)
        sd = pm.HalfNormal("sd", 2.0)
        pm.Normal("y", mu, sd, observed=Y)
    return m


def _fit(model, backend=None, method="advi", callbacks=(), n=N_STEPS, **kwargs):
    used = []

    def record(approx, losses, i):
        used.append(approx.inference._state[0].last_backend)

    record.every = 50  # chunk boundaries (and so the switch points) at fixed steps
    inference = pm.ADVI(model=model, random_seed=3) if method == "advi" else pm.FullRankADVI(model=model, random_seed=3)
    inference.fit(n, backend=backend, progressbar=False, callbacks=[record, *callbacks], **kwargs)
    return inference, used


@pytest.fixture
def jax_tier(monkeypatch):
    """The JAX tier on (the test suite turns it off), every graph new to Numba."""
    monkeypatch.setenv("SYMVI_JAX_TIER", "1")
    monkeypatch.setattr(tiers, "numba_ready", lambda key: False)


def _same(a, b, rtol=1e-10):
    np.testing.assert_allclose(a.hist, b.hist, rtol=rtol)
    for k, v in a.approx.get_params().items():
        np.testing.assert_allclose(b.approx.get_params()[k], v, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("method", ["advi", "fullrank_advi"])
def test_default_fit_starts_on_jax_and_matches_numba_wherever_it_switches(jax_tier, monkeypatch, method):
    reference, used = _fit(_model(), backend="numba", method=method)
    assert set(used) == {"numba"}
    never = _FakeJob(None)
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: never)
    _fit(_model(), method=method)
    polls = never.polls  # the fit's chunks (its learning-rate trials included)
    for after, expected in [(None, {"jax-tier"}), (polls // 3, {"jax-tier", "numba"}), (polls - 3, {"jax-tier", "numba"})]:
        job = _FakeJob(after)
        monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, job=job, **k: job)
        fit, used = _fit(_model(), method=method)  # no backend: symvi's default
        assert set(used) == expected, (after, used)
        assert len(fit.hist) == N_STEPS
        _same(reference, fit)


def test_default_without_jax_tier_compiles_numba(monkeypatch):
    monkeypatch.setattr(tiers, "numba_ready", lambda key: False)
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: pytest.fail("no background compile"))
    _, used = _fit(_model())  # SYMVI_JAX_TIER=0 (conftest)
    assert set(used) == {"numba"}


def test_default_minibatch_fit_with_a_control_variate_stays_on_numba(jax_tier, monkeypatch):
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: pytest.fail("no background compile"))
    data = np.random.default_rng(1).normal(2.0, 1.0, size=500)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 10.0)
        pm.Normal("y", mu, 1.0, observed=pm.Minibatch(data, batch_size=50, random_seed=9), total_size=len(data))
    inference = pm.ADVI(model=m, random_seed=2)
    inference.fit(100, progressbar=False)
    assert inference._state[0].control_variate is not None
    assert inference._state[0].last_backend == "numba"


def test_loop_with_a_tracker_and_minibatches_matches_numba(jax_tier, monkeypatch):
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: _FakeJob(None))
    data = np.random.default_rng(1).normal(2.0, 1.0, size=500)

    def model():
        with pm.Model() as m:
            mu = pm.Normal("mu", 0.0, 10.0)
            batch = pm.Minibatch(data, batch_size=50, random_seed=9)
            pm.Normal("y", mu, 1.0, observed=batch, total_size=len(data))
        return m

    fits = []
    for backend in ("numba", None):
        inference = pm.ADVI(model=model(), random_seed=2)
        tracker = pm.callbacks.Tracker(mean=inference.approx.mean.eval, std=inference.approx.std.eval)
        tracker.every = 1
        optimizer = pm.adam(learning_rate=0.05)  # (a default minibatch fit has a control variate: Numba)
        inference.fit(200, backend=backend, progressbar=False, callbacks=[tracker], obj_optimizer=optimizer)
        fits.append((inference, tracker))
        assert inference._state[0].last_backend == ("numba" if backend else "jax-tier")
    (a, ta), (b, tb) = fits
    _same(a, b)
    np.testing.assert_allclose(np.asarray(ta["mean"]), np.asarray(tb["mean"]), rtol=1e-10)


def test_loop_jax_cannot_compile_goes_to_numba_with_the_same_draws(jax_tier, monkeypatch):
    reference, _ = _fit(_model(), backend="numba")
    cancelled = []

    class Job(_FakeJob):
        def cancel(self, reason=None):
            cancelled.append(reason)

    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: Job(None))
    original = step_module.StepFunction._compile

    def no_jax(self, backend, *args, **kwargs):
        if backend == step_module.JAX_TIER:
            raise NotImplementedError("no JAX implementation of some op")
        return original(self, backend, *args, **kwargs)

    monkeypatch.setattr(step_module.StepFunction, "_compile", no_jax)
    fit, used = _fit(_model())
    assert set(used) == {"numba"} and cancelled
    _same(reference, fit)


def test_background_failure_on_the_jax_tier_warns_once_and_the_fit_goes_on(jax_tier, monkeypatch):
    job = _FakeJob(None)
    job.ready = lambda: setattr(job, "failure", "the background Numba compile was killed (signal 9)") or False
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: job)
    with pytest.warns(RuntimeWarning, match="killed .* goes on with the JAX loop"):
        fit, used = _fit(_model())
    assert len(fit.hist) == N_STEPS and set(used) == {"jax-tier"}


def test_loop_draws_equal_numbas_in_order():
    rng = pytensor.shared(np.random.default_rng(4))
    idx = pytensor.shared(np.random.default_rng(5))
    z = pt.random.normal(0.0, 1.0, size=(3,), rng=rng)
    i = pt.random.integers(0, 100, size=(2,), rng=idx, dtype="int64")
    updates = {rng: z.owner.outputs[0], idx: i.owner.outputs[0]}
    draws = tiers.LoopDraws.find([z.sum() + i.sum()], updates)
    drawn = dict(zip(draws.values, draws.draw(4)))
    a, b = drawn[z], drawn[i]
    f = pytensor.function([], [z, i], updates=updates, mode="NUMBA")
    rng.set_value(np.random.default_rng(4))
    idx.set_value(np.random.default_rng(5))
    rows = [f() for _ in range(4)]
    np.testing.assert_array_equal(a, np.stack([r[0] for r in rows]))
    np.testing.assert_array_equal(b, np.stack([r[1] for r in rows]))


def test_loop_draws_refuse_what_numpy_cannot_draw_ahead():
    rng = pytensor.shared(np.random.default_rng(0))
    w = pytensor.shared(np.ones(2), name="w")
    shared_gen = pt.random.normal(size=(2,), rng=rng)
    other = pt.random.normal(size=(2,), rng=rng)
    assert tiers.LoopDraws.find([shared_gen + other], {rng: shared_gen.owner.outputs[0]}) is None  # one generator, two draws
    moving = pt.random.normal(w, 1.0, rng=rng)
    assert tiers.LoopDraws.find([moving], {rng: moving.owner.outputs[0], w: w * 2}) is None  # depends on the state
    other = pytensor.shared(np.random.default_rng(1))
    scale = pt.random.gamma(2.0, 1.0, rng=other)
    nested = pt.random.normal(0.0, scale, rng=rng)
    nested_updates = {rng: nested.owner.outputs[0], other: scale.owner.outputs[0]}
    assert tiers.LoopDraws.find([nested], nested_updates) is None  # a parameter drawn itself
    mvn = pt.random.multivariate_normal(np.zeros(2), np.eye(2), rng=rng)
    assert tiers.LoopDraws.find([mvn], {rng: mvn.owner.outputs[0]}) is None  # multivariate


def test_several_draws_per_step_and_svgd_match_numba(jax_tier, monkeypatch):
    """obj_n_mc > 1 draws with a lifted size (folded back for JAX: the draw is found again by
    its generator); ASVGD's particles draw too."""
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: _FakeJob(None))
    for kwargs in (dict(method="advi", obj_n_mc=3, obj_optimizer=pm.adam(learning_rate=0.05)), dict(method="asvgd")):
        fits = []
        for backend in ("numba", None):
            with _model():
                approx = pm.fit(100, backend=backend, progressbar=False, random_seed=4, **kwargs)
            fits.append(approx)
            assert approx.inference._state[0].last_backend == ("numba" if backend else "jax-tier")
        np.testing.assert_allclose(fits[0].hist, fits[1].hist, rtol=1e-10)


def test_float32_fits_stay_on_numba(jax_tier, monkeypatch):
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: pytest.fail("no background compile"))
    monkeypatch.setattr(pytensor.config, "floatX", "float32")
    with _model():
        approx = pm.fit(50, progressbar=False, random_seed=4)
    assert approx.inference._state[0].last_backend == "numba"


HELD_CHILD = """
import os, runpy, sys, time
while not os.path.exists(sys.argv[1]):  # held until the test lets it compile
    time.sleep(0.05)
sys.argv = ["tiers", *sys.argv[2:]]
runpy.run_module("symvi.variational.tiers", run_name="__main__")
"""


def test_real_background_compile_switches_the_fit_to_numba(monkeypatch, tmp_path):
    """The real child process: it compiles the loop with Numba (a disk-cache hit here: the
    reference fit compiled it), the fit on the JAX tier loads it at the next chunk."""
    import sys

    monkeypatch.setenv("SYMVI_JAX_TIER", "1")
    reference, _ = _fit(_model(), backend="numba")
    tiers._ready_marker(reference._state[0]._numba_key(())).unlink()  # as if never compiled
    go = tmp_path / "go"
    monkeypatch.setattr(tiers, "COMMAND", [sys.executable, "-c", HELD_CHILD, str(go)])

    def wait(approx, losses, i):
        job = approx.inference._state[0]._tiers.get(())
        if i == 100 and job not in (None, False) and job.proc is not None:
            go.touch()
            job.proc.wait(timeout=600)

    fit, used = _fit(_model(), callbacks=[wait])
    assert used[:2] == ["jax-tier", "jax-tier"] and used[-1] == "numba", used
    _same(reference, fit)


def test_numba_background_compile_waits_for_the_jax_loop_to_compile(jax_tier, monkeypatch):
    """On 2 cores a Numba compile started with the fit slowed its first result by ~0.4 s: the
    background job is created held and released once XLA has compiled the JAX loop."""
    events, made = [], []
    compiled = step_module.StepFunction._compiled

    def logged(self, backend, k, tracked=()):
        fn = compiled(self, backend, k, tracked)
        return lambda k: (fn(k), events.append(("ran", backend)))[0]

    class Job(_FakeJob):
        def release(self):
            events.append(("release", None))
            super().release()

    def make(*args, **kwargs):
        made.append(kwargs)
        return Job(None)

    monkeypatch.setattr(step_module.StepFunction, "_compiled", logged)
    monkeypatch.setattr(tiers, "BackgroundCompile", make)
    _fit(_model())
    assert len(made) == 1 and made[0]["hold"] is True and set(made[0]["spec"]) == {"loss", "updates", "state", "params", "tracked"}
    assert events[0] == ("ran", "jax-tier") and events[1] == ("release", None)  # (again after each new loop length: no-ops)


def test_xla_compiles_the_first_jax_loop_during_the_warm_start_and_the_fit_waits_for_it(jax_tier, monkeypatch):
    made = []

    class Recorded(jax_loop.XlaPrefetch):
        def __init__(self, fn, args):
            super().__init__(fn, args)
            self.waited = 0
            made.append(self)

        def wait(self):
            self.waited += 1
            super().wait()

    reference, _ = _fit(_model(), backend="numba")
    monkeypatch.setattr(step_module, "XlaPrefetch", Recorded)
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: _FakeJob(None))
    fit, used = _fit(_model())
    assert set(used) == {"jax-tier"}
    assert len(made) == 1 and made[0].waited == 1 and made[0].error is None
    assert fit._state[0]._prefetch is None
    _same(reference, fit)  # the prefetch's call changed nothing: no state stored, generators rewound


def test_jax_loop_takes_data_of_a_new_shape():
    """The step's shared variables come in with static shapes (JAX needs constant shapes);
    data of another shape (set_data between fits) builds the step again."""
    data = pytensor.shared(np.arange(4.0), name="data")
    x, noise = pt.dscalar("x"), pt.dscalar("noise")
    new_x = x + noise * data[data.shape[0] - 1]  # an index from the data's shape
    loop = jax_loop.JaxLoop([x], [noise], [new_x, data.shape[0]], [data], tiers.jax_tier_mode())
    (last,), (n,) = loop([np.float64(0.0)], [np.ones(3)], 3)
    assert float(last) == 3 * 3.0 and np.asarray(n).tolist() == [4, 4, 4]
    data.set_value(np.arange(10.0))
    (last,), (n,) = loop([np.float64(0.0)], [np.ones(2)], 2)
    assert float(last) == 2 * 9.0 and np.asarray(n).tolist() == [10, 10]
    assert loop.attempt == 0  # the light rewrites were enough


def test_jax_loop_falls_back_to_shape_inference_where_jax_cannot_trace():
    """A shape the types do not fix (a constant slice's length) needs PyTensor's shape
    inference before JAX can trace the step: the loop builds it again with it."""
    data = pytensor.shared(np.arange(4.0), name="data")
    x, noise = pt.dscalar("x"), pt.dscalar("noise")
    new_x = x + noise * pt.mean(data[: data.shape[0] // 2])  # mean divides by the slice's shape
    loop = jax_loop.JaxLoop([x], [noise], [new_x], [data], tiers.jax_tier_mode())
    (last,), _ = loop([np.float64(0.0)], [np.ones(3)], 3)
    assert float(last) == 3 * 0.5 and loop.attempt == 1


def test_every_loop_length_shares_one_converted_step(jax_tier, monkeypatch):
    """JAX compiles each loop length (1000, 100, 10, 1) separately; PyTensor rewrites and
    converts the step once for all of them."""
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: _FakeJob(None))
    built = []
    original = jax_loop.JaxLoop._build
    monkeypatch.setattr(jax_loop.JaxLoop, "_build", lambda self: built.append(self) or original(self))
    fit, used = _fit(_model(), n=123)  # chunks of 50 (the callback), run as 10-step loops, then 1-step ones
    step = fit._state[0]
    lengths = {key[1] for key in step._fns if key[0] == step_module.JAX_TIER}
    assert set(used) == {"jax-tier"} and len(lengths) >= 2, lengths
    assert len(built) == 1 and len(step._jax_loops) == 1
