"""``sample_node``: any graph over model variables, evaluated at draws from an approximation.

Fresh draws on every evaluation
-------------------------------
``Variable.eval()`` compiles its graph without updates to shared random generators, so a
graph whose noise comes from a ``RandomVariable`` would return the same value on every call.
The noise of a ``sample_node`` comes instead from :class:`FreshNoise`, a small Op that owns a
numpy ``Generator`` and draws from it in ``perform``: every execution of the compiled
function - ``eval``, ``pytensor.function``, a Tracker callback during ``fit`` - advances it.
Each ``sample_node`` call makes its own Op instance (seeded from the approximation's
generator, so seeded runs are reproducible); the instances never compare equal, so graph
rewrites cannot merge two noise sources, and they refuse constant folding.  Under the Numba
backend the Op runs in Numba's object mode (registered below, without the fallback warning).

Examples
--------
>>> import symvi as pm
>>> with pm.Model():
...     x = pm.Normal("x", 0, 1)
...     approx = pm.MeanField(random_seed=1)
>>> node = approx.sample_node(x**2, size=3)
>>> a, b = node.eval(), node.eval()
>>> a.shape, bool((a != b).all())
((3,), True)
"""

from __future__ import annotations

import itertools

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_type
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.graph.traversal import ancestors
from pytensor.tensor.basic import infer_static_shape

from symvi.distributions.base import dist_info
from symvi.pytensorf import as_replacements, quick_eval

__all__ = ["FreshNoise", "sample_node", "tie_noise_to_loop"]

_uids = itertools.count()


class FreshNoise(Op):
    """Standard normal (``kind="normal"``) or U[0, 1) (``"uniform"``) noise of a given shape.

    The Op owns its numpy Generator; every run of a compiled graph draws new values.

    Examples
    --------
    >>> e = FreshNoise("normal", seed=0)((2,))
    >>> bool((e.eval() != e.eval()).all())
    True
    """

    __props__ = ("kind", "uid", "dtype")

    def __init__(self, kind: str = "normal", seed=None, dtype: str = "float64"):
        if kind not in ("normal", "uniform"):
            raise ValueError(f"FreshNoise: kind must be 'normal' or 'uniform', got {kind!r}")
        self.kind = kind
        self.dtype = str(dtype)
        self.uid = next(_uids)  # unique: two noise sources must never be merged
        self.generator = np.random.default_rng(seed)

    def make_node(self, shape, *unpacked, tick=None):
        """``shape``: the output shape, one sequence of ints / integer scalars (or a vector).

        ``tick``: an optional extra input the draw ignores, that changes at every iteration of
        a loop (see :func:`tie_noise_to_loop`): inside a ``scan`` a node whose inputs are all
        loop constants is moved out of the loop by PyTensor (one draw for every step); one with
        a per-step input stays in it.  A call with the shape unpacked (``make_node(n, m)``,
        which is how that rewrite rebuilds a node outside the loop) is refused on purpose: the
        rewrite then leaves the node in the loop.
        """
        if unpacked or (isinstance(shape, Variable) and shape.ndim == 0) or isinstance(shape, int | np.integer):
            raise TypeError(
                "FreshNoise.make_node: shape must be one sequence (or vector) of sizes, not sizes given one by one; "
                "rebuilding a noise node from its sizes alone (as PyTensor does to move it out of a scan) is refused, "
                "since its draw would then be shared by every step of the loop"
            )
        if tick is not None and not isinstance(tick, Variable):
            raise TypeError(f"FreshNoise: tick must be a symbolic variable that changes per loop step, got {tick!r}")
        shape, static = infer_static_shape(shape)
        out = pt.tensor(dtype=self.dtype, shape=static)
        return Apply(self, [*shape, *([] if tick is None else [tick])], [out])

    def perform(self, node, inputs, outputs):
        shape = tuple(int(s) for s in inputs[: node.outputs[0].ndim])  # a tick input comes last
        gen = self.generator
        draw = gen.standard_normal(shape) if self.kind == "normal" else gen.random(shape)
        outputs[0][0] = draw if self.dtype == "float64" else draw.astype(self.dtype)

    def do_constant_folding(self, fgraph, node):
        return False  # folding would freeze one draw into the graph

    def infer_shape(self, fgraph, node, input_shapes):
        return [tuple(node.inputs[: node.outputs[0].ndim])]

    def connection_pattern(self, node):
        return [[False] for _ in node.inputs]

    def grad(self, inputs, output_grads):
        return [disconnected_type() for _ in inputs]


