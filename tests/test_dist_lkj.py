"""LKJCorr and LKJCholeskyCov: normalised densities, PyMC cross-checks, draws, transforms, VI."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import integrate, stats

import symvi as sv
from symvi import transforms
from symvi.distributions.base import dist_info
from symvi.distributions.lkj import lkj_log_normalizer
from symvi.logprob import compile_logp
from symvi.pytensorf import compile_fn


def draw(rv, seed):
    """One draw of ``rv`` (or a list), compiled cheaply (the default mode JIT-compiles)."""
    return compile_fn([], rv, mode="FAST_COMPILE", random_seed=seed)()


def logp_of(rv, values):
    v = pt.dmatrix("v")
    return compile_fn([v], dist_info(rv).logp(v), mode="FAST_COMPILE")(values)


def logp_fn(rv):
    v = pt.dmatrix("v")
    return compile_fn([v], dist_info(rv).logp(v), mode="FAST_COMPILE")


# PyMC 5.28.5 reference values: pm.logp(pm.LKJCorr.dist(n, eta), value).eval() and PyMC's
# pymc.distributions.multivariate._lkj_normalizing_constant(eta, n).eval() = log c_n(eta), which
# PyMC adds instead of subtracting; symvi = PyMC - 2 * constant.  V3, V4 as below.
V3 = np.array([0.3, -0.2, 0.5])
V4 = np.array([0.1, 0.2, -0.3, 0.05, 0.15, -0.4])
PYMC_LKJCORR = [  # (n, eta, value, PyMC logp, PyMC constant)
    (3, 1.0, V3, 1.5963125892342007, 1.5963125892342007),
    (3, 2.0, V3, 0.03566483906487805, 0.6154833343178203),
    (3, 0.5, V3, 2.8209335017757566, 2.5310242541492856),
    (4, 1.0, V4, 2.459358758515206, 2.459358758515206),
    (4, 3.0, V4, -0.9125750026821657, -0.24113995970149027),
]


@pytest.mark.parametrize("n,eta,value,pymc_lp,pymc_const", PYMC_LKJCORR)
def test_lkjcorr_logp_matches_pymc_up_to_its_constant_sign(n, eta, value, pymc_lp, pymc_const):
    rv = sv.LKJCorr.dist(n=n, eta=eta)
    got = logp_fn(rv)(value[None])[0]
    # PyMC evaluates parts of its constant in float32 (n = 4 agrees to ~4e-7 only)
    np.testing.assert_allclose(got, pymc_lp - 2 * pymc_const, rtol=1e-6)
    log_c = float(lkj_log_normalizer(eta, n).eval())
    np.testing.assert_allclose(log_c, pymc_const, rtol=1e-6)
    # and by hand: (eta - 1) log det C - log c
    corr = transforms.unpack_corr(value, n).eval()
    np.testing.assert_allclose(got, (eta - 1) * np.linalg.slogdet(corr)[1] - log_c, rtol=1e-12)


@pytest.mark.parametrize("eta", [0.5, 1.0, 2.0, 7.0])
def test_lkjcorr_n2_integrates_to_one_and_is_scaled_beta(eta):
    rv = sv.LKJCorr.dist(n=2, eta=eta)
    f = logp_fn(rv)
    grid = np.linspace(-0.999, 0.999, 41)
    # n = 2: r = 2B - 1 with B ~ Beta(eta, eta)
    np.testing.assert_allclose(f(grid[:, None]), stats.beta(eta, eta).logpdf((grid + 1) / 2) - np.log(2), rtol=1e-9)
    total = integrate.quad(lambda r: np.exp(f(np.array([[r]]))[0]), -1, 1)[0]
    assert abs(total - 1) < 1e-6


def test_lkjcorr_n3_uniform_volume_and_support_edges():
    f = logp_fn(sv.LKJCorr.dist(n=3, eta=1.0))
    # the 3 x 3 correlation matrices have volume pi^2 / 2 (in the three correlations)
    got = f(np.array([[0.0, 0.0, 0.0], [0.9, 0.9, -0.9], [1.1, 0.0, 0.0], [0.5, -0.5, 0.2]]))
    np.testing.assert_allclose(got[[0, 3]], -np.log(np.pi**2 / 2), rtol=1e-12)
    assert np.isneginf(got[1])  # entries in [-1, 1] but not positive definite
    assert np.isneginf(got[2])  # outside [-1, 1]


def test_lkjcorr_draws_have_the_beta_marginal():
    n, eta = 4, 2.0
    d = draw(sv.LKJCorr.dist(n=n, eta=eta, size=4000), 1)
    assert d.shape == (4000, 6)
    # each correlation is 2 Beta(a, a) - 1 with a = eta - 1 + n / 2
    a = eta - 1 + n / 2
    for j in range(6):
        assert stats.kstest((d[:, j] + 1) / 2, stats.beta(a, a).cdf).pvalue > 0.001
    mats = transforms.unpack_corr(d[:50], n).eval()
    assert np.linalg.eigvalsh(mats).min() > 0


def test_lkjcorr_transform_jacobian_and_model():
    for n in (2, 3, 5):
        tr = transforms.CorrCholeskyPacked(n)
        y = np.random.default_rng(n).normal(size=n * (n - 1) // 2)
        yv = pt.dvector("y")
        np.testing.assert_allclose(transforms.numeric_log_jac(tr, y), float(tr.log_jac_det(yv).eval({yv: y})), atol=1e-6)
        back = tr.backward(yv).eval({yv: y})
        np.testing.assert_allclose(tr.forward(pt.as_tensor(back)).eval(), y, atol=1e-10)
    with sv.Model() as m:
        r = sv.LKJCorr("r", n=3, eta=2.0, return_matrix=True)
    assert r.ndim == 2 and "r" in m.named_vars
    point = {"r_corr-cholesky__": np.array([0.2, -0.1, 0.4])}
    tr = transforms.CorrCholeskyPacked(3)
    x = tr.backward(pt.as_tensor(point["r_corr-cholesky__"])).eval()
    want = logp_fn(sv.LKJCorr.dist(n=3, eta=2.0))(x[None])[0] + tr.log_jac_det(pt.as_tensor(point["r_corr-cholesky__"])).eval()
    np.testing.assert_allclose(compile_logp(m, mode="FAST_COMPILE")(point), want, rtol=1e-12)


def test_lkjcorr_bad_arguments():
    with pytest.raises(ValueError, match="eta"):
        sv.LKJCorr.dist(n=3, eta=-1.0)
    with pytest.raises(ValueError, match="n must be >= 2"):
        sv.LKJCorr.dist(n=1, eta=1.0)
    with pytest.raises(TypeError, match="n must be a constant"):
        sv.LKJCorr.dist(n=pt.lscalar("n"), eta=1.0)
    with sv.Model():
        with pytest.raises(ValueError, match="'c'.*eta"):
            sv.LKJCorr("c", n=3, eta=0.0)


# ---------------------------------------------------------------------- LKJCholeskyCov
PACKED = np.array([1.2, 0.3, 0.8, -0.4, 0.2, 1.5])


@pytest.mark.parametrize(
    "eta,sd_dist,pymc_lp,pymc_const",
    [
        # pm.logp(pm.LKJCholeskyCov.dist(eta, 3, sd_dist(shape=3), compute_corr=False), PACKED).eval()
        (2.0, lambda: sv.Exponential.dist(1.0), -4.13378670468847, 0.6154833343178203),
        (1.0, lambda: sv.HalfNormal.dist(2.0), -2.6508909301894383, 1.5963125892342007),
    ],
)
def test_lkjcholeskycov_logp_matches_pymc(eta, sd_dist, pymc_lp, pymc_const):
    rv = sv.LKJCholeskyCov.dist(eta=eta, n=3, sd_dist=sd_dist(), compute_corr=False)
    got = logp_fn(rv)(np.stack([PACKED, PACKED]))
    np.testing.assert_allclose(got, pymc_lp - 2 * pymc_const, rtol=1e-8)


def test_lkjcholeskycov_density_is_change_of_variables_of_lkj_times_sd():
    """log p(L) = log p(s) + log LKJ(C) + log|d(s, C) / d L| with the Jacobian taken numerically."""
    n, eta = 3, 1.7
    rv = sv.LKJCholeskyCov.dist(eta=eta, n=n, sd_dist=sv.Gamma.dist(2.0, 1.5), compute_corr=False)
    got = logp_fn(rv)(PACKED[None])[0]
    rows, cols = np.tril_indices(n)
    iu = np.triu_indices(n, 1)

    def sd_and_corr(packed):
        L = np.zeros((n, n))
        L[rows, cols] = packed
        cov = L @ L.T
        s = np.sqrt(np.diag(cov))
        return np.concatenate([s, (cov / np.outer(s, s))[iu]])

    eps = 1e-6
    jac = np.stack([(sd_and_corr(PACKED + eps * e) - sd_and_corr(PACKED - eps * e)) / (2 * eps) for e in np.eye(6)], 1)
    parts = sd_and_corr(PACKED)
    s, r = parts[:n], parts[n:]
    lkj = logp_fn(sv.LKJCorr.dist(n=n, eta=eta))(r[None])[0]
    want = stats.gamma(2.0, scale=1 / 1.5).logpdf(s).sum() + lkj + np.linalg.slogdet(jac)[1]
    np.testing.assert_allclose(got, want, rtol=1e-7)


def test_lkjcholeskycov_model_outputs_and_transform():
    with sv.Model() as m:
        chol, corr, stds = sv.LKJCholeskyCov("c", eta=2.0, n=3, sd_dist=sv.Exponential.dist(1.0))
    assert sorted(m.named_vars) == ["c", "c_corr", "c_stds"]
    assert isinstance(m.rvs_to_transforms[m["c"]], transforms.CholeskyCovPacked)
    y = np.array([0.1, 0.3, -0.2, -0.4, 0.2, 0.4])
    # PyMC 5.28.5: the same model plus LKJCorr("r", n=3, eta=2.0) at r_interval__ = 0,
    # compile_logp(jacobian=False) = -3.4336792542201615; LKJCorr's part there is
    # log LKJ(I) = PyMC constant 0.6154833343178203 and symvi flips both constants' signs.
    no_jac = compile_logp(m, jacobian=False, mode="FAST_COMPILE")({"c_cholesky-cov-packed__": y})
    np.testing.assert_allclose(no_jac, -3.4336792542201615 - 0.6154833343178203 - 2 * 0.6154833343178203, rtol=1e-8)
    with_jac = compile_logp(m, mode="FAST_COMPILE")({"c_cholesky-cov-packed__": y})
    np.testing.assert_allclose(with_jac - no_jac, y[[0, 2, 5]].sum(), rtol=1e-12)
    fn = compile_fn([], [chol, corr, stds], mode="FAST_COMPILE")
    L, C, s = pytensor.graph.replace.graph_replace([chol, corr, stds], {m["c"]: pt.as_tensor(PACKED)})
    L, C, s = L.eval(), C.eval(), s.eval()
    np.testing.assert_allclose(L @ L.T, np.outer(s, s) * C, rtol=1e-12)
    np.testing.assert_allclose(np.diag(C), 1.0)
    del fn
    with sv.Model() as m2:
        packed = sv.LKJCholeskyCov("p", eta=2.0, n=2, sd_dist=sv.Exponential.dist(1.0), compute_corr=False)
    assert packed.ndim == 1 and sorted(m2.named_vars) == ["p"]


def test_lkjcholeskycov_vector_sd_dist_and_packed_transform():
    sd = sv.HalfNormal.dist(sigma=np.array([1.0, 2.0, 3.0]), shape=3)
    rv = sv.LKJCholeskyCov.dist(eta=1.5, n=3, sd_dist=sd, compute_corr=False)
    scalar = sv.LKJCholeskyCov.dist(eta=1.5, n=3, sd_dist=sv.HalfNormal.dist(1.0), compute_corr=False)
    s = np.array([1.2, np.hypot(0.3, 0.8), np.sqrt(0.16 + 0.04 + 2.25)])  # the rows' norms of PACKED
    shift = stats.halfnorm(scale=[1.0, 2.0, 3.0]).logpdf(s).sum() - stats.halfnorm.logpdf(s).sum()
    np.testing.assert_allclose(logp_of(rv, PACKED[None])[0] - logp_of(scalar, PACKED[None])[0], shift, rtol=1e-10)
    draws = draw(sv.LKJCholeskyCov.dist(eta=1.5, n=3, sd_dist=sd, size=(4000,))[2], 5)
    np.testing.assert_allclose(draws.mean(0), np.array([1.0, 2.0, 3.0]) * np.sqrt(2 / np.pi), rtol=0.05)
    for n in (1, 2, 4):
        tr = transforms.CholeskyCovPacked(n)
        y = np.random.default_rng(n).normal(size=n * (n + 1) // 2)
        yv = pt.dvector("y")
        np.testing.assert_allclose(transforms.numeric_log_jac(tr, y), float(tr.log_jac_det(yv).eval({yv: y})), atol=1e-6)
        np.testing.assert_allclose(tr.forward(tr.backward(yv)).eval({yv: y}), y, atol=1e-12)


def test_lkjcholeskycov_draws():
    n, eta = 3, 2.0
    chol, corr, stds = sv.LKJCholeskyCov.dist(eta=eta, n=n, sd_dist=sv.Exponential.dist(1.0), size=(3000,))
    C, s = draw([corr, stds], 4)
    assert C.shape == (3000, n, n) and s.shape == (3000, n)
    np.testing.assert_allclose(s.mean(0), 1.0, atol=0.07)  # Exponential(1) deviations
    r = C[:, 0, 1]
    assert abs(r.mean()) < 0.03 and abs(r.var() - 1 / (2 * eta + n - 1)) < 0.015


def test_lkjcholeskycov_bad_arguments():
    with pytest.raises(TypeError, match="sd_dist"):
        sv.LKJCholeskyCov.dist(eta=1.0, n=2, sd_dist=np.ones(2))
    with sv.Model():
        s = sv.Exponential("s", 1.0)
        with pytest.raises(ValueError, match="sd_dist is the model variable 's'"):
            sv.LKJCholeskyCov("c", eta=1.0, n=2, sd_dist=s)
        with pytest.raises(ValueError, match="'c2'.*eta"):
            sv.LKJCholeskyCov("c2", eta=-2.0, n=2, sd_dist=sv.Exponential.dist(1.0))


# ---------------------------------------------------------------------- VI
def test_vi_mvnormal_with_lkj_prior_recovers_correlation(n_points=2000, steps=3000, tol=0.03):
    """2000 points from a 2-d normal with rho = 0.7, sds (1, 2): ADVI's posterior mean of the
    correlation is within 0.03 of 0.7 (the posterior sd is ~0.014) and the sds within 5%.
    Measured: corr 0.691 +- 0.014, sds (1.009, 2.010); ~11 s on an idle 2-core machine."""
    rng = np.random.default_rng(0)
    rho, sds = 0.7, np.array([1.0, 2.0])
    cov = np.outer(sds, sds) * np.array([[1, rho], [rho, 1]])
    data = rng.multivariate_normal(np.zeros(2), cov, size=n_points)
    with sv.Model():
        chol, corr, stds = sv.LKJCholeskyCov("c", eta=2.0, n=2, sd_dist=sv.Exponential.dist(1.0))
        sv.MvNormal("y", mu=np.zeros(2), chol=chol, observed=data)
        approx = sv.fit(steps, random_seed=1, progressbar=False, obj_optimizer=sv.adam(learning_rate=0.05))
    post = approx.sample(300, random_seed=2).posterior
    r = post["c_corr"].values.reshape(-1, 2, 2)[:, 0, 1]
    s = post["c_stds"].values.reshape(-1, 2)
    assert abs(r.mean() - rho) < tol
    np.testing.assert_allclose(s.mean(0), sds, rtol=0.05)


@pytest.mark.slow
def test_vi_lkjcorr_latent_recovers_correlations():
    """An LKJCorr latent (CPC/tanh transform) as an MvNormal's correlation matrix: 1000 points,
    ADVI's posterior means are within 0.05 of the sample correlations (posterior sds ~0.02-0.03;
    measured max error 0.005).  ~40-160 s, most of it compilation."""
    rng = np.random.default_rng(0)
    C = np.array([[1, 0.5, -0.3], [0.5, 1, 0.2], [-0.3, 0.2, 1]])
    data = rng.multivariate_normal(np.zeros(3), C, size=1000)
    with sv.Model():
        r = sv.LKJCorr("r", n=3, eta=2.0, return_matrix=True)
        sv.MvNormal("y", mu=np.zeros(3), cov=r, observed=data)
        approx = sv.fit(3000, random_seed=1, progressbar=False)
    post = approx.sample(500, random_seed=2).posterior["r"].values.reshape(-1, 3)
    np.testing.assert_allclose(post.mean(0), np.corrcoef(data.T)[np.triu_indices(3, 1)], atol=0.05)
