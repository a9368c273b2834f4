"""The graph of a compiled loop: K optimisation steps built from one step's expressions.

:func:`loop_graph` wraps the single-step update (the optimizer applied to the loss's
gradients) in a ``scan`` whose carried state is every shared variable the step changes:
parameters, optimizer state and random generators (noise for the Monte Carlo estimate,
minibatch indices).  A step whose loss or new parameters are not finite is not applied: the
scan carries an ``alive`` flag, and every later step of the chunk is a no-op that reports NaN.
Tracked expressions are recorded after every step as extra outputs.

It is a function of the step's expressions alone, so the background process of a tiered fit
(:mod:`symvi.variational.tiers`) builds the same Numba loop as the fit would.  The JAX tier
takes one step instead, which :class:`~symvi.variational.jax_loop.JaxLoop`
loops in JAX.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import graph_replace
from pytensor.tensor.random.type import RandomGeneratorType

from symvi.pytensorf import fold_lifted_integers, rng_updates
from symvi.variational.nodes import tie_noise_to_loop

__all__ = ["loop_graph", "JAX_TIER", "LOOP_FORMAT"]

#: the JAX tier of ``backend="auto"``: JAX's loop fed with draws made in numpy (tiers.LoopDraws)
JAX_TIER = "jax-tier"
_FIXED = ("jax", JAX_TIER)  # backends whose loops have a fixed length
#: the version of how :func:`loop_graph` builds a loop from a step: part of the key under which
#: a finished background Numba compile is recorded (bump it when the loop's graph changes)
LOOP_FORMAT = 2


def _is_rng(var) -> bool:
    return isinstance(var.type, RandomGeneratorType)


def loop_graph(loss, updates, state, params, backend, static_k, tracked=(), draws=None, mode=None):
    """``(inputs, [losses, flags, *tracked rows], updates)`` of the K-step loop for ``backend``.

    A function of the step's expressions alone, so that a background process can build the
    Numba loop from them (:class:`tiers.BackgroundCompile`).  The JAX tier's loop is one step
    (:func:`_jax_step_graph`, looped by :class:`jax_loop.JaxLoop`), fed with ``draws``.
    ``mode``: the mode the VMs run the loop body in (Numba rewrites it with its extra rewrites).

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> w = pytensor.shared(np.array([2.0]), name="w")
    >>> loss = pt.sum(w**2)
    >>> inputs, outputs, updates = loop_graph(loss, {w: w - 0.25 * pt.grad(loss, w)}, [w], [w], "c", None)
    >>> f = pytensor.function(inputs, outputs, updates=updates)
    >>> losses, flags = f(3)
    >>> losses.tolist(), w.get_value().tolist()
    ([4.0, 1.0, 0.25], [0.25])
    """
    drawn = []  # the JAX tier: the draws (values of random nodes) that come in as sequences
    if backend == JAX_TIER:
        drawn = list(draws.values)
        state = [s for s in state if s not in set(draws.rngs)]
    param_idx = [state.index(p) for p in params]
    if backend in _FIXED:  # JAX traces shapes: lifted integer constants (reshape targets) go back in
        folded = fold_lifted_integers([loss] + [updates[s] for s in state])
        loss, updates = folded[0], dict(zip(state, folded[1:]))
    refolded = drawn
    if drawn:  # folding rebuilt the random nodes: each is found again by its generator
        again = {r: nxt.owner.outputs[1] for r, nxt in rng_updates([loss, *updates.values()]).items()}
        if set(again) != set(draws.rngs):
            raise ValueError("the JAX tier's loop would draw its own random numbers")
        refolded = [again[r] for r in draws.rngs]

    def one_step(*inner):
        noise, inner = inner[: len(drawn)], inner[len(drawn) :]
        fed = dict(zip(drawn, noise)) | dict(zip(refolded, noise))  # (tracked expressions are not folded)
        alive = inner[-1]
        cur = inner[:-1]
        repl = dict(zip(state, cur)) | fed
        new = graph_replace([updates[s] for s in state] + [loss], repl, strict=False)
        new_vals, step_loss = new[:-1], new[-1]
        finite = [pt.all(pt.isfinite(new_vals[i])) for i in param_idx]
        ok = pt.and_(alive, pt.isfinite(step_loss))
        for f in finite:
            ok = pt.and_(ok, f)
        out = []
        for s, old, nv in zip(state, cur, new_vals):
            out.append(nv if _is_rng(s) else pt.switch(ok, nv, old).astype(old.dtype))
        reported = pt.switch(ok, step_loss, np.nan).astype(step_loss.dtype)  # no upcast in the loop
        flags = pt.stack([pt.and_(f, alive) for f in finite]) if finite else pt.zeros(0, dtype="bool")
        # tracked expressions read the state after this step (the last good one after a bad step)
        seen = graph_replace(list(tracked), dict(zip(state, out)) | fed, strict=False) if tracked else []
        # sample_node draws (in tracked expressions, or a custom objective) must be redrawn
        # at every step, not moved out of the loop as loop constants: tie them to the carried flag
        return tie_noise_to_loop([*out, ok, reported, flags, *seen], alive)

    if backend == JAX_TIER:  # one step, looped by jax.lax.scan (jax_loop.JaxLoop)
        return _jax_step_graph(one_step, state, drawn, draws)
    n_steps = pt.iscalar("K")
    length = n_steps if static_k is None else static_k
    init = [*state, pt.constant(np.bool_(True))]
    feeds = [pt.tensor(dtype=v.dtype, shape=(static_k, *v.type.shape), name=f"draws{i}") for i, v in enumerate(drawn)]
    results = pytensor.scan(
        one_step,
        sequences=feeds,
        outputs_info=init + [None] * (2 + len(tracked)),
        n_steps=length,
        return_updates=False,
        mode=mode,
    )
    finals = results[: len(state)]
    losses, flags = results[len(state) + 1], results[len(state) + 2]
    rows = list(results[len(state) + 3 :])
    fn_updates = {s: (r if _is_rng(s) else r[-1]) for s, r in zip(state, finals)}
    inputs = [n_steps] if static_k is None else feeds
    return inputs, [losses, flags, *rows], fn_updates


def _jax_step_graph(one_step, state, drawn, draws):
    """``(state, carried, noise, outputs, consts)`` of one step of the JAX tier's loop.

    The carried values and the draws get their shapes as static types: JAX needs shapes
    (slice bounds, reshape targets) as constants, which PyTensor's rewrites then fold.
    """
    from pytensor.graph.traversal import graph_inputs

    if any(_is_rng(s) for s in state):
        raise ValueError("the JAX tier's loop would draw its own random numbers")
    carried = [s.type.clone(shape=np.shape(s.get_value(borrow=True)))(name=s.name) for s in state]
    carried.append(pt.scalar("alive", dtype="bool"))
    one = draws.peek(1)  # one step's draws: their shapes
    noise = [v.type.clone(shape=np.shape(d)[1:])(name=f"draw{i}") for i, (v, d) in enumerate(zip(drawn, one))]
    outputs = one_step(*noise, *carried)
    consts = [v for v in graph_inputs(outputs) if isinstance(v, SharedVariable)]
    return state, carried, noise, outputs, consts

