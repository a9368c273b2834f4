"""sample_node draws inside loops: fresh at every step, and no rewriter error on the way.

PyTensor's ``scan_push_out_non_seq`` moves nodes whose inputs are all loop constants out of a
scan.  A ``FreshNoise`` node (the noise of ``sample_node``) has only its shape as inputs, so
it used to be a candidate: the rewrite failed with a logged traceback (for noise of two or
more dimensions) or, for 1-d noise, succeeded and drew once for every step.  Now symvi's fit
loop ties the noise to a per-step input (``tie_noise_to_loop``) and ``FreshNoise`` refuses
to be rebuilt from its sizes alone.
"""

from __future__ import annotations

import logging

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.scan.op import Scan

import symvi as pm
from symvi.variational.nodes import FreshNoise, tie_noise_to_loop


@pytest.fixture
def rewrite_log(caplog):
    caplog.set_level(logging.ERROR, logger="pytensor")
    return caplog


def scan_draws(noise, tie=True):
    """A compiled function of the loop length: the draws of ``noise`` at each step.  (The
    length is an input: a scan of constants only would be folded into one constant.)"""
    def step(i):
        out = [noise * 1.0]
        return i + 1, (tie_noise_to_loop(out, i) if tie else out)[0]

    k = pt.iscalar("k")
    (_, draws) = pytensor.scan(step, outputs_info=[pt.constant(np.int64(0)), None], n_steps=k, return_updates=False)
    return pytensor.function([k], draws, mode="FAST_RUN")


def inner_noise_count(fn):
    """FreshNoise nodes inside the Scan ops of compiled ``fn`` (and outside them)."""
    inside = outside = 0
    for node in fn.maker.fgraph.apply_nodes:
        if isinstance(node.op, FreshNoise):
            outside += 1
        if isinstance(node.op, Scan):
            inside += sum(isinstance(n.op, FreshNoise) for n in node.op.fgraph.apply_nodes)
    return inside, outside


@pytest.mark.parametrize("shape", [(3,), (2, 3)])
def test_tied_noise_stays_in_the_loop_and_differs_per_step(shape, rewrite_log):
    fn = scan_draws(FreshNoise("normal", seed=3)(shape))
    assert inner_noise_count(fn) == (1, 0)
    d = fn(4)
    assert d.shape == (4, *shape)
    flat = d.reshape(4, -1)
    assert len({tuple(r) for r in flat}) == 4  # a new draw at every step
    assert not (fn(4) == d).any()  # and at every call
    assert "Rewrite failure" not in rewrite_log.text and "make_node" not in rewrite_log.text


def test_untied_noise_is_not_moved_out_of_a_loop(rewrite_log):
    # 1-d noise: the old make_node accepted the rewrite's make_node(n) and froze the draw
    fn = scan_draws(FreshNoise("normal", seed=4)((3,)), tie=False)
    assert inner_noise_count(fn) == (1, 0)
    d = fn(4)
    assert len({tuple(r) for r in d}) == 4


def test_make_node_refuses_unpacked_sizes_and_accepts_a_tick():
    op = FreshNoise("uniform", seed=0)
    n, m = pt.constant(np.int64(2)), pt.constant(np.int64(3))
    with pytest.raises(TypeError, match="one sequence"):
        op.make_node(n, m)
    with pytest.raises(TypeError, match="one sequence"):
        op.make_node(n)
    with pytest.raises(TypeError, match="tick"):
        op.make_node((n, m), tick=5)
    tick = pt.iscalar("t")
    node = op.make_node((n, m), tick=tick)
    assert node.outputs[0].type.shape == (2, 3)
    out = node.outputs[0]
    f = pytensor.function([tick], [out, out.shape], mode="FAST_COMPILE")
    value, shape = f(7)
    assert value.shape == (2, 3) and tuple(shape) == (2, 3) and ((value >= 0) & (value < 1)).all()


@pytest.mark.parametrize("method", ["advi", "svgd"])
def test_a_tracked_sample_node_is_redrawn_at_every_step_of_the_fit(method, rewrite_log):
    # the quickstart notebook's iris cell: Tracker(test_accuracy=<expression of sample_node>.eval)
    rng = np.random.default_rng(0)
    with pm.Model():
        x = pm.Normal("x", 0, 1, shape=2)
        pm.Normal("y", x.sum(), 1, observed=rng.normal(size=20))
        inference = pm.ADVI(random_seed=1) if method == "advi" else pm.SVGD(n_particles=10, random_seed=1)
    node = inference.approx.sample_node(x.sum(), size=3)
    tracker = pm.callbacks.Tracker(draws=(node + 0.0).eval)
    assert tracker.loop_expressions() is not None  # recorded inside the compiled loop
    inference.fit(6, callbacks=[tracker], progressbar=False, backend="c")
    rows = np.asarray(tracker["draws"])
    assert rows.shape == (6, 3)
    assert len({tuple(r) for r in rows}) == 6
    assert "Rewrite failure" not in rewrite_log.text and "FreshNoise" not in rewrite_log.text
