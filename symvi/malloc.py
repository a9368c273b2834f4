"""Keep freed step temporaries in the process (glibc malloc), so steps do not page-fault.

Every step of a compiled loop allocates and frees the same temporaries (a gathered column,
a gradient, draws).  glibc serves a block above its mmap threshold (128 KiB by default) with
a fresh ``mmap`` and unmaps it when freed, and trims the heap top above its trim threshold;
it raises both thresholds on its own once a large block is freed, but not always: whether it
did depended on what the process had done before.  Measured on a 20 000-group, 100 000-row
MeanField fit (``benchmarks/bench_groups.py``): 1.1 ms per step in a process that had just
compiled the loop, 2.4 ms in one that loaded it from the disk cache - the same machine code,
page faults on every temporary.  Setting the thresholds once (32 MiB, the most glibc allows
for mmap; 128 MiB for trimming) gives 1.07 ms in both.

The cost: up to 128 MiB of freed memory at the heap top stays with the process, and blocks
under 32 MiB come from the heap.  Arrays larger than that (big data sets) are still mapped
and returned on their own.  :func:`tune` runs once at ``import symvi`` on Linux with glibc,
unless ``SYMVI_MALLOC_TUNE=0`` or one of glibc's own ``MALLOC_*_`` settings is in the
environment (yours win).

Examples
--------
>>> tune() in (True, False)
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: glibc's mallopt parameter numbers (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20
TRIM_THRESHOLD = 128 * 2**20
_OWN_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")
_done: list[bool] = []


def tune() -> bool:
    """Set glibc's mmap and trim thresholds (once per process); False where not applied."""
    if _done:
        return _done[0]
    ok = False
    if sys.platform.startswith("linux") and os.environ.get("SYMVI_MALLOC_TUNE", "1") != "0":
        if not any(name in os.environ for name in _OWN_SETTINGS):
            ok = _mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and _mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    _done.append(ok)
    return ok


def _mallopt(param: int, value: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt(param, value) == 1
