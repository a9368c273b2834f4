"""symvi.lazy_imports: xarray's dask probe deferred until dask arrays can exist; ArviZ imported
with its Numba ufuncs cached, and ahead in interactive sessions; one-shot functions inline
OpFromGraph ops (issue 13, first one-off calls)."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from symvi import lazy_imports


class _Probe:
    """Stands for xarray's DuckArrayModule: records that it ran."""

    made = 0

    def __init__(self, mod):
        type(self).made += 1
        self.type, self.available, self.version = ("real", mod), True, "9"


def test_probe_answers_no_type_until_dask_array_is_imported(monkeypatch):
    _Probe.made = 0
    cache = {}
    probe = lazy_imports._DaskProbe(cache, _Probe)
    cache["dask"] = probe
    monkeypatch.delitem(sys.modules, "dask.array", raising=False)
    assert probe.type == ()
    assert _Probe.made == 0 and cache["dask"] is probe
    assert probe.available is True  # anything but the type asks the real probe ...
    assert _Probe.made == 1 and isinstance(cache["dask"], _Probe)  # ... which then replaces it


def test_probe_asks_xarray_once_dask_array_is_imported(monkeypatch):
    _Probe.made = 0
    cache = {}
    probe = lazy_imports._DaskProbe(cache, _Probe)
    cache["dask"] = probe
    monkeypatch.setitem(sys.modules, "dask.array", object())
    assert probe.type == ("real", "dask")
    assert isinstance(cache["dask"], _Probe)


def test_defer_does_nothing_when_already_probed(monkeypatch):
    pycompat = pytest.importorskip("xarray.namedarray.pycompat")
    monkeypatch.setattr(pycompat, "_cached_duck_array_modules", {"dask": "probed"})
    assert lazy_imports.defer_dask_probe() is False
    assert pycompat._cached_duck_array_modules == {"dask": "probed"}


def test_fresh_process_sample_skips_dask_array_and_dask_data_still_works():
    pytest.importorskip("dask.array")
    code = textwrap.dedent(
        """
        import sys, numpy as np
        import symvi, xarray as xr
        from symvi.sampling import to_inference_data
        idata = to_inference_data({"posterior": {"x": np.arange(6.0).reshape(1, 6)}})
        print("dask.array" in sys.modules, float(idata.posterior["x"].sum()))
        import dask.array as da
        arr = xr.DataArray(da.ones(4, chunks=2))
        print(arr.chunks, float(arr.sum().compute()))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "False 15.0"
    assert out[1] == "((2, 2),) 4.0"


def test_arviz_import_restores_numba_vectorize():
    numba = pytest.importorskip("numba")
    before = numba.vectorize
    az = lazy_imports.arviz()
    assert numba.vectorize is before
    assert az.__name__ == "arviz"
    lw = np.log(np.random.default_rng(0).exponential(size=200))
    _, khat = az.psislw(lw, reff=1.0)
    assert np.isfinite(khat)


def test_arviz_waits_for_an_import_ahead_before_returning(monkeypatch):
    class Thread:  # stands for the background import: its module may be incomplete until joined
        joined = 0

        def join(self):
            type(self).joined += 1

    monkeypatch.setattr(lazy_imports, "_ahead", Thread())
    assert lazy_imports.arviz().__name__ == "arviz"
    assert Thread.joined == 1


def test_interactive_sessions_import_arviz_after_a_fit_and_scripts_do_not():
    code = textwrap.dedent(
        """
        import sys
        import symvi as pm
        from symvi import lazy_imports

        def fit():
            with pm.Model():
                pm.Normal("x", 0, 1)
                return pm.fit(20, progressbar=False, random_seed=1, obj_optimizer=pm.adam(learning_rate=0.1))

        fit()
        print(lazy_imports._ahead is None, "arviz" in sys.modules)   # a script: nothing ahead
        sys.ps1 = ">>> "                                              # what the REPL sets
        approx = fit()
        print(lazy_imports._ahead is not None)
        idata = approx.sample(10, random_seed=1)                      # waits for it
        print(lazy_imports._ahead.is_alive(), lazy_imports.ahead_failure, type(idata).__name__)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:3] == ["True False", "True", "False None InferenceData"]


def test_one_shot_functions_inline_softmax_instead_of_compiling_it_with_numba():
    """Softmax is an OpFromGraph: run by the Python linker it would compile its inner graph in the
    default (Numba) mode, 5-9 s at a categorical model's start-point check."""
    import pytensor
    import pytensor.tensor as pt
    import scipy.special as ss
    from pytensor.compile.builders import OpFromGraph

    from symvi.pytensorf import ONE_SHOT_MODE

    x = pt.matrix("x")
    y = pt.special.log_softmax(2.0 * pt.special.softmax(x, axis=1), axis=-1).sum()
    f = pytensor.function([x], [y, pytensor.grad(y, x)], mode=ONE_SHOT_MODE)
    assert not any(isinstance(n.op, OpFromGraph) for n in f.maker.fgraph.apply_nodes)
    X = np.random.default_rng(0).normal(size=(4, 3))
    value, grad = f(X)
    np.testing.assert_allclose(value, ss.log_softmax(2.0 * ss.softmax(X, axis=1), axis=-1).sum(), rtol=1e-12)
    import pickle  # Dask workers receive the mode pickled: it must travel and still inline

    again = pytensor.function([x], y, mode=pickle.loads(pickle.dumps(ONE_SHOT_MODE)))
    assert not any(isinstance(n.op, OpFromGraph) for n in again.maker.fgraph.apply_nodes)
    eps = 1e-6
    bumped = X.copy()
    bumped[1, 2] += eps
    np.testing.assert_allclose(grad[1, 2], (f(bumped)[0] - value) / eps, rtol=1e-4)
