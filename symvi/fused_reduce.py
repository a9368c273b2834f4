"""One Numba loop for an elementwise chain and the reductions that consume it.

PyTensor 3.0.7's Numba backend compiles ``sum(f(x, mu, sd), axis)`` as two loops: the
``Elemwise`` writes ``f`` to a temporary the size of the data, and the ``CAReduce`` reads it
back (``local_careduce_fusion`` is C-only).  A log-likelihood over a 40 000 x 100 array and its
gradient make three such temporaries per step.  This module adds

* :class:`FusedReduce`, an Op that evaluates any scalar op (a ``Composite`` with any number of
  outputs, any broadcast pattern of its inputs, optionally reading some inputs through a row
  gather ``x[idx]``) and folds its outputs into any number of Add / Mul / Max / Min reductions
  over any axis sets, in one pass over the inputs, with a generated ``numba_funcify`` and a
  disk-cache key;
* ``fuse_elemwise_reductions``, the graph rewrite that replaces an ``Elemwise`` whose outputs
  are consumed only by such reductions (it leaves every other pattern alone);
* ``sum_of_alloc``: ``sum(alloc(v, *shape))`` becomes ``sum(v) * count`` (gradients of a
  broadcast parameter otherwise allocate and re-read a data-sized array of one value).

Both rewrites carry the tag :data:`TAG`; :func:`symvi.backends.get_mode` includes it for Numba.

Examples
--------
>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> from symvi.backends import get_mode
>>> x, m = pt.matrix("x"), pt.vector("m")
>>> f = pytensor.function([x, m], ((x - m) ** 2).sum(axis=0), mode=get_mode("numba"))
>>> any(isinstance(n.op, FusedReduce) for n in f.maker.fgraph.apply_nodes)
True
"""

from __future__ import annotations

import os
from hashlib import sha256

import numpy as np
import pytensor.tensor as pt
from pytensor.compile import optdb
from pytensor.graph.basic import Apply
from pytensor.graph.features import ReplaceValidate
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import GraphRewriter, MergeOptimizer, SequentialGraphRewriter, dfs_rewriter, node_rewriter
from pytensor.scalar import basic as ps
from pytensor.tensor.basic import Alloc
from pytensor.tensor.elemwise import CAReduce, Elemwise
from pytensor.tensor.rewriting.basic import constant_folding, local_useless_switch
from pytensor.tensor.rewriting.elemwise import FusionOptimizer
from pytensor.tensor.math import Sum
from pytensor.tensor.subtensor import AdvancedSubtensor1
from pytensor.tensor.type import TensorType

from symvi.fused_reduce_linear import split_linear

__all__ = ["TAG", "FusedReduce", "fuse_elemwise_reductions", "sum_of_alloc"]

#: the rewrite tag symvi's Numba mode includes
TAG = "symvi_fused_reduce"
KERNEL_VERSION = 1
KINDS = {ps.Add: "add", ps.Mul: "mul", ps.Maximum: "max", ps.Minimum: "min"}
IDENTITY = {"add": 0, "mul": 1, "max": -np.inf, "min": np.inf}
#: move what is constant along the summed axes out of the loop (symvi.fused_reduce_linear);
#: SYMVI_FUSED_LINEAR=0 keeps each reduction's scalar graph as it is (to compare)
LINEAR = os.environ.get("SYMVI_FUSED_LINEAR", "1") != "0"
NUMPY_REDUCE = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _identity(kind: str, dtype: str):
    value = IDENTITY[kind]
    if np.dtype(dtype).kind in "ui" and not np.isfinite(value):
        info = np.iinfo(dtype)
        value = info.min if value < 0 else info.max
    return np.dtype(dtype).type(value)


