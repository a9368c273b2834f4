"""float32 end to end: with ``pytensor.config.floatX = "float32"`` every method fits in float32.

Parameters, optimizer state, draws and InferenceData are float32, and the compiled loop holds
no float64 array (a float64 operand would silently upcast the whole step).  Each method's
float32 posterior is checked against the exact conjugate posterior and against the same fit
in float64 (within Monte Carlo error).
"""

import numpy as np
import pytensor
import pytest
from pytensor.scan.op import Scan

import symvi as pm
from symvi.streaming import StreamingMinibatch

N, SIGMA, PRIOR_SD = 400, 1.0, 10.0
_rng = np.random.default_rng(24)
X = _rng.normal(size=(N, 2))  # float64 on purpose: the model must narrow it to floatX
Y = X @ np.array([1.0, -2.0]) + SIGMA * _rng.normal(size=N)


def exact_posterior():
    """Mean and sd of beta | y for y ~ N(X beta, SIGMA^2), beta ~ N(0, PRIOR_SD^2 I)."""
    prec = X.T @ X / SIGMA**2 + np.eye(2) / PRIOR_SD**2
    cov = np.linalg.inv(prec)
    return cov @ X.T @ Y / SIGMA**2, np.sqrt(np.diag(cov))


@pytest.fixture
def float32():
    with pytensor.config.change_flags(floatX="float32"):
        yield


def wide_float64(fn) -> list:
    """Float64 variables of the compiled function (and its loop body) with more than one element."""
    bad = []

    def walk(fgraph):
        for v in fgraph.variables:
            shape = getattr(v.type, "shape", ())
            if getattr(v.type, "dtype", None) == "float64" and any(s != 1 for s in shape):
                bad.append(f"{v.owner.op if v.owner else 'input'} -> {v.type}")
        for node in fgraph.apply_nodes:
            if isinstance(node.op, Scan):
                walk(node.op.fgraph)

    walk(fn.maker.fgraph)
    return bad


def regression(minibatch: bool = False, stream: bool = False):
    with pm.Model() as model:
        beta = pm.Normal("beta", 0.0, PRIOR_SD, shape=2)
        if minibatch:
            xb, yb = pm.Minibatch(X, Y, batch_size=100, random_seed=3)
            pm.Normal("y", xb @ beta, SIGMA, observed=yb, total_size=N)
        elif stream:
            s = StreamingMinibatch(X, Y, batch_size=100, random_seed=3)
            xb, yb = s.tensors
            pm.Normal("y", xb @ beta, SIGMA, observed=yb, total_size=s.total_size)
        else:
            pm.Normal("y", X @ beta, SIGMA, observed=Y)
    return model


def run(method, n, **kwargs):
    model = regression(kwargs.pop("minibatch", False), kwargs.pop("stream", False))
    with model:
        approx = pm.fit(n, method=method, random_seed=7, progressbar=False, **kwargs)
    idata = approx.sample(2000, random_seed=1)
    draws = idata.posterior["beta"].values.reshape(-1, 2)
    return approx, idata, draws


def check_float32(approx, idata):
    expected = pytensor.config.floatX
    for name, shared in approx.shared_params.items():
        assert shared.get_value().dtype == expected, name
    step = approx.inference._state[0]
    for s in step.state:
        value = s.get_value()
        dtype = getattr(value, "dtype", None)
        if dtype is not None and dtype.kind == "f" and s.name != "opt_t":  # the step counter stays exact
            assert value.dtype == expected, s.name
    assert idata.posterior["beta"].dtype == expected
    assert step.functions, "no compiled loop to inspect"
    if expected == "float32":
        for fn in step.functions.values():
            assert wide_float64(fn) == []


