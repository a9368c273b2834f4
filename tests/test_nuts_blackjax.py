"""pm.sample(nuts_sampler="blackjax"): BlackJAX NUTS on the JAX backend, against closed forms."""

import numpy as np
import pytest
from scipy import stats

import symvi as pm

pytest.importorskip("jax")
pytest.importorskip("blackjax")


@pytest.mark.slow  # ~75 s on the 2-core machine, mostly JAX compiling the adaptation and NUTS loops
def test_blackjax_gamma_poisson_and_dense_vi_start():
    """lam ~ Gamma(2, 1), y_i ~ Poisson(lam): posterior Gamma(2 + sum y, 1 + n), sampled on the
    log scale; once from the default start and once from a FullRank fit (dense initial
    inverse mass matrix)."""
    y = np.array([3, 1, 4, 1, 5, 2, 2, 3])
    post = stats.gamma(2 + y.sum(), scale=1 / (1 + len(y)))
    with pm.Model() as m:
        lam = pm.Gamma("lam", 2.0, 1.0)
        pm.Deterministic("lam2", lam * 2)
        pm.Poisson("y", lam, observed=y)
    with m:
        approx = pm.fit(1500, method="fullrank_advi", random_seed=2, progressbar=False, backend="c")
    import arviz as az

    for init in ("auto", approx):
        tr = pm.sample(600, tune=300, chains=2, random_seed=5, nuts_sampler="blackjax", init=init, model=m, progressbar=False)
        draws = tr.posterior["lam"].values
        assert draws.shape == (2, 600)
        ess = float(az.ess(tr, var_names=["lam"])["lam"])
        assert abs(draws.mean() - post.mean()) < 4 * post.std() / np.sqrt(ess)
        assert draws.std() == pytest.approx(post.std(), rel=0.15)
        np.testing.assert_allclose(tr.posterior["lam2"].values, 2 * draws)
        for name in ("diverging", "energy", "step_size", "tree_depth", "lp", "acceptance_rate"):
            assert tr.sample_stats[name].shape == (2, 600)
        # lp: log p of the unconstrained point, log-Jacobian of lam = exp(v) included
        v = np.log(draws[0, :3])
        lp = stats.gamma(2.0, scale=1.0).logpdf(draws[0, :3]) + v + stats.poisson(draws[0, :3, None]).logpmf(y).sum(-1)
        np.testing.assert_allclose(tr.sample_stats["lp"].values[0, :3], lp, rtol=1e-8)
        assert tr.posterior.attrs["tuning_gradient_evals"] > 0
