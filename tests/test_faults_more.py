"""Faults during fit and reproducibility (extends tests/test_faults.py and tests/test_vi.py).

* a NaN learning rate / an overflow: FloatingPointError naming the step and the parameters,
  the approximation keeps exactly the state after the last finite step, and the fit can go on
  once the optimizer is fixed (MeanField and FullRank);
* an exception or a KeyboardInterrupt in a callback (or a KeyboardInterrupt from inside the
  compiled loop) leaves ``hist`` consistent with the parameters: a fresh fit of ``len(hist)``
  steps with the same seed gives bit-identical parameters;
* the same ``random_seed`` gives bit-identical ``hist``, parameters and ``approx.sample``
  draws - with or without a progress bar, whatever the chunking of the compiled loop, and in
  another process; different seeds differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import symvi as pm
import symvi.variational.inference as inference

Y = np.random.default_rng(0).normal(1.5, 1.0, size=20)


pytestmark = pytest.mark.usefixtures("one_compiled_path")  # conftest: bit-identity needs one compiled path


def make_model():
    """Two latents (one transformed), so FullRank has an off-diagonal and 'rho'/'L_tril' differ."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 2.0)
        pm.Normal("y", mu, sigma, observed=Y)
    return model


MODEL = make_model()
N_REF = 200


def new_inference(method="advi", seed=1):
    cls = pm.ADVI if method == "advi" else pm.FullRankADVI
    return cls(model=MODEL, random_seed=seed)


def run_fit(n, method="advi", seed=1, **kwargs):
    inf = new_inference(method, seed)
    kwargs.setdefault("progressbar", False)
    kwargs.setdefault("obj_optimizer", pm.adam(learning_rate=0.01))
    inf.fit(n, **kwargs)
    return inf


@pytest.fixture(scope="module")
def reference():
    """Per method: a fit of N_REF steps (seed 1) with the parameters after every step.

    Recorded by a callback (so the compiled loop runs one step per call); the tests compare
    other fits against it, which also checks that chunking does not change results.
    """
    out = {}
    for method in ("advi", "fullrank_advi"):
        inf = new_inference(method, seed=1)
        traj = [inf.approx.get_params()]
        inf.fit(N_REF, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01),
                callbacks=[lambda approx, losses, i: traj.append(approx.get_params())])
        out[method] = {"inference": inf, "hist": inf.hist.copy(), "params": traj}
    return out


def assert_params_equal(got: dict, want: dict):
    assert got.keys() == want.keys()
    for k in got:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def assert_matches_reference(inf, ref):
    """``inf`` holds exactly the state of a fresh seed-1 fit of ``len(inf.hist)`` steps."""
    n = len(inf.hist)
    np.testing.assert_array_equal(inf.hist, ref["hist"][:n])
    assert_params_equal(inf.approx.get_params(), ref["params"][n])


# ---------------------------------------------------------------------- non-finite steps
@pytest.mark.parametrize("method, names", [("advi", r"mu, rho"), ("fullrank_advi", r"mu, L_tril")])
def test_nan_learning_rate_names_step_and_params_then_fit_goes_on(method, names):
    import pytensor

    lr = pytensor.shared(np.asarray(0.01), name="lr")
    inf = run_fit(20, method, obj_optimizer=pm.adam(learning_rate=lr))
    before = inf.approx.get_params()
    lr.set_value(np.asarray(np.nan))
    with pytest.raises(FloatingPointError, match=rf"at step 21: non-finite {names}\..*after step 20") as info:
        inf.refine(20, progressbar=False)
    assert "smaller learning rate" in str(info.value)
    assert_params_equal(inf.approx.get_params(), before)
    assert len(inf.hist) == 20 and np.isfinite(inf.hist).all()
    # the user fixes the optimizer; refine and fit carry on from the kept state
    lr.set_value(np.asarray(0.01))
    inf.refine(10, progressbar=False)
    inf.fit(5, progressbar=False, obj_optimizer=pm.adam(learning_rate=lr))
    assert len(inf.hist) == 35 and np.isfinite(inf.hist).all()
    assert all(np.isfinite(v).all() for v in inf.approx.get_params().values())