def _register_numba():
    try:
        import numba
        from pytensor.link.numba.dispatch.basic import get_numba_type, numba_funcify, numba_njit
    except Exception:  # noqa: BLE001 - Numba backend unavailable: the Python linker still works
        return

    @numba_funcify.register(FreshNoise)
    def _funcify_fresh_noise(op, node, **kwargs):
        ret_sig = get_numba_type(node.outputs[0].type)

        def draw(inputs):
            storage = [[None]]
            op.perform(node, inputs, storage)
            return storage[0][0]

        @numba_njit
        def fresh_noise(*shape):
            with numba.objmode(ret=ret_sig):
                ret = draw(shape)
            return ret

        return fresh_noise


_register_numba()

_JAX_REGISTERED = False


def register_jax() -> None:
    """Teach pytensor's JAX linker to run FreshNoise (through ``jax.pure_callback``).

    Called when the JAX backend is selected (importing jax eagerly would slow every import).
    The draw needs a static shape under JAX: give ``sample_node`` an int ``size``.
    """
    global _JAX_REGISTERED
    if _JAX_REGISTERED:
        return
    import jax
    from pytensor.link.jax.dispatch import jax_funcify

    @jax_funcify.register(FreshNoise)
    def _jax_fresh_noise(op, node, **kwargs):
        static = node.outputs[0].type.shape
        if any(s is None for s in static):
            raise TypeError("sample_node under the JAX backend needs a static size (an int), not a symbolic one")
        result = jax.ShapeDtypeStruct(tuple(int(s) for s in static), np.dtype(op.dtype))

        def draw():
            storage = [[None]]
            op.perform(node, [np.asarray(s) for s in static], storage)
            return storage[0][0]

        def fresh_noise(*shape):
            return jax.pure_callback(draw, result)

        return fresh_noise

    _JAX_REGISTERED = True


def tie_noise_to_loop(outputs, tick):
    """``outputs`` (a list of variables) with every :class:`FreshNoise` draw they use made to
    depend on ``tick``, a variable of a ``scan`` step that changes at every iteration (a
    carried state, the step counter).

    Call it on the outputs of a scan step function whose graphs may hold ``sample_node``
    draws (symvi's fit loop does, for the expressions a ``Tracker`` records): PyTensor moves
    loop-invariant nodes out of a scan, and a noise node whose inputs are only the (constant)
    shape would be one of them, drawn once for every step.  With ``tick`` as an input the
    node is drawn again at every step.

    Examples
    --------
    >>> import pytensor, pytensor.tensor as pt
    >>> noise = FreshNoise("normal", seed=0)((2,))
    >>> def step(i):
    ...     return i + 1, tie_noise_to_loop([noise], i)[0]
    >>> (_, draws) = pytensor.scan(step, outputs_info=[pt.constant(0), None], n_steps=3, return_updates=False)
    >>> d = draws.eval()
    >>> d.shape, bool((d[0] != d[1]).all() and (d[1] != d[2]).all())
    ((3, 2), True)
    """
    outputs = list(outputs)
    if not outputs:
        return outputs
    owners = {v.owner for v in ancestors(outputs) if v.owner is not None and isinstance(v.owner.op, FreshNoise)}
    repl = {}
    for node in owners:
        shape = node.inputs[: node.outputs[0].ndim]
        if tick in node.inputs[len(shape) :]:
            continue
        repl[node.outputs[0]] = node.op.make_node(list(shape), tick=tick).outputs[0]
    return graph_replace(outputs, repl, strict=False) if repl else outputs


def _spawn_seed(approx) -> int:
    """A seed for the next noise source, derived from (without advancing) ``approx.rng``."""
    seq = getattr(approx, "_node_seeds", None)
    if seq is None:
        seq = np.random.SeedSequence(int(approx.rng.get_value().integers(2**63)))
        approx._node_seeds = seq
    return int(seq.spawn(1)[0].generate_state(1, dtype=np.uint64)[0])


