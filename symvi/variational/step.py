"""One optimisation step, compiled as a loop of K steps per call.

``StepFunction`` takes the objective's loss (and optionally explicit gradients), applies the
optimizer, and wraps the single-step update in a ``scan`` whose carried state is every
shared variable the step changes: parameters, optimizer state, and the random generators
(noise for the Monte Carlo estimate, minibatch indices).  Drawing noise inside the step keeps
results identical whatever K is.  The function is compiled once and reused for every chunk,
``fit`` and ``refine`` call.

A step whose loss or new parameters are not finite is not applied: the scan carries an
``alive`` flag, and every later step of the chunk is a no-op that reports NaN.

``run(k, tracked=exprs)`` also records each expression of ``exprs`` after every step as an
extra output of the loop (``Tracker`` of symbolic expressions): one more compiled function
per distinct set of expressions, sharing the same parameters and optimizer state.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import graph_replace
from pytensor.tensor.random.type import RandomGeneratorType

from symvi.backends import fixed_length_loops, get_mode, resolve_backend
from symvi.pytensorf import fold_lifted_integers, lift_constants, rng_updates
from symvi.variational import tiers
from symvi.variational.fastcall import direct_call, fast_numba_vm
from symvi.variational.nodes import tie_noise_to_loop
from symvi.variational.optimizers import total_norm_constraint

__all__ = ["StepFunction"]

_log = logging.getLogger("symvi.tiers")


def _is_rng(var) -> bool:
    return isinstance(var.type, RandomGeneratorType)


def _keeps_inputs(fn) -> bool:
    """Whether a compiled function leaves the arrays it is given untouched (no in-place op on them).

    Random generators may be advanced in place (:mod:`symvi.rng_inplace`): :meth:`StepFunction.mark`
    keeps their state rather than a reference.
    """
    fgraph = fn.maker.fgraph
    inputs = set(fgraph.inputs)
    for node in fgraph.apply_nodes:
        for ins in getattr(node.op, "destroy_map", {}).values():
            if any(node.inputs[j] in inputs and not _is_rng(node.inputs[j]) for j in ins):
                return False
    return True


class _RngState:
    """A generator's state at :meth:`StepFunction.mark` (the loop may advance it in place)."""

    __slots__ = ("bit_generator", "state")

    def __init__(self, generator: np.random.Generator):
        self.bit_generator = type(generator.bit_generator)
        self.state = generator.bit_generator.state

    def generator(self) -> np.random.Generator:
        bg = self.bit_generator(0)
        bg.state = self.state
        return np.random.Generator(bg)


