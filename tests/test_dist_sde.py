"""EulerMaruyama and MvStudentTRandomWalk: log densities equal to PyMC 5.28.5's, draws, a fit."""

import numpy as np
import pytest

import symvi as pm


def ou(x, k):
    return -k * x, 0.5


def test_logps_match_pymc():
    # PyMC 5.28.5: pm.logp(pm.EulerMaruyama.dist(dt=0.1, sde_fn=ou, sde_pars=(2.0,),
    # init_dist=pm.Normal.dist(0, 1), steps=4), x).eval() and the MvStudentTRandomWalk below
    e = pm.EulerMaruyama.dist(dt=0.1, sde_fn=ou, sde_pars=(2.0,), init_dist=pm.Normal.dist(0, 1), steps=4)
    np.testing.assert_allclose(pm.logp(e, np.array([0.1, 0.3, 0.2, -0.1, 0.0])).eval(), 0.29806624220451006, rtol=1e-12)
    w = pm.MvStudentTRandomWalk.dist(nu=4, mu=np.zeros(2), scale=np.eye(2), init_dist=pm.MvNormal.dist(np.zeros(2), np.eye(2)), steps=3)
    x = np.array([[0.0, 0.0], [1, 0.5], [0.3, -0.2], [2, 1]])
    np.testing.assert_allclose(pm.logp(w, x).eval(), -11.025423287014902, rtol=1e-12)


def test_euler_maruyama_draws_follow_the_transitions():
    dt, k = 0.1, np.array([2.0, 0.5])
    e = pm.EulerMaruyama.dist(dt=dt, sde_fn=ou, sde_pars=(k,), init_dist=pm.Normal.dist(0, 1), steps=30)
    d = pm.draw(e, 3000, random_seed=1)
    assert d.shape == (3000, 2, 31)
    resid = (d[..., 1:] - d[..., :-1] * (1 - k[:, None] * dt)) / (0.5 * np.sqrt(dt))
    np.testing.assert_allclose(resid.mean(), 0.0, atol=0.01)
    np.testing.assert_allclose(resid.std(), 1.0, atol=0.01)
    np.testing.assert_allclose(d[:, :, 0].std(), 1.0, atol=0.05)


def test_euler_maruyama_recovers_a_drift_and_student_walk_latent():
    rng = np.random.default_rng(3)
    k_true, dt, T = 1.5, 0.05, 400
    x = np.zeros(T + 1)
    for t in range(T):
        x[t + 1] = x[t] - k_true * x[t] * dt + 0.3 * np.sqrt(dt) * rng.normal()
    with pm.Model():
        k = pm.HalfNormal("k", 5)
        pm.EulerMaruyama("x", dt=dt, sde_fn=lambda x, k: (-k * x, 0.3), sde_pars=(k,), init_dist=pm.Normal.dist(0, 1), observed=x)
        pm.MvStudentTRandomWalk("w", nu=5, mu=np.zeros(2), scale=np.eye(2), init_dist=pm.MvNormal.dist(np.zeros(2), np.eye(2)), steps=4)
        approx = pm.fit(3000, progressbar=False, random_seed=1)
    post = approx.sample(2000, random_seed=2).posterior
    assert abs(float(post["k"].mean()) - k_true) < 2 * float(post["k"].std())
    assert post["w"].shape[2:] == (5, 2)


def test_bad_inputs_named():
    with pytest.raises(ValueError, match="dt"):
        pm.EulerMaruyama.dist(dt=-0.1, sde_fn=ou, sde_pars=(1.0,), init_dist=pm.Normal.dist(0, 1), steps=3)
    with pytest.raises(TypeError, match="sde_fn"):
        pm.EulerMaruyama.dist(dt=0.1, sde_fn=3, sde_pars=(1.0,), init_dist=pm.Normal.dist(0, 1), steps=3)
    with pytest.warns(UserWarning, match="Initial distribution not specified"):
        pm.EulerMaruyama.dist(dt=0.1, sde_fn=ou, sde_pars=(1.0,), steps=3)
    with pytest.raises(TypeError, match="nu"):
        pm.MvStudentTRandomWalk.dist(mu=np.zeros(2), scale=np.eye(2), steps=3)
