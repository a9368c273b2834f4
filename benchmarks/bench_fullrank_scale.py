"""FullRank at scale: building q and its Cholesky factor L for d = 500, 2000, 5000 parameters.

Times (medians of 3, one process) of

* ``init``: ``pm.FullRank(model=m)`` (the memory check, the packed start and the triangle's
  flat positions),
* ``L graph``: building the symbolic ``q.L`` (this walked every triangle index in Python
  through pytensor's indexing before: ~16 s at d = 1000),
* ``L eval``: one evaluation of ``q.L`` with the Python linker (``ONE_SHOT_MODE``: a
  vectorised scatter of the d(d+1)/2 entries, no compile cost),

and the lower bound on the memory a fit needs (:mod:`symvi.variational.memory`).
Run: ``PYTHONPATH=$PWD python3 benchmarks/bench_fullrank_scale.py [d ...]``.
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np


def _median(fn, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench(d: int) -> dict:
    import symvi as pm
    from symvi.pytensorf import ONE_SHOT_MODE, compile_fn
    from symvi.variational.memory import fullrank_bytes

    with pm.Model() as m:
        pm.Normal("x", 0, 1, shape=d)
    t_init, q = _median(lambda: pm.FullRank(model=m))
    t_graph, L = _median(lambda: q.L)
    fn = compile_fn([], L, mode=ONE_SHOT_MODE)
    t_eval, value = _median(fn)
    assert value.shape == (d, d) and np.array_equal(np.diag(value), np.ones(d)) and not np.triu(value, 1).any()
    return {"d": d, "init_s": t_init, "L_graph_s": t_graph, "L_eval_s": t_eval, "fit_needs_GiB": fullrank_bytes(d) / 2**30}


def main(argv=None):
    sizes = [int(a) for a in (argv or sys.argv[1:])] or [500, 2000, 5000]
    print(f"{'d':>6} {'init s':>9} {'L graph s':>10} {'L eval s':>9} {'fit needs GiB':>14}")
    for d in sizes:
        r = bench(d)
        print(f"{r['d']:>6} {r['init_s']:>9.4f} {r['L_graph_s']:>10.5f} {r['L_eval_s']:>9.4f} {r['fit_needs_GiB']:>14.2f}")


if __name__ == "__main__":
    main()
