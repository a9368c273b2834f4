"""Small PyTensor helpers shared by the model and the inference code.

Random draws in symvi are pytensor ``RandomVariable`` nodes, each with its own shared
generator.  :func:`compile_fn` finds every such node in the outputs' graph and adds the
"advance the generator" updates, so every call of the compiled function gives fresh draws.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.mode import Mode
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable
from pytensor.graph.replace import clone_replace
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.op import RandomVariable
from pytensor.tensor.random.type import RandomGeneratorType

__all__ = [
    "ONE_SHOT_MODE",
    "without_creation_traces",
    "quick_eval",
    "compile_fn",
    "lift_constants",
    "fold_lifted_integers",
    "rng_updates",
    "find_rngs",
    "reseed_rngs",
    "new_rng",
    "floatX",
    "intX",
    "as_replacements",
]


def _inline_op_from_graph(fgraph, node):
    """An ``OpFromGraph`` node (softmax, log-softmax, ...) as its inner graph."""
    op = node.op
    return clone_replace(op.inner_outputs, replace=dict(zip(op.inner_inputs, node.inputs)))


class _OneShotMode(Mode):
    """The Python linker; its only rewrite inlines OpFromGraph nodes.  Run by the Python
    linker, such a node compiles its inner graph in PyTensor's default mode, i.e. with Numba:
    5-9 s for the softmax of a categorical model's start-point check.  Pickled by name (its
    rewriter holds closures): processes that receive it (Dask workers) build their own."""

    def __reduce__(self):
        return _one_shot_mode, ()


def _one_shot_mode():
    from pytensor.compile.builders import OpFromGraph
    from pytensor.graph.rewriting.basic import EquilibriumGraphRewriter, node_rewriter

    inline = node_rewriter([OpFromGraph])(_inline_op_from_graph)
    return _OneShotMode(linker="py", optimizer=EquilibriumGraphRewriter([inline], max_use_ratio=100))


# For functions evaluated once or a few times (initial points, posterior/prior draws,
# diagnostics): the Python linker without graph rewrites compiles in milliseconds (the
# rewrites alone took ~1 s of a first diagnose()), where a cold Numba/C compile of a new graph
# takes seconds; the work inside is vectorised numpy either way.
ONE_SHOT_MODE = _one_shot_mode()


def without_creation_traces(fn):
    """Decorate ``fn`` (a fit) so that the graph nodes it creates record no creation stack trace.

    PyTensor keeps the last frames of the stack on every node it creates (``traceback__limit``,
    8 by default) to say in an error where a node was built; a fit creates thousands of nodes
    (gradients, loop graphs, rewrites), and collecting those stacks took ~5 % of a new model's
    first fit (sblrc 1.54 -> 1.46 s).  The nodes of the user's model keep their traces (they
    are created before the fit; rewrites copy traces to the nodes they make).  A limit the
    user set (a PyTensor flag) is kept.

    Examples
    --------
    >>> import pytensor, pytensor.tensor as pt
    >>> build = without_creation_traces(lambda: pt.exp(pt.dscalar("x")))
    >>> build().tag.trace, len(pt.exp(pt.dscalar("x")).tag.trace) > 0
    ([], True)
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if not pytensor.config._config_var_dict["traceback__limit"].is_default:
            return fn(*args, **kwargs)
        with pytensor.config.change_flags(traceback__limit=0):
            return fn(*args, **kwargs)

    return wrapper


def quick_eval(var):
    """Give ``var`` an ``eval()`` that compiles with :data:`ONE_SHOT_MODE` (once, then cached).

    ``Variable.eval`` compiles with PyTensor's default mode (Numba: about a second for a new
    graph); expressions that users evaluate a few times, such as ``sample_node`` results, get
    this one instead.  Calls with inputs or keyword arguments go to the usual ``eval``.

    >>> import pytensor.tensor as pt
    >>> y = quick_eval(pt.as_tensor(2.0) * 3)
    >>> float(y.eval())
    6.0
    """
    plain = type(var).eval
    compiled = []

    def eval(inputs_to_values=None, **kwargs):
        if inputs_to_values or kwargs:
            return plain(var, inputs_to_values, **kwargs)
        if not compiled:
            compiled.append(pytensor.function([], var, mode=ONE_SHOT_MODE))
        return compiled[0]()

    var.eval = eval
    return var


