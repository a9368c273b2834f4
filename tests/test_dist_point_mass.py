"""DiracDelta: log mass, log CDF, quantiles, draws and dtype (PyMC's conventions)."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symvi as sv
from symvi.distributions import dist_info

FAST = "FAST_COMPILE"


def _eval(fn_name, rv, values):
    info = dist_info(rv)
    out = getattr(info.cls, fn_name)(pt.as_tensor(np.asarray(values)), **info.params)
    return pytensor.function([], out, mode=FAST)()


def test_logp_logcdf_icdf():
    rv = sv.DiracDelta.dist(3)
    # PyMC 5.28.5: pm.logp(pm.DiracDelta.dist(3), [2, 3, 4]) -> [-inf, 0, -inf], logcdf -> [-inf, 0, 0]
    np.testing.assert_array_equal(_eval("logp", rv, [2, 3, 4]), [-np.inf, 0.0, -np.inf])
    np.testing.assert_array_equal(_eval("logcdf", rv, [2, 3, 4]), [-np.inf, 0.0, 0.0])
    q = _eval("icdf", sv.DiracDelta.dist(2.5), [-0.1, 0.0, 0.3, 1.0, 1.1])
    np.testing.assert_array_equal(q[1:4], [2.5, 2.5, 2.5])
    assert np.isnan(q[0]) and np.isnan(q[4])


def test_float_point_mass():
    rv = sv.DiracDelta.dist(0.25)
    assert rv.dtype.startswith("float")
    np.testing.assert_array_equal(_eval("logp", rv, [0.25, 0.2500001]), [0.0, -np.inf])


def test_draws_keep_dtype_and_shape():
    ints, floats, batched = pytensor.function(
        [], [sv.DiracDelta.dist(4, size=3), sv.DiracDelta.dist(1.5, size=(2, 2)), sv.DiracDelta.dist(np.array([1, 2]))], mode=FAST
    )()
    assert ints.dtype == np.int64 and ints.tolist() == [4, 4, 4]
    assert floats.dtype == np.float64 and floats.tolist() == [[1.5, 1.5], [1.5, 1.5]]
    assert batched.tolist() == [1, 2]


def test_in_model_observed_and_support_point():
    with sv.Model() as m:
        sv.DiracDelta("d", 2, shape=3)
        sv.DiracDelta("obs", 1, observed=np.array([1, 1]))
    assert m.rvs_to_transforms[m["d"]] is None
    assert m.initial_point()["d"].tolist() == [2, 2, 2]
    lp = m.compile_logp(vars=["obs"], sum=False)({"d": np.array([2, 2, 2])})
    np.testing.assert_array_equal(lp[0], [0.0, 0.0])


def test_nan_parameter_is_rejected():
    with pytest.raises(ValueError, match="parameter c"):
        sv.DiracDelta.dist(np.nan)


def test_mixture_with_point_mass_is_zero_inflated_poisson():
    """PyMC builds its zero-inflated families as Mixture([DiracDelta(0), count]): same numbers."""
    mix = sv.Mixture.dist(w=np.array([0.3, 0.7]), comp_dists=[sv.DiracDelta.dist(0), sv.Poisson.dist(2.5)])
    zip_ = sv.ZeroInflatedPoisson.dist(psi=0.7, mu=2.5)
    v = pt.as_tensor(np.arange(-1, 8))
    a, b = pytensor.function([], [dist_info(mix).logp(v), dist_info(zip_).logp(v)], mode=FAST)()
    np.testing.assert_allclose(a, b, rtol=1e-12)
    assert np.isneginf(a[0]) and dist_info(mix).cls.discrete


def test_float_dirac_delta_observes_non_integer_values():
    """A float DiracDelta is 'discrete' (as in PyMC) but takes any real value: the whole-number
    check on discrete observed data does not apply to it (it still does to Poisson)."""
    with sv.Model() as m:
        sv.DiracDelta("x", 1.5, observed=np.array([1.5, 1.5]))
        with pytest.raises(ValueError, match="whole numbers"):
            sv.Poisson("y", 2.0, observed=np.array([1.5]))
    assert float(m.compile_logp()(m.initial_point())) == 0.0
