"""Sums are linear: move what does not vary along the summed axes out of a fused loop.

A reduction ``sum(f(x, theta), axes)`` of a :class:`symvi.fused_reduce.FusedReduce` costs one
evaluation of ``f`` per element.  Whatever part of ``f`` is the same for every element of the
summed axes needs no per-element work:

* an invariant factor: ``sum(c * g) = c * sum(g)`` (and ``g / c``, ``-g``);
* an invariant addend: ``sum(g + c) = sum(g) + n * c`` (``n`` elements summed), or, when ``c``
  is invariant along some of the summed axes only, ``n_B * sum(c)`` over the others;
* an invariant condition: ``sum(switch(c, a, b)) = switch(c, sum(a), sum(b))``.

The gradient of a likelihood is full of these: ``sum(-(x - mu) / sigma**2, axis=0)`` becomes
``-sum(x, axis=0) / sigma**2 + n * mu / sigma**2``, one addition per element instead of a
subtraction, a division and a negation.  This works on the scalar graph of any ``Composite``;
nothing is specific to a distribution.

Rounding: each piece is summed as before, so the result's error stays within the usual bound
of a floating-point sum, a small multiple of ``eps * sum(|terms|)``; splitting an addend off
can lose digits *relative to the result* when the addends cancel (``sum(x) - n * mean``), as
any reassociation of a sum can.

Examples
--------
>>> import pytensor, pytensor.tensor as pt
>>> from symvi.backends import get_mode
>>> from symvi.fused_reduce import FusedReduce
>>> x, m, s = pt.matrix("x"), pt.vector("m"), pt.vector("s")
>>> f = pytensor.function([x, m, s], ((x - m) / s).sum(axis=0), mode=get_mode("numba"))
>>> [n.op.scalar_op.nout for n in f.maker.fgraph.apply_nodes if isinstance(n.op, FusedReduce)]
[1]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.traversal import graph_inputs
from pytensor.scalar import basic as ps
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.shape import Shape_i
from pytensor.tensor.subtensor import AdvancedSubtensor1

__all__ = ["split_linear"]

Build = Callable[[list], "pt.TensorVariable"]


class _Split:
    """The recursion of :func:`split_linear` for one FusedReduce candidate."""

    def __init__(self, fgraph, inputs, tensors, bcs):
        self.fgraph = fgraph
        self.inputs = list(inputs)  # the Composite's scalar inputs
        self.tensors = list(tensors)  # the Elemwise's tensor inputs, in the same order
        self.bcs = bcs
        self.ndim = len(bcs[0]) if bcs else 0
        self.position = {v: i for i, v in enumerate(self.inputs)}
        self.terms: list = []  # (scalar variable, axes, kind, acc dtype)
        self.term_index: dict = {}
        self.splits = 0  # how many rules applied (0: nothing gained)
        self.acc = "float64"  # accumulator dtype of the reduction being split

    # ---- which axes an expression varies along
    def used(self, var):
        return [self.position[v] for v in graph_inputs([var]) if v in self.position]

    def invariant_axes(self, var, axes):
        """The summed axes along which ``var`` is constant (every input broadcast there)."""
        used = self.used(var)
        return tuple(a for a in axes if all(self.bcs[i][a] for i in used))

    # ---- tensors outside the loop
    def dim_length(self, a):
        for i, bc in enumerate(self.bcs):
            if bc[a]:
                continue
            x = self.tensors[i]
            owner = x.owner
            if owner is not None and isinstance(owner.op, AdvancedSubtensor1):
                source, idx = owner.inputs  # (never the gather's own shape: it would keep the gather)
                x, a = (idx, 0) if a == 0 else (source, a)
            if x.type.shape[a] is not None:  # a static length: a constant, folded with the rest
                return pt.constant(x.type.shape[a], dtype="int64")
            return Shape_i(a)(x)
        return pt.constant(1, dtype="int64")

    def count(self, axes):
        n = pt.constant(1, dtype="int64")
        for a in axes:
            n = n * self.dim_length(a)
        return n

    def tensor(self, var):
        """``var`` computed elementwise outside the loop, as a tensor of the loop's rank."""
        if isinstance(var, ps.ScalarConstant):
            return pt.shape_padleft(pt.constant(np.asarray(var.data, dtype=var.type.dtype)), self.ndim)
        if var in self.position:
            return self.tensors[self.position[var]]
        used = sorted(set(self.used(var)))
        if not used:
            return None  # a constant expression left unfolded: keep it in the loop
        comp = ps.Composite([self.inputs[i] for i in used], [var])
        return Elemwise(comp)(*[self.tensors[i] for i in used])

    # ---- the recursion: sum of `var` over `axes` as a function of the loop's results
    def term(self, var, axes, kind="add", acc=None) -> Build:
        key = (var, axes, kind, acc or self.acc)
        if key not in self.term_index:
            self.term_index[key] = len(self.terms)
            self.terms.append(key)
        k = self.term_index[key]
        # pieces are combined at the loop's rank (one fusable elementwise graph), the summed
        # axes kept as length-1 dims and dropped at the end
        return lambda res: pt.expand_dims(res[k], axes) if axes else res[k]

    def invariant_sum(self, var, axes) -> Build | None:
        """``sum(var, axes)`` for a ``var`` constant along some of ``axes``, computed outside."""
        inv = self.invariant_axes(var, axes)
        if not inv:
            return None
        t = self.tensor(var)
        if t is None:
            return None
        rest = tuple(a for a in axes if a not in inv)
        if rest:  # a smaller reduction outside the loop (over inputs broadcast along `inv`)
            t = pt.sum(t, axis=rest, keepdims=True)
        n = self.count(inv)
        value = t * n
        if not (isinstance(n, pt.TensorConstant) and n.data > 0):
            value = pt.switch(pt.gt(n, 0), value, 0)  # no copies when an axis is empty (0 * inf is nan)
        self.splits += 1
        return lambda res: value

    def split(self, var, axes) -> Build:
        owner = var.owner
        whole = self.invariant_sum(var, axes)
        if whole is not None:
            return whole
        if owner is None:
            return self.term(var, axes)
        op = owner.op
        if isinstance(op, ps.Add):
            return self._add(owner.inputs, [1] * len(owner.inputs), axes, var)
        if isinstance(op, ps.Sub):
            return self._add(owner.inputs, [1, -1], axes, var)
        if isinstance(op, ps.Neg):
            inner = self.split(owner.inputs[0], axes)
            self.splits += 1
            return lambda res: -inner(res)
        if isinstance(op, ps.Mul):
            inv = [i for i in owner.inputs if len(self.invariant_axes(i, axes)) == len(axes)]
            rest = [i for i in owner.inputs if len(self.invariant_axes(i, axes)) != len(axes)]
            factors = [self.tensor(i) for i in inv]
            if not inv or not rest or any(f is None for f in factors):
                return self.term(var, axes)
            inner = self.split(rest[0], axes) if len(rest) == 1 else self.term(ps.mul(*rest), axes)
            factor = factors[0]
            for f in factors[1:]:
                factor = factor * f
            self.splits += 1
            return lambda res: factor * inner(res)
        if isinstance(op, ps.TrueDiv):
            num, den = owner.inputs
            d = self.tensor(den) if len(self.invariant_axes(den, axes)) == len(axes) else None
            if d is None:
                return self.term(var, axes)
            inner = self.split(num, axes)
            self.splits += 1
            return lambda res: inner(res) / d
        if isinstance(op, ps.Switch):
            cond, a, b = owner.inputs
            c = self.tensor(cond) if len(self.invariant_axes(cond, axes)) == len(axes) else None
            if c is None:
                return self.term(var, axes)
            on, off = self.split(a, axes), self.split(b, axes)
            self.splits += 1
            return lambda res: pt.switch(c, on(res), off(res))
        return self.term(var, axes)

    def _add(self, args, signs, axes, var) -> Build:
        """Addends split one by one; those that gain nothing stay together as one term."""
        parts, rest = [], []
        for arg, sign in zip(args, signs):
            before, n_terms = self.splits, len(self.terms)
            b = self.split(arg, axes)
            if self.splits == before:  # nothing to move out: undo the term it registered
                if len(self.terms) > n_terms:
                    key = self.terms.pop()
                    del self.term_index[key]
                rest.append((arg, sign))
            else:
                parts.append((b, sign))
        if not parts:
            return self.term(var, axes)
        if rest:
            pos = [a for a, s in rest if s > 0]
            neg = [a for a, s in rest if s < 0]
            expr = pos[0] if len(pos) == 1 and not neg else None
            if expr is None:
                total = ps.add(*pos) if len(pos) > 1 else (pos[0] if pos else None)
                minus = ps.add(*neg) if len(neg) > 1 else (neg[0] if neg else None)
                expr = minus.__neg__() if total is None else (total if minus is None else total - minus)
            parts.append((self.term(expr, axes), 1))
        self.splits += 1

        def build(res):
            out = None
            for b, sign in parts:
                v = b(res)
                out = (v if sign > 0 else -v) if out is None else (out + v if sign > 0 else out - v)
            return out

        return build


