"""Mixed-family approximations (``pm.Approximation([pm.Group(...), ...])``, ``pm.KLqp``).

The fit is checked against a linear-Gaussian hierarchical model, whose posterior is exactly
Gaussian with precision ``Lam = P0 + X^T X / sigma^2``.  For a Gaussian target the reverse-KL
optimum over block-structured Gaussians is known in closed form: the exact mean; in a full
rank block the covariance ``inv(Lam[block, block])``; in a mean-field block the sds
``1 / sqrt(diag(Lam))``.  Both differ from the posterior's own marginals ``Sigma = inv(Lam)``
(a full-rank q) here, so the test tells the block structure apart from the alternatives.
"""

import numpy as np
import pytensor
import pytest
from scipy import stats

import symvi as pm
from symvi.pytensorf import ONE_SHOT_MODE

# ---------------------------------------------------------------------- the hierarchical model
J, N_PER = 8, 4
_rng = np.random.default_rng(3)
G = np.repeat(np.arange(J), N_PER)
XS = _rng.uniform(1, 3, J * N_PER)  # not centred: a and b correlate a posteriori
YS = 0.5 + 1.5 * XS + 0.7 * _rng.normal(size=J)[G] + _rng.normal(size=J * N_PER)
TAU, SIGMA, PRIOR = 0.7, 1.0, 10.0


def exact():
    X = np.column_stack([np.ones(J * N_PER), XS, np.eye(J)[G]])
    lam = np.diag([PRIOR**-2, PRIOR**-2] + [TAU**-2] * J) + X.T @ X / SIGMA**2
    sigma = np.linalg.inv(lam)
    return sigma @ X.T @ YS / SIGMA**2, lam, sigma


def hierarchical():
    with pm.Model() as m:
        a = pm.Normal("a", 0, PRIOR)
        b = pm.Normal("b", 0, PRIOR)
        u = pm.Normal("u", 0, TAU, shape=J)
        pm.Normal("y", a + b * XS + u[G], SIGMA, observed=YS)
    return m


def test_block_optimum_of_a_gaussian_posterior(tmp_path):
    m = hierarchical()
    mean, lam, sigma = exact()
    with m:
        approx = pm.Approximation([pm.Group([m["a"], m["b"]], vfam="fr"), pm.Group(None, vfam="mf")], random_seed=1)
    inference = pm.KLqp(approx)
    opt = pm.adam(learning_rate=pm.exponential_decay(0.02, 0.0003, 20000))
    inference.fit(20000, progressbar=False, obj_optimizer=opt)
    sd = np.sqrt(np.diag(sigma))
    np.testing.assert_allclose(approx.mean.eval(), mean, atol=0.05 * sd.max())
    block = approx.groups[0].cov.eval()
    want = np.linalg.inv(lam[:2, :2])
    np.testing.assert_allclose(block, want, rtol=0.06)
    assert np.abs(block - sigma[:2, :2]).max() > 5 * np.abs(block - want).max()  # not the full-rank answer
    np.testing.assert_allclose(approx.std.eval()[2:], 1 / np.sqrt(np.diag(lam)[2:]), rtol=0.05)
    cov = approx.cov.eval()
    assert np.all(cov[:2, 2:] == 0) and np.allclose(cov[2:, 2:], np.diag(np.diag(cov[2:, 2:])))
    # draws: approx.sample, sample_node, diagnose
    idata = approx.sample(4000, random_seed=2)
    draws = np.column_stack([idata.posterior["a"].values[0], idata.posterior["b"].values[0]])
    np.testing.assert_allclose(np.cov(draws.T), want, rtol=0.1)
    node = approx.sample_node(m["a"] + m["b"], size=4000)
    vals = node.eval()
    assert abs(vals.mean() - mean[:2].sum()) < 4 * np.sqrt(want.sum() / 4000)
    assert abs(vals.var() / want.sum() - 1) < 0.1
    # diagnose: q ignores the a-u correlations, so k-hat flags it; its ELBO is the exact
    # log evidence minus KL(q* || posterior) = 0.5 (-log det S_q* - log det Lam) (tr(Lam S_q*) = D)
    report = approx.diagnose(random_seed=3)
    cov_y = np.column_stack([np.ones(J * N_PER), XS, np.eye(J)[G]])
    prior_cov = np.diag([PRIOR**2, PRIOR**2] + [TAU**2] * J)
    log_evidence = stats.multivariate_normal(np.zeros(J * N_PER), cov_y @ prior_cov @ cov_y.T + SIGMA**2 * np.eye(J * N_PER)).logpdf(YS)
    s_q = np.zeros_like(lam)
    s_q[:2, :2] = want
    s_q[2:, 2:] = np.diag(1 / np.diag(lam)[2:])
    kl = 0.5 * (-np.linalg.slogdet(s_q)[1] - np.linalg.slogdet(lam)[1])
    assert kl > 0.5 and abs(report.elbo - (log_evidence - kl)) < 4 * report.elbo_mcse + 0.02
    assert report.khat > 0.7 and report.reading == "untrustworthy"
    assert approx.mean_data["u"].shape == (J,) and float(approx.std_data["a"]) == pytest.approx(np.sqrt(block[0, 0]))
    # checkpoint: load rebuilds the groups and refine continues exactly as the original would
    path = approx.save(tmp_path / "groups")
    again = pm.load(path, m)
    assert type(again).__name__ == "GroupApproximation" and again.resumable
    assert [(g.vars, g.vfam) for g in again.groups] == [(["a", "b"], "full_rank"), (["u"], "mean_field")]
    inference.refine(300, progressbar=False)
    again.inference.refine(300, progressbar=False)
    for k, v in approx.get_params().items():
        np.testing.assert_array_equal(again.get_params()[k], v)


