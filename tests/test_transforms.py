"""Transforms: round trips, log-Jacobians against finite differences, Jacobian in model.logp."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symvi
from symvi import transforms as tr
from symvi.transforms import numeric_log_jac

FAST = "FAST_COMPILE"


def _fn(f):
    """Compile a transform method for 1-D (or 2-D with ``ndim=2``) float inputs."""
    v = pt.dvector("v")
    return pytensor.function([v], f(v), mode=FAST)


def _positive_ordered(rng, n):
    return np.cumsum(rng.uniform(0.1, 1.0, n))


# name, transform, sampler of constrained points (rng -> 1-D array), unconstrained length
TRANSFORMS = [
    ("log", tr.log, lambda r: r.uniform(0.05, 5.0, 4), 4),
    ("logodds", tr.logodds, lambda r: r.uniform(0.01, 0.99, 4), 4),
    ("interval", tr.Interval(-2.0, 3.0), lambda r: r.uniform(-1.9, 2.9, 4), 4),
    ("interval-vector", tr.Interval(np.arange(4.0), np.arange(4.0) + 2), lambda r: np.arange(4.0) + r.uniform(0.1, 1.9, 4), 4),
    ("lowerbound", tr.LowerBound(1.5), lambda r: 1.5 + r.exponential(1.0, 4), 4),
    ("upperbound", tr.UpperBound(-0.5), lambda r: -0.5 - r.exponential(1.0, 4), 4),
    ("simplex", tr.simplex, lambda r: r.dirichlet(np.ones(5)), 4),
    ("ordered", tr.ordered, lambda r: np.sort(r.normal(0, 2, 5)), 5),
    ("chain-log-ordered", tr.Chain([tr.log, tr.ordered]), lambda r: _positive_ordered(r, 4), 4),
    ("chain-log-interval", tr.Chain([tr.log, tr.Interval(-1.0, 1.0)]), lambda r: np.exp(r.uniform(-0.9, 0.9, 4)), 4),
]
IDS = [t[0] for t in TRANSFORMS]


@pytest.mark.parametrize("name, t, sample, n", TRANSFORMS, ids=IDS)
def test_round_trip(name, t, sample, n):
    rng = np.random.default_rng(1)
    fwd, bwd = _fn(t.forward), _fn(t.backward)
    for _ in range(3):
        x = sample(rng)
        y = fwd(x)
        assert y.shape == (n,) and np.all(np.isfinite(y))
        np.testing.assert_allclose(bwd(y), x, rtol=1e-10, atol=1e-12)
        y = rng.normal(0, 1.5, n)
        np.testing.assert_allclose(fwd(bwd(y)), y, rtol=1e-8, atol=1e-9)
    assert t.unconstrained_shape((len(sample(rng)),)) == (n,)


@pytest.mark.parametrize("name, t, sample, n", TRANSFORMS, ids=IDS)
def test_log_jac_det_matches_finite_differences(name, t, sample, n):
    rng = np.random.default_rng(2)
    v = pt.dvector("v")
    jac = t.log_jac_det(v)
    f = pytensor.function([v], jac.sum() if t.ndim_event == 0 else jac, mode=FAST)
    assert jac.ndim == (1 if t.ndim_event == 0 else 0)
    for y in [rng.normal(0, 1, n) for _ in range(3)] + [np.full(n, -2.0)]:
        np.testing.assert_allclose(f(y), numeric_log_jac(t, y), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("t", [tr.simplex, tr.ordered, tr.Chain([tr.log, tr.ordered])], ids=["simplex", "ordered", "chain"])
def test_event_transforms_reduce_only_the_last_axis(t):
    y = pt.dmatrix("y")
    ys = np.random.default_rng(3).normal(size=(3, 4))
    batched = pytensor.function([y], t.log_jac_det(y), mode=FAST)(ys)
    single = _fn(t.log_jac_det)
    assert batched.shape == (3,)
    np.testing.assert_allclose(batched, [single(row) for row in ys], rtol=1e-12)


def test_chain_composes_in_order():
    t = tr.Chain([tr.LowerBound(1.0), tr.log])
    x = np.array([2.5, 3.0, 10.0])
    np.testing.assert_allclose(_fn(t.forward)(x), np.log(np.log(x - 1.0)))
    assert t.name == "lowerbound_log"


# ---------------------------------------------------------------------- in the model
def test_model_logp_includes_jacobian():
    with symvi.Model() as m:
        s = symvi.HalfNormal("s", 2.0)
        u = symvi.Uniform("u", -1.0, 3.0, size=2)
        b = symvi.Beta("b", 2.0, 3.0)
        tn = symvi.TruncatedNormal("tn", 0.0, 1.0, lower=0.5)
        symvi.Normal("x", 0.0, 1.0)  # untransformed: no Jacobian term
    rvs = [s, u, b, tn]
    expected = [tr.LogTransform, tr.Interval, tr.LogOddsTransform, tr.LowerBound]
    for rv, cls in zip(rvs, expected):
        assert isinstance(m.rvs_to_transforms[rv], cls)
    assert m.rvs_to_transforms[m["x"]] is None

    values = m.value_vars
    f = pytensor.function(values, [m.logp(), m.logp(jacobian=False)], mode=FAST)
    jac_terms = sum(pt.sum(m.rvs_to_transforms[rv].log_jac_det(m.rvs_to_values[rv])) for rv in rvs)
    g = pytensor.function(values, jac_terms, mode=FAST, on_unused_input="ignore")
    rng = np.random.default_rng(4)
    for _ in range(3):
        point = [rng.normal(size=v.type.shape) for v in values]
        with_jac, without = f(*point)
        np.testing.assert_allclose(with_jac - without, g(*point), rtol=1e-10)
        assert abs(with_jac - without) > 1e-3

    # jacobian=False is the density of the constrained values themselves
    point = {v.name: rng.normal(size=v.type.shape) for v in values}
    x_s = np.exp(point["s_log__"])
    x_tn = 0.5 + np.exp(point["tn_lowerbound__"])
    only = pytensor.function(values, m.logp(vars=[s, tn], jacobian=False), mode=FAST, on_unused_input="ignore")
    from scipy import stats

    want = stats.halfnorm(scale=2).logpdf(x_s) + stats.truncnorm(0.5, np.inf).logpdf(x_tn)
    np.testing.assert_allclose(only(*[point[v.name] for v in values]), want, rtol=1e-10)
