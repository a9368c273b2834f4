"""Process CPU time of each phase of a fit, for ``bench_rerun_memory.py``.

:class:`Phases` wraps the functions that start a phase (building the approximation, checking
the start point, building the loss and step graphs, the warm start, PyTensor's FunctionGraph
construction, rewriting and linking, the step loop) so that each call's CPU time is charged to
its phase *exclusively*: time spent in a nested phase is charged to that phase only, and time
in the garbage collector (``gc.callbacks``) to ``gc``.  What a fit spends outside every wrapped
function (fit's own bookkeeping, the result) is ``fit other``; the model block is ``model``.
"""

from __future__ import annotations

import functools
import gc
import time
from collections import defaultdict

import numpy as np

clock = time.process_time


class Phases:
    """Exclusive process-CPU time per phase; ``take()`` returns and resets the totals."""

    def __init__(self):
        self.stack: list[str] = []
        self.acc: dict[str, float] = defaultdict(float)
        self.t = clock()
        self.collections = 0  # full (generation-2) collections
        self.freed = 0  # objects the collector freed (all generations)
        gc.callbacks.append(self._gc)

    def enter(self, name: str) -> None:
        t = clock()
        if self.stack:
            self.acc[self.stack[-1]] += t - self.t
        self.stack.append(name)
        self.t = t

    def leave(self) -> None:
        t = clock()
        self.acc[self.stack.pop()] += t - self.t
        self.t = t

    def _gc(self, phase, info):
        if phase == "start":
            self.enter("gc")
        elif self.stack and self.stack[-1] == "gc":
            self.leave()
            self.collections += info["generation"] == 2
            self.freed += info["collected"]

    def wrap(self, owner, attr: str, name: str) -> None:
        """Charge calls of ``owner.attr`` to phase ``name``."""
        fn = owner.__dict__[attr] if isinstance(owner, type) else getattr(owner, attr)
        static = isinstance(fn, staticmethod)
        inner = fn.__func__ if static else fn

        @functools.wraps(inner)
        def timed(*args, **kwargs):
            self.enter(name)
            try:
                return inner(*args, **kwargs)
            finally:
                self.leave()

        setattr(owner, attr, staticmethod(timed) if static else timed)

    def take(self) -> dict[str, float]:
        out, self.acc = dict(self.acc), defaultdict(float)
        return out


def install() -> Phases:
    """Wrap symvi's and PyTensor's phase functions; returns the :class:`Phases` they charge."""
    from pytensor.compile import maker

    import symvi  # noqa: F401 - imports what is wrapped below
    from symvi.variational import adapt, inference, step, warmstart

    p = Phases()
    p.wrap(inference.ADVI, "__init__", "approx init")
    p.wrap(inference, "_check_start_logp", "start check")
    p.wrap(inference.Inference, "step_function", "step graph")
    p.wrap(step.StepFunction, "_graph", "loop graph")
    p.wrap(warmstart, "warm_start", "warm start")
    p.wrap(adapt, "search_rate", "rate search")
    p.wrap(maker, "function", "compile other")
    p.wrap(maker.FunctionMaker, "create_fgraph", "fgraph")
    p.wrap(maker.FunctionMaker, "prepare_fgraph", "rewrite")
    p.wrap(maker.FunctionMaker, "create", "link")
    p.wrap(step.StepFunction, "run", "step loop")
    return p


def calibrate(phases: Phases | None = None, n: int = 100_000) -> float:
    """CPU seconds of a fixed workload like the collector's (make ``n`` two-list cycles with the
    collector off, then collect them): timed between re-runs, its drift is the machine's (load,
    caches, frequency), not symvi's.  Its collection is not charged to ``phases``."""
    was = gc.isenabled()
    gc.disable()
    if phases is not None:
        gc.callbacks.remove(phases._gc)
    t = clock()
    keep = []
    for _ in range(n):
        a: list = []
        a.append([a])
        keep.append(a)
    del keep, a
    gc.collect(0)
    t = clock() - t
    if phases is not None:
        gc.callbacks.append(phases._gc)
    if was:
        gc.enable()
    return t


def slope(y) -> tuple[float, float]:
    """Least-squares slope of ``y`` against the re-run index and its standard error."""
    y = np.asarray(y, dtype=float)
    x = np.arange(len(y), dtype=float)
    (b, _), cov = np.polyfit(x, y, 1, cov=True)
    return float(b), float(np.sqrt(cov[0, 0]))


def report(rows: list[dict[str, float]]) -> str:
    """One line per phase: median CPU ms of the first / last five re-runs, slope in ms per re-run."""
    names = sorted({k for r in rows for k in r}, key=lambda k: -np.median([r.get(k, 0.0) for r in rows]))
    lines = [f"  {'phase':<14} {'first5':>8} {'last5':>8} {'slope ms/re-run':>20}"]
    for name in names + ["total"]:
        y = [sum(r.values()) if name == "total" else r.get(name, 0.0) for r in rows]
        b, se = slope(y)
        lines.append(
            f"  {name:<14} {1e3 * np.median(y[:5]):8.1f} {1e3 * np.median(y[-5:]):8.1f} {1e3 * b:+10.2f} +- {1e3 * se:5.2f}"
        )
    return "\n".join(lines)
