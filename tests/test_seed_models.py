"""The seed models build and their log densities equal the formulas written out in numpy/scipy.

The ``build_*`` functions are reused by ``benchmarks/bench_model.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import pytensor.tensor as pt
from scipy import special, stats

import symvi
import symvi as pm
from symvi.pytensorf import compile_fn

try:  # the real data where available, seeded synthetic stand-ins otherwise
    from sklearn import datasets as _skd
except ImportError:  # pragma: no cover - depends on the environment
    _skd = None

needs_mixture = pytest.mark.skipif(not hasattr(symvi, "NormalMixture"), reason="symvi.NormalMixture not available yet")
needs_categorical = pytest.mark.skipif(not hasattr(symvi, "Categorical"), reason="symvi.Categorical not available yet")
needs_poisson = pytest.mark.skipif(not hasattr(symvi, "Poisson"), reason="symvi.Poisson not available yet")


# ---------------------------------------------------------------------- data
def gamma_data(n=200, seed=0):
    return np.random.default_rng(seed).gamma(2.0, 0.5, size=n)


def normal_data(n_rows=1000, n_cols=100, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 3, size=n_cols)
    sd = rng.uniform(0.5, 2.0, size=n_cols)
    return rng.normal(mu, sd, size=(n_rows, n_cols))


def digits_zeros(seed=0):
    """(178, 64) integer pixel counts in 0..16: sklearn's zeros, or a seeded stand-in."""
    if _skd is not None:
        d = _skd.load_digits()
        return d.data[d.target == 0].astype("int64")
    return np.random.default_rng(seed).integers(0, 17, size=(178, 64))


def mixture_data(n=500, seed=0):
    rng = np.random.default_rng(seed)
    comp = rng.choice(3, size=n, p=[0.3, 0.5, 0.2])
    return rng.normal(np.array([-4.0, 0.0, 5.0])[comp], np.array([1.0, 0.7, 1.5])[comp])


def iris_data(seed=0):
    """(150, 4) features and labels in {0, 1, 2}: sklearn's iris, or a seeded stand-in."""
    if _skd is not None:
        d = _skd.load_iris()
        return d.data, d.target.astype("int64")
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 50)
    centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    return centers[y] + rng.normal(0, 0.35, size=(150, 4)), y


# ---------------------------------------------------------------------- seed models
def build_gamma(data=None):
    data = gamma_data() if data is None else data
    with pm.Model() as m:
        alpha = pm.Exponential("alpha", 0.1)
        beta = pm.Exponential("beta", 0.1)
        pm.Gamma("y", alpha, beta, observed=data)
    return m


def build_normal(data=None):
    data = normal_data() if data is None else data
    k = data.shape[1]
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, sigma=1e5, shape=(k,))
        sd = pm.HalfNormal("sd", shape=(k,))
        pm.Normal("obs", mu, sd, observed=data)
    return m


def build_poisson_gamma(data=None):
    data = digits_zeros() if data is None else data
    with pm.Model() as m:
        alpha = pm.Exponential("alpha", 1.0)
        beta = pm.Exponential("beta", 1.0)
        rates = pm.Gamma("rates", alpha, beta, shape=(data.shape[1],))
        pm.Poisson("pixels", rates, observed=data)
    return m


def build_mixture(data=None, k=3):
    data = mixture_data() if data is None else data
    with pm.Model(coords={"cluster": range(k)}) as m:
        w = pm.Dirichlet("w", np.ones(k), dims="cluster")
        mu = pm.Normal("mu", 0.0, 10.0, dims="cluster")
        sigma = pm.HalfNormal("sigma", 5.0, dims="cluster")
        pm.NormalMixture("x", w, mu, sigma, observed=data)
    return m


def build_iris(X=None, y=None):
    if X is None:
        X, y = iris_data()
    with pm.Model() as m:
        beta = pm.Normal("beta", 0, sigma=1e2, shape=(4, 3))
        a = pm.Normal("a", sigma=1e4, shape=(3,))
        p = pm.math.special.softmax(pm.math.dot(X, beta) + a, axis=-1)
        pm.Categorical("y", p, observed=y)
    return m


# ---------------------------------------------------------------------- helpers
def _point(m, rng, scale=0.5):
    """A random point on the unconstrained space, shaped like the initial point."""
    return {k: v + rng.normal(scale=scale, size=np.shape(v)) for k, v in m.initial_point().items()}


