"""pm.ode.DifferentialEquation: solutions against closed forms and scipy, gradients against
analytic derivatives and finite differences, batching over draws, a fit, and bad input."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.replace import vectorize_graph
from scipy.integrate import odeint

import symvi as pm
from symvi.ode import DifferentialEquation

FAST = "FAST_RUN"  # PyTensor's C/Python VM for the numeric checks; Numba (symvi's default) below
TIMES = np.array([0.25, 0.5, 1.0, 2.0, 3.5])


def decay(y, t, p):
    return -p[0] * y[0]


def lotka_volterra(y, t, p):
    return [p[0] * y[0] - p[1] * y[0] * y[1], p[1] * y[0] * y[1] - p[0] * y[1]]


DECAY = DifferentialEquation(func=decay, times=TIMES, n_states=1, n_theta=1)
LV = DifferentialEquation(func=lotka_volterra, times=TIMES, n_states=2, n_theta=2, t0=0)


def test_pm_ode_is_the_module():
    assert pm.ode.DifferentialEquation is DifferentialEquation


def test_decay_solution_and_gradients_match_closed_form():
    y0, k = pt.dscalar("y0"), pt.dscalar("k")
    out = DECAY(y0=[y0], theta=[k])
    assert out.type.shape == (len(TIMES), 1)  # (T, n_states) also for one state, as in PyMC
    w = np.linspace(0.5, 1.5, len(TIMES))  # a weighted sum checks each time's derivative
    loss = (out[:, 0] * w).sum()
    fn = pytensor.function([y0, k], [out, *pytensor.grad(loss, [y0, k])])
    sol, g_y0, g_k = fn(2.0, 0.7)
    expect = 2.0 * np.exp(-0.7 * TIMES)
    np.testing.assert_allclose(sol[:, 0], expect, rtol=1e-6)
    np.testing.assert_allclose(g_y0, (w * np.exp(-0.7 * TIMES)).sum(), rtol=1e-6)
    np.testing.assert_allclose(g_k, (w * -TIMES * expect).sum(), rtol=1e-6)


def test_decay_passes_verify_grad():
    rng = np.random.default_rng(0)
    pytensor.gradient.verify_grad(
        lambda y0, th: DECAY(y0=y0, theta=th), [np.array([1.3]), np.array([0.6])], rng=rng, abs_tol=1e-5, rel_tol=1e-5,
        mode=FAST,
    )


def test_two_state_system_matches_scipy_and_finite_differences():
    y0, th = np.array([1.0, 0.5]), np.array([0.8, 0.6])
    grid = np.concatenate([[0.0], TIMES])
    ref = odeint(lambda y, t: lotka_volterra(y, t, th), y0, grid, rtol=1e-10, atol=1e-12)[1:]
    y0v, thv = pt.dvector("y0"), pt.dvector("theta")
    out = LV(y0=y0v, theta=thv)
    w = np.random.default_rng(1).normal(size=(len(TIMES), 2))
    loss = (out * w).sum()
    fn = pytensor.function([y0v, thv], [out, *pytensor.grad(loss, [y0v, thv])], mode=FAST)
    sol, g_y0, g_th = fn(y0, th)
    np.testing.assert_allclose(sol, ref, rtol=1e-6, atol=1e-8)

    def loss_np(a, b):
        z = odeint(lambda y, t: lotka_volterra(y, t, b), a, grid, rtol=1e-11, atol=1e-12)[1:]
        return float((z * w).sum())

    eps = 1e-6
    fd = [
        np.array([(loss_np(*(x + eps * e if j == i else x for j, x in enumerate((y0, th)))) -
                   loss_np(*(x - eps * e if j == i else x for j, x in enumerate((y0, th))))) / (2 * eps)
                  for e in np.eye(len(v))])
        for i, v in enumerate((y0, th))
    ]
    np.testing.assert_allclose(g_y0, fd[0], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g_th, fd[1], rtol=1e-4, atol=1e-6)


def test_sensitivities_output_and_python_literals_in_theta():
    k = pt.dscalar("k")
    _, sens = DECAY(y0=[1], theta=[k], return_sens=True)  # an int in y0, as in PyMC's docs
    assert sens.type.shape == (len(TIMES), 1, 2)
    s = pytensor.function([k], sens, mode=FAST)(0.5)
    np.testing.assert_allclose(s[:, 0, 0], np.exp(-0.5 * TIMES), rtol=1e-6)  # d y / d y0
    np.testing.assert_allclose(s[:, 0, 1], -TIMES * np.exp(-0.5 * TIMES), rtol=1e-6)  # d y / d k


def test_batched_draws_equal_one_solve_per_draw():
    """What symvi does to a log density over draws (vectorize_graph): the Op loops itself.
    Compiled with symvi's default backend (Numba; the solve runs in object mode)."""
    th = pt.dvector("theta")
    out = LV(y0=[1.0, 0.5], theta=th)
    lp = -((out - 1.0) ** 2).sum()
    grad = pytensor.grad(lp, th)
    draws = pt.dmatrix("draws")
    blp, bgrad = vectorize_graph([lp, grad], {th: draws})
    fn_b = pytensor.function([draws], [blp, bgrad])
    fn_1 = pytensor.function([th], [lp, grad])
    Z = np.array([[0.8, 0.6], [1.1, 0.4], [0.5, 0.9]])
    b_lp, b_g = fn_b(Z)
    assert b_lp.shape == (3,) and b_g.shape == (3, 2)
    for i, z in enumerate(Z):
        one_lp, one_g = fn_1(z)
        np.testing.assert_allclose(b_lp[i], one_lp, rtol=1e-10)
        np.testing.assert_allclose(b_g[i], one_g, rtol=1e-10)


