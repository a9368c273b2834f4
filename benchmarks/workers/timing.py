"""Shared timing protocol for the workers: medians of repeats, JSON on stdout."""

import json
import statistics
import sys
import time


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def emit(rows):
    json.dump(rows, sys.stdout)
    sys.stdout.write("\n")
