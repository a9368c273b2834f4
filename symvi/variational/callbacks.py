"""Callbacks called between optimisation steps as ``callback(approx, losses, i)``.

``i`` is the number of steps completed so far (over every ``fit``/``refine`` of the
inference object) and ``losses`` the loss history up to step ``i``.  A callback with an
``every`` attribute is called only when ``i % every == 0``; any other callable is called
after every step.  Raising ``StopIteration`` ends the fit cleanly.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     x = pm.Normal("x", 0, 1)
...     advi = pm.ADVI(random_seed=1)
>>> tracker = pm.callbacks.Tracker(mean=advi.approx.mean.eval)
>>> _ = advi.fit(50, callbacks=[tracker], progressbar=False)
>>> len(tracker["mean"])
50
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np

__all__ = ["Callback", "Tracker", "CheckParametersConvergence", "every_of"]


def every_of(callback) -> int:
    """How often (in steps) a callback wants to be called."""
    every = getattr(callback, "every", 1)
    if not isinstance(every, int | np.integer) or every < 1:
        raise ValueError(f"callback {callback!r}: 'every' must be a positive integer, got {every!r}")
    return int(every)


class Callback:
    """Base class: override ``__call__(approx, losses, i)``; set ``every`` to thin calls."""

    every: int = 1

    def __call__(self, approx, losses, i):  # pragma: no cover - abstract
        raise NotImplementedError  # abstract


def _takes_args(fn: Callable) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    params = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in params if p.default is p.empty]
    return len(required) >= 3


class Tracker(Callback):
    """Record the value of each given callable after every step.

    Callables take no arguments (``approx.mean.eval``) or ``(approx, losses, i)``.
    ``tracker["name"]`` is the list of recorded values.
    """

    def __init__(self, **whatchdict: Callable):
        for k, fn in whatchdict.items():
            if not callable(fn):
                raise TypeError(f"Tracker: {k!r} must be callable, got {type(fn).__name__}")
        self.whatchdict = whatchdict
        self._with_args = {k: _takes_args(fn) for k, fn in whatchdict.items()}
        self.hist = {k: [] for k in whatchdict}

    def __call__(self, approx, losses, i):
        for k, fn in self.whatchdict.items():
            self.hist[k].append(fn(approx, losses, i) if self._with_args[k] else fn())

    def __getitem__(self, key):
        return self.hist[key]

    def clear(self):
        self.hist = {k: [] for k in self.whatchdict}


class CheckParametersConvergence(Callback):
    """Stop when the parameters moved less than ``tolerance`` over the last ``every`` steps.

    ``diff="relative"`` measures ``(new - old) / |new|``, ``"absolute"`` just ``new - old``;
    the change is reduced with ``np.linalg.norm(..., ord)``.
    """

    def __init__(self, every: int = 100, tolerance: float = 1e-3, diff: str = "relative", ord=np.inf):
        if diff not in ("relative", "absolute"):
            raise ValueError(f"CheckParametersConvergence: diff must be 'relative' or 'absolute', got {diff!r}")
        if int(every) < 1:
            raise ValueError(f"CheckParametersConvergence: every must be >= 1, got {every!r}")
        self.every = int(every)
        self.tolerance = float(tolerance)
        self.diff = diff
        self.ord = ord
        self.prev = None

    @staticmethod
    def flatten(approx) -> np.ndarray:
        return np.concatenate([np.ravel(v.get_value()) for v in approx.shared_params.values()])

    def __call__(self, approx, losses, i):
        current = self.flatten(approx)
        prev, self.prev = self.prev, current
        if prev is None or prev.shape != current.shape:
            return
        delta = current - prev
        if self.diff == "relative":
            delta = delta / (np.abs(current) + 1e-10)
        if np.linalg.norm(delta, self.ord) < self.tolerance:
            raise StopIteration(f"Convergence achieved at {i}")
