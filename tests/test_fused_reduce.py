"""symvi.fused_reduce: fused Elemwise -> reduction kernels equal the unfused graph.

Every comparison compiles the same graph twice with the Numba backend, once with symvi's
rewrite (``get_mode("numba")``) and once without it, and checks the fused graph really holds a
FusedReduce (or, for the fallback cases, that it does not).
"""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import symvi as pm
from symvi.backends import get_mode
from symvi.fused_reduce import TAG, FusedReduce

FUSED = get_mode("numba")
UNFUSED = get_mode("numba").excluding(TAG)
REDUCE = {"sum": pt.sum, "prod": pt.prod, "max": pt.max, "min": pt.min}


def n_fused(fn):
    return sum(isinstance(n.op, FusedReduce) for n in fn.maker.fgraph.apply_nodes)


def both(inputs, outputs):
    fused = pytensor.function(inputs, outputs, mode=FUSED)
    plain = pytensor.function(inputs, outputs, mode=UNFUSED)
    assert n_fused(plain) == 0
    return fused, plain


def assert_close(got, want, scale=None):
    """1e-12 relative; a sum's rounding is relative to the sum of its terms' magnitudes."""
    for g, w, s in zip(got, want, scale or [None] * len(got)):
        atol = 0.0 if s is None else 1e-12 * np.max(np.abs(s))
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=atol)


@st.composite
def cases(draw):
    ndim = draw(st.integers(1, 3))
    shape = draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim))
    patterns = []
    for _ in range(3):  # each input broadcasts along a random subset of dims
        patterns.append(tuple(draw(st.booleans()) for _ in range(ndim)))
    axes = draw(st.one_of(st.none(), st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))
    kind = draw(st.sampled_from(sorted(REDUCE)))
    seed = draw(st.integers(0, 2**16))
    return ndim, tuple(shape), patterns, axes, kind, seed


def _case_graph(case):
    ndim, shape, patterns, axes, kind, seed = case
    rng = np.random.default_rng(seed)
    xs = [pt.tensor(f"x{i}", shape=tuple(1 if b else None for b in bc)) for i, bc in enumerate(patterns)]
    vals = [rng.uniform(0.5, 1.5, size=tuple(1 if b else n for b, n in zip(bc, shape))) for bc in patterns]
    a, b, c = xs
    elem = pt.exp(a) * b - a / (1.0 + b**2) + pt.log(c) * a
    # the gradient of a broadcast parameter is a broadcast-multiply-sum over its broadcast dims
    grads = pytensor.grad(pt.sum(elem * rng.uniform(size=shape)), xs)
    av, bv, cv = vals
    terms = np.abs(np.exp(av) * bv) + np.abs(av / (1 + bv**2)) + np.abs(np.log(cv) * av)
    size = float(np.prod(shape))  # gradients: sums of at most `size` terms of order 10
    scales = [terms.sum() if kind == "sum" else None] + [np.array(10 * size)] * 3
    return xs, vals, [REDUCE[kind](elem, axis=axes), *grads], scales


# derandomised: the same examples every run, so their Numba kernels come from the disk cache;
# each example compiles four random cases together (a Numba compile costs seconds)
@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(st.lists(cases(), min_size=4, max_size=4))
def test_fused_values_and_gradients_match_unfused(batch):
    graphs = [_case_graph(case) for case in batch]
    inputs = [x for g in graphs for x in g[0]]
    outputs = [o for g in graphs for o in g[2]]
    fused, plain = both(inputs, outputs)
    vals = [v for g in graphs for v in g[1]]
    assert_close(fused(*vals), plain(*vals), [s for g in graphs for s in g[3]])


