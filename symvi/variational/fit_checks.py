"""What ``Inference.fit`` checks before and around its loop: the step count and tolerance,
the start point's log density (naming the terms and rows that are -inf/NaN), and Ctrl-C
deferred to the end of a compiled chunk.

Examples
--------
>>> _run_plan(None, None)[0] == MAX_STEPS
True
"""

from __future__ import annotations

import contextlib
import numbers
import signal
import threading

import numpy as np

from symvi.logprob import point_logp_terms
from symvi.pytensorf import ONE_SHOT_MODE
from symvi.streaming import chunk_hooks
from symvi.variational import convergence

__all__ = ["LARGE_DATA_BYTES", "MAX_STEPS"]


@contextlib.contextmanager
def _sigint_between_chunks():
    """Defer Ctrl-C to the end of the running compiled chunk.

    A SIGINT that lands inside compiled Numba code surfaces as a ``SystemError`` from deep in
    the call, leaving the shared state half-updated.  Instead, the first Ctrl-C only sets a
    flag that the loop checks between chunks (a chunk lasts ~0.1 s); a second one interrupts
    at once.  Only the main thread can install signal handlers; elsewhere nothing changes.
    """
    flag = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        if flag["hit"]:
            if callable(previous):
                previous(signum, frame)
            raise KeyboardInterrupt
        flag["hit"] = True

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


#: above this much observed data, the start point's log density is checked only when the first
#: step fails: the check runs unfused numpy (ONE_SHOT_MODE), whose elementwise terms and
#: temporaries take two to three times the data (a 1e6 x 100 Normal model peaked at 3.3x its
#: 763 MiB of data with it, 1.4x without).  32 MiB: a model with more data than that is not
#: copied by its fit (tests/test_data_memory.py); below it the copies cost at most ~100 MB.
LARGE_DATA_BYTES = 32 * 2**20


def _data_bytes(model) -> int:
    """Bytes of the model's observed data held in memory (constants and shared variables)."""
    total = 0
    for rv in model.observed_RVs:
        value = model.rvs_to_values.get(rv)
        data = getattr(value, "data", None)
        if data is None and hasattr(value, "get_value"):
            data = value.get_value(borrow=True)
        total += int(getattr(data, "nbytes", 0) or 0)
    return total


def _check_start_logp(approx, more_replacements=None):
    """Raise ``ValueError`` naming the terms where the model's log density is -inf/NaN at the start.

    One cheap evaluation (Python linker) at the point the approximation starts from.  A
    ``pm.Minibatch`` is replaced by its whole array for this check (one vectorised pass), so
    data outside a likelihood's support are found before the first step whichever batches the
    fit would draw; the message names the observed variable and its first bad row.  Models
    fed by data streams are skipped (their chunks are checked for NaN/inf as they are read).
    """
    from symvi.minibatch import full_data_replacements

    start, layout = getattr(approx, "_start", None), getattr(approx, "layout", None)
    model = approx.model
    if start is None or layout is None:
        return
    if chunk_hooks(model.basic_RVs + list(model.rvs_to_values.values()) + model.potentials):
        return
    replacements = dict(full_data_replacements(model))
    replacements.update(more_replacements or {})
    terms = point_logp_terms(model, layout.unravel(start), mode=ONE_SHOT_MODE, replacements=replacements)
    logps = {k: float(np.round(np.sum(v), 2)) for k, v in terms.items()}
    bad = {k: v for k, v in logps.items() if not np.isfinite(v)}
    if bad:
        rows = []
        for rv in model.observed_RVs:
            term = np.asarray(terms[rv.name])
            if rv.name in bad and term.ndim:
                row = int(np.argwhere(~np.isfinite(term))[0][0])
                rows.append(f"{rv.name!r} first at row {row} of its observed data")
        where = f" ({'; '.join(rows)})" if rows else ""
        raise ValueError(
            f"the model's log density is -inf/NaN at the starting point: {bad}{where}. Log density of every "
            f"variable there (model.point_logps): {logps}. Check observed data against each "
            "distribution's support, the parameters, and start=/initval="
        )


def _check_n(n):
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n (number of steps) must be an integer, got {n!r} (or None: until converged)")
    if n < 0:
        raise ValueError(f"n (number of steps) must be >= 0, got {n}")
    return int(n)


def _check_tol(tol):
    if tol is None:
        return None
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not np.isfinite(tol) or tol < 0:
        raise ValueError(f"tol_rel_obj must be a finite number >= 0 or None, got {tol!r}")
    return float(tol)


def _run_plan(n, tol_rel_obj):
    """(steps to run, tolerance that stops the fit early or None, tolerance for the report)."""
    tol = _check_tol(tol_rel_obj)
    report = convergence.DEFAULT_TOL if tol is None else tol
    if n is None:
        return MAX_STEPS, report, report
    return n, tol, report


#: ``fit(n=None)`` runs until the convergence rule holds, or this many steps
MAX_STEPS = 50_000
