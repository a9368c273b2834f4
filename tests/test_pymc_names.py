"""PyMC's top-level names added in session 9: pm.NUTS as a step, PyTensor helpers (gradient,
hessian, jacobian, compile, logccdf, find_hessian) and find_constrained_prior.

References: the conjugate Normal-Normal posterior (closed form), analytic derivatives,
scipy.stats survival functions and CDFs.  Every run is seeded and short.
"""

import warnings

import numpy as np
import pytest

import symvi as pm
from symvi.pytensorf import ONE_SHOT_MODE  # Python linker: no compile for one-off checks

Y = np.array([0.5, 1.5, 1.0, 2.0, 0.2])
PRIOR_SD = 10.0


def _conjugate_model():
    with pm.Model() as m:
        pm.Normal("y", pm.Normal("mu", 0.0, PRIOR_SD), 1.0, observed=Y)
    return m


def _exact_posterior():
    prec = 1 / PRIOR_SD**2 + len(Y)
    return Y.sum() / prec, np.sqrt(1 / prec)


# ---------------------------------------------------------------------------------- pm.NUTS
def test_nuts_settings_reach_nutpie(monkeypatch):
    nutpie = pytest.importorskip("nutpie")
    seen = {}
    real = nutpie.sample

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(nutpie, "sample", spy)
    model = _conjugate_model()
    idata = pm.sample(
        300, tune=200, chains=1, step=pm.NUTS(target_accept=0.93, max_treedepth=2), random_seed=3, progressbar=False, model=model
    )
    assert seen["target_accept"] == 0.93 and seen["maxdepth"] == 2
    assert idata.sample_stats["tree_depth"].values.max() <= 2
    m, s = _exact_posterior()
    assert abs(float(idata.posterior["mu"].mean()) - m) < 5 * s / np.sqrt(100)


def test_nuts_with_metropolis_slices_and_warns():
    """PyMC's NUTS-for-continuous + Metropolis-for-discrete: NUTS' variables are slice-sampled,
    with one warning naming them; the chain still targets the posterior (mu and k independent)."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, PRIOR_SD)
        k = pm.Poisson("k", 3.0)
        pm.Normal("y", mu, 1.0, observed=Y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        idata = pm.sample(
            600, tune=200, chains=1, step=[pm.NUTS([mu]), pm.Metropolis([k])], random_seed=5, progressbar=False, model=model
        )
    mine = [str(w.message) for w in caught if "no NUTS within a compound step" in str(w.message)]
    assert len(mine) == 1 and "['mu']" in mine[0]
    m, s = _exact_posterior()
    assert abs(float(idata.posterior["mu"].mean()) - m) < 0.2
    assert abs(float(idata.posterior["k"].mean()) - 3.0) < 0.6


def test_nuts_settings_choice():
    """Which steps select symvi's NUTS (and with what), without sampling."""
    from symvi.mcmc.nuts_step import nuts_settings

    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 1.0)
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("y", mu, s, observed=Y)
    step, settings = nuts_settings(model, pm.CompoundStep([pm.NUTS(["mu", s], max_treedepth=4, target_accept=0.9)]))
    assert step is None and settings == {"target_accept": 0.9, "maxdepth": 4, "max_energy_error": 1000.0}
    assert nuts_settings(model, pm.NUTS(), "blackjax") == (None, {"target_accept": 0.8})
    with pytest.raises(ValueError, match="blackjax"):
        nuts_settings(model, pm.NUTS(max_treedepth=5), "blackjax")
    with pytest.warns(UserWarning, match="step_scale"):
        nuts_settings(model, pm.NUTS(step_scale=0.5))
    given = [pm.NUTS([mu]), pm.Slice([s])]
    with pytest.warns(UserWarning, match=r"\['mu'\] are sampled with Slice"):
        assert nuts_settings(model, given) == (given, None)


def test_nuts_argument_errors():
    with pytest.raises(ValueError, match="target_accept"):
        pm.NUTS(target_accept=1.5)
    with pytest.raises(ValueError, match="max_treedepth"):
        pm.NUTS(max_treedepth=0)
    with pytest.raises(TypeError, match="unknown arguments"):
        pm.NUTS(bogus=1)


# ------------------------------------------------------------------------ PyTensor helpers
def test_gradient_jacobian_hessian_analytic():
    import pytensor.tensor as pt

    a, b = pt.scalar("a"), pt.vector("b")
    f = a**2 * pt.sum(b**3)
    av, bv = 1.5, np.array([1.0, -2.0])
    vals = {a: av, b: bv}
    s3 = np.sum(bv**3)
    np.testing.assert_allclose(pm.gradient(f, [a, b]).eval(vals, mode=ONE_SHOT_MODE), [2 * av * s3, *(3 * av**2 * bv**2)])
    H = np.array(
        [
            [2 * s3, *(6 * av * bv**2)],
            [6 * av * bv[0] ** 2, 6 * av**2 * bv[0], 0.0],
            [6 * av * bv[1] ** 2, 0.0, 6 * av**2 * bv[1]],
        ]
    )
    np.testing.assert_allclose(pm.hessian(f, [a, b], negate_output=False).eval(vals, mode=ONE_SHOT_MODE), H)
    np.testing.assert_allclose(pm.hessian(f, [a, b]).eval(vals, mode=ONE_SHOT_MODE), -H)
    np.testing.assert_allclose(pm.hessian_diag(f, [a, b], negate_output=False).eval(vals, mode=ONE_SHOT_MODE), np.diag(H))
    # Jacobian of a vector function: rows = outputs, columns = inputs
    g = pt.stack([a * b[0], pt.sin(b[1])])
    np.testing.assert_allclose(pm.jacobian(g, [a, b]).eval(vals, mode=ONE_SHOT_MODE), [[bv[0], av, 0.0], [0.0, 0.0, np.cos(bv[1])]])
    # one continuous input: vars may be left out; two: it must be given
    np.testing.assert_allclose(pm.gradient(pt.sum(b**2)).eval({b: bv}, mode=ONE_SHOT_MODE), 2 * bv)
    with pytest.raises(ValueError, match="say which in vars"):
        pm.gradient(f)
    assert {v.name for v in pm.inputvars(f + pt.constant(1.0))} == {"a", "b"}