def floatX(x):
    """``x`` as an array (or tensor) of pytensor's configured float type (``config.floatX``).

    Examples
    --------
    >>> import pytensor, symvi as pm
    >>> with pytensor.config.change_flags(floatX="float32"):
    ...     str(pm.floatX([1.0, 2.0]).dtype)
    'float32'
    """
    if isinstance(x, Variable):
        return x.astype(pytensor.config.floatX)
    return np.asarray(x, dtype=pytensor.config.floatX)


def intX(x):
    """``x`` as integers of the width that goes with ``floatX`` (int32 for float32, else int64).

    Examples
    --------
    >>> import symvi as pm
    >>> str(pm.intX([1, 2]).dtype)
    'int64'
    """
    dtype = "int32" if pytensor.config.floatX == "float32" else "int64"
    if isinstance(x, Variable):
        return x.astype(dtype)
    return np.asarray(x, dtype=dtype)


def new_rng(seed=None) -> SharedVariable:
    """A fresh shared numpy Generator for one RandomVariable."""
    if not isinstance(seed, np.random.Generator | np.random.BitGenerator | None):
        seed = seed_sequence(seed)
    return pytensor.shared(np.random.default_rng(seed))


def _rv_nodes(outputs: Iterable[Variable]):
    seen = set()
    for var in ancestors(list(outputs)):
        node = var.owner
        if node is not None and node not in seen and isinstance(node.op, RandomVariable):
            seen.add(node)
            yield node


def rng_updates(outputs: Iterable[Variable]) -> dict:
    """Map each shared generator feeding a RandomVariable in ``outputs`` to its next state."""
    updates = {}
    for node in _rv_nodes(outputs):
        rng = node.inputs[0]
        if isinstance(rng, SharedVariable) and rng not in updates:
            updates[rng] = node.outputs[0]
    return updates


def draw_shape(rv: Variable) -> Variable:
    """The shape of a random variable's draw without drawing it.

    ``rv.shape`` evaluated without graph rewrites (the one-shot mode) runs the draw, which a
    variable that cannot draw (a ``CustomDist`` with only ``logp=``) cannot do; a
    RandomVariable's shape follows from its ``size`` and its parameters' shapes instead.

    >>> import pytensor.tensor as pt
    >>> x = pt.random.normal(pt.zeros(3), 1.0)
    >>> draw_shape(x).eval().tolist()
    [3]
    """
    node = rv.owner
    if node is None or not isinstance(node.op, RandomVariable) or rv is not node.outputs[-1]:
        return rv.shape
    # static lengths as ints: a symbolic 1 would not broadcast against the other parameters
    in_shapes = [
        tuple(n if n is not None else i.shape[k] for k, n in enumerate(i.type.shape)) if hasattr(i.type, "ndim") else ()
        for i in node.inputs
    ]
    dims = node.op.infer_shape(None, node, in_shapes)[-1]
    return pt.stack([pt.as_tensor_variable(d).astype("int64") for d in dims]) if dims else pt.constant(np.zeros(0, "int64"))


def find_rngs(outputs: Iterable[Variable]) -> list[SharedVariable]:
    """All shared random generators that ``outputs`` depend on, in a stable order."""
    out = []
    for var in ancestors(list(outputs)):
        if isinstance(var, SharedVariable) and isinstance(var.type, RandomGeneratorType):
            if var not in out:
                out.append(var)
    return out


