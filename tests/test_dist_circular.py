"""VonMises (symvi/distributions/circular.py) against scipy.stats.vonmises and PyMC 5.

scipy's density is periodic; ours is the same on [-pi, pi] and 0 outside.  Draws are compared
through the angle ``x - mu`` wrapped into [-pi, pi], which is VonMises(0, kappa).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.special as sp
import scipy.stats as st
from dist_checks import FAST, INF, check_batched_draws, check_transform, evaluate

import symvi
from symvi import transforms
from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn

PARAMS = [(0.5, 3.0), (-2.5, 0.5), (3.0, 20.0), (0.3, 800.0), (4.0, 2.0)]  # mu outside [-pi, pi] last


def test_logp_matches_scipy_on_the_circle_and_is_minus_inf_off_it():
    inside = np.concatenate([np.linspace(-np.pi, np.pi, 41), [0.3 + 1e-3, 3.0 - 1e-3]])
    outside = np.array([-np.pi - 1e-3, np.pi + 1e-3, -4.0, 7.0])
    outs = evaluate([(symvi.VonMises.dist(mu, kappa), "logp", np.concatenate([inside, outside])) for mu, kappa in PARAMS])
    for (mu, kappa), out in zip(PARAMS, outs):
        np.testing.assert_allclose(out[: inside.size], st.vonmises(kappa, loc=mu).logpdf(inside), rtol=1e-10, atol=1e-12)
        assert np.all(out[inside.size :] == -INF)


def test_density_integrates_to_one():
    x = np.linspace(-np.pi, np.pi, 20001)
    outs = evaluate([(symvi.VonMises.dist(mu, kappa), "logp", x) for mu, kappa in PARAMS])
    for out in outs:
        np.testing.assert_allclose(np.trapezoid(np.exp(out), x), 1.0, rtol=1e-6)


def test_matches_pymc():
    """PyMC 5.28.5, from /tmp/venv-pymc: ``pm.logp(pm.VonMises.dist(np.float64(0.5),
    np.float64(3.0)), x).eval()``."""
    got = evaluate([(symvi.VonMises.dist(0.5, 3.0), "logp", [-3.0, 0.1, 0.5, 3.0])])[0]
    want = [-6.232554750095154, -0.6600017062141108, -0.4231846882227661, -5.826615534863567]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_draws_wrap_into_the_circle_and_match_scipy():
    n = 4000
    rvs = [symvi.VonMises.dist(mu, kappa, size=n) for mu, kappa in PARAMS]
    xs = compile_fn([], rvs, random_seed=3, mode=FAST)()
    for (mu, kappa), x in zip(PARAMS, xs):
        assert np.all((x >= -np.pi) & (x <= np.pi)), (mu, kappa)
        d = np.angle(np.exp(1j * (x - mu)))  # x - mu wrapped: VonMises(0, kappa)
        assert st.kstest(d, st.vonmises(kappa).cdf).pvalue > 1e-3, (mu, kappa)
        # E cos(x - mu) = I1(kappa) / I0(kappa), within 5 standard errors
        c = np.cos(d)
        assert abs(c.mean() - sp.ive(1, kappa) / sp.ive(0, kappa)) < 5 * c.std() / np.sqrt(n) + 1e-12, (mu, kappa)


def test_batched_parameters_give_independent_draws():
    check_batched_draws([lambda: symvi.VonMises.dist(np.zeros(4), 1.0), lambda: symvi.VonMises.dist(0.0, np.ones(4))])


def test_support_point_is_mu_wrapped_and_transform_is_interval():
    mus = np.array([0.5, 4.0, -7.0, np.pi])
    rv = symvi.VonMises.dist(mus, 2.0)
    info = dist_info(rv)
    sp_ = info.cls.support_point(rv, **info.params)
    point, lp = pytensor.function([], [sp_, info.logp(sp_)], mode=FAST)()
    np.testing.assert_allclose(point[:3], [0.5, 4.0 - 2 * np.pi, -7.0 + 2 * np.pi], rtol=1e-12)
    assert -np.pi < point[3] < np.pi and abs(point[3] - np.pi) < 1e-5  # mu = pi: just inside
    assert np.all(np.isfinite(lp))
    check_transform(rv, transforms.Interval, -np.pi, np.pi)
    tr = info.cls.default_transform(info.params)
    np.testing.assert_allclose([tr.lower.eval(), tr.upper.eval()], [-np.pi, np.pi])


def test_invalid_kappa():
    with symvi.Model():
        with pytest.raises(ValueError, match=r"'bad_var'.*parameter kappa must be"):
            symvi.VonMises("bad_var", 0.0, -1.0)
    s = pt.dscalar("s")
    f = pytensor.function([s], dist_info(symvi.VonMises.dist(0.0, s)).logp(pt.as_tensor(0.3)), mode=FAST)
    assert f(-1.0) == -INF and np.isfinite(f(1.0))


def test_model_with_vonmises_latent_has_finite_logp_and_gradient():
    with symvi.Model() as m:
        theta = symvi.VonMises("theta", mu=3.0, kappa=0.5)
        symvi.VonMises("y", mu=theta, kappa=4.0, observed=np.array([2.9, -3.1, 3.05]))
    point = m.initial_point()
    logp = m.logp()
    f = pytensor.function(m.value_vars, [logp, *pytensor.grad(logp, m.value_vars)], mode=FAST)
    out = f(*[point[v.name] for v in m.value_vars])
    assert all(np.all(np.isfinite(o)) for o in out)
    assert list(point) == ["theta_interval__"]
