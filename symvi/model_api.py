"""The rest of PyMC's ``Model`` interface: log-density pieces, derivatives, compiled functions
of the value variables, start-value checks and ``debug()``.

:class:`symvi.model.Model` inherits these methods; each is a few lines over
:mod:`symvi.logprob`.  Names and meanings follow PyMC 5 (``d2logp`` is the *negative*
Hessian, as there), so PyMC code that inspects a model runs unchanged.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     a = pm.Normal("a", 0, 2)
...     y = pm.Normal("y", a, 1, observed=np.array([0.1, 0.2]))
>>> m.compile_d2logp()({"a": 0.0}).tolist()
[[2.25]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import ancestors

from symvi import logprob
from symvi.context import modelcontext
from symvi.pytensorf import compile_fn

__all__ = ["ModelAPI"]


def _as_list(x) -> tuple[list, bool]:
    return (list(x), True) if isinstance(x, list | tuple) else ([x], False)


class ModelAPI:
    """PyMC ``Model`` methods beyond registration and ``logp`` (mixed into :class:`Model`)."""

    # ------------------------------------------------------------------ context
    @classmethod
    def get_context(cls, error_if_none: bool = True, allow_block_model_access: bool = False):
        """The innermost model of the ``with`` stack (PyMC's ``Model.get_context``).

        >>> import symvi as pm
        >>> with pm.Model() as m:
        ...     pm.Model.get_context() is m
        True
        """
        if not error_if_none:
            try:
                return modelcontext(who="Model.get_context")
            except TypeError:
                return None
        return modelcontext(who="Model.get_context")

    # ------------------------------------------------------------------ variable lists
    @property
    def unobserved_RVs(self) -> list:
        """Free random variables and deterministics."""
        return self.free_RVs + self.deterministics

    @property
    def unobserved_value_vars(self) -> list:
        """Value variables, the constrained value of each transformed one, and the
        deterministics, all as expressions of the value variables (as PyMC)."""
        constrained = [
            logprob.rv_replacements(self)[rv] for rv in self.free_RVs if self.rvs_to_transforms.get(rv) is not None
        ]
        return self.value_vars + constrained + self.replace_rvs_by_values(list(self.deterministics))

    @property
    def continuous_value_vars(self) -> list:
        return [v for v in self.value_vars if v.dtype.startswith("float")]

    @property
    def discrete_value_vars(self) -> list:
        return [v for v in self.value_vars if not v.dtype.startswith("float")]

    def shape_from_dims(self, dims: Sequence[str]) -> tuple:
        """The lengths of ``dims`` (each a dimension of the model)."""
        dims = (dims,) if isinstance(dims, str) else tuple(dims)
        unknown = [d for d in dims if d not in self.dim_lengths]
        if unknown:
            raise KeyError(f"shape_from_dims: unknown dimension(s) {unknown}; known: {sorted(self.dim_lengths)}")
        return tuple(self.dim_lengths[d] for d in dims)

    def set_dim(self, name: str, new_length: int, coord_values: Sequence | None = None) -> None:
        """Change the length of dimension ``name`` (PyMC's ``Model.set_dim``), e.g. before
        predicting on new data.  A dimension with coordinates needs ``coord_values`` of the
        new length.  Variables that follow their data (observed variables, Deterministics of
        ``Data`` containers) take the new length; a free random variable's shape is fixed when
        it is created in symvi, so a dimension that one uses cannot change (``ValueError``
        naming them; rebuild the model with the new coords).

        >>> import numpy as np, symvi as pm
        >>> with pm.Model(coords={"obs": ["a", "b"]}) as m:
        ...     x = pm.Data("x", np.zeros(2), dims="obs")
        >>> m.set_dim("obs", 3, coord_values=["a", "b", "c"])
        >>> m.dim_lengths["obs"], m.coords["obs"]
        (3, ('a', 'b', 'c'))
        """
        if name not in self.dim_lengths:
            raise KeyError(f"set_dim: {name!r} is not a dimension of the model; known: {sorted(self.dim_lengths)}")
        if isinstance(new_length, bool) or not isinstance(new_length, int | np.integer) or new_length < 0:
            raise ValueError(f"set_dim: new_length must be a non-negative integer, got {new_length!r}")
        new_length = int(new_length)
        if coord_values is None and self.coords.get(name) is not None:
            raise ValueError(f"set_dim: dimension {name!r} has coordinate values; pass coord_values= of length {new_length}")
        if coord_values is not None:
            coord_values = tuple(np.asarray(coord_values).tolist())
            if len(coord_values) != new_length:
                raise ValueError(f"set_dim: coord_values has {len(coord_values)} entries, new_length is {new_length}")
        fixed = []
        for var_name, dims in self.named_vars_to_dims.items():
            var = self.named_vars[var_name]
            if name not in dims or var in self.observed_RVs or var in self.data_vars:
                continue
            static = getattr(var.type, "shape", ())
            if any(d == name and i < len(static) and static[i] not in (None, new_length) for i, d in enumerate(dims)):
                fixed.append(var_name)
        if fixed:
            raise ValueError(
                f"set_dim: dimension {name!r} fixes the shape of {fixed}, which cannot change length in symvi; "
                f"build the model again with coords={{{name!r}: ...}} of length {new_length}"
            )
        self.coords[name] = coord_values
        self.dim_lengths[name] = new_length
        self.version += 1

    def set_initval(self, rv, initval) -> None:
        """Start value of a free variable on its constrained space (``"prior"``: a prior draw)."""
        rv = self[rv] if isinstance(rv, str) else rv
        if rv not in self.free_RVs:
            raise ValueError(f"set_initval: {getattr(rv, 'name', rv)!r} is not a free random variable of this model")
        self.rvs_to_initial_values[rv] = initval
        self.version += 1

    # ------------------------------------------------------------------ log-density pieces
    @property
    def varlogp(self):
        """Log density of the free variables (with the transforms' Jacobians)."""
        return self.logp(vars=self.free_RVs)

    @property
    def varlogp_nojac(self):
        return self.logp(vars=self.free_RVs, jacobian=False)

    @property
    def observedlogp(self):
        """Log likelihood of the observed variables."""
        return self.logp(vars=self.observed_RVs)

    @property
    def potentiallogp(self):
        """Sum of the Potentials."""
        return self.logp(vars=self.potentials)

    @property
    def datalogp(self):
        """Log likelihood plus Potentials."""
        return self.logp(vars=self.observed_RVs + self.potentials)

    # ------------------------------------------------------------------ derivatives
    def _flat_grad(self, cost, vars):
        values = self.value_vars if vars is None else [self.rvs_to_values.get(v, v) for v in _as_list(vars)[0]]
        grads = pt.grad(cost, values, disconnected_inputs="ignore")
        return pt.concatenate([g.flatten() for g in grads]) if grads else pt.zeros(0), values

    def dlogp(self, vars=None, jacobian: bool = True):
        """Gradient of the log density wrt the value variables, flattened and concatenated."""
        return self._flat_grad(self.logp(jacobian=jacobian), vars)[0]

    def d2logp(self, vars=None, jacobian: bool = True):
        """The negative Hessian of the log density over the flattened value variables (PyMC's sign)."""
        grad, values = self._flat_grad(self.logp(jacobian=jacobian), vars)
        rows = pt.jacobian(grad, values, disconnected_inputs="ignore")
        rows = rows if isinstance(rows, list) else [rows]
        n = grad.shape[0]
        return -pt.concatenate([r.reshape((n, -1)) for r in rows], axis=1)

    def compile_d2logp(self, vars=None, jacobian: bool = True):
        """Compiled :meth:`d2logp` taking a point dict."""
        return self.compile_fn(self.d2logp(vars=vars, jacobian=jacobian), inputs=self.value_vars)

    # ------------------------------------------------------------------ compiled functions
    def replace_rvs_by_values(self, graphs):
        """``graphs`` with each random variable replaced by its value: the constrained value of a
        free variable (from its value variable), the data of an observed one."""
        graphs, many = _as_list(graphs)
        out = graph_replace(graphs, logprob.rv_replacements(self), strict=False)
        return out if many else out[0]

    def compile_fn(self, outs, *, inputs=None, mode=None, point_fn: bool = True, **kwargs):
        """Compile ``outs`` (expressions of random variables or value variables) as a function
        of the value variables; with ``point_fn`` it takes a point dict (``{name: value}``).

        >>> import symvi as pm
        >>> with pm.Model() as m:
        ...     s = pm.HalfNormal("s", 1.0)
        >>> float(m.compile_fn(s * 2)({"s_log__": 0.0}))
        2.0
        """
        graphs, many = _as_list(outs)
        graphs = self.replace_rvs_by_values(graphs)
        if inputs is None:
            used = set(ancestors(graphs))
            inputs = [v for v in self.value_vars if v in used]
        fn = compile_fn(list(inputs), graphs if many else graphs[0], mode=mode, on_unused_input="ignore", **kwargs)
        return logprob.PointFunction(fn, [v.name for v in inputs]) if point_fn else fn

    def profile(self, outs, *, n: int = 1000, point: dict | None = None, profile: bool = True, **kwargs):
        """Compile ``outs`` with PyTensor's profiler, evaluate them ``n`` times at ``point``
        (default: the initial point) and return the ``ProfileStats`` (``.summary()`` prints
        where the time goes, op by op).  ``kwargs`` go to :meth:`compile_fn` (e.g. ``mode``).

        >>> import numpy as np, symvi as pm
        >>> with pm.Model() as m:
        ...     mu = pm.Normal("mu", 0, 1)
        ...     y = pm.Normal("y", mu, 1, observed=np.zeros(3))
        >>> stats = m.profile(m.logp(), n=10)
        >>> stats.fct_callcount
        10
        """
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"profile: n must be a positive integer, got {n!r}")
        fn = self.compile_fn(outs, point_fn=True, profile=profile, **kwargs)
        values = dict(self.initial_point(), **dict(point or {}))
        for _ in range(int(n)):
            fn(values)
        return fn.fn.profile

    # ------------------------------------------------------------------ checks
    def check_start_vals(self, start, **kwargs) -> None:
        """Raise a ``ValueError`` naming the variables whose log density is not finite at
        ``start`` (a point dict of value variables; missing ones from the initial point)."""
        point = dict(self.initial_point(), **dict(start or {}))
        missing = [v.name for v in self.value_vars if v.name not in point]
        if missing:
            raise KeyError(f"check_start_vals: start has no value for {missing}")
        terms = logprob.point_logps(self, point, round_vals=8)
        bad = {k: v for k, v in terms.items() if not np.isfinite(v)}
        if bad:
            raise ValueError(
                f"Initial evaluation of the model at the starting point failed: log densities {bad} "
                f"are not finite at {point}; see model.debug() for the reason"
            )

    def debug(self, point=None, fn: str = "logp", verbose: bool = False) -> None:
        """Print which variables give a non-finite log density at ``point`` (default: the
        initial point), with the values of their parameters, or that all are finite.

        >>> import symvi as pm
        >>> with pm.Model() as m:
        ...     x = pm.Normal("x", 0, 1)
        >>> m.debug()
        point={'x': array(0.)}
        No problems found
        """
        if fn not in ("logp", "dlogp"):
            raise ValueError(f"debug: fn must be 'logp' or 'dlogp', got {fn!r}")
        point = self.initial_point() if point is None else dict(point)
        print(f"point={point}")
        problems = []
        if fn == "logp":
            terms = logprob.point_logp_terms(self, point, elementwise=True)
            for name, value in terms.items():
                value = np.asarray(value)
                if not np.all(np.isfinite(value)):
                    where = np.argwhere(~np.isfinite(np.atleast_1d(value)))[:5].tolist()
                    problems.append(f"The variable {name} has the following parameters:\n{self._param_text(name, point)}"
                                    f"\nIts log density is not finite at entries {where}: {np.atleast_1d(value)[~np.isfinite(np.atleast_1d(value))][:5]}")
        else:
            grad = np.asarray(self.compile_dlogp()(point))
            if not np.all(np.isfinite(grad)):
                problems.append(f"The gradient is not finite at entries {np.flatnonzero(~np.isfinite(grad))[:10].tolist()}")
        print("\n\n".join(problems) if problems else "No problems found")

    def _param_text(self, name: str, point: dict) -> str:
        from symvi.distributions.base import dist_info

        var = self.named_vars.get(name)
        info = dist_info(var) if var is not None else None
        if info is None:
            return "  (a Potential)"
        fn = self.compile_fn(list(info.params.values()), point_fn=True)
        values = fn(point)
        return "\n".join(f"  {k} = {np.asarray(v)}" for k, v in zip(info.params, values))
