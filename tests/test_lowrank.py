"""``LowRank`` (N(mu, diag(d^2) + W W^T)), ``LowRankADVI`` and the posteriordb accuracy figures.

Densities are checked against scipy with the Python linker; two fits compile with Numba.
"""

import sys
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

import symvi as pm
from symvi.pytensorf import ONE_SHOT_MODE

CORR = np.array([[1.0, 0.9 * 2.0], [0.9 * 2.0, 4.0]])  # sds 1 and 2, correlation 0.9


def lowrank(d=5, k=2, seed=0, **kwargs):
    with pm.Model():
        pm.Normal("x", 0.0, 1.0, shape=d)
        q = pm.LowRank(rank=k, random_seed=seed, **kwargs)
    return q


def random_params(q, rng):
    d, k = q.ndim, q.rank
    q.set_params({"mu": rng.normal(size=d), "rho": rng.normal(size=d), "W": rng.normal(size=(d, k))})
    p = q.get_params()
    diag = np.log1p(np.exp(p["rho"]))
    return p["mu"], np.diag(diag**2) + p["W"] @ p["W"].T


@pytest.mark.parametrize("d,k", [(1, 1), (5, 2), (6, 8)])
def test_density_matches_scipy(d, k, rng):
    q = lowrank(d, k)
    mu, cov = random_params(q, rng)
    mvn = stats.multivariate_normal(mu, cov)
    z = pt.matrix("z")
    fn = pytensor.function([z], [q.logq(z), q.entropy(), q.cov, q.std], mode=ONE_SHOT_MODE)
    zs = mu + rng.normal(size=(7, d)) @ np.linalg.cholesky(cov).T
    logq, entropy, c, s = fn(zs)
    np.testing.assert_allclose(logq, mvn.logpdf(zs).reshape(-1), rtol=1e-10)
    np.testing.assert_allclose(entropy, mvn.entropy(), rtol=1e-10)
    np.testing.assert_allclose(c, cov, rtol=1e-12)
    np.testing.assert_allclose(s, np.sqrt(np.diag(cov)), rtol=1e-12)
    # one point, and extra leading axes
    one = pytensor.function([], q.logq(pt.as_tensor(zs[0])), mode=ONE_SHOT_MODE)()
    np.testing.assert_allclose(one, mvn.logpdf(zs[0]), rtol=1e-10)
    z3 = pt.tensor3("z3")
    three = pytensor.function([z3], q.logq(z3), mode=ONE_SHOT_MODE)(zs.reshape(7, 1, d))
    np.testing.assert_allclose(three.ravel(), mvn.logpdf(zs).reshape(-1), rtol=1e-10)


def test_draws_have_the_covariance(rng):
    q = lowrank(4, 2)
    mu, cov = random_params(q, rng)
    x = q.sample(40000, random_seed=1, return_inferencedata=False)["x"]
    np.testing.assert_allclose(x.mean(0), mu, atol=0.05 * np.sqrt(np.diag(cov)).max())
    np.testing.assert_allclose(np.cov(x.T), cov, atol=0.05 * np.abs(cov).max())
    # sample_node hands D normals per draw (not D + k): the Cholesky path, same law
    with q.model:
        node = q.sample_node(q.model["x"], size=40000)
    y = pytensor.function([], node, mode=ONE_SHOT_MODE)()
    np.testing.assert_allclose(np.cov(y.T), cov, atol=0.05 * np.abs(cov).max())


def test_parameters_and_initialisation():
    q = lowrank(3, 2, seed=4, start={"x": [1.0, 2.0, 3.0]}, start_sigma={"x": [0.5, 1.0, 2.0]})
    p = q.get_params()
    assert sorted(p) == ["W", "mu", "rho"] and p["W"].shape == (3, 2)
    np.testing.assert_allclose(p["mu"], [1, 2, 3])
    np.testing.assert_allclose(np.log1p(np.exp(p["rho"])), [0.5, 1.0, 2.0])
    assert 0 < np.abs(p["W"]).max() < 0.5  # small, random: W = 0 is a saddle of the ELBO
    np.testing.assert_array_equal(p["W"], lowrank(3, 2, seed=4).get_params()["W"] * np.array([[0.5], [1.0], [2.0]]))
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="rank must be a positive integer"):
            lowrank(3, bad)