def test_compile_random_seed_reproducible():
    x = pm.Normal.dist(0.0, 1.0, size=3)
    f = pm.compile([], x, random_seed=42)
    first, second = f(), f()
    assert not np.allclose(first, second)  # the generator advances between calls
    g = pm.compile([], x, random_seed=42)
    np.testing.assert_array_equal(g(), first)
    np.testing.assert_array_equal(g(), second)
    assert not np.allclose(pm.compile([], x, random_seed=43)(), first)


def test_compile_fn_uses_model_values():
    with pm.Model():
        s = pm.HalfNormal("s", 1.0)
        f = pm.compile_fn(3 * s)
    assert float(f({"s_log__": np.log(2.0)})) == pytest.approx(6.0)


def test_logccdf_matches_scipy_sf():
    from scipy import stats

    cases = [
        (pm.Normal.dist(1.0, 2.0), stats.norm(1.0, 2.0), [-3.0, 1.0, 4.0, 30.0]),
        (pm.Gamma.dist(alpha=2.0, beta=3.0), stats.gamma(2.0, scale=1 / 3.0), [0.1, 1.0, 5.0]),
        (pm.Exponential.dist(0.5), stats.expon(scale=2.0), [0.5, 3.0, 100.0]),
    ]
    for dist, ref, values in cases:
        got = [float(pm.logccdf(dist, v).eval(mode=ONE_SHOT_MODE)) for v in values]
        np.testing.assert_allclose(got, ref.logsf(values), rtol=1e-9)


def test_find_hessian_normal_model():
    """-logp of mu ~ N(0, 10), y_i ~ N(mu, sigma=2), sigma fixed: Hessian n / 4 + 1 / 100."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 10.0)
        b = pm.Normal("b", 0.0, 3.0, shape=2)
        pm.Normal("y", mu + b.sum(), 2.0, observed=Y)
    point = {"mu": 0.7, "b": np.array([0.1, -0.2])}
    n = len(Y)
    H = np.full((3, 3), n / 4) + np.diag([1 / 100, 1 / 9, 1 / 9])
    np.testing.assert_allclose(pm.find_hessian(point, model=model), H)
    np.testing.assert_allclose(pm.find_hessian(point, model=model, negate_output=False), -H)
    np.testing.assert_allclose(pm.find_hessian(point, vars=[mu], model=model), [[n / 4 + 1 / 100]])
    np.testing.assert_allclose(pm.find_hessian_diag(point, model=model), np.diag(H))
    with pytest.raises(KeyError, match="lacks the value variables"):
        pm.find_hessian({"mu": 0.0}, model=model)


# ------------------------------------------------------------------ find_constrained_prior
def test_find_constrained_prior_gamma_mass():
    from scipy import stats

    opt = pm.find_constrained_prior(pm.Gamma, lower=0.1, upper=0.4, init_guess={"alpha": 1.0, "beta": 10.0})
    g = stats.gamma(opt["alpha"], scale=1 / opt["beta"])
    assert g.cdf(0.4) - g.cdf(0.1) == pytest.approx(0.95, abs=1e-4)
    # PyMC 5.28.5 on the same call: alpha 8.6156, beta 37.5287 (SLSQP stops at the same point)
    assert opt["alpha"] == pytest.approx(8.6156, rel=1e-3) and opt["beta"] == pytest.approx(37.5287, rel=1e-3)


def test_find_constrained_prior_pymc_docs_examples():
    from scipy import stats

    opt = pm.find_constrained_prior(pm.Gamma, lower=0.1, upper=0.4, mass=0.75, init_guess={"alpha": 1, "beta": 10})
    g = stats.gamma(opt["alpha"], scale=1 / opt["beta"])
    assert g.cdf(0.4) - g.cdf(0.1) == pytest.approx(0.75, abs=1e-4)
    assert pm.Gamma.dist(**opt, size=5).eval(mode=ONE_SHOT_MODE).shape == (5,)
    opt = pm.find_constrained_prior(pm.StudentT, lower=0, upper=1, init_guess={"mu": 5, "sigma": 2}, fixed_params={"nu": 7})
    t = stats.t(7, opt["mu"], opt["sigma"])
    assert opt["nu"] == 7 and t.cdf(1) - t.cdf(0) == pytest.approx(0.95, abs=1e-4)
    opt = pm.find_constrained_prior(pm.Exponential, lower=0, upper=3.0, mass=0.9, init_guess={"lam": 1}, mass_below_lower=0)
    assert opt["lam"] == pytest.approx(np.log(10) / 3, rel=1e-5)  # 1 - exp(-3 lam) = 0.9
    with pytest.raises(ValueError, match="mass must lie"):
        pm.find_constrained_prior(pm.Gamma, 0.1, 0.4, {"alpha": 1, "beta": 10}, mass=0.999)