def test_one_loop_serves_every_reduction_of_a_multi_output_elemwise():
    x, m = pt.matrix("x"), pt.vector("m")
    d = x - m
    outs = [(d**2).sum(), d.sum(axis=0), (d * pt.exp(m)).sum(axis=1), pt.max(d, axis=0)]
    fused, plain = both([x, m], outs)
    nodes = [n for n in fused.maker.fgraph.apply_nodes if isinstance(n.op, FusedReduce)]
    assert len(nodes) == 1 and len(nodes[0].outputs) == 4
    rng = np.random.default_rng(1)
    vals = [rng.normal(size=(37, 9)), rng.normal(size=9)]
    assert_close(fused(*vals), plain(*vals), [np.abs(vals[0]).sum() * 10] * 4)


def test_non_contiguous_and_integer_inputs():
    x, k = pt.matrix("x"), pt.lmatrix("k")
    out = [(x * k).sum(axis=0), (k * k).sum()]  # int64 sum accumulates in int64
    fused, plain = both([x, k], out)
    assert n_fused(fused) >= 1
    rng = np.random.default_rng(2)
    xv = rng.normal(size=(8, 12))[:, ::2]  # strided
    kv = np.asfortranarray(rng.integers(-5, 5, size=(8, 6)))
    got, want = fused(xv, kv), plain(xv, kv)
    assert got[1].dtype == want[1].dtype and got[1] == want[1]
    assert_close(got[:1], want[:1], [np.abs(xv * kv).sum()])


def test_gather_feeding_a_likelihood_is_read_in_the_loop():
    x, idx, mu = pt.matrix("x"), pt.lvector("idx"), pt.vector("mu")
    lp = (-0.5 * (x[idx] - mu) ** 2).sum()
    out = [lp, pytensor.grad(lp, mu)]
    fused, plain = both([x, idx, mu], out)
    (node,) = [n for n in fused.maker.fgraph.apply_nodes if isinstance(n.op, FusedReduce)]
    assert any(node.op.gathered)
    rng = np.random.default_rng(3)
    xv, mv = rng.normal(size=(50, 4)), rng.normal(size=4)
    iv = np.array([0, 49, -1, 7, 7, -50])  # duplicates and negative indices
    assert_close(fused(xv, iv, mv), plain(xv, iv, mv), [np.abs(xv).sum() * 10] * 2)
    with pytest.raises(IndexError):
        fused(xv, np.array([0, 50]), mv)


def test_fallback_leaves_unhandled_patterns_alone():
    x = pt.matrix("x")
    e = pt.exp(x)
    # the elementwise result is needed in full: fusing would compute it twice
    fused, _ = both([x], [e.sum(axis=0), e])
    assert n_fused(fused) == 0
    # boolean reductions are left to pytensor
    fused, _ = both([x], [pt.all(x > 0, axis=0)])
    assert n_fused(fused) == 0


def test_mismatched_lengths_raise_like_elemwise():
    x, y = pt.matrix("x"), pt.matrix("y")
    fused, plain = both([x, y], [(x * y).sum()])
    assert n_fused(fused) == 1
    with pytest.raises(ValueError):
        plain(np.ones((3, 2)), np.ones((1, 2)))
    with pytest.raises(ValueError, match="disagree"):
        fused(np.ones((3, 2)), np.ones((1, 2)))


def test_sum_of_alloc_becomes_a_count():
    v, n = pt.matrix("v", shape=(1, None)), pt.lscalar("n")
    a = pt.alloc(pt.exp(v), n, v.shape[1])
    out = [a.sum(axis=0), a.sum(), a.sum(axis=1)]
    fused, plain = both([v, n], out)
    assert not any(type(nd.op).__name__ == "Alloc" and nd.outputs[0].ndim == 2 for nd in fused.maker.fgraph.apply_nodes)
    vv = np.random.default_rng(4).normal(size=(1, 5))
    assert_close(fused(vv, 7), plain(vv, 7), [np.exp(vv).sum() * 7] * 3)


