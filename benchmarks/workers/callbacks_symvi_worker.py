"""symvi side of bench_callbacks.py: per-step cost of a watched logistic-regression ADVI fit."""

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import symvi as pm  # noqa: E402
from timing import emit, median_time  # noqa: E402
from workloads import build  # noqa: E402


def callbacks_for(case, approx):
    if case == "none":
        return []
    if case == "noop":
        return [lambda approx, losses, i: None]
    if case == "tracker":  # the seed notebook's form: recorded inside the compiled loop
        return [pm.callbacks.Tracker(mean=approx.mean.eval, std=approx.std.eval)]
    if case == "tracker_python":  # plain callables: called from Python after every step
        mean, std = approx.mean, approx.std
        return [pm.callbacks.Tracker(mean=lambda: mean.eval(), std=lambda: std.eval())]
    if case == "cpc":  # tolerance 0: checks every 100 steps, never stops
        return [pm.callbacks.CheckParametersConvergence(every=100, tolerance=0.0)]
    raise ValueError(case)


def run_case(case, n, repeats, backend):
    model = build(pm, "logreg")
    with model:
        advi = pm.ADVI(random_seed=1)
    cbs = callbacks_for(case, advi.approx)
    advi.fit(2000, callbacks=cbs, obj_optimizer=pm.adam(learning_rate=0.01), progressbar=False, backend=backend)
    per_step = median_time(lambda: advi.refine(n, progressbar=False), repeats) / n
    refine10 = median_time(lambda: advi.refine(10, progressbar=False), max(repeats, 5))
    return {"framework": "symvi-" + backend, "case": case, "us_per_step": per_step * 1e6, "steps": n,
            "refine10_ms": refine10 * 1e3}


def main():
    repeats, backend = int(sys.argv[1]), sys.argv[2]
    quick = len(sys.argv) > 3 and sys.argv[3] == "quick"
    steps = {"none": 20000, "noop": 2000, "tracker": 20000, "tracker_python": 1000, "cpc": 20000}
    rows = [run_case(c, n // 10 if quick else n, repeats, backend) for c, n in steps.items()]
    emit(rows)


if __name__ == "__main__":
    main()
