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

Except while Numba compiles new code (not when it loads code from its disk cache): a loop
compiled for the first time leaves tens of MB of cyclic garbage (typing and lowering
bookkeeping) - paused, a 1e6 x 100 Normal model's fit peaked 42 MB higher (238 MB above the
data instead of 196), a sixth of the 1.5x-the-data budget - and such a compile takes 10-60 s,
against which the collections cost nothing.

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
        if not gc.isenabled():
            return fn(*args, **kwargs)
        gc.disable()  # first: the lines below allocate, which can start a (full) collection
        if os.environ.get("SYMVI_GC_PAUSE", "1") == "0":
            gc.enable()
            return fn(*args, **kwargs)
        _collect_while_compiling()
        _paused.append(True)
        try:
            return fn(*args, **kwargs)
        finally:
            _paused.pop()
            gc.enable()

    return wrapper  # type: ignore[return-value]


_paused: list[bool] = []  # one entry per running paused call


def _collect_while_compiling() -> None:
    """Run the collector while Numba compiles a function anew inside a paused call (once)."""
    from numba.core import dispatcher

    compiler = dispatcher._FunctionCompiler
    original = compiler.compile  # called for new code only: disk-cache loads return before it
    if getattr(original, "symvi_collects", False):
        return

    def compile(self, args, return_type):
        if not _paused or gc.isenabled():  # outside a paused call, or an outer compile enabled it
            return original(self, args, return_type)
        gc.enable()
        try:
            return original(self, args, return_type)
        finally:
            gc.disable()

    compile.symvi_collects = True
    compiler.compile = compile
