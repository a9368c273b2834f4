"""FullRank ADVI step time on PyTensor's C backend, with and without a linked BLAS.

"before": ``SYMVI_BLAS=0`` - PyTensor searches the system for a BLAS, finds none in a pip
install, warns "could not link to a BLAS installation" and runs its matrix products as
Python-level numpy calls inside the compiled loop.  "after": symvi's default, scipy's
OpenBLAS linked (:mod:`symvi.blas`), the products run as C calls into it.

The model: Bayesian logistic regression, N rows, D predictors (Normal(0, 1) priors), fitted
with ``pm.fit(method="fullrank_advi", backend="c")``.  Each setting runs in its own
interpreter; per-step time is a ``refine(steps)`` divided by ``steps``, median of ``--repeats``
runs after a warm-up fit that includes the compile.  One BLAS thread.

Usage::

    python benchmarks/bench_c_blas.py [--rows 2000] [--cols 20] [--steps 2000] [--repeats 5]

Writes ``benchmarks/results/c_blas.json`` (one entry per problem size).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def worker(rows: int, cols: int, steps: int, repeats: int) -> dict:
    import warnings

    import numpy as np

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import pytensor

        import symvi as pm

        rng = np.random.default_rng(0)
        X = rng.normal(size=(rows, cols)) / np.sqrt(cols)  # logits of order 1 whatever the width
        w = rng.normal(size=cols)
        y = (rng.uniform(size=rows) < 1 / (1 + np.exp(-X @ w))).astype("int64")
        with pm.Model():
            beta = pm.Normal("beta", 0, 1, shape=cols)
            pm.Bernoulli("y", logit_p=pm.math.dot(X, beta), observed=y)
            t0 = time.perf_counter()
            approx = pm.fit(200, method="fullrank_advi", backend="c", random_seed=1, progressbar=False,
                            obj_optimizer=pm.adam(learning_rate=0.01))
            first = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            approx.inference.refine(steps, progressbar=False)
            times.append((time.perf_counter() - t0) / steps)
    blas_warning = any("could not link to a BLAS" in str(w.message) for w in caught)
    return {
        "ldflags": pytensor.config.blas__ldflags,
        "blas_warning": blas_warning,
        "first_fit_s": first,
        "step_us": [t * 1e6 for t in times],
        "median_step_us": statistics.median(times) * 1e6,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--cols", type=int, default=20)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.rows, args.cols, args.steps, args.repeats)))
        return
    out = {}
    for label, flag in (("before (no BLAS)", "0"), ("after (scipy OpenBLAS)", "1")):
        env = dict(os.environ, SYMVI_BLAS=flag, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        cmd = [sys.executable, __file__, "--worker", "--rows", str(args.rows), "--cols", str(args.cols),
               "--steps", str(args.steps), "--repeats", str(args.repeats)]
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        out[label] = json.loads(res.stdout.strip().splitlines()[-1])
        r = out[label]
        print(f"{label:24s} median step {r['median_step_us']:8.1f} us  first fit {r['first_fit_s']:.1f} s  "
              f"BLAS warning: {r['blas_warning']}")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    path = results / "c_blas.json"  # one entry per problem size, "ROWSxCOLS"
    table = json.loads(path.read_text()) if path.exists() else {}
    table = table if "results" not in table else {}  # (an older single-run layout)
    table[f"{args.rows}x{args.cols}"] = {"steps": args.steps, "repeats": args.repeats, "results": out}
    path.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
