"""Less repeated work when Numba compiles a training loop: first fits of new models, re-runs.

Numba compiles every function to machine code on its own and, for a function that calls
others, links the callees' code into its module, optimises the whole module again and emits
machine code for all of it.  PyTensor compiles a fit's loop as five such levels - a caching
wrapper, the function graph, a caching wrapper around the scan op, the scan loop and the
loop body's function graph - so the body's code went through LLVM's optimiser and code
generator five times.  Measured on the posteriordb kidiq model (FullRankADVI, library caches
warm, 2 cores): 16.6 s of Numba compile, 10.7 s of it in those five levels, ~2 s each.

:func:`install` changes how PyTensor's graphs reach Numba, not the code that runs:

* the scan op is compiled without a caching wrapper of its own: it is cached as part of the
  function graph around it (whose cache key includes the scan's), which is what a re-run
  finds;
* the levels above the loop body (the scan loop and the function graphs that call it) link
  their callees without re-optimising them: the body and every op in it were optimised when
  they were compiled, and what the glue could gain - inlining the body into the loop - is one
  call per step;
* the intermediate levels' machine code is emitted only if something asks for a pointer to
  it (nothing does: only the outermost function is called from Python or cached);
* within a process, an elementwise/blockwise/random op funcifies once per (op, types) and a
  graph compiled before gets the same compiled function again: PyTensor registered a new
  Numba overload per op and graph, never freed, and Numba's JIT engine never frees code
  loaded from the disk cache, so each notebook re-run kept ~250 dispatchers and the loop's
  machine code (2.4-3.3 MB per re-run of a small logistic regression; now ~0.25 MB).

* a slice assignment whose shapes disagree raises ``ValueError("cannot assign slice of shape
  ... from input of shape ...", src_shape, input_shape)`` with the shapes as arguments:
  Numba's own message formats the shapes into a string inside compiled code, which pulls
  Numba's whole unicode machinery (repr, str of ints, concatenation) into the first compile
  of every process - 2.0 of 2.8 s CPU to compile ``a[1:3] = b`` alone
  (``SYMVI_NUMBA_SLICE_MESSAGE=1`` keeps Numba's message).

First fits of new models (library caches warm, 2 cores): 27-45 % less time (kidiq 19.2 ->
10.8 s, eight_schools 18.5 -> 11.3 s, seed gamma 18.3 -> 11.7 s); same results bit for bit,
steady state level (``benchmarks/bench_first_fit.py``, ``bench_rerun_memory.py``).
``SYMVI_NUMBA_GLUE=0`` turns all of it off (to compare, or to rule it out).

Examples
--------
>>> install()
True
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict

__all__ = ["install", "is_glue"]

_lock = threading.Lock()
_installed = False

#: qualified names of the functions PyTensor generates for a scan loop and its body, and for
#: a function graph (the caching wrapper around a graph has the graph's name too)
SCAN_LOOP, SCAN_BODY, FGRAPH = "scan", "numba_scan", "numba_funcified_fgraph"


def is_glue(name: str, linked_names: list[str], linked_glue: list[bool]) -> bool:
    """Whether a library only wires up already optimised code around a scan loop.

    ``name`` is the library's (function's) name, ``linked_names`` / ``linked_glue`` the names
    of the libraries it links and whether each of them is glue.

    >>> is_glue("scan", ["numba_scan", "impl"], [False, False])
    True
    >>> is_glue("numba_funcified_fgraph", ["scan"], [True])
    True
    >>> is_glue("numba_funcified_fgraph", ["elemwise"], [False])
    False
    """
    if name == SCAN_LOOP:
        return SCAN_BODY in linked_names
    if name == FGRAPH:
        return any(linked_glue)
    return False


def install() -> bool:
    """Apply the changes listed above (idempotent); False when turned off or Numba is unavailable."""
    global _installed
    if os.environ.get("SYMVI_NUMBA_GLUE", "1") == "0":
        return False
    with _lock:
        if _installed:
            return True
        try:
            from numba.core import codegen
            from pytensor.link.numba.dispatch import basic
            from pytensor.scan.op import Scan
        except ImportError:  # pragma: no cover - numba is a pytensor dependency
            return False

        wrap_cached = basic.numba_funcify_ensure_cache

        def ensure_cache(op, *args, **kwargs):
            if isinstance(op, Scan) and basic.config.numba__cache:
                # the key still enters the enclosing graph's key; no wrapper level of its own
                return basic.numba_funcify_and_cache_key(op, *args, **kwargs)
            return wrap_cached(op, *args, **kwargs)

        optimize_final = codegen.CPUCodeLibrary._optimize_final_module

        def optimize_unless_glue(self):
            linked = list(self._linking_libraries)
            glue = is_glue(self.name, [lib.name for lib in linked], [getattr(lib, "_symvi_glue", False) for lib in linked])
            self._symvi_glue = glue
            if not glue:
                optimize_final(self)

        basic.numba_funcify_ensure_cache = ensure_cache
        _install_funcify_memo(basic)
        _install_reuse()
        codegen.CPUCodeLibrary._optimize_final_module = optimize_unless_glue
        _install_lazy_emission(codegen)
        if os.environ.get("SYMVI_NUMBA_SLICE_MESSAGE", "0") != "1":
            _install_plain_slice_error()
        _installed = True
        return True


def raise_slice_shape_error(src_shapes, index_shape):
    """Stands for Numba's ``raise_with_shape_context`` (compiled through its overload)."""
    raise ValueError("cannot assign slice of shape ... from input of shape ...", src_shapes, index_shape)


