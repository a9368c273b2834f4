"""Mixture and NormalMixture: log density against a numpy logsumexp formula, draws, models."""

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import special, stats

import symvi as sv
from symvi.distributions.base import dist_info
from symvi.distributions.mixture import DiscreteMixture
from symvi.pytensorf import compile_fn

W = np.array([0.2, 0.8])
MU = np.array([-0.3, 0.5])
SD = np.array([0.1, 0.1])
GRID = np.array([-5.0, -0.3, -0.1, 0.0, 0.1, 0.34, 0.5, 0.9, 5.0])


def logp_of(rv, values):
    return dist_info(rv).logp(pt.as_tensor(np.asarray(values, dtype="float64"))).eval()


def normal_mix_logp(x, w, mu, sd):
    x = np.asarray(x)[..., None]
    return special.logsumexp(np.log(w) + stats.norm.logpdf(x, mu, sd), axis=-1)


def test_normal_mixture_logp_matches_formula():
    rv = sv.NormalMixture.dist(w=W, mu=MU, sigma=SD)
    assert rv.ndim == 0
    np.testing.assert_allclose(logp_of(rv, GRID), normal_mix_logp(GRID, W, MU, SD), rtol=1e-10)


def test_normal_mixture_tau():
    rv = sv.NormalMixture.dist(w=W, mu=MU, tau=1 / SD**2)
    np.testing.assert_allclose(logp_of(rv, GRID), normal_mix_logp(GRID, W, MU, SD), rtol=1e-10)


def test_mixture_single_stacked_component_equals_normal_mixture():
    rv = sv.Mixture.dist(w=W, comp_dists=sv.Normal.dist(mu=MU, sigma=SD))
    np.testing.assert_allclose(logp_of(rv, GRID), normal_mix_logp(GRID, W, MU, SD), rtol=1e-10)


def test_mixture_of_list_of_different_families():
    comps = [sv.Normal.dist(0.0, 1.0), sv.Gamma.dist(2.0, 1.5)]
    w = np.array([0.35, 0.65])
    rv = sv.Mixture.dist(w=w, comp_dists=comps)
    x = np.array([-1.0, 0.0, 0.5, 2.0])
    with np.errstate(divide="ignore"):
        comp = np.stack([stats.norm.logpdf(x), stats.gamma(2.0, scale=1 / 1.5).logpdf(x)], axis=-1)
        want = special.logsumexp(np.log(w) + comp, axis=-1)
    np.testing.assert_allclose(logp_of(rv, x), want, rtol=1e-10)
    assert sv.Mixture.default_transform(dist_info(rv).params) is None


def test_mixture_batched_weights_and_values():
    rng = np.random.default_rng(1)
    w = rng.dirichlet(np.ones(3), size=4)
    mu = np.array([-2.0, 0.0, 3.0])
    rv = sv.NormalMixture.dist(w=w, mu=mu, sigma=1.0)
    assert compile_fn([], rv, random_seed=1)().shape == (4,)
    x = rng.normal(size=4)
    np.testing.assert_allclose(logp_of(rv, x), normal_mix_logp(x, w, mu, np.ones(3)), rtol=1e-10)


def test_poisson_mixture_is_discrete_with_formula_logp():
    w = np.array([0.3, 0.7])
    mu = np.array([1.0, 6.0])
    rv = sv.Mixture.dist(w=w, comp_dists=sv.Poisson.dist(mu=mu))
    assert dist_info(rv).cls is DiscreteMixture and dist_info(rv).cls.discrete
    k = np.arange(-1, 12)
    with np.errstate(divide="ignore"):
        want = special.logsumexp(np.log(w) + stats.poisson.logpmf(k[:, None], mu), axis=-1)
    np.testing.assert_allclose(logp_of(rv, k), want, rtol=1e-10)
    d = compile_fn([], sv.Mixture.dist(w=w, comp_dists=sv.Poisson.dist(mu=mu), size=20000), random_seed=1)()
    assert np.issubdtype(d.dtype, np.integer)
    np.testing.assert_allclose(d.mean(), w @ mu, rtol=0.03)


