"""pm.gp: kernels against closed-form numpy, the Marginal GP's likelihood against scipy, its
conditional/predict and the Latent GP's prior/conditional against the closed-form GP posterior."""

import numpy as np
import pytensor
import pytest
import scipy.stats as st
from pytensor.compile.mode import Mode

import symvi as pm

FAST = Mode(linker="py", optimizer="fast_compile")  # tiny graphs: skip Numba compilation


def ev(x, givens=None):
    inputs = list(givens or {})
    return pytensor.function(inputs, x, mode=FAST, on_unused_input="ignore")(*(givens or {}).values())


def sqdist(A, B, ls):
    return (((A[:, None, :] - B[None, :, :]) / ls) ** 2).sum(-1)


RNG = np.random.default_rng(20261205)
X = RNG.uniform(-2, 2, size=(6, 3))
XS = RNG.uniform(-2, 2, size=(4, 3))
LS = np.array([0.7, 1.3, 2.0])


def np_kernel(name, A, B):
    r2 = sqdist(A, B, LS)
    r = np.sqrt(r2 + 1e-12)
    return {
        "ExpQuad": np.exp(-0.5 * r2),
        "Matern52": (1 + np.sqrt(5) * r + 5 / 3 * r2) * np.exp(-np.sqrt(5) * r),
        "Matern32": (1 + np.sqrt(3) * r) * np.exp(-np.sqrt(3) * r),
        "Matern12": np.exp(-r),
        "Exponential": np.exp(-0.5 * r),
        "Cosine": np.cos(2 * np.pi * r),
        "RatQuad": (1 + r2 / (2 * 1.5)) ** -1.5,
        "Periodic": np.exp(-0.5 * ((np.sin(np.pi * (A[:, None, :] - B[None, :, :]) / 1.7) / LS) ** 2).sum(-1)),
    }[name]


def make(name, **kw):
    extra = {"RatQuad": {"alpha": 1.5}, "Periodic": {"period": 1.7}}.get(name, {})
    return getattr(pm.gp.cov, name)(3, ls=LS, **extra, **kw)


@pytest.mark.parametrize("name", ["ExpQuad", "Matern52", "Matern32", "Matern12", "Exponential", "Cosine", "RatQuad", "Periodic"])
def test_stationary_kernels_match_numpy(name):
    k = make(name)
    np.testing.assert_allclose(ev(k(X)), np_kernel(name, X, X), atol=1e-9)
    np.testing.assert_allclose(ev(k(X, XS)), np_kernel(name, X, XS), atol=1e-9)
    np.testing.assert_allclose(ev(k(X, diag=True)), np.diag(np_kernel(name, X, X)), atol=2e-6)


def test_ls_inv_and_active_dims():
    k = pm.gp.cov.ExpQuad(3, ls_inv=[2.0, 0.5], active_dims=[0, 2])
    np.testing.assert_allclose(ev(k.ls), [0.5, 2.0])
    want = np.exp(-0.5 * sqdist(X[:, [0, 2]], XS[:, [0, 2]], np.array([0.5, 2.0])))
    np.testing.assert_allclose(ev(k(X, XS)), want, atol=1e-12)
    assert k.input_dim == 3 and list(k.active_dims) == [0, 2]
    with pytest.raises(ValueError, match="active_dims"):
        pm.gp.cov.ExpQuad(2, ls=1.0, active_dims=[2])
    with pytest.raises(ValueError, match="exactly one of ls or ls_inv"):
        pm.gp.cov.ExpQuad(1)


def test_linear_polynomial_constant_whitenoise():
    c = 0.3
    lin = (X - c) @ (XS - c).T
    np.testing.assert_allclose(ev(pm.gp.cov.Linear(3, c=c)(X, XS)), lin)
    np.testing.assert_allclose(ev(pm.gp.cov.Linear(3, c=c)(X, diag=True)), ((X - c) ** 2).sum(1))
    np.testing.assert_allclose(ev(pm.gp.cov.Polynomial(3, c=c, d=2, offset=0.5)(X, XS)), (lin + 0.5) ** 2)
    np.testing.assert_allclose(ev(pm.gp.cov.Constant(2.5)(X, XS)), np.full((6, 4), 2.5))
    np.testing.assert_allclose(ev(pm.gp.cov.WhiteNoise(0.5)(X)), 0.25 * np.eye(6))
    np.testing.assert_allclose(ev(pm.gp.cov.WhiteNoise(0.5)(X, XS)), np.zeros((6, 4)))


