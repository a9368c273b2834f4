"""``pm.math``: pytensor.tensor re-exported plus PyMC's helpers, each checked against numpy/scipy."""

import numpy as np
import pytest
import scipy.linalg
import scipy.special as sp
import scipy.stats as st

import symvi as pm

RNG = np.random.default_rng(11)
X = RNG.normal(size=(3, 4)) * 3
P = RNG.uniform(0.001, 0.999, size=7)


def ev(expr):
    return np.asarray(expr.eval())


def test_tensor_functions_are_reexported():
    for name in ("exp", "log", "dot", "switch", "sigmoid", "logsumexp", "sum", "stack", "erf"):
        assert callable(getattr(pm.math, name)), name


def test_links():
    np.testing.assert_allclose(ev(pm.math.invlogit(X)), sp.expit(X), rtol=1e-12)
    np.testing.assert_allclose(ev(pm.math.logit(P)), sp.logit(P), rtol=1e-10)
    np.testing.assert_allclose(ev(pm.math.invprobit(X)), st.norm.cdf(X), rtol=1e-10, atol=1e-300)
    np.testing.assert_allclose(ev(pm.math.probit(P)), st.norm.ppf(P), rtol=1e-9)
    np.testing.assert_allclose(ev(pm.math.probit(pm.math.invprobit(X[0]))), X[0], rtol=1e-8)


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_softmax_and_log_softmax(axis):
    np.testing.assert_allclose(ev(pm.math.softmax(X, axis=axis)), sp.softmax(X, axis=axis), rtol=1e-12)
    np.testing.assert_allclose(ev(pm.math.log_softmax(X, axis=axis)), sp.log_softmax(X, axis=axis), rtol=1e-12)


def test_logdiffexp_stays_finite_where_exp_overflows():
    a, b = np.array([1000.0, 3.0, -5.0]), np.array([999.0, 1.0, -7.5])
    expected = a + np.log1p(-np.exp(b - a))
    np.testing.assert_allclose(ev(pm.math.logdiffexp(a, b)), expected, rtol=1e-12)
    assert np.isfinite(ev(pm.math.logdiffexp(a, b))).all()


def test_linear_algebra():
    A = RNG.normal(size=(4, 4))
    S = A @ A.T + 4 * np.eye(4)
    np.testing.assert_allclose(ev(pm.math.logdet(S)), np.linalg.slogdet(S)[1], rtol=1e-12)
    np.testing.assert_allclose(ev(pm.math.matrix_inverse(S)), np.linalg.inv(S), rtol=1e-10)
    B, C = RNG.normal(size=(2, 3)), RNG.normal(size=(3, 1))
    np.testing.assert_allclose(ev(pm.math.kronecker(A, B, C)), np.kron(np.kron(A, B), C), rtol=1e-12)
    np.testing.assert_allclose(ev(pm.math.block_diagonal([A, B])), scipy.linalg.block_diag(A, B))


@pytest.mark.parametrize("lower", [True, False])
def test_expand_packed_triangular(lower):
    n = 4
    packed = np.arange(1.0, n * (n + 1) // 2 + 1)
    full = ev(pm.math.expand_packed_triangular(n, packed, lower=lower))
    idx = np.tril_indices(n) if lower else np.triu_indices(n)
    expected = np.zeros((n, n))
    expected[idx] = packed
    np.testing.assert_array_equal(full, expected)
    np.testing.assert_array_equal(ev(pm.math.expand_packed_triangular(n, packed, lower=lower, diagonal_only=True)), np.diag(expected))
    with pytest.raises(ValueError, match="expand_packed_triangular: n must be a positive integer"):
        pm.math.expand_packed_triangular(0, packed)


def test_cartesian_and_logbern():
    out = pm.math.cartesian([1, 2, 3], [10, 20])
    assert out.shape == (6, 2) and sorted(map(tuple, out.tolist())) == [(a, b) for a in (1, 2, 3) for b in (10, 20)]
    draws = pm.math.logbern(np.log(0.3), rng=np.random.default_rng(0), size=20000)
    assert draws.dtype == bool and abs(draws.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 20000)
    assert not pm.math.logbern(-1e6, rng=np.random.default_rng(0), size=100).any()
    with pytest.raises(FloatingPointError, match="logbern: log_p holds NaN"):
        pm.math.logbern(np.nan)


def test_math_in_a_model():
    y = (RNG.uniform(size=50) < sp.expit(0.7)).astype("int64")
    with pm.Model() as m:
        a = pm.Normal("a", 0, 1)
        pm.Bernoulli("y", p=pm.math.invlogit(a), observed=y)
    logp = m.compile_logp()({"a": 0.7})
    expected = st.norm.logpdf(0.7) + st.bernoulli.logpmf(y, sp.expit(0.7)).sum()
    np.testing.assert_allclose(logp, expected, rtol=1e-10)


def test_pymc_top_level_names():
    # PyMC re-exports ArviZ's statistics and plots and pm.math's link functions at its top level
    import arviz as az

    import symvi
    from symvi import stats

    for name in stats.NAMES:
        assert getattr(symvi, name) is getattr(az, name, None) or getattr(symvi, name) is getattr(az.stats, name)
    with pytest.raises(AttributeError, match="no attribute 'plot_nothing'"):
        symvi.plot_nothing  # noqa: B018
    assert symvi.invlogit is symvi.math.invlogit and symvi.logsumexp is symvi.math.logsumexp
    np.testing.assert_allclose(symvi.math.solve_triangular(np.tril(np.ones((2, 2))), np.ones(2), lower=True).eval(), [1.0, 0.0])
    assert symvi.math.floatX(np.array([1])).dtype == np.float64


def test_pymc_module_names():
    import symvi

    assert symvi.variational.updates.adam is symvi.adam and symvi.updates.adagrad_window is symvi.adagrad_window
    assert symvi.approximations.MeanField is symvi.MeanField and symvi.inference.ADVI is symvi.ADVI