# ---------------------------------------------------------------------- the density of q
def three_families():
    with pm.Model() as m:
        a = pm.Normal("a", 0, 1)
        s = pm.HalfNormal("s", 1)
        pm.Normal("u", 0, 1, shape=3)
        c = pm.Normal("c", 0, 1, shape=2)
        groups = [pm.Group(["u", a], vfam="lowrank", rank=2, random_seed=4), pm.Group([c], vfam="fullrank"), pm.Group(None, vfam="meanfield")]
        q = pm.Approximation(groups, random_seed=5)
    gen = np.random.default_rng(6)
    params = {k: v + 0.3 * gen.normal(size=v.shape) for k, v in q.get_params().items()}
    q.set_params(params)
    return m, q, s


def test_logq_entropy_and_draws_are_those_of_the_block_gaussian():
    m, q, s = three_families()
    assert [g.vars for g in q.groups] == [["a", "u"], ["c"], ["s_log__"]]
    assert q.ordering["u"][1] == slice(2, 5) and q.ndim == 7
    assert sorted(q.shared_params) == ["g0_W", "g0_rho", "g1_L_tril", "g2_rho", "mu"]
    mean, cov = q.mean.eval(), q.cov.eval()
    # the covariance by hand from the parameters, in layout order (a, s_log__, u, c)
    p = q.get_params()
    d = np.log1p(np.exp(p["g0_rho"]))
    low = np.diag(d**2) + p["g0_W"] @ p["g0_W"].T  # over (a, u0, u1, u2)
    L = np.zeros((2, 2))
    L[np.tril_indices(2)] = p["g1_L_tril"]
    want = np.zeros((7, 7))
    want[np.ix_([0, 2, 3, 4], [0, 2, 3, 4])] = low
    want[5:, 5:] = L @ L.T
    want[1, 1] = np.log1p(np.exp(p["g2_rho"][0])) ** 2
    np.testing.assert_allclose(cov, want, rtol=1e-10)
    np.testing.assert_allclose(q.std.eval(), np.sqrt(np.diag(want)), rtol=1e-10)
    mvn = stats.multivariate_normal(mean, want)
    z = mvn.rvs(5, random_state=7)
    zt = pytensor.tensor.matrix("z")
    f = pytensor.function([zt], [q.logq(zt), q.entropy()], mode=ONE_SHOT_MODE)
    lq, ent = f(z)
    np.testing.assert_allclose(lq, mvn.logpdf(z), rtol=1e-9)
    np.testing.assert_allclose(ent, mvn.entropy(), rtol=1e-9)
    # draws with the extra low-rank noise columns (the fit's), and through sample_node (one
    # normal per coordinate: low-rank blocks via their Cholesky factor): q's mean and covariance
    draws = pytensor.function([], q.random(40000), mode=ONE_SHOT_MODE)()
    tol = 4 * np.sqrt(np.diag(want).max() / 40000)
    np.testing.assert_allclose(draws.mean(0), mean, atol=tol)
    np.testing.assert_allclose(np.cov(draws.T), want, atol=0.05 * np.abs(want).max())
    node = q.sample_node([m["a"], m["u"], m["c"], s], size=40000)
    a_, u_, c_, s_ = pytensor.function([], node, mode=ONE_SHOT_MODE)()  # one joint draw of all four
    flat = np.column_stack([a_, np.log(s_), u_, c_])
    np.testing.assert_allclose(flat.mean(0), mean, atol=tol)
    np.testing.assert_allclose(np.cov(flat.T), want, atol=0.05 * np.abs(want).max())
    assert np.isfinite(q.diagnose(draws=200, random_seed=1).khat)  # q has a density to weight with


