"""PyMC 5.28 side of ``benchmarks/accuracy.py`` (run in PyMC's own virtual environment).

Usage: ``python pymc_accuracy_worker.py '<json spec>'`` where the spec is
``{"runs": [{"posterior", "method", "config", "steps", "obj_n_mc", "lr0", "lr_end",
"n_particles"}], "draws": int, "khat_draws": int, "seed": int}``.  Prints one JSON line
per run (flushed as it goes) so a crash loses only the run in progress.

Configs: ``"default"`` is PyMC's own default optimizer (``adagrad_window``, learning rate
1e-3, one Monte Carlo draw); ``"same"`` is the optimizer symvi uses in the benchmark: Adam
whose learning rate decays geometrically from ``lr0`` to ``lr_end`` over the run (set
through a callback each step) with ``obj_n_mc`` draws.
"""

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore")

import arviz as az  # noqa: E402
import pymc as pm  # noqa: E402
import pytensor  # noqa: E402
from posteriordb_models import accuracy, build, load  # noqa: E402

CLASSES = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI}


def khat(model, approx, draws, seed):
    """PSIS k-hat of a Gaussian PyMC approximation: q's draws weighted by p/q (numpy + ArviZ)."""
    group = approx.groups[0]
    mean = np.asarray(approx.mean.eval())
    cov = np.asarray(approx.cov.eval())
    chol = np.linalg.cholesky(cov)
    eps = np.random.default_rng(seed).standard_normal((draws, mean.size))
    z = mean + eps @ chol.T
    logq = -0.5 * np.sum(eps**2, axis=1) - np.sum(np.log(np.diag(chol))) - 0.5 * mean.size * np.log(2 * np.pi)
    logp_fn = model.compile_logp()
    logp = np.empty(draws)
    for s in range(draws):
        point = {name: z[s, sl].reshape(shape) for name, (_, sl, shape, _) in group.ordering.items()}
        logp[s] = logp_fn(point)
    _, k = az.psislw(np.where(np.isnan(logp - logq), -np.inf, logp - logq), reff=1.0)
    return float(k)


def run(spec, draws, khat_draws, seed):
    data, ref = load(spec["posterior"])
    model = build(spec["posterior"], data, pm)
    steps, method = int(spec["steps"]), spec["method"]
    kwargs = {}
    callbacks = []
    if spec["config"] == "same":
        lr = pytensor.shared(float(spec["lr0"]))
        lr0, lr_end = float(spec["lr0"]), float(spec["lr_end"])
        callbacks.append(lambda approx, hist, i: lr.set_value(lr0 * (lr_end / lr0) ** min(i / steps, 1.0)))
        kwargs["obj_optimizer"] = pm.adam(learning_rate=lr)
        if method != "svgd":
            kwargs["obj_n_mc"] = int(spec["obj_n_mc"])
    row = {"framework": "pymc", "config": spec["config"], "posterior": spec["posterior"], "method": method, "steps": steps}
    with model:
        t0 = time.perf_counter()
        try:
            if method == "svgd":
                inference = pm.SVGD(n_particles=int(spec["n_particles"]), jitter=1.0, random_seed=seed)
            else:
                inference = CLASSES[method](random_seed=seed)
            approx = inference.fit(steps, callbacks=callbacks, progressbar=False, **kwargs)
        except Exception as err:  # noqa: BLE001 - a diverging run is a result too
            row.update(error=f"{type(err).__name__}: {str(err)[:200]}", fit_s=time.perf_counter() - t0)
            return row
        row["fit_s"] = time.perf_counter() - t0
        idata = approx.sample(draws, random_seed=seed)
    post = {name: idata.posterior[name].values[0] for name in idata.posterior.data_vars}
    try:
        row.update(accuracy(post, ref))
    except Exception as err:  # noqa: BLE001 - NaN draws after a divergence
        row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
    if method != "svgd":
        try:
            row["khat"] = khat(model, approx, khat_draws, seed)
        except Exception as err:  # noqa: BLE001
            row["khat_error"] = f"{type(err).__name__}: {str(err)[:200]}"
    return row


def main():
    spec = json.loads(sys.argv[1])
    for r in spec["runs"]:
        print(json.dumps(run(r, int(spec["draws"]), int(spec["khat_draws"]), int(spec["seed"]))), flush=True)


if __name__ == "__main__":
    main()