def split_linear(fgraph, node, plan: Sequence) -> tuple | None:
    """Move the parts of ``node``'s reduced outputs that are constant along the summed axes
    out of the loop.

    ``node`` is an Elemwise whose outputs feed only reductions; ``plan`` lists them as
    ``(output index, axes, kind, acc dtype, out dtype)``.  Returns ``None`` when nothing moves,
    else ``(scalar_op, tensor inputs, new plan, finish)``: the loop then evaluates
    ``scalar_op`` (the remaining per-element terms) over ``tensor inputs`` with ``new plan``'s
    reductions, and ``finish(results)`` gives, per entry of ``plan``, the reduced value.

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> from pytensor.graph.fg import FunctionGraph
    >>> x, s = pt.matrix("x"), pt.vector("s")
    >>> e = x / s
    >>> fg = FunctionGraph([x, s], [e.sum(axis=0)], clone=False)
    >>> scalar_op, inputs, plan, finish = split_linear(fg, e.owner, [(0, (0,), "add", "float64", "float64")])
    >>> [str(i) for i in inputs], plan
    (['x'], [(0, (0,), 'add', 'float64', 'float64')])
    """
    scalar_op = node.op.scalar_op
    if not isinstance(scalar_op, ps.Composite):
        ins = [ps.get_scalar_type(x.type.dtype)() for x in node.inputs]
        scalar_op = ps.Composite(ins, scalar_op.make_node(*ins).outputs)
    mutable = scalar_op.fgraph.unfreeze()
    bcs = [x.type.broadcastable for x in node.inputs]
    s = _Split(fgraph, mutable.inputs, node.inputs, bcs)
    builds = []
    for k, axes, kind, acc, out in plan:
        linear = kind == "add" and axes and np.dtype(acc).kind == "f"
        s.acc = acc
        builds.append(s.split(mutable.outputs[k], tuple(axes)) if linear else s.term(mutable.outputs[k], tuple(axes), kind, acc))
    if s.splits == 0:
        return None
    # the loop's scalar op: the remaining terms over the inputs they read
    used = sorted({i for var, *_ in s.terms for i in s.used(var)})
    if not used or not s.terms:  # everything moved out: no loop left for these reductions
        return None
    outputs = [ps.identity(var) if var in s.position else var for var, *_ in s.terms]  # (a Composite's outputs are not its inputs)
    new_op = ps.Composite([mutable.inputs[i] for i in used], outputs)
    tensors = [node.inputs[i] for i in used]
    # each term's sum stays in its accumulator's precision until the pieces are combined
    new_plan = [(j, axes, kind, acc, acc) for j, (var, axes, kind, acc) in enumerate(s.terms)]
    lengths = [s.dim_length(a) for a in range(s.ndim)]

    def finish(results):
        outs = []
        for b, (k, axes, kind, acc, out_dtype) in zip(builds, plan):
            v = b(results)
            v = pt.as_tensor_variable(v).astype(out_dtype)
            v = pt.shape_padleft(v, s.ndim - v.ndim)
            kept = [a for a in range(s.ndim) if a not in axes]
            v = v.dimshuffle(kept)  # (every piece is broadcast along the summed axes)
            want = node.outputs[k].type.broadcastable
            if any(v.type.broadcastable[j] and not want[a] for j, a in enumerate(kept)):
                v = pt.alloc(v, *[lengths[a] for a in kept])  # constant along a kept axis too
            outs.append(v)
        return outs

    return new_op, tensors, new_plan, finish
