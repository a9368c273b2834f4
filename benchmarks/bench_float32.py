"""Step time in float32 vs float64: the seed notebook's 40000 x 100 Normal model, symvi vs PyMC.

Usage::

    python benchmarks/bench_float32.py [--quick] [--pymc-python PATH] [--no-pymc]

Model (as in the seed and ``bench_minibatch.py``): ``mu ~ Normal(0, 1e5, shape=100)``,
``sd ~ HalfNormal(shape=100)``, ``Normal(mu, sd, observed=X)`` with mean-field ADVI and Adam,
on random 500-row minibatches (``total_size`` the full table) and on the full table.  Each
(framework, floatX) cell runs in its own interpreter, started with ``PYTENSOR_FLAGS=floatX=...``.

Steady-state microseconds per step, median of repeats: symvi ``refine(N) / N`` on the compiled
loop; PyMC the difference of a long and a short fit over the difference in steps (cancels its
per-fit compile).  BLAS threads are pinned to 1.  Writes ``benchmarks/results/float32.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "workers"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_minibatch import BATCH, N_COLS, N_ROWS, seed_data  # noqa: E402,F401 - the same data and sizes
from timing import median_time  # noqa: E402

HERE = Path(__file__).resolve().parent


def _model(pm, data, workload):
    data = pm.floatX(data)  # PyMC's Minibatch rejects a cast of float64 data as observed
    obs = pm.Minibatch(data, batch_size=BATCH) if workload == "minibatch500" else data
    model = pm.Model()
    with model:
        mu = pm.Normal("mu", 0, sigma=1e5, shape=(N_COLS,))
        sd = pm.HalfNormal("sd", shape=(N_COLS,))
        pm.Normal("likelihood", mu, sigma=sd, observed=obs, total_size=N_ROWS if workload != "full" else None)
    return model


def worker(framework, steps):
    import pytensor

    pm = __import__("symvi" if framework == "symvi" else "pymc")
    data = seed_data()
    rows = []
    for workload in ("minibatch500", "full"):
        n_long, n_short, repeats = steps[workload == "full"]
        model = _model(pm, data, workload)
        opt = pm.adam(learning_rate=0.01)
        with model:
            inf = pm.ADVI(random_seed=1)
            t0 = time.perf_counter()
            inf.fit(n_short, obj_optimizer=opt, progressbar=False)
            first = time.perf_counter() - t0
            if framework == "symvi":
                steady = median_time(lambda: inf.refine(n_long, progressbar=False), repeats) / n_long
            else:
                t_long = median_time(lambda: inf.fit(n_long, obj_optimizer=opt, progressbar=False), repeats)
                t_short = median_time(lambda: inf.fit(n_short, obj_optimizer=opt, progressbar=False), repeats)
                steady = (t_long - t_short) / (n_long - n_short)
        dtype = str(inf.approx.mean.eval().dtype)
        rows.append(
            {
                "framework": framework,
                "floatX": pytensor.config.floatX,
                "param_dtype": dtype,
                "workload": workload,
                "us_per_step": steady * 1e6,
                "first_fit_s": first,
            }
        )
    return rows


def run_cell(python, framework, floatx, quick):
    env = dict(os.environ, PYTENSOR_FLAGS=f"floatX={floatx}", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = str(HERE.parent) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [python, __file__, "--worker", framework] + (["--quick"] if quick else [])
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        print(f"{framework} {floatx} failed:\n{out.stderr[-2000:]}", file=sys.stderr)
        return []
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", choices=["symvi", "pymc"])
    ap.add_argument("--pymc-python", default="/tmp/venv-pymc/bin/python")
    ap.add_argument("--no-pymc", action="store_true")
    args = ap.parse_args()
    # (long, short, repeats) for the minibatch and the full-data workloads
    steps = [(2000, 200, 3), (200, 20, 3)] if args.quick else [(10000, 1000, 5), (1000, 100, 5)]
    if args.worker:
        print(json.dumps(worker(args.worker, steps)))
        return
    rows = []
    cells = [(sys.executable, "symvi")] + ([] if args.no_pymc else [(args.pymc_python, "pymc")])
    for python, framework in cells:
        for floatx in ("float64", "float32"):
            rows += run_cell(python, framework, floatx, args.quick)
    by = {(r["framework"], r["workload"], r["floatX"]): r for r in rows}
    print(f"{'framework':9} {'workload':13} {'float64 us':>11} {'float32 us':>11} {'f64/f32':>8}")
    for framework in dict.fromkeys(r["framework"] for r in rows):
        for workload in ("minibatch500", "full"):
            a, b = by.get((framework, workload, "float64")), by.get((framework, workload, "float32"))
            if a and b:
                ratio = a["us_per_step"] / b["us_per_step"]
                print(f"{framework:9} {workload:13} {a['us_per_step']:11.1f} {b['us_per_step']:11.1f} {ratio:8.2f}")
    out = HERE / "results" / "float32.json"
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
