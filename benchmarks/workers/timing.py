"""Shared timing protocol for the workers: medians of repeats, JSON on stdout.

``BENCH_CLOCK=cpu`` times with the process's CPU time (all its threads) instead of the wall
clock: on a shared, loaded machine it leaves out the time spent waiting for a core.
"""

import json
import os
import statistics
import sys
import time


def median_time(fn, repeats):
    clock = time.process_time if os.environ.get("BENCH_CLOCK") == "cpu" else time.perf_counter
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)


def emit(rows):
    json.dump(rows, sys.stdout)
    sys.stdout.write("\n")
