"""Memory and time per notebook re-run: one cell (a 200x5 logistic regression built and fitted
with ADVI for 2000 steps) run again and again in one process.

Prints the resident set size after 3 warm-up runs and after N more (default 30), the growth
per re-run, the median fit time (wall clock and process CPU time) of the first and last five
re-runs, the full (generation-2) garbage collections per re-run and the CPU time they took,
and the objects the collector tracks after the first and the last re-run.  Compare
``SYMVI_BACKEND=numba`` (default) with ``SYMVI_BACKEND=c``, and ``SYMVI_GC_PAUSE=0`` (the
collector left running during fits, see :mod:`symvi.gc_pause`).

Run: ``PYTHONPATH=$PWD python3 benchmarks/bench_rerun_memory.py [N]``.
"""

from __future__ import annotations

import gc
import os
import sys
import time

import numpy as np


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def cell(steps: int = 2000):
    import symvi as pm

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = rng.binomial(1, 1 / (1 + np.exp(-X @ rng.normal(size=5))))
    with pm.Model():
        b = pm.Normal("b", 0, 1, shape=5)
        pm.Bernoulli("y", logit_p=X @ b, observed=y)
        return pm.fit(steps, random_seed=1, progressbar=False)


class GCWatch:
    """Counts full collections and the CPU time spent in them (``gc.callbacks``)."""

    def __init__(self):
        self.full, self.seconds, self._t0 = 0, 0.0, 0.0
        gc.callbacks.append(self)

    def __call__(self, phase, info):
        if info["generation"] != 2:
            return
        if phase == "start":
            self._t0 = time.process_time()
        else:
            self.full += 1
            self.seconds += time.process_time() - self._t0


def main(n: int = 30) -> None:
    for _ in range(3):
        cell()
    gc.collect()
    watch = GCWatch()
    r0, times, cpu, objects = rss_mb(), [], [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        cell()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        objects.append(len(gc.get_objects()))
    full, full_s = watch.full, watch.seconds
    gc.collect()
    r1 = rss_mb()
    print(
        f"backend {os.environ.get('SYMVI_BACKEND', 'default')}, gc pause {os.environ.get('SYMVI_GC_PAUSE', '1')}: "
        f"RSS {r0:.1f} MB after warm-up, {r1:.1f} MB after {n} re-runs: {(r1 - r0) / n:.2f} MB per re-run\n"
        f"  median time per re-run, first five / last five: wall {np.median(times[:5]):.2f} / {np.median(times[-5:]):.2f} s, "
        f"CPU {np.median(cpu[:5]):.2f} / {np.median(cpu[-5:]):.2f} s (slowest re-run: CPU {max(cpu):.2f} s)\n"
        f"  full garbage collections: {full / n:.2f} per re-run, {full_s / n:.3f} s CPU per re-run; "
        f"tracked objects after the first / last re-run: {objects[0]} / {objects[-1]}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