def test_positive_components_get_log_transform():
    with sv.Model() as m:
        x = sv.Mixture("x", w=W, comp_dists=sv.Gamma.dist(alpha=np.array([2.0, 5.0]), beta=np.array([1.0, 0.5])))
    assert m.rvs_to_transforms[x] is sv.transforms.log
    point = m.initial_point()
    np.testing.assert_allclose(np.exp(point["x_log__"]), W @ np.array([2.0, 10.0]))
    v = 1.3
    want = special.logsumexp(np.log(W) + stats.gamma.logpdf(v, [2.0, 5.0], scale=[1.0, 2.0])) + np.log(v)
    np.testing.assert_allclose(m.compile_logp()({"x_log__": np.log(v)}), want, rtol=1e-10)


# ---------------------------------------------------------------------- draws
def test_normal_mixture_draws_are_bimodal():
    d = compile_fn([], sv.NormalMixture.dist(w=W, mu=MU, sigma=SD, size=20000), random_seed=1)()
    assert d.shape == (20000,)
    left = d < 0.1
    np.testing.assert_allclose(left.mean(), W[0], atol=0.015)
    np.testing.assert_allclose(d[left].mean(), MU[0], atol=0.01)
    np.testing.assert_allclose(d[~left].mean(), MU[1], atol=0.01)
    np.testing.assert_allclose(d[~left].std(), SD[1], rtol=0.05)
    # nothing in the valley between the modes
    assert np.mean(np.abs(d - 0.1) < 0.05) < 0.005
    cdf = lambda x: W @ stats.norm.cdf(np.asarray(x)[..., None], MU, SD).T  # noqa: E731
    assert stats.kstest(d, lambda x: np.array([cdf(xi) for xi in np.atleast_1d(x)])).pvalue > 0.001


def test_list_mixture_draws():
    comps = [sv.Normal.dist(-5.0, 1.0), sv.Exponential.dist(1.0)]
    d = compile_fn([], sv.Mixture.dist(w=np.array([0.5, 0.5]), comp_dists=comps, shape=(10000,)), random_seed=1)()
    assert d.shape == (10000,)
    np.testing.assert_allclose((d < -2).mean(), 0.5, atol=0.03)
    np.testing.assert_allclose(d[d > -2].mean(), 1.0, atol=0.05)


def test_draws_independent_across_batch():
    # component parameters of shape (K,) with size (N,): each entry draws its own component value
    d = compile_fn([], sv.NormalMixture.dist(w=W, mu=MU, sigma=SD, size=50), random_seed=1)()
    assert len(np.unique(d)) == 50



@pytest.mark.parametrize(
    "w_shape, mu_shape",
    [((1, 2), (4, 2)), ((4, 2), (1, 2)), ((2,), (4, 2)), ((4, 1, 2), (3, 2))],
)
def test_draws_broadcast_length_one_batches(w_shape, mu_shape):
    # a batch axis of length 1 in w or in the components broadcasts against the other's length
    # (it used to fail when the draw ran: the symbolic length 1 of a constant did not broadcast)
    w = np.full(w_shape, 0.5)
    mu = np.zeros(mu_shape) + np.array([-10.0, 10.0])
    expected = np.broadcast_shapes(w_shape[:-1], mu_shape[:-1])
    for rv in (
        sv.NormalMixture.dist(w=w, mu=mu, sigma=0.1),
        sv.Mixture.dist(w=w, comp_dists=[sv.Normal.dist(mu[..., 0], 0.1), sv.Normal.dist(mu[..., 1], 0.1)]),
    ):
        d = compile_fn([], rv, random_seed=1)()
        assert d.shape == expected
        assert np.all(np.abs(np.abs(d) - 10.0) < 1.0)

