"""Normalizing flows on Neal's 2-D funnel: symvi NFVI vs NumPyro AutoIAFNormal, side by side.

Usage::

    python benchmarks/bench_flows.py [--numpyro-python PATH] [--steps N] [--repeats R]

Model: ``v ~ N(0, 3)``, ``x ~ N(0, exp(v / 2))`` (normalised: log evidence 0, so the ELBO is
minus the KL divergence from q to the posterior).  Both frameworks fit with Adam(0.01) and one
draw per step for ``--steps`` steps from the same kind of start.  Each runs in its own
interpreter (NumPyro's venv: default ``/tmp/venv-numpyro/bin/python`` or ``$NUMPYRO_PYTHON``;
skipped if missing), BLAS threads pinned to 1.  Columns:

* ``us/step``: steady-state microseconds per step.  symvi: ``refine(N) / N`` on the compiled
  loop (median of repeats); NumPyro: the difference of a long and a short ``svi.run`` (each
  compiles afresh) over the step difference.
* ``first fit s``: building the guide and the first fit, compile included.
* ``ELBO``: of the final q, 10 000 draws (symvi: ``approx.diagnose``; NumPyro:
  ``Trace_ELBO(num_particles=10_000)``); higher is better, 0 is exact.
* ``sd v``: q's sd of ``v`` from 4 000 draws (exact: 3).

Prints a markdown table and writes ``benchmarks/results/flows.json``.
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

HERE = Path(__file__).resolve().parent

SYMVI_CASES = [  # (label, method, inf_kwargs)
    ("ADVI (MeanField)", "advi", {}),
    ("NFVI scale-loc-iaf*4", "nfvi", {"flow": "scale-loc-iaf*4"}),
]


def symvi_worker(steps: int, repeats: int, seed: int) -> list[dict]:
    import numpy as np

    import symvi as pm

    rows = []
    for label, method, inf_kwargs in SYMVI_CASES:
        with pm.Model():
            v = pm.Normal("v", 0, 3)
            pm.Normal("x", 0, pm.math.exp(v / 2))
            t0 = time.perf_counter()
            approx = pm.fit(steps, method=method, inf_kwargs=inf_kwargs, random_seed=seed, progressbar=False,
                            obj_optimizer=pm.adam(learning_rate=0.01))
            first = time.perf_counter() - t0
        d = approx.diagnose(draws=10_000, random_seed=seed + 1)
        sd_v = float(approx.sample(4000, random_seed=seed + 2).posterior["v"].std())
        n = max(steps // 5, 200)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            approx.inference.refine(n, progressbar=False)
            times.append((time.perf_counter() - t0) / n)
        rows.append({"framework": "symvi", "guide": label, "us_per_step": statistics.median(times) * 1e6,
                     "first_fit_s": first, "elbo": d.elbo, "elbo_mcse": d.elbo_mcse, "khat": d.khat, "sd_v": sd_v,
                     "steps": steps, "finite": bool(np.all(np.isfinite(approx.hist)))})
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--numpyro-python", default=os.environ.get("NUMPYRO_PYTHON", "/tmp/venv-numpyro/bin/python"))
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        json.dump(symvi_worker(args.steps, args.repeats, args.seed), sys.stdout)
        return
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
    out = subprocess.run([sys.executable, __file__, "--worker", "--steps", str(args.steps), "--repeats", str(args.repeats),
                          "--seed", str(args.seed)], capture_output=True, text=True, env=env, check=True)
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    if Path(args.numpyro_python).exists():
        for flows, hidden in ((3, 0), (4, 8)):
            res = subprocess.run([args.numpyro_python, str(HERE / "workers" / "flows_numpyro_worker.py"), str(args.steps),
                                  str(args.repeats), str(flows), str(hidden), str(args.seed)],
                                 capture_output=True, text=True, env=env, check=True)
            rows += json.loads(res.stdout.strip().splitlines()[-1])
    else:
        print(f"NumPyro interpreter {args.numpyro_python} not found: symvi only")
    print(f"Neal's funnel (2-D), Adam(0.01), {args.steps} steps, 1 draw per step; ELBO of 10 000 draws (exact 0); sd v exact 3\n")
    print("| framework | guide | us/step | first fit s | ELBO | sd v |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['framework']} | {r['guide']} | {r['us_per_step']:.0f} | {r['first_fit_s']:.1f} | {r['elbo']:.3f} | {r['sd_v']:.2f} |")
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "flows.json").write_text(json.dumps({"steps": args.steps, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
