"""Rice (symvi/distributions/rice.py) against scipy.stats.rice / hand formulas (rayleigh at nu = 0) and PyMC 5."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.special as sp
import scipy.stats as st
from dist_checks import FAST, INF, check_batched_draws, check_draws, check_logp, check_support_points, check_transform, check_value_gradient, evaluate

import symvi
from symvi import transforms
from symvi.distributions import dist_info

P = (0.0, INF)


class RiceRef:
    """scipy's rice for cdf / ppf; the density written out with the scaled Bessel function
    (scipy's logpdf is -inf once I0 overflows) and the moments through the Laguerre function
    L_{1/2}(x) = 1F1(-1/2; 1; x) (scipy's are NaN for large nu / sigma)."""

    def __init__(self, nu, sigma):
        self.nu, self.sigma = nu, sigma
        self.frozen = st.rice(nu / sigma, scale=sigma)
        self.cdf, self.ppf = self.frozen.cdf, self.frozen.ppf

    def logpdf(self, x):
        x = np.asarray(x, dtype=float)
        nu, s2 = self.nu, self.sigma**2
        with np.errstate(divide="ignore"):
            z = x * nu / s2
            lp = np.log(x / s2) - (x**2 + nu**2) / (2 * s2) + np.log(sp.i0e(z)) + z
        return np.where(x > 0, lp, -INF)

    def mean(self):
        return self.sigma * np.sqrt(np.pi / 2) * sp.hyp1f1(-0.5, 1.0, -(self.nu**2) / (2 * self.sigma**2))

    def var(self):
        return 2 * self.sigma**2 + self.nu**2 - self.mean() ** 2


CASES = [
    ("Rice", lambda **k: symvi.Rice.dist(nu=2.0, sigma=1.5, **k), RiceRef(2.0, 1.5), P),
    ("Rice-b", lambda **k: symvi.Rice.dist(b=0.5, sigma=2.0, **k), RiceRef(1.0, 2.0), P),
    ("Rice-positional", lambda **k: symvi.Rice.dist(3.0, **k), RiceRef(3.0, 1.0), P),
    ("Rice-rayleigh", lambda **k: symvi.Rice.dist(nu=0.0, sigma=0.7, **k), st.rayleigh(scale=0.7), P),
    # far from the origin: I0(x nu / sigma^2) overflows without the scaled Bessel function
    ("Rice-far", lambda **k: symvi.Rice.dist(nu=300.0, sigma=0.5, **k), RiceRef(300.0, 0.5), P),
]
EXTRA = {"Rice": [1e-8, 60.0], "Rice-far": [250.0, 350.0]}


def test_logp_matches_scipy():
    check_logp(CASES, EXTRA, rtol=1e-9)


def test_matches_pymc():
    """PyMC 5.28.5, from /tmp/venv-pymc: ``pm.logp(pm.Rice.dist(nu=np.float64(2.0),
    sigma=np.float64(1.5)), x).eval()`` and with ``b=np.float64(0.5), sigma=np.float64(2.0)``."""
    x = [0.01, 0.5, 2.0, 6.0]
    got = evaluate([(symvi.Rice.dist(nu=2.0, sigma=1.5), "logp", x), (symvi.Rice.dist(b=0.5, sigma=2.0), "logp", x)])
    want = [
        [-6.304991760326657, -2.3997357391946443, -1.2223114493028355, -4.304355554200694],
        [-6.116475484608593, -2.2317890997676737, -1.2565974613744642, -3.7207475241762196],
    ]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_value_gradient_matches_finite_differences():
    check_value_gradient(CASES)


def test_draws_match_scipy():
    check_draws(CASES)


def test_batched_parameters_give_independent_draws():
    check_batched_draws([lambda: symvi.Rice.dist(nu=np.ones(4)), lambda: symvi.Rice.dist(b=1.0, sigma=np.ones(4))])


def test_support_point_is_the_mean_and_transform_is_log():
    check_support_points(CASES)
    rvs = [make() for _, make, _, _ in CASES]
    sps = pytensor.function([], [dist_info(rv).cls.support_point(rv, **dist_info(rv).params) for rv in rvs], mode=FAST)()
    np.testing.assert_allclose(sps, [ref.mean() for _, _, ref, _ in CASES], rtol=1e-9)
    check_transform(rvs[0], transforms.LogTransform, 0.0, INF)


@pytest.mark.parametrize(
    "kwargs, param",
    [({"nu": -1.0}, "nu"), ({"b": -1.0}, "b"), ({"nu": 1.0, "sigma": 0.0}, "sigma"), ({"b": 1.0, "sigma": -2.0}, "sigma"),
     ({"nu": 1.0, "sigma": -2.0}, "sigma")],  # b = nu / sigma < 0 too: the error must name sigma (fuzz)
)
def test_constant_invalid_parameter_raises(kwargs, param):
    with symvi.Model():
        with pytest.raises(ValueError, match=rf"'bad_var'.*parameter {param} must be"):
            symvi.Rice("bad_var", **kwargs)


def test_parametrization_errors_and_symbolic_checks():
    for call in [lambda: symvi.Rice.dist(), lambda: symvi.Rice.dist(nu=1.0, b=1.0)]:
        with pytest.raises(TypeError):
            call()
    s = pt.dscalar("s")
    rvs = [symvi.Rice.dist(nu=s, sigma=1.0), symvi.Rice.dist(nu=1.0, sigma=s)]
    f = pytensor.function([s], [dist_info(rv).logp(pt.as_tensor(0.3)) for rv in rvs], mode=FAST)
    assert all(v == -INF for v in f(-1.0))
    assert all(np.isfinite(v) for v in f(0.5))
