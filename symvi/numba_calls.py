"""Cheaper calls from Python into Numba-compiled code: generators in, arrays out.

A training loop compiled by PyTensor's Numba backend receives its random generator and its
state on every call and returns the new state.  For a fit watched by a callback every step
there is one such call per step, and Numba's own conversions at the call boundary cost more
than the step itself:

* a NumPy ``Generator`` argument is turned into Numba's native struct (the bit generator's
  state pointer and its three ``next_*`` function pointers) with three Python-level
  ``ctypes.cast`` calls per call, ~5-10 us, although those pointers never change for a
  given bit generator;
* each array returned to Python unpickles the ``numpy.ndarray`` type object (Numba's
  ``serialize`` cache lookup, ~0.4 us per array: ~4 us for a step's ten results), where
  its dtype already comes from the function's environment.

:func:`install` gives Numba an unboxing routine for ``Generator`` that asks one Python helper
(:func:`generator_pointers`) for the same five numbers, kept per bit generator after the
first call, and an array boxing routine that reads the array's Python type from the
function's environment like its dtype.  The native values are field for field what Numba
builds itself, so results are the same bit for bit.  Machine code loaded from Numba's disk
cache keeps the conversions it was compiled with, so outermost PyTensor functions that take a
generator are cached under a key of their own once this is installed (one recompile of such
functions after upgrading; nothing else changes).  ``SYMVI_FAST_NUMBA_CALLS=0`` leaves Numba
as it is.

Examples
--------
>>> import numba, numpy as np
>>> install()
True
>>> @numba.njit
... def draw(g):
...     return g.normal(size=2)
>>> bool((draw(np.random.default_rng(0)) == np.random.default_rng(0).normal(size=2)).all())
True
"""

from __future__ import annotations

import ctypes
import functools
import os
import threading
import weakref

__all__ = ["install", "generator_pointers"]

_lock = threading.Lock()
_installed = False
#: appended to PyTensor's cache key of an outermost function that takes a generator
CACHE_SALT = "-symvi-fast-calls-1"
_MAX_CACHED = 256
#: id(bit_generator.ctypes) -> (a weak reference to that record's ``state`` field, the five
#: pointers); an entry goes when its record does (with its bit generator), so fits that each
#: make new generators (a notebook re-run) do not pile up records here
_pointers: dict = {}

#: the fields of Numba's native bit generator struct this module fills, in the helper's order
_FIELDS = ("state_address", "state", "fnptr_next_uint64", "fnptr_next_uint32", "fnptr_next_double")


def generator_pointers(generator) -> tuple:
    """``(bit_generator, state_address, state, next_uint64, next_uint32, next_double)`` as ints.

    Called by the compiled unboxing code.  The pointers are kept per bit generator, keyed by its
    ``ctypes`` record (which numpy makes once per bit generator) while that record lives: an
    entry is checked against a weak reference to the record's ``state`` field, and dropped
    when the record is freed, so a reused id never finds another generator's pointers.

    Examples
    --------
    >>> import numpy as np
    >>> g = np.random.default_rng(1)
    >>> p = generator_pointers(g)
    >>> p[0] is g.bit_generator, p[1] == g.bit_generator.ctypes.state_address
    (True, True)
    """
    bit_generator = generator.bit_generator
    record = bit_generator.ctypes
    key = id(record)
    hit = _pointers.get(key)
    if hit is None or hit[0]() is not record.state:
        void = ctypes.c_void_p
        ptrs = (
            int(record.state_address),
            int(record.state.value),
            int(ctypes.cast(record.next_uint64, void).value),
            int(ctypes.cast(record.next_uint32, void).value),
            int(ctypes.cast(record.next_double, void).value),
        )
        if len(_pointers) >= _MAX_CACHED:
            _pointers.clear()
        hit = _pointers[key] = (weakref.ref(record.state, functools.partial(_forget, key)), ptrs)
    return (bit_generator, *hit[1])


def _forget(key: int, ref: weakref.ref) -> None:
    """Drop the pointers of a bit generator that is gone (its ``ctypes`` record died)."""
    hit = _pointers.get(key)
    if hit is not None and hit[0] is ref:
        del _pointers[key]


