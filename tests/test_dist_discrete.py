"""Discrete distributions: log mass against scipy.stats, seeded draws, parameter checks."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special, stats

import symvi as sv
from symvi.distributions.base import dist_info
from symvi.pytensorf import compile_fn

# beta_binomial has no numba implementation; pytensor falls back to object mode and says so
pytestmark = pytest.mark.filterwarnings("ignore:Numba will use object mode:UserWarning")

GRID = np.arange(-2, 13)  # includes out-of-support points on both sides


def logp_of(rv, values):
    return dist_info(rv).logp(pt.as_tensor(np.asarray(values))).eval()


def draws(rv_factory, n=20000, **kw):
    return compile_fn([], rv_factory(size=n, **kw), random_seed=1)()


def freq_tol(p, n):
    """Five binomial standard errors (seeded draws, but robust to the seed)."""
    return 5 * np.sqrt(np.asarray(p) * (1 - np.asarray(p)) / n) + 1e-3


def scipy_logpmf(frozen, values):
    with np.errstate(divide="ignore"):
        return frozen.logpmf(values)


# (symvi distribution, kwargs, scipy frozen distribution)
CASES = [
    ("bernoulli", sv.Bernoulli, {"p": 0.3}, stats.bernoulli(0.3)),
    ("bernoulli_logit", sv.Bernoulli, {"logit_p": -0.4}, stats.bernoulli(special.expit(-0.4))),
    ("bernoulli_p0", sv.Bernoulli, {"p": 0.0}, stats.bernoulli(0.0)),
    ("bernoulli_p1", sv.Bernoulli, {"p": 1.0}, stats.bernoulli(1.0)),
    ("binomial", sv.Binomial, {"n": 10, "p": 0.35}, stats.binom(10, 0.35)),
    ("binomial_logit", sv.Binomial, {"n": 7, "logit_p": 1.2}, stats.binom(7, special.expit(1.2))),
    ("binomial_p1", sv.Binomial, {"n": 5, "p": 1.0}, stats.binom(5, 1.0)),
    ("poisson", sv.Poisson, {"mu": 3.2}, stats.poisson(3.2)),
    ("poisson_mu0", sv.Poisson, {"mu": 0.0}, stats.poisson(0.0)),
    ("negbin_mu_alpha", sv.NegativeBinomial, {"mu": 4.0, "alpha": 2.5}, stats.nbinom(2.5, 2.5 / 6.5)),
    ("negbin_n_p", sv.NegativeBinomial, {"n": 3.0, "p": 0.4}, stats.nbinom(3.0, 0.4)),
    ("geometric", sv.Geometric, {"p": 0.3}, stats.geom(0.3)),
    ("geometric_p1", sv.Geometric, {"p": 1.0}, stats.geom(1.0)),
    ("discrete_uniform", sv.DiscreteUniform, {"lower": -1, "upper": 6}, stats.randint(-1, 7)),
    ("betabinomial", sv.BetaBinomial, {"alpha": 2.0, "beta": 3.5, "n": 9}, stats.betabinom(9, 2.0, 3.5)),
]


@pytest.mark.parametrize("name,cls,kwargs,ref", CASES, ids=[c[0] for c in CASES])
def test_logp_matches_scipy(name, cls, kwargs, ref):
    rv = cls.dist(**kwargs)
    got = logp_of(rv, GRID)
    want = scipy_logpmf(ref, GRID)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    lo, hi = ref.support()
    outside = (GRID < lo) | (GRID > hi)
    assert outside.any()
    assert np.all(np.isneginf(got[outside]))


def test_binomial_large_integer_n_does_not_overflow():
    # int8 constants: n + 1 must not wrap around
    got = logp_of(sv.Binomial.dist(n=127, p=0.5), np.array([0, 60, 127, 128]))
    want = scipy_logpmf(stats.binom(127, 0.5), np.array([0, 60, 127, 128]))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_logp_broadcasts_parameters():
    mu = np.array([0.5, 2.0, 7.0])
    got = logp_of(sv.Poisson.dist(mu=mu), np.array([[0], [3]]))
    np.testing.assert_allclose(got, stats.poisson.logpmf(np.array([[0], [3]]), mu), rtol=1e-10)


# ---------------------------------------------------------------------- Categorical
def test_categorical_logp_vector_p():
    p = np.array([0.2, 0.5, 0.3])
    got = logp_of(sv.Categorical.dist(p=p), np.array([-1, 0, 1, 2, 3]))
    np.testing.assert_allclose(got, [-np.inf, *np.log(p), -np.inf])


def test_categorical_normalises_p_and_logit_p():
    p = np.array([2.0, 5.0, 3.0])
    got = logp_of(sv.Categorical.dist(p=p), np.arange(3))
    np.testing.assert_allclose(got, np.log(p / p.sum()))
    logits = np.array([0.3, -1.0, 2.0])
    got = logp_of(sv.Categorical.dist(logit_p=logits), np.arange(3))
    np.testing.assert_allclose(got, special.log_softmax(logits))


def test_categorical_batched_p_value_has_batch_shape():
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(3), size=6)
    rv = sv.Categorical.dist(p=p)
    assert rv.eval().shape == (6,)
    y = np.array([0, 1, 2, 2, 1, 5])
    got = logp_of(rv, y)
    want = np.log(p[np.arange(5), y[:5]])
    np.testing.assert_allclose(got[:5], want)
    assert np.isneginf(got[5])


def test_categorical_symbolic_p_in_model_like_seed_notebook():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 4))
    y = rng.integers(0, 3, size=20)
    Xt, yt = pytensor.shared(X), pytensor.shared(y)
    with sv.Model() as m:
        beta = sv.Normal("beta", 0, 1, shape=(4, 3))
        a = sv.Normal("a", 0, 1, shape=(3,))
        p = pt.special.softmax(Xt.dot(beta) + a, axis=-1)
        sv.Categorical("obs", p=p, observed=yt)
    b0 = rng.normal(size=(4, 3))
    a0 = rng.normal(size=3)
    logits = X @ b0 + a0
    want = special.log_softmax(logits, axis=-1)[np.arange(20), y].sum()
    want += stats.norm.logpdf(b0).sum() + stats.norm.logpdf(a0).sum()
    got = m.compile_logp()({"beta": b0, "a": a0})
    np.testing.assert_allclose(got, want, rtol=1e-10)
    # the symbolic check p >= 0 does not change the shape of the observed term
    terms = m.compile_logp(vars=["obs"], sum=False)({"beta": b0, "a": a0})
    assert np.shape(terms[0]) == (20,)


def test_categorical_draw_frequencies():
    p = np.array([0.1, 0.6, 0.3])
    d = draws(lambda size: sv.Categorical.dist(p=p, size=size))
    np.testing.assert_allclose(np.bincount(d, minlength=3) / d.size, p, atol=freq_tol(p, d.size).max())


# ---------------------------------------------------------------------- draws
DRAW_CASES = [
    ("bernoulli", lambda size: sv.Bernoulli.dist(p=0.3, size=size), stats.bernoulli(0.3)),
    ("bernoulli_logit", lambda size: sv.Bernoulli.dist(logit_p=1.0, size=size), stats.bernoulli(special.expit(1.0))),
    ("binomial", lambda size: sv.Binomial.dist(n=10, p=0.35, size=size), stats.binom(10, 0.35)),
    ("poisson", lambda size: sv.Poisson.dist(mu=3.2, size=size), stats.poisson(3.2)),
    ("negbin", lambda size: sv.NegativeBinomial.dist(mu=4.0, alpha=2.5, size=size), stats.nbinom(2.5, 2.5 / 6.5)),
    ("negbin_np", lambda size: sv.NegativeBinomial.dist(n=3, p=0.4, size=size), stats.nbinom(3, 0.4)),
    ("geometric", lambda size: sv.Geometric.dist(p=0.3, size=size), stats.geom(0.3)),
    ("discrete_uniform", lambda size: sv.DiscreteUniform.dist(-1, 6, size=size), stats.randint(-1, 7)),
    ("betabinomial", lambda size: sv.BetaBinomial.dist(2.0, 3.5, 9, size=size), stats.betabinom(9, 2.0, 3.5)),
]


@pytest.mark.parametrize("name,factory,ref", DRAW_CASES, ids=[c[0] for c in DRAW_CASES])
def test_draw_frequencies_match_pmf(name, factory, ref):
    d = draws(factory)
    assert d.shape == (20000,)
    assert np.issubdtype(d.dtype, np.integer)
    support = np.arange(d.min(), d.max() + 1)
    freq = np.array([(d == k).mean() for k in support])
    np.testing.assert_array_less(np.abs(freq - ref.pmf(support)), freq_tol(ref.pmf(support), d.size))
    np.testing.assert_allclose(d.mean(), ref.mean(), rtol=0.03, atol=0.02)


def test_draws_vary_between_calls_and_respect_shape():
    f = compile_fn([], sv.Poisson.dist(mu=np.array([1.0, 50.0]), shape=(4, 2)), random_seed=1)
    a, b = f(), f()
    assert a.shape == (4, 2)
    assert not np.array_equal(a, b)
    assert a[:, 1].mean() > 20


# ---------------------------------------------------------------------- parameter checks
BAD = [
    (sv.Bernoulli, {"p": 1.5}, "p"),
    (sv.Binomial, {"n": -1, "p": 0.5}, "n"),
    (sv.Binomial, {"n": 5, "p": -0.1}, "p"),
    (sv.Poisson, {"mu": -1.0}, "mu"),
    (sv.NegativeBinomial, {"mu": 2.0, "alpha": 0.0}, "alpha"),
    (sv.NegativeBinomial, {"mu": -2.0, "alpha": 1.0}, "mu"),
    (sv.Geometric, {"p": 0.0}, "p"),
    (sv.Categorical, {"p": np.array([0.5, -0.1, 0.6])}, "p"),
    (sv.DiscreteUniform, {"lower": 5, "upper": 2}, "lower and upper"),
    (sv.BetaBinomial, {"alpha": -1.0, "beta": 1.0, "n": 3}, "alpha"),
    (sv.BetaBinomial, {"alpha": 1.0, "beta": 1.0, "n": -3}, "n"),
]


@pytest.mark.parametrize("cls,kwargs,param", BAD, ids=[f"{b[0].__name__}-{b[2]}" for b in BAD])
def test_constant_invalid_params_raise(cls, kwargs, param):
    with sv.Model():
        with pytest.raises(ValueError, match=rf"'bad'.*parameter {param}\b"):
            cls("bad", **kwargs)


def test_symbolic_invalid_param_gives_minus_inf():
    mu = pt.dscalar("mu")
    lp = dist_info(sv.Poisson.dist(mu=mu)).logp(pt.as_tensor(np.array([0, 2])))
    out = lp.eval({mu: -1.0})
    assert np.all(np.isneginf(out))
    np.testing.assert_allclose(lp.eval({mu: 2.0}), stats.poisson.logpmf([0, 2], 2.0))


def test_parametrization_errors():
    with pytest.raises(TypeError):
        sv.Bernoulli.dist(p=0.3, logit_p=0.0)
    with pytest.raises(TypeError):
        sv.NegativeBinomial.dist(mu=1.0, alpha=1.0, n=2, p=0.5)
    with pytest.raises(TypeError):
        sv.Categorical.dist()


def test_observed_discrete_in_model():
    y = np.array([0, 3, 1, 4, 2])
    with sv.Model() as m:
        mu = sv.Exponential("mu", 1.0)
        sv.Poisson("y", mu=mu, observed=y)
    assert m.rvs_to_transforms[m["mu"]] is sv.transforms.log
    got = m.compile_logp()({"mu_log__": np.log(2.0)})
    want = stats.poisson.logpmf(y, 2.0).sum() + stats.expon.logpdf(2.0) + np.log(2.0)
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_free_discrete_variable_gets_no_transform_and_support_point():
    with sv.Model() as m:
        sv.Poisson("k", mu=3.7)
        sv.Binomial("b", n=10, p=0.25)
        sv.Categorical("c", p=np.array([0.1, 0.7, 0.2]))
    assert all(m.rvs_to_transforms[rv] is None for rv in m.free_RVs)
    point = m.initial_point()
    assert point == {"k": 3, "b": 2, "c": 1}


def test_gradient_with_broadcast_scalar_parameter():
    # scalar latent p against vector data: the xlogy-style terms must reduce their gradient
    y = np.array([0, 3, 5, 2])
    with sv.Model() as m:
        p = sv.Uniform("p", 0, 1)
        mu = sv.Exponential("mu", 1.0)
        sv.Binomial("k", n=5, p=p, observed=y)
        sv.Poisson("c", mu=mu, observed=y)
    point = {"p_interval__": np.array(0.3), "mu_log__": np.array(0.4)}
    grad = m.compile_dlogp()(point)
    f = m.compile_logp()
    eps = 1e-6
    fd = []
    for name in ["p_interval__", "mu_log__"]:
        hi, lo = dict(point), dict(point)
        hi[name] = point[name] + eps
        lo[name] = point[name] - eps
        fd.append((f(hi) - f(lo)) / (2 * eps))
    assert grad.shape == (2,)
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_categorical_logits_do_not_underflow():
    """log p comes from log_softmax of the logits: a gap of 800 gives -800, not -inf."""
    from scipy.special import log_softmax

    with sv.Model() as m:
        z = sv.Normal("z", 0, 1)
        sv.Categorical("a", logit_p=pt.stack([z, z + 800.0]), observed=[0, 1])
        sv.Categorical("b", p=pt.special.softmax(pt.stack([[z, 2 * z + 3.0]] * 2), axis=-1), observed=[1, 0])
    a, b = m.compile_logp(vars=["a", "b"], sum=False)({"z": 0.5})
    np.testing.assert_allclose(a, log_softmax([0.5, 800.5])[[0, 1]])
    np.testing.assert_allclose(b, log_softmax([0.5, 4.0])[[1, 0]])
    grad = m.compile_dlogp()({"z": 0.5})
    assert np.all(np.isfinite(grad))


def test_negative_binomial_with_huge_alpha_is_poisson():
    # found by the fuzz test (HurdleNegativeBinomial): at alpha = 4e15 gammaln(k + alpha) -
    # gammaln(alpha) cancelled catastrophically (log P(13) = -49.7 for mu = 13.5, not -2.4)
    x = np.array([0, 1, 13, 40])
    for alpha in (4148250510831052.0, 1e12):
        nb = dist_info(sv.NegativeBinomial.dist(13.5, alpha)).logp(x)
        np.testing.assert_allclose(pytensor.function([], nb, mode="FAST_COMPILE")(), stats.poisson(13.5).logpmf(x), rtol=1e-9)
    # below the switch the closed form still agrees with scipy
    nb = dist_info(sv.NegativeBinomial.dist(13.5, 1e6)).logp(x)
    np.testing.assert_allclose(pytensor.function([], nb, mode="FAST_COMPILE")(), stats.nbinom(1e6, 1e6 / (1e6 + 13.5)).logpmf(x), rtol=1e-7)
