"""Calling a compiled Numba loop without Numba's per-call argument typing.

PyTensor's Numba backend compiles a function as ``numba_funcified_fgraph(*args)``: Numba
receives all inputs as one tuple.  When that tuple holds a NumPy ``Generator`` (the step's
random state), Numba cannot fingerprint it in C and types the whole tuple in Python on every
call, about 5-20 us per array argument: a few hundred microseconds for a training step with
its optimizer state, which is the whole cost of a one-step call (a callback every step).

:func:`fast_numba_vm` wraps the function's thunk: once Numba has compiled its single
signature, each call checks in a few microseconds that the inputs still have exactly that
signature's types (dtype, rank, C-contiguous writeable aligned arrays; a Generator) and calls
the compiled entry point directly; anything else goes through the ordinary thunk.  An input
that is the very object the previous call had in that place, or the result the previous call
fed back into that place (``fgraph.update_mapping``: the state a step returned), is not
checked again.

Examples
--------
>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> w = pytensor.shared(np.ones(3))
>>> rng = pytensor.shared(np.random.default_rng(0))
>>> nxt, eps = pt.random.normal(size=3, rng=rng, return_next_rng=True)
>>> f = pytensor.function([], [], updates={w: w + 0 * eps, rng: nxt}, mode="NUMBA")
>>> f.vm = fast_numba_vm(f.vm)
>>> _ = f(), f()  # the first call compiles, the second takes the fast path
>>> w.get_value().tolist(), f.vm._entry is not None
([1.0, 1.0, 1.0], True)
"""

from __future__ import annotations

import numpy as np

__all__ = ["fast_numba_vm", "direct_call"]


def _spec(sig_args):
    """(dtype, ndim) per array argument, None for a Generator; None if any type is other."""
    import numba

    if len(sig_args) != 1 or not isinstance(sig_args[0], numba.types.BaseTuple):
        return None
    spec = []
    for t in sig_args[0].types:
        if isinstance(t, numba.types.NumPyRandomGeneratorType):
            spec.append(None)
        elif isinstance(t, numba.types.Array) and t.layout == "C" and t.mutable and t.aligned:
            spec.append((np.dtype(str(t.dtype)), t.ndim))
        else:
            return None
    return tuple(spec)


def _matches_one(a, s) -> bool:
    if s is None:
        return type(a) is np.random.Generator
    if type(a) is not np.ndarray or a.ndim != s[1] or a.dtype != s[0]:
        return False
    flags = a.flags
    return flags.c_contiguous and flags.writeable and flags.aligned


def _matches(args, spec) -> bool:
    return all(_matches_one(a, s) for a, s in zip(args, spec))


class _FastThunk:
    """A drop-in for a Numba function's thunk (``Function.vm``) that skips argument typing."""

    def __init__(self, thunk, feedback=()):
        self.thunk = thunk
        self.inputs = thunk.inputs
        self.outputs = thunk.outputs
        self.allow_gc = getattr(thunk, "allow_gc", False)
        self.lazy = False
        self.storage_map = getattr(thunk, "storage_map", None)
        self._entry = None  # (entry point, argument spec) once Numba has compiled one signature
        self._tried = False
        self._feedback = tuple(feedback)  # (output index, input index) of each update
        # per input: the object the next call is expected to find there (checked or produced
        # by this call, and held here so that its id stays its own); None: check every input
        self._expected = None

    def _find_entry(self):
        jit = getattr(self.thunk, "jit_fn", None)
        overloads = getattr(jit, "overloads", {})
        if len(overloads) != 1:
            return
        self._tried = True
        cres = next(iter(overloads.values()))
        spec = _spec(cres.signature.args)
        if spec is not None and len(spec) == len(self.inputs):
            self._entry = (cres.entry_point, spec)

    def __call__(self):
        if self._entry is None:
            if self._tried:
                return self.thunk()
            out = self.thunk()
            self._find_entry()
            return out
        entry, spec = self._entry
        args = tuple([x[0] for x in self.inputs])
        expected = self._expected
        if expected is None:
            if not _matches(args, spec):
                return self.thunk()
        else:
            for a, e, s in zip(args, expected, spec):
                if a is not e and not _matches_one(a, s):
                    self._expected = None
                    return self.thunk()
        try:
            results = entry(args)
        except Exception:  # noqa: BLE001 - rerun through PyTensor for its error context
            self._expected = None
            return self.thunk()
        # (the results are returned, not also stored: Function.__call__ and direct_call use them)
        # an array's dtype, rank and layout never change: what was checked or produced here
        # needs no check next time in the same place
        expected = list(args)
        for i, j in self._feedback:
            expected[j] = results[i]
        self._expected = expected
        return results


def fast_numba_vm(thunk, fgraph=None):
    """Wrap a Numba-compiled function's ``vm`` (its thunk) with the typing-free fast path.

    ``fgraph`` (the function's ``maker.fgraph``), when given, tells which outputs are the next
    call's inputs (its updates), so that those need no check either.  Anything that is not a
    single-thunk Numba function is returned unchanged.
    """
    if not hasattr(thunk, "jit_fn") or not hasattr(thunk, "inputs") or not hasattr(thunk, "outputs"):
        return thunk
    mapping = getattr(fgraph, "update_mapping", None) or {}
    feedback = [(i, j) for i, j in mapping.items() if i < len(thunk.outputs) and j < len(thunk.inputs)]
    return _FastThunk(thunk, feedback)


def direct_call(fn):
    """``fn(*args)`` for a function with a fast thunk (:func:`fast_numba_vm`), without the
    bookkeeping of PyTensor's ``Function.__call__``: the explicit inputs go into their storage,
    the thunk runs, and each update output is stored where its shared variable holds its value.

    Falls back to ``fn`` itself when the function is not laid out that way (no fast thunk,
    storage not shared with the containers).  The last call's arguments and results stay in
    storage (PyTensor would clear them under ``allow_gc``).
    Inputs are not filtered: pass exactly the types the function was compiled for.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> w = pytensor.shared(np.zeros(2), name="w")
    >>> a = pt.dscalar("a")
    >>> f = pytensor.function([a], w.sum(), updates={w: w + a}, mode="NUMBA")
    >>> f.vm = fast_numba_vm(f.vm, f.maker.fgraph)
    >>> call = direct_call(f)
    >>> [float(call(np.array(1.0))[0]) for _ in range(3)], w.get_value().tolist()
    ([0.0, 2.0, 4.0], [3.0, 3.0])
    """
    thunk = fn.vm
    fgraph = fn.maker.fgraph
    cells = thunk.inputs if isinstance(thunk, _FastThunk) else None
    mapping = getattr(fgraph, "update_mapping", None) or {}
    n_returned = len(fgraph.outputs) - len(mapping)
    if (
        cells is None
        or len(cells) != len(fn.input_storage)
        or any(cell is not c.storage for cell, c in zip(cells, fn.input_storage))
        or any(i < n_returned for i in mapping)
    ):
        return fn
    explicit = [cells[j] for j, inp in enumerate(fn.maker.inputs) if not inp.implicit]
    feedback = tuple((i, cells[j]) for i, j in mapping.items())
    outputs = thunk.outputs

    def call(*args):
        for cell, value in zip(explicit, args):
            cell[0] = value
        results = thunk()
        if results is None:  # the ordinary thunk: results are in its output storage
            results = [o[0] for o in outputs]
        for i, cell in feedback:
            cell[0] = results[i]
        return results[:n_returned]

    call.function = fn
    return call
