"""PyMC 5.28 side of bench_vi.py (run in its own virtual environment)."""

import resource
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import pymc as pm  # noqa: E402
from timing import emit, median_time  # noqa: E402
from workloads import CASES, build  # noqa: E402


def run_case(workload, method, n_first, n_long, repeats):
    model = build(pm, workload)
    cls = pm.ADVI if method == "advi" else pm.FullRankADVI
    opt = pm.adam(learning_rate=0.01)
    with model:
        t0 = time.perf_counter()
        inf = cls(random_seed=1)
        inf.fit(n_first, obj_optimizer=opt, progressbar=False)
        first = time.perf_counter() - t0
        # every PyMC fit/refine call recompiles: the difference of a long and a short call
        # cancels that fixed cost and leaves the per-step time
        t_long = median_time(lambda: inf.fit(n_long, obj_optimizer=opt, progressbar=False), repeats)
        t_short = median_time(lambda: inf.fit(n_long // 10, obj_optimizer=opt, progressbar=False), repeats)
        refine10 = median_time(lambda: inf.refine(10, progressbar=False), repeats)
    steady = (t_long - t_short) / (n_long - n_long // 10)
    final = float(np.mean(inf.hist[n_first - 1000 : n_first]))
    return {"framework": "pymc", "workload": workload, "method": method, "us_per_step": steady * 1e6,
            "first_fit_s": first, "refine10_s": refine10, "final_loss": final}


def main():
    n_first, n_long, repeats = (int(a) for a in sys.argv[1:4])
    rows = [run_case(w, m, n_first, n_long, repeats) for w, m in CASES]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit([dict(r, peak_mb=peak) for r in rows])


if __name__ == "__main__":
    main()
