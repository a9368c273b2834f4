"""symvi.fused_reduce_linear: what is constant along the summed axes leaves the fused loop,
and the results equal the unfused graph (1e-12 relative to the sum of the terms' magnitudes,
the rounding scale of any floating-point sum)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pytensor.scalar import basic as ps

from symvi.backends import get_mode
from symvi.fused_reduce import TAG, FusedReduce

FUSED = get_mode("numba")
UNFUSED = get_mode("numba").excluding(TAG)


def fused_nodes(fn):
    return [n for n in fn.maker.fgraph.apply_nodes if isinstance(n.op, FusedReduce)]


def scalar_ops(node):
    return [type(n.op) for n in node.op.scalar_op.fgraph.apply_nodes]


def check(inputs, outputs, vals, scales):
    fused = pytensor.function(inputs, outputs, mode=FUSED)
    plain = pytensor.function(inputs, outputs, mode=UNFUSED)
    for g, w, s in zip(fused(*vals), plain(*vals), scales):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12 * s)
    return fused


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    # x: the data (no broadcast dim); a, b, c: parameters broadcast along random dims
    patterns = [tuple(draw(st.booleans()) for _ in range(ndim)) for _ in range(3)]
    axes = draw(st.one_of(st.none(), st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))
    return shape, patterns, axes, draw(st.integers(0, 2**16))


def _graph(case):
    shape, patterns, axes, seed = case
    rng = np.random.default_rng(seed)
    x = pt.tensor("x", shape=(None,) * len(shape))
    ps_ = [pt.tensor(f"p{i}", shape=tuple(1 if b else None for b in bc)) for i, bc in enumerate(patterns)]
    xv = rng.normal(size=shape)
    pv = [rng.uniform(0.5, 2.0, size=tuple(1 if b else n for b, n in zip(bc, shape))) for bc in patterns]
    a, b, c = ps_
    ok = pt.all(pt.gt(b, 0.0))  # a switch on a value constant everywhere (a model's support check)
    # invariant factors, divisors and addends around per-element terms, as in a likelihood
    elem = pt.switch(ok, -0.5 * ((x - a) / b) ** 2 - pt.log(b) + 3.0 * c * x - (x * a - c) / (b * c), -np.inf)
    outs = [pt.sum(elem, axis=axes), *pytensor.grad(pt.sum(elem), ps_)]
    terms = 0.5 * ((xv - pv[0]) / pv[1]) ** 2 + np.abs(np.log(pv[1])) + np.abs(3 * pv[2] * xv) + np.abs((xv * pv[0] - pv[2]) / (pv[1] * pv[2]))
    scale = 10 * float(np.sum(terms) + np.prod(shape) * 10)  # gradients: terms of order 10 or less
    return [x, *ps_], [xv, *pv], outs, [scale] * len(outs)


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(cases(), min_size=4, max_size=4))
def test_split_sums_match_unfused(batch):
    graphs = [_graph(c) for c in batch]
    check([i for g in graphs for i in g[0]], [o for g in graphs for o in g[2]],
          [v for g in graphs for v in g[1]], [s for g in graphs for s in g[3]])


def test_normal_likelihood_loop_keeps_only_per_element_work():
    """The value and both gradients of a Normal likelihood over a matrix: the loop reads the
    data and the column parameters it needs, with no division, log or switch per element."""
    x, mu, logsd = pt.matrix("x"), pt.vector("mu"), pt.vector("logsd")
    sd = pt.exp(logsd)
    lp = pt.switch(pt.all(sd > 0), (-0.5 * ((x - mu) / sd) ** 2 - pt.log(sd) - 0.9189385332046727), -np.inf).sum()
    rng = np.random.default_rng(0)
    xv = rng.normal(3.0, 2.0, size=(60, 7))
    vals = [xv, rng.normal(3.0, 0.5, size=7), rng.normal(0.5, 0.2, size=7)]
    fused = check([x, mu, logsd], [lp, *pytensor.grad(lp, [mu, logsd])], vals, [np.abs(xv).sum() * 100] * 3)
    (node,) = [n for n in fused_nodes(fused) if x in n.inputs]  # (the loop over the data)
    assert len(node.outputs) == 3
    ops = scalar_ops(node)
    for op in (ps.TrueDiv, ps.Log, ps.Switch, ps.Neg):
        assert op not in ops, op
    assert len(node.inputs) <= 3  # data, mu, 1/sd (or sd)


def test_empty_axis_and_infinite_constants():
    """sum over no elements is 0 even where the moved-out part is -inf (0 * -inf is not)."""
    x, m = pt.matrix("x"), pt.vector("m")
    e = pt.switch(pt.all(m > 0), x * m - 1.0, -np.inf)
    outs = [e.sum(axis=0), e.sum()]
    vals_empty = [np.zeros((0, 3)), np.array([1.0, 2.0, 3.0])]
    vals_off = [np.ones((4, 3)), np.array([1.0, -2.0, 3.0])]
    fused = pytensor.function([x, m], outs, mode=FUSED)
    plain = pytensor.function([x, m], outs, mode=UNFUSED)
    assert fused_nodes(fused)
    for vals in (vals_empty, vals_off):
        for g, w in zip(fused(*vals), plain(*vals)):
            np.testing.assert_array_equal(g, w)


def test_linear_split_can_be_turned_off(monkeypatch):
    import symvi.fused_reduce as fr

    x, m, s = pt.matrix("x"), pt.vector("m"), pt.vector("s")
    out = ((x - m) / s).sum(axis=0)
    on = fused_nodes(pytensor.function([x, m, s], out, mode=FUSED))
    monkeypatch.setattr(fr, "LINEAR", False)
    off = fused_nodes(pytensor.function([x, m, s], out, mode=FUSED))
    assert on[0].inputs == [x]  # sum(x) / s - n * m / s
    assert len(off[0].inputs) == 2  # (pytensor moves the division out itself: sum(x - m) / s)