def test_broadcast_y0_gradient_sums_over_draws():
    y0 = pt.tensor("y0", shape=(1, 2))  # one initial state shared by three parameter draws
    th = pt.dmatrix("theta")
    out = LV(y0=y0, theta=th)
    fn = pytensor.function([y0, th], [out, pytensor.grad(out.sum(), y0)], mode=FAST)
    Z = np.array([[0.8, 0.6], [1.1, 0.4], [0.5, 0.9]])
    sol, g = fn(np.array([[1.0, 0.5]]), Z)
    assert sol.shape == (3, len(TIMES), 2) and g.shape == (1, 2)
    expect = sum(LV.simulate([1.0, 0.5], z)[1][..., :2].sum(axis=(0, 1)) for z in Z)
    np.testing.assert_allclose(g[0], expect, rtol=1e-10)


def _freefall_data():
    def freefall(y, t, p):
        return 2.0 * p[1] - p[0] * y[0]

    rng = np.random.default_rng(20394)
    times = np.arange(0, 10, 0.5)
    y = odeint(freefall, t=times, y0=-2, args=((0.4, 9.8),))
    return freefall, times, rng.normal(y, 2)


def test_freefall_advi_recovers_gamma_and_sigma():
    """PyMC's ODE_API_introduction freefall model, unchanged, fitted with ADVI."""
    freefall, times, yobs = _freefall_data()
    ode_model = pm.ode.DifferentialEquation(func=freefall, times=times, n_states=1, n_theta=2, t0=0)
    with pm.Model():
        sigma = pm.HalfCauchy("sigma", 1)
        gamma = pm.LogNormal("gamma", 0, 1)
        ode_solution = ode_model(y0=[0], theta=[gamma, 9.8])
        pm.Normal("Y", mu=ode_solution, sigma=sigma, observed=yobs)
        approx = pm.fit(n=2500, method="advi", random_seed=1, progressbar=False)
    assert np.all(np.isfinite(approx.hist))
    post = approx.sample(500, random_seed=2).posterior
    assert abs(float(post["gamma"].mean()) - 0.4) < 0.05  # true 0.4, data-determined to ~0.01
    assert 1.2 < float(post["sigma"].mean()) < 3.2  # true 2, 20 observations


