"""Warm-up saved by starting NUTS from a variational fit (``pm.sample(init=approx)``).

For two posteriordb posteriors (kidiq: two strongly correlated regression coefficients;
sblrc: a five-coefficient regression), fit FullRankADVI once, then run
``pm.sample(1000, tune=T, chains=2)`` for a range of T with the default start
(``init="auto"``: jittered initial point, identity preconditioner) and with
``init=approx`` (chains start at draws of q; nutpie samples in coordinates whitened by q's
Cholesky factor, so its mass matrix adaptation starts from q's covariance).  Each cell
reports the gradient evaluations of the warm-up and of the kept draws, the minimum bulk ESS,
the maximum R-hat and the largest standardised error of a posterior mean against the
posteriordb reference; medians over ``--seeds`` seeds.  The ADVI fit's own cost (one
gradient per step) is reported beside them.

Usage::

    SYMVI_POSTERIORDB=/path/to/posteriordb python benchmarks/bench_nuts_init.py [--seeds 3]

Writes ``benchmarks/results/nuts_init.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]


def cell(pm, model, ref, tune, init, seed):
    import arviz as az

    from posteriordb_models import accuracy

    t0 = time.perf_counter()
    idata = pm.sample(1000, tune=tune, chains=2, cores=2, random_seed=seed, init=init, progressbar=False, model=model)
    wall = time.perf_counter() - t0
    free = [rv.name for rv in model.free_RVs]
    ess = az.ess(idata, var_names=free)
    rhat = az.rhat(idata, var_names=free)
    post = idata.posterior
    draws = {v: post[v].values.reshape((-1,) + post[v].shape[2:]) for v in post.data_vars}
    return {
        "tune_grads": int(post.attrs["tuning_gradient_evals"]),
        "draw_grads": int(idata.sample_stats["n_steps"].values.sum()),
        "min_ess": float(min(np.min(ess[v].values) for v in free)),
        "max_rhat": float(max(np.max(rhat[v].values) for v in free)),
        "max_mean_err": float(accuracy(draws, ref)["max_mean_err"]),
        "divergences": int(idata.sample_stats["diverging"].values.sum()),
        "wall": wall,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="kidiq,sblrc")
    p.add_argument("--tunes", default="25,50,100,200,400,1000")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--fit-steps", type=int, default=10000)
    p.add_argument("--out", default=str(HERE / "results" / "nuts_init.json"))
    args = p.parse_args(argv)
    import posteriordb_models as pdb

    import symvi as pm

    results = {}
    for name in args.models.split(","):
        data, ref = pdb.load(name)
        model = pdb.build(name, data, pm)
        t0 = time.perf_counter()
        approx = pm.fit(args.fit_steps, method="fullrank_advi", model=model, random_seed=1, progressbar=False)
        fit_s = time.perf_counter() - t0
        rows = {}
        for tune in [int(t) for t in args.tunes.split(",")]:
            for label, init in (("auto", "auto"), ("fullrank_advi", approx)):
                runs = [cell(pm, model, ref, tune, init, seed) for seed in range(1, args.seeds + 1)]
                rows[f"{label} tune={tune}"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                print(name, label, tune, rows[f"{label} tune={tune}"], flush=True)
        results[name] = {"fit_steps": args.fit_steps, "fit_seconds": fit_s, "cells": rows}
    Path(args.out).write_text(json.dumps({"settings": vars(args), "results": results}, indent=1))
    for name, res in results.items():
        print(f"\n{name} (FullRankADVI fit: {res['fit_steps']} steps, {res['fit_seconds']:.1f} s)")
        print("| init | tune | warm-up grads | draw grads | min ESS | max R-hat | max mean err (ref sd) |")
        print("|---|---|---|---|---|---|---|")
        for key, r in res["cells"].items():
            label, tune = key.split(" tune=")
            print(
                f"| {label} | {tune} | {r['tune_grads']:.0f} | {r['draw_grads']:.0f} | {r['min_ess']:.0f} | "
                f"{r['max_rhat']:.3f} | {r['max_mean_err']:.3f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
