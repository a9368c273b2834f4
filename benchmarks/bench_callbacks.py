"""Watched fits, side by side: what callbacks cost per step in symvi, PyMC 5.28 and NumPyro 0.22.

Usage::

    python benchmarks/bench_callbacks.py [--pymc-python PATH] [--numpyro-python PATH] [--quick] [--cpu]

Workload: the seed logistic regression (100 x 10, ADVI, Adam 0.01).  Rows: no callback; a
no-op ``lambda approx, losses, i: None`` every step; the seed notebook's
``Tracker(mean=approx.mean.eval, std=approx.std.eval)`` every step (symvi records it inside
the compiled loop); the same Tracker over plain Python callables (symvi only: calls it from
Python each step); ``CheckParametersConvergence(every=100)``.

Steady state, median of repeats: symvi ``refine(N) / N`` after a warm-up fit; PyMC the
difference of a long and a short ``fit`` (each PyMC call compiles); NumPyro ``svi.run``
(difference of a long and a short run) and, for per-step hooks, a Python loop over a jitted
``svi.update`` calling the hook (the tracker hook copies the guide's loc and scale out).
``--cpu`` times every worker by its process CPU time instead of the wall clock (for a
shared, loaded machine).  A framework whose interpreter is missing is skipped.  Writes
``benchmarks/results/callbacks.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_vi import HERE, run_worker  # noqa: E402

CASES = [
    ("none", "none"),
    ("noop", "no-op callback every step"),
    ("tracker", "Tracker(mean=.eval, std=.eval) every step"),
    ("tracker_python", "Tracker of Python callables every step"),
    ("cpc", "CheckParametersConvergence(every=100)"),
]


def table(rows):
    by = {(r["framework"], r["case"]): r for r in rows}
    cell = lambda fw, case: f"{by[(fw, case)]['us_per_step']:.1f}" if (fw, case) in by else "-"  # noqa: E731
    lines = [
        "| callbacks | symvi (numba) us/step | PyMC 5.28.5 us/step | NumPyro svi.run | NumPyro Python loop + hook |",
        "|---|---|---|---|---|",
    ]
    for case, label in CASES:
        numpyro_run = cell("numpyro", case)
        lines.append(f"| {label} | {cell('symvi-numba', case)} | {cell('pymc', case)} | {numpyro_run} | {cell('numpyro-loop', case)} |")
    refine = by.get(("symvi-numba", "none"))
    if refine:
        lines.append(f"\nsymvi refine(10) time (no callbacks): {refine['refine10_ms']:.2f} ms")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pymc-python", default=os.environ.get("PYMC_PYTHON", "/tmp/venv-pymc/bin/python"))
    p.add_argument("--numpyro-python", default=os.environ.get("NUMPYRO_PYTHON", "/tmp/venv-numpyro/bin/python"))
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    p.add_argument("--cpu", action="store_true", help="time by process CPU time (loaded machines)")
    a = p.parse_args(argv)
    if a.cpu:
        os.environ["BENCH_CLOCK"] = "cpu"  # the workers inherit it
    repeats = 1 if a.quick else 3
    quick = ("quick",) if a.quick else ()
    rows = run_worker(sys.executable, "callbacks_symvi", (repeats, "numba", *quick))
    for name, python in (("pymc", a.pymc_python), ("numpyro", a.numpyro_python)):
        if Path(python).exists():
            rows += run_worker(python, f"callbacks_{name}", (repeats, *quick))
        else:
            print(f"[{name}] interpreter {python} not found: skipped", file=sys.stderr)
    print(f"clock: {'process CPU time' if a.cpu else 'wall'}")
    print(table(rows))
    out = HERE / "results" / "callbacks.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
