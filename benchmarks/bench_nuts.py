"""``pm.sample()`` side by side: symvi (nutpie fed a Numba cfunc, or a Python callback),
PyMC 5.28's default NUTS and PyMC + nutpie, on the seed gamma model and three posteriordb
posteriors, in one run.

Each cell is a fresh process (``benchmarks/workers/nuts_worker.py``) running
``pm.sample(1000, tune=1000, chains=2, cores=2)`` and reporting its wall time (compile
included, as a user meets it) and the minimum bulk ESS over the free variables; the score is
ESS per second of that wall time.  Every cell runs once untimed (so compile caches are warm:
re-running a cell in a new process) and then ``--reps`` times interleaved across
configurations; medians are reported.  PyMC runs in ``$PYMC_PYTHON`` (default
``/tmp/venv-pymc/bin/python``).

Usage::

    python benchmarks/bench_nuts.py [--models gamma,eight_schools,kidiq,sblrc] [--reps 3]

Writes ``benchmarks/results/nuts.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "workers" / "nuts_worker.py"
MODELS = ["gamma", "eight_schools", "kidiq", "sblrc"]
CONFIGS = {
    "symvi (nutpie + Python callback)": ("symvi", "python"),
    "symvi (nutpie + Numba cfunc)": ("symvi", "numba"),
    "PyMC default NUTS": ("pymc", "default"),
    "PyMC + nutpie": ("pymc", "nutpie"),
}


def run(python, framework, model, config, seed, timeout=900):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(HERE.parent))
    cmd = [python, str(WORKER), framework, model, config, str(seed)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout}s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(lines[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated names of CONFIGS")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--pymc-python", default=os.environ.get("PYMC_PYTHON", "/tmp/venv-pymc/bin/python"))
    p.add_argument("--out", default=str(HERE / "results" / "nuts.json"))
    args = p.parse_args(argv)
    models = args.models.split(",")
    configs = [c for c in args.configs.split(",") if c]
    python = {"symvi": sys.executable, "pymc": args.pymc_python}
    cells = {(m, c): [] for m in models for c in configs}
    for m in models:  # warm the compile caches
        for c in configs:
            fw, cfg = CONFIGS[c]
            run(python[fw], fw, m, cfg, 0)
    for rep in range(args.reps):
        for m in models:
            for c in configs:
                fw, cfg = CONFIGS[c]
                res = run(python[fw], fw, m, cfg, rep + 1)
                cells[(m, c)].append(res)
                print(m, c, res, flush=True)
    table = {}
    for (m, c), rows in cells.items():
        ok = [r for r in rows if "error" not in r]
        if not ok:
            table.setdefault(m, {})[c] = {"error": rows[-1].get("error", "?")}
            continue
        table.setdefault(m, {})[c] = {
            key: statistics.median(r[key] for r in ok) for key in ("wall", "min_ess", "ess_per_s", "divergences")
        } | {"runs": len(ok)}
    Path(args.out).write_text(json.dumps({"settings": vars(args), "results": table}, indent=1))
    print("\n| model | " + " | ".join(configs) + " |")
    print("|---|" + "---|" * len(configs))
    for m in models:
        cellstr = []
        for c in configs:
            r = table[m][c]
            cellstr.append(r["error"][:40] if "error" in r else f"{r['ess_per_s']:.0f} ({r['wall']:.1f} s, ESS {r['min_ess']:.0f})")
        print(f"| {m} | " + " | ".join(cellstr) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