def _install_plain_slice_error() -> None:
    """Numba's slice assignment raises through this module's stub: the shapes as exception
    arguments, no string formatting compiled (see the module docstring)."""
    from numba.core.extending import overload
    from numba.np import arrayobj

    @overload(raise_slice_shape_error, target="CPU")
    def _plain(src_shapes, index_shape):
        def impl(src_shapes, index_shape):
            raise ValueError("cannot assign slice of shape ... from input of shape ...", src_shapes, index_shape)

        return impl

    arrayobj.raise_with_shape_context = raise_slice_shape_error


# ---------------------------------------------------------------------------------------------
# machine code on demand

_pending_env: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_set_env = None  # numba's own JITCPUCodegen.set_env, once installed


def _install_lazy_emission(codegen) -> None:
    """Emit a library's machine code only when something needs it.

    Numba emits every compiled function at once, though a function only ever called from
    other compiled functions is linked into its callers as LLVM IR and its own machine code
    never runs.  Here a library is emitted when a pointer to a function it defines is asked
    for (a function called from Python, a ``cfunc``) or when its object code is written to
    the disk cache; the rest is never emitted.  A library loaded from the disk cache is added
    as before (loading its object code is cheap).  An environment pointer of a function that
    is not emitted is written once a module defining its global is.
    """
    lib_cls = codegen.JITCodeLibrary
    finalize_module = lib_cls._finalize_final_module
    pointer_to = lib_cls.get_pointer_to_function
    compiled_object = lib_cls._get_compiled_object
    set_env = codegen.JITCPUCodegen.set_env
    unresolved = codegen.RuntimeLinker.PREFIX

    def finalize_later(self):
        loaded = getattr(self, "_compiled_object", None) is not None  # from the disk cache
        recursive = any(gv.name.startswith(unresolved) for gv in self._final_module.global_variables)
        if self.name not in (FGRAPH, SCAN_LOOP, SCAN_BODY) or loaded or recursive:
            finalize_module(self)  # as numba does
            _resolve_envs(self._codegen)
            return
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._symvi_deferred = True
        self._finalized = True

    def emit(self):
        if getattr(self, "_symvi_deferred", False):
            self._symvi_deferred = False
            self._finalized = False
            finalize_module(self)
            _resolve_envs(self._codegen)

    def get_pointer(self, name):
        self._ensure_finalized()
        if getattr(self, "_symvi_deferred", False):
            fn = _defined_function(self._final_module, name)
            if fn is None:  # not this library's symbol: as numba, ask the engine
                ee = self._codegen._engine
                return ee.get_function_address(name) if ee.is_symbol_defined(name) else 0
            emit(self)
        return pointer_to(self, name)

    def get_compiled_object(self):
        self._ensure_finalized()
        emit(self)
        return compiled_object(self)

    def set_env_when_defined(self, env_name, env):
        if self._engine.is_symbol_defined(env_name):
            set_env(self, env_name, env)
        else:  # its module is not emitted (yet): written when one defining it is
            _pending_env[env_name] = env

    global _set_env
    _set_env = set_env
    lib_cls._finalize_final_module = finalize_later
    lib_cls.get_pointer_to_function = get_pointer
    lib_cls._get_compiled_object = get_compiled_object
    codegen.JITCPUCodegen.set_env = set_env_when_defined


