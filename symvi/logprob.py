"""Model log density: from the registry in :class:`symvi.Model` to PyTensor graphs.

Every free random variable ``x`` has an unconstrained value variable ``v``; its term is
``logp(backward(v) | params) + log|J(v)|``.  Observed variables contribute ``logp(data)``
scaled by ``total_size``.  Random variables inside parameters are replaced by their
(constrained) values in one ``graph_replace``.
"""

from __future__ import annotations

import numbers

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace, vectorize_graph

from symvi.distributions.base import dist_info
from symvi.pytensorf import ONE_SHOT_MODE, compile_fn, draw_shape, find_rngs, reseed_rngs

__all__ = ["param_constants", "model_logp", "compile_logp", "compile_dlogp", "point_logps", "point_logp_terms", "initial_point"]


def param_constants(model) -> set:
    """The float constants among the model's distribution parameters (``Normal("x", 0, 10)``'s
    0 and 10): compiled loops take them as inputs so that an edited prior reuses the cache."""
    from pytensor.tensor.variable import TensorConstant

    out = set()
    for rv in list(model.basic_RVs):
        info = dist_info(rv)
        for value in (info.params.values() if info is not None else ()):
            if isinstance(value, TensorConstant) and value.dtype.startswith("float"):
                out.add(value)
    return out


# ---------------------------------------------------------------------- total_size
def _static_batch_shape(var) -> tuple | None:
    """Static shape of ``var`` (None where unknown); a Minibatch's row count comes from its tag."""
    shape = getattr(getattr(var, "type", None), "shape", None)
    if shape is None:
        return None
    info = getattr(getattr(var, "tag", None), "minibatch", None)
    if info is not None and len(shape) > 0:
        shape = (info.batch_size, *shape[1:])
    return tuple(shape)


def validate_total_size(name, total_size, ndim, var=None):
    """Check ``total_size`` (int, or tuple of int/None with at most one Ellipsis).

    With ``var`` (the observed data or the variable), a total smaller than a statically
    known batch length is rejected: the scale total/batch would be below one.
    """
    if total_size is None:
        return None
    if isinstance(total_size, numbers.Integral) and not isinstance(total_size, bool):
        entries = (int(total_size),)
    elif isinstance(total_size, (tuple, list)):
        entries = tuple(total_size)
    else:
        raise TypeError(f"{name!r}: total_size must be an int or a tuple of ints/None/Ellipsis, got {total_size!r}")
    if sum(e is Ellipsis for e in entries) > 1:
        raise ValueError(f"{name!r}: total_size may contain at most one Ellipsis, got {total_size!r}")
    n_dims = sum(e is not Ellipsis for e in entries)
    if n_dims > ndim:
        raise ValueError(f"{name!r}: total_size {total_size!r} names {n_dims} dimensions but the variable has only {ndim}")
    for e in entries:
        if e is None or e is Ellipsis:
            continue
        if not isinstance(e, numbers.Integral) or isinstance(e, bool) or e <= 0:
            where = "" if isinstance(total_size, numbers.Integral) else f" in {total_size!r}"
            raise ValueError(f"{name!r}: total_size entries must be positive integers, got {e!r}{where}")
    shape = _static_batch_shape(var) if var is not None else None
    if shape is not None:
        k = entries.index(Ellipsis) if Ellipsis in entries else len(entries)
        axes = list(enumerate(entries[:k])) + [(len(shape) - len(entries) + k + 1 + j, e) for j, e in enumerate(entries[k + 1 :])]
        for axis, e in axes:
            if e is not None and 0 <= axis < len(shape) and shape[axis] is not None and e < shape[axis]:
                raise ValueError(
                    f"{name!r}: total_size {total_size!r} is smaller than the batch: dimension {axis} has "
                    f"length {shape[axis]} > {e}. total_size is the size of the full data set"
                )
    return entries


