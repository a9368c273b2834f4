"""Tiered compilation (symvi/variational/tiers.py): a backend="auto" fit starts on the quick VM and
moves to Numba once a background process has compiled it; the results do not depend on
where (or whether) the switch happens, and a failing, killed or interrupted background
compile costs nothing but speed."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytensor.tensor as pt
import pytest

import symvi as pm
from symvi.variational import tiers

Y = np.random.default_rng(5).normal(1.5, 1.0, size=20)
N_STEPS = 300


def _model(prior_sd=10.0, dist="Normal"):
    with pm.Model() as m:
        mu = getattr(pm, dist)("mu", 0.0, prior_sd)
        pm.Normal("y", mu, 1.0, observed=Y)
    return m


def _fit(model, backend="auto", callbacks=()):
    used = []

    def record(approx, losses, i):
        used.append(approx.inference._state[0].last_backend)

    record.every = 50  # also makes the chunk boundaries (and so the switch points) fixed
    inference = pm.ADVI(model=model, random_seed=3)
    inference.fit(
        N_STEPS,
        backend=backend,
        progressbar=False,
        obj_optimizer=pm.adam(learning_rate=0.05),
        callbacks=[record, *callbacks],
    )
    return inference, used


class _FakeJob:
    """A background compile that reports ready after ``after`` polls (never: None)."""

    def __init__(self, after):
        self.after, self.polls, self.failure, self.superseded = after, 0, None, False
        self.released = 0

    def release(self):
        self.released += 1

    def ready(self):
        self.polls += 1
        return self.after is not None and self.polls > self.after

    def cancel(self, reason=None):
        pass


@pytest.fixture
def new_graph(monkeypatch):
    """Every graph counts as never compiled by Numba, whatever the disk cache holds, and the
    quick tier runs even where ops lack C modules (a cold C cache runs them in Python)."""
    monkeypatch.setattr(tiers, "numba_ready", lambda key: False)
    monkeypatch.setattr(tiers, "MAX_FALLBACKS", 10**6)


def _assert_same_fit(a, b):
    np.testing.assert_allclose(a.hist, b.hist, rtol=1e-10)
    for k, v in a.approx.get_params().items():
        np.testing.assert_allclose(b.approx.get_params()[k], v, rtol=1e-10, atol=1e-12)


def test_switch_early_late_or_never_gives_the_same_fit(new_graph, monkeypatch):
    reference, used = _fit(_model(), backend="numba")
    assert set(used) == {"numba"}
    for after, expected in [(None, {"quick"}), (1, {"quick", "numba"}), (4, {"quick", "numba"})]:
        job = _FakeJob(after)
        monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, job=job, **k: job)
        fit, used = _fit(_model())
        assert set(used) == expected, (after, used)
        assert len(fit.hist) == N_STEPS
        _assert_same_fit(reference, fit)


def test_failed_background_compile_warns_once_and_the_fit_goes_on(new_graph, monkeypatch):
    monkeypatch.setattr(tiers, "COMMAND", [sys.executable, "-c", "import sys; sys.exit('no compiler here')"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit, used = _fit(_model(), callbacks=[_sleep_until_background_ends])
        fit.refine(100, progressbar=False)
    messages = [str(w.message) for w in caught if "background Numba compile" in str(w.message)]
    assert len(messages) == 1, messages
    assert "failed (exit 1: no compiler here)" in messages[0]
    assert set(used) == {"quick"}
    job = _FakeJob(None)
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: job)
    quick_only, _ = _fit(_model())
    np.testing.assert_array_equal(fit.hist[:N_STEPS], quick_only.hist)


def _sleep_until_background_ends(approx, losses, i):
    job = approx.inference._state[0]._tiers.get(())
    if i == 50 and job not in (None, False) and job.proc is not None:
        job.proc.wait(timeout=60)


def test_killed_background_compile_leaves_the_fit_on_the_quick_tier(new_graph, monkeypatch):
    monkeypatch.setattr(tiers, "COMMAND", [sys.executable, "-c", "import time; time.sleep(60)"])

    def kill(approx, losses, i):
        job = approx.inference._state[0]._tiers.get(())
        if i == 100 and job not in (None, False) and job.proc is not None:
            job.proc.kill()
            job.proc.wait()

    with pytest.warns(RuntimeWarning, match="background Numba compile was killed"):
        fit, used = _fit(_model(), callbacks=[kill])
    assert len(fit.hist) == N_STEPS and set(used) == {"quick"}


@pytest.mark.parametrize("jax_tier", ["0", "1"])  # the first tier: the quick C VM, or JAX
def test_ctrl_c_during_background_compile_leaves_no_process(new_graph, monkeypatch, jax_tier):
    if jax_tier == "1":
        pytest.importorskip("jax")
    monkeypatch.setenv("SYMVI_JAX_TIER", jax_tier)
    monkeypatch.setattr(tiers, "COMMAND", [sys.executable, "-c", "import time; time.sleep(60)"])
    procs = []

    def interrupt(approx, losses, i):
        job = approx.inference._state[0]._tiers.get(())
        if i == 100:
            procs.append(job.proc)
            assert job.proc.poll() is None  # still compiling
            raise KeyboardInterrupt

    fit, used = _fit(_model(), callbacks=[interrupt])
    assert len(fit.hist) == 100  # the state of step 100 is kept
    assert set(used) == {"jax-tier" if jax_tier == "1" else "quick"}
    assert procs and procs[0].poll() is not None  # the background process is gone
    assert not tiers._running and not tiers._queue


def test_quick_loop_lacking_c_modules_goes_to_numba_and_compiles_them_in_the_background(monkeypatch):
    monkeypatch.setattr(tiers, "numba_ready", lambda key: False)
    monkeypatch.setattr(tiers, "MAX_FALLBACKS", -1)  # every quick loop counts as lacking C code
    jobs = []

    class Recorder:
        def __init__(self, graph, key, quick_graph=None):
            jobs.append((graph, quick_graph))

    monkeypatch.setattr(tiers, "BackgroundCompile", Recorder)
    fit, used = _fit(_model())
    assert set(used) == {"numba"}
    assert len(jobs) == 1 and jobs[0][0] is None and jobs[0][1] is not None  # C modules only


def test_edited_prior_values_keep_the_graph_and_new_distributions_do_not():
    def key(model):
        step = pm.ADVI(model=model, random_seed=1).step_function()
        return step._numba_key(())

    assert key(_model(10.0)) == key(_model(2.5))
    assert key(_model(10.0)) != key(_model(10.0, dist="Cauchy"))


def test_graph_compiled_by_numba_before_goes_to_numba_at_once(monkeypatch):
    _fit(_model(10.0), backend="numba")  # marks the graph ready
    monkeypatch.setattr(tiers, "BackgroundCompile", lambda *a, **k: pytest.fail("no background compile needed"))
    _, used = _fit(_model(4.0))  # an edited prior: same graph (backend="auto")
    assert set(used) == {"numba"}


def test_background_process_compiles_and_marks_the_graph(tmp_path):
    """The real child: unpickle, compile with Numba, write the marker (runs a Numba compile)."""
    model = _model(3.0)
    step = pm.ADVI(model=model, random_seed=1).step_function()
    graph = step._graph("numba", None)
    key = "test-" + tiers.graph_key(graph[1], graph[2])
    job = tiers.BackgroundCompile(graph, key)
    job.proc.wait(timeout=600) if job.proc is not None else None
    assert job.ready(), job.failure
    assert tiers.numba_ready(key)
    tiers._ready_marker(key).unlink()


def test_background_process_builds_the_loop_of_a_step(tmp_path):
    """Given the step's expressions (the JAX tier's hand-over), the child builds the Numba loop
    itself, as the fit would: the fit then loads it from Numba's disk cache."""
    import time

    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    model = _model(3.5)
    with model:  # a loop no earlier test (or run) compiled: a constant of this moment in the graph
        pm.Potential("tag", 1e-12 * (1 + time.time_ns() % 10**9) * model["mu"])
    step = pm.ADVI(model=model, random_seed=1).step_function()
    key = "test-spec-" + step._numba_key(())
    spec = {"loss": step._loss, "updates": step._updates, "state": step.state, "params": step.params, "tracked": ()}
    job = tiers.BackgroundCompile(None, key, spec=spec)
    job.proc.wait(timeout=600) if job.proc is not None else None
    assert job.ready(), job.failure
    tiers._ready_marker(key).unlink()
    cache = NUMBA_CACHE_PATH
    before = sorted(p.name for p in cache.rglob("*") if p.is_file())
    step.backend = "numba"
    step.run(1)
    assert sorted(p.name for p in cache.rglob("*") if p.is_file()) == before  # all read from the cache


