"""Tiered compilation of the training loop: step at once, switch to Numba when it is ready.

A graph Numba has never seen takes 5-30 s to compile (almost all of it Numba's type
inference), while JAX compiles the same loop in about a second.  So a fit with no backend
chosen (or ``backend="auto"``):

1. compiles the loop for a *first tier* and starts stepping at once.  Where JAX is installed
   that is JAX (one step converted with :func:`jax_tier_mode`'s rewrites and looped by
   :class:`symvi.variational.jax_loop.JaxLoop`), fed with every step's random draws made in
   numpy from the loop's own generators (:class:`LoopDraws`), which are the numbers Numba's
   loop draws.
   Otherwise (``backend="auto"`` only; the default then compiles Numba at once) it is the
   *quick tier*: the C VM without elementwise fusion, whose op modules are reused across
   models; an op whose C module is not compiled yet runs in Python - unless more than
   ``MAX_FALLBACKS`` ops lack C code (a fresh install): then that loop would be slower than
   waiting, the fit compiles Numba at once and the background process compiles the missing C
   modules for later models;
2. hands the graph (after the JAX tier: the step's expressions, from which it builds the same
   loop with :func:`symvi.variational.loop_graph.loop_graph`), pickled, to a background process
   (lower priority) that compiles it with Numba, which writes PyTensor's on-disk Numba cache;
3. between two compiled chunks, once the background process has finished, loads the Numba
   loop in-process (now a cache hit) and carries on with it.  Parameters, optimizer state
   and random generators are shared variables, so the switch changes nothing but speed
   (and, from JAX, the last bits of rounding).

A graph whose Numba compile finished before (in this process or an earlier one) goes to
Numba directly.  A background compile that fails or is killed leaves the fit on the first
tier with one warning; the process is ended at interpreter exit, when the fit is interrupted,
and never outlives the session that started it.

Examples
--------
>>> import symvi as pm
>>> quick_mode().linker.__class__.__name__
'VMLinker'
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import io
import os
import pickle
import re
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from pathlib import Path

import numpy as np

from pytensor.graph.utils import MethodNotDefined

_patch_lock = threading.Lock()

__all__ = [
    "quick_mode",
    "cached_c_only",
    "graph_key",
    "numba_ready",
    "mark_numba_ready",
    "BackgroundCompile",
    "LoopDraws",
    "jax_available",
    "jax_tier_mode",
]


def state_dir() -> Path:
    """Where symvi keeps its compile markers (inside PyTensor's compile directory)."""
    import pytensor

    path = Path(pytensor.config.compiledir) / "symvi-tiers"
    path.mkdir(parents=True, exist_ok=True)
    return path


def quick_mode():
    """The PyTensor mode of the quick tier: the C VM without elementwise fusion.

    Fused elementwise kernels are new C code for every model (a gcc run each); unfused ops
    are C modules that every model shares.  Compile it inside :func:`cached_c_only` so that
    an op whose C module is not in the cache yet runs its Python implementation instead of
    waiting for gcc (the background process compiles those modules for next time).
    """
    from pytensor.compile.mode import Mode

    return Mode(linker="cvm", optimizer="fast_run").excluding("fusion", "scan_make_inplace")


def jax_tier_mode():
    """The PyTensor mode whose rewrites the JAX tier's step gets: PyTensor's canonical and
    stabilising rewrites only (:class:`symvi.variational.jax_loop.JaxLoop` converts the step
    and loops it in JAX; the mode's linker is not used).

    XLA fuses, works in place, simplifies and hoists loop invariants itself; PyTensor's other
    passes (specialisation, fusion) took about half of a new loop's compile (kidiq: 0.47 s
    instead of 0.98) and changed neither results (1e-15 relative to Numba over 100 steps on
    seven models) nor, measurably, JAX's time per step.  The stabilising rewrites stay: they
    need the canonical forms, and without them the tier would overflow where Numba's loop
    does not (``log(sigmoid(x))``'s gradient, ``log(1 - erf(x))``).
    """
    from pytensor.compile.mode import Mode
    from pytensor.graph.rewriting.db import RewriteDatabaseQuery
    from pytensor.link.jax.linker import JAXLinker

    query = RewriteDatabaseQuery(include=["canonicalize", "stabilize", "jax"], exclude=["inplace", "fusion", "scan_make_inplace"])
    return Mode(JAXLinker(), query)


class ModuleNotCompiled(MethodNotDefined):
    """An op's C module is not in the cache: PyTensor's ``COp.make_thunk`` then runs the op's
    Python ``perform`` (what the quick tier wants for an op not compiled yet)."""


@contextlib.contextmanager
def cached_c_only():
    """Within the block, PyTensor uses C op code only where its module is already compiled.

    A cache miss raises :class:`ModuleNotCompiled` (PyTensor's ``MethodNotDefined``) from the
    module cache, which PyTensor's ``COp.make_thunk`` answers by running the op's Python
    ``perform``.  The block yields the list of those misses.
    """
    fallbacks: list = []
    from pytensor.link.c.basic import get_module_cache
    from pytensor.link.c.cmodule import ModuleCache

    original = ModuleCache.module_from_key
    get_module_cache().refresh(cleanup=False)  # modules a background process compiled meanwhile

    def from_cache_only(self, key, lnk):
        module = self._get_from_key(key)
        if module is None:
            from pytensor.link.c.cmodule import get_module_hash

            module = self._get_from_hash(get_module_hash(lnk.get_src_code(), key), key)
        if module is None:
            fallbacks.append(key)
            raise ModuleNotCompiled("symvi quick tier: C module not compiled yet")
        return module

    with _patch_lock:
        ModuleCache.module_from_key = from_cache_only
        try:
            yield fallbacks
        finally:
            ModuleCache.module_from_key = original


def graph_key(outputs, updates: dict, salt: str = "") -> str:
    """A structural hash of a graph (ops, types, constants and shared-variable names).

    Two graphs with the same key compile to the same Numba code, so the key tells whether a
    graph's Numba compile is already in the disk cache.
    """
    from pytensor.printing import debugprint

    buf = io.StringIO()
    shared = list(updates)
    debugprint(list(outputs) + [updates[s] for s in shared], file=buf, print_type=True, print_inner_graphs=True)
    text = re.sub(r"0x[0-9a-fA-F]+", "0x", buf.getvalue())  # generators print their address
    text += "|".join(f"{s.name}:{s.type}" for s in shared)
    import pytensor

    text += f"|pytensor {pytensor.__version__}|numba_fastmath {pytensor.config.numba__fastmath}|{salt}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _ready_marker(key: str) -> Path:
    return state_dir() / f"numba-{key}"


def numba_ready(key: str) -> bool:
    """Whether a background compile of this graph finished (its Numba code is in the cache)."""
    return _ready_marker(key).exists()


def mark_numba_ready(key: str) -> None:
    _ready_marker(key).touch()


def jax_available() -> bool:
    """Whether JAX can be imported (without importing it)."""
    import importlib.util

    return importlib.util.find_spec("jax") is not None and os.environ.get("SYMVI_JAX_TIER", "1") != "0"


class LoopDraws:
    """The random draws of a compiled loop, made in numpy before each call.

    The JAX tier feeds a loop whose random nodes are replaced by inputs holding every step's
    draws.  Drawn from the loop's own generators (advanced in place), in the order the Numba
    loop would draw them, they are the numbers the Numba loop draws (PyTensor's Numba
    random variables follow numpy's algorithms), so a fit that switches from the JAX tier to
    Numba continues the same random stream.  :meth:`find` returns None where that cannot hold:
    a generator shared by two draws (they interleave), a draw whose parameters depend on the
    loop's state or on another draw, a multivariate draw, or noise that is not a RandomVariable.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> rng = pytensor.shared(np.random.default_rng(0))
    >>> x = pt.random.normal(0.0, 1.0, size=(2,), rng=rng)
    >>> d = LoopDraws.find([x], {rng: x.owner.outputs[0]})
    >>> (z,) = d.draw(3)
    >>> z.shape, bool((z == np.random.default_rng(0).standard_normal((3, 2))).all())
    ((3, 2), True)
    """

    def __init__(self, nodes: list, params_fn):
        self.nodes = nodes
        self.rngs = [n.inputs[0] for n in nodes]
        self.values = [n.outputs[1] for n in nodes]
        self._params = params_fn

    @classmethod
    def find(cls, exprs, updates: dict) -> LoopDraws | None:
        """The draws of the graph of ``exprs`` with ``updates`` (shared variable -> next value)."""
        from pytensor.compile.sharedvalue import SharedVariable
        from pytensor.graph.traversal import ancestors, io_toposort
        from pytensor.tensor.random.op import RandomVariable
        from pytensor.tensor.random.type import RandomGeneratorType

        from symvi.pytensorf import ONE_SHOT_MODE
        from symvi.variational.nodes import FreshNoise

        outs = list(exprs) + [v for k, v in updates.items() if not isinstance(k.type, RandomGeneratorType)]
        moving = {s for s in updates if not isinstance(s.type, RandomGeneratorType)}
        found, used = [], set()
        for node in io_toposort([], outs):
            randomish = any(isinstance(v.type, RandomGeneratorType) for v in node.inputs + node.outputs)
            if not randomish and not isinstance(node.op, FreshNoise):
                continue
            if not isinstance(node.op, RandomVariable) or node.op.ndim_supp != 0:
                return None
            rng = node.inputs[0]
            if not isinstance(rng, SharedVariable) or rng in used or updates.get(rng) is not node.outputs[0]:
                return None
            upstream = set(ancestors(node.inputs[1:]))
            if moving & upstream:  # parameters that change with the loop's state
                return None
            if any(v.owner is not None and isinstance(v.owner.op, RandomVariable | FreshNoise) for v in upstream):
                return None  # parameters drawn themselves: numpy could not draw them ahead
            used.add(rng)
            found.append(node)
        if not found:
            return cls([], lambda: [])
        import pytensor

        inputs = [i for n in found for i in n.inputs[1:]]
        params_fn = pytensor.function([], inputs, mode=ONE_SHOT_MODE, on_unused_input="ignore")
        return cls(found, params_fn)

    def positions(self) -> list:
        """Where each generator stands (for :meth:`rewind`)."""
        return [r.get_value(borrow=True).bit_generator.state for r in self.rngs]

    def rewind(self, positions: list) -> None:
        """Put the generators back where :meth:`positions` found them."""
        for r, st in zip(self.rngs, positions):
            r.get_value(borrow=True).bit_generator.state = st

    def peek(self, k: int) -> list:
        """:meth:`draw` without advancing the generators (the shapes of a call to come)."""
        at = self.positions()
        try:
            return self.draw(k)
        finally:
            self.rewind(at)

    def draw(self, k: int) -> list:
        """Every draw of ``k`` steps, one array per random node (leading axis: the step)."""
        if not self.nodes:
            return []
        values = iter(self._params())
        out = []
        for node, rng in zip(self.nodes, self.rngs):
            size, *params = (next(values) for _ in node.inputs[1:])
            if size is None:
                size = np.broadcast_shapes(*(np.shape(p) for p in params))
            gen = rng.get_value(borrow=True)
            draws = node.op.rng_fn(gen, *params, (k, *tuple(size)))
            out.append(np.asarray(draws, dtype=node.outputs[1].dtype))
        return out


#: a quick loop with more ops than this lacking compiled C code (so running their Python
#: implementation) is slower than waiting for Numba: such a fit compiles Numba at once
MAX_FALLBACKS = 3

# how the background process is started (tests swap in a stand-in)
COMMAND = [sys.executable, "-m", "symvi.variational.tiers"]
_queue: deque = deque()  # compiles waiting for the single background slot
_running: list = []


class BackgroundCompile:
    """Compile ``graph = (inputs, outputs, updates)`` with Numba in another process (or the loop
    of a step given as ``spec``, the keyword arguments of :func:`loop_graph.loop_graph`).

    ``quick_graph``, compiled there afterwards with the quick tier's mode and gcc allowed,
    fills the C op cache, so that later new models find their op modules compiled.

    One background process at a time (the rest wait in a queue), so a notebook that re-runs
    cells quickly never has more than one extra core busy.  ``ready()`` polls without
    blocking; ``failure`` holds a one-line reason when the compile failed or was killed.
    """

    def __init__(
        self, graph: tuple | None, key: str, quick_graph: tuple | None = None, hold: bool = False, spec: dict | None = None
    ):
        self.key = key
        self.held = hold  # queued but not started until release() (the first tier is compiling)
        self.failure: str | None = None
        self.superseded = False
        self.proc: subprocess.Popen | None = None
        self._log = None
        fd, self._path = tempfile.mkstemp(prefix="symvi-graph-", suffix=".pkl", dir=state_dir())
        try:
            with os.fdopen(fd, "wb") as f:
                payload = [None if g is None else (list(g[0]), list(g[1]), list(g[2].items())) for g in (graph, quick_graph)]
                if spec is not None:  # the step's expressions: the process builds the loop (loop_graph)
                    payload[0] = dict(spec, updates=list(spec["updates"].items()))
                pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:  # noqa: BLE001 - an unpicklable graph: stay on the quick tier
            self.failure = f"the graph could not be handed to a background process ({type(err).__name__}: {err})"
            self._cleanup()
            return
        for older in list(_queue):  # the user moved on to another model: only the newest waits
            older.cancel(reason=None)
        _queue.append(self)
        _pump()

    def release(self) -> None:
        """Let a job created with ``hold=True`` start (when the slot is free)."""
        self.held = False
        _pump()

    def _start(self) -> None:
        self._log = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [*COMMAND, self._path, str(_ready_marker(self.key))],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                start_new_session=True,  # a Ctrl-C in the terminal reaches only the fit
            )
        except OSError as err:
            self.failure = f"could not start a background process ({err})"
            self._cleanup()
            return
        _running.append(self)

    def ready(self) -> bool:
        """True once the Numba compile finished; False while it runs, waits or has failed
        (and always False for a job that compiles C modules only)."""
        _pump()
        if self.failure is not None:
            return False
        if self.proc is None:  # waiting, or skipped because an earlier job compiled this graph
            return self not in _queue and numba_ready(self.key)
        rc = self.proc.poll()
        if rc is None:
            return False
        _finish(self)
        if rc == 0 and numba_ready(self.key):
            return True
        self.failure = self._reason(rc)
        return False

    def _reason(self, rc: int) -> str:
        if rc < 0:
            return f"the background Numba compile was killed (signal {-rc})"
        text = ""
        if self._log is not None:
            self._log.seek(0)
            lines = [ln for ln in self._log.read().decode(errors="replace").splitlines() if ln.strip()]
            text = lines[-1] if lines else ""
        return f"the background Numba compile failed (exit {rc}{': ' + text if text else ''})"

    def cancel(self, reason: str | None = "the background Numba compile was cancelled") -> None:
        """End the background process (or drop it from the queue).

        ``reason`` becomes ``failure`` (None: superseded by a newer compile, nothing to report).
        """
        self.superseded = reason is None
        if self in _queue:
            _queue.remove(self)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):  # reaped at exit otherwise
                self.proc.wait(timeout=5)
        if self in _running:
            _finish(self)
        if self.failure is None and not numba_ready(self.key):
            self.failure = reason or "superseded by a newer background compile"
        self._cleanup()

    def _cleanup(self) -> None:
        with contextlib.suppress(OSError):  # already gone
            os.unlink(self._path)


