"""The JAX tier's loop: one optimisation step converted by PyTensor, looped by ``jax.lax.scan``.

The first tier of a tiered fit (:mod:`symvi.variational.tiers`) runs K steps per call in JAX.
Expressing those K steps as a PyTensor ``scan`` and compiling that with PyTensor's JAX linker
costs, on a new model, more than the loop runs: building the scan, rewriting the outer graph,
then (inside PyTensor's JAX conversion of the scan) rewriting the step again with the whole
default rewrite set.  Here the step is rewritten once, with the tier's rewrites, converted with
``jax_funcify`` and looped by ``jax.lax.scan`` directly.  The graph XLA compiles is the same
computation (the state carried, one step's draws per iteration, the per-step outputs stacked).

Examples
--------
>>> import numpy as np, pytensor.tensor as pt
>>> from symvi.variational.tiers import jax_tier_mode
>>> x, noise = pt.dscalar("x"), pt.dscalar("noise")
>>> loop = JaxLoop([x], [noise], [0.5 * x + noise, x], consts=[], mode=jax_tier_mode())
>>> (last,), (seen,) = loop([np.float64(4.0)], [np.ones(3)], 3)
>>> float(last), np.asarray(seen).tolist()
(2.25, [4.0, 3.0, 2.5])
"""

from __future__ import annotations

import numpy as np

__all__ = ["JaxLoop", "XLA_TIER_OPTIONS", "XlaPrefetch"]

#: XLA options of the JAX tier's loop: XLA:CPU's older elemental emitters compile a loop in about
#: two thirds of the time of its fusion emitters (kidiq FullRank: 0.33-0.39 s instead of
#: 0.50-0.52), and the tier's loop runs for seconds only
XLA_TIER_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


class JaxLoop:
    """``K`` steps of a step graph as one jitted JAX function.

    ``carried`` are the step's inputs that its first ``len(carried)`` outputs replace for the
    next step (cast back to the carried dtype); ``noise`` the inputs fed one row per step from
    the draws given to each call; ``consts`` shared variables the step reads (their values are
    read at each call).  A call ``loop(carry_values, noise_values, k)`` returns the carried
    values after ``k`` steps and the other outputs of every step, stacked (leading axis: the
    step).  The first call with a new ``k`` compiles (XLA); raises where an op of the step has
    no JAX implementation or JAX cannot trace it.
    """

    def __init__(self, carried: list, noise: list, outputs: list, consts: list, mode):
        self.consts = list(consts)
        self._parts = (list(carried), list(noise), list(outputs))
        # what to try, in order, where JAX cannot trace or XLA cannot compile the step: PyTensor's
        # shape inference (ShapeOpt: a quarter of the rewrites' time, rarely needed once the
        # types fix the shapes), then XLA without the tier's options
        self._ladder = [(mode, True), (mode.including("ShapeOpt"), True), (mode.including("ShapeOpt"), False)]
        self.attempt = 0
        self._build()

    def _const_shapes(self) -> list:
        return [np.shape(c.get_value(borrow=True)) for c in self.consts]

    def _build(self) -> None:
        """Rewrite and convert the step for the shapes the shared variables have now.

        JAX needs shapes (slice bounds, reshape targets) as constants: the shared variables come
        in with their present shapes as static types (a later change of shape builds again),
        and every shape the types fix is folded to a constant before and after PyTensor's
        rewrites (cheaper than PyTensor's shape inference, which took a quarter of them).
        """
        import jax
        from pytensor.graph.fg import FunctionGraph
        from pytensor.graph.replace import graph_replace
        from pytensor.link.jax.dispatch import jax_funcify
        from pytensor.link.utils import fgraph_to_python

        carried, noise, outputs = self._parts
        mode, tuned = self._ladder[self.attempt]
        self.shapes = self._const_shapes()
        holders = [c.type.clone(shape=sh)(name=c.name) for c, sh in zip(self.consts, self.shapes)]
        if holders:
            outputs = graph_replace(outputs, dict(zip(self.consts, holders)), strict=False)
        # (the shared variables are inputs of the converted step: their values come with each call)
        fgraph = FunctionGraph([*carried, *noise, *holders], list(outputs), clone=True)
        fold = _static_shapes()
        fold(fgraph)
        mode.optimizer(fgraph)
        fold(fgraph)
        # (constant arrays are put on the device as they are: ``jax.numpy.array``, PyTensor's
        # conversion, compiles an XLA conversion per new shape and dtype - 0.1 s for a model's
        # few dozen constants)
        step = fgraph_to_python(fgraph, jax_funcify, type_conversion_fn=_typify, fgraph_name="symvi_jax_step")
        n_carry, n_noise = len(carried), len(noise)

        def loop(carry, xs, consts, length):
            def body(c, x):
                out = step(*c, *(x or ()), *consts)
                new = tuple(jax.lax.convert_element_type(o, a.dtype) for o, a in zip(out[:n_carry], c))
                return new, tuple(out[n_carry:])

            return jax.lax.scan(body, carry, xs if n_noise else None, length=length)

        options = {"compiler_options": XLA_TIER_OPTIONS} if tuned else {}
        self._jitted = jax.jit(loop, static_argnames="length", **options)

    def __call__(self, carry_values, noise_values, k: int):
        consts = tuple(c.get_value(borrow=True) for c in self.consts)
        if [np.shape(v) for v in consts] != self.shapes:  # new data of another shape
            self._build()
        carry = tuple(np.asarray(v) for v in carry_values)
        while True:
            try:
                return self._jitted(carry, tuple(noise_values), consts, length=int(k))
            except Exception:  # noqa: BLE001 - the next way of building the step, if any is left
                if self.attempt + 1 == len(self._ladder):
                    raise
                self.attempt += 1
                self._build()