def total_size_scale(entries, value):
    """Symbolic factor prod(total_i / batch_i) over the dimensions ``entries`` names."""
    if entries is None:
        return None
    if Ellipsis in entries:
        k = entries.index(Ellipsis)
        begin, end = entries[:k], entries[k + 1 :]
    else:
        begin, end = entries, ()
    fx = pytensor.config.floatX
    scale = pt.constant(1.0, dtype=fx)
    for i, t in enumerate(begin):
        if t is not None:
            scale = scale * (pt.constant(t, dtype=fx) / value.shape[i].astype(fx))
    for j, t in enumerate(end):
        if t is not None:
            scale = scale * (pt.constant(t, dtype=fx) / value.shape[value.ndim - len(end) + j].astype(fx))
    return scale


# ---------------------------------------------------------------------- log density
def _select(model, vars):
    if vars is None:
        return model.free_RVs + model.observed_RVs, list(model.potentials)
    vars = vars if isinstance(vars, (list, tuple)) else [vars]
    rvs, pots = [], []
    values_to_rvs = {v: rv for rv, v in model.rvs_to_values.items()}
    for v in vars:
        v = model[v] if isinstance(v, str) else v
        v = values_to_rvs.get(v, v)
        if v in model.potentials:
            pots.append(v)
        elif v in model.rvs_to_values:
            rvs.append(v)
        else:
            raise ValueError(f"logp: {v} is neither a random variable nor a potential of this model")
    return rvs, pots


def rv_replacements(model) -> dict:
    """Map every random variable to its constrained value (free) or its data (observed).

    A transform whose bounds are other random variables (``Uniform("u", lo, lo + 3)``) gets
    them replaced too, in registration order (parents come first): a replacement's own graph
    is not revisited by ``graph_replace``, and a random draw left there made the log density
    random."""
    repl = {rv: model.rvs_to_values[rv] for rv in model.observed_RVs}
    for rv in model.free_RVs:
        value = model.rvs_to_values[rv]
        tr = model.rvs_to_transforms[rv]
        expr = tr.backward(value) if tr is not None else value
        if tr is not None and repl:
            expr = graph_replace(expr, repl, strict=False)
        repl[rv] = expr
    return repl


def _rv_term(model, rv, jacobian):
    info = dist_info(rv)
    value = model.rvs_to_values[rv]
    tr = model.rvs_to_transforms[rv]
    if rv in model.observed_RVs:
        lp = info.logp(value)
        scale = total_size_scale(model.rvs_to_total_sizes.get(rv), value)
        return lp if scale is None else lp * scale
    x = tr.backward(value) if tr is not None else value
    lp = info.logp(x)
    if tr is not None and jacobian:
        extra = tr.ndim_event - info.cls.ndim_supp
        if extra > 0:
            lp = pt.sum(lp, axis=tuple(range(-extra, 0)))
        lp = lp + tr.log_jac_det(value)
    scale = total_size_scale(model.rvs_to_total_sizes.get(rv), x)
    return lp if scale is None else lp * scale


def downcast_constants(outputs: list) -> list:
    """With ``floatX`` narrower than float64, float64 constants in ``outputs`` (numpy covariates
    such as ``X @ beta``) become floatX ones, so a float32 model computes in float32 throughout
    instead of silently upcasting every term that touches them.  No-op under float64.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> with pytensor.config.change_flags(floatX="float32"):
    ...     b = pt.vector("b")
    ...     str(downcast_constants([pt.as_tensor(np.ones((2, 2))) @ b])[0].dtype)
    'float32'
    """
    fx = pytensor.config.floatX
    if fx == "float64":
        return outputs
    from pytensor.graph.traversal import ancestors, toposort
    from pytensor.tensor.variable import TensorConstant

    memo = {
        v: pt.constant(v.data.astype(fx), name=v.name)
        for v in ancestors(outputs)
        if isinstance(v, TensorConstant) and v.dtype == "float64"
    }
    if not memo:
        return outputs
    # rebuild every node downstream of a narrowed constant: make_node infers the new dtypes
    # (a same-type graph_replace cannot change them)
    for node in toposort(outputs):
        inputs = [memo.get(i, i) for i in node.inputs]
        if all(a is b for a, b in zip(inputs, node.inputs)):
            continue
        new = node.op.make_node(*inputs)
        memo.update(zip(node.outputs, new.outputs))
    return [memo.get(o, o) for o in outputs]