def _finish(job: BackgroundCompile) -> None:
    if job in _running:
        _running.remove(job)
    job._cleanup()
    _pump()


def _pump() -> None:
    """Start the next queued compile when the slot is free."""
    for job in list(_running):
        if job.proc is not None and job.proc.poll() is not None and job.failure is None:
            _running.remove(job)
            job._cleanup()
    while not _running and _queue and not _queue[0].held:
        job = _queue.popleft()
        if numba_ready(job.key):  # compiled meanwhile by another job with the same graph
            job._cleanup()
            continue
        job._start()


@atexit.register
def _end_all() -> None:
    _queue.clear()
    for job in list(_running):
        if job.proc is not None and job.proc.poll() is None:
            job.proc.kill()
        job._cleanup()
    _running.clear()


def _main(argv: list[str]) -> int:
    """Background process: compile the graph with Numba, mark it ready, then warm the C ops."""
    path, marker = argv
    with contextlib.suppress(OSError):  # lower priority where allowed
        os.nice(10)
    parent = os.getppid()

    def orphan_watch():  # a parent killed without its atexit handlers: end too
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(3)

    threading.Thread(target=orphan_watch, daemon=True).start()
    warnings.simplefilter("ignore")
    import pytensor

    import symvi  # noqa: F401 - registers symvi's Numba implementations of its own ops
    from symvi.backends import get_mode

    with open(path, "rb") as f:
        payload = pickle.load(f)
    modes = [get_mode("numba", for_scan=True), quick_mode()]
    for graph, mode in zip(payload, modes):
        if graph is None:
            continue
        if isinstance(graph, dict):  # a step: its Numba loop, built as the fit would build it
            from symvi.variational.loop_graph import loop_graph

            spec = dict(graph, updates=dict(graph["updates"]))
            graph = loop_graph(backend="numba", static_k=None, mode=mode, **spec)
            graph = (graph[0], graph[1], list(graph[2].items()))
        inputs, outputs, updates = graph
        fn = pytensor.function(inputs, outputs, updates=dict(updates), mode=mode, on_unused_input="ignore")
        if mode is modes[0]:
            fn(*[1] * len(inputs))  # Numba compiles (and writes its cache) at the first call: one step
            Path(marker).touch()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