def test_sums_products_and_scaling_on_both_sides():
    import pytensor.tensor as pt

    eta = pt.scalar("eta")
    k1, k2 = make("ExpQuad"), make("Matern32")
    K1, K2 = np_kernel("ExpQuad", X, X), np_kernel("Matern32", X, X)
    combos = {
        "eta**2 * k1": (eta**2 * k1, 4.0 * K1),
        "k1 * eta": (k1 * eta, 2.0 * K1),
        "k1 + k2 * 3": (k1 + k2 * 3.0, K1 + 3 * K2),
        "np scalar": (np.float64(0.5) * k1 + 1.0, 0.5 * K1 + 1.0),
        "product": (k1 * k2, K1 * K2),
        "power": (k1**2, K1**2),
        "noise": (k1 + pm.gp.cov.WhiteNoise(0.1), K1 + 0.01 * np.eye(6)),
    }
    for label, (k, want) in combos.items():
        got = ev(k(X), {eta: 2.0})
        np.testing.assert_allclose(got, want, atol=1e-9, err_msg=label)
        np.testing.assert_allclose(ev(k(X, diag=True), {eta: 2.0}), np.diag(want), atol=3e-6, err_msg=label)
    assert isinstance(eta**2 * k1, pm.gp.cov.Prod)
    s = k1 + k2 + k1
    assert len(s._factor_list) == 3  # sums flatten
    with pytest.raises(ValueError, match="same input_dim"):
        k1 + pm.gp.cov.ExpQuad(1, ls=1.0)


def test_missing_pymc_kernel_is_named():
    with pytest.raises(AttributeError, match="Gibbs"):
        pm.gp.cov.Gibbs
    with pytest.raises(AttributeError, match="MarginalApprox"):
        pm.gp.MarginalApprox


def test_mean_functions():
    A = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(ev(pm.gp.mean.Zero()(X)), np.zeros(6))
    np.testing.assert_allclose(ev(pm.gp.mean.Constant(1.5)(X)), np.full(6, 1.5))
    np.testing.assert_allclose(ev(pm.gp.mean.Linear(coeffs=A, intercept=0.3)(X)), X @ A + 0.3)
    m = pm.gp.mean.Linear(coeffs=A) * pm.gp.mean.Constant(2.0) + pm.gp.mean.Constant(1.0)
    np.testing.assert_allclose(ev(m(X)), 2 * (X @ A) + 1.0)


# ---------------------------------------------------------------- Marginal / Latent, 1-d inputs
X1 = np.linspace(0, 3, 7)[:, None]
Y1 = np.sin(2 * X1[:, 0]) + 0.1 * RNG.normal(size=7)
XNEW = np.array([[0.25], [1.6], [3.5]])
ELL, ETA, SIGMA, C = 0.8, 1.3, 0.2, 0.4


def k_np(A, B):
    r2 = sqdist(A, B, np.array([ELL]))
    r = np.sqrt(r2 + 1e-12)
    return ETA**2 * (1 + np.sqrt(5) * r + 5 / 3 * r2) * np.exp(-np.sqrt(5) * r)


def posterior_np(pred_noise=False):
    K = k_np(X1, X1) + (1e-6 + SIGMA**2) * np.eye(7)
    Ks, Kss = k_np(X1, XNEW), k_np(XNEW, XNEW)
    mu = C + Ks.T @ np.linalg.solve(K, Y1 - C)
    cov = Kss - Ks.T @ np.linalg.solve(K, Ks)
    return mu, cov + (SIGMA**2 * np.eye(3) if pred_noise else 0)


