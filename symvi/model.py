"""The model context: a registry of named random variables over one PyTensor graph.

Examples
--------
>>> import numpy as np, symvi as sv
>>> with sv.Model(coords={"obs": range(3)}) as m:
...     mu = sv.Normal("mu", 0, 1)
...     y = sv.Normal("y", mu, 1, observed=np.zeros(3), dims="obs")
>>> sorted(m.named_vars)
['mu', 'y']
>>> round(float(m.compile_logp()({"mu": 0.0})), 3)
-3.676
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable

from symvi import logprob, model_transform
from symvi.context import modelcontext, pop_model, push_model
from symvi.minibatch import minibatch_info
from symvi.model_api import ModelAPI
from symvi.distributions.base import _UNSET, dist_info


__all__ = ["Model", "modelcontext", "Deterministic", "Potential", "Data", "set_data"]


def _all_finite(arr: np.ndarray) -> bool:
    """Whether a float array has no NaN/inf, without a temporary of the array's size.

    ``np.isfinite(arr).all()`` makes a boolean array of ``arr.size`` bytes (95 MB for a
    1e6 x 100 observed array: it set the peak memory of a big model's fit).  The sum of the
    array is finite exactly when every element is, unless finite values overflow; only then
    (or for a sum that is not finite) are the rows scanned in blocks of ~1M elements.
    """
    with np.errstate(all="ignore"):
        if np.isfinite(np.sum(arr)):
            return True
    if arr.ndim == 0 or arr.shape[0] == 0:
        return bool(np.isfinite(arr).all())
    step = max(1, 2**20 // max(1, arr[:1].size))
    return all(bool(np.isfinite(arr[a : a + step]).all()) for a in range(0, arr.shape[0], step))


def _as_dims(dims) -> tuple | None:
    if dims is None:
        return None
    if isinstance(dims, str):
        return (dims,)
    return tuple(dims)


class Model(ModelAPI):
    """A probabilistic model: named random variables, data, deterministics and potentials.

    Parameters
    ----------
    coords : mapping of dimension name -> coordinate values (or None)
    name : optional prefix for every variable name (``"name::var"``)

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model() as m:
    ...     x = sv.Normal("x", 0, 1)
    >>> m["x"] is m.x is x
    True
    """

    def __init__(self, coords: Mapping[str, Any] | None = None, name: str = ""):
        self.name = name
        self.coords: dict[str, tuple | None] = {}
        self.dim_lengths: dict[str, Any] = {}
        self.free_RVs: list = []
        self.observed_RVs: list = []
        self.deterministics: list = []
        self.potentials: list = []
        self.data_vars: list = []
        self.rvs_to_values: dict = {}
        self.rvs_to_transforms: dict = {}
        self.rvs_to_total_sizes: dict = {}
        self.rvs_to_initial_values: dict = {}
        self.named_vars: dict[str, Variable] = {}
        self.named_vars_to_dims: dict[str, tuple] = {}
        self.version = 0  # bumped on every change; compiled caches key on it
        if coords:
            self.add_coords(coords)

    # ------------------------------------------------------------------ context
    def __enter__(self) -> Model:
        push_model(self)
        return self

    def __exit__(self, *exc) -> None:
        pop_model()

    def __getitem__(self, key: str):
        try:
            return self.named_vars[key]
        except KeyError:
            try:
                return self.named_vars[self._full(key)]
            except KeyError:
                raise KeyError(f"{key!r} is not a variable of this model; known: {sorted(self.named_vars)}") from None

    def __getattr__(self, key: str):
        named = self.__dict__.get("named_vars")
        if named is not None and key in named:
            return named[key]
        raise AttributeError(f"Model has no attribute or variable {key!r}")

    def _full(self, name: str) -> str:
        return f"{self.name}::{name}" if self.name else name

    @property
    def value_vars(self) -> list:
        """Unconstrained value variables of the free random variables, in registration order."""
        return [self.rvs_to_values[rv] for rv in self.free_RVs]

    @property
    def basic_RVs(self) -> list:
        return self.free_RVs + self.observed_RVs

    def __repr__(self) -> str:
        lines = [f"<symvi.Model{' ' + self.name if self.name else ''}:"]
        for rv in self.basic_RVs:
            info = dist_info(rv)
            kind = "observed" if rv in self.observed_RVs else "free"
            lines.append(f"  {rv.name} ~ {info.cls.__name__} ({kind})")
        return "\n".join(lines) + ">"

    # ------------------------------------------------------------------ coords
    def add_coord(self, name: str, values=None, *, length=None) -> None:
        """Add a dimension with coordinate ``values`` (or just a ``length``)."""
        if name in self.coords:
            raise ValueError(f"Dimension {name!r} already exists with coords {self.coords[name]!r}")
        if values is None and length is None:
            raise ValueError(f"add_coord({name!r}): give values or length")
        if values is not None:
            values = tuple(np.asarray(values).tolist()) if not isinstance(values, str) else (values,)
            if length is not None and int(length) != len(values):
                raise ValueError(f"add_coord({name!r}): length {length} != len(values) {len(values)}")
            length = len(values)
        self.coords[name] = values
        self.dim_lengths[name] = int(length)
        self.version += 1

    def add_coords(self, coords: Mapping[str, Any]) -> None:
        for k, v in coords.items():
            self.add_coord(k, v)

    def _dims_shape(self, owner: str, dims: tuple, observed_shape=None, given_shape=None) -> tuple:
        if given_shape is not None and not isinstance(given_shape, Variable):
            given_shape = tuple(np.atleast_1d(given_shape))
            if len(given_shape) != len(dims):
                raise ValueError(f"{owner}: shape={given_shape} has {len(given_shape)} entries but dims={dims} has {len(dims)}")
        else:
            given_shape = None
        shape = []
        for i, d in enumerate(dims):
            if d is None:
                if observed_shape is None:
                    raise ValueError(f"{owner}: dims entry {i} is None but no observed data gives its length")
                shape.append(int(observed_shape[i]))
            elif d in self.dim_lengths:
                shape.append(self.dim_lengths[d])
            elif observed_shape is not None and i < len(observed_shape):
                self.add_coord(d, length=int(observed_shape[i]))
                shape.append(int(observed_shape[i]))
            elif given_shape is not None and isinstance(given_shape[i], int | np.integer):
                # as PyMC: a new dimension named with an explicit shape gets coords 0..n-1
                self.add_coord(d, values=range(int(given_shape[i])))
                shape.append(int(given_shape[i]))
            else:
                raise ValueError(
                    f"{owner}: unknown dimension {d!r}; known coords: {sorted(self.coords)}. "
                    "Add it with Model(coords={...}) or model.add_coord()."
                )
        return tuple(shape)

    # ------------------------------------------------------------------ registration
    def add_deterministic(self, name: str, var, dims=None):
        """Record ``var`` as the Deterministic ``name`` (what :func:`Deterministic` does; also
        used by distributions that record derived quantities, such as ``{name}_probs``)."""
        full = self._check_name(name)
        var = _check_tensor("Deterministic", full, var)
        var = pt.identity(var) if var.name is not None or var.owner is None else var
        var.name = full
        self.deterministics.append(var)
        self._add_named(var, full, _as_dims(dims))
        return var

    def _check_name(self, name: str) -> str:
        if not isinstance(name, str) or not name:
            raise TypeError(f"Variable names must be non-empty strings, got {name!r}")
        full = self._full(name)
        if full in self.named_vars:
            raise ValueError(f"Variable name {full!r} already exists in this model; names must be unique")
        return full

    def resolve_shape(self, name, cls, dims, shape, size, observed):
        """Turn dims/shape/size/observed into (shape, size, observed tensor) and validate them."""
        owner = f"{cls.__name__}({name!r})"
        dims = _as_dims(dims)
        symbolic = _symbolic_shape(owner, shape)
        if symbolic is not None:
            return self._resolve_symbolic_shape(owner, name, cls, dims, symbolic, size, observed)
        obs = None
        obs_shape = None
        if observed is not None:
            obs = self._observed_tensor(name, observed)
            if isinstance(obs, pt.TensorConstant):
                obs_shape = obs.data.shape
            elif isinstance(obs, SharedVariable):
                obs_shape = obs.get_value(borrow=True).shape
            elif hasattr(obs.type, "shape") and None not in obs.type.shape:
                obs_shape = obs.type.shape
        explicit = shape is not None or size is not None
        if dims is not None:
            dshape = self._dims_shape(owner, dims, obs_shape, shape)
            if shape is not None and tuple(np.atleast_1d(shape)) != dshape:
                raise ValueError(f"{owner}: shape={shape} contradicts dims={dims} (lengths {dshape})")
            shape = dshape
        if shape is not None and size is not None:
            raise ValueError(f"{owner}: give shape= or size=, not both")
        if shape is not None:
            shape = tuple(int(s) for s in np.atleast_1d(shape)) if not isinstance(shape, Variable) else shape
        if obs is not None:
            if shape is not None and obs_shape is not None and tuple(obs_shape) != tuple(shape):
                raise ValueError(
                    f"{owner}: observed data has shape {tuple(obs_shape)}, incompatible with shape {tuple(shape)}"
                )
            if size is not None and obs_shape is not None and not isinstance(size, Variable):
                batch = tuple(obs_shape[: len(obs_shape) - cls.ndim_supp])
                if tuple(int(s) for s in np.atleast_1d(size)) != batch:
                    raise ValueError(
                        f"{owner}: observed data has shape {tuple(obs_shape)}, incompatible with size {size}"
                    )
            if isinstance(obs, SharedVariable) and not explicit:
                # a Data container's length may change with set_data: follow it symbolically
                shape = None
            if shape is None and size is None:
                if obs_shape is not None and not isinstance(obs, SharedVariable):
                    shape = tuple(int(s) for s in obs_shape)
                else:
                    nb = obs.ndim - cls.ndim_supp
                    size = tuple(obs.shape[i] for i in range(nb)) if nb > 0 else None
                    if size is not None:
                        size = pt.stack(size)
        return shape, size, obs

    def _resolve_symbolic_shape(self, owner, name, cls, dims, entries, size, observed):
        """``shape=`` holding tensors (``shape=x.shape`` of a Data container): the variable's
        batch shape stays symbolic, so it follows :func:`set_data`; observed data must match
        the shape's current value."""
        if size is not None:
            raise ValueError(f"{owner}: give shape= or size=, not both")
        current = _evaluate_shape(entries)
        if dims is not None:
            if len(dims) != len(entries):
                raise ValueError(f"{owner}: shape has {len(entries)} entries but dims={dims} has {len(dims)}")
            self._dims_shape(owner, dims, None, current)
        obs = None
        if observed is not None:
            obs = self._observed_tensor(name, observed)
            obs_shape = _static_value_shape(obs)
            if obs_shape is not None and current is not None and tuple(obs_shape) != tuple(current):
                raise ValueError(
                    f"{owner}: observed data has shape {tuple(obs_shape)}, incompatible with shape {tuple(current)} "
                    "(the current value of the symbolic shape)"
                )
        nb = len(entries) - cls.ndim_supp
        if nb < 0:
            raise ValueError(f"{owner}: shape has {len(entries)} entries, fewer than the {cls.ndim_supp} support dimensions")
        batch = [pt.as_tensor_variable(e).astype("int64") for e in entries[:nb]]
        return None, (pt.stack(batch) if batch else None), obs

    def _observed_tensor(self, name, observed):
        if isinstance(observed, Variable):
            if isinstance(observed, SharedVariable):
                self._check_finite(name, observed.get_value(borrow=True))
            elif isinstance(observed, pt.TensorConstant):
                self._check_finite(name, observed.data)
            elif minibatch_info(observed) is not None:  # pm.Minibatch: its whole array, once
                self._check_finite(name, minibatch_info(observed).source.get_value(borrow=True))
            elif getattr(observed.tag, "stream", None) is not None:  # streamed: each chunk as it is read
                observed.tag.stream.observed_as(observed, name)
            return observed
        try:
            arr = np.asarray(observed)
        except Exception as err:  # noqa: BLE001
            raise TypeError(f"{name!r}: observed must be array-like, got {type(observed).__name__}") from err
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError(f"{name!r}: observed must be numeric, got dtype {arr.dtype}")
        self._check_finite(name, arr)
        if arr.dtype == bool:
            arr = arr.astype("int64")
        elif arr.dtype.kind == "f" and arr.dtype != pytensor.config.floatX:
            arr = arr.astype(pytensor.config.floatX)  # as PyMC: observed floats follow floatX
        return pt.as_tensor_variable(arr)

    @staticmethod
    def _check_finite(name, arr):
        arr = np.asarray(arr)
        if np.issubdtype(arr.dtype, np.floating) and not _all_finite(arr):
            bad = np.argwhere(~np.isfinite(arr))[:5].tolist()
            row = f"first at row {bad[0][0]}, " if arr.ndim else ""
            raise ValueError(
                f"{name!r}: observed data contains NaN or inf ({row}e.g. at index {bad}); "
                "symvi does not impute missing values - drop or fill them first"
            )

    def register_rv(self, rv, name, observed=None, total_size=None, dims=None, transform=_UNSET, initval=None):
        """Add a random variable made by ``Dist.dist`` to the model (``Dist(name, ...)`` calls this)."""
        full = self._check_name(name)
        info = dist_info(rv)
        if info is None:
            raise TypeError(f"{full!r}: register_rv needs a symvi distribution variable")
        rv.name = full
        dims = _as_dims(dims)
        if observed is not None:
            self.rvs_to_total_sizes[rv] = logprob.validate_total_size(full, total_size, observed.ndim, observed)
            self.observed_RVs.append(rv)
            self.rvs_to_values[rv] = observed
            self.rvs_to_transforms[rv] = None
        else:
            if total_size is not None:
                self.rvs_to_total_sizes[rv] = logprob.validate_total_size(full, total_size, rv.ndim, rv)
            if transform is _UNSET:
                transform = None if info.cls.discrete else info.cls.default_transform(info.params)
            if transform is None:
                value = rv.type()
                value.name = full
            else:
                value = transform.forward(rv).type()
                value.name = f"{full}_{transform.name}__"
            self.free_RVs.append(rv)
            self.rvs_to_values[rv] = value
            self.rvs_to_transforms[rv] = transform
            if initval is not None:
                self.rvs_to_initial_values[rv] = initval
        self._add_named(rv, full, dims)
        return rv

    def _add_named(self, var, full, dims):
        if dims is not None:
            lengths = self._dims_shape(f"{full!r}", tuple(d for d in dims if d is not None))
            ndim = getattr(var, "ndim", None)
            if ndim is not None and ndim != len(dims):
                raise ValueError(f"{full!r}: {len(dims)} dims {dims} given for a {ndim}-d variable")
            static = [s for s, d in zip(getattr(var.type, "shape", ()), dims) if d is not None]
            for d, n, s in zip([d for d in dims if d is not None], lengths, static):
                if s is not None and s != n:
                    raise ValueError(f"{full!r}: dimension {d!r} has length {n} but the variable's has {s}")
            self.named_vars_to_dims[full] = dims
        self.named_vars[full] = var
        self.version += 1

    # ------------------------------------------------------------------ densities
    def logp(self, vars=None, jacobian: bool = True, sum: bool = True):
        """Symbolic log density over the value variables (see :mod:`symvi.logprob`).

        The whole model's graph is built once per model state (a fit asks for it several
        times: start-point check, objective, warm start); any change to the model rebuilds it.
        """
        if vars is not None:
            return logprob.model_logp(self, vars=vars, jacobian=jacobian, sum=sum)
        state = (self.version, len(self.free_RVs), len(self.observed_RVs), len(self.potentials), pytensor.config.floatX)
        cached = self.__dict__.get("_logp_graphs")
        if cached is None or cached[0] != state:  # (graphs of an earlier state are not asked for again)
            cached = self._logp_graphs = (state, {})
        graphs = cached[1]
        if (jacobian, sum) not in graphs:
            graphs[jacobian, sum] = logprob.model_logp(self, jacobian=jacobian, sum=sum)
        out = graphs[jacobian, sum]
        return list(out) if isinstance(out, list) else out

    def compile_logp(self, vars=None, jacobian: bool = True, sum: bool = True, batched: bool = False):
        """Compiled log density taking a point dict ``{value var name: array}``.

        With ``batched=True`` every array carries an extra leading axis of B points and the
        result has shape (B,) - one compiled call, built with ``vectorize_graph``.
        """
        return logprob.compile_logp(self, vars=vars, jacobian=jacobian, sum=sum, batched=batched)

    def compile_dlogp(self, vars=None, jacobian: bool = True):
        """Compiled gradient of the log density, flattened and concatenated over ``vars``."""
        return logprob.compile_dlogp(self, vars=vars, jacobian=jacobian)

    def point_logps(self, point=None, round_vals: int = 2) -> dict[str, float]:
        """Log density of each variable (observed ones included) at ``point``."""
        return logprob.point_logps(self, point, round_vals)

    def initial_point(self, random_seed=None) -> dict[str, np.ndarray]:
        """Starting values on the unconstrained space, keyed by value-variable name."""
        return logprob.initial_point(self, random_seed)

    def rvs_to_dims(self, var) -> tuple | None:
        return self.named_vars_to_dims.get(var.name)

    def copy(self) -> Model:
        """An independent clone of the model; its variables are found by name (``m2["x"]``).

        >>> import symvi as sv
        >>> with sv.Model() as m:
        ...     x = sv.Normal("x", 0, 1)
        >>> m2 = m.copy()
        >>> m2["x"] is x, m2["x"].name
        (False, 'x')
        """
        return model_transform.clone_model(self)

    def __copy__(self) -> Model:
        return self.copy()

    def __deepcopy__(self, memo) -> Model:
        return self.copy()

    def to_graphviz(self, **kwargs):
        """The model as a ``graphviz.Digraph``: see :func:`symvi.graph.model_to_graphviz`."""
        from symvi.graph import model_to_graphviz

        return model_to_graphviz(self, **kwargs)


def _symbolic_shape(owner: str, shape) -> tuple | None:
    """``shape`` as a tuple of entries (ints and integer scalar tensors) when it holds a tensor
    (``x.shape``, ``(x.shape[0], 3)``), else None (a plain integer shape)."""
    if shape is None:
        return None
    if isinstance(shape, Variable):
        if shape.ndim == 0:
            entries = (shape,)
        elif shape.ndim == 1 and shape.type.shape[0] is not None:
            entries = tuple(shape[i] for i in range(shape.type.shape[0]))
        else:
            raise ValueError(f"{owner}: a symbolic shape must be a vector of known length or a scalar, got {shape.type}")
    elif isinstance(shape, tuple | list) and any(isinstance(e, Variable) for e in shape):
        entries = tuple(shape)
    else:
        return None
    for e in entries:
        if isinstance(e, Variable) and (e.ndim != 0 or not e.dtype.startswith(("int", "uint"))):
            raise ValueError(f"{owner}: shape entries must be integers or integer scalar tensors, got {e.type}")
    return entries


def _evaluate_shape(entries) -> tuple | None:
    """The current integer value of a symbolic shape, or None where it depends on inputs."""
    from pytensor.graph.traversal import ancestors

    tensors = [e for e in entries if isinstance(e, Variable)]
    roots = [v for v in ancestors(tensors) if v.owner is None]
    if any(not isinstance(v, SharedVariable | Constant) for v in roots):
        return None
    values = iter(pytensor.function([], tensors, mode="FAST_COMPILE")()) if tensors else iter(())
    return tuple(int(next(values)) if isinstance(e, Variable) else int(e) for e in entries)


def _static_value_shape(obs) -> tuple | None:
    if isinstance(obs, pt.TensorConstant):
        return obs.data.shape
    if isinstance(obs, SharedVariable):
        return obs.get_value(borrow=True).shape
    return None


# ---------------------------------------------------------------------- free functions
def _check_tensor(kind: str, name: str, expr):
    if isinstance(expr, Variable):
        return expr
    try:
        arr = np.asarray(expr)
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise TypeError
    except Exception:  # noqa: BLE001
        raise TypeError(f"{kind}({name!r}): expected a tensor expression or numeric array, got {type(expr).__name__}") from None
    return pt.as_tensor_variable(arr)


def Deterministic(name: str, var, dims=None, model: Model | None = None):
    """Name an expression so that it is recorded in posterior and prior draws.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     x = sv.Normal("x", 0, 1)
    ...     y = sv.Deterministic("y", 2 * x)
    >>> y.name
    'y'
    """
    return modelcontext(model, who=f"Deterministic({name!r})").add_deterministic(name, var, dims=dims)


def Potential(name: str, var, model: Model | None = None):
    """Add an arbitrary term to the model's log density.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model() as m:
    ...     x = sv.Normal("x", 0, 1)
    ...     _ = sv.Potential("pen", -x**2)
    >>> len(m.potentials)
    1
    """
    model = modelcontext(model, who=f"Potential({name!r})")
    full = model._check_name(name)
    var = _check_tensor("Potential", full, var)
    var = pt.identity(var) if var.name is not None or var.owner is None else var
    var.name = full
    model.potentials.append(var)
    model._add_named(var, full, None)
    return var


def Data(name: str, value, dims=None, model: Model | None = None):
    """A shared data container whose value can be swapped with :func:`set_data`.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model() as m:
    ...     x = sv.Data("x", np.arange(3.0))
    >>> sv.set_data({"x": np.ones(5)}, model=m); m["x"].get_value().shape
    (5,)
    """
    model = modelcontext(model, who=f"Data({name!r})")
    full = model._check_name(name)
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Data({full!r}): expected a numeric array (bool, integer or float), got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(pytensor.config.floatX, copy=False)
    # one copy (as PyMC's Data): a container is the model's own, whatever the caller does to
    # its array later; observed=array (referenced) is the way to hold big data once
    shared = pytensor.shared(arr, name=full, shape=(None,) * arr.ndim)
    dims = _as_dims(dims)
    if dims is not None:
        if len(dims) != arr.ndim:
            raise ValueError(f"Data({full!r}): {len(dims)} dims given for a {arr.ndim}-d array")
        for d, n in zip(dims, arr.shape):
            if d not in model.dim_lengths:
                model.add_coord(d, length=n)
            elif model.dim_lengths[d] != n:
                raise ValueError(f"Data({full!r}): dim {d!r} has length {model.dim_lengths[d]}, data has {n}")
    model.data_vars.append(shared)
    model._add_named(shared, full, dims)
    return shared


def set_data(new_data: Mapping[str, Any], model: Model | None = None, coords: Mapping[str, Sequence] | None = None):
    """Swap the values of ``Data`` containers without rebuilding the model.

    Dimensions whose length changes get new coordinates (``coords``) or a fresh ``range``.
    Every new value is checked first (a known container, the same number of dimensions, a
    dtype that casts to the container's without loss); on a bad one ``ValueError`` names the
    container and nothing in the model changes.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model(coords={"obs": [0, 1]}) as m:
    ...     x = sv.Data("x", np.zeros(2), dims="obs")
    >>> sv.set_data({"x": np.ones(3)}, model=m, coords={"obs": ["a", "b", "c"]})
    >>> m.coords["obs"]
    ('a', 'b', 'c')
    """
    model = modelcontext(model, who="set_data")
    if not isinstance(new_data, Mapping):
        raise TypeError(f"set_data: new_data must be a dict {{container name: array}}, got {type(new_data).__name__}")
    staged = []
    for name, value in new_data.items():
        var = model.named_vars.get(name, model.named_vars.get(model._full(name)) if isinstance(name, str) else None)
        if var is None:
            known = sorted(d.name for d in model.data_vars)
            raise ValueError(f"set_data: {name!r} is not a Data container of the model; its containers are {known}")
        if var not in model.data_vars:
            raise TypeError(f"set_data: {name!r} is not a Data container (it is a model variable); containers: "
                            f"{sorted(d.name for d in model.data_vars)}")
        staged.append((var, _cast_data(name, value, var.get_value(borrow=True))))
    for var, arr in staged:
        var.set_value(arr)
        for d, n in zip(model.named_vars_to_dims.get(var.name, ()), arr.shape):
            if coords and d in coords:
                model.coords[d] = tuple(np.asarray(coords[d]).tolist())
            elif model.dim_lengths.get(d) != n:
                model.coords[d] = tuple(range(n))
            model.dim_lengths[d] = n
    for d, vals in (coords or {}).items():
        model.coords[d] = tuple(np.asarray(vals).tolist())
        model.dim_lengths[d] = len(model.coords[d])
    model.version += 1


def _cast_data(name, value, old: np.ndarray) -> np.ndarray:
    """``value`` as an array of ``old``'s dtype and number of dimensions, or ``ValueError``."""
    try:
        arr = np.asarray(value)
    except Exception as err:  # noqa: BLE001 - ragged lists and the like
        raise ValueError(f"set_data: the new value of {name!r} is not an array ({err})") from None
    if arr.ndim != old.ndim:
        raise ValueError(f"set_data: {name!r} has {old.ndim} dimensions, new value has {arr.ndim} (shape {arr.shape})")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"set_data: {name!r} holds {old.dtype} numbers; the new value has dtype {arr.dtype}")
    if old.dtype.kind == "f":
        return arr.astype(old.dtype)
    # an integer (or boolean) container: the new values must be whole numbers that fit its dtype
    with np.errstate(all="ignore"):
        cast = arr.astype(old.dtype)
        exact = np.array_equal(cast.astype("float64"), arr.astype("float64")) if arr.size else True
    if not exact or (arr.dtype.kind == "f" and not np.all(np.isfinite(arr))):
        raise ValueError(
            f"set_data: {name!r} holds {old.dtype} values; the new value (dtype {arr.dtype}) cannot be cast to it "
            "without changing some values"
        )
    return cast