def seed_sequence(seed, who: str = "random_seed") -> np.random.SeedSequence:
    """``np.random.SeedSequence(seed)``, with an error that names the argument.

    ``seed`` may also be a numpy ``Generator`` or ``RandomState`` (as PyMC's ``random_seed``):
    the sequence is seeded from its next draws, so the same generator state gives the same
    sequence.

    >>> seed_sequence(3).entropy
    3
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator | np.random.RandomState):
        # as PyMC: a generator passed as random_seed seeds from its next draws (and advances)
        seed = [int(s) for s in seed.randint(0, 2**31, size=4)] if isinstance(seed, np.random.RandomState) else seed.integers(0, 2**63, size=4).tolist()
    try:
        return np.random.SeedSequence(seed)
    except (TypeError, ValueError):
        raise TypeError(f"{who} must be None, a non-negative integer or a sequence of them, got {seed!r}") from None


def reseed_rngs(rngs: Sequence[SharedVariable], seed) -> None:
    """Give every generator an independent stream derived from ``seed`` (None: fresh entropy)."""
    children = seed_sequence(seed).spawn(len(rngs))
    for rng, child in zip(rngs, children):
        rng.set_value(np.random.default_rng(child), borrow=True)


def lift_constants(outputs, min_size: int = 2, also=()):
    """Replace array constants (``size >= min_size``, and those in ``also``) by shared variables.

    Numba cannot cache a compiled function that embeds large arrays as globals, so a model
    whose data live in constants would be recompiled (seconds) in every new process.  As
    shared inputs the arrays keep their static shapes and the compiled code is cacheable.
    ``also`` names further constants to lift whatever their size - the models' distribution
    parameters, so that a model whose priors changed value compiles to the graph of before
    and reuses its compiled code (Numba and C both key their caches on constant values).
    """
    from pytensor.graph.replace import graph_replace
    from pytensor.tensor.variable import TensorConstant

    single = not isinstance(outputs, (list, tuple))
    outs = [outputs] if single else list(outputs)
    repl = {}
    for var in ancestors(outs):
        if isinstance(var, TensorConstant) and (var.data.size >= min_size or var in also) and var not in repl:
            repl[var] = pytensor.shared(var.data, shape=var.type.shape, name=var.name, borrow=True)
            repl[var].tag.lifted_constant = True  # never updated: fold_lifted_integers may undo it
    if repl:
        outs = graph_replace(outs, repl, strict=True)
    return outs[0] if single else outs


def fold_lifted_integers(outputs: list) -> list:
    """Put the integer constants that :func:`lift_constants` made shared back as constants.

    JAX needs shape arguments (``reshape``'s target shape, ``arange``'s length) known at trace
    time, and a lifted integer vector is a runtime input there.  Float constants (data, prior
    values) stay shared.

    Example
    -------
    >>> import numpy as np, pytensor.tensor as pt
    >>> x = pt.vector("x")
    >>> [y] = lift_constants([x.reshape(pt.constant(np.array([2, 2])))])
    >>> [z] = fold_lifted_integers([y])
    >>> type(z.owner.inputs[1]).__name__
    'TensorConstant'
    """
    from pytensor.graph.replace import graph_replace

    repl = {
        v: pt.constant(v.get_value(), name=v.name, dtype=v.dtype)
        for v in ancestors(outputs)
        if getattr(v.tag, "lifted_constant", False) and v.dtype.startswith(("int", "uint"))
    }
    return graph_replace(outputs, repl, strict=True) if repl else list(outputs)


def compile_fn(inputs, outputs, updates=None, mode=None, random_seed=None, lift=(), **kwargs):
    """``pytensor.function`` that also advances every random generator it uses.

    ``lift``: constants to make shared inputs whatever their size (see :func:`lift_constants`;
    e.g. :func:`symvi.logprob.param_constants`, so that an edited prior value reuses the
    compiled code); ignored in ``ONE_SHOT_MODE``, which caches nothing.

    Example
    -------
    >>> import pytensor.tensor as pt
    >>> x = pt.random.normal(size=3, rng=new_rng(1))
    >>> f = compile_fn([], x)
    >>> bool((f() != f()).all())
    True
    """
    if mode is not ONE_SHOT_MODE:  # keep Numba's disk cache usable (see lift_constants)
        lifted = lift_constants(list(outputs) if isinstance(outputs, (list, tuple)) else [outputs], also=set(lift))
        outputs = lifted if isinstance(outputs, (list, tuple)) else lifted[0]
    outs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    all_updates = rng_updates(list(outs) + list((updates or {}).values()))
    all_updates.update(updates or {})
    if random_seed is not None:
        reseed_rngs([r for r in all_updates if isinstance(r.type, RandomGeneratorType)], random_seed)
    kwargs.setdefault("on_unused_input", "ignore")
    return pytensor.function(inputs, outputs, updates=all_updates, mode=mode, **kwargs)


def as_replacements(mapping, who: str = "more_replacements") -> dict:
    """Check a ``{variable: replacement}`` mapping; numeric replacements become constants.

    A numeric replacement takes its key's dtype (only where numpy casts it "same_kind": floats
    never silently become integers).  A replacement whose number of dimensions or static
    shape contradicts its key raises ``TypeError`` naming the key.

    >>> import numpy as np, pytensor
    >>> d = pytensor.shared(np.zeros(3), name="d")
    >>> as_replacements({d: [1, 2]})[d].dtype
    'float64'
    >>> as_replacements({d: np.zeros((2, 2))})
    Traceback (most recent call last):
    ...
    TypeError: more_replacements: 'd' is a 1-d Vector(float64, shape=(?,)) but its replacement is a 2-d Matrix(float64, shape=(2, 2))
    """
    if not mapping:
        return {}
    if not isinstance(mapping, Mapping):
        raise TypeError(f"{who} must be a dict {{variable: replacement}}, got {type(mapping).__name__}")
    out = {}
    for key, value in mapping.items():
        if not isinstance(key, Variable):
            raise TypeError(
                f"{who}: keys must be pytensor variables (a Data container, a shared variable, a model "
                f"variable), got {type(key).__name__} {key!r}"
            )
        label = repr(key.name) if key.name else f"<unnamed {type(key).__name__}>"
        dtype = getattr(key.type, "dtype", None)
        if not isinstance(value, Variable):
            try:
                arr = np.asarray(value) if not isinstance(value, str | bytes | dict | set) else None
            except (TypeError, ValueError):  # ragged lists
                arr = None
            if arr is None or arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                raise TypeError(f"{who}: the replacement of {label} must be numeric, got {type(value).__name__} {value!r:.60}")
            if dtype is not None and arr.dtype != dtype:
                if not np.can_cast(arr.dtype, dtype, "same_kind"):
                    raise TypeError(f"{who}: {label} has dtype {dtype}, its replacement has dtype {arr.dtype}")
                arr = arr.astype(dtype)
            value = pt.as_tensor_variable(arr)
        k_ndim, v_ndim = getattr(key.type, "ndim", None), getattr(value.type, "ndim", None)
        k_shape, v_shape = getattr(key.type, "shape", ()), getattr(value.type, "shape", ())
        if k_ndim != v_ndim or any(a is not None and b is not None and a != b for a, b in zip(k_shape, v_shape)):
            raise TypeError(
                f"{who}: {label} is a {k_ndim}-d {key.type} but its replacement is a {v_ndim}-d {value.type}"
            )
        out[key] = value
    return out


def as_tensor(x, name: str = "value", dtype=None):
    """``pt.as_tensor_variable`` with an error that names the offending argument."""
    try:
        if dtype is not None and not isinstance(x, Variable):
            x = np.asarray(x, dtype=dtype)
        return pt.as_tensor_variable(x)
    except Exception as err:  # noqa: BLE001 - re-raised with context
        raise TypeError(f"{name}: expected a number, array or tensor, got {type(x).__name__}: {err}") from None


def constant_value(x):
    """Numeric value of ``x`` if it has no free inputs (a constant expression), else None."""
    if isinstance(x, np.ndarray | float | int | np.number):
        return np.asarray(x)
    if not isinstance(x, Variable):
        return None
    if isinstance(x, SharedVariable):
        return None
    for v in ancestors([x]):
        if v.owner is None and not isinstance(v, pt.TensorConstant):
            return None
    try:
        return np.asarray(x.eval())
    except Exception:  # noqa: BLE001 - non-evaluable graphs are simply "not constant"
        return None