def _compiled(m):
    """One compiled function giving (logp without Jacobian, logp, flat gradient of logp).

    A single function keeps numba's cold-cache JIT cost to one compile per model; the public
    ``compile_logp`` / ``compile_dlogp`` are exercised in test_model.py (and agree with this
    construction: see ``test_compiled_helper_matches_public_api``).
    """
    values = m.value_vars
    logp = m.logp()
    grads = pt.grad(logp, values)
    flat = pt.concatenate([g.flatten() for g in grads])
    fn = compile_fn(values, [m.logp(jacobian=False), logp, flat])
    names = [v.name for v in values]
    return lambda point: fn(*[point[n] for n in names])


def _check(m, point, expected_with_jac, expected_no_jac, fd=True, fn=None, eps=1e-6, rtol=1e-5):
    """logp with/without Jacobian against the hand-written values; gradient against central differences.

    Returns the gradient at ``point`` (flattened over ``m.value_vars``).
    """
    fn = _compiled(m) if fn is None else fn
    no_jac, with_jac, grad = fn(point)
    np.testing.assert_allclose(no_jac, expected_no_jac, rtol=1e-9)
    np.testing.assert_allclose(with_jac, expected_with_jac, rtol=1e-9)
    if not fd:
        return grad
    names = [v.name for v in m.value_vars]
    shapes = [np.shape(point[n]) for n in names]
    sizes = [int(np.prod(s)) for s in shapes]
    flat = np.concatenate([np.ravel(point[n]) for n in names]).astype("float64")

    def f(z):
        parts = np.split(z, np.cumsum(sizes)[:-1])
        return fn({n: p.reshape(s) for n, p, s in zip(names, parts, shapes)})[1]

    fdg = np.array([(f(flat + eps * e) - f(flat - eps * e)) / (2 * eps) for e in np.eye(flat.size)])
    assert grad.shape == flat.shape
    np.testing.assert_allclose(grad, fdg, rtol=rtol, atol=rtol * np.abs(fdg).max())
    return grad


# ---------------------------------------------------------------------- (a) gamma
def test_gamma_seed(rng):
    data = gamma_data()
    m = build_gamma(data)
    assert [v.name for v in m.value_vars] == ["alpha_log__", "beta_log__"]
    np.testing.assert_allclose(m.initial_point()["alpha_log__"], np.log(10.0))  # 1 / lam
    point = {"alpha_log__": np.array(np.log(1.7)), "beta_log__": np.array(np.log(0.6))}
    alpha, beta = 1.7, 0.6
    no_jac = (
        stats.expon(scale=10).logpdf(alpha)
        + stats.expon(scale=10).logpdf(beta)
        + stats.gamma(a=alpha, scale=1 / beta).logpdf(data).sum()
    )
    fn = _compiled(m)
    _check(m, point, no_jac + np.log(alpha) + np.log(beta), no_jac, fn=fn)
    # and at a random point
    p = _point(m, rng)
    a, b = np.exp(p["alpha_log__"]), np.exp(p["beta_log__"])
    nj = stats.expon(scale=10).logpdf([a, b]).sum() + stats.gamma(a=a, scale=1 / b).logpdf(data).sum()
    _check(m, p, nj + np.log(a) + np.log(b), nj, fn=fn)


def test_compiled_helper_matches_public_api(rng):
    m = build_gamma()
    p = _point(m, rng)
    no_jac, with_jac, grad = _compiled(m)(p)
    np.testing.assert_allclose(m.compile_logp(jacobian=False)(p), no_jac, rtol=1e-12)
    np.testing.assert_allclose(m.compile_logp()(p), with_jac, rtol=1e-12)
    np.testing.assert_allclose(m.compile_dlogp()(p), grad, rtol=1e-12)


def test_gamma_seed_prior_predictive():
    m = build_gamma()
    idata = pm.sample_prior_predictive(draws=20, model=m, random_seed=0)
    assert idata.prior_predictive["y"].shape == (1, 20, 200)
    assert (idata.prior_predictive["y"].values > 0).all()


# ---------------------------------------------------------------------- (b) wide normal
def _normal_by_hand(point, data):
    mu = point["mu"]
    log_sd = point["sd_log__"]
    sd = np.exp(log_sd)
    no_jac = (
        stats.norm(0, 1e5).logpdf(mu).sum()
        + stats.halfnorm().logpdf(sd).sum()
        + stats.norm(mu, sd).logpdf(data).sum()
    )
    return no_jac + log_sd.sum(), no_jac


