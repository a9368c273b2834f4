"""Pathfinder against a 20 000-step FullRankADVI on the posteriordb posteriors.

Usage::

    python benchmarks/bench_pathfinder.py [--steps 20000] [--posteriors kidiq,sblrc,...] [--draws 10000]

For each posterior in ``shared/posteriordb`` (models in ``benchmarks/posteriordb_models.py``):
single-path Pathfinder (``num_paths=1``), multi-path Pathfinder (PSIS resampling) with Stan's
defaults (4 paths, starts jittered by 2, 1000 proposals per path) and symvi's (16 paths,
jitter 10, 4000 proposals in all)
and FullRankADVI with the accuracy benchmark's settings (Adam decaying from 0.1 to 1e-5,
4 draws per step: :func:`accuracy.fit_symvi`), all seed 1, Numba backend.  Reported per run:
the standardised mean error (max and median over parameters) and the sd ratios against
the reference NUTS posterior (10 000 draws of the approximation), PSIS k-hat, gradient
evaluations (Pathfinder: the L-BFGS runs'; ADVI: steps x draws per step), all
log-density evaluations, and the wall time of the fit: the first call (compile included,
Numba's disk cache warm or cold as it comes) and, in brackets, "warm": with everything
compiled in this process (Pathfinder: the median of 3 repeated identical calls, which reuse
the compiled log density kept on the model; FullRankADVI: the median of 3 ``refine`` calls
of the same number of steps on its compiled loop; the three methods take turns, so a change
in the load of a shared machine hits them alike).  The warm ratio is the fair one: the
first-call times depend on what the on-disk caches held for each graph.  Both use the
Numba backend.  Prints a markdown table and the machine's load average at the start and
the end, and writes ``benchmarks/results/pathfinder.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from accuracy import SETTINGS, fit_symvi, meets_bar  # noqa: E402
from posteriordb_models import POSTERIORS, accuracy, build, load  # noqa: E402

SEED = SETTINGS["seed"]
REPEATS = 3  # warm timings: median of this many repeated calls


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_pathfinder(posterior: str, num_paths: int, draws: int, label: str = "", **kwargs):
    """(row, warm call) for one Pathfinder variant (``kwargs`` for ``pm.Pathfinder``; none:
    symvi's defaults): the row has the first call's time."""
    import symvi as pm

    data, ref = load(posterior)
    model = build(posterior, data, pm)
    label = label or ("single" if num_paths == 1 else f"{num_paths} paths")
    row = {"posterior": posterior, "method": f"pathfinder ({label})"}

    def call():
        with model:
            return pm.Pathfinder(num_paths=num_paths, random_seed=SEED, **kwargs).fit(progressbar=False)

    try:
        t0 = time.perf_counter()
        q = call()
        row["fit_s"] = time.perf_counter() - t0
    except Exception as err:  # noqa: BLE001 - a failed run is a result too
        row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
        return row, None
    info = q.pathfinder
    row.update(grad_evals=info.n_grad_evals, logp_evals=info.n_logp_evals, iterations=sum(p.iterations for p in info.paths))
    row.update(accuracy(q.sample(draws, random_seed=SEED, return_inferencedata=False), ref))
    row["khat"] = float(q.diagnose(2000, random_seed=SEED).khat)
    return row, call


def run_fullrank(posterior: str, steps: int, draws: int):
    """(row, warm call) for FullRankADVI: the warm call is ``refine(steps)`` on the compiled loop."""
    _, ref = load(posterior)
    row = {"posterior": posterior, "method": f"fullrank_advi ({steps} steps)"}
    try:
        _, approx, row["fit_s"] = fit_symvi(posterior, "fullrank_advi", steps, SEED)
        draws_now = approx.sample(draws, random_seed=SEED, return_inferencedata=False)
        khat = float(approx.diagnose(2000, random_seed=SEED).khat)
    except Exception as err:  # noqa: BLE001
        row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
        return row, None
    n_mc = SETTINGS["obj_n_mc"]
    row.update(grad_evals=steps * n_mc, logp_evals=steps * n_mc, iterations=steps)
    row.update(accuracy(draws_now, ref))
    row["khat"] = khat
    return row, lambda: approx.inference.refine(steps, progressbar=False)


def warm_times(rows_calls) -> None:
    """Set each row's ``warm_fit_s``: the median of ``REPEATS`` warm calls, the methods of a
    posterior taking turns (so a change in the machine's load hits all of them alike)."""
    times = [[] for _ in rows_calls]
    for _ in range(REPEATS):
        for k, (_, call) in enumerate(rows_calls):
            if call is not None:
                times[k].append(_timed(call))
    for (row, call), t in zip(rows_calls, times):
        if call is not None:
            row["warm_fit_s"] = float(np.median(t))


def table(rows) -> str:
    """Markdown table; Pathfinder rows carry the FullRankADVI row's gradient-evaluation and
    warm wall-time ratios (FullRankADVI / Pathfinder) of the same posterior."""
    lines = [
        "| posterior | method | max err | median err | sd ratio min / median / max | k-hat | gradient evals (all logp evals) | fit s first (warm) | FR/PF grads, warm time | bar |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    fullrank = {r["posterior"]: r for r in rows if r["method"].startswith("fullrank") and "error" not in r}
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['posterior']} | {r['method']} | failed: {' '.join(r['error'].split())[:70]} | | | | | | | no |")
            continue
        sd = f"{r['min_sd_ratio']:.2f} / {r['median_sd_ratio']:.2f} / {r['max_sd_ratio']:.2f}"
        fr = fullrank.get(r["posterior"])
        ratio = "-"
        if fr is not None and r is not fr:
            ratio = f"{fr['grad_evals'] / r['grad_evals']:.0f}x, {fr['warm_fit_s'] / r['warm_fit_s']:.1f}x"
        lines.append(
            f"| {r['posterior']} | {r['method']} | {r['max_mean_err']:.3f} | {r['median_mean_err']:.3f} | {sd} | "
            f"{r['khat']:.2f} | {r['grad_evals']} ({r['logp_evals']}) | {r['fit_s']:.1f} ({r['warm_fit_s']:.3f}) | {ratio} | "
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
    load_before = os.getloadavg()
    for post in a.posteriors.split(","):
        runs = [
            run_pathfinder(post, 1, a.draws),
            # Stan's starts and paths (symvi's defaults before session 9)
            run_pathfinder(post, 4, a.draws, "4 paths, jitter 2", jitter=2.0, num_draws_per_path=1000, num_elbo_draws=10),
            run_pathfinder(post, 16, a.draws, "16 paths: defaults"),  # jitter 10, 250 draws per path, 5 ELBO draws
            run_fullrank(post, a.steps, a.draws),
        ]
        warm_times(runs)
        for row, _ in runs:
            print(f"[bench] {json.dumps({k: v for k, v in row.items() if k != 'params'})}", file=sys.stderr, flush=True)
            rows.append(row)
    load_after = os.getloadavg()
    print(table(rows))
    # a shared machine's load inflates every time: read the ratios measured side by side
    print(f"\nload average (1, 5, 15 min) at the start {load_before}, at the end {load_after}")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"steps": a.steps, "draws": a.draws, "seed": SEED, "load_average": {"start": load_before, "end": load_after}}
    out.write_text(json.dumps({**meta, "rows": rows}, indent=1, default=float))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
