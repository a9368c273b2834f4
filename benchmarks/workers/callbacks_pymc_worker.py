"""PyMC 5.28 side of bench_callbacks.py (run in its own virtual environment)."""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import pymc as pm  # noqa: E402
from timing import emit, median_time  # noqa: E402
from workloads import build  # noqa: E402


def callbacks_for(case, approx):
    if case == "none":
        return []
    if case == "noop":
        return [lambda approx, losses, i: None]
    if case == "tracker":
        return [pm.callbacks.Tracker(mean=approx.mean.eval, std=approx.std.eval)]
    if case == "cpc":
        return [pm.callbacks.CheckParametersConvergence(every=100, tolerance=0.0)]
    raise ValueError(case)


def run_case(case, n_long, repeats):
    model = build(pm, "logreg")
    with model:
        advi = pm.ADVI(random_seed=1)
        opt = pm.adam(learning_rate=0.01)
        cbs = callbacks_for(case, advi.approx)
        advi.fit(2000, obj_optimizer=opt, callbacks=cbs, progressbar=False)
        # every PyMC fit call compiles: the difference of a long and a short call is per-step
        fit = lambda n: advi.fit(n, obj_optimizer=opt, callbacks=cbs, progressbar=False)  # noqa: E731
        t_long = median_time(lambda: fit(n_long), repeats)
        t_short = median_time(lambda: fit(n_long // 10), repeats)
    per_step = (t_long - t_short) / (n_long - n_long // 10)
    return {"framework": "pymc", "case": case, "us_per_step": per_step * 1e6, "steps": n_long}


def main():
    repeats = int(sys.argv[1])
    quick = len(sys.argv) > 2 and sys.argv[2] == "quick"
    n = 2000 if quick else 10000
    emit([run_case(c, n, repeats) for c in ("none", "noop", "tracker", "cpc")])


if __name__ == "__main__":
    main()
