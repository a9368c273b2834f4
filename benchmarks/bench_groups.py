"""MeanField ADVI on a hierarchical model with 20 000 groups and 100 000 rows: symvi vs PyMC.

A varying-intercept regression (non-centred: ``a = mu + tau * z``, ``z`` of 20 000 groups,
``y ~ Normal(a[group] + b * x, s)``), the shape where the per-step cost is one gather of the
group effects and one scatter-add of their gradient.  Each framework runs in its own
interpreter (PyMC 5.28.5 from ``$PYMC_PYTHON``, default ``/tmp/venv-pymc/bin/python``), one
BLAS thread; per-step time is the difference of a long and a short fit divided by the step
difference (PyMC recompiles per call; symvi's ``refine`` does not, but the same protocol is
used for both), median of 3.

Usage::

    python benchmarks/bench_groups.py [--groups 20000] [--rows 100000] [--steps 2000] [--centred]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def data(groups, rows):
    rng = np.random.default_rng(0)
    g = rng.integers(0, groups, rows)
    x = rng.normal(size=rows)
    y = rng.normal(size=groups)[g] + 0.5 * x + 0.5 * rng.normal(size=rows)
    return g, x, y


def worker(framework, groups, rows, steps, centred=False):
    if framework == "symvi":
        import symvi as pm
    else:
        import pymc as pm
    g, x, y = data(groups, rows)
    with pm.Model():
        mu = pm.Normal("mu", 0.0, 1.0)
        tau = pm.HalfNormal("tau", 1.0)
        if centred:
            a = pm.Normal("a", mu, tau, shape=groups)
        else:
            a = mu + tau * pm.Normal("z", 0.0, 1.0, shape=groups)
        b = pm.Normal("b", 0.0, 1.0)
        s = pm.HalfNormal("s", 1.0)
        pm.Normal("y", a[g] + b * x, s, observed=y)
        inf = pm.ADVI(random_seed=1)
        opt = pm.adam(learning_rate=0.01)
        t0 = time.perf_counter()
        inf.fit(200, obj_optimizer=opt, progressbar=False)
        first = time.perf_counter() - t0

        def timed(n):
            t = time.perf_counter()
            inf.fit(n, obj_optimizer=opt, progressbar=False)
            return time.perf_counter() - t

        long_, short = [], []
        for _ in range(3):
            long_.append(timed(steps))
            short.append(timed(steps // 10))
    print("raw", long_, short, file=sys.stderr)
    per_step = (statistics.median(long_) - statistics.median(short)) / (steps - steps // 10)
    return {"framework": framework, "ms_per_step": per_step * 1e3, "first_fit_s": first,
            "final_loss": float(np.mean(inf.hist[-100:]))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--groups", type=int, default=20000)
    p.add_argument("--rows", type=int, default=100000)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--centred", action="store_true", help="a ~ Normal(mu, tau) instead of mu + tau * z")
    p.add_argument("--worker", default=None)
    p.add_argument("--pymc-python", default=os.environ.get("PYMC_PYTHON", "/tmp/venv-pymc/bin/python"))
    a = p.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(a.worker, a.groups, a.rows, a.steps, a.centred)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    rows = []
    for framework, python in (("symvi", sys.executable), ("pymc", a.pymc_python)):
        if not os.path.exists(python):
            print(f"skipping {framework}: no {python}")
            continue
        cmd = [python, __file__, "--worker", framework, "--groups", str(a.groups), "--rows", str(a.rows), "--steps", str(a.steps)] + (["--centred"] if a.centred else [])
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode:
            print(framework, "failed:", out.stderr.strip().splitlines()[-1:])
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1], flush=True)
    print(f"| framework | ms/step ({a.groups} groups, {a.rows} rows, MeanField ADVI) | first fit s | final loss |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['framework']} | {r['ms_per_step']:.2f} | {r['first_fit_s']:.1f} | {r['final_loss']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
