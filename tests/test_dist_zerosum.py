"""ZeroSumNormal: density on the zero-sum subspace, draws, transform, and a VI fit (issue 21)."""

import time

import numpy as np
import pytensor.tensor as pt
import pytest

import symvi as sv
from symvi import transforms
from symvi.distributions.base import dist_info
from symvi.logprob import compile_logp
from symvi.pytensorf import compile_fn


def zsn_logp_by_hand(x, sigma, n_axes):
    """-|x|^2 / (2 sigma^2) - (prod(K_i) - ...) : the isotropic normal of the subspace's dimension."""
    dof = np.prod([k - 1 for k in x.shape[x.ndim - n_axes :]])
    axes = tuple(range(-n_axes, 0))
    sigma = np.asarray(sigma)
    log_sigma = np.log(sigma).reshape(sigma.shape[: sigma.ndim - n_axes]) if sigma.ndim >= n_axes else np.log(sigma)
    return -0.5 * np.sum((x / sigma) ** 2, axis=axes) - dof * (log_sigma + 0.5 * np.log(2 * np.pi))


def centred(rng, shape, n_axes):
    x = rng.normal(size=shape)
    for ax in range(1, n_axes + 1):
        x = x - x.mean(axis=-ax, keepdims=True)
    return x


@pytest.mark.parametrize("n_axes,shape,sigma", [(1, (5,), 1.3), (1, (4, 3), np.array([[0.5], [1.0], [2.0], [3.0]])), (2, (2, 3, 4), 0.7)])
def test_logp_matches_hand_formula(n_axes, shape, sigma):
    rng = np.random.default_rng(1)
    rv = sv.ZeroSumNormal.dist(sigma=sigma, shape=shape, n_zerosum_axes=n_axes)
    x = centred(rng, (6,) + shape, n_axes)
    fn = compile_fn([], dist_info(rv).logp(pt.as_tensor(x)), mode="FAST_COMPILE")
    np.testing.assert_allclose(fn(), zsn_logp_by_hand(x, sigma, n_axes), rtol=1e-12)


