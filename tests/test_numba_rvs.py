"""Numba draws for HalfCauchy, BetaBinomial, GenGamma and Cauchy (symvi/numba_rvs.py) match scipy."""

import warnings

import numpy as np
import pytensor
import pytensor.tensor.random.basic as ptr
import pytest
from scipy import stats

import symvi as pm
from symvi.backends import get_mode

N = 20000


def _numba_draws(rv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # object mode ("Numba will use object mode") would warn
        fn = pytensor.function([], rv, mode=get_mode("numba"))
    return fn()


@pytest.mark.parametrize(
    "make, dist",
    [
        (lambda rng: ptr.halfcauchy(1.5, 2.0, size=N, rng=rng), stats.halfcauchy(1.5, 2.0)),
        (lambda rng: ptr.gengamma(3.0, 2.0, 1.5, size=N, rng=rng), stats.gengamma(1.5, 2.0, scale=1.5)),
        (lambda rng: ptr.cauchy(5.0, 10.0, size=N, rng=rng), stats.cauchy(5.0, 10.0)),  # PyTensor's divided by 10
    ],
    ids=["halfcauchy", "gengamma", "cauchy"],
)
def test_continuous_draws_follow_scipy(make, dist):
    x = _numba_draws(make(pytensor.shared(np.random.default_rng(3))))
    assert x.shape == (N,)
    assert stats.kstest(x, dist.cdf).pvalue > 1e-3


def test_betabinomial_draws_follow_scipy():
    x = _numba_draws(ptr.betabinom(10, 2.0, 3.0, size=N, rng=pytensor.shared(np.random.default_rng(4))))
    counts = np.bincount(x, minlength=11)
    expected = stats.betabinom(10, 2.0, 3.0).pmf(np.arange(11)) * N
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_prior_predictive_with_a_halfcauchy_prior_warns_nothing():
    with pm.Model():
        pm.HalfCauchy("tau", 5.0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            idata = pm.sample_prior_predictive(4000, random_seed=1)
    tau = idata.prior["tau"].values.ravel()
    assert np.median(tau) == pytest.approx(5.0, rel=0.1)  # median of HalfCauchy(5) is 5
