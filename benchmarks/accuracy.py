"""How close are the approximations to the posterior?  symvi vs PyMC 5.28 on posteriordb.

Usage::

    python benchmarks/accuracy.py [--steps N] [--svgd-steps N] [--quick] [--no-pymc]
                                  [--posteriors kidiq,sblrc,...] [--pymc-python PATH]
    python benchmarks/accuracy.py --defaults [--no-pymc] [--posteriors ...]

``--defaults`` fits as a new user would: every method with its defaults only (symvi:
``fit(n=None)``, started at a single-path Pathfinder Gaussian, the searched-rate Adam run
until the stopping rule holds; Pathfinder single- and 4-path; the Laplace approximation;
PyMC: ``fit()``, 10 000 steps of ``adagrad_window(1e-3)``), and reports steps (Pathfinder:
L-BFGS iterations), gradient evaluations (symvi's ADVI counts include the warm-start path and
the step-size search; Pathfinder's are its L-BFGS runs', and in brackets every log density
it evaluated, the ELBO and importance draws' without gradient), wall time (compile
included), errors and sd ratios.  Methods are the entries of
:data:`DEFAULT_RUNNERS` (name -> function(posterior, seed) -> row), so another method
(e.g. Pathfinder) is one more entry.  Writes ``benchmarks/results/accuracy_defaults.json``.

For the four posteriordb posteriors in ``shared/posteriordb`` (models in
``benchmarks/posteriordb_models.py``), each method is fitted once (seed 1) and 10 000 draws of
the approximation are compared with the reference NUTS posterior per parameter:
``|mean - ref mean| / ref sd`` (standardised mean error) and ``sd / ref sd`` (sd ratio).
The table gives the max and median error, the min/median/max sd ratio, PSIS k-hat (Gaussian
families; :func:`symvi.diagnose`) and the wall time of the fit call (compile included: cold
Numba compiles take 10-60 s, cached on disk for later runs; in brackets for symvi, the same
number of steps on the compiled loop, extrapolated from ``refine(10 000)``).

Methods: ADVI (mean field), FullRankADVI, LowRank (rank 2) and SVGD (100 particles).
symvi uses Adam whose learning rate decays geometrically from 0.1 to 1e-5 over the run
(:func:`scheduled_adam`), with 4 Monte Carlo draws per step.  PyMC runs in its own
interpreter (default ``/tmp/venv-pymc/bin/python`` or ``$PYMC_PYTHON``) at equal steps, twice:
with the same optimizer and draws ("same"), and with its defaults ("default":
``adagrad_window``, learning rate 1e-3, one draw).  PyMC has no low-rank family.

A run "meets the bar" when its max standardised mean error is <= 0.2 and its median sd
ratio lies in [0.8, 1.25]; the tighter goal for FullRankADVI on the near-Gaussian
posteriors (kidiq, sblrc, low_dim_gauss_mix) is max error <= 0.1 and every sd ratio in
[0.9, 1.1].  Prints a table and writes ``benchmarks/results/accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from posteriordb_models import POSTERIORS, accuracy, build, default_root, load  # noqa: E402

METHODS = ("advi", "fullrank_advi", "lowrank_advi", "svgd")
NEAR_GAUSSIAN = ("kidiq", "sblrc", "low_dim_gauss_mix")
SETTINGS = {"lr0": 0.1, "lr_end": 1e-5, "obj_n_mc": 4, "rank": 2, "n_particles": 100, "seed": 1}


def scheduled_adam(steps: int, lr0: float = SETTINGS["lr0"], lr_end: float = SETTINGS["lr_end"]):
    """symvi optimizer: Adam with :func:`symvi.exponential_decay` from ``lr0`` to ``lr_end``.

    The decay lets the first steps travel and the last ones settle: the final iterate's
    jitter is proportional to the learning rate.
    """
    import symvi as pm

    return pm.adam(learning_rate=pm.exponential_decay(lr0, lr_end, steps))


def fit_symvi(posterior: str, method: str, steps: int, seed: int = SETTINGS["seed"], root=None):
    """(model, approximation, fit seconds) for one benchmark run with the benchmark's settings."""
    import symvi as pm

    data, _ = load(posterior, root)
    model = build(posterior, data, pm)
    opt = scheduled_adam(steps)
    with model:
        if method == "svgd":
            inference = pm.SVGD(n_particles=SETTINGS["n_particles"], jitter=1.0, random_seed=seed)
            kwargs = {}
        else:
            if method == "lowrank_advi":
                inference = pm.LowRankADVI(rank=SETTINGS["rank"], random_seed=seed)
            else:
                inference = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI}[method](random_seed=seed)
            kwargs = {"obj_n_mc": SETTINGS["obj_n_mc"]}
        t0 = time.perf_counter()
        approx = inference.fit(steps, obj_optimizer=opt, progressbar=False, **kwargs)
        elapsed = time.perf_counter() - t0
    approx.inference = inference
    return model, approx, elapsed