def model_logp(model, vars=None, jacobian=True, sum=True):
    """Log density of ``model`` (or of ``vars``) as a graph over the value variables.

    With ``sum=False`` a list of elementwise terms (one per variable / potential).
    """
    rvs, pots = _select(model, vars)
    terms = [_rv_term(model, rv, jacobian) for rv in rvs] + list(pots)
    if not terms:
        return pt.constant(0.0, dtype=pytensor.config.floatX) if sum else []
    terms = downcast_constants(graph_replace(terms, rv_replacements(model), strict=False))
    if not sum:
        return terms
    return pt.add(*[pt.sum(t) for t in terms]).astype(pytensor.config.floatX)


class PointFunction:
    """A compiled function over value variables that takes a point dict (or keywords)."""

    def __init__(self, fn, names):
        self.fn = fn
        self.names = names

    def __call__(self, point=None, **kwargs):
        point = dict(point or {}, **kwargs)
        missing = [n for n in self.names if n not in point]
        if missing:
            raise KeyError(f"point is missing value(s) for {missing}; expected keys {self.names}")
        return self.fn(*[point[n] for n in self.names])


def _value_inputs(model):
    return model.value_vars


def compile_logp(model, vars=None, jacobian=True, sum=True, batched=False, mode=None):
    out = model_logp(model, vars=vars, jacobian=jacobian, sum=sum)
    inputs = _value_inputs(model)
    if batched:
        batched_inputs = [pt.tensor(v.name, dtype=v.dtype, shape=(None,) + v.type.shape) for v in inputs]
        out = vectorize_graph(out, dict(zip(inputs, batched_inputs)))
        inputs = batched_inputs
    fn = compile_fn(inputs, out, mode=mode)
    return PointFunction(fn, [v.name for v in inputs])


def compile_dlogp(model, vars=None, jacobian=True, mode=None):
    logp = model_logp(model, vars=vars, jacobian=jacobian)
    inputs = _value_inputs(model)
    grads = pt.grad(logp, inputs, disconnected_inputs="ignore")
    flat = pt.concatenate([g.flatten() for g in grads]) if grads else pt.zeros(0)
    fn = compile_fn(inputs, flat, mode=mode)
    return PointFunction(fn, [v.name for v in inputs])


def point_logps(model, point=None, round_vals=2, mode=None, replacements=None):
    """Log density of each variable and potential at ``point`` (``{name: float}``).

    ``mode``: compilation mode (``ONE_SHOT_MODE`` for a single cheap evaluation);
    ``replacements``: ``{variable: value}`` applied first (as ``more_replacements`` in fit).
    Random generators in the graph (minibatch indices) are left as they were.
    """
    terms = point_logp_terms(model, point, mode=mode, replacements=replacements, elementwise=False)
    return {n: float(np.round(v, round_vals)) for n, v in terms.items()}


def point_logp_terms(model, point=None, mode=None, replacements=None, elementwise=True) -> dict:
    """Elementwise log density of each variable and potential at ``point`` (``{name: array}``).

    As :func:`point_logps` without the sums (``elementwise=False``: with them, unrounded);
    the index of a non-finite entry of an observed variable's term is a row of its data.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model() as m:
    ...     lam = pm.Exponential("lam", 1.0)
    ...     y = pm.Poisson("y", lam, observed=np.array([1, -2, 3]))
    >>> np.isfinite(point_logp_terms(m)["y"]).tolist()
    [True, False, True]
    """
    point = model.initial_point() if point is None else point
    names = [rv.name for rv in model.free_RVs + model.observed_RVs] + [p.name for p in model.potentials]
    outs = model_logp(model, sum=False)
    outs = outs if elementwise else [pt.sum(t) for t in outs]
    if replacements:
        from symvi.pytensorf import as_replacements

        outs = graph_replace(outs, as_replacements(replacements), strict=False)
    rngs = find_rngs(outs)
    saved = [r.get_value() for r in rngs]
    try:
        fn = compile_fn(model.value_vars, outs, mode=mode)
        vals = fn(*[point[v.name] for v in model.value_vars])
    finally:
        for r, s in zip(rngs, saved):
            r.set_value(s)
    return dict(zip(names, vals))


