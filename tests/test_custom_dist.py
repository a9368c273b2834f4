"""CustomDist: the logp= form (with logcdf=, random=) and the dist= form (density derived by a
change of variables), as observed and as a latent variable in a VI fit."""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytest
import scipy.stats as st

import symvi as pm
from symvi import transforms
from symvi.pytensorf import compile_fn

FAST = "FAST_COMPILE"


def _normal_logp(value, mu, sigma):
    return -0.5 * ((value - mu) / sigma) ** 2 - pm.math.log(sigma) - 0.5 * np.log(2 * np.pi)


def _exp_random(lam, rng=None, size=None):
    return rng.exponential(1 / lam, size=size)


def test_logp_form_density_logcdf_and_params_order():
    x = pm.CustomDist.dist(1.0, 2.0, logp=_normal_logp, logcdf=lambda v, mu, sigma: pm.logcdf(pm.Normal.dist(mu, sigma), v))
    v = np.array([-1.0, 0.5, 3.0])
    lp, lc = pytensor.function([], [pm.logp(x, v), pm.logcdf(x, v)], mode=FAST)()
    np.testing.assert_allclose(lp, st.norm(1, 2).logpdf(v), rtol=1e-12)
    np.testing.assert_allclose(lc, st.norm(1, 2).logcdf(v), rtol=1e-12)
    with pytest.raises(TypeError, match="icdf: CustomDist has no icdf"):
        pm.icdf(x, 0.5)


def test_random_draws_follow_the_numpy_function_and_seed():
    x = pm.CustomDist.dist(2.0, logp=lambda v, lam: pm.math.log(lam) - lam * v, random=_exp_random, size=4000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # numba runs the numpy function in object mode
        f = compile_fn([], x, random_seed=3)
        a, b = f(), f()
        c = compile_fn([], x, random_seed=3)()
    assert a.shape == (4000,) and not np.array_equal(a, b) and np.array_equal(a, c)
    assert st.kstest(a, st.expon(scale=0.5).cdf).pvalue > 1e-3


def test_no_random_raises_when_drawn():
    x = pm.CustomDist.dist(0.0, 1.0, logp=_normal_logp, size=2)
    with pytest.raises(TypeError, match="no random= function"):
        pytensor.function([], x, mode=FAST)()


def test_neither_logp_nor_dist_is_a_type_error():
    with pm.Model():
        with pytest.raises(TypeError, match="CustomDist 'y': give logp="):
            pm.CustomDist("y", 0.0, 1.0, random=_exp_random)
    with pytest.raises(TypeError, match="dist= or random=, not both"):
        pm.CustomDist.dist(1.0, dist=lambda lam, size: pm.Exponential.dist(lam, size=size), random=_exp_random)


DERIVED = [
    # id, dist function, params, scipy reference, grid
    ("exp", lambda mu, sigma, size: pm.math.exp(pm.Normal.dist(mu, sigma, size=size)), (0.3, 0.7), st.lognorm(0.7, scale=np.exp(0.3)), np.array([-1.0, 0.0, 0.2, 1.0, 5.0])),
    ("affine", lambda lam, size: 3.0 - 2.0 * pm.Exponential.dist(lam, size=size), (1.5,), st.expon(scale=-2 / 1.5, loc=3.0) if False else None, np.array([-2.0, 0.0, 2.9, 3.5])),
    ("div-shift", lambda a, b, size: pm.Gamma.dist(a, b, size=size) / 4.0 + 1.0, (2.0, 3.0), st.gamma(2, loc=1.0, scale=1 / 12), np.array([0.5, 1.0, 1.1, 2.0])),
    ("sigmoid", lambda mu, size: pm.math.sigmoid(pm.Normal.dist(mu, 1.0, size=size)), (0.5,), None, np.array([0.1, 0.5, 0.9])),
    ("reciprocal", lambda a, b, size: 1.0 / pm.Gamma.dist(a, b, size=size), (3.0, 2.0), st.invgamma(3, scale=2), np.array([0.1, 1.0, 4.0])),
    ("log", lambda a, size: pm.math.log(pm.Exponential.dist(a, size=size)), (2.0,), None, np.array([-3.0, 0.0, 1.0])),
]


def _reference(name, grid):
    if name == "affine":  # y = 3 - 2 x, x ~ Exp(1.5): x = (3 - y) / 2, |dx/dy| = 1/2
        return st.expon(scale=1 / 1.5).logpdf((3 - grid) / 2) - np.log(2)
    if name == "sigmoid":  # logit-normal
        z = np.log(grid) - np.log1p(-grid)
        return st.norm(0.5, 1).logpdf(z) - np.log(grid) - np.log1p(-grid)
    if name == "log":  # y = log x, x ~ Exp(2): density 2 e^y exp(-2 e^y)
        return np.log(2.0) + grid - 2 * np.exp(grid)
    raise KeyError(name)


@pytest.mark.parametrize("case", DERIVED, ids=[c[0] for c in DERIVED])
def test_dist_form_density_by_change_of_variables(case):
    name, build, params, ref, grid = case
    x = pm.CustomDist.dist(*params, dist=build)
    got = pytensor.function([], pm.logp(x, grid), mode=FAST)()
    with np.errstate(divide="ignore"):
        want = ref.logpdf(grid) if ref is not None else _reference(name, grid)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_dist_form_draws_transform_and_plain_distribution():
    x = pm.CustomDist.dist(0.3, 0.7, dist=DERIVED[0][1], size=3000)
    draws = compile_fn([], x, random_seed=1, mode=FAST)()
    assert st.kstest(draws, st.lognorm(0.7, scale=np.exp(0.3)).cdf).pvalue > 1e-3
    with pm.Model() as m:
        a = pm.CustomDist("a", 0.0, 1.0, dist=DERIVED[0][1])
        b = pm.CustomDist("b", 2.0, dist=lambda lam, size: pm.Exponential.dist(lam, size=size))
        c = pm.CustomDist("c", 0.5, dist=DERIVED[3][1])
    assert m.rvs_to_transforms[a] is transforms.log and m.rvs_to_transforms[b] is transforms.log
    assert m.rvs_to_transforms[c] is transforms.logodds
    np.testing.assert_allclose(pytensor.function([], pm.logcdf(b, 1.0), mode=FAST)(), st.expon(scale=0.5).logcdf(1.0))
    ip = m.initial_point()
    np.testing.assert_allclose([ip["a_log__"], ip["b_log__"]], [0.0, np.log(0.5)])


def test_dist_form_unsupported_ops_name_the_op():
    with pytest.raises(TypeError, match="Add applied to 2 random variables"):
        pm.CustomDist.dist(0.0, dist=lambda mu, size: pm.Normal.dist(mu, 1.0, size=size) + pm.Normal.dist(mu, 1.0, size=size))
    with pytest.raises(TypeError, match="through Abs"):
        pm.CustomDist.dist(0.0, dist=lambda mu, size: abs(pm.Normal.dist(mu, 1.0, size=size)))
    with pytest.raises(TypeError, match="change of variables needs a continuous"):
        pm.CustomDist.dist(2.0, dist=lambda mu, size: 2 * pm.Poisson.dist(mu, size=size))


def test_observed_logp_form_in_a_model():
    data = np.array([0.3, -0.2, 1.4])
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 2.0)
        pm.CustomDist("y", mu, 0.5, logp=_normal_logp, observed=data)
    got = m.compile_logp()({"mu": np.array(0.4)})
    np.testing.assert_allclose(got, st.norm(0, 2).logpdf(0.4) + st.norm(0.4, 0.5).logpdf(data).sum(), rtol=1e-12)