# ---------------------------------------------------------------------- models
def test_normal_mixture_in_model_like_seed_notebook():
    with sv.Model() as m:
        x = sv.NormalMixture("x", w=W, mu=MU, sigma=SD)
        x2 = x**2
        sv.Deterministic("x2", x2)
        sv.Deterministic("sin_x", sv.math.sin(x))
    assert m.free_RVs == [x]
    assert m.rvs_to_transforms[x] is None
    assert x.ndim == 0
    point = m.initial_point()
    np.testing.assert_allclose(point["x"], W @ MU)  # 0.34
    f = m.compile_logp()
    for v in GRID:
        np.testing.assert_allclose(f({"x": np.array(v)}), normal_mix_logp(v, W, MU, SD), rtol=1e-10)
    grad = m.compile_dlogp()({"x": np.array(0.34)})
    eps = 1e-6
    fd = (f({"x": np.array(0.34 + eps)}) - f({"x": np.array(0.34 - eps)})) / (2 * eps)
    np.testing.assert_allclose(grad, [fd], rtol=1e-5)
    prior = compile_fn([], x, random_seed=3)
    draws = np.array([prior() for _ in range(400)])
    assert (draws < 0.1).mean() > 0.1 and (draws > 0.1).mean() > 0.6


def test_mixture_with_latent_component_parameters():
    data = np.array([-1.1, -0.9, 2.0, 2.2, 1.9])
    with sv.Model() as m:
        mu = sv.Normal("mu", 0.0, 5.0, shape=(2,))
        sv.NormalMixture("y", w=np.array([0.4, 0.6]), mu=mu, sigma=0.5, observed=data)
    mu0 = np.array([-1.0, 2.0])
    want = normal_mix_logp(data, np.array([0.4, 0.6]), mu0, np.full(2, 0.5)).sum()
    want += stats.norm(0, 5).logpdf(mu0).sum()
    np.testing.assert_allclose(m.compile_logp()({"mu": mu0}), want, rtol=1e-10)


def test_mixture_with_latent_weights():
    data = np.array([-0.3, 0.5, 0.6])
    with sv.Model() as m:
        w = sv.Dirichlet("w", a=np.ones(2))
        sv.NormalMixture("y", w=w, mu=MU, sigma=SD, observed=data)
    y = np.array([0.4])
    x = np.exp(np.append(y, 0.0)) / np.exp(np.append(y, 0.0)).sum()
    want = normal_mix_logp(data, x, MU, SD).sum() + stats.dirichlet(np.ones(2)).logpdf(x) + np.log(x).sum()
    np.testing.assert_allclose(m.compile_logp()({"w_simplex__": y}), want, rtol=1e-10)


# ---------------------------------------------------------------------- errors
def test_invalid_weights_raise():
    with sv.Model():
        with pytest.raises(ValueError, match=r"'bad'.*parameter w\b"):
            sv.NormalMixture("bad", w=np.array([0.5, 0.7]), mu=MU, sigma=SD)
        with pytest.raises(ValueError, match=r"'bad2'.*parameter w\b"):
            sv.Mixture("bad2", w=np.array([1.2, -0.2]), comp_dists=sv.Normal.dist(mu=MU, sigma=SD))
        with pytest.raises(ValueError, match=r"'bad3'.*parameter sigma\b"):
            sv.NormalMixture("bad3", w=W, mu=MU, sigma=np.array([0.1, -1.0]))


def test_symbolic_weights_outside_simplex_give_minus_inf():
    w = pt.dvector("w")
    lp = dist_info(sv.NormalMixture.dist(w=w, mu=MU, sigma=SD)).logp(pt.as_tensor(0.5))
    assert np.isneginf(lp.eval({w: np.array([0.5, 0.7])}))
    np.testing.assert_allclose(lp.eval({w: W}), normal_mix_logp(0.5, W, MU, SD))


def test_bad_components_rejected():
    with pytest.raises(TypeError):
        sv.Mixture.dist(w=W, comp_dists=[np.zeros(2)])
    with pytest.raises(ValueError, match="w has 2 components"):
        sv.Mixture.dist(w=W, comp_dists=[sv.Normal.dist(), sv.Normal.dist(), sv.Normal.dist()])
    with pytest.raises(TypeError, match="only scalar-support components"):
        sv.Mixture.dist(w=W, comp_dists=[sv.Dirichlet.dist(a=np.ones(2))] * 2)
    with sv.Model():
        registered = sv.Normal("z", 0.0, 1.0)
        with pytest.raises(ValueError, match="registered"):
            sv.Mixture.dist(w=W, comp_dists=[registered, sv.Normal.dist()])