def test_logp_off_the_subspace_and_edges():
    rv = sv.ZeroSumNormal.dist(sigma=1.0, shape=(3,))
    x = np.array([[1.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    got = dist_info(rv).logp(pt.as_tensor(x)).eval()
    assert np.isneginf(got[1])
    np.testing.assert_allclose(got[[0, 2]], zsn_logp_by_hand(x[[0, 2]], 1.0, 1))
    # K = 1: the only zero-sum value is 0 and it has density 1 (no degrees of freedom)
    one = sv.ZeroSumNormal.dist(sigma=2.0, shape=(1,))
    assert float(dist_info(one).logp(pt.as_tensor(np.zeros(1))).eval()) == 0.0


def test_logp_matches_pymc_model():
    # Reference: PyMC 5.28.5, the same model and unconstrained point, model.compile_logp()(point)
    # (PyMC's zero-sum transform is the same isometry, so the value variables agree).
    y_a = np.array([0.3, -1.2])
    y_b = np.arange(6.0).reshape(2, 3) / 5 - 0.4
    with sv.Model(coords={"g": list("abc")}) as m:
        sv.ZeroSumNormal("a", sigma=1.5, dims="g")
        sv.ZeroSumNormal("b", sigma=0.7, shape=(3, 4), n_zerosum_axes=2)
    got = compile_logp(m, mode="FAST_COMPILE")({"a_zerosum__": y_a, "b_zerosum__": y_b})
    np.testing.assert_allclose(got, -7.13789899855717, rtol=1e-8)


def test_draws_sum_to_zero_and_have_the_projected_variance():
    rv = sv.ZeroSumNormal.dist(sigma=2.0, shape=(3, 4), n_zerosum_axes=2)
    d = sv.draw(rv, draws=4000, random_seed=2)
    assert d.shape == (4000, 3, 4)
    assert np.abs(d.sum(-1)).max() < 1e-12 and np.abs(d.sum(-2)).max() < 1e-12
    # Cov = sigma^2 (I - J/3) (x) (I - J/4): each entry has variance 4 * 2/3 * 3/4 = 2
    np.testing.assert_allclose(d.var(0), 2.0, rtol=0.1)
    one = sv.draw(sv.ZeroSumNormal.dist(sigma=1.0, support_shape=4, size=(2,)), draws=4000, random_seed=3)
    assert one.shape == (4000, 2, 4)
    c = np.cov(one[:, 0].T)
    np.testing.assert_allclose(c, np.eye(4) - 0.25, atol=0.06)


def test_transform_default_and_isometry():
    with sv.Model() as m:
        x = sv.ZeroSumNormal("x", sigma=1.0, shape=(2, 5), n_zerosum_axes=2)
    tr = m.rvs_to_transforms[x]
    assert isinstance(tr, transforms.ZeroSumTransform) and tr.n_axes == 2
    assert m.initial_point()["x_zerosum__"].shape == (1, 4)
    # the embedding is linear and isometric: its 20 x 4 Jacobian has orthonormal columns
    y = pt.dmatrix("y")
    f = compile_fn([y], tr.backward(y).flatten(), mode="FAST_COMPILE")
    jac = np.stack([f(e.reshape(1, 4)) for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(jac.T @ jac, np.eye(4), atol=1e-12)
    np.testing.assert_allclose(jac.sum(0), 0.0, atol=1e-12)
    assert float(tr.log_jac_det(y).sum().eval({y: np.ones((1, 4))})) == 0.0


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="n_zerosum_axes"):
        sv.ZeroSumNormal.dist(shape=(3,), n_zerosum_axes=0)
    with pytest.raises(ValueError, match="support_shape"):
        sv.ZeroSumNormal.dist(sigma=1.0)
    with pytest.raises(ValueError, match="sigma must have length 1"):
        sv.ZeroSumNormal.dist(sigma=np.ones(3), shape=(3,))
    with sv.Model():
        with pytest.raises(ValueError, match="'z'.*sigma"):
            sv.ZeroSumNormal("z", sigma=-1.0, shape=3)


# ---------------------------------------------------------------------- VI
def zsn_group_model(seed=0):
    """y_ij ~ N(mu + a_j, s) with a ~ ZeroSumNormal(tau): Gaussian in (mu, a's 3 free coordinates)."""
    rng = np.random.default_rng(seed)
    k, per, s, tau = 4, 6, 1.0, 1.0
    effects = np.array([1.0, -0.5, 0.2, -0.7])
    group = np.repeat(np.arange(k), per)
    y = 2.0 + effects[group] + s * rng.normal(size=k * per)
    with sv.Model(coords={"g": range(k)}) as model:
        mu = sv.Normal("mu", 0.0, 10.0)
        a = sv.ZeroSumNormal("a", sigma=tau, dims="g")
        sv.Normal("y", mu + a[group], s, observed=y)
    # exact posterior over theta = (mu, z), a = E z with E the transform's (linear) embedding
    zz = pt.dvector("z")
    emb = compile_fn([zz], transforms.ZeroSumTransform(1).backward(zz), mode="FAST_COMPILE")
    E = np.stack([emb(e) for e in np.eye(k - 1)], axis=1)
    X = np.column_stack([np.ones(k * per), E[group]])
    prec = X.T @ X / s**2 + np.diag([1 / 100.0] + [1 / tau**2] * (k - 1))
    cov = np.linalg.inv(prec)
    mean = cov @ X.T @ y / s**2
    return model, mean, cov, E


@pytest.mark.parametrize("method", ["fullrank_advi", "advi"])
def test_vi_hierarchical_zerosum_effect_matches_exact_posterior(method):
    start = time.perf_counter()
    model, mean, cov, E = zsn_group_model()
    with model:
        approx = sv.fit(3000, method=method, random_seed=1, progressbar=False)  # default: searched, decaying step
    got_mean = approx.mean.eval()
    np.testing.assert_allclose(got_mean, mean, atol=0.05)  # posterior sds are 0.2-0.4; measured error 0.02
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(approx.std.eval(), sd if method == "fullrank_advi" else 1 / np.sqrt(np.diag(np.linalg.inv(cov))), rtol=0.1)
    idata = approx.sample(2000, random_seed=2)
    a = idata.posterior["a"].values.reshape(-1, 4)
    assert np.abs(a.sum(-1)).max() < 1e-10
    np.testing.assert_allclose(a.mean(0), E @ mean[1:], atol=0.08)
    assert time.perf_counter() - start < 120


def test_hierarchical_sigma_and_observed():
    y = np.array([0.4, -0.1, -0.3])
    with sv.Model() as m:
        s = sv.HalfNormal("s", 1.0)
        sv.ZeroSumNormal("a", sigma=s, shape=3)
        sv.ZeroSumNormal("obs", sigma=s, observed=y)
    point = {"s_log__": np.log(0.7), "a_zerosum__": np.array([0.2, -0.5])}
    a = transforms.ZeroSumTransform(1).backward(pt.as_tensor(point["a_zerosum__"])).eval()
    want = (
        zsn_logp_by_hand(a, 0.7, 1)
        + zsn_logp_by_hand(y, 0.7, 1)
        + np.log(2 / np.pi) / 2 - 0.7**2 / 2 + np.log(0.7)  # HalfNormal(1) at 0.7 and the log Jacobian
    )
    np.testing.assert_allclose(compile_logp(m, mode="FAST_COMPILE")(point), want, rtol=1e-10)


def test_rank_variant_classes_pickle():
    import pickle

    from symvi.distributions.base import dist_info as info_of

    rv = sv.ZeroSumNormal.dist(shape=(2, 3), n_zerosum_axes=2)
    cls = info_of(rv).cls
    assert cls.__name__ == "ZeroSumNormal" and cls.ndim_supp == 2
    assert pickle.loads(pickle.dumps(cls)) is cls
    kron = info_of(sv.KroneckerNormal.dist(mu=np.zeros(4), covs=[np.eye(2), np.eye(2)])).cls
    assert pickle.loads(pickle.dumps(kron)) is kron
