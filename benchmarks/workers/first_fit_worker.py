"""One first fit in a fresh process, for bench_first_fit.py (runs under symvi's, PyMC's or
NumPyro's interpreter).

Usage: ``python first_fit_worker.py FRAMEWORK MODEL METHOD N [BACKEND]``
(``FIRST_FIT_TRACKER=1``: with a ``Tracker`` of q's mean and sd called at every step); prints one JSON
line: the wall time of ``pm.fit(N, method=METHOD)`` (compile included, as a user meets it),
the import time, and the final average loss.
"""

import json
import os
import sys
import time

t_start = time.perf_counter()
HERE = __file__.rsplit("/", 1)[0]
sys.path[:0] = [HERE, HERE + "/.."]

POSTERIORDB = ("eight_schools", "kidiq", "low_dim_gauss_mix", "sblrc")


def build_pm(pm, model):
    if model == "warmup":  # the model that warms the library caches: not one of the table's
        import numpy as np

        rng = np.random.default_rng(0)
        X = rng.normal(size=(50, 3))
        with pm.Model() as m:
            w = pm.Normal("w", 0.0, 1.0, shape=3)
            s = pm.HalfNormal("s", 1.0)
            pm.Normal("y", pm.math.dot(X, w), s, observed=X @ np.array([1.0, -1.0, 0.5]) + rng.normal(size=50))
        return m
    if model == "iris":  # the seed notebook's SVGD model (bench_svgd.py), its synthetic data
        import bench_svgd
        import pytensor.tensor as pt

        X, _, y, _, _ = bench_svgd.iris_data(synthetic=True)
        with pm.Model() as m:
            beta = pm.Normal("beta", 0, sigma=1e2, shape=(4, 3))
            a = pm.Normal("a", sigma=1e4, shape=(3,))
            pm.Categorical("obs", p=pt.special.softmax(pm.math.dot(X, beta) + a, axis=-1), observed=y)
        return m
    if model in POSTERIORDB:
        import posteriordb_models

        data, _ = posteriordb_models.load(model)
        return posteriordb_models.build(model, data, pm)
    import workloads

    return workloads.build(pm, model)


def fit_pm(framework, model, method, n, backend):
    import numpy as np

    if framework == "symvi":
        import symvi as pm
    else:
        import pymc as pm
    t_import = time.perf_counter() - t_start
    m = build_pm(pm, model)
    kwargs = {"backend": backend} if framework == "symvi" and backend not in (None, "default") else {}
    t0 = time.perf_counter()
    with m:
        if os.environ.get("FIRST_FIT_TRACKER"):  # the watched fit: a Tracker called at every step
            inference = {"advi": pm.ADVI, "fullrank_advi": pm.FullRankADVI}[method](random_seed=1)
            tracker = pm.callbacks.Tracker(mean=inference.approx.mean.eval, std=inference.approx.std.eval)
            approx = inference.fit(n, progressbar=False, callbacks=[tracker], **kwargs)
        else:
            approx = pm.fit(n, method=method, progressbar=False, random_seed=1, **kwargs)
    wall = time.perf_counter() - t0
    step = getattr(getattr(approx, "inference", None), "_state", None)
    last = getattr(step[0], "last_backend", None) if step else None
    return {"import_s": t_import, "fit_s": wall, "final_loss": float(np.mean(approx.hist[-1000:])), "last_tier": last}


def fit_numpyro(model, method, n):
    import jax
    import numpy as np
    import numpyro
    from numpyro.infer import SVI, Trace_ELBO
    from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal

    import numpyro_worker

    t_import = time.perf_counter() - t_start
    fn, _, data = numpyro_worker.CASES[(model, "advi")]
    guide = AutoMultivariateNormal if method == "fullrank_advi" else AutoNormal
    t0 = time.perf_counter()
    svi = SVI(fn, guide(fn), numpyro.optim.Adam(0.01), Trace_ELBO())
    res = svi.run(jax.random.PRNGKey(1), n, *data(), progress_bar=False)
    res.losses.block_until_ready()
    wall = time.perf_counter() - t0
    return {"import_s": t_import, "fit_s": wall, "final_loss": float(np.mean(np.asarray(res.losses)[-1000:]))}


def main():
    framework, model, method, n = sys.argv[1:5]
    backend = sys.argv[5] if len(sys.argv) > 5 else None
    if framework == "numpyro":
        row = fit_numpyro(model, method, int(n))
    else:
        row = fit_pm(framework, model, method, int(n), backend)
    print(json.dumps(row), flush=True)
    if framework == "symvi" and os.environ.get("FIRST_FIT_WAIT"):  # let a background Numba compile finish (a later run finds it cached)
        from symvi.variational import tiers

        deadline = time.perf_counter() + 600
        while (tiers._running or tiers._queue) and time.perf_counter() < deadline:
            tiers._pump()
            time.sleep(0.2)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    main()
