"""SVGD speed on the seed notebook's iris model: symvi vs PyMC 5.28, side by side.

Usage::

    python benchmarks/bench_svgd.py [--pymc-python PATH] [--quick] [--no-cold]

Model (as in the seed notebook): ``β ~ Normal(0, 1e2, shape=(4, 3))``, ``a ~ Normal(0, 1e4,
shape=3)``, ``obs ~ Categorical(softmax(X·β + a))`` on 112 training rows of iris (sklearn's
when importable, else a synthetic 3-class stand-in; the parent process makes the data once
and hands the same arrays to every worker).  Inference: ``SVGD(n_particles, jitter=1)`` with
``adamax(learning_rate=0.1)``.

Each framework runs in its own interpreter (PyMC pins an older pytensor; default
``/tmp/venv-pymc/bin/python`` or ``$PYMC_PYTHON``; skipped if missing), BLAS threads pinned
to 1.  Columns:

* ``ms/step``: steady-state milliseconds per SVGD step, median of repeats.  symvi:
  ``refine(N) / N`` on the compiled loop.  PyMC recompiles on every ``fit`` call, so its figure
  is the difference of a long and a short ``fit`` divided by the step difference.
* ``first fit s``: wall time of building the inference and the first ``fit(N_first)`` in a
  fresh process, compile included - with the on-disk compile caches as they are ("warm") and,
  unless ``--no-cold``, with an empty temporary compile directory ("cold").
* ``test acc``: accuracy on the 38 held-out rows of the particle-averaged predictive after
  the first fit (sanity check that both runs learn).

Prints a markdown table and writes ``benchmarks/results/svgd.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


# ---------------------------------------------------------------------- data (parent only)
def iris_data(seed: int = 0, synthetic: bool = False):
    try:
        if synthetic:  # the same numbers in every interpreter, whether sklearn is there or not
            raise ImportError
        from sklearn.datasets import load_iris

        X, y = load_iris(return_X_y=True)
        source = "sklearn"
    except ImportError:
        rng = np.random.default_rng(seed)
        centers = np.array([[5.0, 3.4, 1.5, 0.25], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
        y = np.repeat(np.arange(3), 50)
        X = centers[y] + rng.normal(scale=[0.35, 0.3, 0.25, 0.15], size=(150, 4))
        source = "synthetic"
    perm = np.random.default_rng(seed + 1).permutation(len(y))
    tr, te = perm[:112], perm[112:]
    return X[tr], X[te], y[tr], y[te], source


# ---------------------------------------------------------------------- worker (either framework)
def worker(framework: str, data_path: str, n_particles: int, n_first: int, n_long: int, repeats: int) -> dict:
    d = np.load(data_path)
    X_train, X_test, y_train, y_test = d["X_train"], d["X_test"], d["y_train"], d["y_test"]
    t0 = time.perf_counter()
    if framework == "symvi":
        import symvi as pm
    else:
        import pymc as pm
    import pytensor
    import pytensor.tensor as pt

    t_import = time.perf_counter() - t0
    Xt = pytensor.shared(X_train)
    yt = pytensor.shared(y_train)
    t0 = time.perf_counter()
    with pm.Model():
        β = pm.Normal("β", 0, sigma=1e2, shape=(4, 3))
        a = pm.Normal("a", sigma=1e4, shape=(3,))
        p = pt.special.softmax(Xt.dot(β) + a, axis=-1)
        pm.Categorical("obs", p=p, observed=yt)
        inference = pm.SVGD(n_particles=n_particles, jitter=1, random_seed=1)
        opt = pm.adamax(learning_rate=0.1)
        inference.fit(n_first, obj_optimizer=opt, progressbar=False)
        first = time.perf_counter() - t0
        hist = np.asarray(inference.approx.histogram.get_value())
        if framework == "symvi":
            # the compiled loop is cached: refine runs it without recompiling
            times = [_timed(lambda: inference.refine(n_long, progressbar=False)) / n_long for _ in range(repeats)]
            per_step = statistics.median(times)
        else:
            # every PyMC fit call recompiles its step: difference of a long and a short call
            short = n_long // 5
            t_long = statistics.median(_timed(lambda: inference.fit(n_long, obj_optimizer=opt, progressbar=False)) for _ in range(repeats))
            t_short = statistics.median(_timed(lambda: inference.fit(short, obj_optimizer=opt, progressbar=False)) for _ in range(repeats))
            per_step = (t_long - t_short) / (n_long - short)
    # particle-averaged predictive on the test rows; both keep β (4x3, row-major) then a
    beta = hist[:, :12].reshape(-1, 4, 3)
    alpha = hist[:, 12:15]
    logits = np.einsum("nf,pfk->pnk", X_test, beta) + alpha[:, None, :]
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    acc = float(np.mean(probs.mean(0).argmax(-1) == y_test))
    return {
        "framework": framework,
        "version": pm.__version__,
        "n_particles": n_particles,
        "ms_per_step": per_step * 1e3,
        "first_fit_s": first,
        "first_fit_steps": n_first,
        "import_s": t_import,
        "test_accuracy": acc,
    }


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# ---------------------------------------------------------------------- parent
def run_worker(python: str, framework: str, data_path: str, args, cold: bool):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    tmp = None
    if cold:
        tmp = tempfile.TemporaryDirectory(prefix=f"bench_svgd_{framework}_")
        env["PYTENSOR_FLAGS"] = ",".join(filter(None, [env.get("PYTENSOR_FLAGS", ""), f"base_compiledir={tmp.name}"]))
    cmd = [python, str(Path(__file__).resolve()), "--worker", framework, data_path, *map(str, args)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(HERE.parent))
    finally:
        if tmp is not None:
            tmp.cleanup()
    if proc.returncode != 0:
        print(f"[{framework}{' cold' if cold else ''}] failed:\n{proc.stderr[-3000:]}", file=sys.stderr)
        return None
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["cache"] = "cold" if cold else "warm"
    return row


def table(rows) -> str:
    lines = [
        "| framework | particles | cache | ms/step | first fit s (incl. compile) | test acc | symvi speed-up per step |",
        "|---|---|---|---|---|---|---|",
    ]
    by = {(r["framework"], r["n_particles"], r["cache"]): r for r in rows}
    for r in sorted(rows, key=lambda r: (r["n_particles"], r["cache"] != "warm", r["framework"] != "symvi")):
        ref = by.get(("pymc", r["n_particles"], r["cache"]))
        ratio = f"{ref['ms_per_step'] / r['ms_per_step']:.1f}x" if ref and r["framework"] == "symvi" else "-"
        lines.append(
            f"| {r['framework']} {r['version']} | {r['n_particles']} | {r['cache']} | {r['ms_per_step']:.2f} | "
            f"{r['first_fit_s']:.1f} ({r['first_fit_steps']} steps) | {r['test_accuracy']:.3f} | {ratio} |"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pymc-python", default=os.environ.get("PYMC_PYTHON", "/tmp/venv-pymc/bin/python"))
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats (smoke run)")
    p.add_argument("--no-cold", action="store_true", help="skip the empty-compile-cache runs")
    p.add_argument("--particles", default="500,100", help="comma-separated particle counts (default 500,100)")
    a = p.parse_args(argv)
    n_first, n_long, repeats = (20, 50, 1) if a.quick else (100, 500, 5)
    X_train, X_test, y_train, y_test, source = iris_data()
    data = tempfile.NamedTemporaryFile(suffix=".npz", delete=False)
    np.savez(data.name, X_train=X_train, X_test=X_test, y_train=y_train, y_test=y_test)
    frameworks = [("symvi", sys.executable)]
    if Path(a.pymc_python).exists():
        frameworks.append(("pymc", a.pymc_python))
    else:
        print(f"[pymc] interpreter {a.pymc_python} not found: skipped", file=sys.stderr)
    rows = []
    try:
        for n in (int(s) for s in a.particles.split(",")):
            for cold in ([False] if a.no_cold else [False, True]):
                for name, python in frameworks:
                    # the warm run goes twice: the first fills the on-disk caches
                    if not cold:
                        run_worker(python, name, data.name, (n, n_first, 10, 1), False)
                    row = run_worker(python, name, data.name, (n, n_first, n_long, repeats), cold)
                    if row is not None:
                        rows.append(row)
    finally:
        os.unlink(data.name)
    print(table(rows))
    out = HERE / "results" / "svgd.json"
    out.parent.mkdir(exist_ok=True)
    meta = {"data": source, "n_train": len(y_train), "n_test": len(y_test), "steps_first_fit": n_first,
            "steps_timed": n_long, "repeats": repeats, "cpus": os.cpu_count(), "machine": platform.machine(),
            "python": platform.python_version()}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        fw, path, *nums = sys.argv[2:]
        print(json.dumps(worker(fw, path, *(int(x) for x in nums))))
    else:
        main()
