"""symvi side of bench_vi.py: prints one JSON row per (workload, method)."""

import resource
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import symvi as pm  # noqa: E402
from timing import emit, median_time  # noqa: E402
from workloads import CASES, build  # noqa: E402


def run_case(workload, method, n_first, n_long, repeats, backend):
    opt = pm.adam(learning_rate=0.01)
    cls = pm.ADVI if method == "advi" else pm.FullRankADVI
    model = build(pm, workload)
    t0 = time.perf_counter()
    inf = cls(model=model, random_seed=1)
    inf.fit(n_first, obj_optimizer=opt, progressbar=False, backend=backend)
    first = time.perf_counter() - t0
    steady = median_time(lambda: inf.refine(n_long, progressbar=False), repeats) / n_long
    refine10 = median_time(lambda: inf.refine(10, progressbar=False), repeats)
    final = float(np.mean(inf.hist[n_first - 1000 : n_first]))
    return {"framework": f"symvi-{backend}", "workload": workload, "method": method, "us_per_step": steady * 1e6,
            "first_fit_s": first, "refine10_s": refine10, "final_loss": final}


def main():
    n_first, n_long, repeats = (int(a) for a in sys.argv[1:4])
    backend = sys.argv[4] if len(sys.argv) > 4 else "numba"
    rows = [run_case(w, m, n_first, n_long, repeats, backend) for w, m in CASES]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit([dict(r, peak_mb=peak) for r in rows])


if __name__ == "__main__":
    main()