ORPHAN_SCRIPT = """
import os, pickle, subprocess, sys, tempfile, time


class Slow:  # unpickling it takes 60 s: the background process is busy when its parent dies
    def __reduce__(self):
        return (time.sleep, (60,))


path = tempfile.mktemp(suffix=".pkl")
with open(path, "wb") as f:
    pickle.dump(Slow(), f)
proc = subprocess.Popen([sys.executable, "-m", "symvi.variational.tiers", path, path + ".ready"], start_new_session=True)
time.sleep(2)
print(proc.pid, flush=True)
os._exit(0)  # dies like a killed process: no atexit handlers
"""


def test_background_process_ends_when_its_parent_dies():
    out = subprocess.run([sys.executable, "-c", ORPHAN_SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    pid = int(out.stdout.strip().splitlines()[-1])
    import os
    import time

    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, 9)
    pytest.fail("the background compile outlived its parent by 20 s")


CACHE_MISS_SCRIPT = """
import numpy as np, pytensor, pytensor.tensor as pt
import symvi  # noqa: F401
from symvi.variational import tiers

x = pt.vector("x")
with tiers.cached_c_only() as misses:  # an empty compile directory: every C module misses
    f = pytensor.function([x], pt.exp(x).sum() * 2.0, mode=tiers.quick_mode())
print(len(misses) > 0, float(f(np.array([0.0, 1.0]))))
"""


def test_cache_misses_run_the_python_perform(tmp_path):
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp_path}")
    out = subprocess.run([sys.executable, "-c", CACHE_MISS_SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    missed, value = out.stdout.split()
    assert missed == "True" and float(value) == 2.0 * (1.0 + np.e)


def test_a_held_background_compile_starts_only_when_released(monkeypatch, tmp_path):
    monkeypatch.setattr(tiers, "COMMAND", [sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(tiers, "state_dir", lambda: tmp_path)
    x = pt.dscalar("x")
    job = tiers.BackgroundCompile(([x], [2 * x], {}), "held-job-key", hold=True)
    try:
        assert job.proc is None and not job.ready()  # queued, not started
        job.release()
        assert job.proc is not None and job.proc.poll() is None  # started now
    finally:
        job.cancel()
    assert job.proc.poll() is not None
