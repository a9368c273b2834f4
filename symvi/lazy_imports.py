"""Cheaper first one-off calls: how symvi imports ArviZ and lets xarray look for dask.

``import symvi`` does not import ArviZ; the first call that returns an ``InferenceData``
(``approx.sample``, ``sample_posterior_predictive``, ``diagnose``, ...) does, and so pays
for it.  Two parts of that first call do work nothing in it uses:

* xarray, at the first ``DataArray`` of a process, imports ``dask.array`` (when dask is
  installed) only to learn its array class for ``isinstance`` checks.  No object can be a
  dask array before ``dask.array`` is imported, so :func:`defer_dask_probe` answers "no dask
  array type" until then, and asks xarray's own probe as soon as ``dask.array`` is in
  ``sys.modules`` (or anything but the array type is wanted).
* ArviZ compiles a Numba ufunc (ECDF band probabilities) eagerly at import, every process.
  :func:`arviz` imports ArviZ with Numba's ``vectorize`` asked to cache what it compiles on
  disk, so a later process loads it instead (same machine code, same results).

The rest of ArviZ's import (pandas, xarray, matplotlib.pyplot, scipy.stats: 1.5-2 s on a
2-core machine) remains.  In an interactive session (IPython/Jupyter, ``python -i``, the REPL)
a fit is nearly always followed, in a later cell, by a call that needs ArviZ, and the user reads
the fit's output in between: there :func:`import_arviz_soon` (called when a fit returns) starts
the import in a background thread, and the next cell finds it done (or waits for what is left,
never longer than importing it then would).  Scripts are left alone: one that never samples
would pay the import for nothing, one that samples at once would gain nothing.
``SYMVI_IMPORT_AHEAD=0`` switches it off.

Example
-------
>>> from symvi.lazy_imports import arviz
>>> az = arviz()
>>> hasattr(az, "InferenceData")
True
"""

from __future__ import annotations

import os
import sys
import threading
import types
from typing import Any

__all__ = ["arviz", "defer_dask_probe", "import_arviz_soon", "interactive", "xarray"]

_ahead: threading.Thread | None = None  # the background import of ArviZ (import_arviz_soon)
#: what the background import raised, if it failed (the next arviz() raises it again)
ahead_failure: BaseException | None = None


class _DaskProbe:
    """Stands for xarray's cached dask module entry until ``dask.array`` is imported."""

    def __init__(self, cache: dict, probe_cls: type) -> None:
        self._cache, self._probe_cls = cache, probe_cls

    def __getattr__(self, name: str) -> Any:
        if name == "type" and "dask.array" not in sys.modules:
            return ()  # nothing can be a dask array yet
        real = self._probe_cls("dask")  # xarray's own probe (imports dask)
        if self._cache.get("dask") is self:
            self._cache["dask"] = real
        return getattr(real, name)


def defer_dask_probe() -> bool:
    """Let xarray import dask only once dask arrays can exist; True if installed.

    Does nothing (returns False) when xarray has already probed dask, dask is already
    imported, or this xarray keeps its probe elsewhere.

    >>> import xarray, numpy as np
    >>> _ = defer_dask_probe()
    >>> xarray.DataArray(np.zeros(2)).shape
    (2,)
    """
    try:
        from xarray.namedarray import pycompat
    except ImportError:
        return False
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    probe_cls = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(cache, dict) or probe_cls is None or "dask" in cache or "dask.array" in sys.modules:
        return False
    cache["dask"] = _DaskProbe(cache, probe_cls)
    return True


def xarray() -> types.ModuleType:
    """``import xarray`` (at first use: with pandas ~70 MB and ~1 s), dask probe deferred.

    >>> xarray().__name__
    'xarray'
    """
    import xarray as xr

    defer_dask_probe()
    return xr


def arviz() -> types.ModuleType:
    """``import arviz``, with ArviZ's import-time Numba ufuncs cached on disk.

    >>> arviz().__name__
    'arviz'
    """
    if _ahead is not None and _ahead is not threading.current_thread():
        _ahead.join()  # importing ahead (its module is in sys.modules before it is complete)
    if "arviz" in sys.modules:
        return sys.modules["arviz"]
    defer_dask_probe()
    try:
        import numba
    except ImportError:
        import arviz as az

        return az
    vectorize = numba.vectorize

    def cached_vectorize(*args: Any, **kwargs: Any) -> Any:
        if sys._getframe(1).f_globals.get("__name__", "").startswith("arviz."):  # (not the user's)
            kwargs.setdefault("cache", True)
        return vectorize(*args, **kwargs)

    numba.vectorize = cached_vectorize
    try:
        import arviz as az
    finally:
        numba.vectorize = vectorize
    return az


def interactive() -> bool:
    """Whether this process is an interactive session (a REPL, ``python -i``, IPython/Jupyter).

    >>> interactive()           # doctests run in a script-like process
    False
    """
    if hasattr(sys, "ps1") or sys.flags.interactive:
        return True
    get_ipython = getattr(sys.modules.get("IPython"), "get_ipython", None)
    return get_ipython is not None and get_ipython() is not None


def import_arviz_soon() -> threading.Thread | None:
    """In an interactive session, start importing ArviZ (:func:`arviz`) in a background thread.

    Once per process; returns the thread started, else None (not interactive, ArviZ imported
    or being imported already, or ``SYMVI_IMPORT_AHEAD=0``).

    >>> import_arviz_soon() is None    # not an interactive session here
    True
    """
    global _ahead
    if _ahead is not None or "arviz" in sys.modules or os.environ.get("SYMVI_IMPORT_AHEAD", "1") == "0" or not interactive():
        return None
    # not a daemon: a session closed mid-import waits for it (a second or two) instead of
    # stopping the thread inside Numba's compiler at interpreter shutdown
    _ahead = threading.Thread(target=_import_ahead, name="symvi-import-arviz")
    _ahead.start()
    return _ahead


def _import_ahead() -> None:
    global ahead_failure
    try:
        arviz()
    except Exception as err:  # noqa: BLE001 - kept; the next arviz() call raises it in the user's thread
        ahead_failure = err
