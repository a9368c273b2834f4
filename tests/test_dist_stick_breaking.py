"""StickBreakingWeights: hand formula via the Beta construction, PyMC values, draws, transform."""

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy import stats

import symvi as sv
from symvi import transforms
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


W5 = np.array([0.3, 0.2, 0.1, 0.15, 0.25])


def logp_by_beta_construction(w, alpha):
    """Density of the first K weights: prod Beta(1, alpha)(v_k) times |dv/dw|."""
    tails = np.cumsum(w[::-1])[::-1]  # w_k + ... + w_{K+1}
    v = w[:-1] / tails[:-1]
    return stats.beta(1, alpha).logpdf(v).sum() - np.log(tails[:-1]).sum()


@pytest.mark.parametrize("alpha,pymc", [(2.0, 3.352407225111341), (0.7, 0.9553013889538706)])
def test_logp_matches_beta_construction_and_pymc(alpha, pymc):
    rv = sv.StickBreakingWeights.dist(alpha=alpha, K=4)
    got = logp_of(rv, W5[None])[0]
    np.testing.assert_allclose(got, logp_by_beta_construction(W5, alpha), rtol=1e-10)
    np.testing.assert_allclose(got, pymc, rtol=1e-8)  # PyMC 5.28.5 pm.logp(...StickBreakingWeights.dist(alpha, K=4), W5)


def test_support_edges():
    rv = sv.StickBreakingWeights.dist(alpha=2.0, K=2)
    got = logp_of(rv, np.array([[0.5, 0.6, -0.1], [0.2, 0.2, 0.2], [0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]))
    assert np.isneginf(got[:3]).all()  # negative weight; not summing to 1; last weight 0 with alpha > 1
    np.testing.assert_allclose(got[3], logp_by_beta_construction(np.array([0.2, 0.3, 0.5]), 2.0))
    assert np.isneginf(logp_of(sv.StickBreakingWeights.dist(alpha=2.0, K=3), np.array([[0.2, 0.3, 0.5]]))).all()  # wrong length


def test_draws_mean_is_geometric():
    alpha, K = 2.0, 4
    d = draw(sv.StickBreakingWeights.dist(alpha=alpha, K=K, size=20000), 1)
    assert d.shape == (20000, 5)
    np.testing.assert_allclose(d.sum(-1), 1.0, atol=1e-12)
    r = alpha / (1 + alpha)
    np.testing.assert_allclose(d.mean(0), [r**k / (1 + alpha) for k in range(K)] + [r**K], atol=0.006)


def test_transform_jacobian_and_model():
    tr = transforms.stick_breaking
    for k in (1, 3, 6):
        y = np.random.default_rng(k).normal(size=k)
        yv = pt.dvector("y")
        np.testing.assert_allclose(transforms.numeric_log_jac(tr, y), float(tr.log_jac_det(yv).eval({yv: y})), atol=1e-6)
        x = tr.backward(yv).eval({yv: y})
        np.testing.assert_allclose(x.sum(), 1.0)
        np.testing.assert_allclose(tr.forward(pt.as_tensor(x)).eval(), y, atol=1e-10)
    with sv.Model() as m:
        w = sv.StickBreakingWeights("w", alpha=2.0, K=4)
    assert m.rvs_to_transforms[w] is transforms.stick_breaking
    point = m.initial_point()
    x = tr.backward(pt.as_tensor(point["w_stickbreaking__"])).eval()
    r = 2.0 / 3.0
    np.testing.assert_allclose(x, [r**k / 3 for k in range(4)] + [r**4], rtol=1e-12)  # the prior mean
    want = logp_by_beta_construction(x, 2.0) + float(tr.log_jac_det(pt.as_tensor(point["w_stickbreaking__"])).eval())
    np.testing.assert_allclose(compile_logp(m, mode="FAST_COMPILE")(point), want, rtol=1e-10)


def test_errors():
    with pytest.raises(ValueError, match="K must be an integer >= 1"):
        sv.StickBreakingWeights.dist(alpha=1.0, K=0)
    with pytest.raises(TypeError, match="K must be a constant"):
        sv.StickBreakingWeights.dist(alpha=1.0, K=pt.lscalar("K"))
    with sv.Model():
        with pytest.raises(ValueError, match="'w'.*alpha"):
            sv.StickBreakingWeights("w", alpha=-1.0, K=3)


@pytest.mark.parametrize("observed", [[], [[0.5, 0.5], [0.2, 0.8]]])
def test_observed_of_the_wrong_event_length_raises(observed):
    # found by the fuzz test: observed rows of the wrong length reached the log density
    # (IndexError, or -inf by broadcasting) instead of a ValueError naming the variable
    with sv.Model():
        with pytest.raises(ValueError, match="'w'.*shape"):
            sv.StickBreakingWeights("w", alpha=1.0, K=3, observed=observed)
        with pytest.raises(ValueError, match="'c'.*observed data has shape"):
            sv.LKJCholeskyCov("c", eta=1.0, n=3, sd_dist=sv.Exponential.dist(1.0), compute_corr=False, size=2, observed=np.zeros((2, 1)))
