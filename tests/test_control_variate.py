"""The full-data control variate of default minibatch fits (symvi.variational.control_variate)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.replace import graph_replace

import symvi as pm
from symvi.minibatch import full_data_replacements
from symvi.optimize import FlatLogp
from symvi.variational import control_variate
from symvi.variational.control_variate import MinibatchControlVariate
from symvi.variational.objective import default_kl_loss, model_logp_flat


def _regression(n=600, batch=40):
    r = np.random.default_rng(3)
    x = r.normal(size=n)
    y = 0.5 + 1.5 * x + r.normal(0, 0.7, size=n)
    with pm.Model() as model:
        xb, yb = pm.Minibatch(x, y, batch_size=batch, random_seed=2)
        a = pm.Normal("a", 0, 5)
        b = pm.Normal("b", 0, 5)
        s = pm.HalfNormal("s", 2)
        pm.Normal("y", a + b * xb, s, observed=yb, total_size=n)
        q = pm.MeanField()
    return model, q


def test_the_corrected_batch_gradient_is_the_full_data_gradient_when_the_curvature_is_constant():
    """Two location parameters over paired columns: every row's log density has the same
    (constant) curvature, so the batch noise cancels exactly and the corrected gradient at
    any point is the full-data one, whichever batch was drawn (uncorrected it varies by
    ~30 % of its size)."""
    r = np.random.default_rng(0)
    x = r.normal(2.0, 1.0, size=500)
    y = r.normal(-1.0, 0.5, size=500)
    with pm.Model():
        xb, yb = pm.Minibatch(x, y, batch_size=25, random_seed=1)
        a = pm.Normal("a", 0, 5)
        b = pm.Normal("b", 0, 5)
        pm.Normal("x", a, 1.0, observed=xb, total_size=500)
        pm.Normal("y", b, 0.5, observed=yb, total_size=500)
        q = pm.MeanField()
    cv = MinibatchControlVariate.build(q)
    cv.refresh(np.array([0.3, -1.5]))
    theta, logp = model_logp_flat(q)
    z = pt.vector("z", dtype=q.dtype)
    at_z = graph_replace(logp, {theta: z}, strict=False)
    grads = pytensor.function([z], [pt.grad(at_z, z), pt.grad(at_z + cv.correction(logp, theta, z), z)])
    point = np.array([1.9, -0.7])
    want = np.array([np.sum(x - point[0]), np.sum(y - point[1]) / 0.25]) - point / 25
    plain, corrected = zip(*(grads(point) for _ in range(5)))
    for g in corrected:
        np.testing.assert_allclose(g, want, rtol=1e-9)
    assert np.std([g[1] for g in plain]) > 0.1 * abs(want[1])


def test_the_full_data_gradient_in_row_blocks_equals_one_pass_over_all_rows(monkeypatch):
    """Paired minibatches, 600 rows in blocks of 7 (the last one shorter): each block's log
    density is scaled to total_size, so the blocks' gradients weighted by their share of the
    rows sum to the full data's."""
    model, q = _regression()
    monkeypatch.setattr(control_variate, "BLOCK_ELEMENTS", 14)  # 2 elements a row: 7 rows
    cv = MinibatchControlVariate.build(q)
    point = np.array([0.4, 1.2, np.log(0.8)])
    full = FlatLogp(model, q.layout.unravel(q._start), one_shot=True, replacements=full_data_replacements(model))
    np.testing.assert_allclose(cv.full_grad(point), full.value_and_grad(point)[1], rtol=1e-9)
    cv.refresh(point)
    assert cv.refreshes == 1 and float(cv.ready.get_value()) == 1.0
    np.testing.assert_array_equal(cv.z_ref.get_value(), point)


def test_only_default_fits_of_minibatch_models_get_the_control_variate():
    _, q = _regression()
    _, cv = default_kl_loss(q)
    assert cv is not None
    with pm.Model():
        pm.Normal("m", 0, 1)
        pm.Normal("obs", pm.Normal("mu", 0, 1), 1, observed=np.zeros(10))
        assert default_kl_loss(pm.MeanField())[1] is None  # full data: nothing to correct
    model, _ = _regression()
    with model:
        inf = pm.ADVI(random_seed=1)
        step = inf.step_function(obj_optimizer=pm.adam(learning_rate=0.01))
    assert step.control_variate is None  # an explicit optimizer: PyMC's estimator
    names = {v.name for v in pytensor.graph.traversal.ancestors([step._loss, *step._updates.values()]) if v.name}
    assert "cv_z_ref" not in names


def test_a_stream_has_no_full_data_to_correct_with():
    from symvi.streaming import StreamingMinibatch

    data = np.random.default_rng(0).normal(size=200)
    s = StreamingMinibatch(data, batch_size=20, random_seed=0)
    with pm.Model():
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("obs", mu, 1, observed=s.tensor, total_size=s.total_size)
        q = pm.MeanField()
    assert MinibatchControlVariate.build(q) is None
