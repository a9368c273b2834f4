"""First result latency: ``pm.fit(N, method="fullrank_advi")`` wall time in a fresh process.

Each cell is one fresh process (benchmarks/workers/first_fit_worker.py) fitting one model
with PyTensor's compile directory in one of three states:

* ``cold``: empty (a fresh install: no C op modules, no Numba cache);
* ``library``: warmed by fitting another model (a 3-predictor regression) once, as a user
  who ran anything before: the notebook situation of a model never compiled before;
* ``warm``: the same model was fitted before (re-running an unchanged cell in a new process).

Configurations: symvi's default (a loop new to Numba starts on the JAX tier and moves to Numba
when a background process has compiled it - see ``symvi/variational/tiers.py``), ``"numba"``
(the default until session 10), ``"auto"`` (the same tiers; where JAX is missing the quick C
VM first; its library state is warmed with ``auto`` too), ``"c"``, ``"jax"`` (JAX's own random
draws), Numba without ``symvi/numba_compile.py`` ("symvi numba-plain", ``SYMVI_NUMBA_GLUE=0``), PyMC 5.28.5
(``$PYMC_PYTHON``, default ``/tmp/venv-pymc/bin/python``) and NumPyro (``$NUMPYRO_PYTHON``;
JAX keeps no compile cache between processes, so it has one column; only the seed
workloads it implements).  Missing interpreters are skipped.

Usage::

    python benchmarks/bench_first_fit.py [--models gamma,kidiq] [--states cold,library,warm] [-n 20000]
    python benchmarks/bench_first_fit.py --tracker --states library   # watched: a Tracker at every step
    python benchmarks/bench_first_fit.py --oneoff 5      # goal 3: first one-off calls of a process
    python benchmarks/bench_first_fit.py --phases gamma_lognormal,gamma_halfcauchy

Writes ``benchmarks/results/first_fit.json`` and prints a markdown table.  ``--oneoff R``
instead times the first ``approx.sample(1000)``, ``diagnose()``, ``sample_node(...).eval()``
and ``sample_posterior_predictive`` of a fresh process after a fit of the seed gamma model
(benchmarks/workers/oneoff_worker.py; library-warm compile directory; R processes, medians of
wall and process CPU seconds), as a script runs them (right after the fit), as a script that
imports ArviZ at its top does (PyMC's examples start with ``import arviz as az``) and as a
notebook does (an interactive session, the calls in a cell 3 s after the fit's).  ``--phases M,...`` splits a FullRankADVI fit's process CPU
time into PyTensor rewriting, Numba conversion, Numba compile and the rest
(benchmarks/workers/phase_worker.py), first for the model as a new structure (library-warm),
then fully warm.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "workers" / "first_fit_worker.py"
ONEOFF_WORKER = HERE / "workers" / "oneoff_worker.py"
PHASE_WORKER = HERE / "workers" / "phase_worker.py"
MODELS = ["gamma", "mixture", "logreg", "digits", "eight_schools", "kidiq", "sblrc", "low_dim_gauss_mix", "iris"]
#: models fitted otherwise than ``--method`` / ``-n``: the seed notebook's iris model with SVGD
#: (100 particles, each framework's default optimizer), 1 000 steps
MODEL_RUNS = {"iris": ("svgd", 1000)}
NUMPYRO_MODELS = {"gamma", "logreg", "digits"}
SYMVI_CONFIGS = {
    "symvi default": None,
    "symvi numba": "numba",
    "symvi auto": "auto",
    "symvi c": "c",
    "symvi jax": "jax",
    "symvi numba-plain": "numba",
}
#: environment of a configuration: "numba-plain" is the default without symvi.numba_compile
CONFIG_ENV = {"symvi numba-plain": {"SYMVI_NUMBA_GLUE": "0"}}


def run(python, framework, model, method, n, base, backend=None, timeout=900, wait=False, extra_env=None):
    """One fresh process; ``wait``: it lets symvi's background compile finish before exiting."""
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={base}", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.update(extra_env or {})
    if wait:
        env["FIRST_FIT_WAIT"] = "1"
    cmd = [python, str(WORKER), framework, model, method, str(n)] + ([backend] if backend else [])
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout}s"}
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(lines[0])