def run_symvi(posterior, method, steps, draws, khat_draws, seed=SETTINGS["seed"]):
    _, ref = load(posterior)
    row = {"framework": "symvi", "config": "same", "posterior": posterior, "method": method, "steps": steps}
    try:
        _, approx, row["fit_s"] = fit_symvi(posterior, method, steps, seed)
    except Exception as err:  # noqa: BLE001 - a diverging run is a result too
        row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
        return row
    row.update(accuracy(approx.sample(draws, random_seed=seed, return_inferencedata=False), ref))
    if method != "svgd":
        d = approx.diagnose(khat_draws, random_seed=seed)
        row["khat"], row["reading"] = d.khat, d.reading
        row["missing_mass"], row["mean_shift"] = d.coverage.missing_mass, d.coverage.mean_shift
        row["coverage_conclusive"] = d.coverage.conclusive
    # steady-state cost without the compile: more steps of the already compiled loop
    k = min(steps, 10_000)
    t0 = time.perf_counter()
    approx.inference.refine(k, progressbar=False)
    row["warm_fit_s"] = (time.perf_counter() - t0) * steps / k
    return row


def _defaults_row(posterior, method, fit, seed):
    """Row of one defaults-only run: ``fit(model) -> (approximation, steps, gradient evaluations)``."""
    import symvi as pm
    from symvi.variational.convergence import status

    data, ref = load(posterior)
    model = build(posterior, data, pm)
    row = {"framework": "symvi", "config": "defaults", "posterior": posterior, "method": method}
    t0 = time.perf_counter()
    try:
        with model:
            approx, steps, grads = fit(model, seed)
    except Exception as err:  # noqa: BLE001 - a diverging run is a result too
        row.update(error=f"{type(err).__name__}: {str(err)[:200]}", fit_s=time.perf_counter() - t0)
        return row
    row.update(fit_s=time.perf_counter() - t0, steps=steps)
    if isinstance(grads, tuple):  # (gradient evaluations, all log-density evaluations)
        grads, row["logp_evals"] = grads
    row["grad_evals"] = grads
    row.update(accuracy(approx.sample(DEFAULTS_DRAWS, random_seed=seed, return_inferencedata=False), ref))
    if method.startswith("pathfinder") or method == "laplace":
        row["khat"] = float(approx.diagnose(2000, random_seed=seed).khat)
        row["state"] = f"PSIS k-hat {row['khat']:.2f}"
    elif getattr(approx, "hist", None) is not None and len(approx.hist):
        row["state"] = status(approx.hist)
    return row


