"""Pause CPython's cyclic garbage collector while symvi builds and compiles a fit.

Building a model's graphs and compiling them creates a few hundred thousand Python objects
(graph nodes, rewrites' bookkeeping) that live until the fit ends.  The collector runs every
few hundred allocations and, because those objects survive, promotes them until a full
collection traverses every object of the process: ~0.25 s, about once per notebook re-run of a
small fit (20 % of its time, measured with ``benchmarks/bench_rerun_memory.py``), and the
reason single re-runs took 1.3-2.3 s instead of ~1.1.  Those collections free nothing a later
one would not: the previous fit's graphs are released when the new one replaces them.

While paused, objects are still freed by reference counting; cyclic garbage made meanwhile is
collected once the collector runs again after the fit.  ``SYMVI_GC_PAUSE=0`` leaves the
collector alone.

Examples
--------
>>> import gc
>>> @paused
... def build():
...     return gc.isenabled()
>>> build(), gc.isenabled()
(False, True)
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Callable
from typing import TypeVar

__all__ = ["paused"]

F = TypeVar("F", bound=Callable)


def paused(fn: F) -> F:
    """Decorate ``fn`` to run with the cyclic garbage collector disabled (restored after,
    also on an exception or Ctrl-C; a collector the caller had disabled stays disabled)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not gc.isenabled() or os.environ.get("SYMVI_GC_PAUSE", "1") == "0":
            return fn(*args, **kwargs)
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper  # type: ignore[return-value]
