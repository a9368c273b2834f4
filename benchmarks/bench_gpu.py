"""symvi's JAX backend on a GPU, side by side with NumPyro on the same GPU (and symvi's Numba
backend on the same machine's CPU for scale).

Usage (on a machine with a CUDA GPU and jax installed; symvi importable)::

    python benchmarks/bench_gpu.py [--quick] [--out results/gpu.json]

Workloads (float64 everywhere, ADVI / AutoNormal, Adam(0.01)):

* ``full40k`` - the seed notebook's 40 000 x 100 Normal model, all rows every step;
* ``full1m`` - the same model on 1 000 000 x 100 rows (800 MB), all rows every step;
* ``minibatch500`` - the 40 000 x 100 model with random 500-row batches (``pm.Minibatch``,
  ``total_size``; NumPyro: ``plate(subsample_size=500)``);
* ``digits`` - seed 003's Poisson-Gamma model (178 x 64 counts).

Steady state per step, median of repeats: symvi ``refine(N) / N`` after a warm-up fit (the
JAX loop runs 1 000 steps per call, data included in each call); NumPyro ``svi.run`` of a long
minus a short run (cancels its compile).  Compile-inclusive first-fit seconds are printed too.
Prints a Markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent / "workers"))
from timing import median_time  # noqa: E402
from workloads import digits_data  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_minibatch import BATCH, N_COLS  # noqa: E402
from bench_minibatch import seed_data as _seed_data  # noqa: E402


def seed_data(n_rows: int) -> np.ndarray:
    """bench_minibatch's seed-notebook data with ``n_rows`` rows."""
    return _seed_data(0, n_rows)


# ---------------------------------------------------------------------- symvi
def symvi_model(pm, workload, data):
    with pm.Model() as model:
        if workload == "digits":
            X, a, b = data
            theta = pm.Gamma("theta", a, b, shape=64)
            pm.Poisson("x", theta, observed=X)
        else:
            if workload == "minibatch500":
                obs, total = pm.Minibatch(data, batch_size=BATCH, random_seed=1), data.shape
            else:
                obs, total = data, None
            mu = pm.Normal("mu", 0, sigma=1e5, shape=(N_COLS,))
            sd = pm.HalfNormal("sd", shape=(N_COLS,))
            pm.Normal("likelihood", mu, sigma=sd, observed=obs, total_size=total)
    return model


def run_symvi(workload, data, backend, n, repeats):
    import symvi as pm

    model = symvi_model(pm, workload, data)
    t0 = time.perf_counter()
    inf = pm.ADVI(model=model, random_seed=1)
    inf.fit(1000, obj_optimizer=pm.adam(learning_rate=0.01), progressbar=False, backend=backend)
    first = time.perf_counter() - t0
    per_step = median_time(lambda: inf.refine(n, progressbar=False), repeats) / n
    return {"framework": f"symvi-{backend}", "workload": workload, "us_per_step": per_step * 1e6,
            "first_fit_1000_s": first, "final_loss": float(np.median(inf.hist[-100:]))}


# ---------------------------------------------------------------------- NumPyro
def run_numpyro(workload, data, n, repeats):
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoNormal

    if workload == "digits":
        X, a, b = (jnp.asarray(v) for v in data)

        def model():
            theta = numpyro.sample("theta", dist.Gamma(a, b).to_event(1))
            numpyro.sample("x", dist.Poisson(theta).expand(X.shape).to_event(2), obs=X)

        args = ()
    else:
        x_all = jnp.asarray(data)
        rows = data.shape[0]
        subsample = BATCH if workload == "minibatch500" else None

        def model():
            mu = numpyro.sample("mu", dist.Normal(0.0, 1e5).expand([N_COLS]).to_event(1))
            sd = numpyro.sample("sd", dist.HalfNormal(1.0).expand([N_COLS]).to_event(1))
            with numpyro.plate("rows", rows, subsample_size=subsample) as idx:
                numpyro.sample("likelihood", dist.Normal(mu, sd).to_event(1), obs=x_all[idx])

        args = ()

    def run(steps):
        svi = SVI(model, AutoNormal(model), numpyro.optim.Adam(0.01), Trace_ELBO())
        return svi.run(jax.random.PRNGKey(1), steps, *args, progress_bar=False).losses.block_until_ready()

    short = max(n // 10, 100)
    t0 = time.perf_counter()
    losses = run(1000)
    first = time.perf_counter() - t0
    t_long = median_time(lambda: run(n), repeats)
    t_short = median_time(lambda: run(short), repeats)
    return {"framework": "numpyro", "workload": workload, "us_per_step": (t_long - t_short) / (n - short) * 1e6,
            "first_fit_1000_s": first, "final_loss": float(np.median(np.asarray(losses)[-100:]))}


def table(rows) -> str:
    by = {(r["framework"], r["workload"]): r for r in rows}
    frameworks = [f for f in ("symvi-jax", "numpyro", "symvi-numba") if any(r["framework"] == f for r in rows)]
    out = ["| workload | " + " | ".join(f"{f} us/step" for f in frameworks) + " | symvi-jax / numpyro |",
           "|---|" + "---|" * (len(frameworks) + 1)]
    for w in ("full40k", "full1m", "minibatch500", "digits"):
        cells = [f"{by[(f, w)]['us_per_step']:.1f}" if (f, w) in by else "-" for f in frameworks]
        ratio = (by[("symvi-jax", w)]["us_per_step"] / by[("numpyro", w)]["us_per_step"]
                 if ("symvi-jax", w) in by and ("numpyro", w) in by else float("nan"))
        out.append(f"| {w} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-numba", action="store_true", help="skip the CPU Numba reference rows")
    p.add_argument("--only", default="", help="comma-separated framework:workload rows to run (default: all)")
    p.add_argument("--budget-s", type=float, default=1e9, help="start no new row after this many seconds")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "gpu.json"))
    a = p.parse_args(argv)
    import jax

    jax.config.update("jax_enable_x64", True)
    print("jax", jax.__version__, jax.devices(), flush=True)
    repeats = 1 if a.quick else 3
    datasets = {"full40k": seed_data(40000), "minibatch500": seed_data(40000), "digits": digits_data()}
    if not a.quick and (not a.only or ":full1m" in a.only):
        datasets["full1m"] = seed_data(1_000_000)
    steps = {"full40k": 5000, "full1m": 2000, "minibatch500": 5000, "digits": 5000}
    jobs = []
    for name in ("symvi-jax", "numpyro", "symvi-numba"):  # the CPU reference rows last
        for w in ("full40k", "digits", "minibatch500", "full1m"):
            if w in datasets and not (name == "symvi-numba" and (a.no_numba or w == "full1m")):
                if not a.only or f"{name}:{w}" in a.only.split(","):
                    jobs.append((name, w))
    deadline = time.perf_counter() + a.budget_s
    rows = []
    for name, w in jobs:
        if time.perf_counter() > deadline:
            print(f"[{name} {w}] skipped: --budget-s spent", flush=True)
            continue
        data = datasets[w]
        n = steps[w] // (5 if a.quick else 1)
        n = max(1000, n - n % 1000)
        try:
            if name == "numpyro":
                r = run_numpyro(w, data, n, repeats)
            else:
                r = run_symvi(w, data, name.split("-")[1], n, repeats)
        except Exception as err:  # noqa: BLE001 - report and go on with the other rows
            print(f"[{name} {w}] failed: {type(err).__name__}: {err}", flush=True)
            continue
        print(json.dumps(r), flush=True)
        rows.append(r)
    print(table(rows))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(rows, indent=1))
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