def test_overflow_mid_chunk_keeps_exactly_the_last_finite_step():
    def build(seed=1):
        with pm.Model():
            x = pm.Normal("x", 0.0, 1.0)
            pm.Potential("explode", pm.math.exp(pm.math.exp(x)))
            return pm.ADVI(random_seed=seed, start={"x": 3.0})

    advi = build()
    with pytest.raises(FloatingPointError, match=r"at step \d+") as info:
        advi.fit(5000, progressbar=False, obj_optimizer=pm.sgd(learning_rate=1.0))
    n_ok = len(advi.hist)
    assert n_ok > 0
    assert f"at step {n_ok + 1}: non-finite" in str(info.value) and f"(after step {n_ok})" in str(info.value)
    # the kept state is the state after step n_ok: a fresh fit of n_ok steps reproduces it
    fresh = build()
    fresh.fit(n_ok, progressbar=False, obj_optimizer=pm.sgd(learning_rate=1.0))
    np.testing.assert_array_equal(fresh.hist, advi.hist)
    assert_params_equal(fresh.approx.get_params(), advi.approx.get_params())


# ---------------------------------------------------------------------- callbacks
class Boom(Exception):
    pass


@pytest.mark.parametrize("method", ["advi", "fullrank_advi"])
def test_callback_exception_propagates_with_step_and_state_matches_refit(method, reference):
    class Every5:
        every = 5

        def __call__(self, approx, losses, i):
            if i == 10:
                raise Boom("user code failed")

    inf = new_inference(method)
    with pytest.raises(Boom, match="user code failed") as info:
        inf.fit(100, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01), callbacks=[Every5()])
    notes = getattr(info.value, "__notes__", [])
    assert any("at step 10" in n and "state up to step 10 is kept" in n for n in notes), notes
    assert len(inf.hist) == 10
    assert_matches_reference(inf, reference[method])
    inf.refine(5, progressbar=False)  # the callback only fails at step 10
    assert len(inf.hist) == 15
    assert_matches_reference(inf, reference[method])


def test_keyboard_interrupt_from_callback_keeps_hist_consistent_with_params(reference):
    def interrupt(approx, losses, i):
        if i == 37:
            raise KeyboardInterrupt

    inf = new_inference("fullrank_advi")
    inf.fit(1000, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01), callbacks=[interrupt])
    assert len(inf.hist) == 37
    assert_matches_reference(inf, reference["fullrank_advi"])


@pytest.mark.parametrize("after_run", [False, True], ids=["before-chunk", "after-chunk-ran"])
def test_keyboard_interrupt_inside_compiled_call_restores_the_chunk(after_run, monkeypatch, reference):
    """A second Ctrl-C lands inside ``step.run``: the half-done chunk is rolled back."""
    monkeypatch.setattr(inference, "_MAX_CHUNK", 25)
    inf = new_inference("advi")
    step = inf.step_function(obj_optimizer=pm.adam(learning_rate=0.01))
    real_run = step.run
    calls = {"n": 0}

    def flaky_run(k):
        calls["n"] += 1
        if calls["n"] == 3:
            if after_run:
                real_run(k)  # the shared state moved on, but no loss was recorded
            raise KeyboardInterrupt
        return real_run(k)

    monkeypatch.setattr(step, "run", flaky_run)
    inf.fit(200, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01))  # ends like Ctrl-C: cleanly
    assert calls["n"] == 3 and len(inf.hist) == 50
    assert_matches_reference(inf, reference["advi"])
    monkeypatch.setattr(step, "run", real_run)
    inf.refine(10, progressbar=False)
    assert len(inf.hist) == 60
    assert_matches_reference(inf, reference["advi"])


# ---------------------------------------------------------------------- reproducibility
@pytest.mark.parametrize("method", ["advi", "fullrank_advi"])
def test_same_seed_bit_identical_hist_params_and_draws(method, reference):
    ref = reference[method]
    again = run_fit(N_REF, method, seed=1)  # from scratch, large chunks
    assert_matches_reference(again, ref)
    a, b = ref["inference"].approx, again.approx
    da = a.sample(50, random_seed=5, return_inferencedata=False)
    db = b.sample(50, random_seed=5, return_inferencedata=False)
    assert set(da) == {"mu", "sigma"}
    for k in da:
        np.testing.assert_array_equal(da[k], db[k])
    other = a.sample(50, random_seed=6, return_inferencedata=False)
    assert not np.array_equal(da["mu"], other["mu"])
    unseeded = [a.sample(50, return_inferencedata=False)["mu"] for _ in range(2)]
    assert not np.array_equal(*unseeded)