class FusedReduce(Op):
    """Reductions of the outputs of one scalar op broadcast over its inputs, in one loop.

    Parameters
    ----------
    scalar_op : the scalar op (often a ``Composite``) applied elementwise.
    in_broadcastable : per elementwise input, its broadcast pattern (all the same length).
    gathered : per elementwise input, True where it is read as ``source[idx]`` along axis 0;
        the node then takes ``source, idx`` in its place.
    reductions : ``(scalar output index, sorted axes, kind)`` per node output; kind is one
        of "add", "mul", "max", "min".
    acc_dtypes, out_dtypes : per node output, the accumulator and result dtypes.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from pytensor.scalar import float64
    >>> a = float64("a"); b = float64("b")
    >>> op = FusedReduce(a * b, ((False, False), (True, False)), (False, False), ((0, (0,), "add"),), ("float64",), ("float64",))
    >>> op(pt.ones((3, 2)), pt.ones((1, 2)) * 2).eval()
    array([6., 6.])
    """

    __props__ = ("scalar_op", "in_broadcastable", "gathered", "reductions", "acc_dtypes", "out_dtypes")

    def __init__(self, scalar_op, in_broadcastable, gathered, reductions, acc_dtypes, out_dtypes):
        if isinstance(scalar_op, ps.ScalarVariable):  # an expression of scalar variables: wrap it
            inputs = [v for v in ps.graph_inputs([scalar_op]) if v.owner is None and not isinstance(v, ps.ScalarConstant)]
            scalar_op = ps.Composite(inputs, [scalar_op])
        self.scalar_op = scalar_op
        self.in_broadcastable = tuple(tuple(bool(b) for b in bc) for bc in in_broadcastable)
        self.gathered = tuple(bool(g) for g in gathered)
        self.reductions = tuple((int(k), tuple(int(a) for a in axes), str(kind)) for k, axes, kind in reductions)
        self.acc_dtypes = tuple(str(d) for d in acc_dtypes)
        self.out_dtypes = tuple(str(d) for d in out_dtypes)
        nin = len(self.in_broadcastable)  # (a variadic scalar op such as Mul has nin == -1)
        if scalar_op.nin not in (-1, nin) or len(self.gathered) != nin:
            raise ValueError(f"FusedReduce: scalar op takes {scalar_op.nin} inputs, got {len(self.in_broadcastable)} broadcast patterns")
        if not (len(self.reductions) == len(self.acc_dtypes) == len(self.out_dtypes)):
            raise ValueError("FusedReduce: reductions, acc_dtypes and out_dtypes must have the same length")
        self.ndim = len(self.in_broadcastable[0]) if self.in_broadcastable else 0
        super().__init__()

    def __str__(self):
        red = ", ".join(f"{kind}(out{k}, axes={axes})" for k, axes, kind in self.reductions)
        return f"FusedReduce{{{self.scalar_op}; {red}}}"

    # ---- graph
    def _outer_to_elem(self, inputs):
        """Split node inputs into (elementwise inputs, per-input (source, idx) or None)."""
        it = iter(inputs)
        pairs = []
        for g in self.gathered:
            pairs.append((next(it), next(it)) if g else (next(it), None))
        return pairs

    def make_node(self, *inputs):
        inputs = [pt.as_tensor_variable(x) for x in inputs]
        expected = len(self.gathered) + sum(self.gathered)
        if len(inputs) != expected:
            raise TypeError(f"FusedReduce expects {expected} inputs, got {len(inputs)}")
        pairs = self._outer_to_elem(inputs)
        static = [None] * self.ndim
        all_bc = [True] * self.ndim
        for (x, idx), bc in zip(pairs, self.in_broadcastable):
            shape = list(x.type.shape)
            if idx is not None:
                if idx.ndim != 1 or idx.dtype[:3] not in ("int", "uin"):
                    raise TypeError(f"FusedReduce: gather index must be an integer vector, got {idx.type}")
                shape[0] = idx.type.shape[0]
            if x.ndim != self.ndim:
                raise TypeError(f"FusedReduce: input {x} has {x.ndim} dims, expected {self.ndim}")
            for j, b in enumerate(bc):
                if b:
                    if shape[j] != 1:
                        raise TypeError(f"FusedReduce: input {x} dim {j} must be broadcastable")
                else:
                    all_bc[j] = False
                    if static[j] is None:
                        static[j] = shape[j]
        dims = [1 if all_bc[j] else static[j] for j in range(self.ndim)]
        outputs = []
        for (_, axes, _), dtype in zip(self.reductions, self.out_dtypes):
            outputs.append(TensorType(dtype, shape=tuple(d for j, d in enumerate(dims) if j not in axes))())
        return Apply(self, inputs, outputs)

    def _dim_sources(self):
        """Per dim: (elementwise input, is gathered) that sets its length, or None (length 1)."""
        out = []
        for j in range(self.ndim):
            src = next((i for i, bc in enumerate(self.in_broadcastable) if not bc[j]), None)
            out.append(src)
        return out

    def infer_shape(self, fgraph, node, shapes):
        pos, by_input = 0, []
        for g in self.gathered:
            by_input.append((shapes[pos], shapes[pos + 1] if g else None))
            pos += 2 if g else 1
        dims = []
        for j, src in enumerate(self._dim_sources()):
            if src is None:
                dims.append(1)
            else:
                shape, idx_shape = by_input[src]
                dims.append(idx_shape[0] if (j == 0 and idx_shape is not None) else shape[j])
        return [tuple(d for j, d in enumerate(dims) if j not in axes) for _, axes, _ in self.reductions]

    # ---- Python implementation (the reference; Numba uses the generated kernel below)
    def perform(self, node, inputs, output_storage):
        values = []
        for (x, idx), bc in zip(self._outer_to_elem(inputs), self.in_broadcastable):
            values.append(np.take(x, idx, axis=0) if idx is not None else x)
        _check_lengths([v.shape for v in values], self.in_broadcastable)
        scalar_in = [ps.get_scalar_type(v.dtype) for v in values]
        elem_dtypes = [t.dtype for t in self.scalar_op.output_types(scalar_in)]
        ufunc = np.frompyfunc(self.scalar_op.impl, len(values), self.scalar_op.nout)
        outs = ufunc(*values) if values else ()
        outs = outs if self.scalar_op.nout > 1 else (outs,)
        for (k, axes, kind), acc, dtype, store in zip(self.reductions, self.acc_dtypes, self.out_dtypes, output_storage):
            v = np.asarray(outs[k]).astype(elem_dtypes[k]).astype(acc)
            r = NUMPY_REDUCE[kind].reduce(v, axis=axes, initial=_identity(kind, acc)) if axes else v
            store[0] = np.asarray(r, dtype=dtype)