def graph_key(outputs) -> tuple:
    """A hashable structural description of expressions: equal for graphs that compute the same.

    Shared variables and free inputs count by identity, constants by value, so two separately
    built ``approx.std`` expressions give the same key.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> w = pytensor.shared(np.ones(2))
    >>> graph_key([pt.exp(w) + 1]) == graph_key([pt.exp(w) + 1]), graph_key([w]) == graph_key([w * 2])
    (True, False)
    """
    from pytensor.graph.basic import Constant

    memo: dict = {}

    def key(var):
        if var in memo:
            return memo[var]
        node = var.owner
        if node is not None:
            k = ("op", node.op, node.outputs.index(var), tuple(key(i) for i in node.inputs))
        elif isinstance(var, Constant):
            data = var.data
            k = ("const", str(var.type), data.tobytes() if isinstance(data, np.ndarray) else repr(data))
        else:
            k = ("var", id(var))
        memo[var] = k
        return k

    return tuple(key(o) for o in outputs)


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
        self._rng_positions = [i for i, s in enumerate(self.state) if _is_rng(s)]
        self._loss, self._updates = loss, updates
        self._fns: dict = {}
        self.functions: dict = {}
        self._tracked_keys: dict = {}
        self.backend: str | None = None  # None: resolved at each run (context / env / numba); "auto": tiers
        self._built: dict = {}  # graphs built (to hash them) but not compiled yet, by compile key
        self._tiers: dict = {}  # per tracked set: tiers.BackgroundCompile of its Numba loop, or False
        self.quick_fallbacks = 0  # ops of the quick loop without compiled C code (run in Python)
        self._compiled_in_tier = False
        self._last_call = None  # (backend setting, tracked, backend, loop) of the last run
        self._cells = [s.container.storage for s in self.state]  # where each state value is held

    def _key(self, backend: str, k: int | None, tracked: tuple = ()) -> tuple:
        key = (backend, k if backend == "jax" else None)
        if tracked:
            ids = tuple(map(id, tracked))
            if ids not in self._tracked_keys:  # kept with the expressions, so the ids stay theirs
                self._tracked_keys[ids] = (tracked, graph_key(tracked))
            key += (self._tracked_keys[ids][1],)
        return key

    def _compiled(self, backend: str, k: int, tracked: tuple = ()):
        """The compiled loop for ``backend``; JAX needs the loop length ``k`` fixed."""
        key = self._key(backend, k, tracked)
        self.compiled_now = key not in self._fns  # lets the caller leave compile time out of timings
        if self.compiled_now:
            t0 = time.perf_counter()
            self._fns[key] = self._compile(backend, key[1], tracked, key)
            _log.debug("compiled the %s loop in %.2f s", backend, time.perf_counter() - t0)
        return self._fns[key]

    def _graph(self, backend, static_k, tracked=()):
        """``(inputs, [losses, flags, *tracked rows], updates)`` of the K-step loop for ``backend``."""
        loss, updates, state = self._loss, self._updates, self.state
        param_idx = [state.index(p) for p in self.params]
        if backend == "jax":  # JAX traces shapes: lifted integer constants (reshape targets) go back in
            folded = fold_lifted_integers([loss] + [updates[s] for s in state])
            loss, updates = folded[0], dict(zip(state, folded[1:]))

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
            reported = pt.switch(ok, step_loss, np.nan).astype(step_loss.dtype)  # no upcast in the loop
            flags = pt.stack([pt.and_(f, alive) for f in finite]) if finite else pt.zeros(0, dtype="bool")
            # tracked expressions read the state after this step (the last good one after a bad step)
            seen = graph_replace(list(tracked), dict(zip(state, out)), strict=False) if tracked else []
            # sample_node draws (in tracked expressions, or a custom objective) must be redrawn
            # at every step, not moved out of the loop as loop constants: tie them to the carried flag
            return tie_noise_to_loop([*out, ok, reported, flags, *seen], alive)

        n_steps = pt.iscalar("K")
        length = n_steps if static_k is None else static_k
        init = [*state, pt.constant(np.bool_(True))]
        results = pytensor.scan(
            one_step,
            outputs_info=init + [None] * (2 + len(tracked)),
            n_steps=length,
            return_updates=False,
            # the VMs run the loop body in this mode; Numba rewrites it with this mode's extra rewrites
            mode=self._mode(backend) if backend in ("c", "quick", "numba") else None,
        )
        finals = results[: len(state)]
        losses, flags = results[len(state) + 1], results[len(state) + 2]
        rows = list(results[len(state) + 3 :])
        fn_updates = {s: (r if _is_rng(s) else r[-1]) for s, r in zip(state, finals)}
        inputs = [n_steps] if static_k is None else []
        return inputs, [losses, flags, *rows], fn_updates

    def _mode(self, backend):
        return tiers.quick_mode() if backend == "quick" else get_mode(backend, for_scan=True)

    def _compile(self, backend, static_k, tracked=(), key=None):
        built = self._built.pop(key, None)  # the graph _tier built to hash it
        inputs, outputs, fn_updates = built or self._graph(backend, static_k, tracked)
        quick = tiers.cached_c_only() if backend == "quick" else contextlib.nullcontext()
        with warnings.catch_warnings(), quick as misses:
            # JAX keeps its own copy of each generator and advances it between calls: expected
            warnings.filterwarnings("ignore", message="The RandomType SharedVariables")
            fn = pytensor.function(inputs, outputs, updates=fn_updates, mode=self._mode(backend), on_unused_input="ignore")
        if misses is not None:
            self.quick_fallbacks = len(misses)
        if backend == "numba" and static_k is None:  # later fits of this graph go to Numba at once
            tiers.mark_numba_ready(tiers.graph_key(outputs, fn_updates))
        fn.trust_input = True  # run() passes the loop length as the int32 scalar it is
        self.functions[key] = fn  # the compiled pytensor function, for inspection (dtypes, ops)
        self.keeps_inputs = getattr(self, "keeps_inputs", True) and _keeps_inputs(fn)
        if backend == "numba" and _keeps_inputs(fn):  # a failed fast call can then rerun unharmed
            fn.vm = fast_numba_vm(fn.vm, fn.maker.fgraph)
        if static_k is None:
            last = [None, None]  # the loop length of the last call and its int32 array (never written)
            run = direct_call(fn)  # (fn itself unless its vm is the fast Numba entry)

            def call(k):
                if last[0] != k:
                    last[0], last[1] = k, np.asarray(k, dtype="int32")
                return run(last[1])

            return call
        return lambda k: fn()

    # ---- tiers (symvi.variational.tiers): backend "auto" = quick VM now, Numba once ready
    def _tier(self, tracked: tuple = ()) -> str:
        """The backend of the next chunk of an ``auto`` fit: "numba" once it is compiled, else "quick"."""
        numba_key = self._key("numba", None, tracked)
        tkey = numba_key[2:]
        job = self._tiers.get(tkey)
        if numba_key in self._fns or job is False:
            return "numba" if numba_key in self._fns else "quick"
        if job is None:
            graph = self._built[numba_key] = self._graph("numba", None, tracked)
            key = tiers.graph_key(graph[1], graph[2])
            if tiers.numba_ready(key):
                self._tiers[tkey] = False
                _log.debug("graph %s compiled by Numba before: no quick tier", key)
                return "numba"
            quick_key = self._key("quick", None, tracked)
            quick_graph = self._built[quick_key] = self._graph("quick", None, tracked)
            self._compiled("quick", None, tracked)
            self._built.pop(quick_key, None)
            self._compiled_in_tier = True
            if self.quick_fallbacks > tiers.MAX_FALLBACKS:
                # many ops without compiled C code would run in Python: slower than waiting for
                # Numba here; compile their C modules in the background for the next models
                _log.debug("graph %s: %d ops lack C modules: Numba now", key, self.quick_fallbacks)
                self._c_job = tiers.BackgroundCompile(None, key, quick_graph=quick_graph)
                self._tiers[tkey] = False
                return "numba"
            _log.debug("graph %s new to Numba: quick tier, Numba in the background", key)
            job = self._tiers[tkey] = tiers.BackgroundCompile(graph, key, quick_graph=quick_graph)
        if job.ready():
            self._tiers[tkey] = False
            _log.debug("background Numba compile ready: switching")
            return "numba"
        if job.failure is not None and job.superseded:
            del self._tiers[tkey]  # queue it again if this step runs on (e.g. refine)
        elif job.failure is not None:
            warnings.warn(f"symvi: {job.failure}; the fit goes on with the quick compiled loop", RuntimeWarning, stacklevel=4)
            self._tiers[tkey] = False
        return "quick"

    def cancel_background(self) -> None:
        """Stop background Numba compiles of this step (Ctrl-C): the fit keeps its quick loop."""
        for tkey, job in list(self._tiers.items()):
            if job is not False:
                job.cancel(reason="the fit was interrupted")
                self._tiers[tkey] = False

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

    def run(self, k: int, tracked: tuple = ()):
        """Run ``k`` steps; returns (losses, names of non-finite params at the first bad step).

        With ``tracked`` expressions, a third value holds, for each expression, its value
        after every completed step (an array with one row per step).
        """
        tracked = tuple(tracked)
        k = int(k)
        last = self._last_call
        if last is not None and last[0] == self.backend and last[1] is tracked:
            backend, fn = last[2], last[3]  # the same loop as the last call (a chunk per step)
            self.compiled_now = False
        else:
            backend = self._tier(tracked) if self.backend == "auto" else resolve_backend(self.backend)
            self.last_backend = backend
            fn = self._compiled(backend, k, tracked)
            self.compiled_now |= self._compiled_in_tier
            self._compiled_in_tier = False
            # the next call may reuse this choice unless it can change: a backend read from the
            # context, the auto tier still waiting for Numba, or JAX (one loop per length)
            settled = self.backend is not None and backend not in ("quick", "jax")
            self._last_call = (self.backend, tracked, backend, fn) if settled else None
        losses, flags, *rows = fn(k)
        if backend == "jax":  # JAX leaves read-only buffers that Numba cannot take
            for s in self.state:
                if not _is_rng(s):
                    s.set_value(np.array(s.get_value()), borrow=True)
            losses, flags, rows = np.asarray(losses), np.asarray(flags), [np.asarray(r) for r in rows]
        names = None
        if not (math.isfinite(losses[0]) if len(losses) == 1 else np.isfinite(losses).all()):
            j = int(np.argmax(~np.isfinite(losses)))
            names = [p.name for p, f in zip(self.params, flags[j]) if not f] or ["loss"]
            losses, rows = losses[:j], [r[:j] for r in rows]
        return (losses, names, rows) if tracked else (losses, names)

    def snapshot(self) -> list:
        """Copies of every state value (for :meth:`restore`)."""
        return [s.get_value(borrow=False) for s in self.state]

    @property
    def settled(self) -> bool:
        """Whether the next :meth:`run` with the same backend setting and tracked expressions
        reuses the last call's compiled loop (nothing to compile or switch first)."""
        return self._last_call is not None

    def mark(self, light: bool = False) -> list:
        """The state values before a call, by reference: :meth:`restore` undoes a call with them.

        Valid because the compiled loop never writes into its input arrays (``keeps_inputs``,
        checked at compile time): it returns new arrays and only then are they stored.  Where it
        would, this falls back to :meth:`snapshot`.  Random generators, which the loop advances
        in place, are kept as their bit generator's state (~1 us each) unless ``light``: then
        :meth:`restore` leaves them as they are (for a caller that knows no interrupt can land
        inside the call it marks, and saves those microseconds on every one-step call).
        """
        if not getattr(self, "keeps_inputs", False):
            return self.snapshot()
        values = [cell[0] for cell in self._cells]
        if light:
            return values
        for i in self._rng_positions:
            if isinstance(values[i], np.random.Generator):
                values[i] = _RngState(values[i])
        return values

    def restore(self, values) -> None:
        for s, v in zip(self.state, values):
            if isinstance(v, _RngState):
                s.set_value(v.generator(), borrow=True)
            else:
                s.set_value(v, borrow=False)
