"""Where a first fit's time goes, without a profiler (issue 13): process CPU seconds spent in
PyTensor's graph rewriting, in PyTensor's Numba conversion (funcify, cache keys), in Numba
compiles (type inference, lowering, LLVM; or loading them from the disk cache) and the rest.

Usage: ``python phase_worker.py MODEL [N]`` with MODEL a seed workload of workloads.py or
``gamma_<prior>`` (the gamma model with halfnormal, lognormal, halfcauchy or halfstudentt priors:
new structures).  Prints one
JSON line.  Only the outermost call of each phase is timed (nested calls are not counted twice).
"""

import json
import sys
import time

HERE = __file__.rsplit("/", 1)[0]
sys.path[:0] = [HERE, HERE + "/.."]

TOTALS = {}
_active = []


def _wrap(owner, name, phase):
    orig = getattr(owner, name)

    def timed(*args, **kwargs):
        if _active:  # counted by the enclosing phase
            return orig(*args, **kwargs)
        _active.append(phase)
        c0 = time.process_time()
        try:
            return orig(*args, **kwargs)
        finally:
            TOTALS[phase] = TOTALS.get(phase, 0.0) + time.process_time() - c0
            _active.pop()

    setattr(owner, name, timed)


def main():
    import numpy as np
    import numba.core.dispatcher as nd
    from pytensor.graph.rewriting import basic as rw
    from pytensor.link.numba import linker

    import symvi as pm
    import workloads

    _wrap(rw.GraphRewriter, "rewrite", "rewriting")
    _wrap(linker.NumbaLinker, "fgraph_convert", "numba conversion (funcify, keys)")
    _wrap(nd.Dispatcher, "_compile_for_args", "numba compile / cache load")
    model_name = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    priors = {"halfnormal": lambda name: pm.HalfNormal(name, 10.0), "lognormal": lambda name: pm.LogNormal(name, 0.0, 2.0),
              "halfcauchy": lambda name: pm.HalfCauchy(name, 5.0), "halfstudentt": lambda name: pm.HalfStudentT(name, 3.0, 5.0)}
    if model_name.startswith("gamma_"):  # the seed gamma model with other prior families: new structures
        with pm.Model() as model:
            a = priors[model_name[6:]]("alpha")
            b = priors[model_name[6:]]("beta")
            pm.Gamma("y", a, b, observed=workloads.gamma_data())
    else:
        model = workloads.build(pm, model_name)
    w0, c0 = time.perf_counter(), time.process_time()
    with model:
        approx = pm.fit(n, method="fullrank_advi", progressbar=False, random_seed=1)
    cpu = time.process_time() - c0
    row = {"model": model_name, "fit_wall_s": time.perf_counter() - w0, "fit_cpu_s": cpu, **TOTALS}
    row["other"] = cpu - sum(TOTALS.values())
    row["final_loss"] = float(np.mean(approx.hist[-1000:]))
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    main()
