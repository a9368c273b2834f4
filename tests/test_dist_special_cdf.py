"""logcdf of SkewNormal (Owen's T) and Rice (noncentral chi-square cdf): symvi/distributions/special_ops.py.

Values against scipy.stats where scipy is accurate and against 60-digit mpmath integrals in
the tails (scipy's skewnorm cdf is ``Phi(z) - 2 T(z, a)``, which cancels to nothing there);
gradients of the two ops by ``verify_grad`` and of the logcdfs by the identity
``d/dx logcdf = exp(logp - logcdf)``; the Numba, C and Python linkers agree; a truncated
skew-normal likelihood fits.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.special as sc
import scipy.stats as st
from pytensor.compile.mode import Mode

import symvi as pm
from symvi.distributions.special_ops import chndtr, ncx2_pdf, owens_t
from symvi.pytensorf import ONE_SHOT_MODE

# (alpha, z, log F(z; alpha)) for the standard skew normal: mpmath, 60 digits, of
# log(Phi(z) - 2 T(z, alpha)) or, on the short side, of 1/pi int_|alpha|^inf exp(-z^2(1+s^2)/2)/(1+s^2) ds
MPMATH = [
    (3.0, -6.0, -188.13800253681384),
    (3.0, -20.0, -2010.5381688868226),
    (3.0, -40.0, -8011.92388057604),
    (10.0, -4.0, -818.8368828104735),
    (0.5, -20.0, -256.679890908012),
    (-2.0, -40.0, -803.9152948334505),
    (-2.0, 2.5, -7.594411954348099e-10),
    (-2.0, 3.0, -5.596622287837933e-13),
    (-10.0, 3.0, -1.4322262921924693e-202),
    (10.0, -1.5, -122.51141206533335),
    (0.05, -38.0, -729.4173495396288),
    (-0.05, -45.0, -1016.5452112894586),
    (0.0, -300.0, -45006.62273211866),
    (1.0, -100.0, -10011.048417388422),
]
SN_ALPHAS = [3.0, -2.0, 0.5, 10.0, 0.0, -0.05]
SN_GRID = np.array([-8.0, -3.0, -1.5, -0.5, 0.0, 0.3, 1.0, 2.5, 5.0, 9.0])
RICE = [(2.0, 1.5), (0.0, 0.7), (0.4, 2.0), (30.0, 1.0)]  # (nu, sigma)


@pytest.fixture(scope="module")
def sn():
    x, alpha = pt.dvector("x"), pt.dscalar("alpha")
    rv = pm.SkewNormal.dist(alpha=alpha, mu=0.0, sigma=1.0)
    lc = pm.logcdf(rv, x)
    out = [lc, pm.logp(rv, x), *pytensor.grad(lc.sum(), [x, alpha])]
    return pytensor.function([x, alpha], out, mode=ONE_SHOT_MODE)


def test_skewnormal_logcdf_matches_scipy(sn):
    for alpha in SN_ALPHAS:
        got = sn(SN_GRID, alpha)[0]
        ref = st.skewnorm(alpha)
        with np.errstate(divide="ignore"):
            want = np.where(ref.cdf(SN_GRID) < 0.5, np.log(ref.cdf(SN_GRID)), np.log1p(-ref.sf(SN_GRID)))
        # scipy's own Phi(z) - 2 T cancels on the short side's tail (alpha = 10, z = -1.5: 1e-5
        # off, -inf at z = -8; alpha = -2, z = 2.5: 4e-9 off); those points are in MPMATH
        ok = SN_GRID * alpha >= -6.0
        np.testing.assert_allclose(got[ok], want[ok], rtol=2e-8, atol=1e-300, err_msg=f"alpha={alpha}")
    # with loc and scale
    f = pytensor.function([], pm.logcdf(pm.SkewNormal.dist(-2.0, 1.0, tau=4.0), SN_GRID), mode=ONE_SHOT_MODE)
    ok = SN_GRID < 2.0  # beyond, scipy's value cancels (x = 2.5, z = 3: MPMATH's (-2, 3) entry)
    np.testing.assert_allclose(f()[ok], st.skewnorm(-2.0, 1.0, 0.5).logcdf(SN_GRID[ok]), rtol=1e-9)
    np.testing.assert_allclose(f()[SN_GRID == 2.5], MPMATH[7][2], rtol=1e-12)


def test_skewnormal_logcdf_tails_against_mpmath(sn):
    for alpha, z, want in MPMATH:
        got = sn(np.array([z]), alpha)[0][0]
        np.testing.assert_allclose(got, want, rtol=5e-11, err_msg=f"alpha={alpha}, z={z}")
    # scipy gives -inf at the first of these (and the ops' direct formula would too)
    assert np.isneginf(st.skewnorm(3.0).logcdf(-40.0))


def test_skewnormal_logcdf_gradients(sn):
    """d/dx log F = f / F in every branch (direct, short-side tail, deep tail); d/dalpha by
    central differences where the value changes measurably."""
    z = np.array([-300.0, -40.0, -20.0, -5.0, -1.0, 0.0, 1.0, 5.0, 8.0])
    for alpha in [3.0, -2.0, 0.05, -0.05, 0.0]:
        lc, lp, gx, ga = sn(z, alpha)
        assert np.all(np.isfinite(gx)) and np.isfinite(ga), (alpha, gx, ga)
        np.testing.assert_allclose(gx, np.exp(lp - lc), rtol=1e-8, err_msg=f"alpha={alpha}")
        for i in range(len(z)):
            eps = 1e-5
            up, down = sn(z[i : i + 1], alpha + eps)[0][0], sn(z[i : i + 1], alpha - eps)[0][0]
            fd = (up - down) / (2 * eps)
            g_one = sn(z[i : i + 1], alpha)[3]
            if abs(fd) > 1e-8:
                np.testing.assert_allclose(g_one, fd, rtol=1e-5, err_msg=f"alpha={alpha}, z={z[i]}")


def test_ops_gradients_by_verify_grad():
    rng = np.random.default_rng(3)
    kw = {"rng": rng, "mode": ONE_SHOT_MODE}
    pytensor.gradient.verify_grad(owens_t, [np.array([0.3, -1.2, 2.5]), np.array([0.5, 2.0, -0.7])], **kw)
    for k in (2.0, 5.0):
        pytensor.gradient.verify_grad(
            lambda x, lam: chndtr(x, k, lam), [np.array([0.5, 3.0, 9.0]), np.array([0.2, 1.5, 6.0])], **kw
        )


def test_ncx2_pdf_matches_scipy():
    x = np.array([1e-6, 0.3, 1.0, 4.0, 20.0])
    cases = [(2.0, 0.0), (2.0, 3.0), (5.0, 0.5), (4.0, 40.0), (3.0, 0.0)]
    got = pytensor.function([], [ncx2_pdf(x, k, lam) for k, lam in cases] + [ncx2_pdf(-1.0, 2.0, 1.0)], mode=ONE_SHOT_MODE)()
    for (k, lam), g in zip(cases, got):
        want = st.ncx2.pdf(x, k, lam) if lam > 0 else st.chi2.pdf(x, k)
        np.testing.assert_allclose(g, want, rtol=1e-10, atol=1e-300)
    assert got[-1] == 0.0


def test_every_linker_runs_the_ops():
    """Numba calls scipy's Cython kernels, the C linker falls back to the ops' Python impl."""
    h, a = pt.dvector("h"), pt.dvector("a")
    outs = [owens_t(h, a), chndtr(h, 2.0, a)]
    outs += pytensor.grad(outs[0].sum() + outs[1].sum(), [h, a])
    hv, av = np.array([0.3, 1.0, 2.5]), np.array([0.5, 2.0, 0.1])
    results = [
        pytensor.function([h, a], outs, mode=mode)(hv, av)
        for mode in ("NUMBA", Mode(linker="cvm"), ONE_SHOT_MODE)
    ]
    np.testing.assert_allclose(results[0][0], sc.owens_t(hv, av), rtol=1e-14)
    np.testing.assert_allclose(results[0][1], sc.chndtr(hv, 2.0, av), rtol=1e-14)
    for other in results[1:]:
        for got, want in zip(other, results[0]):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_rice_logcdf_matches_scipy_and_gradients():
    x, nu, sigma = pt.dvector("x"), pt.dscalar("nu"), pt.dscalar("sigma")
    rv = pm.Rice.dist(nu=nu, sigma=sigma)
    lc = pm.logcdf(rv, x)
    outs = [lc, pm.logp(rv, x), *pytensor.grad(lc[1:].sum(), [x, nu, sigma])]
    f = pytensor.function([x, nu, sigma], outs, mode=ONE_SHOT_MODE)
    for nu_v, s_v in RICE:
        ref = st.rice(nu_v / s_v, scale=s_v)
        grid = np.concatenate([[-1.0, 0.0], ref.ppf([1e-10, 1e-3, 0.1, 0.5, 0.9, 0.999]), [ref.ppf(0.5) * 4]])
        got, lp, gx, gnu, gs = f(grid, nu_v, s_v)
        assert got[0] == -np.inf and got[1] == -np.inf
        with np.errstate(divide="ignore"):
            np.testing.assert_allclose(got, ref.logcdf(grid), rtol=1e-9, atol=1e-15, err_msg=f"{nu_v}, {s_v}")
        np.testing.assert_allclose(gx[2:], np.exp(lp - got)[2:], rtol=1e-8)
        for i, (g, bump) in enumerate([(gnu, (1e-6, 0)), (gs, (0, 1e-6))]):
            up = f(grid, nu_v + bump[0], s_v + bump[1])[0][2:].sum()
            down = f(grid, nu_v - bump[0], s_v - bump[1])[0][2:].sum()
            if nu_v > 0 or i == 1:
                np.testing.assert_allclose(g, (up - down) / 2e-6, rtol=1e-5, err_msg=f"{nu_v}, {s_v}, {i}")


def test_truncated_skewnormal_and_rice_in_a_model():
    """Truncated likelihoods built on the two new logcdfs: model logp against scipy, finite
    gradients (the Python linker: compiled in a moment)."""
    y = np.array([0.7, 1.2, 2.9])
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 5.0)
        pm.Truncated("y", pm.SkewNormal.dist(alpha=3.0, mu=mu, sigma=1.5), lower=0.5, upper=3.0, observed=y)
        pm.Truncated("r", pm.Rice.dist(nu=mu, sigma=1.0), upper=4.0, observed=y)
    value = m.rvs_to_values[m["mu"]]
    logp = m.logp()
    f = pytensor.function([value], [logp, pytensor.grad(logp, value)], mode=ONE_SHOT_MODE)
    lp, g = f(np.array(1.3))
    sn, rice = st.skewnorm(3.0, 1.3, 1.5), st.rice(1.3, scale=1.0)
    want = (
        st.norm(0, 5).logpdf(1.3)
        + (sn.logpdf(y) - np.log(sn.cdf(3.0) - sn.cdf(0.5))).sum()
        + (rice.logpdf(y) - rice.logcdf(4.0)).sum()
    )
    np.testing.assert_allclose(lp, want, rtol=1e-10)
    up, down = f(np.array(1.3 + 1e-6))[0], f(np.array(1.3 - 1e-6))[0]
    np.testing.assert_allclose(g, (up - down) / 2e-6, rtol=1e-6)


@pytest.mark.slow  # the ELBO loop compiles for about two minutes on a busy 2-core machine
def test_truncated_skewnormal_fit():
    """A skew normal observed only inside [0.5, 3]: the fitted location and scale land on the
    truncated maximum-likelihood estimate (computed with scipy), far from the naive one."""
    rng = np.random.default_rng(7)
    draws = st.skewnorm(3.0, 1.0, 1.0).rvs(4000, random_state=rng)
    y = draws[(draws > 0.5) & (draws < 3.0)][:400]

    def nll(p):
        d = st.skewnorm(3.0, p[0], np.exp(p[1]))
        return -(d.logpdf(y) - np.log(d.cdf(3.0) - d.cdf(0.5))).sum()

    from scipy.optimize import minimize

    mle = minimize(nll, [1.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-6, "fatol": 1e-8}).x
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 5.0)
        sigma = pm.HalfNormal("sigma", 2.0)
        pm.Truncated("y", pm.SkewNormal.dist(alpha=3.0, mu=mu, sigma=sigma), lower=0.5, upper=3.0, observed=y)
        approx = pm.fit(2000, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.03))
    post = approx.sample(400, random_seed=1).posterior
    assert np.isfinite(approx.hist).all()
    assert abs(float(post["mu"].mean()) - mle[0]) < 0.08, (float(post["mu"].mean()), mle)
    assert abs(float(np.log(post["sigma"]).mean()) - mle[1]) < 0.08, (float(post["sigma"].mean()), mle)