def _klqp_until_converged(cls_name):
    def fit(model, seed):
        import symvi as pm
        from symvi.variational.adapt import SEARCH_STEPS

        inference = getattr(pm, cls_name)(random_seed=seed)
        approx = inference.fit(None, progressbar=False)
        searched = SEARCH_STEPS * len(inference.rate_scores or {})
        path = inference.warm_start  # the Pathfinder path it started from: every point a gradient
        warm = 0 if path is None else path.n_grad_evals + path.n_logp_evals
        return approx, len(approx.hist), len(approx.hist) + searched + warm

    return fit


def _pathfinder(num_paths):
    def fit(model, seed):
        import symvi as pm

        approx = pm.Pathfinder(num_paths=num_paths, random_seed=seed).fit(progressbar=False)
        info = approx.pathfinder
        # the L-BFGS runs evaluate log density + gradient; the ELBO and importance draws the
        # log density alone (reported as logp_evals: all evaluations, these included)
        return approx, sum(p.iterations for p in info.paths), (info.n_grad_evals, info.n_logp_evals)

    return fit


def _laplace(model, seed):
    import symvi as pm

    approx = pm.LaplaceApproximation(random_seed=seed).fit(progressbar=False)
    info = approx.laplace
    return approx, info.n_grad_evals, info.n_grad_evals


#: defaults-only methods: label -> fit(model, seed) -> (approximation, steps, gradient evaluations)
DEFAULT_RUNNERS = {
    "advi": _klqp_until_converged("ADVI"),
    "fullrank_advi": _klqp_until_converged("FullRankADVI"),
    "pathfinder": _pathfinder(1),
    "pathfinder_multi": _pathfinder(16),  # the default number of paths
    "laplace": _laplace,
}
DEFAULTS_DRAWS = 4000
PYMC_DEFAULT_STEPS = 10_000  # pm.fit()'s n


def run_defaults(a):
    """The ``--defaults`` mode: every DEFAULT_RUNNERS method on every posterior, then PyMC."""
    posteriors = a.posteriors.split(",")
    rows = []
    for post in posteriors:
        for method, fit in DEFAULT_RUNNERS.items():
            row = _defaults_row(post, method, fit, SETTINGS["seed"])
            print(f"[symvi defaults] {post} {method}: {json.dumps({k: v for k, v in row.items() if k != 'params'})}", file=sys.stderr, flush=True)
            rows.append(row)
    if not a.no_pymc and Path(a.pymc_python).exists():
        specs = [
            dict(posterior=post, method=m, steps=PYMC_DEFAULT_STEPS, config="default", **{k: SETTINGS[k] for k in ("lr0", "lr_end", "obj_n_mc", "n_particles")})
            for post in posteriors
            for m in ("advi", "fullrank_advi")
        ]
        for r in run_pymc(a.pymc_python, specs, DEFAULTS_DRAWS, a.khat_draws):
            r["grad_evals"] = r.get("steps")
            rows.append(r)
    print(defaults_table(rows))
    hits = sorted(f"{r['posterior']}/{r['method']}" for r in rows if r["framework"] == "symvi" and meets_bar(r))
    print(f"symvi defaults meet the bar on {len(hits)} of {sum(r['framework'] == 'symvi' for r in rows)} runs: {', '.join(hits) or '-'}")
    out = Path(a.out).with_name("accuracy_defaults.json") if a.out == str(HERE / "results" / "accuracy.json") else Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": {"seed": SETTINGS["seed"], "draws": DEFAULTS_DRAWS}, "rows": rows}, indent=1, default=float))
    print(f"wrote {out}")


