"""Shared timing protocol for the workers: medians of repeats, JSON on stdout.

``BENCH_CLOCK=cpu`` times with the process's CPU time (all its threads) instead of the wall
clock: on a shared, loaded machine it leaves out the time spent waiting for a core.
"""

import json
import os
import statistics
import sys
import time

# BENCH_CLOCK=cpu or SYMVI_BENCH_CPU_TIME=1 (the two benchmarks' flags set one or the other):
# the process's CPU time (all threads) instead of the wall clock, for a shared machine where
# other processes' load inflates wall times unevenly between runs
_CPU = os.environ.get("BENCH_CLOCK") == "cpu" or os.environ.get("SYMVI_BENCH_CPU_TIME", "0") == "1"
CLOCK = time.process_time if _CPU else time.perf_counter


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn()
        times.append(CLOCK() - t0)
    return statistics.median(times)


def median_step_time(fn, n_long, n_short, repeats):
    """Median over repeats of ``(time of fn(n_long) - time of fn(n_short)) / (n_long - n_short)``,
    each repeat timing one long and one short run back to back: a fixed per-call cost cancels,
    and a burst of load spoils one repeat instead of one side of every difference."""
    steps = []
    for _ in range(repeats):
        t0 = CLOCK()
        fn(n_long)
        t1 = CLOCK()
        fn(n_short)
        t2 = CLOCK()
        steps.append(((t1 - t0) - (t2 - t1)) / (n_long - n_short))
    return statistics.median(steps)


def emit(rows):
    json.dump(rows, sys.stdout)
    sys.stdout.write("\n")
