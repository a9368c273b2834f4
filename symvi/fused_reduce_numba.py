"""The Numba kernel of :class:`symvi.fused_reduce.FusedReduce`: generated loop source and cache key.

The kernel is one loop nest in C order over the broadcast shape.  Each iteration reads every
input once (broadcast dims at index 0, gathered inputs through their row index), calls the
scalar op, and folds each of its outputs into the reductions that consume it.  A reduction over
the innermost dims accumulates in a local scalar and is folded into its result once per outer
iteration, so the inner loop carries no store and LLVM can vectorise it (PyTensor compiles
with ``fastmath`` reassociation on by default).

Examples
--------
>>> import numpy as np
>>> from symvi.fused_reduce import FusedReduce
>>> from pytensor.scalar import float64
>>> a = float64("a")
>>> op = FusedReduce(a * a, ((False, False),), (False,), ((0, (0, 1), "add"),), ("float64",), ("float64",))
>>> print(kernel_source(op, ["float64"], 1).splitlines()[0])
def fused_reduce(x0):
"""

from __future__ import annotations

from hashlib import sha256

import numpy as np

from symvi.fused_reduce import FusedReduce, _identity

KERNEL_VERSION = 2
#: rows of a gathered input requested from memory ahead of the one being computed (random
#: rows of a large array miss every cache; 4 ahead: 68 -> 41 us for 500 x 100, see PREFETCH use)
PREFETCH = 4

UPDATE = {
    "add": "{t} += {v}",
    "mul": "{t} *= {v}",
    # NaN propagates as in numpy: once the target is NaN no comparison replaces it
    "max": "if {v} > {t} or {v} != {v}:\n{ind}    {t} = {v}",
    "min": "if {v} < {t} or {v} != {v}:\n{ind}    {t} = {v}",
}


def _update(kind, target, value, ind):
    return ind + UPDATE[kind].format(t=target, v=value, ind=ind)


def _tuple(items):
    items = list(items)
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _outer_index(op, i):
    """Position among the node's inputs of elementwise input ``i`` (gathers take two)."""
    return i + sum(op.gathered[:i])


