"""OrderedLogistic / OrderedProbit: log probabilities against scipy and PyMC (also far in the
tails), compute_p, checks, draws, the ordered transform, gradients, and an ordinal regression
fitted with FullRankADVI against a long NUTS run."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special, stats

import symvi as pm
from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn

FAST = "FAST_COMPILE"
ETA = np.array([-3.0, -1.0, 0.0, 0.5, 2.0, 6.0])
CUT = np.array([-0.5, 0.8, 2.0])
VALUES = np.arange(-1, 5)  # -1 and 4 are outside {0, 1, 2, 3}


def logistic_probs(eta, cut):
    F = special.expit(np.concatenate([[-np.inf], cut, [np.inf]])[None, :] - np.asarray(eta)[:, None])
    return np.diff(F, axis=-1)


def probit_probs(eta, cut, sigma):
    F = stats.norm.cdf((np.concatenate([[-np.inf], cut, [np.inf]])[None, :] - np.asarray(eta)[:, None]) / sigma)
    return np.diff(F, axis=-1)


def _logp_table(rv, values):
    """logp of every value (columns) for every eta (rows)."""
    info = dist_info(rv)
    return info.logp(pt.as_tensor(np.asarray(values))[:, None])


@pytest.fixture(scope="module")
def tables():
    rvs = {
        "logistic": pm.OrderedLogistic.dist(eta=ETA, cutpoints=CUT),
        "probit": pm.OrderedProbit.dist(eta=ETA, cutpoints=CUT),
        "probit-sigma": pm.OrderedProbit.dist(eta=ETA, cutpoints=CUT, sigma=1.7),
    }
    out = pytensor.function([], [_logp_table(rv, VALUES) for rv in rvs.values()], mode=FAST)()
    return dict(zip(rvs, out))


@pytest.mark.parametrize(
    "name,probs",
    [("logistic", logistic_probs(ETA, CUT)), ("probit", probit_probs(ETA, CUT, 1.0)), ("probit-sigma", probit_probs(ETA, CUT, 1.7))],
)
def test_logp_matches_scipy(name, probs, tables):
    got = tables[name]  # (values, eta)
    assert got.shape == (VALUES.size, ETA.size)
    np.testing.assert_allclose(got[1:-1], np.log(probs).T, rtol=1e-10)
    assert np.all(np.isneginf(got[0])) and np.all(np.isneginf(got[-1]))
    np.testing.assert_allclose(np.exp(got[1:-1]).sum(axis=0), 1.0, rtol=1e-12)


def test_matches_pymc():
    # PyMC 5.28.5: pm.logp(pm.OrderedLogistic.dist(eta=eta, cutpoints=cut), y).eval() etc.
    eta, cut, y = np.array([-1.0, 0.5, 2.0, 0.0]), np.array([-0.5, 0.8, 2.0]), np.array([0, 1, 3, 2])
    rvs = [
        pm.OrderedLogistic.dist(eta=eta, cutpoints=cut),
        pm.OrderedProbit.dist(eta=eta, cutpoints=cut, sigma=1.5),
        pm.OrderedProbit.dist(eta=eta, cutpoints=cut),
    ]
    want = [
        [-0.47407698418010663, -1.1858019146431549, -0.6931471805599453, -1.6564110948511852],
        [-0.4611490875068715, -1.1185073609029184, -0.6931471805599453, -1.5813840815595048],
        [-0.3689464109317016, -0.7781471124468735, -0.6931471805599453, -1.6654514657528852],
    ]
    # PyMC's probit values are ~1e-8 (relative) off mpmath's 30-digit values, which ours match
    # to 1e-14 (for sigma = 1.5: -0.4611490909211131 and -1.1185073742483536 for the first two)
    rtols = [1e-12, 3e-8, 3e-8]
    got = pytensor.function([], [dist_info(rv).logp(pt.as_tensor(y)) for rv in rvs], mode=FAST)()
    for g, w, rtol in zip(got, want, rtols):
        np.testing.assert_allclose(g, w, rtol=rtol)
    np.testing.assert_allclose(got[1][:2], [-0.4611490909211131, -1.1185073742483536], rtol=1e-14)


def test_far_tails_stay_finite_and_accurate():
    """Where 1 - F or F(b) - F(a) rounds to 0 in probability space, the log space is exact."""
    eta = np.array([40.0, -40.0, 40.0])
    cut = np.array([-1.0, 0.0, 1.0])
    y = np.array([0, 3, 1])
    lg = dist_info(pm.OrderedLogistic.dist(eta=eta, cutpoints=cut)).logp(pt.as_tensor(y))
    pb = dist_info(pm.OrderedProbit.dist(eta=eta, cutpoints=cut)).logp(pt.as_tensor(y))
    lg, pb = pytensor.function([], [lg, pb], mode=FAST)()
    # logistic: log sigmoid(-41); log(1 - sigmoid(41)); log(sigmoid(-40) - sigmoid(-41))
    want_lg = [special.log_expit(-41.0), special.log_expit(-41.0), np.log(special.expit(-40.0) - special.expit(-41.0))]
    np.testing.assert_allclose(lg, want_lg, rtol=1e-10)
    sf40, sf41 = stats.norm.logsf(40.0), stats.norm.logsf(41.0)
    want_pb = [stats.norm.logcdf(-41.0), stats.norm.logcdf(-41.0), sf40 + np.log(-np.expm1(sf41 - sf40))]
    np.testing.assert_allclose(pb, want_pb, rtol=1e-10)
    assert np.all(pb < -800)


def test_batched_cutpoints():
    cut = np.array([[-1.0, 0.0, 1.0], [-0.2, 0.1, 3.0]])
    eta = np.array([0.3, -0.4])
    y = np.array([2, 3])
    got = dist_info(pm.OrderedLogistic.dist(eta=eta, cutpoints=cut)).logp(pt.as_tensor(y)).eval()
    want = [np.log(logistic_probs(eta[i : i + 1], cut[i])[0, y[i]]) for i in range(2)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_compute_p_adds_probs_deterministic():
    y = np.array([0, 1, 2, 3, 1, 2])
    with pm.Model() as m:
        pm.OrderedLogistic("y", eta=ETA, cutpoints=CUT, observed=y)
        pm.OrderedProbit("z", eta=ETA, cutpoints=CUT, sigma=2.0, observed=y, compute_p=False)
    assert "y_probs" in m.named_vars and "z_probs" not in m.named_vars
    assert [d.name for d in m.deterministics] == ["y_probs"]
    probs = pytensor.function([], m["y_probs"], mode=FAST)()
    np.testing.assert_allclose(probs, logistic_probs(ETA, CUT), rtol=1e-10)
    terms = pytensor.function([], m.logp(sum=False), mode=FAST)()  # no free variables
    np.testing.assert_allclose(terms[0], np.log(logistic_probs(ETA, CUT)[np.arange(6), y]), rtol=1e-10)
    np.testing.assert_allclose(terms[1], np.log(probit_probs(ETA, CUT, 2.0)[np.arange(6), y]), rtol=1e-10)


@pytest.mark.parametrize(
    "make,param",
    [
        (lambda: pm.OrderedLogistic("bad", eta=0.0, cutpoints=np.array([1.0, 0.0])), "cutpoints"),
        (lambda: pm.OrderedProbit("bad", eta=0.0, cutpoints=np.array([2.0, 1.0, 3.0])), "cutpoints"),
        (lambda: pm.OrderedLogistic("bad", eta=0.0, cutpoints=np.zeros(0)), "cutpoints"),
        (lambda: pm.OrderedProbit("bad", eta=0.0, cutpoints=np.array([0.0, 1.0]), sigma=0.0), "sigma"),
    ],
    ids=["logistic-unordered", "probit-unordered", "no-cutpoints", "probit-sigma"],
)
def test_invalid_parameters(make, param):
    with pm.Model():
        with pytest.raises(ValueError, match=rf"'bad'.*parameter {param}\b"):
            make()


def test_symbolic_unordered_cutpoints_give_minus_inf():
    c = pt.dvector("c")
    lp = dist_info(pm.OrderedLogistic.dist(eta=0.0, cutpoints=c)).logp(pt.as_tensor(np.array([0, 1, 2])))
    f = pytensor.function([c], lp, mode=FAST)
    assert np.all(np.isneginf(f(np.array([1.0, 0.0]))))
    np.testing.assert_allclose(f(np.array([0.0, 1.0])), np.log(logistic_probs([0.0], [0.0, 1.0])[0]), rtol=1e-12)


def test_draw_frequencies():
    n = 20000
    lg = pm.OrderedLogistic.dist(eta=0.5, cutpoints=CUT, size=n)
    pb = pm.OrderedProbit.dist(eta=np.full(n, 0.5), cutpoints=CUT, sigma=1.3)
    a, b = compile_fn([], [lg, pb], random_seed=4, mode=FAST)()
    for d, p in [(a, logistic_probs([0.5], CUT)[0]), (b, probit_probs([0.5], CUT, 1.3)[0])]:
        assert d.shape == (n,)
        freq = np.bincount(d, minlength=4) / n
        np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n))


# ---------------------------------------------------------------------- transform and model
def test_pymc_transform_paths():
    import symvi.distributions.transforms as dt
    from symvi.distributions.transforms import ordered

    assert pm.distributions.transforms.ordered is pm.transforms.ordered is ordered
    assert dt.log is pm.transforms.log and dt.OrderedTransform is pm.transforms.OrderedTransform
    assert pm.transforms.numeric_log_jac is not None  # symvi.transforms itself is untouched


def test_model_with_ordered_cutpoints_logp_and_gradient():
    """Model log density = Normal priors at backward(y) + log-Jacobian sum(y[1:]) + likelihood,
    and its gradient (cutpoints, coefficient and probit sigma) matches finite differences."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=30)
    y = rng.integers(0, 4, size=30)
    with pm.Model() as m:
        b = pm.Normal("b", 0, 2)
        s = pm.HalfNormal("s", 1.0)
        c = pm.Normal("c", mu=np.array([-1.0, 0.0, 1.0]), sigma=3, shape=3, transform=pm.distributions.transforms.ordered)
        pm.OrderedProbit("y", eta=b * x, cutpoints=c, sigma=s, observed=y, compute_p=False)
    values = [m.rvs_to_values[m[n]] for n in ("b", "s", "c")]
    assert [v.name for v in values] == ["b", "s_log__", "c_ordered__"]
    lp = m.logp()
    grads = pytensor.grad(lp, values)
    f = pytensor.function(values, [lp, *grads], mode=FAST)
    b0, s0, yc = 0.7, np.log(1.3), np.array([-0.8, np.log(0.9), np.log(1.4)])
    cut = np.cumsum([yc[0], np.exp(yc[1]), np.exp(yc[2])])
    want = (
        stats.norm(0, 2).logpdf(b0)
        + stats.halfnorm(scale=1).logpdf(1.3) + s0
        + stats.norm([-1, 0, 1], 3).logpdf(cut).sum() + yc[1:].sum()
        + np.log(probit_probs(b0 * x, cut, 1.3)[np.arange(30), y]).sum()
    )
    out = f(b0, s0, yc)
    np.testing.assert_allclose(out[0], want, rtol=1e-10)
    flat = np.concatenate([[b0, s0], yc])

    def total(v):
        return f(v[0], v[1], v[2:])[0]

    fd = [(total(flat + e) - total(flat - e)) / 2e-6 for e in np.eye(5) * 1e-6]
    np.testing.assert_allclose(np.concatenate([np.atleast_1d(g) for g in out[1:]]), fd, rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------- VI against NUTS
def _ordinal_data(seed=21, n=300):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    latent = 1.2 * x + rng.logistic(size=n)
    y = (latent[:, None] > np.array([-1.0, 0.3, 1.5])).sum(axis=1)
    return x, y


# Posterior of the model in test_ordinal_regression_fullrank_advi_matches_nuts on
# _ordinal_data(): nutpie 0.16.8 on the same model written in PyMC 5.28.5 (4 chains x 25000
# draws after 2000 tuning steps, seed 7; bulk ESS > 60000 per parameter, so the Monte Carlo
# error of these means is < 0.001 and of the sds < 0.001).
NUTS_MEAN = {"beta": 1.2244, "c": [-0.9261, 0.3716, 1.7794]}
NUTS_SD = {"beta": 0.1423, "c": [0.1374, 0.1293, 0.1669]}


def test_ordinal_regression_fullrank_advi_matches_nuts():
    """The posterior is close to Gaussian in the unconstrained (b, c0, log c-gaps) space, so
    FullRankADVI should land on NUTS's means within 0.15 posterior sd and its sds within 15%
    (seeded; measured: means within 0.1 sd and sds within 7% for seeds 1-3)."""
    x, y = _ordinal_data()
    assert np.bincount(y).tolist() == [103, 75, 69, 53]  # the data the NUTS reference used
    with pm.Model():
        beta = pm.Normal("beta", 0, 2)
        c = pm.Normal("c", mu=np.array([-1.0, 0.0, 1.0]), sigma=3, shape=3, transform=pm.distributions.transforms.ordered)
        pm.OrderedLogistic("y", eta=beta * x, cutpoints=c, observed=y, compute_p=False)
        n = 6000
        approx = pm.fit(n, method="fullrank_advi", random_seed=1, progressbar=False,
                        obj_optimizer=pm.adam(learning_rate=pm.exponential_decay(0.05, 5e-4, n)))
        post = approx.sample(4000, random_seed=1).posterior
    for name in ("beta", "c"):
        draws = post[name].values.reshape(-1, *post[name].shape[2:])
        mean, sd = draws.mean(0), draws.std(0)
        np.testing.assert_array_less(np.abs(mean - NUTS_MEAN[name]), 0.15 * np.asarray(NUTS_SD[name]))
        np.testing.assert_array_less(np.abs(sd / NUTS_SD[name] - 1), 0.15)


@pytest.mark.parametrize("positive,ascending", [(False, True), (True, True), (False, False), (True, False)])
def test_ordered_transform_options(positive, ascending):
    """PyMC's Ordered(positive=, ascending=): round trip, direction/sign, log-Jacobian checked
    against finite differences (transforms.numeric_log_jac)."""
    t = pm.distributions.transforms.Ordered(positive=positive, ascending=ascending)
    y = np.array([-1.5, -0.5, 0.2, -1.1])
    yv = pt.dvector("y")
    f = pytensor.function([yv], [t.backward(yv), t.forward(t.backward(yv)), t.log_jac_det(yv)], mode=FAST)
    x, back, log_jac = f(y)
    np.testing.assert_allclose(back, y, rtol=1e-12, atol=1e-12)
    assert np.all(np.diff(x) > 0) if ascending else np.all(np.diff(x) < 0)
    assert np.all(x > 0) if positive else x.min() < 0
    np.testing.assert_allclose(log_jac, pm.transforms.numeric_log_jac(t, y), rtol=1e-6)


def test_logcdf_is_running_sum_of_probabilities():
    values = np.arange(-1, 5)[:, None]  # (values, eta)
    rvs = [
        (pm.OrderedLogistic.dist(eta=ETA, cutpoints=CUT), logistic_probs(ETA, CUT)),
        (pm.OrderedProbit.dist(eta=ETA, cutpoints=CUT, sigma=1.7), probit_probs(ETA, CUT, 1.7)),
    ]
    outs = [dist_info(rv).cls.logcdf(pt.as_tensor(values), **dist_info(rv).params) for rv, _ in rvs]
    for got, (_, probs) in zip(pytensor.function([], outs, mode=FAST)(), rvs):
        want = np.cumsum(probs, axis=1).T  # (categories, eta)
        assert np.all(np.isneginf(got[0]))
        np.testing.assert_allclose(np.exp(got[1:-1]), want, rtol=1e-10)
        assert np.all(got[-2:] == 0.0)
