"""One optimisation step, compiled as a loop of K steps per call.

``StepFunction`` takes the objective's loss (and optionally explicit gradients), applies the
optimizer, and compiles the loop :func:`~symvi.variational.loop_graph.loop_graph` builds: a
``scan`` carrying every shared variable the step changes (parameters, optimizer state, random
generators).  Drawing noise inside the step keeps results identical whatever K is.  The
function is compiled once and reused for every chunk, ``fit`` and ``refine`` call; a step that
is not finite is not applied (the loop reports NaN from there).

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

from symvi.backends import fixed_length_loops, get_mode, resolve_backend
from symvi.pytensorf import lift_constants, rng_updates
from symvi.variational import tiers
from symvi.variational.fastcall import direct_call, fast_numba_vm
from symvi.variational.jax_loop import JaxLoop, XlaPrefetch
from symvi.variational.loop_graph import _FIXED, JAX_TIER, LOOP_FORMAT, _is_rng, loop_graph  # noqa: F401 (JAX_TIER: re-exported)
from symvi.variational.optimizers import total_norm_constraint

__all__ = ["StepFunction"]

_log = logging.getLogger("symvi.tiers")


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
        self._stay: dict = {}  # per tracked set: the first tier, while Numba is not loaded
        self._draws_by: dict = {}  # per tracked set: the JAX tier's tiers.LoopDraws
        self._jax_loops: dict = {}  # per tracked set: (state, jax_loop.JaxLoop) of the JAX tier
        self._on_jax_tier: bool | None = None  # None: no auto chunk has run yet
        self._prefetch = None  # jax_loop.XlaPrefetch of the first JAX-tier loop (prepare)
        self._jax_ran: set = set()  # JAX-tier loops called once (compiled by then)
        self.quick_tier = True  # an auto fit without a JAX tier starts on the quick C VM (else Numba)
        self.quick_fallbacks = 0  # ops of the quick loop without compiled C code (run in Python)
        self._compiled_in_tier = False
        self._last_call = None  # (backend setting, tracked, backend, loop) of the last run
        self._cells = [s.container.storage for s in self.state]  # where each state value is held

    def _key(self, backend: str, k: int | None, tracked: tuple = ()) -> tuple:
        key = (backend, k if backend in _FIXED else None)
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
        """``(inputs, [losses, flags, *tracked rows], updates)`` of the K-step loop for ``backend``
        (the JAX tier: one step's graph, see :func:`loop_graph`)."""
        draws = self._draws_by[self._key("numba", None, tracked)[2:]] if backend == JAX_TIER else None
        # the VMs run the loop body in the backend's mode; Numba rewrites it with its extra rewrites
        mode = self._mode(backend) if backend in ("c", "quick", "numba") else None
        return loop_graph(self._loss, self._updates, self.state, self.params, backend, static_k, tuple(tracked), draws, mode)

    def _mode(self, backend):
        if backend == JAX_TIER:
            return tiers.jax_tier_mode()
        return tiers.quick_mode() if backend == "quick" else get_mode(backend, for_scan=True)

    def _compile(self, backend, static_k, tracked=(), key=None):
        built = self._built.pop(key, None)  # the graph _tier built to hash it
        if backend == JAX_TIER:
            return self._compile_jax_tier(key, tracked)
        inputs, outputs, fn_updates = built or self._graph(backend, static_k, tracked)
        quick = tiers.cached_c_only() if backend == "quick" else contextlib.nullcontext()
        with warnings.catch_warnings(), quick as misses:
            # JAX keeps its own copy of each generator and advances it between calls: expected
            warnings.filterwarnings("ignore", message="The RandomType SharedVariables")
            warnings.filterwarnings("ignore", message="Skipping .* as JAX tracing would remove it")
            fn = pytensor.function(inputs, outputs, updates=fn_updates, mode=self._mode(backend), on_unused_input="ignore")
        if misses is not None:
            self.quick_fallbacks = len(misses)
        if backend == "numba" and static_k is None:  # later fits of this graph go to Numba at once
            tiers.mark_numba_ready(self._numba_key(tracked))
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

    def _compile_jax_tier(self, key, tracked):
        """The JAX tier's loop for ``key``: ``call(k)`` draws ``k`` steps' noise in numpy, runs
        the steps in JAX and stores the new state (as writable numpy arrays, which Numba takes)."""
        tkey = key[2:]
        if tkey not in self._jax_loops:  # one converted step for every loop length (XLA compiles each)
            state, carried, noise, outputs, consts = self._graph(JAX_TIER, key[1], tracked)
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Skipping .* as JAX tracing would remove it")
                self._jax_loops[tkey] = (state, JaxLoop(carried, noise, outputs, consts, tiers.jax_tier_mode()))
        state, loop = self._jax_loops[tkey]
        self.functions[key] = loop
        draws = self._draws_by[tkey]
        cells = [s.container.storage for s in state]

        def carry():  # the state now, and the alive flag
            return [c[0] for c in cells] + [np.True_]

        def call(k):
            final, stacked = loop(carry(), draws.draw(k), k)
            for cell, v in zip(cells, final[:-1]):
                cell[0] = np.array(v)
            return stacked

        call.arguments = lambda k: (carry(), draws.peek(k), k)
        call.loop = loop
        return call

    # ---- tiers (symvi.variational.tiers): backend "auto" = quick VM now, Numba once ready
    def _tier(self, tracked: tuple = ()) -> str:
        """The backend of the next chunk of an ``auto`` fit: "numba" once it is compiled, else
        the first tier (JAX fed with numpy's draws where JAX is installed, else the quick C VM)."""
        numba_key = self._key("numba", None, tracked)
        tkey = numba_key[2:]
        job = self._tiers.get(tkey)
        if numba_key in self._fns:
            return "numba"
        if job is False:  # no background compile (any more): the tier this fit stays on
            return self._stay.get(tkey, "numba")
        if job is None:
            key = self._numba_key(tracked)
            if tiers.numba_ready(key):
                self._tiers[tkey] = False
                _log.debug("graph %s compiled by Numba before: no first tier", key)
                return "numba"
            # (not with a minibatch control variate: near its reference point a step's gradient
            # is a difference of nearly equal terms, and one ulp of rounding in a step grows
            # to 1e-4 within a few steps, so JAX's and Numba's fits would visibly differ)
            # float32 loops neither: JAX and Numba round float32 differently (1e-7 apart)
            jax_tier = tiers.jax_available() and getattr(self, "control_variate", None) is None and self._float64()
            draws = tiers.LoopDraws.find([self._loss, *tracked], self._updates) if jax_tier else None
            if draws is None and not self.quick_tier:  # symvi's default without a JAX tier: Numba now
                self._tiers[tkey] = False
                return "numba"
            if draws is not None:
                _log.debug("graph %s new to Numba: JAX tier, Numba in the background", key)
                self._draws_by[tkey] = draws
                self._stay[tkey] = JAX_TIER
                # held until XLA has compiled the JAX loop: on 2 cores a Numba compile
                # started now would slow the first result by ~0.4 s
                # (the background process builds the Numba loop from the step's expressions)
                spec = {"loss": self._loss, "updates": self._updates, "state": self.state, "params": self.params, "tracked": tracked}
                self._tiers[tkey] = tiers.BackgroundCompile(None, key, hold=True, spec=spec)
                return JAX_TIER
            graph = self._built[numba_key] = self._graph("numba", None, tracked)
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
            self._stay[tkey] = "quick"
            job = self._tiers[tkey] = tiers.BackgroundCompile(graph, key, quick_graph=quick_graph)
        first = self._stay[tkey]
        if job.ready():
            self._tiers[tkey] = False
            self._stay.pop(tkey, None)
            _log.debug("background Numba compile ready: switching")
            return "numba"
        if job.failure is not None and job.superseded:
            del self._tiers[tkey]  # queue it again if this step runs on (e.g. refine)
        elif job.failure is not None:
            what = "JAX" if first == JAX_TIER else "quick compiled"
            warnings.warn(f"symvi: {job.failure}; the fit goes on with the {what} loop", RuntimeWarning, stacklevel=4)
            self._tiers[tkey] = False
        return first

    def _numba_key(self, tracked: tuple) -> str:
        """The disk key of this step's Numba loop (with ``tracked`` rows): a hash of the step's
        expressions, which determine the loop (:func:`loop_graph`, format ``LOOP_FORMAT``)."""
        return tiers.graph_key([self._loss, *tracked], self._updates, salt=f"loop {LOOP_FORMAT}")

    def _float64(self) -> bool:
        return all(getattr(s.type, "dtype", "float64") not in ("float32", "float16") for s in self.state) and self._loss.dtype == "float64"

    def cancel_background(self) -> None:
        """Stop background Numba compiles of this step (Ctrl-C): the fit keeps its first tier."""
        for tkey, job in list(self._tiers.items()):
            if job is not False:
                job.cancel(reason="the fit was interrupted")
                self._tiers[tkey] = False

    @property
    def fixed_length(self) -> bool:
        """Whether each loop length is a separate compile (JAX)."""
        if self.backend == "auto":  # before the first chunk: the JAX tier if JAX is there
            return tiers.jax_available() if self._on_jax_tier is None else self._on_jax_tier
        return fixed_length_loops(resolve_backend(self.backend))

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
            if self.backend == "auto":
                self._on_jax_tier = backend == JAX_TIER
            if backend in _FIXED and k != self.chunk_sizes(k):  # lengths compiled: 1000, 100, 10, 1
                return self._run_pieces(k, tracked)
            if backend == JAX_TIER and self._key(backend, k, tracked) not in self._jax_ran:
                self._last_call = None
                fn = self._first_jax_call(k, tracked)
                if fn is None:  # JAX could not compile this loop: Numba (in-process) instead
                    return self.run(k, tracked)
                return self._finish(backend, fn, tracked)
            fn = self._compiled(backend, k, tracked)
            self.compiled_now |= self._compiled_in_tier
            self._compiled_in_tier = False
            # the next call may reuse this choice unless it can change: a backend read from the
            # context, the auto tier still waiting for Numba, or JAX (one loop per length)
            settled = self.backend is not None and backend not in ("quick", *_FIXED)
            self._last_call = (self.backend, tracked, backend, fn) if settled else None
        return self._finish(backend, fn(k), tracked)

    def prepare(self, k: int) -> None:
        """Start compiling the loop of a first ``run(k)`` where that can overlap other work.

        On the JAX tier (an ``auto`` fit of a loop new to Numba), PyTensor converts the loop
        here and XLA compiles it in a thread (:class:`jax_loop.XlaPrefetch`), while the caller
        goes on (a fit computes its warm start); the first ``run`` waits for it.  Elsewhere
        nothing happens.

        Examples
        --------
        >>> import numpy as np, pytensor, pytensor.tensor as pt
        >>> from symvi.variational.optimizers import adam
        >>> w = pytensor.shared(np.array([3.0]), name="w")
        >>> step = StepFunction(pt.sum(w**2), [w], adam(learning_rate=0.1))
        >>> step.backend = "numba"
        >>> step.prepare(100)                  # not a tiered fit: nothing to start
        >>> step._prefetch is None
        True
        """
        if self.backend != "auto" or self._prefetch is not None or not tiers.jax_available():
            return
        if self._tier(()) != JAX_TIER:
            return
        k = self.chunk_sizes(k)
        key = self._key(JAX_TIER, k, ())
        if key in self._fns:
            return
        try:
            call = self._compiled(JAX_TIER, k, ())
            self._prefetch = XlaPrefetch(call.loop, call.arguments(k))  # the first call's arguments
        except Exception as err:  # noqa: BLE001 - the first run compiles again and handles it
            _log.debug("no XLA prefetch (%s: %s)", type(err).__name__, err)

    def _first_jax_call(self, k: int, tracked: tuple):
        """The first call of a JAX-tier loop (JAX traces and compiles at its first call).

        Returns its outputs, or None where JAX cannot compile the loop (an op without a JAX
        implementation): the fit then goes to Numba, and nothing of its state has changed.
        """
        key = self._key(JAX_TIER, k, tracked)
        tkey = key[2:]
        draws = self._draws_by[tkey]
        at = draws.positions()
        try:
            fn = self._compiled(JAX_TIER, k, tracked)
            if self._prefetch is not None:  # XLA compiling this loop already (prepare)
                self._prefetch.wait()
                self._prefetch = None
            out = fn(k)
        except Exception as err:  # noqa: BLE001 - any JAX failure: the fit goes on with Numba
            _log.debug("the JAX tier cannot run this loop (%s: %s): Numba", type(err).__name__, err)
            self._fns.pop(key, None)
            draws.rewind(at)  # draws made for the failed call are not used
            job = self._tiers.get(tkey)
            if job not in (None, False):
                job.cancel(reason=None)
            self._tiers[tkey] = False
            self._stay[tkey] = "numba"
            return None
        self._jax_ran.add(key)
        job = self._tiers.get(tkey)
        if job not in (None, False):  # the JAX loop is compiled: Numba's turn
            job.release()
        return out

    def _finish(self, backend, outputs, tracked):
        """``run``'s result from a compiled loop's outputs (losses, flags, tracked rows)."""
        losses, flags, *rows = outputs
        if backend == "jax":  # JAX leaves read-only buffers that Numba cannot take
            for s in self.state:
                if not _is_rng(s):
                    s.set_value(np.array(s.get_value()), borrow=True)
        if backend in _FIXED:
            losses, flags, rows = np.asarray(losses), np.asarray(flags), [np.asarray(r) for r in rows]
        names = None
        if not (math.isfinite(losses[0]) if len(losses) == 1 else np.isfinite(losses).all()):
            j = int(np.argmax(~np.isfinite(losses)))
            names = [p.name for p, f in zip(self.params, flags[j]) if not f] or ["loss"]
            losses, rows = losses[:j], [r[:j] for r in rows]
        return (losses, names, rows) if tracked else (losses, names)

    def _run_pieces(self, k: int, tracked: tuple):
        """``run(k)`` as calls of the loop lengths a fixed-length backend compiles."""
        parts = []
        while k > 0:
            piece = self.chunk_sizes(k)
            out = self.run(piece, tracked)
            parts.append(out)
            k -= piece
            if out[1] is not None:  # a bad step: the call ends there
                break
        losses = np.concatenate([p[0] for p in parts])
        if not tracked:
            return losses, parts[-1][1]
        rows = [np.concatenate(r) for r in zip(*(p[2] for p in parts))]
        return losses, parts[-1][1], rows

    @property
    def generators(self) -> list:
        """The random generators the loop carries (shared variables)."""
        return [self.state[i] for i in self._rng_positions]

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

