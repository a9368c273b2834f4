"""Data-parallel ADVI on a dask LocalCluster: steps/s with 1 and 2 worker processes, driver memory.

The model: Bayesian linear regression, ``rows`` x ``cols`` float64 predictors (default
2 000 000 x 50 = 800 MB) generated *on the workers* by ``dask.array`` (the driver never holds
them), Normal(0, 1) weights, HalfNormal noise sd, full batch, fitted with
:class:`symvi.distributed.DataParallel` (C backend on the workers, one thread each, one BLAS
thread).  For each number of workers: a fresh cluster, a warm-up of ``--warmup`` steps
(compiles), then ``--steps`` timed steps; the per-step times come from a callback, and the
median is reported.  The driver's resident memory is read before the data are made and after
the fit: it should not grow with the data (``--rows`` smaller shows the same growth).
A tiny model (1 000 rows) measures the per-step overhead of the round trip alone.

Usage::

    python benchmarks/bench_distributed.py [--rows 2000000] [--cols 50] [--steps 20] [--warmup 3]

Writes ``benchmarks/results/distributed.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # inherited by the worker processes

import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import symvi as pm  # noqa: E402

OUT = Path(__file__).parent / "results" / "distributed.json"


def build(x, y):
    with pm.Model() as m:
        w = pm.Normal("w", 0, 1, shape=x.shape[1])
        s = pm.HalfNormal("s", 1)
        pm.Normal("y", pt.dot(x, w), s, observed=y)
    return m


def make_data(rows, cols, chunk_rows):
    rng = da.random.default_rng(0)
    x = rng.normal(size=(rows, cols), chunks=(chunk_rows, cols))
    w = np.linspace(-1, 1, cols)
    y = x @ w + 0.5 * rng.normal(size=rows, chunks=chunk_rows)
    return x, y


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def run(n_workers: int, rows: int, cols: int, steps: int, warmup: int) -> dict:
    before = rss_mb()
    with LocalCluster(
        n_workers=n_workers, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster, Client(cluster) as client:
        x, y = make_data(rows, cols, chunk_rows=max(1, rows // (2 * n_workers)))
        t0 = time.perf_counter()
        with pm.distributed.DataParallel(build, (x, y), client, random_seed=1) as dp:
            dp.fit(warmup, progressbar=False)
            setup = time.perf_counter() - t0
            stamps = []
            cpu0 = client.run(time.process_time)
            dp.fit(steps, progressbar=False, callbacks=[lambda a, losses, i: stamps.append(time.perf_counter())])
            cpu1 = client.run(time.process_time)
            per_step = np.diff(stamps)
            # CPU seconds each worker spends per step: the work, whatever else shares the machine
            worker_cpu = [(cpu1[w] - cpu0[w]) / steps for w in cpu0 if w in cpu1]
            worker_mb = sum(v["metrics"]["memory"] for v in client.scheduler_info()["workers"].values()) / 2**20
            after = rss_mb()
        loss = float(dp.hist[-1])
    return {
        "workers": n_workers,
        "rows": rows,
        "cols": cols,
        "data_mb": rows * (cols + 1) * 8 / 2**20,
        "median_step_s": float(statistics.median(per_step)),
        "steps_per_s": 1.0 / float(statistics.median(per_step)),
        "setup_and_warmup_s": setup,
        "worker_cpu_s_per_step": worker_cpu,
        "max_worker_cpu_s_per_step": max(worker_cpu),
        "driver_rss_before_mb": before,
        "driver_rss_after_mb": after,
        "driver_rss_growth_mb": after - before,
        "workers_memory_mb": worker_mb,
        "last_loss": loss,
    }


def overhead(steps: int) -> dict:
    """Median step of a 1 000-row model on 2 workers: the round trip, not the arithmetic."""
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR) as cl, Client(cl) as client:
        x, y = make_data(1000, 3, 500)
        with pm.distributed.DataParallel(build, (x, y), client, random_seed=1) as dp:
            dp.fit(3, progressbar=False)
            stamps = []
            dp.fit(steps, progressbar=False, callbacks=[lambda a, losses, i: stamps.append(time.perf_counter())])
    return {"rows": 1000, "median_step_ms": 1e3 * float(statistics.median(np.diff(stamps)))}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--cols", type=int, default=50)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--small-rows", type=int, default=200_000, help="a second, smaller data size for the driver-memory check")
    a = p.parse_args()
    out = {"load_average_at_start": os.getloadavg(), "cpu_count": os.cpu_count()}
    out["overhead"] = overhead(100)
    print("overhead", out["overhead"], flush=True)
    out["runs"] = []
    for n_workers in (1, 2):
        r = run(n_workers, a.rows, a.cols, a.steps, a.warmup)
        print(json.dumps(r), flush=True)
        out["runs"].append(r)
    one, two = out["runs"]
    out["speedup_2_vs_1"] = two["steps_per_s"] / one["steps_per_s"]
    # what 2 cores of their own would give: the busiest worker's CPU per step bounds the step
    out["cpu_bound_speedup_2_vs_1"] = one["max_worker_cpu_s_per_step"] / two["max_worker_cpu_s_per_step"]
    small = run(2, a.small_rows, a.cols, max(5, a.steps // 2), a.warmup)
    out["runs_small_data"] = small
    print(json.dumps(small), flush=True)
    out["load_average_at_end"] = os.getloadavg()
    print(f"speedup 2 vs 1 workers: {out['speedup_2_vs_1']:.2f}x wall, {out['cpu_bound_speedup_2_vs_1']:.2f}x by worker CPU; driver RSS growth {two['driver_rss_growth_mb']:.0f} MB "
          f"({two['data_mb']:.0f} MB data) vs {small['driver_rss_growth_mb']:.0f} MB ({small['data_mb']:.0f} MB data)")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