def _marginal_model():
    with pm.Model() as m:
        ell = pm.Gamma("ell", alpha=2, beta=1)
        eta = pm.HalfNormal("eta", 2.0)
        sigma = pm.HalfNormal("sigma", 1.0)
        gp = pm.gp.Marginal(mean_func=pm.gp.mean.Constant(C), cov_func=eta**2 * pm.gp.cov.Matern52(1, ell))
        y = gp.marginal_likelihood("y", X=X1, y=Y1, sigma=sigma)
    point = {"ell": ELL, "eta": ETA, "sigma": SIGMA}
    return m, gp, y, point


@pytest.fixture(scope="module")
def marginal():
    return _marginal_model()


def test_marginal_likelihood_equals_scipy(marginal):
    m, gp, y, point = marginal
    logp = m.compile_fn(m.logp(vars=[y]))
    upoint = {"ell_log__": np.log(ELL), "eta_log__": np.log(ETA), "sigma_log__": np.log(SIGMA)}
    want = st.multivariate_normal(np.full(7, C), k_np(X1, X1) + (SIGMA**2 + 1e-6) * np.eye(7)).logpdf(Y1)
    np.testing.assert_allclose(logp(upoint), want, rtol=1e-9)


def test_marginal_predict_equals_closed_form(marginal):
    m, gp, y, point = marginal
    mu_w, cov_w = posterior_np()
    with m:
        mu, cov = gp.predict(XNEW, point=point)
        mu_d, var_d = gp.predict(XNEW, point=point, diag=True, pred_noise=True)
    np.testing.assert_allclose(mu, mu_w, atol=1e-8)
    np.testing.assert_allclose(cov, cov_w + 1e-6 * np.eye(3), atol=1e-8)
    np.testing.assert_allclose(mu_d, mu_w, atol=1e-8)
    np.testing.assert_allclose(var_d, np.diag(cov_w) + SIGMA**2, atol=1e-8)
    with pytest.raises(ValueError, match="ell"):
        gp.predict(XNEW, point={"eta": 1.0, "sigma": 1.0}, model=m)


def test_marginal_conditional_is_the_gp_posterior(marginal):
    m, gp, y, point = marginal
    with m:
        f_pred = gp.conditional("f_pred", XNEW, pred_noise=True)
    mu_rv, cov_rv = f_pred.owner.inputs[2:4]  # the MvNormal's mean and covariance
    upoint = {"ell_log__": np.log(ELL), "eta_log__": np.log(ETA), "sigma_log__": np.log(SIGMA)}
    mu, cov = m.compile_fn([mu_rv, cov_rv])(upoint)
    mu_w, cov_w = posterior_np(pred_noise=True)
    np.testing.assert_allclose(mu, mu_w, atol=1e-8)
    np.testing.assert_allclose(cov, cov_w, atol=1e-8)


def test_latent_prior_is_mean_plus_chol_K_v_and_conditional():
    with pm.Model() as m:
        gp = pm.gp.Latent(mean_func=pm.gp.mean.Constant(C), cov_func=ETA**2 * pm.gp.cov.Matern52(1, ls=ELL))
        f = gp.prior("f", X=X1)
        f_star = gp.conditional("f_star", XNEW)
    assert "f_rotated_" in m.named_vars and f.name == "f"
    K = k_np(X1, X1) + 1e-6 * np.eye(7)
    v = RNG.normal(size=7)
    f_val = m.compile_fn(f)({"f_rotated_": v})
    np.testing.assert_allclose(f_val, C + np.linalg.cholesky(K) @ v, atol=1e-10)
    # f's draws have covariance K (a tolerance of ~5 standard errors)
    draws = pm.draw(f, draws=4000, random_seed=1)
    np.testing.assert_allclose(np.cov(draws.T), K, atol=0.2)
    # the conditional given f: closed-form GP posterior with the prior's f as noise-free data
    mu_rv, cov_rv = f_star.owner.inputs[2:4]
    mu, cov = m.compile_fn([mu_rv, cov_rv])({"f_rotated_": v})
    Ks = k_np(X1, XNEW)
    np.testing.assert_allclose(mu, C + Ks.T @ np.linalg.solve(K, f_val - C), atol=1e-6)
    np.testing.assert_allclose(cov, k_np(XNEW, XNEW) - Ks.T @ np.linalg.solve(K, Ks) + 1e-6 * np.eye(3), atol=1e-6)