def _check_lengths(shapes, in_broadcastable):
    for j in range(len(in_broadcastable[0]) if in_broadcastable else 0):
        lengths = {s[j] for s, bc in zip(shapes, in_broadcastable) if not bc[j]}
        if len(lengths) > 1:
            raise ValueError(f"FusedReduce: inputs disagree on the length of dim {j}: {sorted(lengths)}")


# ---------------------------------------------------------------------- rewrites
def _reduction_of(client):
    """(axes, kind, acc dtype, out dtype) of a supported reduction node, else None."""
    op = client.op
    if not isinstance(op, CAReduce) or type(op.scalar_op) not in KINDS:
        return None
    ndim = client.inputs[0].ndim
    axes = tuple(range(ndim)) if op.axis is None else tuple(sorted(a % ndim for a in op.axis))
    out = client.outputs[0].type.dtype
    acc = getattr(op, "acc_dtype", None) or out
    if np.dtype(acc).kind not in "uif" or np.dtype(out).kind not in "uif":
        return None  # bool and complex reductions are left to pytensor
    return axes, KINDS[type(op.scalar_op)], acc, out


def _gather_source(var, fgraph):
    """(source, idx) when ``var`` is a row gather used only by the elementwise node, else None."""
    owner = var.owner
    if owner is None or not isinstance(owner.op, AdvancedSubtensor1) or len(fgraph.clients[var]) != 1:
        return None
    source, idx = owner.inputs
    if source.ndim != var.ndim or var.type.shape[0] == 1 or source.type.shape[0] == 1:
        return None
    return source, idx


