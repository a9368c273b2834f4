"""VI speed, side by side: symvi vs PyMC 5.28 vs NumPyro 0.22 (each in its own interpreter).

Usage::

    python benchmarks/bench_vi.py [--pymc-python PATH] [--numpyro-python PATH] [--quick]

PyMC pins an older pytensor, so it lives in its own virtual environment (default
``/tmp/venv-pymc/bin/python`` or ``$PYMC_PYTHON``); NumPyro likewise (``$NUMPYRO_PYTHON``).
A framework whose interpreter is missing is skipped.  BLAS threads are pinned to 1.
Prints a table and writes ``benchmarks/results/vi.json``.

Columns: steady-state microseconds per step (median of repeats; symvi: ``refine(N)/N`` on the
compiled loop; PyMC/NumPyro: difference of a long and a short call, which cancels their
per-call compile), first fit wall time for 10 000 steps (compile included), the fixed cost of
``refine(10)``, and the mean loss over steps 9 000-10 000 of the first fit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _has_jax() -> bool:
    import importlib.util

    return importlib.util.find_spec("jax") is not None


def run_worker(python, name, args):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    cmd = [python, str(HERE / "workers" / f"{name}_worker.py"), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        print(f"[{name}] failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return []
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows):
    keys = sorted({(r["workload"], r["method"]) for r in rows})
    by = {(r["framework"], r["workload"], r["method"]): r for r in rows}
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    lines = ["| workload | method | framework | us/step | first fit s | refine(10) s | final loss | peak MB | PyMC/this per step |", "|---|---|---|---|---|---|---|---|---|"]
    for w, m in keys:
        base = by.get(("pymc", w, m))
        for fw in ("symvi-numba", "symvi-c", "symvi-jax", "pymc", "numpyro"):
            r = by.get((fw, w, m))
            if r is None:
                continue
            ratio = base["us_per_step"] / r["us_per_step"] if base and fw.startswith("symvi") else None
            lines.append(f"| {w} | {m} | {fw} | {fmt(r['us_per_step'], '.1f')} | {fmt(r['first_fit_s'], '.2f')} | "
                         f"{fmt(r['refine10_s'], '.3f')} | {fmt(r['final_loss'], '.2f')} | {fmt(r.get('peak_mb'), '.0f')} | {fmt(ratio, '.1f')} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pymc-python", default=os.environ.get("PYMC_PYTHON", "/tmp/venv-pymc/bin/python"))
    p.add_argument("--numpyro-python", default=os.environ.get("NUMPYRO_PYTHON", "/tmp/venv-numpyro/bin/python"))
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    p.add_argument("--backends", default="numba,c" + (",jax" if _has_jax() else ""), help="symvi backends, comma-separated")
    a = p.parse_args(argv)
    args = (2000, 4000, 1) if a.quick else (10000, 20000, 5)
    rows = []
    for backend in a.backends.split(","):
        rows += run_worker(sys.executable, "symvi", (*args, backend))
    for name, python in (("pymc", a.pymc_python), ("numpyro", a.numpyro_python)):
        if Path(python).exists():
            rows += run_worker(python, name, args)
        else:
            print(f"[{name}] interpreter {python} not found: skipped", file=sys.stderr)
    print(table(rows))
    out = HERE / "results" / "vi.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
