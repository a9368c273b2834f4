"""The default optimizer of ``fit``: Adam with a searched step size and a decaying schedule.

PyMC's default (``adagrad_window(1e-3)``) is far too slow for most models: thousands of
steps leave q far from the posterior.  symvi's default, used whenever ``fit`` is called
without ``obj_optimizer``, follows Stan's ADVI in spirit:

0. **Warm start.**  ADVI and FullRankADVI fits without ``start`` first move q to a
   single-path Pathfinder Gaussian and scale each coordinate's steps by its sd
   (:mod:`symvi.variational.warmstart`), so the candidate rates below are in posterior units.
1. **Step-size search.**  From the starting state, Adam runs ``SEARCH_STEPS`` steps with each
   candidate base rate in ``CANDIDATE_RATES``; the rate whose average loss over the second
   half of its trial is lowest wins (a trial that produced NaN/inf is out; models fed by a
   data stream skip the search and use ``STREAM_RATE``).  After each trial
   parameters, optimizer state and random generators are restored, so the main run starts
   from exactly where the search started and a seeded fit is reproducible.
2. **Decay once the loss levels off** (for minibatch models more slowly: see 4).  The main run keeps the base rate (decaying gently,
   ``1 / sqrt(1 + t / GENTLE_STEPS)``) until the stopping
   rule of :mod:`symvi.variational.convergence` first holds (the loss no longer falls: the
   parameters are done travelling and only jitter), then decays it as
   ``base / (1 + (t - t0) / DECAY_STEPS) ** DECAY_POWER`` from that step ``t0``: the jitter of
   the final parameters, proportional to the square root of the rate, shrinks.  The power is
   1 (Robbins-Monro's ``1 / t``): the summed rate keeps growing, so the iterate keeps
   averaging the gradient noise; with power 2 it froze about 200 steps after ``t0`` wherever
   the noise had left it (eight_schools FullRank: largest mean error 0.27 posterior sd with
   power 2 and 2 000 settling steps, 0.19 with power 1 and 5 000).  The check runs
   at fixed steps (multiples of ``EVAL_EVERY``) on the loss history, so where the decay
   starts does not depend on how the loop is chunked, and ``fit(n1)`` + ``refine(n2)`` equals
   ``fit(n1 + n2)``.  ``fit(n=None)`` stops once the rule holds again ``SETTLE_STEPS`` after
   ``t0``.
3. **Back off when unstable.**  If at a check the loss of the last window is clearly worse
   than that of the window before (:func:`symvi.variational.convergence.jumped`), the base
   rate is cut by ``BACKOFF`` and the decay re-armed (at most ``MAX_BACKOFFS`` times, at
   least a window of steps apart).

4. **Minibatch models** (observed ``total_size``) decay more slowly, with
   ``MINIBATCH_DECAY_POWER`` = 0.5, and report the average of the iterates since ``t0``
   (Polyak-Ruppert averaging, weights growing linearly with the steps since ``t0``): the
   batch-to-batch noise of their gradients hides the slow drift of q's scales, so the loss
   "levels off" long before the parameters stop travelling.  A rate decaying with power 2
   froze the scales short of the optimum (radon GLM, batch 100: posterior sds 12-26 % wider
   than the full-data fit's); power 1 still left them up to 11 % off after 30 000 steps
   (the step shrinks faster than Adam's noise-normalised signal moves them); power 0.5 keeps
   them moving but jittering (up to 12 % off), and averaging the jitter away brings every
   one of the model's 175 posterior sds within 5 % of the full-data fit (two seeds).  The
   average is what the approximation shows between fit calls; the next ``refine`` resumes
   from the raw iterate, so ``fit(n1)`` + ``refine(n2)`` still equals ``fit(n1 + n2)``.
   Averaging only shrinks the noise like ``1 / steps``; default fits of in-memory Minibatch
   models also take most of it out of each gradient (a full-data control variate and the
   path-derivative gradient: :mod:`symvi.variational.control_variate`).

The base rate and ``t0`` are shared scalars in the one compiled step, so the search, the main
run and every ``refine`` share one compilation.

Examples
--------
>>> import numpy as np, symvi as pm
>>> y = np.random.default_rng(0).normal(2.8, 2.0, size=400)
>>> with pm.Model():
...     mu = pm.Normal("mu", 0, 10)
...     obs = pm.Normal("y", mu, 2.0, observed=y)
...     approx = pm.fit(3000, random_seed=1, progressbar=False)     # the default optimizer
>>> post_sd = 1 / np.sqrt(1 / 100 + 400 / 4); post_mean = post_sd**2 * y.sum() / 4
>>> bool(abs(approx.mean.eval()[0] - post_mean) < 0.1 * post_sd)
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor
import pytensor.tensor as pt

from symvi.variational.optimizers import _descend, apply_transform, chain, scale_by_adam

__all__ = ["AdaptiveRate", "DefaultOptimizer", "CANDIDATE_RATES", "SEARCH_STEPS", "DECAY_STEPS", "search_rate"]

CANDIDATE_RATES = (1.0, 0.3, 0.1, 0.03, 0.01)
#: base rate without a search: models fed by a data stream (symvi.streaming), which cannot
#: be rewound between trials
STREAM_RATE = 0.03
SEARCH_STEPS = 100
DECAY_STEPS = 100
DECAY_POWER = 1.0
MINIBATCH_DECAY_POWER = 0.5
SETTLE_STEPS = 5000
GENTLE_STEPS = 1000
MAX_BACKOFFS = 5
BACKOFF = 0.3
_NOT_YET = 1e15  # t0 before the loss has levelled off: no decay


@dataclass(frozen=True)
class AdaptiveRate:
    """Rate ``base / sqrt(1 + (t - 1) / GENTLE_STEPS) / (1 + max(t - t0, 0) / decay_steps) ** power``.

    ``base`` and ``t0`` are shared scalars; the first factor is a gentle decay from the start
    (it keeps a rate that was stable for the search's trial stable later), the second the
    fast decay once the loss has levelled off.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> rate = AdaptiveRate(pytensor.shared(np.float64(0.1)), pytensor.shared(np.float64(1000.0)), 100, 2.0)
    >>> round(float(rate(pytensor.tensor.constant(1.0)).eval()), 4), round(float(rate(pytensor.tensor.constant(1100.0)).eval()), 4)
    (0.1, 0.0173)
    """

    base: pytensor.compile.SharedVariable
    t0: pytensor.compile.SharedVariable
    decay_steps: int
    power: float

    def __call__(self, t):
        gentle = (1.0 + (t - 1.0) / GENTLE_STEPS) ** -0.5
        return gentle * self.base * (1.0 + pt.maximum(t - self.t0, 0.0) / self.decay_steps) ** -self.power


class DefaultOptimizer:
    """The default optimizer of one Inference: its shared base rate and decay start, the
    ``adam`` partial built on them, and the decay trigger the fit loop calls.

    Each parameter's step is multiplied elementwise by its entry of ``scales`` (shared
    arrays, ones until :meth:`set_scales`): a diagonal preconditioner, so that with a warm
    start (:mod:`symvi.variational.warmstart`) the base rate is in units of the posterior
    scale of each coordinate rather than of the raw parameter.

    Examples
    --------
    >>> d = DefaultOptimizer()
    >>> d.rate, d.decay_start is None, d.scales
    (0.1, True, {})
    """

    def __init__(
        self,
        rate: float = CANDIDATE_RATES[2],
        decay_start: float | None = None,
        power: float | None = None,
        averaging: bool = False,
    ):
        self.averaging = averaging  # minibatch fits: show the average of the iterates since t0
        self.averages: dict = {}  # parameter -> shared running average (with averaging)
        self._raw: dict = {}  # parameter -> its raw iterate while the average is shown
        self._avg_from = pytensor.shared(np.float64(0.0), name="average_from")  # restart step of the average
        self._t = None  # the optimizer's step counter (with averaging)
        self.base = pytensor.shared(np.float64(rate), name="adaptive_lr")
        self.t0 = pytensor.shared(np.float64(_NOT_YET if decay_start is None else decay_start), name="adaptive_t0")
        self.power = DECAY_POWER if power is None else float(power)
        self.rate_schedule = AdaptiveRate(self.base, self.t0, DECAY_STEPS, self.power)
        self.scales: dict = {}  # parameter name -> shared array of step multipliers
        self._pending: dict = {}  # multipliers set before the update was built (checkpoints)
        self.decay_step = None  # the fit step (index into hist) where the decay started
        self.backoffs = 0  # times the rate was cut because the loss got worse
        self.backoff_steps: list[int] = []

    def optimizer(self, loss_or_grads, params):
        """Adam updates of ``params`` with the adaptive rate and the per-parameter scales."""
        transform = chain(scale_by_adam(0.9, 0.999, 1e-8), _descend(self.rate_schedule))
        for p in params:
            if p.name not in self.scales:
                init = np.ones_like(p.get_value())
                if p.name in self._pending:
                    init[...] = self._pending.pop(p.name)
                self.scales[p.name] = pytensor.shared(init, name=f"{p.name}_lr_scale")
        updates = apply_transform(transform, loss_or_grads, params, {p: self.scales[p.name] for p in params})
        if self.averaging:
            self._add_averages(updates, params)
        return updates

    def _add_averages(self, updates: dict, params) -> None:
        """Running averages of the new iterates, weights growing linearly with the steps since
        ``t0`` (before ``t0`` the average is the iterate itself)."""
        self._t = t_shared = next(s for s in updates if s.name == "opt_t")
        # steps since the decay started (or since the user last set a parameter): negative before
        since = updates[t_shared] - pt.maximum(self.t0, self._avg_from)
        for p in params:
            avg = pytensor.shared(p.get_value().copy(), name=f"{p.name}_avg")
            w = pt.switch(since > 0, 2.0 / (since + 2.0), 1.0).astype(p.dtype)
            updates[avg] = (avg + w * (updates[p] - avg)).astype(p.dtype)
            self.averages[p] = avg

    def show_average(self) -> None:
        """End of a fit call: the parameters show their average since ``t0`` (raw iterate kept)."""
        if not self.averaging or self.decay_start is None:
            return
        for p, avg in self.averages.items():
            raw = p.get_value(borrow=True)
            p.set_value(avg.get_value().copy(), borrow=True)
            self._raw[p] = (raw, p.container.storage[0])

    def resume_raw(self) -> None:
        """Start of a fit call: parameters still showing the average go back to the raw
        iterate; if the user has set one since, all keep their values and the average starts
        afresh from them."""
        changed = False
        for p, (raw, shown) in self._raw.items():
            if p.container.storage[0] is shown:
                p.set_value(raw, borrow=True)
            else:
                changed = True
        if changed:
            for p, avg in self.averages.items():
                avg.set_value(p.get_value().copy())
            self._avg_from.set_value(np.float64(self._t.get_value()))
        self._raw = {}

    def set_scales(self, values: dict) -> None:
        """Set the step multipliers ``{parameter name: array}`` (missing names: ones); names
        whose update is not built yet take theirs when it is."""
        self._pending = {k: np.asarray(v, dtype="float64") for k, v in values.items() if k not in self.scales}
        for name, shared in self.scales.items():
            old = shared.get_value()
            shared.set_value(np.broadcast_to(np.asarray(values.get(name, 1.0), dtype=old.dtype), old.shape).copy())

    def scale_values(self) -> dict:
        """``{parameter name: step multipliers}`` that are not all ones (checkpoints)."""
        return {k: v.get_value() for k, v in self.scales.items() if not np.all(v.get_value() == 1.0)}

    @property
    def rate(self) -> float:
        return float(self.base.get_value())

    @property
    def decay_start(self) -> float | None:
        """The optimizer step ``t0`` where the decay starts (None: not yet)."""
        t0 = float(self.t0.get_value())
        return None if t0 >= _NOT_YET else t0

    def set(self, rate: float, decay_start: float | None, decay_step: int | None, backoff_steps=()) -> None:
        """Restore a saved state (checkpoints)."""
        self.base.set_value(np.float64(rate))
        self.t0.set_value(np.float64(_NOT_YET if decay_start is None else decay_start))
        self.decay_step = decay_step
        self.backoff_steps = [int(b) for b in backoff_steps]
        self.backoffs = len(self.backoff_steps)

    def after_check(self, step, hist, i: int, tol: float) -> bool:
        """At check step ``i``: start the decay when the loss first levels off; returns whether
        a fit until convergence may stop here (the loss levelled off again ``SETTLE_STEPS``
        after the decay started)."""
        from symvi.variational.convergence import EVAL_EVERY, WINDOW_BLOCKS, is_converged, jumped

        window = WINDOW_BLOCKS * EVAL_EVERY
        cooled = not self.backoff_steps or i >= self.backoff_steps[-1] + window  # a full window at the new rate
        if self.backoffs < MAX_BACKOFFS and cooled and jumped(hist, i, tol):
            # unstable at this rate (the loss jumped up): a smaller rate, and decay anew later
            self.base.set_value(np.float64(self.rate * BACKOFF))
            self.t0.set_value(np.float64(_NOT_YET))
            self.decay_step, self.backoffs = None, self.backoffs + 1
            self.backoff_steps.append(int(i))
            return False
        if not is_converged(hist, i, tol):
            return False
        if self.decay_step is None:
            t = next(float(s.get_value()) for s in step.state if s.name == "opt_t")
            self.t0.set_value(np.float64(t))
            self.decay_step = int(i)
            return False
        return i >= self.decay_step + SETTLE_STEPS


def _trial(step, k: int) -> float:
    """Average loss over the second half of ``k`` steps (inf when a step went non-finite)."""
    losses, done = [], 0
    while done < k:
        chunk = step.chunk_sizes(k - done)
        out, bad = step.run(chunk)
        losses.append(out)
        done += len(out)
        if bad is not None:
            return float("inf")
    values = np.concatenate(losses)
    tail = values[len(values) // 2 :]
    return float(tail.mean()) if np.all(np.isfinite(tail)) else float("inf")


def search_rate(step, base, candidates=CANDIDATE_RATES, steps: int = SEARCH_STEPS) -> tuple[float, dict]:
    """Pick the base rate for ``step`` (a :class:`StepFunction` using ``base``).

    Runs ``steps`` steps per candidate from the current state, restoring the state after
    each, and sets ``base`` to the candidate with the lowest average loss of its trial's
    second half.  Returns ``(rate, {rate: score})``; raises ``FloatingPointError`` when every
    candidate diverged.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> from symvi.variational.step import StepFunction
    >>> w = pytensor.shared(np.array([5.0]), name="w")
    >>> d = DefaultOptimizer()
    >>> step = StepFunction(pt.sum(w**2), [w], d.optimizer)
    >>> rate, scores = search_rate(step, d.base, candidates=(1.0, 0.01), steps=20)
    >>> rate, w.get_value().tolist()    # w restored to its start
    (1.0, [5.0])
    """
    start = step.snapshot()
    scores = {}
    try:
        for rate in candidates:
            base.set_value(np.float64(rate))
            try:
                scores[float(rate)] = _trial(step, int(steps))
            finally:
                step.restore(start)
    finally:
        step.restore(start)
    finite = {r: s for r, s in scores.items() if np.isfinite(s)}
    if not finite:
        raise FloatingPointError(
            f"step-size search: the loss went NaN/inf with every candidate learning rate {list(candidates)}; "
            "check the model (or pass obj_optimizer=... with a smaller learning rate)"
        )
    best = min(finite, key=finite.get)
    base.set_value(np.float64(best))
    return best, scores