def test_different_seed_differs(reference):
    other = run_fit(N_REF, "advi", seed=2)
    ref = reference["advi"]
    assert not np.array_equal(other.hist, ref["hist"])
    assert not np.array_equal(other.approx.get_params()["mu"], ref["params"][-1]["mu"])


def test_seeded_sample_does_not_disturb_the_fit(reference):
    inf = run_fit(100, "advi", seed=1)
    inf.approx.sample(20, random_seed=1, return_inferencedata=False)
    inf.approx.sample(20, random_seed=2, return_inferencedata=False)
    inf.refine(50, progressbar=False)
    assert_matches_reference(inf, reference["advi"])


def test_progressbar_and_chunking_do_not_change_results(monkeypatch, capsys, reference):
    """One compiled step function, rerun from the same snapshot with different chunkings."""
    inf = new_inference("advi")
    opt = pm.adam(learning_rate=0.01)
    step = inf.step_function(obj_optimizer=opt)
    snap = step.snapshot()
    lengths = []
    real_run = step.run
    monkeypatch.setattr(step, "run", lambda k: (lengths.append(k), real_run(k))[1])

    def rerun(n=N_REF, **kwargs):
        step.restore(snap)
        inf.hist = np.array([], dtype="float64")
        lengths.clear()
        inf.fit(n, obj_optimizer=pm.adam(learning_rate=0.01), **{"progressbar": False, **kwargs})
        assert inf._state[0] is step  # no new compile: only the chunking differs
        return inf

    assert_matches_reference(rerun(), reference["advi"])  # few large chunks
    assert len(lengths) <= 5
    assert_matches_reference(rerun(progressbar=True), reference["advi"])
    assert "Average Loss" in capsys.readouterr().out

    class Every13:
        every = 13
        calls = 0

        def __call__(self, approx, losses, i):
            Every13.calls += 1

    assert_matches_reference(rerun(callbacks=[Every13()]), reference["advi"])
    assert Every13.calls == N_REF // 13 and max(lengths) <= 13
    monkeypatch.setattr(inference, "_MAX_CHUNK", 7)  # chunks of at most 7 steps
    monkeypatch.setattr(inference, "_CHUNK_SECONDS", 1e-9)
    assert_matches_reference(rerun(), reference["advi"])
    assert max(lengths) <= 7 and len(lengths) >= N_REF // 7
    split = rerun(77)
    split.refine(N_REF - 77, progressbar=False)
    assert_matches_reference(split, reference["advi"])


SCRIPT = textwrap.dedent(
    """
    import json, sys, numpy as np, symvi as pm
    y = np.random.default_rng(0).normal(1.5, 1.0, size=20)
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 2.0)
        pm.Normal("y", mu, sigma, observed=y)
        approx = pm.fit(int(sys.argv[2]), method="fullrank_advi", random_seed=int(sys.argv[1]), progressbar=False,
                        obj_optimizer=pm.adam(learning_rate=0.01))
    draws = approx.sample(30, random_seed=2, return_inferencedata=False)
    print(json.dumps({"hist": approx.hist.tolist(), "params": {k: v.tolist() for k, v in approx.get_params().items()},
                      "draws": {k: v.tolist() for k, v in draws.items()}}))
    """
)


def test_fullrank_fit_and_draws_identical_across_processes(reference):
    out = subprocess.run([sys.executable, "-c", SCRIPT, "1", str(N_REF)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    there = json.loads(out.stdout.strip().splitlines()[-1])
    ref = reference["fullrank_advi"]
    # floats round-trip exactly through JSON: bit-identical in another process
    assert there["hist"] == ref["hist"].tolist()
    assert there["params"] == {k: v.tolist() for k, v in ref["params"][-1].items()}
    draws = ref["inference"].approx.sample(30, random_seed=2, return_inferencedata=False)
    assert there["draws"] == {k: v.tolist() for k, v in draws.items()}
