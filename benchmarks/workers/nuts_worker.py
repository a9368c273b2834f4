"""One ``pm.sample()`` in a fresh process: wall time (compile included) and minimum bulk ESS.

Usage: ``python nuts_worker.py FRAMEWORK MODEL CONFIG SEED`` with FRAMEWORK ``symvi`` or
``pymc``; CONFIG ``numba`` / ``python`` (symvi: nutpie fed a Numba cfunc / a Python callback),
``blackjax`` (symvi), ``default`` (PyMC's own NUTS) or ``nutpie`` (PyMC + nutpie).  Prints one JSON line.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]


def build(pm, name):
    if name == "gamma":
        from workloads import build as build_workload

        return build_workload(pm, "gamma")
    import posteriordb_models as pdb

    data, _ = pdb.load(name)
    return pdb.build(name, data, pm)


def main():
    framework, name, config, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    if framework == "symvi":
        import symvi as pm
    else:
        import pymc as pm
    import arviz as az

    model = build(pm, name)
    kwargs = dict(draws=1000, tune=1000, chains=2, cores=2, random_seed=seed, progressbar=False)
    if framework == "symvi" and config in ("python", "numba"):
        kwargs["nutpie_backend"] = config
    elif framework == "symvi" and config == "blackjax":
        kwargs["nuts_sampler"] = "blackjax"
    elif framework == "pymc" and config == "nutpie":
        kwargs["nuts_sampler"] = "nutpie"
    with model:
        t0 = time.perf_counter()
        idata = pm.sample(**kwargs)
        wall = time.perf_counter() - t0
    free = [rv.name for rv in model.free_RVs]
    ess = az.ess(idata, var_names=free)
    min_ess = float(min(np.min(ess[v].values) for v in free))
    div = int(np.asarray(idata.sample_stats["diverging"]).sum())
    print(json.dumps({"wall": wall, "min_ess": min_ess, "ess_per_s": min_ess / wall, "divergences": div}))


if __name__ == "__main__":
    main()
