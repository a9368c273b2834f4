"""Inference objects and ``fit``: the training loop around a compiled :class:`StepFunction`.

``Inference.fit(n)`` runs ``n`` steps in chunks of K steps per compiled call (K picked from
the measured step time and the callbacks' ``every``), calls callbacks between chunks exactly
at the steps they ask for, and keeps one loss per step in ``hist``.  The compiled step is
cached per approximation and optimizer settings, so ``refine`` starts without recompiling.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     mu = pm.Normal("mu", 0, 10)
...     y = pm.Normal("y", mu, 1, observed=np.array([0.9, 1.1]))
...     approx = pm.fit(5000, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01))
>>> bool(abs(approx.mean.eval()[0] - 0.995) < 0.3)  # exact posterior: mean 0.995, sd 0.71
True
"""

from __future__ import annotations

import functools
import numbers
import time

import numpy as np

from symvi.gc_pause import paused
from symvi.logprob import param_constants
from symvi.model import modelcontext
from symvi.pytensorf import reseed_rngs, without_creation_traces
from symvi.streaming import chunk_hooks
from symvi.lazy_imports import import_arviz_soon
from symvi.backends import TIERED, chosen_backend, fit_backend, resolve_backend
from symvi.variational import adapt
from symvi.variational import convergence, warmstart
from symvi.variational import objective as objectives
from symvi.variational.approximations import FullRank, MeanField
from symvi.variational.callbacks import Tracker, every_of
from symvi.variational.checkpoint import _instance_kwargs, checkpointable
from symvi.variational.methods import METHODS as _METHODS
from symvi.variational.methods import register_method
from symvi.variational.optimizers import adagrad_window
from symvi.variational.control_variate import refresh_control_variate
from symvi.variational.fit_checks import (  # noqa: F401 - MAX_STEPS: fit(None)'s cap, read by users/tests
    LARGE_DATA_BYTES,
    MAX_STEPS,
    _check_n,
    _check_start_logp,
    _data_bytes,
    _run_plan,
    _sigint_between_chunks,
)
from symvi.variational.progress import FitProgress, average_loss
from symvi.variational.step import StepFunction

__all__ = ["Inference", "KLqp", "ADVI", "FullRankADVI", "fit"]

_CHUNK_SECONDS = 0.1
_MAX_CHUNK = 20000
_PROGRESS_SECONDS = 0.1  # the progress bar is redrawn at most ~10 times a second


