"""ODESolve under Numba: compiled code that calls the Python solver through a C callback.

PyTensor runs an op without a Numba implementation through ``numba.objmode``; Numba cannot
cache code with an object-mode block ("lifted code"), and PyTensor gives such an op no cache
key, so neither its on-disk cache nor symvi's in-process reuse of compiled loops applies to
a graph containing it: every ``pm.fit`` of an ODE model compiled its training loop again.

Here the op's Numba code is plain nopython code.  It checks the shapes, lays the batch out
as ``(n, S)`` / ``(n, P)`` float64 arrays, allocates the outputs and calls one external
symbol, ``symvi_ode_solve``, with the ODE's content key and the arrays' addresses.  That
symbol is a ctypes callback registered with LLVM under a fixed name in every process, so
machine code loaded from the disk cache links to it; the callback looks the ODE up by the
key and runs :meth:`DifferentialEquation.simulate`, the same solve as ``perform``.

The key hashes what the solve computes: the traced right-hand side and its sensitivity
graph (ops with their properties, constants by value, structure), ``times``, ``t0`` and the
sizes.  Two ODEs with equal keys compute the same thing, so compiled code made for one may
run the other.  A right-hand side PyTensor cannot key (an op without ``__props__``, a shared
variable in ``func``) keeps the object-mode fallback.

Examples
--------
>>> import symvi as pm
>>> ode = pm.ode.DifferentialEquation(lambda y, t, p: -p[0] * y[0], [1.0], n_states=1, n_theta=1)
>>> content_key(ode) == content_key(pm.ode.DifferentialEquation(lambda y, t, p: -p[0] * y[0], [1.0], n_states=1, n_theta=1))
True
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from hashlib import sha256
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SYMBOL", "content_key", "numba_ode_solve"]

_log = logging.getLogger(__name__)

SYMBOL = "symvi_ode_solve"
#: content key -> the DifferentialEquation that answers it (the latest one built)
_registry: dict[int, Any] = {}
_lock = threading.Lock()
_ERROR, _INTERRUPT = 1, 2

_CALLBACK_TYPE = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p
)


def _as_array(address: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.ctypeslib.as_array(ctypes.cast(address, ctypes.POINTER(ctypes.c_double)), shape=shape)


def _solve(key: int, n: int, y0_at: int, theta_at: int, states_at: int, sens_at: int) -> int:
    """The callback: solve ``n`` problems of the ODE registered under ``key`` into the outputs."""
    try:
        ode = _registry[key]
        S, P, T = ode.n_states, ode.n_theta, ode.n_times
        y0, theta = _as_array(y0_at, (n, S)), _as_array(theta_at, (n, P))
        states, sens = _as_array(states_at, (n, T, S)), _as_array(sens_at, (n, T, S, S + P))
        for i in range(n):
            states[i], sens[i] = ode.simulate(y0[i], theta[i])
        return 0
    except KeyboardInterrupt:  # raised again by the compiled code (see numba_ode_solve)
        return _INTERRUPT
    except BaseException:  # noqa: BLE001 - an exception cannot cross the C boundary: log it
        _log.exception("pm.ode: the ODE solve raised an exception")
        return _ERROR


_callback = _CALLBACK_TYPE(_solve)  # kept alive for the process: compiled code calls it
_symbol_added = False


def _add_symbol() -> None:
    global _symbol_added
    with _lock:
        if not _symbol_added:
            import llvmlite.binding as llvm

            llvm.add_symbol(SYMBOL, ctypes.cast(_callback, ctypes.c_void_p).value)
            _symbol_added = True


@functools.cache
def _source_hash() -> str:
    """This module's source enters the cache key: an edit to the compiled code is a new key."""
    return sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def content_key(ode: Any) -> int | None:
    """A 63-bit key of what ``ode`` computes, equal across processes; None if it cannot be keyed."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import io_toposort
    from pytensor.link.numba.dispatch.basic import cache_key_for_constant, default_hash_key_from_props

    inputs, outputs = ode._graph
    coords: dict[Any, Any] = {var: ("in", i) for i, var in enumerate(inputs)}
    parts = []
    for pos, node in enumerate(io_toposort(inputs, outputs)):
        if not hasattr(node.op, "__props__"):
            return None
        ins = []
        for var in node.inputs:
            if var not in coords:
                if not isinstance(var, Constant):  # a shared variable: its value may change
                    return None
                coords[var] = ("const", str(var.type), cache_key_for_constant(var.data))
            ins.append(coords[var])
        for j, out in enumerate(node.outputs):
            coords[out] = ("node", pos, j)
        parts.append((default_hash_key_from_props(node.op), tuple(ins), tuple(str(o.type) for o in node.outputs)))
    if any(out not in coords for out in outputs):
        return None
    desc = (ode.n_states, ode.n_theta, ode.t0, ode.times, tuple(parts), tuple(coords[o] for o in outputs))
    return int.from_bytes(sha256(repr(desc).encode()).digest()[:8], "little") >> 1


def numba_ode_solve(op: Any, node: Any) -> tuple[Any, str] | None:
    """The op's Numba function and its cache key, or None when the ODE cannot be keyed."""
    from numba import types
    from pytensor.link.numba.dispatch.basic import numba_njit

    ode = op.ode
    key = getattr(ode, "_content_key", False)
    if key is False:
        key = ode._content_key = content_key(ode)
    if key is None:
        return None
    _add_symbol()
    with _lock:
        _registry[key] = ode
    solve = types.ExternalFunction(
        SYMBOL, types.intc(types.int64, types.int64, types.voidptr, types.voidptr, types.voidptr, types.voidptr)
    )
    # Numba cannot raise KeyboardInterrupt: the compiled code marks a pending interrupt
    # (Python's C API, as a signal handler does) and raises RuntimeError; Python raises the
    # KeyboardInterrupt in the caller's next bytecode
    set_interrupt = types.ExternalFunction("PyErr_SetInterrupt", types.void())
    S, P, T = ode.n_states, ode.n_theta, ode.n_times
    NP = S + P
    out_dtype = np.dtype(node.outputs[0].dtype)
    out_type = out_dtype.type  # the compiled code needs the scalar class (np.float32)
    f64 = np.float64

    @numba_njit
    def ode_solve(y0, theta):
        if y0.shape[-1] != S:
            raise ValueError("pm.ode: y0 must have n_states values in its last dimension")
        if theta.shape[-1] != P:
            raise ValueError("pm.ode: theta must have n_theta values in its last dimension")
        batch = y0.shape[:-1]
        if batch != theta.shape[:-1]:
            raise ValueError("pm.ode: y0 and theta must have the same batch shape")
        n = y0.size // S
        y0c = np.ascontiguousarray(y0).astype(f64).reshape((n, S))
        thc = np.ascontiguousarray(theta).astype(f64).reshape((n, P))
        states = np.empty((n, T, S), dtype=f64)
        sens = np.empty((n, T, S, NP), dtype=f64)
        rc = solve(key, n, y0c.ctypes, thc.ctypes, states.ctypes, sens.ctypes)
        # y0c / thc are used after the call, so they are alive during it
        if rc == 2 and y0c.size >= 0 and thc.size >= 0:
            set_interrupt()
            raise RuntimeError("pm.ode: the ODE solve was interrupted")
        if rc != 0:
            raise RuntimeError("pm.ode: the ODE solve raised an exception (logged with its traceback)")
        if out_type is not f64:
            return states.astype(out_type).reshape(batch + (T, S)), sens.astype(out_type).reshape(batch + (T, S, NP))
        return states.reshape(batch + (T, S)), sens.reshape(batch + (T, S, NP))

    cache_key = sha256(f"symvi.ode.ODESolve:{_source_hash()}:{key}:{out_dtype.str}:{node.inputs[0].ndim}".encode()).hexdigest()
    return ode_solve, cache_key