def _hoist(scalar_op, invariant_inputs):
    """Split ``scalar_op`` into (its part on ``invariant_inputs`` only, the rest), or None.

    ``invariant_inputs`` flags the inputs broadcast along the kernel's outermost dim: what
    depends on them alone is the same for every row, so it is computed once per column by a
    small Elemwise instead of once per element.  A division by such a value becomes a product
    with its reciprocal (a likelihood's ``(x - mu) / sigma`` and its gradient's ``/ sigma**2``
    were four vector divisions per element, the kernel's bottleneck).

    Returns ``(head, tail, head_inputs, tail_inputs)``: ``head`` maps the invariant inputs
    listed in ``head_inputs`` to the hoisted values; ``tail`` takes the inputs listed in
    ``tail_inputs`` then the hoisted values.
    """
    from pytensor.graph.traversal import graph_inputs, io_toposort

    comp = scalar_op if isinstance(scalar_op, ps.Composite) else None
    if comp is None:
        return None
    mutable = comp.fgraph.unfreeze()  # (a frozen graph's nodes are shared, interned objects)
    inputs, outputs = list(mutable.inputs), list(mutable.outputs)
    inv = {v: bool(flag) for v, flag in zip(inputs, invariant_inputs)}
    # divisions by an invariant value: multiply by its (invariant) reciprocal, one at a time
    # (a replacement may contain the next division)
    for _ in range(64):
        order = io_toposort(inputs, outputs)
        div = next((n for n in order if isinstance(n.op, ps.TrueDiv) and n.outputs[0].dtype.startswith("float")
                    and _invariant(n.inputs[1], inv) and not _invariant(n.inputs[0], inv)
                    and not isinstance(n.inputs[1], ps.ScalarConstant)), None)
        if div is None:
            break
        num, den = div.inputs
        outputs = _substitute(outputs, {div.outputs[0]: num * ps.reciprocal(den)})
    cut = []
    for n in order:
        if all(_invariant(i, inv) for i in n.inputs):
            continue
        for i in n.inputs:  # an invariant computed value read by a per-element node
            if i.owner is not None and _invariant(i, inv) and i not in cut:
                cut.append(i)
    cut += [o for o in outputs if o.owner is not None and _invariant(o, inv) and o not in cut]
    if not cut:
        return None
    head_inputs = [i for i, flag in enumerate(invariant_inputs) if flag]
    head = ps.Composite([inputs[i] for i in head_inputs], cut)
    holders = [c.type() for c in cut]
    tail_out = _substitute(outputs, dict(zip(cut, holders)))
    used = set(graph_inputs(tail_out))
    tail_inputs = [i for i, v in enumerate(inputs) if v in used]  # (hoisted-only inputs drop out)
    tail_in = [*(inputs[i] for i in tail_inputs), *holders]
    tail_out = [ps.identity(o) if o in tail_in else o for o in tail_out]  # (an output wholly hoisted)
    tail = ps.Composite(tail_in, tail_out)
    return head, tail, head_inputs, tail_inputs


def _substitute(outputs, mapping):
    """``outputs`` rebuilt with ``mapping``'s variables in place of its keys (the rest shared)."""
    from pytensor.graph.traversal import io_toposort

    memo = dict(mapping)
    for node in io_toposort([], outputs):
        new_inputs = [memo.get(i, i) for i in node.inputs]
        if any(a is not b for a, b in zip(new_inputs, node.inputs)):
            for old, new in zip(node.outputs, node.clone_with_new_inputs(new_inputs).outputs):
                memo.setdefault(old, new)
    return [memo.get(o, o) for o in outputs]


def _invariant(var, memo):
    """Whether ``var`` depends on invariant inputs and constants only (``memo``: var -> bool)."""
    if var not in memo:
        if isinstance(var, ps.ScalarConstant):
            memo[var] = True
        elif var.owner is None:
            memo[var] = False
        else:
            memo[var] = all(_invariant(i, memo) for i in var.owner.inputs)
    return memo[var]