def test_diagnose_and_resample_work_on_lowrank(rng):
    with pm.Model():
        pm.MvNormal("x", mu=np.zeros(2), cov=CORR)
        q = pm.LowRank(rank=1, start_sigma={"x": 0.3}, random_seed=0)
    vals, vecs = np.linalg.eigh(CORR)
    q.set_params({"W": (vecs[:, -1] * np.sqrt(vals[-1]))[:, None]})  # W along the principal axis
    d = q.diagnose(random_seed=0)
    assert np.isfinite(d.elbo) and d.elbo <= d.log_evidence + 1e-12 and d.ess > 0
    x = q.sample(500, random_seed=0, resample="psis", return_inferencedata=False)["x"]
    assert x.shape == (500, 2)


def test_lowrank_advi_recovers_a_correlated_gaussian():
    with pm.Model():  # (x1, x2) ~ N([1, -1], CORR), written as x1 and x2 | x1
        x1 = pm.Normal("x1", 1.0, 1.0)
        pm.Normal("x2", -1.0 + 1.8 * (x1 - 1.0), np.sqrt(4.0 - 1.8**2))
        inference = pm.LowRankADVI(rank=1, random_seed=0)
        approx = inference.fit(6000, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02), obj_n_mc=4)
    np.testing.assert_allclose(approx.mean.eval(), [1.0, -1.0], atol=0.15)
    np.testing.assert_allclose(approx.cov.eval(), CORR, atol=0.3)
    assert approx.diagnose(random_seed=0).khat < 0.7


def test_fit_method_lowrank_advi_rank_2():
    # a Gaussian random walk x1 -> x2 -> x3; any 3 x 3 covariance is diagonal + rank 2
    with pm.Model():
        x1 = pm.Normal("x1", 0.0, 1.0)
        x2 = pm.Normal("x2", x1, 0.5)
        pm.Normal("x3", x2, 0.5)
        approx = pm.fit(4000, method="lowrank_advi", inf_kwargs={"rank": 2}, start={"x1": 1.0, "x2": 1.0, "x3": 1.0},
                        random_seed=0, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.02), obj_n_mc=4)
    cov = np.array([[1.0, 1.0, 1.0], [1.0, 1.25, 1.25], [1.0, 1.25, 1.5]])
    assert isinstance(approx, pm.LowRank) and approx.rank == 2
    assert isinstance(approx.inference, pm.LowRankADVI)
    assert np.isfinite(approx.hist).all() and approx.hist[-500:].mean() < approx.hist[:20].mean()
    np.testing.assert_allclose(approx.mean.eval(), 0.0, atol=0.15)
    np.testing.assert_allclose(approx.cov.eval(), cov, atol=0.15)


# ---------------------------------------------------------------------- posteriordb accuracy
POSTERIORDB = Path(__file__).resolve().parents[2] / "shared" / "posteriordb"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def accuracy_bench():
    if not POSTERIORDB.exists():
        pytest.skip(f"posteriordb references not found at {POSTERIORDB}")
    sys.path.insert(0, str(BENCHMARKS))
    import accuracy as bench  # noqa: PLC0415
    import posteriordb_models  # noqa: PLC0415

    return bench, posteriordb_models


def _figures(bench, pdb, posterior, method, steps):
    _, approx, _ = bench.fit_symvi(posterior, method, steps, root=POSTERIORDB)
    _, ref = pdb.load(posterior, POSTERIORDB)
    acc = pdb.accuracy(approx.sample(10000, random_seed=1, return_inferencedata=False), ref)
    return approx, acc


@pytest.mark.slow
def test_accuracy_kidiq_fullrank(accuracy_bench):
    """Near-Gaussian (a linear regression): FullRankADVI within 0.1 sd, sd ratios in [0.9, 1.1]."""
    bench, pdb = accuracy_bench
    approx, acc = _figures(bench, pdb, "kidiq", "fullrank_advi", 100_000)
    assert acc["max_mean_err"] <= 0.1
    assert 0.9 <= acc["min_sd_ratio"] and acc["max_sd_ratio"] <= 1.1
    assert approx.diagnose(2000, random_seed=1).khat < 0.7


@pytest.mark.slow
def test_accuracy_eight_schools_fullrank(accuracy_bench):
    """The non-centred funnel: tau's sd is underestimated by any Gaussian on log tau (about 0.8x)."""
    bench, pdb = accuracy_bench
    _, acc = _figures(bench, pdb, "eight_schools", "fullrank_advi", 100_000)
    assert acc["max_mean_err"] <= 0.25
    assert acc["median_mean_err"] <= 0.1
    assert 0.75 <= acc["min_sd_ratio"] and acc["max_sd_ratio"] <= 1.15
    assert 0.9 <= acc["median_sd_ratio"] <= 1.1