def library_dir(python, framework, root: Path, backend=None, extra_env=None) -> Path:
    """A compile directory warmed by the warm-up model (ADVI and FullRankADVI), fitted with the
    configuration's own backend (a user of ``auto`` has the C op modules its earlier fits left)."""
    base = root / f"library-{framework.replace(' ', '_')}-{backend or 'default'}"
    if not base.exists():
        for method in ("advi", "fullrank_advi"):
            run(python, framework.split()[0], "warmup", method, 200, base, backend, wait=True, extra_env=extra_env)
    return base


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--states", default="cold,library,warm")
    p.add_argument("--configs", default="symvi default,symvi numba,pymc,numpyro")
    p.add_argument("--method", default="fullrank_advi")
    p.add_argument("-n", type=int, default=20000)
    p.add_argument("--pymc-python", default=os.environ.get("PYMC_PYTHON", "/tmp/venv-pymc/bin/python"))
    p.add_argument("--numpyro-python", default=os.environ.get("NUMPYRO_PYTHON", "/tmp/venv-numpyro/bin/python"))
    p.add_argument("--out", default=str(HERE / "results" / "first_fit.json"))
    p.add_argument("--oneoff", type=int, default=0, help="time first one-off calls in R fresh processes")
    p.add_argument("--phases", default="", help="models whose first/warm fit CPU time to split by phase")
    p.add_argument("--tracker", action="store_true", help="watched fits: a Tracker of q's mean and sd at every step")
    args = p.parse_args(argv)
    if args.tracker:
        os.environ["FIRST_FIT_TRACKER"] = "1"
    if args.oneoff or args.phases:
        return side_runs(args)
    models, states = args.models.split(","), args.states.split(",")
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    pythons = {c: sys.executable for c in SYMVI_CONFIGS}
    pythons["pymc"], pythons["numpyro"] = args.pymc_python, args.numpyro_python
    configs = [c for c in configs if Path(pythons[c]).exists() or print(f"skipping {c}: no {pythons[c]}")]
    root = Path(tempfile.mkdtemp(prefix="symvi-first-fit-"))
    results = []
    try:
        for model in models:
            method, n = MODEL_RUNS.get(model, (args.method, args.n))
            for config in configs:
                python = pythons[config]
                framework = "symvi" if config.startswith("symvi") else config
                if config == "numpyro":
                    if model in NUMPYRO_MODELS:
                        row = run(python, "numpyro", model, method, n, root / "unused")
                        results.append({"model": model, "config": config, "state": "any", **row})
                        print(model, config, "any", row, flush=True)
                    continue
                backend = SYMVI_CONFIGS.get(config)
                extra = CONFIG_ENV.get(config)
                lib_key = "symvi" if framework == "symvi" else framework
                for state in states:
                    if state == "cold":
                        base = root / f"cold-{model}-{config.replace(' ', '_')}"
                    elif state == "library":
                        base = root / f"lib-{model}-{config.replace(' ', '_')}"
                        shutil.copytree(library_dir(python, lib_key, root, backend, extra), base)
                    else:  # warm: the library run's directory, which now holds this model too
                        base = root / f"lib-{model}-{config.replace(' ', '_')}"
                        if not base.exists():
                            shutil.copytree(library_dir(python, lib_key, root, backend, extra), base)
                            run(python, framework, model, method, n, base, backend, wait=True, extra_env=extra)
                    row = run(python, framework, model, method, n, base, backend, wait=state == "library", extra_env=extra)
                    results.append({"model": model, "config": config, "state": state, **row})
                    print(model, config, state, row, flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"n": args.n, "method": args.method, "rows": results}, indent=1))
    print_table(results)
    return 0


def _json_line(cmd, env):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[0]) if lines else {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:200]}


def side_runs(args) -> int:
    """``--oneoff`` and ``--phases``: fresh symvi processes on a library-warm compile directory."""
    import statistics

    root = Path(tempfile.mkdtemp(prefix="symvi-first-fit-"))
    try:
        lib = library_dir(sys.executable, "symvi", root)
        env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={lib}", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        if args.oneoff:
            calls = ["sample", "diagnose", "sample_node", "ppc"]
            _json_line([sys.executable, str(ONEOFF_WORKER), *calls], env)  # compiles the gamma model once
            # a script (calls right after the fit), a script that imports ArviZ at its top (as
            # PyMC's docs do: `import arviz as az`) and a notebook (interactive, next cell 3 s later)
            cases = [env, dict(env, ONEOFF_IMPORT_ARVIZ="1"), dict(env, ONEOFF_PAUSE="3")]
            runs = [[_json_line([sys.executable, str(ONEOFF_WORKER), *calls], e) for _ in range(args.oneoff)] for e in cases]
            rows, az_rows, nb_rows = ([r for r in rs if "error" not in r] for rs in runs)
            print(
                f"| first call in a fresh process (medians of {len(rows)} / {len(az_rows)} / {len(nb_rows)}) "
                "| script: wall s | process CPU s | script with `import arviz` at its top: wall s | notebook, next cell: wall s |"
            )
            print("|---|---|---|---|---|")
            for call in ["fit"] + calls:
                wall = statistics.median(r[call]["wall_s"] for r in rows)
                cpu = statistics.median(r[call]["cpu_s"] for r in rows)
                az_wall = statistics.median(r[call]["wall_s"] for r in az_rows)
                nb_wall = statistics.median(r[call]["wall_s"] for r in nb_rows)
                print(f"| {call} | {wall:.3f} | {cpu:.3f} | {az_wall:.3f} | {nb_wall:.3f} |")
        for model in [m for m in args.phases.split(",") if m]:
            for state in ("new structure", "fully warm"):
                row = _json_line([sys.executable, str(PHASE_WORKER), model, str(args.n)], env)
                print(model, state, json.dumps(row), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def print_table(results):
    cols = []
    for r in results:
        key = (r["config"], r["state"])
        if key not in cols:
            cols.append(key)
    models = list(dict.fromkeys(r["model"] for r in results))
    cell = {(r["model"], r["config"], r["state"]): r for r in results}
    print("| model | " + " | ".join(f"{c} {s}" for c, s in cols) + " | PyMC / symvi default (library) | same, import + fit |")
    print("|---" * (len(cols) + 3) + "|")
    for m in models:
        vals = []
        for c, s in cols:
            r = cell.get((m, c, s))
            vals.append("-" if r is None else ("err" if "error" in r else f"{r['fit_s']:.1f}"))
        a, b = cell.get((m, "pymc", "library")), cell.get((m, "symvi default", "library"))
        both = a and b and "fit_s" in a and "fit_s" in b
        ratio = f"{a['fit_s'] / b['fit_s']:.1f}x" if both else "-"
        total = f"{(a['fit_s'] + a['import_s']) / (b['fit_s'] + b['import_s']):.1f}x" if both else "-"
        print(f"| {m} | " + " | ".join(vals) + f" | {ratio} | {total} |")


if __name__ == "__main__":
    sys.exit(main())