def _defined_function(module, name):
    try:
        fn = module.get_function(name)
    except NameError:
        return None
    return None if fn.is_declaration else fn


def _resolve_envs(codegen_obj) -> None:
    if not _pending_env:  # the common case: called after every library numba finalises
        return
    engine = codegen_obj._engine
    for name in [n for n in list(_pending_env.keys()) if engine.is_symbol_defined(n)]:
        env = _pending_env.pop(name, None)
        if env is not None:
            _set_env(codegen_obj, name, env)


# ---------------------------------------------------------------------------------------------
# one Numba overload per op and types

_funcify_memo: dict = {}
#: arguments PyTensor passes along to every op's funcify that do not change the op's code
#: (buffers and names of the surrounding graph's Python function)
_GRAPH_ARGS = frozenset({"storage_map", "unique_name", "input_storage", "output_storage"})


def _memo_key(op, node):
    from pytensor.tensor.random.op import RandomVariableWithCoreShape

    if isinstance(op, RandomVariableWithCoreShape):  # compared by identity; its code is its RV's
        [rv_node] = op.fgraph.apply_nodes
        op, node = ("rv", rv_node.op), rv_node
    key = (op, tuple(i.type for i in node.inputs), tuple(o.type for o in node.outputs))
    try:
        hash(key)
    except TypeError:  # an unhashable op property
        return None
    return key


def _install_funcify_memo(basic) -> None:
    """Funcify an elementwise, blockwise or random op once per (op, types) in a process.

    PyTensor's Numba code for these ops registers a new ``@overload`` in Numba's global
    typing registry each time a graph is funcified, and that registry is never emptied: each
    re-run of a notebook cell kept ~250 more dispatchers alive (those of the scalar ops inside
    the fused kernels).  The same op on the same types funcifies to the same code, so the
    first result is handed out again.
    """
    from pytensor.tensor.blockwise import Blockwise
    from pytensor.tensor.elemwise import Elemwise
    from pytensor.tensor.random.op import RandomVariableWithCoreShape

    for cls in (Elemwise, Blockwise, RandomVariableWithCoreShape):
        funcify = basic.numba_funcify_and_cache_key.dispatch(cls)

        def funcify_once(op, node=None, _funcify=funcify, **kwargs):
            key = None if node is None or not _GRAPH_ARGS.issuperset(kwargs) else _memo_key(op, node)
            if key is None:
                return _funcify(op, node=node, **kwargs)
            with _lock:
                found = _funcify_memo.get(key)
            if found is None:
                found = _funcify(op, node=node, **kwargs)
                with _lock:
                    found = _funcify_memo.setdefault(key, found)
            return found

        basic.numba_funcify_and_cache_key.register(cls)(funcify_once)


# ---------------------------------------------------------------------------------------------
# one compiled function per graph and process

#: compiled functions kept for re-use, most recently used last (a notebook re-running a few
#: cells: a fit, its draws, a posterior predictive); each holds its graph's constants (the
#: training loop's data are inputs, not constants), hence a bound
REUSE_SLOTS = 16
_reuse: OrderedDict = OrderedDict()


def _install_reuse() -> None:
    """A graph compiled before in this process gets the same compiled function again.

    The key is PyTensor's cache key of the whole graph (ops, types, constants, structure: what
    its disk cache already trusts across processes) plus the fastmath flag.  Without this,
    each new Function loaded the graph from the disk cache into Numba's JIT engine again.
    """
    from pytensor.link.numba.dispatch import basic
    from pytensor.link.numba.linker import NumbaLinker

    jit_compile = NumbaLinker.jit_compile

    def jit_compile_once(self, fn_and_cache):
        key = fn_and_cache[1]
        if key is None:
            return jit_compile(self, fn_and_cache)
        key = (key, bool(basic.config.numba__fastmath))
        with _lock:
            func = _reuse.get(key)
            if func is not None:
                _reuse.move_to_end(key)
                return func
        func = jit_compile(self, fn_and_cache)
        with _lock:
            _reuse[key] = func
            while len(_reuse) > REUSE_SLOTS:
                _reuse.popitem(last=False)
        return func

    NumbaLinker.jit_compile = jit_compile_once