def test_latent_non_centred_off_and_dims():
    with pm.Model(coords={"obs": range(7)}) as m:
        gp = pm.gp.Latent(cov_func=pm.gp.cov.ExpQuad(1, ls=0.5))
        f = gp.prior("f", X=X1, dims="obs")
        g = pm.gp.Latent(cov_func=pm.gp.cov.ExpQuad(1, ls=0.5)).prior("g", X=X1, reparameterize=False)
    assert m.named_vars_to_dims["f"] == ("obs",) and m.named_vars_to_dims["f_rotated_"] == ("obs",)
    assert g in m.free_RVs and "g_rotated_" not in m.named_vars


# ---------------------------------------------------------------- HSGP
@pytest.mark.parametrize("name", ["ExpQuad", "Matern52", "Matern32"])
def test_hsgp_basis_reproduces_the_kernel(name):
    x = np.linspace(0, 5, 15)[:, None]
    k = 1.5 * getattr(pm.gp.cov, name)(1, ls=0.9)
    gp = pm.gp.HSGP(m=[120], c=3.0, cov_func=k)
    phi, sqrt_psd = gp.prior_linearized(x)
    phi, s = ev(phi), ev(sqrt_psd)
    assert phi.shape == (15, 120)
    np.testing.assert_allclose(phi @ np.diag(s**2) @ phi.T, ev(k(x)), atol=2e-3)
    assert np.allclose(gp.L, [3.0 * 2.5])


def test_hsgp_2d_basis_and_psd_closed_form():
    # (the same phi and sqrt_psd as PyMC 5.28.5 gives for this HSGP, checked side by side)
    x = np.column_stack([np.linspace(0, 5, 12), np.linspace(-1, 3, 12) ** 2])
    gp = pm.gp.HSGP(m=[5, 4], c=2.0, cov_func=1.7 * pm.gp.cov.Matern52(2, ls=[0.7, 1.5]))
    phi, s = gp.prior_linearized(x)
    L = 2.0 * (x.max(0) - x.min(0)) / 2
    lam1 = (np.pi * 1 / (2 * L)) ** 2  # first basis function: index (1, 1)
    xc = x - (x.max(0) + x.min(0)) / 2
    want_phi0 = np.prod(np.sin(np.sqrt(lam1) * (xc + L)) / np.sqrt(L), axis=1)
    np.testing.assert_allclose(ev(phi)[:, 0], want_phi0, atol=1e-12)
    # Matern52 density in D=2: 2^2 pi Gamma(7/2) 5^(5/2) / Gamma(5/2) prod(ls) (5 + sum ls^2 w^2)^(-7/2)
    ls = np.array([0.7, 1.5])
    w2 = lam1
    S = 4 * np.pi * 2.5 * 5**2.5 * ls.prod() * (5 + (ls**2 * w2).sum()) ** -3.5
    np.testing.assert_allclose(ev(s)[0], np.sqrt(1.7 * S), rtol=1e-10)


def test_hsgp_prior_and_conditional():
    x = np.linspace(0, 4, 9)[:, None]
    with pm.Model() as m:
        gp = pm.gp.HSGP(m=[12], L=[4.0], mean_func=pm.gp.mean.Constant(C), cov_func=pm.gp.cov.ExpQuad(1, ls=1.0))
        f = gp.prior("f", X=x)
        f_new = gp.conditional("f_new", x[::2])
    beta = RNG.normal(size=12)
    phi, s = (ev(t) for t in gp.prior_linearized(x))
    fv, fn = m.compile_fn([f, f_new])({"f_hsgp_coeffs": beta})
    np.testing.assert_allclose(fv, C + phi @ (beta * s), atol=1e-12)
    np.testing.assert_allclose(fn, fv[::2], atol=1e-12)
    with pytest.raises(ValueError, match="one of L"):
        pm.gp.HSGP(m=[5], cov_func=pm.gp.cov.ExpQuad(1, ls=1.0))
    with pytest.raises(ValueError, match="spectral density"):
        pm.gp.HSGP(m=[5], L=[2.0], cov_func=pm.gp.cov.Periodic(1, period=1.0, ls=1.0)).prior_linearized(x)


