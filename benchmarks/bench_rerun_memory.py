"""Memory and time per notebook re-run: one cell (a 200x5 logistic regression built and fitted
with ADVI for 2000 steps) run again and again in one process.

Prints the resident set size after 3 warm-up runs and after N more (default 30), the growth
per re-run, and the median fit time of the first and last five re-runs.  Compare
``SYMVI_BACKEND=numba`` (default) with ``SYMVI_BACKEND=c``.

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


def main(n: int = 30) -> None:
    for _ in range(3):
        cell()
    gc.collect()
    r0, times = rss_mb(), []
    for _ in range(n):
        t0 = time.perf_counter()
        cell()
        times.append(time.perf_counter() - t0)
    gc.collect()
    r1 = rss_mb()
    print(
        f"backend {os.environ.get('SYMVI_BACKEND', 'default')}: RSS {r0:.1f} MB after warm-up, {r1:.1f} MB after "
        f"{n} re-runs: {(r1 - r0) / n:.2f} MB per re-run; median time per re-run first five "
        f"{np.median(times[:5]):.2f} s, last five {np.median(times[-5:]):.2f} s"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
