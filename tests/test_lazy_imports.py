"""symvi.lazy_imports: xarray's dask probe deferred until dask arrays can exist; ArviZ imported
with its Numba ufuncs cached (issue 13, first one-off calls)."""

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