# ---------------------------------------------------------------------- initial point
def initial_point(model, random_seed=None):
    """Unconstrained start values: ``initval`` where given, else each distribution's support point.

    ``initval="prior"`` draws that variable from its prior (seeded by ``random_seed``).
    """
    if not model.free_RVs:
        return {}
    # the compiled functions are kept on the model (building them is most of the cost of a
    # call); the key changes with the variables, their initvals and transforms, and the shapes
    # (values of shared data and random draws are read at each call)
    cache = model.__dict__.setdefault("_initial_point_fns", {})
    terms = tuple(
        (id(rv), id(model.rvs_to_initial_values.get(rv)), id(model.rvs_to_transforms[rv])) for rv in model.free_RVs
    ) + tuple(id(rv) for rv in model.observed_RVs)
    if (terms, "shapes") not in cache:
        cache[(terms, "shapes")] = compile_fn([], [draw_shape(rv) for rv in model.free_RVs], mode=ONE_SHOT_MODE)
    shapes = cache[(terms, "shapes")]()
    key = (terms, tuple(tuple(int(d) for d in s) for s in shapes))
    if key not in cache:
        cache[key] = _initial_point_fn(model, shapes)
    fn, rngs = cache[key]
    saved = [r.get_value() for r in rngs]
    reseed_rngs(rngs, random_seed)
    try:
        vals = fn()
    finally:
        for r, s in zip(rngs, saved):
            r.set_value(s)
    point = {}
    for rv, val in zip(model.free_RVs, vals):
        name = model.rvs_to_values[rv].name
        val = np.asarray(val, dtype=model.rvs_to_values[rv].dtype)
        if not np.all(np.isfinite(val)):
            raise ValueError(f"{rv.name!r}: initial value is not finite ({val}); pass initval=")
        point[name] = val.copy()
    return point


def _initial_point_fn(model, shapes):
    """(compiled function of the unconstrained initial values, its random generators)."""
    resolved = {}
    for rv, shape in zip(model.free_RVs, shapes):
        info = dist_info(rv)
        init = model.rvs_to_initial_values.get(rv)
        if init is None:
            shape = tuple(int(s) for s in shape)
            expr = pt.broadcast_to(info.cls.support_point(rv, **info.params), shape)
            # a support point uses the variable for its shape at most: never draw it (a
            # CustomDist with only logp= cannot)
            expr = graph_replace(expr, {rv: pt.zeros(shape, dtype=rv.dtype)}, strict=False)
        elif isinstance(init, str) and init == "prior":
            expr = rv
        else:
            arr = np.asarray(init, dtype=rv.dtype)
            try:
                arr = np.broadcast_to(arr, tuple(shape))
            except ValueError:
                raise ValueError(
                    f"{rv.name!r}: initval of shape {arr.shape} does not fit the variable's shape {tuple(int(s) for s in shape)}"
                ) from None
            expr = pt.constant(arr)
        expr = expr.astype(rv.dtype)
        if resolved:
            expr = graph_replace(expr, resolved, strict=False)
        resolved[rv] = expr
    outs = []
    for rv in model.free_RVs:
        tr = model.rvs_to_transforms[rv]
        outs.append(tr.forward(resolved[rv]) if tr is not None else resolved[rv])
    obs_repl = {rv: model.rvs_to_values[rv] for rv in model.observed_RVs}
    if obs_repl:
        outs = graph_replace(outs, obs_repl, strict=False)
    rngs = find_rngs(outs)
    return pytensor.function([], outs, on_unused_input="ignore", mode=ONE_SHOT_MODE), rngs
