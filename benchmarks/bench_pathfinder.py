"""Pathfinder against a 20 000-step FullRankADVI on the posteriordb posteriors.

Usage::

    python benchmarks/bench_pathfinder.py [--steps 20000] [--posteriors kidiq,sblrc,...] [--draws 10000]

For each posterior in ``shared/posteriordb`` (models in ``benchmarks/posteriordb_models.py``):
single-path Pathfinder (``num_paths=1``), multi-path Pathfinder (4 paths, PSIS resampling)
and FullRankADVI with the accuracy benchmark's settings (Adam decaying from 0.1 to 1e-5,
4 draws per step: :func:`accuracy.fit_symvi`), all seed 1, Numba backend.  Reported per run:
the standardised mean error (max and median over parameters) and the sd ratios against
the reference NUTS posterior (10 000 draws of the approximation), PSIS k-hat, gradient
evaluations (Pathfinder: the L-BFGS runs'; ADVI: steps x draws per step), all
log-density evaluations, and the wall time of the fit: the first call (compile included,
Numba's disk cache warm or cold as it comes) and, in brackets, without compiling
(Pathfinder: a second identical call, which reuses the compiled log density kept on the
model; FullRankADVI: ``refine`` for the same number of steps on the compiled loop).  Prints a markdown table and writes
``benchmarks/results/pathfinder.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accuracy import SETTINGS, fit_symvi, meets_bar  # noqa: E402
from posteriordb_models import POSTERIORS, accuracy, build, load  # noqa: E402

SEED = SETTINGS["seed"]


def run_pathfinder(posterior: str, num_paths: int, draws: int) -> dict:
    import symvi as pm

    data, ref = load(posterior)
    model = build(posterior, data, pm)
    row = {"posterior": posterior, "method": f"pathfinder ({'single' if num_paths == 1 else f'{num_paths} paths'})"}
    times = []
    try:
        with model:
            for _ in range(2):
                t0 = time.perf_counter()
                q = pm.Pathfinder(num_paths=num_paths, random_seed=SEED).fit(progressbar=False)
                times.append(time.perf_counter() - t0)
    except Exception as err:  # noqa: BLE001 - a failed run is a result too
        row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
        return row
    info = q.pathfinder
    row.update(fit_s=times[0], warm_fit_s=times[1], grad_evals=info.n_grad_evals, logp_evals=info.n_logp_evals,
               iterations=sum(p.iterations for p in info.paths))
    row.update(accuracy(q.sample(draws, random_seed=SEED, return_inferencedata=False), ref))
    row["khat"] = float(q.diagnose(2000, random_seed=SEED).khat)
    return row


def run_fullrank(posterior: str, steps: int, draws: int) -> dict:
    _, ref = load(posterior)
    row = {"posterior": posterior, "method": f"fullrank_advi ({steps} steps)"}
    try:
        _, approx, first = fit_symvi(posterior, "fullrank_advi", steps, SEED)
        draws_now = approx.sample(draws, random_seed=SEED, return_inferencedata=False)
        khat = float(approx.diagnose(2000, random_seed=SEED).khat)
        t0 = time.perf_counter()  # the same number of steps on the already compiled loop
        approx.inference.refine(steps, progressbar=False)
        second = time.perf_counter() - t0
    except Exception as err:  # noqa: BLE001
        row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
        return row
    n_mc = SETTINGS["obj_n_mc"]
    row.update(fit_s=first, warm_fit_s=second, grad_evals=steps * n_mc, logp_evals=steps * n_mc, iterations=steps)
    row.update(accuracy(draws_now, ref))
    row["khat"] = khat
    return row


def table(rows) -> str:
    lines = [
        "| posterior | method | max err | median err | sd ratio min / median / max | k-hat | gradient evals (all logp evals) | fit s (warm) | bar |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['posterior']} | {r['method']} | failed: {' '.join(r['error'].split())[:70]} | | | | | | no |")
            continue
        sd = f"{r['min_sd_ratio']:.2f} / {r['median_sd_ratio']:.2f} / {r['max_sd_ratio']:.2f}"
        lines.append(
            f"| {r['posterior']} | {r['method']} | {r['max_mean_err']:.3f} | {r['median_mean_err']:.3f} | {sd} | "
            f"{r['khat']:.2f} | {r['grad_evals']} ({r['logp_evals']}) | {r['fit_s']:.1f} ({r['warm_fit_s']:.2f}) | "
            f"{'yes' if meets_bar(r) else 'no'} |"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=20_000, help="FullRankADVI steps")
    p.add_argument("--draws", type=int, default=10_000)
    p.add_argument("--posteriors", default=",".join(POSTERIORS))
    p.add_argument("--out", default=str(HERE / "results" / "pathfinder.json"))
    a = p.parse_args(argv)
    rows = []
    for post in a.posteriors.split(","):
        for run in (lambda: run_pathfinder(post, 1, a.draws), lambda: run_pathfinder(post, 4, a.draws), lambda: run_fullrank(post, a.steps, a.draws)):
            row = run()
            print(f"[bench] {json.dumps({k: v for k, v in row.items() if k != 'params'})}", file=sys.stderr, flush=True)
            rows.append(row)
    print(table(rows))
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"steps": a.steps, "draws": a.draws, "seed": SEED, "rows": rows}, indent=1, default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
