"""``pm.total_norm_constraint`` composed with the optimizers (Lasagne/PyMC style: gradients
rescaled by their joint norm, then handed to any optimizer in place of a loss)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symvi as pm


def quadratic():
    w = pytensor.shared(np.array([3.0, -4.0]), name="w")
    v = pytensor.shared(np.array([[12.0]]), name="v")
    loss = 0.5 * pt.sum(w**2) + 0.5 * pt.sum(v**2)  # gradients: w and v themselves, joint norm 13
    return w, v, loss


def test_rescaled_gradients_drive_sgd_and_adam():
    w, v, loss = quadratic()
    grads, norm = pm.total_norm_constraint(pytensor.grad(loss, [w, v]), 1.3, return_norm=True)
    assert float(norm.eval()) == pytest.approx(13.0)
    step = pytensor.function([], [], updates=pm.sgd(grads, [w, v], learning_rate=1.0))
    step()
    scale = 1.3 / (13.0 + 1e-7)
    np.testing.assert_allclose(w.get_value(), [3.0 - 3.0 * scale, -4.0 + 4.0 * scale], rtol=1e-12)
    np.testing.assert_allclose(v.get_value(), [[12.0 - 12.0 * scale]], rtol=1e-12)
    # adam's first step (epsilon added to the uncorrected sqrt(v) = sqrt(1 - beta2) |g|):
    # learning_rate * g / (|g| + epsilon / sqrt(1 - beta2)), g the rescaled gradient
    w2, v2, loss2 = quadratic()
    up = pm.adam(pm.total_norm_constraint(pytensor.grad(loss2, [w2, v2]), 1e-3), [w2, v2], learning_rate=0.1)
    pytensor.function([], [], updates=up)()
    g = np.array([3.0, -4.0]) * 1e-3 / (13.0 + 1e-7)
    np.testing.assert_allclose(w2.get_value(), [3.0, -4.0] - 0.1 * g / (np.abs(g) + 1e-8 / np.sqrt(0.001)), rtol=1e-10)


def test_small_gradients_pass_unchanged_and_bad_input():
    g = [pt.as_tensor(np.array([0.3, 0.4]))]
    np.testing.assert_allclose(pm.total_norm_constraint(g, 1.0)[0].eval(), [0.3, 0.4], rtol=0, atol=0)
    with pytest.raises(ValueError, match="max_norm must be a positive number"):
        pm.total_norm_constraint(g, 0.0)
    with pytest.raises(ValueError, match="tensor_vars is empty"):
        pm.total_norm_constraint([], 1.0)
    limit = pt.dscalar("limit")  # a symbolic bound works too
    f = pytensor.function([limit], pm.total_norm_constraint([pt.as_tensor(np.array([3.0, 4.0]))], limit)[0])
    np.testing.assert_allclose(f(2.5), [1.5, 2.0], rtol=1e-7)
