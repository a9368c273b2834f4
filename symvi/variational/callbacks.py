"""Callbacks called between optimisation steps as ``callback(approx, losses, i)``.

``i`` is the number of steps completed so far (over every ``fit``/``refine`` of the
inference object) and ``losses`` the loss history up to step ``i``.  A callback with an
``every`` attribute is called only when ``i % every == 0``; any other callable is called
after every step.  Raising ``StopIteration`` ends the fit cleanly.

A :class:`Tracker` whose entries are all PyTensor expressions (``approx.mean``) or their bound
``.eval`` (``approx.mean.eval``) is not called from Python at all: the fit records the
expressions inside the compiled loop, one row per step, and appends them to ``tracker.hist``
after each chunk, so watching them does not slow the fit down.  The values are the same as
evaluating the expressions after every step.

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
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.type import RandomGeneratorType

__all__ = ["Callback", "Tracker", "CheckParametersConvergence", "every_of", "loop_expression"]


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


def loop_expression(entry) -> Variable | None:
    """The PyTensor expression behind a Tracker entry that can be recorded inside the compiled loop.

    That is a variable, or the bound ``.eval`` of one, whose graph reads only shared variables
    and constants and draws no random numbers (a draw in the loop would not be the draw a
    Python ``.eval()`` makes).  Anything else gives ``None``.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> w = pytensor.shared(np.zeros(2), name="w")
    >>> loop_expression(w.eval) is w, loop_expression(lambda: 1.0)
    (True, None)
    """
    var = entry
    if not isinstance(var, Variable):
        owner = getattr(entry, "__self__", None)
        if getattr(entry, "__name__", None) != "eval" or not isinstance(owner, Variable):
            return None
        var = owner
    for a in ancestors([var]):
        if isinstance(a.type, RandomGeneratorType):
            return None
        if a.owner is None and not isinstance(a, SharedVariable | Constant):
            return None
    return var


class Tracker(Callback):
    """Record the value of each given callable after every step.

    Entries are callables with no arguments (``approx.mean.eval``) or ``(approx, losses, i)``,
    or PyTensor expressions (``approx.mean``).  ``tracker["name"]`` is the list of recorded
    values.  When every entry is an expression or its ``.eval`` (see :func:`loop_expression`),
    the fit records them inside its compiled loop instead of calling the tracker each step.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     advi = pm.ADVI(random_seed=1)
    >>> tracker = Tracker(mean=advi.approx.mean, std=advi.approx.std.eval)
    >>> tracker.loop_expressions() is not None  # recorded inside the compiled loop
    True
    """

    def __init__(self, **whatchdict: Callable | Variable):
        for k, fn in whatchdict.items():
            if not callable(fn) and not isinstance(fn, Variable):
                raise TypeError(f"Tracker: {k!r} must be callable, got {type(fn).__name__}")
        self.whatchdict = whatchdict
        self._with_args = {k: not isinstance(fn, Variable) and _takes_args(fn) for k, fn in whatchdict.items()}
        self.hist = {k: [] for k in whatchdict}

    def __call__(self, approx, losses, i):
        for k, fn in self.whatchdict.items():
            if isinstance(fn, Variable):
                self.hist[k].append(fn.eval())
            else:
                self.hist[k].append(fn(approx, losses, i) if self._with_args[k] else fn())

    def loop_expressions(self) -> list | None:
        """The expressions to record in the compiled loop (in entry order), or None when any
        entry needs a Python call."""
        exprs = [loop_expression(fn) for fn in self.whatchdict.values()]
        return None if any(e is None for e in exprs) else exprs

    def record(self, columns, first: int, lo: int, hi: int) -> None:
        """Append the loop's rows of steps ``lo..hi`` due by ``every``; row ``j`` of each column
        (one per entry) is the value after step ``first + j``."""
        every = every_of(self)
        due = slice(lo + (-lo) % every - first, hi + 1 - first, every)
        for k, col in zip(self.whatchdict, columns):
            col = np.asarray(col)
            # rows of a fresh output array, one per step (0-d values kept as arrays, like .eval())
            self.hist[k].extend(col[due] if col.ndim > 1 else map(np.asarray, col[due]))

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
