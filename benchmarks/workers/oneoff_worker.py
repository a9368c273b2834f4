"""One-off calls on a fitted approximation, each the first of its kind in a fresh process
(issue 13, goal 3), for bench_first_fit.py ``--oneoff``.

Usage: ``python oneoff_worker.py CALL [CALL ...]`` with CALL in ``sample``, ``diagnose``,
``sample_node``, ``ppc``.  Fits the seed gamma model (ADVI, 2 000 steps; the library caches are
expected warm), then times each CALL in the order given and prints one JSON line with the fit's
and each call's wall and process CPU seconds, and which heavy modules were imported when.
``ONEOFF_PAUSE=s``: the session is interactive (``sys.ps1`` set, as a REPL or notebook has it)
and the calls start ``s`` seconds after the fit (the next cell).  ``ONEOFF_IMPORT_ARVIZ=1``: the
script imports ArviZ before symvi, as PyMC's examples do (``import arviz as az``).
"""

import json
import os
import sys
import time

HERE = __file__.rsplit("/", 1)[0]
sys.path[:0] = [HERE, HERE + "/.."]


def timed(fn):
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return {"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0}


def main(calls):
    import numpy as np

    if os.environ.get("ONEOFF_IMPORT_ARVIZ"):  # a script that starts with `import arviz as az`
        import arviz  # noqa: F401
    import symvi as pm
    import workloads

    model = workloads.build(pm, "gamma")
    row = {}
    if os.environ.get("ONEOFF_BG_IMPORT"):  # experiment: import arviz in a thread during the fit
        import threading

        threading.Thread(target=lambda: __import__("arviz"), daemon=True).start()
    pause = float(os.environ.get("ONEOFF_PAUSE", "0"))
    if pause:  # a notebook: an interactive session (as the REPL marks it), the next cell `pause` s later
        sys.ps1 = ">>> "
    with model:
        row["fit"] = timed(lambda: row.__setitem__("approx", pm.fit(2000, progressbar=False, random_seed=1)))
    approx = row.pop("approx")
    time.sleep(pause)
    row["imported_after_fit"] = sorted(m for m in ("arviz", "xarray", "dask", "dask.array") if m in sys.modules)
    actions = {
        "sample": lambda: approx.sample(1000, random_seed=2),
        "diagnose": lambda: approx.diagnose(random_seed=3),
        "sample_node": lambda: approx.sample_node(model["alpha"] * model["beta"], size=100).eval(),
        "ppc": lambda: pm.sample_posterior_predictive(approx.sample(100, random_seed=4), model=model, random_seed=5, progressbar=False),
    }
    for call in calls:
        row[call] = timed(actions[call])
    row["imported_at_end"] = sorted(m for m in ("arviz", "xarray", "dask", "dask.array") if m in sys.modules)
    print(json.dumps(row), flush=True)
    np.asarray(0)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    main(sys.argv[1:] or ["sample", "diagnose", "sample_node", "ppc"])