@pytest.mark.slow
def test_freefall_nuts_matches_advi():
    freefall, times, yobs = _freefall_data()
    ode_model = pm.ode.DifferentialEquation(func=freefall, times=times, n_states=1, n_theta=2, t0=0)
    with pm.Model():
        sigma = pm.HalfCauchy("sigma", 1)
        gamma = pm.LogNormal("gamma", 0, 1)
        pm.Normal("Y", mu=ode_model(y0=[0], theta=[gamma, 9.8]), sigma=sigma, observed=yobs)
        trace = pm.sample(300, tune=300, chains=1, random_seed=3, progressbar=False)
    assert abs(float(trace.posterior["gamma"].mean()) - 0.4) < 0.05


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="y0 must have 2 values"):
        LV(y0=[1.0], theta=[0.8, 0.6])
    with pytest.raises(ValueError, match="theta must have 2 values"):
        LV(y0=[1.0, 0.5], theta=[0.8, 0.6, 1.0])
    with pytest.raises(ValueError, match="y0 must have 1 values"):
        DECAY(y0=np.ones(3), theta=[0.5])
    with pytest.raises(ValueError, match="n_states=3"):
        DifferentialEquation(func=lotka_volterra, times=TIMES, n_states=3, n_theta=2)
    with pytest.raises(ValueError, match="n_theta"):
        DifferentialEquation(func=decay, times=TIMES, n_states=1, n_theta=0)
    with pytest.raises(TypeError, match="func must be callable"):
        DifferentialEquation(func=None, times=TIMES, n_states=1, n_theta=1)
    with pytest.raises(ValueError, match="t0"):
        DifferentialEquation(func=decay, times=TIMES, n_states=1, n_theta=1, t0=1.0)
    # a length only known when run: the message still names theta
    th = pt.dvector("theta")
    fn = pytensor.function([th], LV(y0=[1.0, 0.5], theta=th), mode=FAST)
    with pytest.raises(ValueError, match="theta"):
        fn(np.ones(3))


def test_numba_solve_has_a_cache_key_shared_by_equal_odes():
    """Under Numba the solve has a cache key (no object-mode fallback), so a compiled fit of an
    ODE model is reused within a process and found in PyTensor's disk cache by a new one."""
    from pytensor.graph.fg import FunctionGraph
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    def key(ode):
        th = pt.dmatrix("theta")
        node = ode._op.make_node(pt.as_tensor_variable(np.array([1.0, 0.5])), th)
        return numba_funcify_and_cache_key(node.op, node=node)[1]

    def lv_other(y, t, p):  # one constant differs from lotka_volterra
        return [p[0] * y[0] - p[1] * y[0] * y[1], p[1] * y[0] * y[1] - 2.0 * p[0] * y[1]]

    again = DifferentialEquation(func=lotka_volterra, times=TIMES, n_states=2, n_theta=2, t0=0)
    later = DifferentialEquation(func=lotka_volterra, times=TIMES + 0.5, n_states=2, n_theta=2, t0=0)
    other = DifferentialEquation(func=lv_other, times=TIMES, n_states=2, n_theta=2, t0=0)
    assert key(LV) is not None
    assert key(again) == key(LV)  # a re-run of the cell that builds the model
    assert len({key(LV), key(later), key(other)}) == 3
    # the whole graph of a log density with its gradient gets a key too
    th = pt.dvector("theta")
    lp = -((LV(y0=[1.0, 0.5], theta=th) - 1.0) ** 2).sum()
    fg = FunctionGraph([th], [lp, pytensor.grad(lp, th)], clone=True)
    assert numba_funcify_and_cache_key(fg)[1] is not None


def test_numba_solve_reports_errors_and_interrupts_from_the_solver():
    """An exception in the Python solver becomes a RuntimeError (its traceback is logged);
    Ctrl-C during a solve still raises KeyboardInterrupt."""
    ode = DifferentialEquation(func=lambda y, t, p: -1.2345 * p[0] * y[0], times=TIMES, n_states=1, n_theta=1)
    th = pt.dvector("theta")
    fn = pytensor.function([th], ode(y0=[1.0], theta=th), mode="NUMBA")
    np.testing.assert_allclose(fn(np.array([0.3]))[:, 0], np.exp(-1.2345 * 0.3 * TIMES), rtol=1e-6)

    def fail(*args):
        raise ZeroDivisionError("inside the solver")

    def interrupt(*args):
        raise KeyboardInterrupt

    ode.simulate = fail
    with pytest.raises(RuntimeError, match="ODE solve raised"):
        fn(np.array([0.3]))
    ode.simulate = interrupt
    with pytest.raises(KeyboardInterrupt):
        fn(np.array([0.3]))
