"""One optimisation step, compiled as a loop of K steps per call.

``StepFunction`` takes the objective's loss (and optionally explicit gradients), applies the
optimizer, and wraps the single-step update in a ``scan`` whose carried state is every
shared variable the step changes: parameters, optimizer state, and the random generators
(noise for the Monte Carlo estimate, minibatch indices).  Drawing noise inside the step keeps
results identical whatever K is.  The function is compiled once and reused for every chunk,
``fit`` and ``refine`` call.

A step whose loss or new parameters are not finite is not applied: the scan carries an
``alive`` flag, and every later step of the chunk is a no-op that reports NaN.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import graph_replace
from pytensor.tensor.random.type import RandomGeneratorType

from symvi.backends import fixed_length_loops, get_mode, resolve_backend
from symvi.pytensorf import lift_constants, rng_updates
from symvi.variational import tiers
from symvi.variational.optimizers import total_norm_constraint

__all__ = ["StepFunction"]

_log = logging.getLogger("symvi.tiers")


def _is_rng(var) -> bool:
    return isinstance(var.type, RandomGeneratorType)


class StepFunction:
    """Compiled ``run(K) -> (losses[K], first_bad_param_names | None)``.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> from symvi.variational.optimizers import sgd
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> step = StepFunction(pt.sum(w**2), [w], sgd(learning_rate=0.25))
    >>> losses, bad = step.run(2); losses.round(3).tolist(), w.get_value().tolist()
    ([1.0, 0.25], [0.25])
    """

    def __init__(
        self,
        loss,
        params,
        optimizer,
        grads=None,
        total_grad_norm_constraint=None,
        more_updates=None,
        lift=(),
    ):
        params = list(params)
        if grads is None:
            grads = pt.grad(loss, params)
        if total_grad_norm_constraint is not None:
            grads = total_norm_constraint(grads, total_grad_norm_constraint)
        try:
            updates = optimizer(grads, params)
        except TypeError as err:
            raise TypeError(f"obj_optimizer {optimizer!r} cannot be called as obj_optimizer(grads, params): {err}") from err
        if not isinstance(updates, dict):
            raise TypeError(
                f"obj_optimizer must return a dict of updates {{shared variable: expression}}, got {type(updates).__name__}"
            )
        updates = dict(updates)
        updates.update(more_updates or {})
        for var, expr in list(updates.items()):
            if not isinstance(var, SharedVariable):
                raise TypeError(f"updates must be keyed by shared variables, got {var!r}")
        keys = list(updates)
        lifted = lift_constants([loss] + [updates[k] for k in keys], also=set(lift))
        loss, updates = lifted[0], dict(zip(keys, lifted[1:]))
        rngs = rng_updates([loss] + list(updates.values()))
        for r, nxt in rngs.items():
            updates.setdefault(r, nxt)
        self.params = params
        self.state = list(updates)
        self._loss, self._updates = loss, updates
        self._fns: dict = {}
        self.backend: str | None = None  # None: resolved at each run (context / env / numba); "auto": tiers
        self._built: dict = {}  # graphs built but not compiled yet
        self.quick_fallbacks = 0  # ops of the quick loop without compiled C code (run in Python)
        self._compiled_in_tier = False
        self._background = None  # tiers.BackgroundCompile of the Numba loop; False: none needed / given up

    def _compiled(self, backend: str, k: int):
        """The compiled loop for ``backend``; JAX needs the loop length ``k`` fixed."""
        key = (backend, k if backend == "jax" else None)
        self.compiled_now = key not in self._fns  # lets the caller leave compile time out of timings
        if self.compiled_now:
            t0 = time.perf_counter()
            self._fns[key] = self._compile(backend, key[1])
            _log.debug("compiled the %s loop in %.2f s", backend, time.perf_counter() - t0)
        return self._fns[key]

    def _graph(self, backend, static_k):
        """``(inputs, [losses, flags], updates)`` of the K-step loop compiled for ``backend``."""
        loss, updates, state = self._loss, self._updates, self.state
        param_idx = [state.index(p) for p in self.params]

        def one_step(*inner):
            alive = inner[-1]
            cur = inner[:-1]
            repl = dict(zip(state, cur))
            new = graph_replace([updates[s] for s in state] + [loss], repl, strict=False)
            new_vals, step_loss = new[:-1], new[-1]
            finite = [pt.all(pt.isfinite(new_vals[i])) for i in param_idx]
            ok = pt.and_(alive, pt.isfinite(step_loss))
            for f in finite:
                ok = pt.and_(ok, f)
            out = []
            for s, old, nv in zip(state, cur, new_vals):
                out.append(nv if _is_rng(s) else pt.switch(ok, nv, old).astype(old.dtype))
            reported = pt.switch(ok, step_loss, np.nan).astype("float64")
            flags = pt.stack([pt.and_(f, alive) for f in finite]) if finite else pt.zeros(0, dtype="bool")
            return [*out, ok, reported, flags]

        n_steps = pt.iscalar("K")
        length = n_steps if static_k is None else static_k
        init = [*state, pt.constant(np.bool_(True))]
        results = pytensor.scan(
            one_step,
            outputs_info=init + [None, None],
            n_steps=length,
            return_updates=False,
            mode=self._mode(backend) if backend in ("c", "quick") else None,  # the VMs run the loop body in this mode
        )
        finals = results[: len(state)]
        losses, flags = results[-2], results[-1]
        fn_updates = {s: (r if _is_rng(s) else r[-1]) for s, r in zip(state, finals)}
        inputs = [n_steps] if static_k is None else []
        return inputs, [losses, flags], fn_updates

    def _mode(self, backend):
        return tiers.quick_mode() if backend == "quick" else get_mode(backend, for_scan=True)

    def _compile(self, backend, static_k):
        built = self._built.pop((backend, static_k), None)  # the graph _tier built to hash it
        inputs, outputs, fn_updates = built or self._graph(backend, static_k)
        quick = tiers.cached_c_only() if backend == "quick" else contextlib.nullcontext()
        with warnings.catch_warnings(), quick as misses:
            # JAX keeps its own copy of each generator and advances it between calls: expected
            warnings.filterwarnings("ignore", message="The RandomType SharedVariables")
            fn = pytensor.function(inputs, outputs, updates=fn_updates, mode=self._mode(backend), on_unused_input="ignore")
        if misses is not None:
            self.quick_fallbacks = len(misses)
        if backend == "numba" and static_k is None:  # later fits of this graph go to Numba at once
            tiers.mark_numba_ready(tiers.graph_key(outputs, fn_updates))
        return fn if static_k is None else (lambda k: fn())

    # ---- tiers (symvi.variational.tiers): no backend chosen = quick VM now, Numba once ready
    def _tier(self) -> str:
        """The backend of the next chunk of an ``auto`` fit: "numba" once it is compiled, else "quick"."""
        if ("numba", None) in self._fns or self._background is False:
            return "numba" if ("numba", None) in self._fns else "quick"
        if self._background is None:
            graph = self._built[("numba", None)] = self._graph("numba", None)
            key = tiers.graph_key(graph[1], graph[2])
            if tiers.numba_ready(key):
                self._background = False
                _log.debug("graph %s compiled by Numba before: no quick tier", key)
                return "numba"
            quick_graph = self._built[("quick", None)] = self._graph("quick", None)
            self._compiled("quick", None)
            self._built.pop(("quick", None), None)
            self._compiled_in_tier = True
            if self.quick_fallbacks > tiers.MAX_FALLBACKS:
                # many ops without compiled C code would run in Python: slower than waiting for
                # Numba here; compile their C modules in the background for the next models
                _log.debug("graph %s: %d ops lack C modules: Numba now", key, self.quick_fallbacks)
                self._c_job = tiers.BackgroundCompile(None, key, quick_graph=quick_graph)
                self._background = False
                return "numba"
            _log.debug("graph %s new to Numba: quick tier, Numba in the background", key)
            self._background = tiers.BackgroundCompile(graph, key, quick_graph=quick_graph)
        job = self._background
        if job.ready():
            self._background = False
            _log.debug("background Numba compile ready: switching")
            return "numba"
        if job.failure is not None and job.superseded:
            self._background = None  # queue it again if this step runs on (e.g. refine)
        elif job.failure is not None:
            warnings.warn(f"symvi: {job.failure}; the fit goes on with the quick compiled loop", RuntimeWarning, stacklevel=4)
            self._background = False
        return "quick"

    def cancel_background(self) -> None:
        """Stop a background Numba compile of this step (Ctrl-C): the fit keeps its quick loop."""
        job = self._background
        if job not in (None, False):
            job.cancel(reason="the fit was interrupted")
            self._background = False

    @property
    def fixed_length(self) -> bool:
        """Whether each loop length is a separate compile (JAX)."""
        return self.backend != "auto" and fixed_length_loops(resolve_backend(self.backend))

    def chunk_sizes(self, k: int) -> int:
        """Largest loop length <= k that the backend runs without a new compile."""
        if not self.fixed_length:
            return k
        # JAX: lengths 1000, 100, 10, 1 only - one compile each, a 10 000-step fit needs one
        return min(1000, 10 ** int(np.floor(np.log10(max(k, 1)))))

    def run(self, k: int):
        """Run ``k`` steps; returns (losses, names of non-finite params at the first bad step)."""
        backend = self._tier() if self.backend == "auto" else resolve_backend(self.backend)
        self.last_backend = backend
        fn = self._compiled(backend, int(k))
        self.compiled_now |= self._compiled_in_tier
        self._compiled_in_tier = False
        losses, flags = fn(int(k))
        if backend == "jax":  # JAX leaves read-only buffers that Numba cannot take
            for s in self.state:
                if not _is_rng(s):
                    s.set_value(np.array(s.get_value()), borrow=True)
            losses, flags = np.asarray(losses), np.asarray(flags)
        bad = ~np.isfinite(losses)
        if not bad.any():
            return losses, None
        j = int(np.argmax(bad))
        names = [p.name for p, f in zip(self.params, flags[j]) if not f]
        return losses[:j], names or ["loss"]

    def snapshot(self) -> list:
        return [s.get_value(borrow=False) for s in self.state]

    def restore(self, values) -> None:
        for s, v in zip(self.state, values):
            s.set_value(v, borrow=False)