ADAM = pm.adam(learning_rate=pm.exponential_decay(0.05, 2e-3, 5000))  # decays: little final jitter
CASES = {
    "advi": dict(n=6000, obj_optimizer=ADAM),
    "minibatch": dict(n=6000, obj_optimizer=ADAM, minibatch=True),
    "stream": dict(n=6000, obj_optimizer=ADAM, stream=True),
    "fullrank_advi": dict(n=6000, obj_optimizer=ADAM),
    "lowrank_advi": dict(n=6000, obj_optimizer=ADAM),
    "svgd": dict(n=1000, obj_optimizer=pm.adam(learning_rate=0.05), inf_kwargs={"n_particles": 50}),
    "asvgd": dict(n=2000, obj_optimizer=ADAM),
}
FAST = {"advi", "minibatch"}


@pytest.mark.parametrize(
    "case", [c if c in FAST else pytest.param(c, marks=pytest.mark.slow) for c in CASES]
)
def test_method_fits_in_float32_like_float64(case):
    kwargs = dict(CASES[case])
    method = "advi" if case in ("minibatch", "stream") else case
    n = kwargs.pop("n")
    mean, sd = exact_posterior()
    results = {}
    for floatx in ("float32", "float64"):
        with pytensor.config.change_flags(floatX=floatx):
            approx, idata, draws = run(method, n, **dict(kwargs))
            check_float32(approx, idata)
        results[floatx] = draws
    # the float32 posterior is the exact one (up to q's own error) ...
    got32 = results["float32"]
    mc = 4 * sd / np.sqrt(50 if case == "svgd" else 2000) + 0.2 * sd  # draws' error + q's final jitter
    np.testing.assert_allclose(got32.mean(0), mean, atol=float(np.max(mc)))
    if case not in ("svgd",):  # SVGD's spread is set by its 50 particles, not by the data
        np.testing.assert_allclose(got32.std(0), sd, rtol=0.25)
    # ... and the float64 fit's, within Monte Carlo error
    np.testing.assert_allclose(got32.mean(0), results["float64"].mean(0), atol=float(np.max(mc)))


def test_hist_draws_and_sample_node_are_float32(float32):
    approx, idata, _ = run("advi", 500, obj_optimizer=ADAM)
    model = approx.model
    assert approx.hist.dtype == np.float64 and np.all(np.isfinite(approx.hist))  # the history array itself
    node = approx.sample_node(model["beta"].sum(), size=10)
    assert node.eval().dtype == np.float32
    per_var = approx.sample(5, return_inferencedata=False)
    assert per_var["beta"].dtype == np.float32


def test_observed_and_constants_follow_floatx(float32):
    model = regression()
    assert model["y"].dtype == "float32"
    assert model.logp().dtype == "float32"
    assert model.compile_logp()(model.initial_point()).dtype == np.float32


def test_float32_helpers():
    assert pm.floatX(np.arange(3.0)).dtype == np.float64
    assert pm.intX([1, 2]).dtype == np.int64
    with pytensor.config.change_flags(floatX="float32"):
        assert pm.floatX(np.arange(3.0)).dtype == np.float32
        assert pm.intX([1, 2]).dtype == np.int32
        assert pm.floatX(pytensor.tensor.dvector("v")).dtype == "float32"


def test_multivariate_normal_family_draws_in_float32(float32):
    # PyTensor's Numba draw of multivariate_normal cannot multiply a float32 Cholesky factor by
    # its float64 normals; symvi draws in float64 and casts, so the values follow the covariance.
    cov = np.array([[2.0, 0.9], [0.9, 1.0]])
    for rv in (
        pm.MvNormal.dist(mu=np.array([1.0, -1.0]), cov=cov),
        pm.MvStudentT.dist(nu=1e6, mu=np.array([1.0, -1.0]), cov=cov),
    ):
        d = pm.draw(rv, 4000, random_seed=3)
        assert d.dtype == np.float32 and d.shape == (4000, 2)
        np.testing.assert_allclose(d.mean(0), [1.0, -1.0], atol=0.08)
        np.testing.assert_allclose(np.cov(d.T), cov, atol=0.12)