def _sigma_models(y):
    with pm.Model() as custom:
        sigma = pm.CustomDist("sigma", 0.0, 1.0, dist=lambda mu, s, size: pm.math.exp(pm.Normal.dist(mu, s, size=size)))
        pm.Normal("y", 0.0, sigma, observed=y)
    with pm.Model() as builtin:
        sigma = pm.LogNormal("sigma", 0.0, 1.0)
        pm.Normal("y", 0.0, sigma, observed=y)
    return custom, builtin


def test_latent_dist_form_model_density_equals_the_builtin():
    """A LogNormal prior written as exp(Normal) through dist=: the model's density (with the
    log transform's Jacobian) and gradient equal pm.LogNormal's."""
    custom, builtin = _sigma_models(np.random.default_rng(0).normal(0.0, 2.0, size=50))
    outs = []
    for m in (custom, builtin):
        v = m.value_vars[0]
        assert v.name == "sigma_log__"
        lp = m.logp()
        outs.append(pytensor.function([v], [lp, pytensor.grad(lp, v)], mode=FAST))
    for point in (-2.0, 0.0, 0.7, 3.0):
        np.testing.assert_allclose(outs[0](point), outs[1](point), rtol=1e-12)


def test_latent_dist_form_in_a_vi_fit():
    y = np.random.default_rng(0).normal(0.0, 2.0, size=50)
    custom, _ = _sigma_models(y)
    with custom:
        approx = pm.fit(1500, random_seed=2, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02))
    mean = float(np.asarray(approx.mean.eval()).ravel()[0])
    # the posterior of log sigma: close to log of the data's spread (50 points, sd about 0.1)
    assert abs(mean - np.log(y.std())) < 0.15, (mean, np.log(y.std()))


def test_logp_only_latent_variables_fit_and_density_dist_alias():
    # a CustomDist (or PyMC's DensityDist) with only logp= as a latent variable: its start
    # value and shape come without drawing it (it cannot draw); the fit recovers N(0, 1)
    assert pm.DensityDist is pm.CustomDist
    with pm.Model() as m:
        pm.DensityDist("x", logp=lambda v: -(v**2) / 2)
        mu = pm.Normal("mu", 0, 1, shape=(2,))
        pm.CustomDist("y", mu, logp=lambda v, mu: -((v - mu) ** 2) / 2, size=2)
    assert {k: v.shape for k, v in m.initial_point().items()} == {"x": (), "mu": (2,), "y": (2,)}
    with m:
        approx = pm.fit(3000, progressbar=False, random_seed=1)
    post = approx.sample(2000, random_seed=2).posterior
    assert abs(float(post["x"].mean())) < 0.15 and abs(float(post["x"].std()) - 1.0) < 0.1
    # mean field on the (mu, y) pair: conditional sds 1/sqrt(2) and 1
    np.testing.assert_allclose(post["mu"].std(("chain", "draw")), 2**-0.5, atol=0.07)
    np.testing.assert_allclose(post["y"].std(("chain", "draw")), 1.0, atol=0.1)
