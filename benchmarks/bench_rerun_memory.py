"""Memory and time per notebook re-run: one cell (a 200x5 logistic regression built and fitted
with ADVI for 2000 steps) run again and again in one process.

Prints the resident set size after 3 warm-up runs and after N more (default 30), the growth
per re-run, the median time (wall clock and process CPU time) of the first and last five
re-runs and the least-squares slope of CPU time against the re-run index (with its standard
error), the full (generation-2) collections and the objects the collector freed per re-run,
the objects it tracks after the first and the last re-run, and per phase of a re-run (model
block, graph building, PyTensor's rewriting and linking, the step loop, garbage collection;
:mod:`rerun_phases`) the first-five / last-five median CPU time and its slope.  Compare
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


def cell(steps: int = 2000, phases=None):
    """The notebook cell; ``phases`` (a :class:`rerun_phases.Phases`) times its model block and fit."""
    import symvi as pm

    enter = phases.enter if phases is not None else lambda name: None
    leave = phases.leave if phases is not None else lambda: None
    enter("model")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = rng.binomial(1, 1 / (1 + np.exp(-X @ rng.normal(size=5))))
    with pm.Model():
        b = pm.Normal("b", 0, 1, shape=5)
        pm.Bernoulli("y", logit_p=X @ b, observed=y)
        leave()
        enter("fit other")
        try:
            return pm.fit(steps, random_seed=1, progressbar=False)
        finally:
            leave()


def main(n: int = 30) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import rerun_phases

    phases = rerun_phases.install()
    for _ in range(3):
        cell(phases=phases)
    gc.collect()
    phases.take()
    full0, freed0 = phases.collections, phases.freed
    r0, times, cpu, objects, rows, calib = rss_mb(), [], [], [], [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        cell(phases=phases)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        rows.append(phases.take())
        objects.append(len(gc.get_objects()))  # (the collection of the cell's garbage runs here)
        calib.append(rerun_phases.calibrate(phases))
    full, freed = phases.collections - full0, phases.freed - freed0
    gc.collect()
    r1 = rss_mb()
    total = [sum(r.values()) for r in rows]
    b, se = rerun_phases.slope(total)
    cb, cse = rerun_phases.slope(calib)
    print(
        f"backend {os.environ.get('SYMVI_BACKEND', 'default')}, gc pause {os.environ.get('SYMVI_GC_PAUSE', '1')}, "
        f"load average {os.getloadavg()[0]:.2f}: "
        f"RSS {r0:.1f} MB after warm-up, {r1:.1f} MB after {n} re-runs: {(r1 - r0) / n:.2f} MB per re-run\n"
        f"  median time per re-run, first five / last five: wall {np.median(times[:5]):.2f} / {np.median(times[-5:]):.2f} s, "
        f"CPU in the cell {np.median(cpu[:5]):.3f} / {np.median(cpu[-5:]):.3f} s (slowest {max(cpu):.2f} s; the "
        f"collection of its garbage runs after it), with that collection {np.median(total[:5]):.3f} / {np.median(total[-5:]):.3f} s\n"
        f"  CPU slope (with the collection) {1e3 * b:+.2f} +- {1e3 * se:.2f} ms per re-run = "
        f"{100 * b / np.median(total):+.3f} +- {100 * se / np.median(total):.3f} % per re-run; "
        f"a fixed workload timed between re-runs (machine drift): {np.median(calib[:5]) * 1e3:.1f} / "
        f"{np.median(calib[-5:]) * 1e3:.1f} ms, {100 * cb / np.median(calib):+.3f} +- {100 * cse / np.median(calib):.3f} % per re-run\n"
        f"  full garbage collections: {full / n:.2f} per re-run; objects the collector freed: {freed / n:.0f} per re-run; "
        f"tracked objects after the first / last re-run: {objects[0]} / {objects[-1]}\n"
        f"  process CPU per phase (exclusive; gc = collections wherever they ran), ms:\n{rerun_phases.report(rows)}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