def test_perform_is_the_numpy_reference():
    x, m = pt.matrix("x"), pt.vector("m")
    out = [((x - m) ** 2).sum(axis=0), pt.max(x - m)]
    fused = pytensor.function([x, m], out, mode=FUSED)
    (node,) = [n for n in fused.maker.fgraph.apply_nodes if isinstance(n.op, FusedReduce)]
    rng = np.random.default_rng(5)
    xv, mv = rng.normal(size=(6, 3)), rng.normal(size=3)
    storage = [[None], [None]]
    node.op.perform(node, [xv, mv[None, :]], storage)
    np.testing.assert_allclose(storage[0][0], ((xv - mv) ** 2).sum(axis=0), rtol=1e-12)
    assert storage[1][0] == np.max(xv - mv)


def test_model_logps_and_gradients_unchanged():
    """Several likelihoods over 2-D data: the fused model logp and gradient equal the unfused."""
    rng = np.random.default_rng(6)
    X = rng.gamma(2.0, 1.0, size=(300, 5))
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 10, shape=5)
        sd = pm.HalfNormal("sd", shape=5)
        nu = pm.Gamma("nu", 2, 0.1)
        pm.Normal("normal", mu, sd, observed=X)
        pm.StudentT("t", nu, mu, sd, observed=X)
        pm.Gamma("gamma", sd, sd, observed=X)
        pm.LogNormal("lognormal", mu, sd, observed=X)
        pm.Poisson("poisson", sd * 3, observed=np.floor(X))
        pm.Beta("beta", sd, sd + 1, observed=X / (X.max() + 1))
    lp = model.logp()
    out = [lp, *pytensor.grad(lp, model.value_vars)]
    fused, plain = both(model.value_vars, out)
    assert n_fused(fused) >= 1
    point = [rng.normal(size=v.type.shape if v.ndim else ()) * 0.3 for v in model.value_vars]
    assert_close(fused(*point), plain(*point), [abs(plain(*point)[0]) * 10] + [None] * len(model.value_vars))


def test_large_data_start_check_runs_when_the_first_step_fails(monkeypatch):
    """Above LARGE_DATA_BYTES the start check (unfused numpy, twice the data in temporaries)
    is deferred: a good start is not checked eagerly, a bad one still names its terms."""
    import symvi.variational.inference as inference

    calls = []
    original = inference._check_start_logp
    monkeypatch.setattr(inference, "LARGE_DATA_BYTES", 8)
    monkeypatch.setattr(inference, "_check_start_logp", lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    with pm.Model():
        pm.Normal("x", 0, 1)
        pm.HalfNormal("y", 1.0, observed=np.array([1.0, 0.5]))
        pm.fit(5, progressbar=False, random_seed=1)
    assert calls == []
    with pm.Model():
        pm.Normal("x", 0, 1)
        pm.HalfNormal("y", 1.0, observed=np.array([-1.0, 0.5]))  # -1 is outside the support
        with pytest.raises(ValueError, match=r"starting point: \{'y': -inf\}"):
            pm.fit(5, progressbar=False, random_seed=1)
    assert calls == [1]


@pytest.mark.parametrize("shape", [(40,), (40, 3, 2)])
def test_gather_of_vectors_and_3d_arrays(shape):
    # the row of a gathered input is looked up once per row (1-D: the element itself); 2-D
    # sources also prefetch rows ahead (test above), other ranks do not
    x, idx = pt.tensor("x", shape=(None,) * len(shape)), pt.lvector("idx")
    e = x[idx]
    lp = (pt.log1p(e**2) + 2 * e).sum(axis=0)
    fused, plain = both([x, idx], [lp])
    assert any(any(n.op.gathered) for n in fused.maker.fgraph.apply_nodes if isinstance(n.op, FusedReduce))
    rng = np.random.default_rng(4)
    xv, iv = rng.normal(size=shape), np.array([0, 39, -1, 5, 5, 12, -40, 3, 3, 20])
    assert_close(fused(xv, iv), plain(xv, iv), [np.abs(xv).sum() * 10])