def kernel_source(op: FusedReduce, in_dtypes, scalar_nout: int) -> str:
    """Python source of the fused loop for ``op`` (compiled by Numba)."""
    nd, bcs = op.ndim, op.in_broadcastable
    args = []
    for i, g in enumerate(op.gathered):
        if g:
            args += [f"s{i}", f"g{i}"]
        else:
            args.append(f"x{i}")
    L = [f"def fused_reduce({', '.join(args)}):"]
    ind = "    "
    # C-typed views (a copy only for non-contiguous inputs): strided loads of an 'A'-layout
    # array keep LLVM from vectorising the loop (measured 11 vs 1.9 ms on 40 000 x 100)
    L += [f"{ind}{a} = as_c({a})" for a in args]
    # lengths: the first input not broadcast along a dim sets it; the others must agree
    for j in range(nd):
        owners = [i for i, bc in enumerate(bcs) if not bc[j]]
        lens = [f"g{i}.shape[0]" if (op.gathered[i] and j == 0) else (f"s{i}.shape[{j}]" if op.gathered[i] else f"x{i}.shape[{j}]") for i in owners]
        L.append(f"{ind}n{j} = {lens[0] if lens else '1'}")
        for other in lens[1:]:
            L.append(f"{ind}if {other} != n{j}:")
            L.append(f"{ind}    raise ValueError('FusedReduce: inputs disagree on the length of dim {j}')")
    for i, g in enumerate(op.gathered):  # gathered rows: bounds-checked, negative indices wrap
        if g:
            L.append(f"{ind}r{i} = np.empty(g{i}.shape[0], dtype=np.intp)")
            L.append(f"{ind}for q in range(g{i}.shape[0]):")
            L.append(f"{ind}    w = g{i}[q]")
            L.append(f"{ind}    if w < 0:")
            L.append(f"{ind}        w += s{i}.shape[0]")
            L.append(f"{ind}    if w < 0 or w >= s{i}.shape[0]:")
            L.append(f"{ind}        raise IndexError('FusedReduce: gather index out of bounds')")
            L.append(f"{ind}    r{i}[q] = w")
            if op.ndim == 2:
                L.append(f"{ind}for q in range(min({PREFETCH}, g{i}.shape[0])):")
                L.append(f"{ind}    prefetch_row(s{i}, r{i}[q])")
    # Few arrays in the loop: with one pointer per input and result, LLVM's runtime alias
    # checks exceed its budget and the loop stays scalar (measured 17 vs 4.5 ms on a Normal
    # likelihood's 9 inputs).  So inputs broadcast along every dim are read once before the
    # loop, and the other small inputs (broadcast along some dim) sharing a pattern and dtype
    # are copied into one stacked array, as are results sharing their kept dims and dtype.
    read = {}
    groups = {}
    for i, bc in enumerate(bcs):
        arr = f"s{i}" if op.gathered[i] else f"x{i}"
        if all(bc):
            L.append(f"{ind}c{i} = {arr}[{_tuple('0' for _ in bc)}]")
            read[i] = f"c{i}"
        elif any(bc) and not op.gathered[i]:
            groups.setdefault((bc, in_dtypes[_outer_index(op, i)]), []).append(i)
    for gi, ((bc, dtype), members) in enumerate(groups.items()):
        if len(members) == 1:
            continue
        shape = _tuple(["1" if b else f"n{j}" for j, b in enumerate(bc)])
        L.append(f"{ind}p{gi} = np.empty(({len(members)},) + {shape}, dtype=np.{dtype})")
        for m, i in enumerate(members):
            L.append(f"{ind}p{gi}[{m}] = x{i}")
            idx = ["0" if b else f"l{j}" for j, b in enumerate(bc)]
            read[i] = f"p{gi}[{_tuple([str(m), *idx])}]"

    def reads(i):
        if i in read:
            return read[i]
        idx = ["0" if b else f"l{j}" for j, b in enumerate(bcs[i])]
        if op.gathered[i]:  # the row view taken once per row (see the loop below)
            return f"row{i}[{_tuple(idx[1:])}]" if nd > 1 else f"row{i}"  # (1-D: the element)
        return f"x{i}[{_tuple(idx)}]" if nd else f"x{i}[()]"

    # trailing[r]: first dim of the longest suffix of reduced dims (nd: the last dim is kept)
    trailing, target = [], {}
    stacks = {}
    for r, (_, axes, _) in enumerate(op.reductions):
        t = nd
        while t > 0 and (t - 1) in axes:
            t -= 1
        trailing.append(t)
        kept = tuple(j for j in range(nd) if j not in axes)
        if kept:
            stacks.setdefault((kept, op.acc_dtypes[r], t == nd), []).append(r)
    for si, ((kept, acc, inner), members) in enumerate(stacks.items()):
        shape = [f"n{j}" for j in kept]
        if inner and len(members) > 1:  # updated in the inner loop: one stacked array
            L.append(f"{ind}q{si} = np.empty({_tuple([str(len(members)), *shape])}, dtype=np.{acc})")
            for m, r in enumerate(members):
                L.append(f"{ind}q{si}[{m}] = ident{r}")
                target[r] = (f"q{si}", m)
        else:
            for r in members:
                L.append(f"{ind}res{r} = np.full({_tuple(shape)}, ident{r}, dtype=np.{acc})")

    def res_ref(r, idx):
        if r in target:
            name, m = target[r]
            return f"{name}[{_tuple([str(m), *idx])}]"
        return f"res{r}[{_tuple(idx)}]"

    for depth in range(nd + 1):
        for r, t in enumerate(trailing):
            if t == depth and t < nd:
                L.append(f"{ind}acc{r} = ident{r}")
        if depth == nd:
            break
        L.append(f"{ind}for l{depth} in range(n{depth}):")
        ind += "    "
        if depth == 0:
            # gathered inputs: the row is looked up once, not per element (a per-element index
            # load kept LLVM from vectorising the row loop: 4 ns/element on a 500 x 100 batch),
            # and rows PREFETCH ahead are requested from memory while this one is computed
            for i, g in enumerate(op.gathered):
                if g:
                    if nd == 2:
                        L.append(f"{ind}if l0 + {PREFETCH} < n0:")
                        L.append(f"{ind}    prefetch_row(s{i}, r{i}[l0 + {PREFETCH}])")
                    L.append(f"{ind}row{i} = s{i}[r{i}[l0]]")
    call = f"scalar_fn({', '.join(reads(i) for i in range(len(bcs)))})"
    L.append(f"{ind}v = {call}")
    for r, ((k, axes, kind), t) in enumerate(zip(op.reductions, trailing)):
        value = f"v[{k}]" if scalar_nout > 1 else "v"
        if t < nd:
            L.append(_update(kind, f"acc{r}", value, ind))
        else:
            kept = [j for j in range(nd) if j not in axes]
            L.append(_update(kind, res_ref(r, [f"l{j}" for j in kept]), value, ind))
    for depth in range(nd - 1, -1, -1):  # close loop `depth`, then fold accumulators started there
        ind = ind[:-4]
        for r, ((_, axes, kind), t) in enumerate(zip(op.reductions, trailing)):
            if t == depth and depth > 0:
                kept = [j for j in range(nd) if j not in axes]
                L.append(_update(kind, res_ref(r, [f"l{j}" for j in kept]), f"acc{r}", ind))
    outs = []
    for r, ((_, axes, _), t) in enumerate(zip(op.reductions, trailing)):
        out = op.out_dtypes[r]
        if t == 0:
            outs.append(f"np.array(acc{r}, dtype=np.{out})")
        elif r in target:
            outs.append(f"{target[r][0]}[{target[r][1]}].astype(np.{out})")  # (a copy)
        elif op.acc_dtypes[r] != out:
            outs.append(f"res{r}.astype(np.{out})")
        else:
            outs.append(f"res{r}")
    L.append(f"{ind}return {outs[0] if len(outs) == 1 else _tuple(outs)}")
    return "\n".join(L) + "\n"