def defaults_table(rows) -> str:
    """Markdown table of the ``--defaults`` rows."""
    lines = [
        "| posterior | method | framework (defaults) | steps | gradient evals (all logp evals) | fit s | max err | median err | sd ratio min / median / max | state | bar |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["posterior"], r["method"], r["framework"] != "symvi")):
        if r["framework"] != "symvi":
            label = "PyMC 5.28.5 (adagrad_window 1e-3, n=10 000)"
        elif r["method"].startswith("pathfinder"):
            label = "symvi (L-BFGS iterations)"
        elif r["method"] == "laplace":
            label = "symvi (L-BFGS + Hessian evaluations)"
        else:
            label = "symvi (Pathfinder start, searched Adam, until converged)"
        logps = f" ({r['logp_evals']})" if "logp_evals" in r else ""
        head = f"| {r['posterior']} | {r['method']} | {label} | {r.get('steps', '-')} | {r.get('grad_evals', '-')}{logps} | {r.get('fit_s', float('nan')):.1f} |"
        if "error" in r:
            lines.append(f"{head} failed: {' '.join(r['error'].split())[:60]} | | | | no |")
            continue
        sd = f"{r['min_sd_ratio']:.2f} / {r['median_sd_ratio']:.2f} / {r['max_sd_ratio']:.2f}"
        state = r.get("state", "-").split(" - ")[0]
        lines.append(f"{head} {r['max_mean_err']:.3f} | {r['median_mean_err']:.3f} | {sd} | {state} | {'yes' if meets_bar(r) else 'no'} |")
    return "\n".join(lines)


def run_pymc(python, specs, draws, khat_draws):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    payload = json.dumps({"runs": specs, "draws": draws, "khat_draws": khat_draws, "seed": SETTINGS["seed"]})
    cmd = [python, str(HERE / "workers" / "pymc_accuracy_worker.py"), payload]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0:
        print(f"[pymc] worker failed after {len(rows)} runs:\n{proc.stderr[-2000:]}", file=sys.stderr)
    return rows


def meets_bar(r) -> bool:
    return "error" not in r and r["max_mean_err"] <= 0.2 and 0.8 <= r["median_sd_ratio"] <= 1.25


def meets_goal(r) -> bool:
    return "error" not in r and r["max_mean_err"] <= 0.1 and r["min_sd_ratio"] >= 0.9 and r["max_sd_ratio"] <= 1.1


def table(rows) -> str:
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    lines = [
        "| posterior | method | framework (optimizer) | steps | max err | median err | sd ratio min / median / max | k-hat | reading (missing mass, mean shift) | fit s (warm) | bar |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = {m: i for i, m in enumerate(METHODS)}
    fw_order = {("symvi", "same"): 0, ("pymc", "same"): 1, ("pymc", "default"): 2}
    rows = sorted(rows, key=lambda r: (r["posterior"], order[r["method"]], fw_order[(r["framework"], r["config"])]))
    for r in rows:
        label = f"{r['framework']} ({'adam, decaying' if r['config'] == 'same' else 'PyMC default'})"
        if "error" in r:
            lines.append(f"| {r['posterior']} | {r['method']} | {label} | {r['steps']} | failed: {' '.join(r['error'].split())[:60]} | | | | | {fmt(r.get('fit_s'), '.1f')} | no |")
            continue
        sd = f"{r['min_sd_ratio']:.2f} / {r['median_sd_ratio']:.2f} / {r['max_sd_ratio']:.2f}"
        bar = "goal" if meets_goal(r) else ("yes" if meets_bar(r) else "no")
        warm = f" ({r['warm_fit_s']:.1f})" if "warm_fit_s" in r else ""
        reading = "-"
        if "reading" in r:
            cov = f"{r['missing_mass']:.2f}, {r['mean_shift']:.2f}" if r.get("coverage_conclusive") else "inconclusive"
            reading = f"{r['reading']} ({cov})"
        lines.append(
            f"| {r['posterior']} | {r['method']} | {label} | {r['steps']} | {r['max_mean_err']:.3f} | "
            f"{r['median_mean_err']:.3f} | {sd} | {fmt(r.get('khat'), '.2f')} | {reading} | {fmt(r.get('fit_s'), '.1f')}{warm} | {bar} |"
        )
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=100_000, help="optimisation steps for ADVI/FullRank/LowRank")
    p.add_argument("--svgd-steps", type=int, default=10_000, help="optimisation steps for SVGD")
    p.add_argument("--draws", type=int, default=10_000)
    p.add_argument("--khat-draws", type=int, default=2000)
    p.add_argument("--posteriors", default=",".join(POSTERIORS))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--pymc-python", default=os.environ.get("PYMC_PYTHON", "/tmp/venv-pymc/bin/python"))
    p.add_argument("--no-pymc", action="store_true")
    p.add_argument("--pymc-default-svgd", action="store_true", help="also run PyMC's SVGD with its default optimizer")
    p.add_argument("--quick", action="store_true", help="20 000 / 2 000 steps, 4 000 draws (smoke run)")
    p.add_argument("--out", default=str(HERE / "results" / "accuracy.json"))
    p.add_argument("--report", metavar="JSON", help="only print the table of a saved result")
    p.add_argument("--defaults", action="store_true", help="every method with its defaults only (see the docstring)")
    a = p.parse_args(argv)
    if a.report:
        rows = json.loads(Path(a.report).read_text())["rows"]
        print(defaults_table(rows)) if any(r.get("config") == "defaults" for r in rows) else report(rows)
        return
    if a.defaults:
        run_defaults(a)
        return
    if a.quick:
        a.steps, a.svgd_steps, a.draws = 20_000, 2_000, 4_000
    if not default_root().exists():
        sys.exit(f"posteriordb folder {default_root()} not found (set SYMVI_POSTERIORDB)")
    posteriors = a.posteriors.split(",")
    methods = a.methods.split(",")
    import symvi as pm

    if "svgd" in methods and not hasattr(pm, "SVGD"):
        print("symvi.SVGD not available: SVGD skipped", file=sys.stderr)
        methods.remove("svgd")
    rows = []
    for post in posteriors:
        for method in methods:
            steps = a.svgd_steps if method == "svgd" else a.steps
            row = run_symvi(post, method, steps, a.draws, a.khat_draws)
            print(f"[symvi] {post} {method}: {json.dumps({k: v for k, v in row.items() if k != 'params'})}", file=sys.stderr, flush=True)
            rows.append(row)
    if not a.no_pymc:
        if Path(a.pymc_python).exists():
            specs = []
            for post in posteriors:
                for method in methods:
                    if method == "lowrank_advi":
                        continue
                    steps = a.svgd_steps if method == "svgd" else a.steps
                    base = dict(posterior=post, method=method, steps=steps, **{k: SETTINGS[k] for k in ("lr0", "lr_end", "obj_n_mc", "n_particles")})
                    specs.append(dict(base, config="same"))
                    if method != "svgd" or a.pymc_default_svgd:
                        specs.append(dict(base, config="default"))
            rows += run_pymc(a.pymc_python, specs, a.draws, a.khat_draws)
        else:
            print(f"[pymc] interpreter {a.pymc_python} not found: skipped", file=sys.stderr)
    report(rows)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"settings": SETTINGS, "steps": a.steps, "svgd_steps": a.svgd_steps, "draws": a.draws, "khat_draws": a.khat_draws}
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1, default=float))
    print(f"wrote {out}")


def report(rows) -> None:
    """Print the table and how many runs meet the bar and the goal."""
    print(table(rows))
    for label, test in (("bar (max err <= 0.2, median sd ratio in [0.8, 1.25])", meets_bar), ("goal (max err <= 0.1, sd ratios in [0.9, 1.1])", meets_goal)):
        for fw, cfg in (("symvi", "same"), ("pymc", "same"), ("pymc", "default")):
            sel = [r for r in rows if r["framework"] == fw and r["config"] == cfg]
            if sel:
                hits = sorted({f"{r['posterior']}/{r['method']}" for r in sel if test(r)})
                print(f"{fw} ({cfg}) meets the {label} on {len(hits)} of {len(sel)} runs: {', '.join(hits) or '-'}")


if __name__ == "__main__":
    main()
