"""symvi.gc_pause: a fit runs without full garbage collections, and the collector comes back."""

import gc

import numpy as np
import pytest

import symvi as pm
from symvi.gc_pause import paused


def test_fit_makes_no_full_collection_and_restores_the_collector():
    """The proxy for a flat time per notebook re-run: a full collection (~0.25 s in a process
    holding a few hundred thousand objects) lands in no fit."""
    full = []

    def watch(phase, info):
        if phase == "start" and info["generation"] == 2:
            full.append(1)

    def model():
        with pm.Model() as m:
            b = pm.Normal("b", 0, 1, shape=3)
            pm.Normal("y", b.sum(), 1.0, observed=np.array([0.5, 1.0]))
        return m

    pm.fit(50, model=model(), random_seed=1, progressbar=False)  # compiled once
    m = model()  # (building the model is the user's code, not paused)
    gc.callbacks.append(watch)
    try:
        gc.set_threshold(50, 2, 2)  # a collector that would run a full collection in any fit
        approx = pm.fit(50, model=m, random_seed=1, progressbar=False)
    finally:
        gc.callbacks.remove(watch)
        gc.set_threshold(700, 10, 10)
    assert len(approx.hist) == 50
    assert full == []
    assert gc.isenabled()


def test_collector_restored_after_an_error_and_left_off_if_it_was_off():
    @paused
    def fail():
        assert not gc.isenabled()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fail()
    assert gc.isenabled()
    gc.disable()
    try:
        assert paused(gc.isenabled)() is False
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_collector_runs_while_numba_compiles_new_code():
    """A new Numba compile inside a paused call collects its cyclic garbage (tens of MB for a
    fit's loop); the collector is paused again after it."""
    import numba

    seen = []

    def watch(phase, info):
        if phase == "start":
            seen.append(info["generation"])

    @paused
    def compile_new():
        before = len(seen)
        f = numba.njit(lambda x: x * 2.0 + 1.0)  # a new function: compiled, not loaded from a cache
        assert f(1.0) == 3.0
        return len(seen) - before, gc.isenabled()

    gc.callbacks.append(watch)
    try:
        collections, enabled_after = compile_new()
    finally:
        gc.callbacks.remove(watch)
    assert collections > 0
    assert enabled_after is False
    assert gc.isenabled()