def test_normal_seed(rng):
    data = normal_data(1000, 100)  # 800 kB: under numba's 1 MB limit for cacheable constants
    m = build_normal(data)
    assert m["mu"].type.shape == (100,)
    point = _point(m, rng)
    grad = _check(m, point, *_normal_by_hand(point, data), fd=False)
    # analytic gradient (Jacobian of the log transform included)
    sd = np.exp(point["sd_log__"])
    resid = data - point["mu"]
    dmu = (resid / sd**2).sum(0) - point["mu"] / 1e10
    dlog_sd = (resid**2 / sd**2 - 1).sum(0) - sd**2 + 1
    np.testing.assert_allclose(grad, np.concatenate([dmu, dlog_sd]), rtol=1e-8)


@pytest.mark.slow
def test_normal_seed_full_size(rng):
    data = normal_data(40000, 100)
    m = build_normal(data)
    point = _point(m, rng)
    _check(m, point, *_normal_by_hand(point, data), fd=False)


# ---------------------------------------------------------------------- (c) Poisson-Gamma
@needs_poisson
def test_poisson_gamma_seed(rng):
    data = digits_zeros()
    assert data.shape == (178, 64) and data.min() >= 0 and data.max() <= 16
    m = build_poisson_gamma(data)
    assert [v.name for v in m.value_vars] == ["alpha_log__", "beta_log__", "rates_log__"]
    point = _point(m, rng)
    a, b = np.exp(point["alpha_log__"]), np.exp(point["beta_log__"])
    log_r = point["rates_log__"]
    r = np.exp(log_r)
    no_jac = (
        stats.expon().logpdf(a)
        + stats.expon().logpdf(b)
        + stats.gamma(a=a, scale=1 / b).logpdf(r).sum()
        + stats.poisson(r).logpmf(data).sum()
    )
    jac = point["alpha_log__"] + point["beta_log__"] + log_r.sum()
    grad = _check(m, point, no_jac + jac, no_jac)
    # d logp / d log(rate_j) = alpha - beta r_j + sum_n k_nj - N r_j   (Jacobian included)
    expected = a - b * r + data.sum(0) - data.shape[0] * r
    np.testing.assert_allclose(grad[2:], expected, rtol=1e-8)


# ---------------------------------------------------------------------- (d) NormalMixture
@needs_mixture
def test_normal_mixture_seed(rng):
    data = mixture_data()
    m = build_mixture(data)
    assert [v.name for v in m.value_vars] == ["w_simplex__", "mu", "sigma_log__"]
    point = _point(m, rng)
    assert point["w_simplex__"].shape == (2,)
    z = np.append(point["w_simplex__"], 0.0)
    w = special.softmax(z)
    mu = point["mu"]
    sigma = np.exp(point["sigma_log__"])
    comp = np.log(w) + stats.norm(mu, sigma).logpdf(data[:, None])
    no_jac = (
        stats.dirichlet(np.ones(3)).logpdf(w)
        + stats.norm(0, 10).logpdf(mu).sum()
        + stats.halfnorm(scale=5).logpdf(sigma).sum()
        + special.logsumexp(comp, axis=1).sum()
    )
    jac = np.log(w).sum() + point["sigma_log__"].sum()
    _check(m, point, no_jac + jac, no_jac)


# ---------------------------------------------------------------------- (e) iris logistic
@needs_categorical
def test_iris_logistic_seed(rng):
    X, y = iris_data()
    m = build_iris(X, y)
    assert [v.name for v in m.value_vars] == ["beta", "a"]
    point = {"beta": rng.normal(scale=0.5, size=(4, 3)), "a": rng.normal(size=3)}
    eta = X @ point["beta"] + point["a"]
    loglik = (eta[np.arange(len(y)), y] - special.logsumexp(eta, axis=1)).sum()
    expected = stats.norm(0, 1e2).logpdf(point["beta"]).sum() + stats.norm(0, 1e4).logpdf(point["a"]).sum() + loglik
    grad = _check(m, point, expected, expected)
    # gradient of the likelihood w.r.t. a: sum(onehot - softmax)
    onehot = np.eye(3)[y]
    da = (onehot - special.softmax(eta, axis=1)).sum(0) - point["a"] / 1e8
    np.testing.assert_allclose(grad[12:], da, rtol=1e-8, atol=1e-10)