def _prefetch_intrinsic():
    """``prefetch_row(a, i)``: ask for every cache line of row ``i`` of the 2-D array ``a``
    (LLVM's prefetch hint: no fault, no result; Numba has no prefetch of its own)."""
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic

    @intrinsic
    def prefetch_row(typingctx, arr, row):
        if not isinstance(arr, types.Array) or arr.ndim != 2 or not isinstance(row, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            i64, i32 = ir.IntType(64), ir.IntType(32)
            ary = context.make_array(signature.args[0])(context, builder, args[0])
            shape = cgutils.unpack_tuple(builder, ary.shape)
            strides = cgutils.unpack_tuple(builder, ary.strides)
            start = builder.add(builder.ptrtoint(ary.data, i64), builder.mul(builder.sext(args[1], i64) if args[1].type.width < 64 else args[1], strides[0]))
            i8p = ir.IntType(8).as_pointer()
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]), "llvm.prefetch.p0")
            with cgutils.for_range_slice(builder, ir.Constant(i64, 0), builder.mul(shape[1], strides[1]), ir.Constant(i64, 64)) as (off, _):
                # read access, high locality, data cache
                builder.call(fn, [builder.inttoptr(builder.add(start, off), i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(arr, row), codegen

    return prefetch_row


def register() -> bool:
    """Register the FusedReduce kernel with pytensor's Numba dispatch; False without Numba."""
    try:
        from pytensor.link.numba.cache import compile_numba_function_src
        from pytensor.link.numba.dispatch import basic as numba_basic
        from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key, register_funcify_and_cache_key
        from pytensor.link.numba.dispatch.elemwise import _flat_view
        from pytensor.tensor.elemwise import Elemwise
    except ImportError:  # pragma: no cover - numba is a pytensor dependency
        return False

    prefetch_row = _prefetch_intrinsic()

    @numba_basic.numba_njit
    def as_c(x):
        if x.flags.c_contiguous:
            return _flat_view(x).reshape(x.shape)
        return np.ascontiguousarray(x)

    @register_funcify_and_cache_key(FusedReduce)
    def numba_funcify_FusedReduce(op, node, **kwargs):
        elem_inputs = []
        pos = 0
        for g in op.gathered:  # the elementwise inputs' types (a gather keeps its source's dtype)
            elem_inputs.append(node.inputs[pos])
            pos += 2 if g else 1
        scalar_node = Elemwise(op.scalar_op).make_scalar_node(*elem_inputs)
        scalar_fn, scalar_key = numba_funcify_and_cache_key(op.scalar_op, node=scalar_node, **kwargs)
        if hasattr(scalar_fn, "py_func"):
            # inlined into the loop whatever its size: a call per element (the tuple of outputs
            # returned through memory) kept a 3-output minibatch likelihood at 4 ns/element
            scalar_fn = numba_basic.numba_njit(scalar_fn.py_func, forceinline=True)
        in_dtypes = [x.type.dtype for x in node.inputs]
        src = kernel_source(op, in_dtypes, op.scalar_op.nout)
        env = {"np": np, "scalar_fn": scalar_fn, "as_c": as_c, "prefetch_row": prefetch_row}
        for r, ((_, _, kind), acc) in enumerate(zip(op.reductions, op.acc_dtypes)):
            env[f"ident{r}"] = _identity(kind, acc)
        fn = numba_basic.numba_njit(compile_numba_function_src(src, "fused_reduce", env), boundscheck=False, error_model="numpy")
        if scalar_key is None:
            return fn, None
        key = str(("symvi.FusedReduce", KERNEL_VERSION, src, op.reductions, op.acc_dtypes, in_dtypes, scalar_key))
        return fn, sha256(key.encode()).hexdigest()

    return True


REGISTERED = register()