def _typify(data, **kwargs):
    import jax
    from pytensor.link.jax.dispatch import jax_typify

    if isinstance(data, np.ndarray) and data.ndim:
        return jax.device_put(data)
    return jax_typify(data, **kwargs)


def _static_shapes():
    """A rewrite: shapes known from the types as constants, then constant folding."""
    import pytensor.tensor as pt
    from pytensor.graph.rewriting.basic import SequentialGraphRewriter, in2out, node_rewriter
    from pytensor.tensor.rewriting.basic import topo_constant_folding
    from pytensor.tensor.shape import Shape, Shape_i

    @node_rewriter([Shape, Shape_i])
    def static_shape(fgraph, node):
        shape = node.inputs[0].type.shape
        if isinstance(node.op, Shape_i):
            dim = shape[node.op.i]
            return None if dim is None else [pt.constant(dim, dtype=node.outputs[0].dtype)]
        if any(d is None for d in shape):
            return None
        return [pt.constant(np.array(shape, dtype=node.outputs[0].dtype))]

    return SequentialGraphRewriter(in2out(static_shape), topo_constant_folding)


class XlaPrefetch:
    """XLA's compile of a JAX-tier loop, in a thread, before the loop's first call.

    XLA compiles with the GIL released, so the fit computes its warm start meanwhile.  The
    thread calls the loop once with the first call's arguments and drops what it returns,
    which leaves the compiled loop in JAX's cache: the fit's first call then only runs it.
    Nothing of the fit changes (the call's new state is not stored).

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from symvi.variational.tiers import jax_tier_mode
    >>> x = pt.dscalar("x")
    >>> loop = JaxLoop([x], [], [2 * x], consts=[], mode=jax_tier_mode())
    >>> job = XlaPrefetch(loop, ([np.float64(1.0)], [], 3)); job.wait()
    >>> job.error is None, float(loop([np.float64(1.0)], [], 3)[0][0])
    (True, 8.0)
    """

    def __init__(self, loop, args: tuple):
        import threading

        self.error: BaseException | None = None
        # not a daemon: an exiting interpreter waits for XLA (a second) instead of killing it
        self._thread = threading.Thread(target=self._run, args=(loop, args), name="symvi-xla-prefetch")
        self._thread.start()

    def _run(self, loop, args) -> None:
        try:
            loop(*args)
        except BaseException as err:  # noqa: BLE001 - the first real call compiles again and reports it
            self.error = err

    def wait(self) -> None:
        """Block until the compile is done (its failure, if any, is in ``error``)."""
        self._thread.join()