def fuse_node(fgraph, node):
    """Replacement pairs fusing ``node`` (an Elemwise) with the reductions consuming it, or None."""
    if not isinstance(node.op, Elemwise) or node.op.inplace_pattern or node.outputs[0].ndim == 0:
        return None
    plan, old = [], []
    for k, out in enumerate(node.outputs):
        for client, _ in fgraph.clients[out]:
            spec = _reduction_of(client) if isinstance(client, Apply) else None
            if spec is None:
                return None  # some output is needed in full: fusing would compute it twice
            plan.append((k, *spec))
            old.append(client.outputs[0])
    if not plan:
        return None
    scalar_op, elem_inputs, finish = node.op.scalar_op, list(node.inputs), None
    if LINEAR:
        try:
            split = split_linear(fgraph, node, plan)
        except Exception:  # noqa: BLE001 - an unforeseen scalar graph: fuse it as it is
            split = None
        if split is not None:
            scalar_op, elem_inputs, plan, finish = split
    row_invariant = [x.type.broadcastable[0] for x in elem_inputs]
    split = _hoist(scalar_op, row_invariant) if not all(row_invariant) else None
    if split is not None:
        head, scalar_op, head_inputs, tail_inputs = split
        per_column = Elemwise(head)(*[elem_inputs[i] for i in head_inputs], return_list=True)
        elem_inputs = [elem_inputs[i] for i in tail_inputs] + per_column
    outer, gathered = [], []
    for x in elem_inputs:
        src = _gather_source(x, fgraph) if x in fgraph.clients else None
        gathered.append(src is not None)
        outer.extend(src if src is not None else [x])
    op = FusedReduce(
        scalar_op,
        [x.type.broadcastable for x in elem_inputs],
        gathered,
        [(k, axes, kind) for k, axes, kind, _, _ in plan],
        [acc for *_, acc, _ in plan],
        [out for *_, out in plan],
    )
    new = op(*outer, return_list=True)
    if finish is not None:
        new = finish(new)
    pairs = []
    for o, n in zip(old, new):
        try:
            pairs.append((o, o.type.filter_variable(n)))
        except TypeError:
            return None
    return pairs


class FuseElemwiseReductions(GraphRewriter):
    """Replace every Elemwise consumed only by Add/Mul/Max/Min reductions by a FusedReduce."""

    def add_requirements(self, fgraph):
        fgraph.attach_feature(ReplaceValidate())

    def apply(self, fgraph):
        for node in list(fgraph.toposort()):
            if node not in fgraph.apply_nodes:
                continue
            pairs = fuse_node(fgraph, node)
            if pairs:
                try:
                    fgraph.replace_all_validate(pairs, reason="symvi_fused_reduce")
                except Exception:  # noqa: BLE001 - an invalid fusion leaves the graph as it was
                    continue


fuse_elemwise_reductions = FuseElemwiseReductions()


@node_rewriter([Sum])
def sum_of_alloc(fgraph, node):
    """``sum(alloc(v, *shape), axes)`` -> ``sum(v, axes) * copies``, broadcast to the kept dims."""
    (x,) = node.inputs
    if x.owner is None or not isinstance(x.owner.op, Alloc):
        return None
    v, *shape = x.owner.inputs
    ndim = x.ndim
    v = pt.shape_padleft(v, ndim - v.ndim)
    axes = tuple(range(ndim)) if node.op.axis is None else tuple(a % ndim for a in node.op.axis)
    copies = pt.constant(1, dtype="int64")
    for a in axes:  # alloc repeats a length-1 dim of v shape[a] times
        copies = copies * (shape[a] if v.type.broadcastable[a] else shape[a] // pt.maximum(v.shape[a], 1))
    summed = pt.sum(v, axis=axes, acc_dtype=node.op.acc_dtype, dtype=node.op.acc_dtype) * copies
    out_dtype = node.outputs[0].type.dtype
    kept = [shape[a] for a in range(ndim) if a not in axes]
    summed = summed.astype(out_dtype)
    out = pt.alloc(summed, *kept) if kept else summed
    return [node.outputs[0].type.filter_variable(out)]


# after elementwise fusion (49) and before in-place rewrites (49.5); sum_of_alloc first so the
# elementwise ops it exposes are fused
optdb.register("symvi_sum_of_alloc", dfs_rewriter(sum_of_alloc), TAG, position=48.95)
optdb.register("symvi_fuse_elemwise_reductions", fuse_elemwise_reductions, TAG, position=49.4)
# what symvi.fused_reduce_linear moved out of the loops: small elementwise ops on the
# parameters; merged, folded and fused again (each would otherwise be one more call per step)
optdb.register(
    "symvi_fuse_after_reductions",
    SequentialGraphRewriter(MergeOptimizer(), dfs_rewriter(constant_folding, local_useless_switch), FusionOptimizer()),
    TAG,
    position=49.45,
)