def _key(obj):
    """A hashable description of fit settings (partials compare by function + arguments)."""
    if isinstance(obj, functools.partial):
        return ("partial", obj.func, obj.args, tuple(sorted((k, _key(v)) for k, v in obj.keywords.items())))
    if isinstance(obj, dict):
        return tuple((id(k), id(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return tuple(_key(o) for o in obj)
    try:
        hash(obj)
        return obj
    except TypeError:
        return id(obj)




class Inference:
    """Optimise an approximation's parameters by minimising an objective.

    Subclasses give the approximation and the objective (``loss_and_grads``).
    """

    loss_label = "Average Loss"
    #: whether ``fit`` without ``obj_optimizer`` uses the searched, decaying Adam of
    #: :mod:`symvi.variational.adapt` (objectives that are an ELBO) or PyMC's adagrad_window
    adaptive_default = False
    #: base rates the default optimizer's step-size search tries (:mod:`symvi.variational.adapt`)
    candidate_rates = adapt.CANDIDATE_RATES

    def __init__(self, approx):
        self.approx = approx
        self.hist = np.array([], dtype="float64")
        self._steps: dict = {}
        self._state = None  # (step function, callbacks, progressbar) of the last fit
        self._start_checked = False  # the model's logp at the start is checked by the first fit
        self._fit_kwargs = None  # settings of the last fit (checkpoints rebuild its step from them)
        self._adaptive = None  # adapt.DefaultOptimizer, made by the first default fit
        self.adapted_rate = None  # base rate picked by the step-size search (default optimizer)
        self.rate_scores = None  # {candidate rate: trial loss} of that search
        self.warm_start = None  # the Pathfinder path a default fit started from (warmstart)
        approx.inference = self

    def default_optimizer(self):
        """The optimizer ``fit`` uses without ``obj_optimizer`` (one object per Inference)."""
        if not self.adaptive_default:
            return adagrad_window()
        if self._adaptive is None:
            minibatch = objectives.normalizing_constant(self.approx) is not None
            self._adaptive = adapt.DefaultOptimizer(power=adapt.MINIBATCH_DECAY_POWER if minibatch else None, averaging=minibatch)
        return self._adaptive.optimizer

    def adaptive_state(self) -> dict | None:
        """``{"rate", "decay_start", "decay_step"}`` of the default optimizer (None before its search)."""
        if self._adaptive is None or self.adapted_rate is None:
            return None
        a = self._adaptive
        state = {"rate": a.rate, "decay_start": a.decay_start, "decay_step": a.decay_step, "backoff_steps": list(a.backoff_steps)}
        scales = a.scale_values()
        if scales:
            state["scales"] = {k: v.tolist() for k, v in scales.items()}
        return state

    def set_adaptive_state(self, rate: float, decay_start=None, decay_step=None, backoff_steps=(), scales=None) -> None:
        """Restore the default optimizer's searched rate, decay start and step scales (checkpoints)."""
        self.default_optimizer()
        self._adaptive.set(rate, decay_start, decay_step, backoff_steps)
        self._adaptive.set_scales(scales or {})
        self.adapted_rate = float(rate)

    # ---- objective
    def loss_and_grads(self, n_mc, more_replacements):
        """(loss, params, grads or None) of the objective; grads None means autodiff."""
        if self._default_objective:  # no obj_optimizer: control variate, path derivative
            loss, self._control_variate = objectives.default_kl_loss(self.approx, n_mc, more_replacements)
        else:
            loss = objectives.kl_loss(self.approx, n_mc=n_mc, more_replacements=more_replacements)
        return loss, list(self.approx.shared_params.values()), None

    def step_function(
        self,
        obj_optimizer=None,
        obj_n_mc=1,
        total_grad_norm_constraint=None,
        more_obj_params=None,
        more_updates=None,
        more_replacements=None,
    ) -> StepFunction:
        """The compiled K-step update for these settings (built once, then cached)."""
        self._default_objective = obj_optimizer is None and self.adaptive_default
        obj_optimizer = obj_optimizer if obj_optimizer is not None else self.default_optimizer()
        if not callable(obj_optimizer):
            raise TypeError(f"obj_optimizer must be an optimizer such as symvi.adam(...), got {type(obj_optimizer).__name__}")
        if isinstance(obj_n_mc, bool) or not isinstance(obj_n_mc, numbers.Integral) or obj_n_mc < 1:
            raise ValueError(f"obj_n_mc must be a positive integer, got {obj_n_mc!r}")
        key = tuple(
            _key(x)
            for x in (obj_optimizer, obj_n_mc, total_grad_norm_constraint, more_obj_params, more_updates, more_replacements)
        )
        if key not in self._steps:
            self._control_variate = None
            loss, params, grads = self.loss_and_grads(int(obj_n_mc), more_replacements)
            extra = list(more_obj_params or [])
            if extra and grads is not None:
                raise TypeError(f"{type(self).__name__} does not support more_obj_params")
            # data streams in the loss (symvi.streaming): their per-step updates join the step,
            # and _iterate calls their before_chunk(k) before each compiled call
            hooks = chunk_hooks([loss])
            step_updates = dict(more_updates or {})
            for hook in hooks:
                step_updates.update(hook.step_updates())
            step = StepFunction(
                loss,
                params + extra,
                obj_optimizer,
                grads=grads,
                total_grad_norm_constraint=total_grad_norm_constraint,
                more_updates=step_updates,
                lift=param_constants(self.approx.model),
            )
            step.chunk_hooks = hooks
            step.control_variate = self._control_variate
            seeds = getattr(self.approx, "data_seed", None)
            others = [g for g in step.generators if g is not self.approx.rng]
            if seeds is not None and others:  # a seeded fit's minibatch indices repeat too
                reseed_rngs(others, seeds)
            self._steps[key] = step
        return self._steps[key]

    # ---- public loop
    @paused  # (symvi.gc_pause: no full collections over the graphs being built)
    @without_creation_traces  # (the fit's own graphs: no stack kept per node)
    def fit(
        self,
        n: int | None = 10000,
        score=None,
        callbacks=None,
        progressbar: bool = True,
        backend: str | None = None,
        diagnose: bool = False,
        tol_rel_obj: float | None = None,
        **kwargs,
    ):
        """Run ``n`` optimisation steps (``None``: until converged); returns the approximation.

        Keyword arguments: ``obj_optimizer``, ``obj_n_mc``, ``total_grad_norm_constraint``,
        ``more_obj_params``, ``more_updates``, ``more_replacements``.  ``backend`` ("numba",
        "c", "jax" or "auto"; else :func:`symvi.backend` / ``SYMVI_BACKEND``; else a loop new
        to Numba starts on JAX and moves to Numba once compiled, :func:`symvi.backends.fit_backend`)
        picks the compiler; parameters and optimizer state carry over when it changes.
        ``score=False`` runs without recording ``hist``.  ``diagnose=True`` prints the PSIS
        k-hat reading of the result (:func:`symvi.variational.diagnostics.diagnose`).

        Without ``obj_optimizer``, ADVI-type fits use Adam with a step size searched over a
        few candidates and a decaying schedule (:mod:`symvi.variational.adapt`), and ADVI and
        FullRankADVI without ``start`` first move q to a single-path Pathfinder Gaussian whose
        sds also scale the steps (:mod:`symvi.variational.warmstart`); pass
        ``obj_optimizer=pm.adagrad_window()`` for PyMC's default.  ``n=None`` runs until the
        stopping rule of :mod:`symvi.variational.convergence` holds (at most ``MAX_STEPS`` =
        50 000 steps); with an integer ``n`` all ``n`` steps run unless ``tol_rel_obj`` is
        given, and the closing line says whether the fit converged.

        Examples
        --------
        >>> import numpy as np, symvi as pm
        >>> with pm.Model():
        ...     mu = pm.Normal("mu", 0, 10)
        ...     y = pm.Normal("y", mu, 1, observed=np.array([0.9, 1.1]))
        ...     approx = pm.ADVI(random_seed=1).fit(None, progressbar=False)
        >>> len(approx.hist) < 50_000, bool(abs(approx.mean.eval()[0] - 0.995) < 0.2)
        (True, True)
        """
        n = _check_n(n)
        n, stop_tol, report_tol = _run_plan(n, tol_rel_obj)
        if diagnose:
            from symvi.variational.diagnostics import check_diagnosable

            check_diagnosable(self.approx)
        if callbacks is not None and (callable(callbacks) or not isinstance(callbacks, list | tuple)):
            raise TypeError(f"callbacks must be a list of callables f(approx, losses, i), got {callbacks!r}; wrap one in a list")
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks must be callables f(approx, losses, i), got {cb!r}")
            every_of(cb)
        unknown = set(kwargs) - {
            "obj_optimizer",
            "obj_n_mc",
            "total_grad_norm_constraint",
            "more_obj_params",
            "more_updates",
            "more_replacements",
        }
        if unknown:
            raise TypeError(f"fit() got unknown keyword argument(s) {sorted(unknown)}")
        deferred_check = False
        if not self._start_checked:
            if _data_bytes(self.approx.model) <= LARGE_DATA_BYTES:
                _check_start_logp(self.approx, kwargs.get("more_replacements"))
            else:  # checked only if the fit fails (below)
                deferred_check = True
            self._start_checked = True
        try:
            step = self.step_function(**kwargs)
            step.backend = fit_backend(backend)  # "auto": a first tier now, Numba when compiled
            step.quick_tier = chosen_backend(backend) == TIERED  # (the default never uses the C VM)
            if kwargs.get("obj_optimizer") is None and self.adaptive_default and self.adapted_rate is None:
                if step.chunk_hooks:  # a data stream cannot be rewound for the trials: no search
                    self.set_adaptive_state(adapt.STREAM_RATE)
                else:
                    step.prepare(adapt.SEARCH_STEPS)  # the JAX tier: XLA compiles meanwhile
                    if warmstart.applies(self, kwargs.get("more_replacements")):
                        self.warm_start = warmstart.warm_start(self)
                    refresh_control_variate(step, self.approx)
                    self.adapted_rate, self.rate_scores = adapt.search_rate(step, self._adaptive.base, self.candidate_rates)
            step.adaptive = self._adaptive if kwargs.get("obj_optimizer") is None and self.adaptive_default else None
            self._state = (step, callbacks, score)
            self._fit_kwargs = dict(kwargs)
            approx = self._iterate(n, step, callbacks, progressbar, score, stop_tol, report_tol)
            import_arviz_soon()  # interactive sessions: the next cell's sample/summary needs it
        except FloatingPointError:
            if deferred_check:  # a bad start point: name its terms (ValueError, as for small data)
                _check_start_logp(self.approx, kwargs.get("more_replacements"))
            raise
        if diagnose:
            from symvi.variational.diagnostics import diagnose_after_fit

            print(diagnose_after_fit(approx))
        return approx

    def refine(self, n: int | None, progressbar: bool = True, backend: str | None = None, tol_rel_obj: float | None = None):
        """Continue the last ``fit`` for ``n`` more steps (same optimizer state and callbacks).

        ``n=None`` and ``tol_rel_obj`` work as in :meth:`fit`.
        """
        if self._state is None:
            raise TypeError("refine() needs a previous fit(); call .fit() first")
        step, callbacks, score = self._state
        if backend is not None:
            step.backend = resolve_backend(backend)
        n, stop_tol, report_tol = _run_plan(_check_n(n), tol_rel_obj)
        return self._iterate(n, step, callbacks, progressbar, score, stop_tol, report_tol)

    # ---- the loop
    @staticmethod
    def _chunk_length(step, remaining, i, everys, per_step, busy):
        """Steps for the next compiled call: up to the next callback step, ~0.1 s of work."""
        k = remaining
        if everys:
            k = min(k, min(e - i % e for e in everys))
        if k > 1:  # (a callback every step: one step, nothing to size)
            target = _CHUNK_SECONDS if busy else 5 * _CHUNK_SECONDS
            first = 1000 if step.fixed_length else 50
            k = min(k, _MAX_CHUNK, first if per_step is None else max(1, int(target / per_step)))
        hooks = getattr(step, "chunk_hooks", ())
        if k > 1 or hooks:
            k = step.chunk_sizes(min([k] + [h.max_steps for h in hooks]))
        for hook in hooks:
            k = hook.before_chunk(k)  # loads the data of the next k steps (fewer at the end)
        return k

    @staticmethod
    def _plan(callbacks, step):
        """(callback, every, loop expressions or None) for each callback: Trackers of expressions
        are recorded inside the compiled loop (not where data streams feed the step)."""
        in_loop = not getattr(step, "chunk_hooks", ())
        return [
            (cb, every_of(cb), cb.loop_expressions() if in_loop and isinstance(cb, Tracker) else None)
            for cb in callbacks
        ]

    def _call_callbacks(self, plan, rows, first, losses, i):
        """Call the callbacks due at step ``i`` in order; loop-recorded Trackers take their rows."""
        if rows:  # the chunk's earlier steps precede every call made at step i
            j = 0
            for cb, _, exprs in plan:
                if exprs is not None:
                    cb.record(rows[j : j + len(exprs)], first, first, i - 1)
                    j += len(exprs)
        j = 0
        for cb, e, exprs in plan:
            if exprs is not None:
                cb.record(rows[j : j + len(exprs)], first, i, i)
                j += len(exprs)
                continue
            if i % e:
                continue
            try:
                cb(self.approx, losses, i)
            except StopIteration:
                raise
            except Exception as err:
                err.add_note(f"raised by callback {cb!r} at step {i}; the fit state up to step {i} is kept")
                raise

    def _iterate(self, n, step, callbacks, progressbar, score, stop_tol=None, report_tol=convergence.DEFAULT_TOL):
        start = len(self.hist)
        buf = np.empty(start + n, dtype="float64")
        buf[:start] = self.hist
        done = 0
        plan = self._plan(callbacks, step)
        tracked = tuple(x for _, _, exprs in plan if exprs is not None for x in exprs)
        everys = [e for _, e, exprs in plan if exprs is None]
        # the stopping rule is checked between chunks at multiples of EVAL_EVERY (so where a
        # fit stops never depends on the chunk lengths)
        adaptive = getattr(step, "adaptive", None)  # the default optimizer's decay trigger
        if adaptive is not None:
            adaptive.resume_raw()  # minibatch fits showed their averaged iterate between calls
            refresh_control_variate(step, self.approx, first=True)  # (a step rebuilt from a checkpoint)
        checking = stop_tol is not None or adaptive is not None
        chunk_everys = everys + ([convergence.EVAL_EVERY] if checking else [])
        # a Python callback every step: loops of one step, nothing to size (the common watched fit)
        one_step = 1 in chunk_everys and not getattr(step, "chunk_hooks", ())
        run, mark_state = step.run, step.mark
        converged = False
        progress = FitProgress(n, enabled=progressbar, loss_label=self.loss_label)
        shown = time.perf_counter()
        per_step = None
        interrupted_at = None
        error = None
        try:
            with _sigint_between_chunks() as sigint:
                while done < n:
                    k = 1 if one_step else self._chunk_length(step, n - done, start + done, chunk_everys, per_step, progressbar or callbacks)
                    # KeyboardInterrupt inside run() needs a first Ctrl-C seen before (the second
                    # one raises; two during one compiled call arrive as one): until then a
                    # compiled one-step call skips keeping its generators' state to undo it (at
                    # worst a second Ctrl-C within microseconds of the first leaves them advanced)
                    mark = mark_state(light=one_step and not sigint["hit"] and step.settled)
                    before = done
                    try:
                        t0 = time.perf_counter()
                        out = run(k, tracked) if tracked else run(k)
                        losses, bad = out[0], out[1]
                        buf[start + done : start + done + len(losses)] = losses
                        done += len(losses)
                    except KeyboardInterrupt:  # a second Ctrl-C, or one outside the main thread
                        if done == before:
                            step.restore(mark)
                        step.cancel_background()
                        raise
                    rows = out[2] if tracked else []
                    if bad is not None:
                        for cb, _, exprs in plan:  # loop-recorded Trackers keep every good step
                            if exprs is not None and done > before:
                                cb.record(rows[: len(exprs)], start + before + 1, start + before + 1, start + done)
                            rows = rows[len(exprs) :] if exprs is not None else rows
                        error = FloatingPointError(
                            f"NaN or inf occurred in optimization at step {start + done + 1}: non-finite {', '.join(bad)}. "
                            f"The approximation keeps the last finite state (after step {start + done}); "
                            "try a smaller learning rate, obj_n_mc > 1 or total_grad_norm_constraint."
                        )
                        break
                    now = time.perf_counter()
                    if not one_step and not step.compiled_now:
                        measured = (now - t0) / k
                        per_step = measured if per_step is None else 0.5 * (per_step + measured)
                    # the stopping rule (and the default optimizer's decay) is judged before the
                    # callbacks run, so a checkpoint a callback saves at this step holds its outcome
                    may_stop = False
                    if checking and (start + done) % convergence.EVAL_EVERY == 0:
                        if adaptive is not None:
                            may_stop = adaptive.after_check(step, buf, start + done, report_tol)
                            if adaptive.decay_step == start + done:  # q has settled: a closer reference
                                refresh_control_variate(step, self.approx)
                        else:
                            may_stop = convergence.is_converged(buf, start + done, report_tol)
                    so_far = buf[: start + done]
                    if score is not False:  # a checkpoint saved by a callback holds the steps done so far
                        self.hist = self.approx.hist = so_far
                    self._call_callbacks(plan, rows, start + before + 1, so_far, start + done)
                    if now - shown >= _PROGRESS_SECONDS or done == n:
                        shown = now
                        progress.update(done, average_loss(buf[start : start + done]))
                    if sigint["hit"]:
                        raise KeyboardInterrupt
                    if stop_tol is not None and may_stop:
                        converged = True
                        break
        except StopIteration as stop:
            interrupted_at = start + done
            if str(stop):
                print(stop)
        except KeyboardInterrupt:
            interrupted_at = start + done
            step.cancel_background()
        finally:
            if adaptive is not None:
                adaptive.show_average()
            if score is not False:
                self.hist = buf[: start + done].copy()
            self.approx.hist = self.hist
            line_avg = average_loss(buf[start : start + done])
            state = convergence.status(buf[: start + done], report_tol) if error is None else None
            self.converged = state is not None and state.startswith("converged")
            stopped = interrupted_at if interrupted_at is not None or (done < n and not converged) else None
            progress.close(done, line_avg, stopped, state=state)
        if error is not None:
            raise error
        return self.approx


@checkpointable
class KLqp(Inference):
    """Minimise KL(q || p), i.e. maximise the ELBO, for any approximation ``approx``."""

    adaptive_default = True

    def _checkpoint_kwargs(self):
        if type(self) is not KLqp:
            return {}  # subclasses (ADVI, ...) rebuild their own approximation
        approx_kwargs = _instance_kwargs(self.approx)
        if approx_kwargs is None:
            return None
        return {"approx_class": type(self.approx).__name__, "approx_kwargs": approx_kwargs}

    @classmethod
    def _from_checkpoint(cls, model=None, approx=None, **kwargs):
        return cls(approx) if cls is KLqp else cls(model=model, **kwargs)


@checkpointable
class ADVI(KLqp):
    """Mean-field ADVI: ``KLqp(MeanField(...))``.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     advi = pm.ADVI()
    >>> sorted(advi.approx.shared_params)
    ['mu', 'rho']
    """

    def __init__(self, model=None, random_seed=None, start=None, start_sigma=None):
        super().__init__(MeanField(model=model, start=start, start_sigma=start_sigma, random_seed=random_seed))


@checkpointable
class FullRankADVI(KLqp):
    """Full-rank ADVI: ``KLqp(FullRank(...))`` - learns posterior correlations."""

    def __init__(self, model=None, random_seed=None, start=None, start_sigma=None):
        super().__init__(FullRank(model=model, start=start, start_sigma=start_sigma, random_seed=random_seed))


register_method("advi", ADVI)
register_method("fullrank_advi", FullRankADVI)


@paused
@without_creation_traces
def fit(
    n: int | None = 10000,
    method="advi",
    model=None,
    random_seed=None,
    start=None,
    start_sigma=None,
    inf_kwargs=None,
    **kwargs,
):
    """Fit an approximation to the model's posterior; returns the approximation.

    ``method`` is a name (``"advi"``, ``"fullrank_advi"``, ...) or an :class:`Inference`.
    ``n=None`` fits until converged (see :meth:`Inference.fit`, which also takes
    ``tol_rel_obj``); without ``obj_optimizer`` the step size is searched and decays.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 0.5)
    ...     approx = pm.fit(5000, random_seed=3, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01))
    >>> bool(abs(approx.mean.eval()[0] - 1.0) < 0.15)
    True
    """
    inf_kwargs = dict(inf_kwargs or {})
    if isinstance(method, str):
        key = method.lower()
        if key not in _METHODS:
            raise KeyError(f"method {method!r} is not known; choose one of {sorted(_METHODS)} or pass an Inference object")
        model = modelcontext(model, who="fit()")
        if start is not None:
            inf_kwargs["start"] = start
        if start_sigma is not None:
            inf_kwargs["start_sigma"] = start_sigma
        inference = _METHODS[key](model=model, random_seed=random_seed, **inf_kwargs)
    elif isinstance(method, Inference):
        inference = method
    else:
        raise TypeError(f"method must be one of {sorted(_METHODS)} or an Inference instance, got {type(method).__name__}")
    approx = inference.fit(n, **kwargs)
    approx.inference = inference
    return approx

