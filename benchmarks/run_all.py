"""The whole benchmark suite in one command: VI loops, minibatch/full data, SVGD, model build.

Usage::

    python benchmarks/run_all.py [--quick]

Runs ``bench_vi.py`` (seed gamma, NormalMixture, logistic regression ADVI/FullRankADVI,
Poisson-Gamma digits; symvi on each backend, PyMC 5.28 and NumPyro 0.22 side by side),
``bench_minibatch.py`` (40000x100 minibatch 500 and full batch), ``bench_svgd.py`` (iris,
500 particles) and ``bench_model.py`` (model build and logp compile).  Each prints its table
and writes its JSON under ``benchmarks/results/``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_vi.py", "bench_minibatch.py", "bench_svgd.py", "bench_model.py"]


def main(argv=None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    failed = []
    for script in SCRIPTS:
        print(f"\n=== {script} {' '.join(args)}", flush=True)
        extra = [a for a in args if a == "--quick"] if script != "bench_model.py" else []
        if subprocess.run([sys.executable, str(HERE / script), *extra]).returncode != 0:
            failed.append(script)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