def fresh_draws(approx, size=None):
    """Symbolic draws from ``approx`` (shape (D,) or (size, D)), new at every evaluation."""
    noise = getattr(approx, "noise", "normal")
    lead = () if size is None else (size,)
    shape = lead + ((approx.ndim,) if noise == "normal" else ())
    dtype = getattr(approx, "dtype", "float64")
    return approx.draw_from_noise(FreshNoise(noise, seed=_spawn_seed(approx), dtype=dtype)(shape))


def _as_replacement(key, value):
    if isinstance(value, Variable):
        return value
    dtype = getattr(key, "dtype", None)
    return pt.as_tensor_variable(np.asarray(value, dtype=dtype) if dtype is not None else value)


def _check_size(size):
    if size is None:
        return None
    if isinstance(size, Variable):
        if size.ndim != 0 or not size.dtype.startswith(("int", "uint")):
            raise TypeError(f"sample_node: a symbolic size must be an integer scalar, got {size.type}")
        return size
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"sample_node: size must be None, a positive integer or an integer scalar tensor, got {size!r}")
    return int(size)


def _check_deterministic(deterministic):
    if isinstance(deterministic, bool | np.bool_):
        return bool(deterministic)
    if isinstance(deterministic, Variable):
        if deterministic.ndim != 0:
            raise TypeError(f"sample_node: deterministic must be a scalar, got {deterministic.type}")
        return deterministic
    raise TypeError(f"sample_node: deterministic must be a bool or a (shared) boolean scalar, got {deterministic!r}")


def _check_same_model(model, nodes):
    """Reject nodes built from another model's random variables (they would stay prior draws)."""
    foreign = []
    for var in ancestors(nodes):
        if var.name and dist_info(var) is not None and var not in model.rvs_to_values and var.name not in foreign:
            foreign.append(var.name)
    if foreign:
        raise ValueError(
            f"sample_node: the node depends on random variable(s) {foreign} that are not in the approximation's "
            f"model (its variables: {sorted(rv.name for rv in model.basic_RVs)}); build the node from this model's variables"
        )


def sample_node(approx, node, size=None, deterministic=False, more_replacements=None):
    """``node`` with every model random variable replaced by a draw from ``approx``.

    Parameters
    ----------
    node : a variable (or list of variables) built from the model's random variables.
    size : None (one draw), a positive int or an integer scalar tensor: with a size the
        result gets a leading axis of that many independent draws.
    deterministic : bool or a shared/symbolic boolean scalar; true evaluates ``node`` at the
        approximation's mean (a shared flag switches at run time).
    more_replacements : ``{variable: replacement}`` applied to ``node`` first, e.g. swap the
        training data container for test data.

    Every evaluation of a stochastic result gives fresh draws (see the module docstring).
    """
    single = not isinstance(node, list | tuple)
    nodes = [node] if single else list(node)
    nodes = [n if isinstance(n, Variable) else pt.as_tensor_variable(n) for n in nodes]
    size = _check_size(size)
    deterministic = _check_deterministic(deterministic)
    if more_replacements:
        repl = as_replacements(more_replacements, "sample_node: more_replacements")
        nodes = graph_replace(nodes, repl, strict=False)
    _check_same_model(approx.model, nodes)
    theta = approx.layout.vector()
    exprs = approx.layout.expression(nodes, theta)
    mean = approx.mean
    if size is not None:
        mean = pt.broadcast_to(mean, (size, approx.ndim))
    if deterministic is True:
        z = mean
    else:
        z = fresh_draws(approx, size)
        if deterministic is not False:
            z = pt.switch(pt.as_tensor_variable(deterministic).astype("bool"), mean, z)
    outs = []
    for e in exprs:
        if theta not in ancestors([e]):
            outs.append(e if size is None else pt.broadcast_to(e, (size, *e.shape)))
        elif size is None:
            outs.append(graph_replace(e, {theta: z}, strict=False))
        else:
            outs.append(vectorize_graph(e, {theta: z}))
    outs = [quick_eval(o) for o in outs]  # .eval() in milliseconds, not a Numba compile
    return outs[0] if single else outs
