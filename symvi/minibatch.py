"""Random minibatches of in-memory data, redrawn inside the compiled training loop.

:func:`Minibatch` stores the data in pytensor shared variables and returns ``data[idx]``
where ``idx`` is a pytensor ``integers`` draw on its own shared generator.  Every compiled
function that uses the tensor advances that generator (the VI step carries it as scan
state; ``.eval()`` and other compiled calls advance it through the generator's default
update), so each optimisation step sees a fresh batch.  Rows are drawn uniformly *with*
replacement: O(batch) work per step whatever the data size, and an unbiased estimate of
the full-data log likelihood once the observed variable has ``total_size``.

Examples
--------
>>> import numpy as np, symvi as pm
>>> data = np.random.default_rng(0).normal(size=(1000, 3))
>>> X = pm.Minibatch(data, batch_size=50, random_seed=1)
>>> X.eval().shape, bool((X.eval() != X.eval()).any())
((50, 3), True)
>>> with pm.Model() as model:
...     mu = pm.Normal("mu", 0, 10, shape=3)
...     obs = pm.Normal("obs", mu, 1, observed=X, total_size=data.shape)

After the fit, swap the minibatch for the full data (posterior predictive, full logp) with
``graph_replace(expr, full_data_replacements(model))`` or pass the mapping as
``more_replacements``.  The alternative is a :func:`symvi.Data` container for the full
data plus :func:`symvi.set_data` to switch between training and prediction sets.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op
from pytensor.graph.rewriting.basic import node_rewriter
from pytensor.graph.traversal import ancestors
from pytensor.raise_op import Assert
from pytensor.tensor.rewriting.basic import register_canonicalize
from pytensor.tensor.type import TensorType

from symvi.pytensorf import new_rng

__all__ = ["Minibatch", "MinibatchInfo", "minibatch_info", "full_data_replacements"]


class RowsUnknown(Op):
    """Identity whose output type forgets the static length of the first axis.

    A minibatch ``data[idx]`` has the static row count ``batch_size``; pytensor refuses to
    replace a variable by one whose static shape contradicts it, so the full data could not
    stand in for the batch.  Behind this op the batch has an unknown row count, and the
    ``canonicalize`` rewrite below removes the op in every compiled function, so backends
    (JAX in particular, which needs static shapes) see the static ``batch_size`` again.
    """

    __props__ = ()
    view_map = {0: [0]}

    def make_node(self, x):
        x = pt.as_tensor_variable(x)
        out = TensorType(x.type.dtype, shape=(None, *x.type.shape[1:]))()
        return Apply(self, [x], [out])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = inputs[0]

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def L_op(self, inputs, outputs, output_grads):
        return [pt.specify_shape(output_grads[0], inputs[0].type.shape)]


@register_canonicalize
@node_rewriter([RowsUnknown])
def remove_rows_unknown(fgraph, node):
    """Compiled graphs need no shape hiding: use the (more specific) input directly."""
    return [node.inputs[0]]


@dataclass(frozen=True)
class MinibatchInfo:
    """What a minibatch tensor is made of (stored as ``tensor.tag.minibatch``).

    ``source`` holds the full data (a shared variable: set its value to change the data),
    ``indices`` the symbolic row indices shared by all arrays of one :func:`Minibatch`
    call, ``rng`` the generator that draws them.
    """

    source: SharedVariable
    indices: Variable
    rng: SharedVariable
    batch_size: int


def minibatch_info(var) -> MinibatchInfo | None:
    """The :class:`MinibatchInfo` of a tensor made by :func:`Minibatch`, else None."""
    tag = getattr(var, "tag", None)
    return getattr(tag, "minibatch", None)


def _as_source(array, i: int) -> SharedVariable:
    """Shared variable holding the full data of argument ``i``."""
    label = f"Minibatch: argument {i}"
    if isinstance(array, SharedVariable):  # symvi.Data containers included
        value = array.get_value(borrow=True)
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{label} is a shared variable that does not hold an array ({type(value).__name__})")
        if value.ndim == 0:
            raise ValueError(f"{label}: a minibatch needs data with at least one (row) dimension, got a scalar")
        return array
    if isinstance(array, Variable):
        raise TypeError(
            f"{label} is a symbolic {type(array).__name__}; pass a numpy array, a symvi.Data container "
            "or a pytensor shared variable"
        )
    if isinstance(array, (str, bytes, dict, set)) or not isinstance(array, np.ndarray | list | tuple | np.generic):
        raise TypeError(f"{label} must be a numpy array, a symvi.Data container or a shared variable, got {type(array).__name__}")
    try:
        arr = np.asarray(array)
    except Exception as err:  # noqa: BLE001 - ragged lists etc.
        raise TypeError(f"{label} cannot be converted to a numeric array: {err}") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{label} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{label}: a minibatch needs data with at least one (row) dimension, got a scalar")
    if np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(pytensor.config.floatX, copy=False)
    elif arr.dtype == bool:
        arr = arr.astype("int8")
    # rows dynamic (set_value may change the data), trailing dimensions static; the array is
    # referenced, not copied (as PyMC's Minibatch does): the loop only reads rows from it
    return pytensor.shared(arr, name="minibatch_data", shape=(None, *arr.shape[1:]), borrow=True)


def Minibatch(*arrays, batch_size: int, random_seed=None):
    """Random rows of one or several arrays, redrawn at every compiled call.

    Parameters
    ----------
    *arrays : numpy arrays (or numeric lists), :func:`symvi.Data` containers or pytensor
        shared variables, all with the same number of rows (first axis).
    batch_size : number of rows per batch (``1 <= batch_size <= rows``).
    random_seed : seed of the index generator (``fit(random_seed=...)`` does not reseed it).

    Returns
    -------
    One tensor of shape ``(batch_size, *array.shape[1:])`` (its static type leaves the row
    count unknown, so that it can be replaced by the full data) for one array, else a tuple of
    such tensors indexed by the *same* rows at each step (pairs of ``x``/``y`` stay paired).
    Pass ``total_size=N`` (or ``data.shape``) to the observed variable so that the batch
    log likelihood is scaled by ``N / batch_size``.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> x = np.arange(100.0); y = 2 * x
    >>> xb, yb = pm.Minibatch(x, y, batch_size=10, random_seed=0)
    >>> import pytensor
    >>> a, b = pytensor.function([], [xb, yb])()
    >>> bool(np.all(b == 2 * a))
    True
    """
    if not arrays:
        raise TypeError("Minibatch() needs at least one array")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"Minibatch: batch_size must be an integer, got {batch_size!r}")
    batch_size = int(batch_size)
    if batch_size <= 0:
        raise ValueError(f"Minibatch: batch_size must be a positive integer, got {batch_size}")
    sources = [_as_source(a, i) for i, a in enumerate(arrays)]
    rows = [int(s.get_value(borrow=True).shape[0]) for s in sources]
    if len(set(rows)) > 1:
        raise ValueError(f"Minibatch: arrays must have the same number of rows (first axis), got {rows}")
    if batch_size > rows[0]:
        raise ValueError(f"Minibatch: batch_size {batch_size} is larger than the number of rows {rows[0]}")

    n_rows = sources[0].shape[0]
    if len(sources) > 1 and any(isinstance(a, SharedVariable) for a in arrays):
        # Data containers may be resized later (set_data): keep the pairing checked at run time
        same = pt.all(pt.stack([pt.eq(s.shape[0], n_rows) for s in sources[1:]]))
        n_rows = Assert("Minibatch: the paired arrays no longer have the same number of rows")(n_rows, same)
    rng = new_rng(random_seed)
    idx = pt.random.integers(0, n_rows, size=(batch_size,), rng=rng, dtype="int64")
    with warnings.catch_warnings():
        # advances the generator in every pytensor.function (``.eval()`` included) that has no
        # explicit update for it; the VI step and compile_fn give their own explicit updates
        warnings.simplefilter("ignore", DeprecationWarning)
        rng.default_update = idx.owner.outputs[0]
    outs = []
    for i, src in enumerate(sources):
        mb = RowsUnknown()(src[idx])  # replaceable by the full data, see RowsUnknown
        base = src.name if src.name and src.name != "minibatch_data" else None
        mb.name = f"{base}_minibatch" if base else ("Minibatch" if len(sources) == 1 else f"Minibatch_{i}")
        mb.tag.minibatch = MinibatchInfo(source=src, indices=idx, rng=rng, batch_size=batch_size)
        outs.append(mb)
    return outs[0] if len(outs) == 1 else tuple(outs)


def _model_graph(model) -> list:
    outs = list(model.free_RVs) + list(model.observed_RVs) + list(model.deterministics) + list(model.potentials)
    outs += [model.rvs_to_values[rv] for rv in model.observed_RVs]
    return outs


def full_data_replacements(model=None, vars: Iterable | None = None) -> dict:
    """``{minibatch tensor: full data}`` for every :func:`Minibatch` in a model (or graph).

    Use it to evaluate anything on the full data after a minibatch fit, e.g. a posterior
    predictive or the full-data log likelihood: ``graph_replace(expr, mapping)``, or
    ``more_replacements=mapping`` where an API accepts replacements.  ``total_size``
    scaling becomes ``N / N = 1`` on the full data, and observed variables without an
    explicit ``shape``/``size`` follow the replaced data's length.

    Alternative: build the model on a :func:`symvi.Data` container and use
    :func:`symvi.set_data` to switch between the training and the prediction data.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> from pytensor.graph.replace import graph_replace
    >>> data = np.arange(20.0)
    >>> X = pm.Minibatch(data, batch_size=5)
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu", 0, 1)
    ...     y = pm.Normal("y", mu, 1, observed=X, total_size=20)
    >>> repl = full_data_replacements(m)
    >>> graph_replace(m.rvs_to_values[y], repl).eval().shape
    (20,)
    """
    if vars is None:
        from symvi.context import modelcontext

        graph = _model_graph(modelcontext(model, who="full_data_replacements"))
    else:
        graph = list(vars) if isinstance(vars, Iterable) and not isinstance(vars, Variable) else [vars]
    repl = {}
    for var in ancestors(graph):
        info = minibatch_info(var)
        if info is not None and var not in repl:
            repl[var] = info.source
    return repl
