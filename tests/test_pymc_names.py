"""PyMC's top-level names added in session 9: pm.NUTS as a step, PyTensor helpers (gradient,
hessian, jacobian, compile, logccdf, find_hessian) and find_constrained_prior.

References: the conjugate Normal-Normal posterior (closed form), analytic derivatives,
scipy.stats survival functions and CDFs.  Every run is seeded and short.
"""

import warnings

import numpy as np
import pytest

import symvi as pm

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


def test_nuts_argument_errors():
    with pytest.raises(ValueError, match="target_accept"):
        pm.NUTS(target_accept=1.5)
    with pytest.raises(ValueError, match="max_treedepth"):
        pm.NUTS(max_treedepth=0)
    with pytest.raises(TypeError, match="unknown arguments"):
        pm.NUTS(bogus=1)