# ---------------------------------------------------------------- PyMC docs example, end to end
@pytest.mark.slow
def test_pymc_docs_marginal_example_runs_unchanged():
    rng = np.random.default_rng(1)
    n = 25
    X = np.linspace(0, 10, n)[:, None]
    y = np.sin(X[:, 0]) + 0.2 * rng.normal(size=n)
    X_new = np.linspace(0, 12, 15)[:, None]
    with pm.Model() as model:
        ell = pm.Gamma("ell", alpha=2, beta=1)
        eta = pm.HalfCauchy("eta", beta=5)
        cov = eta**2 * pm.gp.cov.Matern52(1, ell)
        gp = pm.gp.Marginal(cov_func=cov)
        sigma = pm.HalfCauchy("sigma", beta=5)
        y_ = gp.marginal_likelihood("y", X=X, y=y, sigma=sigma)
        mp = pm.find_MAP()
        approx = pm.fit(3000, method="advi", random_seed=1)
        idata = approx.sample(200, random_seed=2)
        f_pred = gp.conditional("f_pred", X_new)
        pp = pm.sample_posterior_predictive(idata, var_names=["f_pred"], random_seed=3)
        mu, var = gp.predict(X_new, point=mp, diag=True)
    assert 0.1 < float(mp["sigma"]) < 0.35  # the data's noise sd is 0.2
    post = idata.posterior
    assert 0.1 < float(post["sigma"].mean()) < 0.4
    assert pp.posterior_predictive["f_pred"].shape[-1] == 15
    # inside the data range the posterior mean tracks sin(x)
    inside = X_new[:, 0] <= 10
    np.testing.assert_allclose(mu[inside], np.sin(X_new[inside, 0]), atol=0.35)
    f_mean = pp.posterior_predictive["f_pred"].mean(("chain", "draw")).values
    np.testing.assert_allclose(f_mean[inside], np.sin(X_new[inside, 0]), atol=0.4)


@pytest.mark.slow  # ~25 s warm, ~75 s with cold caches: compiling the fit dominates
def test_advi_fit_then_predict_matches_numpy_at_the_fitted_point():
    m, gp, y, _ = _marginal_model()
    with m:
        approx = pm.fit(300, random_seed=5, progressbar=False)
        post = approx.sample(50, random_seed=6).posterior
        point = {k: float(post[k].mean()) for k in ("ell", "eta", "sigma")}
        mu, var = gp.predict(XNEW, point=point, diag=True)
    ell, eta, sigma = point["ell"], point["eta"], point["sigma"]
    r2 = lambda A, B: sqdist(A, B, np.array([ell]))  # noqa: E731
    k = lambda A, B: eta**2 * (1 + np.sqrt(5 * r2(A, B) + 5e-12) + 5 / 3 * r2(A, B)) * np.exp(-np.sqrt(5 * r2(A, B) + 5e-12))  # noqa: E731
    K = k(X1, X1) + (1e-6 + sigma**2) * np.eye(7)
    Ks = k(X1, XNEW)
    np.testing.assert_allclose(mu, C + Ks.T @ np.linalg.solve(K, Y1 - C), atol=1e-6)
    np.testing.assert_allclose(var, eta**2 - np.einsum("ij,ij->j", Ks, np.linalg.solve(K, Ks)), atol=1e-6)