def _unbox_generator(typ, obj, c):
    """Numba unboxing of ``np.random.Generator`` through :func:`generator_pointers`."""
    from numba.core import cgutils, types
    from numba.core.pythonapi import NativeValue

    failed = cgutils.alloca_once_value(c.builder, cgutils.false_bit)
    gen = cgutils.create_struct_proxy(typ)(c.context, c.builder)
    bits = cgutils.create_struct_proxy(types.NumPyRandomBitGeneratorType("bit_generator"))(c.context, c.builder)
    helper = c.pyapi.unserialize(c.pyapi.serialize_object(generator_pointers))
    res = c.pyapi.call_function_objargs(helper, [obj])
    with c.builder.if_else(cgutils.is_null(c.builder, res)) as (error, ok):
        with error:
            c.builder.store(cgutils.true_bit, failed)
        with ok:
            bits.parent = c.pyapi.tuple_getitem(res, 0)  # borrowed: the Generator holds it
            for j, name in enumerate(_FIELDS, 1):
                setattr(bits, name, c.unbox(types.uintp, c.pyapi.tuple_getitem(res, j)).value)
            c.pyapi.decref(res)
    gen.bit_generator = bits._getvalue()
    gen.parent = obj
    gen.meminfo = c.pyapi.nrt_meminfo_new_from_pyobject(cgutils.voidptr_t(None), obj)
    return NativeValue(gen._getvalue(), is_error=c.builder.load(failed))


def _box_array(typ, val, c):
    """Numba's array boxing with the array's Python type read from the environment."""
    from llvmlite import ir
    from numba.core import boxing, cgutils, types
    from numba.np import numpy_support

    if not c.context.enable_nrt:
        return boxing.box_array(typ, val, c)
    pyapi, builder, env = c.pyapi, c.builder, c.env_manager
    dtypeptr = env.read_const(env.add_const(numpy_support.as_dtype(typ.dtype)))
    pytype = env.read_const(env.add_const(typ.box_type))
    int32 = ir.IntType(32)
    fnty = ir.FunctionType(pyapi.pyobj, [pyapi.voidptr, pyapi.pyobj, int32, int32, pyapi.pyobj])
    fn = pyapi._get_function(fnty, name="NRT_adapt_ndarray_to_python_acqref")
    fn.args[0].add_attribute("nocapture")
    ndim = c.context.get_constant(types.int32, typ.ndim)
    writable = c.context.get_constant(types.int32, int(typ.mutable))
    aryptr = cgutils.alloca_once_value(builder, val)
    out = builder.call(fn, [builder.bitcast(aryptr, pyapi.voidptr), pytype, ndim, writable, dtypeptr])
    c.context.nrt.decref(builder, typ, val)  # the Python array holds the reference now
    return out


def _model_is_known() -> bool:
    """Whether Numba's native generator structs have the fields this unboxing fills."""
    from numba.core import datamodel, types

    bit_fields = datamodel.default_manager.lookup(types.NumPyRandomBitGeneratorType("b"))._fields
    gen_fields = datamodel.default_manager.lookup(types.NumPyRandomGeneratorType("g"))._fields
    return set(_FIELDS) | {"parent"} <= set(bit_fields) and {"bit_generator", "meminfo", "parent"} == set(gen_fields)


def _salt_cache_keys() -> None:
    """Cache outermost functions that take a generator under a key of their own (see above)."""
    from pytensor.link.numba import cache
    from pytensor.link.numba.linker import NumbaLinker
    from pytensor.tensor.random.type import RandomGeneratorType

    jit_compile = NumbaLinker.jit_compile

    def jit_compile_salted(self, fn_and_cache):
        fn, key = fn_and_cache
        if key is not None and any(isinstance(v.type, RandomGeneratorType) for v in self.fgraph.inputs):
            key = key + CACHE_SALT
            py_func = getattr(fn, "py_func", None)
            known = cache.CACHED_SRC_FUNCTIONS.get(py_func) if py_func is not None else None
            if known is not None and not known.endswith(CACHE_SALT):
                cache.CACHED_SRC_FUNCTIONS[py_func] = known + CACHE_SALT
        return jit_compile(self, (fn, key))

    NumbaLinker.jit_compile = jit_compile_salted


def install() -> bool:
    """Use the cheaper conversions from now on (idempotent); False when turned off or unknown."""
    global _installed
    if os.environ.get("SYMVI_FAST_NUMBA_CALLS", "1") == "0":
        return False
    with _lock:
        if _installed:
            return True
        try:
            import numba.core.boxing  # registers Numba's own conversions first
            import numba.np.random.generator_core  # noqa: F401 - the native generator structs
            from numba.core import types
            from numba.core.pythonapi import PythonAPI, _boxers, _unboxers
        except ImportError:  # pragma: no cover - numba is a pytensor dependency
            return False
        if not _model_is_known():  # pragma: no cover - a Numba with other generator structs
            return False
        _unboxers.functions[types.NumPyRandomGeneratorType] = _unbox_generator
        if _boxers.functions.get(types.Array) is numba.core.boxing.box_array and hasattr(PythonAPI, "_get_function"):
            # (only where Numba boxes arrays the way this replacement repeats)
            _boxers.functions[types.Array] = _box_array
        _salt_cache_keys()
        _installed = True
        return True