def test_groups_as_pymc_spells_them():
    for name, canon in [("mf", "mean_field"), ("MeanField", "mean_field"), ("mean_field", "mean_field"), ("fr", "full_rank"),
                        ("full_rank", "full_rank"), ("fullrank", "full_rank"), ("lowrank", "low_rank")]:
        assert pm.Group(None, vfam=name).vfam == canon
    assert pm.Group(None, params={"mu": np.zeros(1), "L_tril": np.ones(1)}).vfam == "full_rank"
    with pm.Model():
        a = pm.Normal("a", 0, 1)
        b = pm.Normal("b", 0, 1, shape=2)
        q = pm.Approximation([pm.Group([b], vfam="mf", params={"mu": [1.0, 2.0], "rho": [0.0, 1.0]}), pm.Group([a], vfam="fr")])
    np.testing.assert_allclose(q.mean.eval(), [0.0, 1.0, 2.0])  # a keeps its start, b takes the given mu
    np.testing.assert_allclose(q.groups[0].mean.eval(), [1.0, 2.0])
    np.testing.assert_allclose(q.std.eval(), [1.0, np.log(2.0), np.log1p(np.e)])
    assert isinstance(q, pm.Approximation) and isinstance(q, pm.GroupApproximation)


def test_bad_groups_name_the_variables():
    with pm.Model() as m:
        a = pm.Normal("a", 0, 1)
        b = pm.Normal("b", 0, 1)
        c = pm.HalfNormal("c", 1)
        with pytest.raises(ValueError, match=r"\['b'\] are in more than one group"):
            pm.Approximation([pm.Group([a, b], vfam="fr"), pm.Group([b], vfam="mf"), pm.Group(None, vfam="mf")])
        with pytest.raises(ValueError, match=r"\['c_log__'\] are in no group"):
            pm.Approximation([pm.Group([a, b], vfam="fr")])
        with pytest.raises(ValueError, match="more than one group is for the rest"):
            pm.Approximation([pm.Group(None, vfam="fr"), pm.Group(None, vfam="mf")])
        with pytest.raises(ValueError, match="would be empty"):
            pm.Approximation([pm.Group([a, b, c], vfam="fr"), pm.Group(None, vfam="mf")])
        with pytest.raises(ValueError, match="'zz' is not a free random variable"):
            pm.Approximation([pm.Group(["zz"], vfam="fr"), pm.Group(None, vfam="mf")])
        with pytest.raises(TypeError, match="list of pm.Group"):
            pm.Approximation(m)
        g = pm.Group([a], vfam="fr")
        pm.Approximation([g, pm.Group(None, vfam="mf")])
        with pytest.raises(ValueError, match="already belongs"):
            pm.Approximation([g, pm.Group(None, vfam="mf")])
    with pytest.raises(ValueError, match="vfam='nf' is not a known family"):
        pm.Group(None, vfam="nf")
    with pytest.raises(TypeError, match="rank= is for vfam='lowrank'"):
        pm.Group(None, vfam="mf", rank=2)
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        pm.Group(None, vfam="lowrank", rank=0)
    with pytest.raises(TypeError, match="needs a family"):
        pm.Group(None)
    with pytest.raises(TypeError, match="unknown keyword"):
        pm.Group(None, vfam="mf", shape=3)
