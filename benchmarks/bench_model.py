"""Model-building and compile-time benchmarks.

Times (median of ``--repeats``, plus the first repeat, which pays numba's JIT when its on-disk
cache is cold):

* building a 1000-variable chain model ``x_i ~ Normal(x_{i-1}, 1)``;
* for each seed model: building it, ``compile_logp()`` + ``compile_dlogp()`` (graph
  rewriting and linking) and the first call of both (numba compiles lazily on first call),
  with the default PyTensor mode unless ``--mode`` is given.

Usage::

    python benchmarks/bench_model.py [--repeats 5] [--chain 1000] [--full] [--mode NUMBA]
    python benchmarks/bench_model.py --profile    # cProfile of one chain-model build

Writes ``benchmarks/results/model.json``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # seed-model builders live with their tests

warnings.filterwarnings("ignore")

import pytensor  # noqa: E402

import symvi as pm  # noqa: E402
import test_seed_models as seeds  # noqa: E402


def build_chain(n: int):
    with pm.Model() as m:
        x = pm.Normal("x_0", 0.0, 1.0)
        for i in range(1, n):
            x = pm.Normal(f"x_{i}", x, 1.0)
    return m


def _timeit(fn, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return times, out


def bench_chain(n, repeats):
    times, m = _timeit(lambda: build_chain(n), repeats)
    assert len(m.free_RVs) == n
    return {"n_vars": n, "first_s": times[0], "median_s": statistics.median(times), "times_s": times}


def profile_chain(n, top=25):
    prof = cProfile.Profile()
    prof.enable()
    build_chain(n)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(top)
    return buf.getvalue()


def bench_seed(name, builder, repeats, mode):
    rows = {"build": [], "initial_point": [], "compile": [], "first_call": [], "total": []}
    value = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = builder()
        t1 = time.perf_counter()
        point = m.initial_point()
        t1b = time.perf_counter()
        rows["initial_point"].append(t1b - t1)
        t1 = t1b
        logp = pm.logprob.compile_logp(m, mode=mode)
        dlogp = pm.logprob.compile_dlogp(m, mode=mode)
        t2 = time.perf_counter()
        value = float(logp(point))
        dlogp(point)
        t3 = time.perf_counter()
        rows["build"].append(t1 - t0 - rows["initial_point"][-1])
        rows["compile"].append(t2 - t1)
        rows["first_call"].append(t3 - t2)
        rows["total"].append(t3 - t1)
    out = {k + "_median_s": statistics.median(v) for k, v in rows.items()}
    out.update({k + "_first_s": v[0] for k, v in rows.items()})
    out["logp_at_initial_point"] = value
    out["n_free"] = len(m.free_RVs)
    out["size_free"] = int(sum(np.size(v) for v in m.initial_point().values()))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--chain", type=int, default=1000, help="variables in the chain model")
    ap.add_argument("--normal-rows", type=int, default=40000, help="rows of the wide-normal seed data")
    ap.add_argument("--mode", default=None, help="PyTensor mode (default: pytensor's default)")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of one chain build")
    ap.add_argument("--out", default=str(HERE / "results" / "model.json"))
    args = ap.parse_args(argv)

    if args.profile:
        print(profile_chain(args.chain))
        return

    seed_builders = {"gamma": seeds.build_gamma}
    if hasattr(pm, "NormalMixture") and hasattr(pm, "Dirichlet"):
        seed_builders["normal_mixture"] = seeds.build_mixture
    if hasattr(pm, "Categorical"):
        seed_builders["iris_logistic"] = seeds.build_iris
    normal_data = seeds.normal_data(args.normal_rows, 100)
    seed_builders[f"normal_{args.normal_rows}x100"] = lambda: seeds.build_normal(normal_data)
    if hasattr(pm, "Poisson"):
        seed_builders["poisson_gamma"] = seeds.build_poisson_gamma

    results = {
        "meta": {
            "python": platform.python_version(),
            "pytensor": pytensor.__version__,
            "mode": args.mode or str(pytensor.config.mode),
            "linker": pytensor.config.linker,
            "repeats": args.repeats,
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
        },
        "chain_build": bench_chain(args.chain, args.repeats),
        "seeds": {},
    }
    for name, builder in seed_builders.items():
        try:
            results["seeds"][name] = bench_seed(name, builder, args.repeats, args.mode)
        except Exception as err:  # noqa: BLE001 - a broken seed is reported, not fatal
            results["seeds"][name] = {"error": f"{type(err).__name__}: {err}"}

    cb = results["chain_build"]
    print(f"PyTensor {pytensor.__version__}, mode={results['meta']['mode']}, repeats={args.repeats}")
    print(f"\nbuild {cb['n_vars']}-variable chain model: median {cb['median_s']:.3f} s (first {cb['first_s']:.3f} s)")
    hdr = f"{'seed model':<22}{'build':>9}{'init pt':>9}{'compile':>10}{'1st call':>10}{'total':>9}{'total 1st':>11}"
    print("\nlogp + dlogp (seconds, median; 'total' = compile + first call)\n" + hdr + "\n" + "-" * len(hdr))
    for name, r in results["seeds"].items():
        if "error" in r:
            print(f"{name:<22}FAILED: {r['error'][:120]}")
            continue
        print(
            f"{name:<22}{r['build_median_s']:>9.3f}{r['initial_point_median_s']:>9.3f}{r['compile_median_s']:>10.3f}"
            f"{r['first_call_median_s']:>10.3f}{r['total_median_s']:>9.3f}{r['total_first_s']:>11.3f}"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