def test_noise_alias_and_additive_gps():
    k1, k2 = pm.gp.cov.ExpQuad(1, ls=0.5), 0.5 * pm.gp.cov.Matern32(1, ls=2.0)
    with pm.Model() as m:
        gp1, gp2 = pm.gp.Marginal(cov_func=k1), pm.gp.Marginal(cov_func=k2)
        gp = gp1 + gp2
        with pytest.warns(FutureWarning, match="noise"):
            gp.marginal_likelihood("y", X=X1, y=Y1, noise=SIGMA)
        # the part of the data explained by gp1 alone, given the sum
        mu1, _ = gp1.predict(XNEW, given={"gp": gp, "X": X1, "y": Y1, "sigma": SIGMA})
    K = ev(k1(X1)) + ev(k2(X1)) + (1e-6 + SIGMA**2) * np.eye(7)
    np.testing.assert_allclose(mu1, ev(k1(X1, XNEW)).T @ np.linalg.solve(K, Y1), atol=1e-8)


@pytest.mark.slow
def test_pymc_docs_hsgp_linearized_example_runs_unchanged():
    rng = np.random.default_rng(3)
    x = np.linspace(0, 10, 40)
    y = np.sin(x) + 0.2 * rng.normal(size=40)
    x_new = np.linspace(10, 12, 5)
    with pm.Model() as model:
        eta = pm.Exponential("eta", lam=1.0)
        ell = pm.InverseGamma("ell", mu=2.0, sigma=1.0)
        cov_func = eta**2 * pm.gp.cov.ExpQuad(1, ls=ell)
        gp = pm.gp.HSGP(m=[30], L=[10], cov_func=cov_func)
        X = pm.Data("X", x[:, None])
        phi, sqrt_psd = gp.prior_linearized(X=X)
        beta = pm.Normal("beta", size=gp.n_basis_vectors)
        f = pm.Deterministic("f", phi @ (beta * sqrt_psd))
        sigma = pm.HalfNormal("sigma", 1.0)
        pm.Normal("y", mu=f, sigma=sigma, observed=y, shape=X.shape[0])
        idata = pm.fit(3000, random_seed=1, progressbar=False).sample(100, random_seed=2)
    assert 0.1 < float(idata.posterior["sigma"].mean()) < 0.4  # the data's noise sd is 0.2
    with model:
        pm.set_data({"X": x_new[:, None]})
        ppc = pm.sample_posterior_predictive(idata, var_names=["f"], random_seed=3)
    f_new = ppc.posterior_predictive["f"].mean(("chain", "draw")).values
    np.testing.assert_allclose(f_new, np.sin(x_new), atol=0.3)  # a short extrapolation


def test_plot_gp_dist_draws_bands_and_lines():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from symvi.gp.util import plot_gp_dist

    fig, ax = plt.subplots()
    draws = np.random.default_rng(0).normal(size=(60, 5))
    plot_gp_dist(ax, draws, np.arange(5.0)[:, None], random_seed=1)
    assert len(ax.collections) == 40 and len(ax.lines) == 30
    with pytest.raises(ValueError, match="samples must be"):
        plot_gp_dist(ax, draws.T, np.arange(5.0))
    plt.close(fig)


def test_latent_n_outputs_gives_independent_rows():
    with pm.Model() as m:
        gp = pm.gp.Latent(cov_func=pm.gp.cov.ExpQuad(1, ls=ELL))
        f = gp.prior("f", X=X1, n_outputs=2)
        f_star = gp.conditional("f_star", XNEW)
    v = RNG.normal(size=(2, 7))
    L = np.linalg.cholesky(ev(pm.gp.cov.ExpQuad(1, ls=ELL)(X1)) + 1e-6 * np.eye(7))
    fv, mu = m.compile_fn([f, f_star.owner.inputs[2]])({"f_rotated_": v})
    np.testing.assert_allclose(fv, (L @ v.T).T, atol=1e-10)
    Ks = ev(pm.gp.cov.ExpQuad(1, ls=ELL)(X1, XNEW))
    np.testing.assert_allclose(mu, (Ks.T @ np.linalg.solve(L @ L.T, fv.T)).T, atol=1e-6)
