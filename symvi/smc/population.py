"""The initial SMC particles: prior draws on the unconstrained space, or the user's ``start``.

:class:`PriorDraws` compiles one function that draws all particles in a call: every free
variable's first parameter gets a batched zero added, so ``vectorize_graph`` gives each
random variable a leading particle axis (its ``size`` grows by it), and children read their
parents' per-particle draws.  A graph that does not vectorise that way (a variable that is
not a plain ``RandomVariable``) is drawn with one compiled call per particle instead.  A
variable with a fixed ``initval`` keeps that value in every particle, as in PyMC (with a
warning: it starts without spread).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     s = pm.HalfNormal("s", 1.0)
...     x = pm.Normal("x", 0.0, s, shape=3)
>>> from symvi.variational.approximations import Layout
>>> draws = PriorDraws(m, Layout(m, m.initial_point()))
>>> draws(1000, seed=0).shape, draws.batched
((1000, 4), True)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace, vectorize_graph
from pytensor.tensor.random.op import RandomVariable

__all__ = ["PriorDraws", "start_population"]


def _fixed_initvals(model) -> dict:
    fixed = {}
    for rv in model.free_RVs:
        init = model.rvs_to_initial_values.get(rv)
        if init is not None and not (isinstance(init, str) and init == "prior"):
            fixed[rv] = pt.as_tensor(np.asarray(init, dtype=rv.dtype))
    return fixed


def _unconstrained(model, resolved: dict) -> list:
    """Each free variable's unconstrained value as a graph over ``resolved`` draws."""
    outs = []
    for rv in model.free_RVs:
        tr = model.rvs_to_transforms[rv]
        outs.append(tr.forward(resolved[rv]) if tr is not None else resolved[rv])
    return graph_replace(outs, {k: v for k, v in resolved.items() if k is not v}, strict=False)


class PriorDraws:
    """``(draws, seed) -> (draws, D)`` unconstrained prior draws of a model (see the module docs)."""

    def __init__(self, model, layout):
        from symvi.pytensorf import compile_fn, find_rngs

        self.model = model
        self.layout = layout
        self.fixed = _fixed_initvals(model)
        try:
            outs, self._batch = self._batched_graph()
            self.fn = compile_fn([self._batch], outs)
            self.batched = True
        except (TypeError, ValueError, NotImplementedError, AttributeError):
            outs = _unconstrained(model, {rv: self.fixed.get(rv, rv) for rv in model.free_RVs})
            self.fn = compile_fn([], outs)
            self.batched = False
        self.rngs = find_rngs(outs)

    @classmethod
    def cached(cls, model, layout) -> PriorDraws:
        key = (model.version, layout.size)
        cache = model.__dict__.setdefault("_smc_prior_cache", {})
        if key not in cache:
            cache.clear()
            cache[key] = cls(model, layout)
        return cache[key]

    def _batched_graph(self):
        zero = pt.scalar("zero", dtype="float64")
        resolved: dict = {}
        for rv in self.model.free_RVs:  # parents come before their children
            if rv in self.fixed:
                resolved[rv] = self.fixed[rv]
                continue
            node = rv.owner
            op = node.op
            if not isinstance(op, RandomVariable) or not op.dist_params(node):
                raise TypeError(f"{rv.name!r} is not a plain RandomVariable")
            params = list(op.dist_params(node))
            if resolved:
                params = graph_replace(params, {k: v for k, v in resolved.items() if k is not v}, strict=False)
            params[0] = params[0] + zero.astype(params[0].dtype)  # the particle axis enters here
            new = op.make_node(op.rng_param(node), op.size_param(node), *params)
            resolved[rv] = new.outputs[1]
        batch = pt.vector("particles", dtype="float64")
        outs = vectorize_graph(_unconstrained(self.model, resolved), {zero: batch})
        return outs, batch

    def __call__(self, draws: int, seed: int) -> np.ndarray:
        from symvi.pytensorf import reseed_rngs

        if self.fixed:
            warnings.warn(
                f"sample_smc: {sorted(rv.name for rv in self.fixed)} have an initval: as in PyMC every particle "
                "starts there instead of at a prior draw, so those variables begin without spread; drop "
                "initval= (or pass start=) to start from the prior",
                UserWarning,
                stacklevel=4,
            )
        saved = [r.get_value(borrow=False) for r in self.rngs]
        reseed_rngs(self.rngs, seed)
        try:
            if self.batched:
                arrays = [np.asarray(a) for a in self.fn(np.zeros(draws))]
            else:
                arrays = [np.stack([np.asarray(a) for a in out]) for out in zip(*(self.fn() for _ in range(draws)))]
        finally:
            for r, s in zip(self.rngs, saved):
                r.set_value(s, borrow=True)
        cols = []
        for name, shape, a in zip(self.layout.names, self.layout.shapes, arrays):
            try:
                a = np.broadcast_to(np.asarray(a, dtype="float64"), (draws,) + shape)
            except ValueError:
                raise RuntimeError(f"sample_smc: prior draws of {name!r} have shape {a.shape}, expected {(draws,) + shape}") from None
            cols.append(a.reshape(draws, -1))
        return np.concatenate(cols, axis=1)


def start_population(model, layout, draws: int, start: dict) -> np.ndarray:
    """(draws, D) particles from ``start``: ``{name: (draws, ...) array}`` for every free
    variable (value-variable names are unconstrained values, random-variable names constrained)."""
    if not isinstance(start, dict):
        raise TypeError(f"sample_smc: start must be a dict {{variable name: (draws, ...) array}}, got {type(start).__name__}")
    by_rv = {rv.name: rv for rv in model.free_RVs}
    unknown = sorted(set(start) - set(layout.names) - set(by_rv))
    if unknown:
        raise KeyError(f"sample_smc: start names {unknown} are not free variables; those are {sorted(by_rv)}")
    cols = []
    for rv, name, shape in zip(model.free_RVs, layout.names, layout.shapes):
        if name in start:
            val = np.asarray(start[name], dtype="float64")
        elif rv.name in start:
            val = np.asarray(start[rv.name], dtype="float64")
            tr = model.rvs_to_transforms[rv]
            if tr is not None:
                val = np.asarray(tr.forward(pt.as_tensor(val)).eval(), dtype="float64")
        else:
            raise KeyError(f"sample_smc: start has no values for {rv.name!r}; it needs every free variable: {sorted(by_rv)}")
        try:
            val = np.broadcast_to(val, (draws,) + shape)
        except ValueError:
            raise ValueError(f"sample_smc: start[{rv.name!r}] must have shape {(draws,) + shape} (draws first), got {val.shape}") from None
        cols.append(val.reshape(draws, -1))
    return np.concatenate(cols, axis=1)
