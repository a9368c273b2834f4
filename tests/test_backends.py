"""One switch for the C, Numba and JAX backends; same seed => same result on a backend,
and the fitted posteriors agree across backends."""

import sys

import numpy as np
import pytest

import symvi as pm
from symvi.backends import resolve_backend

HAS_JAX = __import__("importlib").util.find_spec("jax") is not None


def model():
    y = np.random.default_rng(0).normal(1.5, 1.0, size=20)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 10.0)
        s = pm.HalfNormal("s", 2.0)
        pm.Normal("y", mu, s, observed=y)
    return m


def test_resolution_order(monkeypatch):
    monkeypatch.delenv("SYMVI_BACKEND", raising=False)
    assert resolve_backend() == "numba"
    monkeypatch.setenv("SYMVI_BACKEND", "c")
    assert resolve_backend() == "c"
    with pm.backend("numba"):
        assert resolve_backend() == "numba"
        assert resolve_backend("c") == "c"
    assert resolve_backend() == "c"
    with pytest.raises(ValueError, match="numba"):
        resolve_backend("cuda")


def test_missing_jax_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(ImportError, match="pip install"):
        resolve_backend("jax")


BACKENDS = ["numba", "c"] + (["jax"] if HAS_JAX else [])


@pytest.fixture(scope="module")
def fits():
    out = {}
    for b in BACKENDS:
        runs = []
        for _ in range(2):
            with model():
                advi = pm.ADVI(random_seed=3)
                advi.fit(20000, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.005), backend=b)
            runs.append(advi)
        out[b] = runs
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_seed_same_backend_is_identical(fits, backend):
    a, b = fits[backend]
    np.testing.assert_array_equal(a.hist, b.hist)
    np.testing.assert_array_equal(a.approx.mean.eval(), b.approx.mean.eval())


def test_backends_agree_within_monte_carlo_error(fits):
    means = {b: runs[0].approx.mean.eval() for b, runs in fits.items()}
    stds = {b: runs[0].approx.std.eval() for b, runs in fits.items()}
    ref = means["numba"]
    # C and Numba draw from the same numpy Generator: same noise, same numbers
    np.testing.assert_allclose(means["c"], ref, rtol=1e-9)
    for b in BACKENDS:  # JAX uses its own PRNG: agreement within the optimizer's noise
        np.testing.assert_allclose(means[b], ref, atol=0.06)
        np.testing.assert_allclose(stds[b], stds["numba"], rtol=0.2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sample_and_refine_on_each_backend(fits, backend):
    advi = fits[backend][0]
    idata = advi.approx.sample(50, random_seed=1, backend=backend)
    assert idata.posterior["s"].shape == (1, 50)
    assert (idata.posterior["s"].values > 0).all()
    advi.refine(20, progressbar=False, backend="numba")  # switching keeps parameters and history
    assert len(advi.hist) == 20020


def test_context_manager_drives_fit():
    with model(), pm.backend("c"):
        advi = pm.ADVI(random_seed=1)
        advi.fit(10, progressbar=False)
    assert advi._state[0].backend == "c"


@pytest.mark.parametrize("backend", BACKENDS)
def test_sample_node_on_each_backend(backend):
    import pytensor

    from symvi.backends import get_mode

    with pm.Model():
        x = pm.Normal("x", 1.0, 0.5)
        q = pm.MeanField(start_sigma={"x": 0.5})
    node = q.sample_node(x**2, size=2000)
    f = pytensor.function([], node, mode=get_mode(backend))
    a, b = f(), f()
    assert a.shape == (2000,) and not np.array_equal(a, b)  # fresh draws on every call
    assert abs(a.mean() - 1.25) < 0.1  # E[x^2] = 1 + 0.25


@pytest.mark.skipif(not HAS_JAX, reason="jax not installed")
def test_jax_sample_node_needs_a_static_size():
    import pytensor
    import pytensor.tensor as pt

    from symvi.backends import get_mode

    with pm.Model():
        x = pm.Normal("x", 0, 1)
        q = pm.MeanField()
    i = pt.iscalar("i")
    with pytest.raises(TypeError, match="needs a static size"):
        pytensor.function([i], q.sample_node(x, size=i), mode=get_mode("jax"))


@pytest.mark.skipif(not HAS_JAX, reason="jax not installed")
def test_jax_fits_fullrank_whose_loop_reshapes_by_a_lifted_shape():
    """FullRank builds L by reshaping with a constant shape vector, which the compiled loop
    lifts to a shared input (for Numba's cache); JAX needs it as a constant again."""
    y = np.random.default_rng(0).normal(1.5, 1.0, size=20)
    with model():
        inference = pm.FullRankADVI(random_seed=3)
        inference.fit(3000, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01), backend="jax")
    mu, log_s = inference.approx.mean.eval()  # posterior: mu ~ mean(y) +- 0.2, s ~ sd(y)
    assert abs(mu - y.mean()) < 0.1, mu
    assert abs(log_s - np.log(y.std())) < 0.2, log_s
