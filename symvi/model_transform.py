"""Model transforms that return a new model: a copy, an intervention (``do``) and conditioning
on data (``observe``), as PyMC's ``Model.copy``, ``pm.do`` and ``pm.observe``.

The new model owns a clone of the original graph: its random variables, value variables,
``Data`` containers and random generators are new objects, so changing one model (adding
variables, ``set_data``, fitting) leaves the other as it was.  Variables are found in the new
model by name (``new["x"]``).  A random variable's distribution parameters (kept beside the
graph, in its ``tag.symvi``) are carried over to the clone.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     x = pm.Normal("x", 0, 1)
...     y = pm.Normal("y", x, 1)
>>> m_obs = pm.observe(m, {"y": 0.5})
>>> [v.name for v in m_obs.free_RVs], [v.name for v in m_obs.observed_RVs]
(['x'], ['y'])
>>> m_do = pm.do(m, {"x": 2.0})
>>> [v.name for v in m_do.free_RVs], [v.name for v in m_do.data_vars]
(['y'], ['x'])
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable, clone_get_equiv
from pytensor.graph.traversal import ancestors
from pytensor.tensor.random.type import RandomGeneratorType

from symvi.distributions.base import DistInfo, dist_info
# the base class of symvi.model.Model: this module sits below symvi.model (Model.copy uses it)
from symvi.model_api import ModelAPI as Model

__all__ = ["clone_model", "do", "observe"]


# ---------------------------------------------------------------------- graph cloning
def _variables_in(x) -> list:
    """Every graph variable in a parameter value (lists, tuples and dicts searched)."""
    if isinstance(x, Variable):
        return [x]
    if isinstance(x, list | tuple):
        return [v for item in x for v in _variables_in(item)]
    if isinstance(x, dict):
        return [v for item in x.values() for v in _variables_in(item)]
    return []


def _remap(x, memo: dict):
    if isinstance(x, Variable):
        return memo.get(x, x)
    if isinstance(x, list):
        return [_remap(v, memo) for v in x]
    if isinstance(x, tuple):
        return tuple(_remap(v, memo) for v in x)
    if isinstance(x, dict):
        return {k: _remap(v, memo) for k, v in x.items()}
    return x


def _dist_params_closure(roots: list) -> list:
    """``roots`` plus every variable a distribution among their ancestors keeps as a parameter
    (parameters need not be inputs of the draw: a mixture's components, a logp-only dist)."""
    out, seen, stack = [], set(), list(roots)
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        out.append(v)
        for a in ancestors([v]):
            info = dist_info(a)
            if info is not None:
                stack.extend(_variables_in(info.params) + _variables_in(info.extra))
            if id(a) not in seen and a is not v:
                stack.append(a)
    return out


def _copy_shared(var: SharedVariable) -> SharedVariable:
    """A shared variable of the same type and name holding a deep copy of ``var``'s value."""
    if isinstance(var.type, RandomGeneratorType):
        new = pytensor.shared(copy.deepcopy(var.get_value(borrow=True)), name=var.name)
    else:
        new = pytensor.shared(
            np.array(var.get_value(borrow=True), copy=True), name=var.name, shape=var.type.shape
        )
    new.tag = copy.copy(var.tag)
    return new


def _clone(model: Model, outputs: list, memo: dict) -> dict:
    """Clone ``outputs``' graphs into ``memo`` (entries already there are kept: replacements),
    copying the model's Data containers and random generators, and give every cloned random
    variable its distribution parameters in the new graph."""
    given = set(memo)  # replacements (and earlier clones): not to be touched
    closure = _dist_params_closure(outputs)
    data = set(model.data_vars)
    for v in closure:
        if v in memo or not isinstance(v, SharedVariable):
            continue
        if v in data or isinstance(v.type, RandomGeneratorType):
            memo[v] = _copy_shared(v)
    clone_get_equiv([], closure, copy_inputs=False, copy_orphans=False, memo=memo)
    for old, new in list(memo.items()):
        info = dist_info(old) if isinstance(old, Variable) else None
        if info is not None and old not in given and new is not old and isinstance(new, Variable):
            new.tag.symvi = DistInfo(info.cls, _remap(info.params, memo), _remap(info.extra, memo))
            if new.name is None:
                new.name = old.name
    return memo


def _transform_variables(t) -> list:
    if t is None:
        return []
    found = _variables_in(list(vars(t).values()))
    return found + [v for sub in getattr(t, "transforms", ()) for v in _transform_variables(sub)]


def _remap_transform(t, memo: dict):
    """``t``, or a copy of it whose tensor attributes (bounds) are their clones in ``memo``."""
    if not _transform_variables(t):
        return t
    new = copy.copy(t)
    for k, v in vars(t).items():
        if k == "transforms":
            new.transforms = [_remap_transform(sub, memo) for sub in v]
        else:
            setattr(new, k, _remap(v, memo))
    return new


def _model_outputs(model: Model) -> list:
    outs = list(model.basic_RVs) + list(model.deterministics) + list(model.potentials) + list(model.data_vars)
    outs += [model.rvs_to_values[rv] for rv in model.observed_RVs]
    outs += [v for v in model.rvs_to_initial_values.values() if isinstance(v, Variable)]
    outs += [v for t in model.rvs_to_transforms.values() for v in _transform_variables(t)]
    return [o for o in outs if isinstance(o, Variable)]


def _new_model(model: Model) -> Model:
    new = type(model)(name=model.name)
    new.coords = dict(model.coords)
    new.dim_lengths = dict(model.dim_lengths)
    return new


def _register(new: Model, old: Model, memo: dict, skip: set, observations: Mapping) -> None:
    """Fill ``new``'s registry with the clones of ``old``'s variables (in ``old``'s order),
    leaving out ``skip`` and making the variables in ``observations`` observed."""
    free, observed = set(old.free_RVs), set(old.observed_RVs)
    dets, pots, data = set(old.deterministics), set(old.potentials), set(old.data_vars)
    for name, var in old.named_vars.items():
        if var in skip:
            continue
        nv = memo.get(var, var)
        nv.name = name
        if var in observations or var in observed:
            value = observations[var] if var in observations else memo.get(old.rvs_to_values[var])
            new.observed_RVs.append(nv)
            new.rvs_to_values[nv] = value
            new.rvs_to_transforms[nv] = None
            if var in old.rvs_to_total_sizes and var in observed:
                new.rvs_to_total_sizes[nv] = old.rvs_to_total_sizes[var]
        elif var in free:
            value = old.rvs_to_values[var].clone()
            new.free_RVs.append(nv)
            new.rvs_to_values[nv] = value
            new.rvs_to_transforms[nv] = _remap_transform(old.rvs_to_transforms[var], memo)
            if var in old.rvs_to_total_sizes:
                new.rvs_to_total_sizes[nv] = old.rvs_to_total_sizes[var]
            if var in old.rvs_to_initial_values:
                new.rvs_to_initial_values[nv] = _remap(old.rvs_to_initial_values[var], memo)
        elif var in dets:
            new.deterministics.append(nv)
        elif var in pots:
            new.potentials.append(nv)
        elif var in data:
            new.data_vars.append(nv)
        new.named_vars[name] = nv
        if name in old.named_vars_to_dims:
            new.named_vars_to_dims[name] = old.named_vars_to_dims[name]
    new.version += 1


def clone_model(model: Model) -> Model:
    """An independent copy of ``model`` (``model.copy()``, ``copy.copy(model)``).

    Its variables are new graph objects, found by name; ``Data`` containers and random
    generators are copied, so ``set_data`` on one model does not change the other.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model() as m:
    ...     p = pm.Beta("p", 1, 1)
    >>> m2 = m.copy()
    >>> with m2:
    ...     z = pm.Deterministic("z", m2["p"] + 1)
    >>> sorted(m2.named_vars), sorted(m.named_vars)
    (['p', 'z'], ['p'])
    """
    if not isinstance(model, Model):
        raise TypeError(f"clone_model: model must be a symvi Model, got {type(model).__name__}")
    memo = _clone(model, _model_outputs(model), {})
    new = _new_model(model)
    _register(new, model, memo, set(), {})
    return new


# ---------------------------------------------------------------------- do / observe
def _lookup(model: Model, var, who: str):
    if isinstance(var, str):
        try:
            return model[var]
        except KeyError:
            raise KeyError(f"{who}: {var!r} is not a variable of the model; known: {sorted(model.named_vars)}") from None
    if not isinstance(var, Variable) or var not in model.named_vars.values():
        raise ValueError(f"{who}: {var!r} is not a named variable of the model; known: {sorted(model.named_vars)}")
    return var


def _shape_fits(var: Variable, value: Variable) -> bool:
    """Same number of dimensions and no statically known length that differs."""
    a, b = var.type.shape, value.type.shape
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def observe(model: Model, vars_to_observations: Mapping[str | Variable, Any]) -> Model:
    """A new model in which the given random variables are observed (PyMC's ``pm.observe``).

    ``vars_to_observations`` maps variables (or their names) to data of the variable's shape.
    A free variable becomes observed; an observed one gets the new data.  Everything else is
    cloned as in :func:`clone_model`.  Deterministics cannot be observed in symvi (their log
    density is not derived): ``ValueError``.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 0, 1)
    ...     y = pm.Normal("y", x, 1, shape=2)
    >>> m2 = pm.observe(m, {y: np.array([0.5, 1.5])})
    >>> round(float(m2.compile_logp()({"x": 0.0})), 4)
    -4.0068
    """
    if not isinstance(model, Model):
        raise TypeError(f"observe: model must be a symvi Model, got {type(model).__name__}")
    if not isinstance(vars_to_observations, Mapping):
        raise TypeError(f"observe: vars_to_observations must be a dict {{variable or name: data}}, got "
                        f"{type(vars_to_observations).__name__}")
    basic = set(model.basic_RVs)
    staged = {}
    for key, data in vars_to_observations.items():
        var = _lookup(model, key, "observe")
        if var not in basic:
            kind = "a Deterministic" if var in model.deterministics else "not a random variable"
            raise ValueError(f"observe: {var.name!r} is {kind}; only random variables can be observed in symvi")
        staged[var] = data
    memo = _clone(model, _model_outputs(model), {})
    new = _new_model(model)
    observations = {}
    for var, data in staged.items():
        obs = new._observed_tensor(var.name, data)
        new_rv = memo[var]
        try:
            if not _shape_fits(new_rv, obs):
                raise TypeError
            obs = new_rv.type.filter_variable(obs.astype(new_rv.dtype) if obs.dtype != new_rv.dtype else obs)
        except TypeError:
            raise ValueError(
                f"observe: data for {var.name!r} has type {obs.type} (shape {obs.type.shape}), "
                f"incompatible with the variable's {new_rv.type}"
            ) from None
        observations[var] = obs
    _register(new, model, memo, set(), observations)
    return new


def do(
    model: Model,
    vars_to_interventions: Mapping[str | Variable, Any],
    *,
    make_interventions_shared: bool = True,
    prune_vars: bool = False,
) -> Model:
    """A new model with variables replaced by interventions (PyMC's ``pm.do``).

    Each variable (or name) is replaced by the given value or expression in everything
    downstream of it, and is no longer a random variable of the new model.  A constant
    intervention becomes a ``Data`` container of that name (``set_data`` can change it) unless
    ``make_interventions_shared=False``; an expression (of other model variables, say) becomes
    a Deterministic of that name.  ``prune_vars=True`` drops the variables that no longer lead to
    any observed variable.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 0, 1)
    ...     y = pm.Normal("y", x, 1)
    ...     z = pm.Normal("z", x + y, 1)
    >>> m_do = pm.do(m, {y: 100.0})
    >>> float(pm.draw(m_do["z"], random_seed=1)) > 90
    True
    """
    if not isinstance(model, Model):
        raise TypeError(f"do: model must be a symvi Model, got {type(model).__name__}")
    if not isinstance(vars_to_interventions, Mapping):
        raise TypeError(f"do: vars_to_interventions must be a dict {{variable or name: value}}, got "
                        f"{type(vars_to_interventions).__name__}")
    staged = {}
    for key, value in vars_to_interventions.items():
        var = _lookup(model, key, "do")
        if var in model.potentials:
            raise ValueError(f"do: {var.name!r} is a Potential; only random variables, Deterministics and Data can be intervened on")
        try:
            if not isinstance(value, Variable):
                value = np.asarray(value, dtype=var.dtype)
            if not isinstance(value, Variable):
                value = pytensor.tensor.as_tensor_variable(value)
            if not _shape_fits(var, value):
                raise TypeError(f"shape {value.type.shape} does not fit")
            expr = var.type.filter_variable(value)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"do: the intervention for {var.name!r} must fit the variable's type {var.type} "
                f"(dtype {var.dtype}, shape {var.type.shape}): {err}"
            ) from None
        staged[var] = expr
    loops = [v.name for v in staged if v in ancestors(list(staged.values()))]
    if loops:
        raise ValueError(f"do: an intervention refers to an intervened variable ({loops}); it would depend on itself")
    # first the interventions' own graphs (the model variables they use, in the new graph),
    # then everything else with each intervened variable replaced
    memo: dict = {}
    _clone(model, [e for e in staged.values() if e.owner is not None], memo)
    replaced = {}
    for var, expr in staged.items():
        if isinstance(expr, SharedVariable):
            new_expr, kind = expr, "data"  # the user's own container, used as it is
        elif isinstance(expr, Constant) and make_interventions_shared:
            new_expr = pytensor.shared(np.array(expr.data, copy=True), name=var.name, shape=var.type.shape)
            kind = "data"
        else:
            new_expr, kind = memo.get(expr, expr).copy(name=var.name), "deterministic"
        new_expr.name = var.name
        memo[var] = new_expr
        replaced[var] = (new_expr, kind)
    _clone(model, _model_outputs(model), memo)
    new = _new_model(model)
    _register(new, model, memo, set(replaced), {})
    # the interventions take the replaced variables' places (names, dims, order of names)
    order = list(model.named_vars)
    for var, (expr, kind) in replaced.items():
        (new.data_vars if kind == "data" else new.deterministics).append(expr)
        new.named_vars[var.name] = expr
        if var.name in model.named_vars_to_dims:
            new.named_vars_to_dims[var.name] = model.named_vars_to_dims[var.name]
    new.named_vars = {n: new.named_vars[n] for n in order if n in new.named_vars}
    new.version += 1
    if prune_vars:
        return _prune_detached(new)
    return new


def _prune_detached(model: Model) -> Model:
    """A copy of ``model`` without the variables no observed variable depends on."""
    if model.potentials:
        raise ValueError("do(prune_vars=True): the model has Potentials; whether they belong to the "
                         "likelihood is ambiguous, so pruning is refused")
    keep = set()
    for rv in model.observed_RVs:
        keep.add(rv)
        keep |= set(ancestors([rv] + _variables_in(dist_info(rv).params)))
    # a distribution's parameters may sit outside its draw's graph: follow them
    frontier = [v for v in keep if dist_info(v) is not None]
    while frontier:
        v = frontier.pop()
        for p in ancestors(_variables_in(dist_info(v).params)):
            if p not in keep:
                keep.add(p)
                if dist_info(p) is not None:
                    frontier.append(p)
    drop = {v for v in model.named_vars.values() if v not in keep}
    memo = _clone(model, _model_outputs(model), {})
    new = _new_model(model)
    _register(new, model, memo, drop, {})
    return new


