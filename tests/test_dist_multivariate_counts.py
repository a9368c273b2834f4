"""DirichletMultinomial and OrderedMultinomial: scipy, PyMC values, draws, edges."""

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import stats

import symvi as sv
from symvi.distributions.base import dist_info
from symvi.logprob import compile_logp
from symvi.pytensorf import compile_fn


def logp_of(rv, values):
    """Log density of ``rv`` at ``values`` (one cheaply compiled function)."""
    values = np.asarray(values)
    v = pt.as_tensor(values).type()
    return compile_fn([v], dist_info(rv).logp(v), mode="FAST_COMPILE")(values)


def draw(rv, seed):
    """One draw of ``rv`` (the default mode would JIT-compile the sampler)."""
    return compile_fn([], rv, mode="FAST_COMPILE", random_seed=seed)()


A = np.array([1.0, 2.0, 0.5])


def test_dirichlet_multinomial_matches_scipy_and_pymc():
    rv = sv.DirichletMultinomial.dist(n=7, a=A)
    xs = np.array([[2, 4, 1], [0, 7, 0], [3, 3, 1], [7, 0, 0]])
    np.testing.assert_allclose(logp_of(rv, xs), stats.dirichlet_multinomial(A, 7).logpmf(xs), rtol=1e-10)
    # PyMC 5.28.5: pm.logp(pm.DirichletMultinomial.dist(n=7, a=A), xs[:3]).eval()
    np.testing.assert_allclose(logp_of(rv, xs[:3]), [-3.298199524117119, -2.135048714311438, -3.5213430754313286], rtol=1e-8)
    # the pmf sums to one over the support
    grid = np.array([[i, j, 7 - i - j] for i in range(8) for j in range(8 - i)])
    np.testing.assert_allclose(np.exp(logp_of(rv, grid)).sum(), 1.0, rtol=1e-12)


def test_dirichlet_multinomial_support_edges_and_batches():
    rv = sv.DirichletMultinomial.dist(n=np.array([3, 5]), a=np.array([[1.0, 1.0], [2.0, 0.5]]))
    got = logp_of(rv, np.array([[1, 2], [5, 0]]))
    want = [stats.dirichlet_multinomial([1.0, 1.0], 3).logpmf([1, 2]), stats.dirichlet_multinomial([2.0, 0.5], 5).logpmf([5, 0])]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    bad = logp_of(sv.DirichletMultinomial.dist(n=3, a=np.ones(2)), np.array([[1, 1], [4, -1]]))
    assert np.isneginf(bad).all()  # wrong total; a negative count


def test_dirichlet_multinomial_draws():
    d = draw(sv.DirichletMultinomial.dist(n=7, a=A, size=20000), 1)
    assert d.shape == (20000, 3) and (d.sum(-1) == 7).all()
    ref = stats.dirichlet_multinomial(A, 7)
    np.testing.assert_allclose(d.mean(0), ref.mean(), atol=0.05)
    np.testing.assert_allclose(d.var(0), ref.var(), rtol=0.06)


def test_dirichlet_multinomial_observed_and_errors():
    with sv.Model() as m:
        a = sv.Exponential("a", 1.0, shape=3)
        sv.DirichletMultinomial("y", n=7, a=a, observed=np.array([[2, 4, 1], [0, 7, 0]]))
    point = {"a_log__": np.log(A)}
    want = stats.dirichlet_multinomial(A, 7).logpmf(np.array([[2, 4, 1], [0, 7, 0]])).sum() + stats.expon.logpdf(A).sum() + np.log(A).sum()
    np.testing.assert_allclose(compile_logp(m, mode="FAST_COMPILE")(point), want, rtol=1e-10)
    with pytest.raises(ValueError, match="a"):
        sv.DirichletMultinomial.dist(n=3, a=np.array([1.0, -1.0]))
    with sv.Model():
        with pytest.raises(ValueError, match="'z'.*n"):
            sv.DirichletMultinomial("z", n=-1, a=np.ones(2))


def ordered_p(eta, cut):
    cdf = np.concatenate([[0.0], 1 / (1 + np.exp(-(cut - eta))), [1.0]])
    return np.diff(cdf)


def test_ordered_multinomial_matches_multinomial_and_pymc():
    cut = np.array([-1.0, 0.5, 2.0])
    rv = sv.OrderedMultinomial.dist(eta=0.3, cutpoints=cut, n=10)
    xs = np.array([[2, 3, 4, 1], [0, 0, 10, 0]])
    np.testing.assert_allclose(logp_of(rv, xs), stats.multinomial(10, ordered_p(0.3, cut)).logpmf(xs), rtol=1e-10)
    # PyMC 5.28.5: pm.logp(pm.OrderedMultinomial.dist(eta=0.3, cutpoints=cut, n=10), xs).eval()
    np.testing.assert_allclose(logp_of(rv, xs), [-3.6568696213060417, -12.184073576933121], rtol=1e-8)


def test_ordered_multinomial_model_probs_and_draws():
    cut = np.array([-1.0, 1.0])
    with sv.Model() as m:
        eta = sv.Normal("eta", 0.0, 1.0)
        sv.OrderedMultinomial("y", eta=eta, cutpoints=cut, n=10, observed=np.array([2, 6, 2]))
        sv.OrderedMultinomial("z", eta=eta, cutpoints=cut, n=10, observed=np.array([3, 3, 4]), compute_p=False)
    assert sorted(m.named_vars) == ["eta", "y", "y_probs", "z"]
    from pytensor.graph.replace import graph_replace

    probs = graph_replace(m["y_probs"], {m["eta"]: pt.constant(0.4)}).eval()
    np.testing.assert_allclose(probs, ordered_p(0.4, cut), rtol=1e-12)
    d = draw(sv.OrderedMultinomial.dist(eta=0.4, cutpoints=cut, n=20, size=20000), 3)
    np.testing.assert_allclose(d.mean(0), 20 * ordered_p(0.4, cut), atol=0.06)


def test_dirichlet_multinomial_batch_one_a_broadcasts_against_longer_n():
    # found by the fuzz test: n of length 2 with a of batch length 1 failed to draw
    rv = sv.DirichletMultinomial.dist(n=np.array([5, 9]), a=np.array([[1.5, 0.4, 0.3]]))
    d = sv.draw(rv, random_seed=1)
    assert d.shape == (2, 3) and d.sum(-1).tolist() == [5, 9]
