"""Gaussian approximations over the model's flattened unconstrained space.

``MeanField`` (``mu``, ``rho``; std = softplus(rho)) and ``FullRank`` (``mu``, packed
lower-triangular ``L_tril``).  Both keep their parameters in pytensor shared variables
(``approx.shared_params``) so ``approx.mean.eval()`` always shows the current state.

Examples
--------
>>> import symvi as pm
>>> with pm.Model():
...     x = pm.Normal("x", 0.34, 1)
...     approx = pm.MeanField()
>>> approx.mean.eval(), approx.std.eval().round(4)
(array([0.34]), array([0.6931]))
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace, vectorize_graph

from symvi.backends import fixed_length_loops, get_mode, resolve_backend
from symvi.logprob import rv_replacements
from symvi.model import modelcontext
from symvi.variational.checkpoint import checkpointable
from symvi.variational.memory import check_fullrank_fits
from symvi.pytensorf import ONE_SHOT_MODE, compile_fn, new_rng, reseed_rngs, seed_sequence

if TYPE_CHECKING:  # imported where used: xarray and pandas take ~70 MB and ~1 s to import
    import xarray as xr

__all__ = ["Layout", "Approximation", "MeanField", "FullRank", "sample_approx"]

LOG_2PI = float(np.log(2 * np.pi))


class Layout:
    """Where each value variable lives in the flat vector that the approximation is over."""

    def __init__(self, model, point: dict):
        self.model = model
        self.dtype = pytensor.config.floatX  # of the flat vector (and of q's parameters)
        self.vars = list(model.value_vars)
        self.names = [v.name for v in self.vars]
        self.shapes = [tuple(np.shape(point[n])) for n in self.names]
        self.sizes = [int(np.prod(s, dtype=int)) for s in self.shapes]
        stops = np.cumsum([0] + self.sizes)
        self.slices = [slice(int(a), int(b)) for a, b in zip(stops[:-1], stops[1:])]
        self.size = int(stops[-1])

    def ravel(self, point: dict) -> np.ndarray:
        if not self.names:
            return np.zeros(0, dtype=self.dtype)
        return np.concatenate([np.asarray(point[n], dtype=self.dtype).ravel() for n in self.names])

    def unravel(self, flat: np.ndarray) -> dict:
        flat = np.asarray(flat)
        lead = flat.shape[:-1]
        return {n: flat[..., sl].reshape(lead + sh) for n, sl, sh in zip(self.names, self.slices, self.shapes)}

    def vector(self, name: str = "theta"):
        """A symbolic flat vector of this layout's dtype."""
        return pt.vector(name, dtype=self.dtype)

    def replacements(self, theta) -> dict:
        """``{value var: theta[slice].reshape(shape)}`` for a symbolic flat vector ``theta``."""
        return {v: theta[sl].reshape(sh).astype(v.dtype) for v, sl, sh in zip(self.vars, self.slices, self.shapes)}

    def expression(self, node, theta):
        """``node`` (a graph over model random variables) as a graph over ``theta``."""
        node = graph_replace(node, rv_replacements(self.model), strict=False)
        return graph_replace(node, self.replacements(theta), strict=False)


def _check_model(model):
    if not model.free_RVs:
        raise ValueError("The model has no free random variables: there is nothing to approximate")
    discrete = [rv.name for rv in model.free_RVs if rv.dtype.startswith(("int", "uint", "bool"))]
    if discrete:
        raise TypeError(
            f"Variational inference needs continuous latent variables, but {discrete} are discrete. "
            "Marginalise them out or make them observed."
        )


def _resolve_keys(model, mapping: dict, what: str) -> dict:
    """Accept both random-variable names and value-variable names; return value-var keyed."""
    if not isinstance(mapping, dict):
        raise TypeError(f"{what} must be a dict {{variable name: value}}, got {type(mapping).__name__}")
    out = {}
    by_rv = {rv.name: model.rvs_to_values[rv].name for rv in model.free_RVs}
    values = set(by_rv.values())
    for key, val in mapping.items():
        if key in values:
            out[key] = (val, False)
        elif key in by_rv:
            out[by_rv[key]] = (val, True)
        else:
            raise KeyError(f"{what}: {key!r} is not a free variable of the model; expected one of {sorted(by_rv)}")
    return out


def apply_start(model, point: dict, start: dict) -> dict:
    """``point`` (unconstrained, value-variable keyed) with the values of ``start`` put in.

    ``start`` keys are random-variable names (constrained values, transformed forward here)
    or value-variable names (unconstrained values); values broadcast to the variable's shape.
    """
    point = dict(point)
    rv_of = {model.rvs_to_values[rv].name: rv for rv in model.free_RVs}
    for name, (val, constrained) in _resolve_keys(model, start, "start").items():
        rv = rv_of[name]
        val = np.asarray(val, dtype="float64")
        tr = model.rvs_to_transforms[rv]
        if constrained and tr is not None:
            val = np.asarray(tr.forward(pt.as_tensor(val)).eval())
        if val.shape != np.shape(point[name]):
            try:
                val = np.broadcast_to(val, np.shape(point[name])).copy()
            except ValueError:
                raise ValueError(f"start: {rv.name!r} has shape {np.shape(point[name])}, got an array of shape {val.shape}") from None
        if not np.all(np.isfinite(val)):
            raise ValueError(f"start: {rv.name!r} must be finite (on the unconstrained space), got {val}")
        point[name] = val
    return point


class Approximation:
    """Base of the approximating families (see :class:`MeanField`, :class:`FullRank`).

    Called itself with a list of groups, ``Approximation([pm.Group([...], vfam="fr"),
    pm.Group(None, vfam="mf")])``, it builds a mixed-family
    :class:`~symvi.variational.groups.GroupApproximation` (as PyMC's OPVI).
    """

    def __new__(cls, *args, **kwargs):
        if cls is Approximation:  # pm.Approximation(groups): the block-structured Gaussian
            # (found among the subclasses: groups.py sits above this module and registers it)
            built = [c for c in Approximation.__subclasses__() if getattr(c, "builds_from_groups", False)]
            if not built:
                raise TypeError("Approximation(groups) needs symvi.variational.groups (import symvi first)")
            return super().__new__(built[0])
        return super().__new__(cls)

    def __init__(self, model=None, start: dict | None = None, random_seed=None):
        self.model = modelcontext(model, who=type(self).__name__)
        _check_model(self.model)
        point = self.model.initial_point()
        if start:
            point = self._apply_start(point, start)
        self.layout = Layout(self.model, point)
        self.dtype = self.layout.dtype
        self.rng = new_rng(random_seed)
        #: seeds the fit loop's other generators (Minibatch indices) when ``random_seed`` is
        #: given, so that a seeded minibatch fit repeats exactly, as in PyMC
        seeded = random_seed is not None and not isinstance(random_seed, np.random.Generator | np.random.BitGenerator)
        self.data_seed = seed_sequence(random_seed).spawn(1)[0] if seeded else None
        self._start = self.layout.ravel(point)
        #: a start point or start sigmas were given (default fits then start there, not at a
        #: Pathfinder Gaussian: :mod:`symvi.variational.warmstart`)
        self.given_start = bool(start)
        self._samplers: dict = {}
        self.hist = np.array([])
        #: divide the objective by total_size / batch_size for minibatch models (as PyMC);
        #: read when the fit's step is built
        self.scale_cost_to_minibatch = True

    def _apply_start(self, point, start):
        return apply_start(self.model, point, start)

    def _start_sigmas(self, start_sigma):
        """``[(slice, flat positive values)]`` for ``start_sigma`` (names of free variables)."""
        out = []
        for name, (val, _) in _resolve_keys(self.model, start_sigma, "start_sigma").items():
            k = self.layout.names.index(name)
            val = np.asarray(val, dtype="float64")
            if not np.all((val > 0) & np.isfinite(val)):
                raise ValueError(f"start_sigma: {name!r} must be positive and finite, got {val}")
            try:
                val = np.broadcast_to(val, self.layout.shapes[k])
            except ValueError:
                raise ValueError(f"start_sigma: {name!r} has shape {self.layout.shapes[k]}, got an array of shape {val.shape}") from None
            out.append((self.layout.slices[k], val.ravel()))
        return out

    # ---- interface of each family
    shared_params: dict

    def draw_from_noise(self, eps):  # eps (..., D) standard normal -> q draws
        raise NotImplementedError  # abstract

    def entropy(self):
        raise NotImplementedError  # abstract

    @property
    def mean(self):
        return self.shared_params["mu"]

    @property
    def std(self):
        raise NotImplementedError  # abstract

    @property
    def cov(self):
        raise NotImplementedError  # abstract

    @property
    def ndim(self) -> int:
        return self.layout.size

    @property
    def ordering(self) -> dict:
        """``{value variable name: (name, slice, shape, dtype)}``: where each variable lives in
        the flat vector q is over (as PyMC's ``approx.ordering``).

        Examples
        --------
        >>> import symvi as pm
        >>> with pm.Model():
        ...     s = pm.HalfNormal("s", 1)
        ...     x = pm.Normal("x", 0, 1, shape=2)
        ...     q = pm.MeanField()
        >>> q.ordering["x"][1:3]
        (slice(1, 3, None), (2,))
        """
        lay = self.layout
        return {n: (n, sl, sh, lay.dtype) for n, sl, sh in zip(lay.names, lay.slices, lay.shapes)}

    def random(self, size=None):
        """Symbolic draws from q: shape (D,) or (size, D); fresh on every compiled call."""
        shape = (self.ndim,) if size is None else (size, self.ndim)
        return self.draw_from_noise(pt.random.normal(0.0, 1.0, size=shape, rng=self.rng, dtype=self.dtype))

    @abc.abstractmethod  # marks "no density" for diagnostics (the class is not an ABC)
    def logq(self, z):
        """Log density of q at flat points ``z`` (..., D)."""
        raise NotImplementedError  # abstract

    def sample_node(self, node, size=None, deterministic=False, more_replacements=None):
        """``node`` (a graph over model variables) evaluated at draws from q.

        ``size`` (None, int or integer scalar tensor) adds a leading axis of draws;
        ``deterministic`` (bool or shared bool) uses q's mean; ``more_replacements`` are
        applied to ``node`` first.  Each evaluation gives fresh draws.

        Examples
        --------
        >>> import symvi as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 0.34, 1)
        ...     q = pm.MeanField()
        >>> float(q.sample_node(2 * x, deterministic=True).eval())
        0.68
        """
        from symvi.variational.nodes import sample_node

        return sample_node(self, node, size=size, deterministic=deterministic, more_replacements=more_replacements)

    def diagnose(self, draws: int = 1000, random_seed=None):
        """Can this approximation be trusted?  PSIS k-hat, ELBO and ESS from ``draws`` draws of q.

        See :func:`symvi.variational.diagnostics.diagnose`.

        Examples
        --------
        >>> import symvi as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 0, 1)
        ...     q = pm.MeanField(start_sigma={"x": 1.2})
        >>> q.diagnose(random_seed=0).reading
        'good'
        """
        from symvi.variational.diagnostics import diagnose

        return diagnose(self, draws=draws, random_seed=random_seed)

    # ---- state
    def save(self, path) -> Path:
        """Write a checkpoint (parameters, history, optimizer state) to ``path`` (``.npz``).

        :func:`symvi.load` reads it back; refining after the load continues the fit exactly.
        See :mod:`symvi.variational.checkpoint`.

        Examples
        --------
        >>> import symvi as pm
        >>> with pm.Model():
        ...     x = pm.Normal("x", 0, 1)
        ...     approx = pm.fit(20, random_seed=0, progressbar=False)
        >>> approx.save("/tmp/symvi-doctest-save").name
        'symvi-doctest-save.npz'
        """
        from symvi.variational.checkpoint import save

        return save(self, path)

    def get_params(self) -> dict:
        return {k: v.get_value().copy() for k, v in self.shared_params.items()}

    def set_params(self, values: dict) -> None:
        for k, v in values.items():
            if k not in self.shared_params:
                raise KeyError(f"set_params: {k!r} is not a parameter of {type(self).__name__}; expected {sorted(self.shared_params)}")
            old = self.shared_params[k].get_value(borrow=True)
            v = np.asarray(v, dtype=old.dtype)
            if v.shape != old.shape:
                raise ValueError(f"set_params: {k!r} has shape {old.shape}, got an array of shape {v.shape}")
            self.shared_params[k].set_value(v)

    # ---- summaries
    def _dataset(self, flat):
        from symvi.lazy_imports import xarray

        xr = xarray()  # imported at first use, its dask probe deferred

        model = self.model
        data = {}
        for name, arr in self.layout.unravel(flat).items():
            rv = next(r for r in model.free_RVs if model.rvs_to_values[r].name == name)
            dims = model.named_vars_to_dims.get(rv.name)
            if dims is None or arr.ndim != len(dims):
                dims = tuple(f"{name}_dim_{i}" for i in range(arr.ndim))
                coords = {}
            else:
                coords = {d: list(model.coords[d]) for d in dims if model.coords.get(d) is not None}
            data[name] = xr.DataArray(arr, dims=dims, coords=coords)
        return xr.Dataset(data)

    @property
    def mean_data(self) -> xr.Dataset:
        """Mean of q per value variable (unconstrained space), with the model's coords."""
        return self._dataset(np.asarray(self.mean.eval()))

    @property
    def std_data(self) -> xr.Dataset:
        """Standard deviation of q per value variable (unconstrained space)."""
        return self._dataset(np.asarray(self.std.eval()))

    # ---- draws in the model's space
    def _build_sampler(self, backend=None, static_draws=None):
        model = self.model
        n = pt.iscalar("draws")
        theta = self.layout.vector()
        rvs = list(model.free_RVs)
        dets = list(model.deterministics)
        outs = self.layout.expression(rvs + dets, theta) + [theta]  # the flat draws come back too
        batched = vectorize_graph(outs, {theta: self.random(n if static_draws is None else static_draws)})
        mode = ONE_SHOT_MODE if backend is None else get_mode(backend)
        return compile_fn([n], batched, mode=mode), [v.name for v in rvs + dets]

    def sample(
        self,
        draws: int = 500,
        random_seed=None,
        return_inferencedata: bool = True,
        backend: str | None = None,
        resample: str | None = None,
        log_likelihood: bool = False,
    ):
        """Draws of every free variable (constrained) and Deterministic under q.

        Returns ``arviz.InferenceData`` (posterior with chain=1, plus observed/constant data),
        or with ``return_inferencedata=False`` a :class:`symvi.variational.trace.Draws`: a dict
        of ``(draws, ...)`` arrays that also indexes like PyMC's trace (``draws[i]`` is the
        i-th draw as a point, ``len(draws)`` the number of draws, ``draws["x_log__"]`` the
        unconstrained values).  ``resample="psis"`` returns
        draws importance-resampled with Pareto-smoothed weights p/q instead (closer to the
        posterior where q is off; see :func:`symvi.variational.diagnostics.resample_draws`).
        ``log_likelihood=True`` adds the pointwise ``log_likelihood`` group (for ``az.loo``,
        ``az.waic``, ``az.compare``; see :func:`symvi.compute_log_likelihood`).
        """
        if not isinstance(draws, int | np.integer) or isinstance(draws, bool) or draws < 1:
            raise ValueError(f"sample: draws must be a positive integer, got {draws!r}")
        if log_likelihood and not return_inferencedata:
            raise ValueError("sample: log_likelihood=True needs return_inferencedata=True (the group is part of InferenceData)")
        if log_likelihood:
            from symvi.log_likelihood import compute_log_likelihood

            idata = self.sample(draws, random_seed=random_seed, backend=backend, resample=resample)
            return compute_log_likelihood(idata, model=self.model)
        if resample is not None:
            from symvi.variational.diagnostics import resample_draws

            return resample_draws(self, int(draws), method=resample, random_seed=random_seed, return_inferencedata=return_inferencedata)
        backend = None if backend is None else resolve_backend(backend)
        key = (backend, int(draws) if backend is not None and fixed_length_loops(backend) else None)
        if key not in self._samplers:  # backend None: Python linker, compiles in milliseconds
            self._samplers[key] = self._build_sampler(*key)
        fn, names = self._samplers[key]
        if random_seed is not None:
            saved = self.rng.get_value()
            reseed_rngs([self.rng], random_seed)
        try:
            values = fn(int(draws))
        finally:
            if random_seed is not None:
                self.rng.set_value(saved)
        result = {n: np.asarray(v) for n, v in zip(names, values)}
        if not return_inferencedata:
            from symvi.variational.trace import Draws

            return Draws(result, values=self.layout.unravel(np.asarray(values[-1])))
        from symvi.sampling import data_groups, to_inference_data

        return to_inference_data({"posterior": result, **data_groups(self.model)}, self.model, add_chain_dim=True)


@checkpointable
class MeanField(Approximation):
    """Independent Gaussians: ``q(z) = N(mu, diag(softplus(rho)^2))``.

    ``start_sigma`` sets the initial standard deviations (unconstrained space).
    """

    supports_path_derivative = True  # reparameterised draws, exact logq: default fits may use both (objective.default_kl_loss)

    def __init__(self, model=None, start=None, start_sigma=None, random_seed=None):
        super().__init__(model, start, random_seed)
        rho = np.zeros(self.ndim, dtype=self.dtype)
        self.given_start = self.given_start or bool(start_sigma)
        if start_sigma:
            for sl, val in self._start_sigmas(start_sigma):
                rho[sl] = np.log(np.expm1(val))
        self.shared_params = {
            "mu": pytensor.shared(self._start.copy(), name="mu"),
            "rho": pytensor.shared(rho, name="rho"),
        }

    @property
    def std(self):
        return pt.softplus(self.shared_params["rho"])

    @property
    def cov(self):
        return pt.diag(self.std**2)

    def draw_from_noise(self, eps):
        return self.mean + self.std * eps

    def entropy(self):
        return pt.sum(pt.log(self.std)) + 0.5 * self.ndim * (1.0 + LOG_2PI)

    def logq(self, z):
        s = self.std
        return pt.sum(-0.5 * ((z - self.mean) / s) ** 2 - pt.log(s) - 0.5 * LOG_2PI, axis=-1)


@checkpointable
class FullRank(Approximation):
    """Correlated Gaussian: ``q(z) = N(mu, L L^T)`` with ``L`` lower-triangular."""

    supports_path_derivative = True

    def __init__(self, model=None, start=None, start_sigma=None, random_seed=None):
        super().__init__(model, start, random_seed)
        d = self.ndim
        check_fullrank_fits(d)  # before the d(d+1)/2 entries are allocated
        diag = np.ones(d, dtype=self.dtype)
        self.given_start = self.given_start or bool(start_sigma)
        if start_sigma:
            for sl, val in self._start_sigmas(start_sigma):
                diag[sl] = val
        packed = np.zeros(d * (d + 1) // 2, dtype=self.dtype)
        rows = np.arange(d)
        packed[rows * (rows + 3) // 2] = diag  # (i, i) is entry i(i+1)/2 + i of the row-major triangle
        rows, cols = np.tril_indices(d)
        flat = rows.astype(np.int32 if d * d < 2**31 else np.int64) * d + cols
        del rows, cols
        # positions of the triangle in the flattened d x d matrix, as a graph input: a constant
        # index array is walked element by element by pytensor's indexing and baked into compiled code
        self._tril_flat = pytensor.shared(flat, name="L_tril_positions")
        self.shared_params = {
            "mu": pytensor.shared(self._start.copy(), name="mu"),
            "L_tril": pytensor.shared(packed, name="L_tril"),
        }

    @property
    def L(self):
        d = self.ndim
        packed = self.shared_params["L_tril"]
        return pt.set_subtensor(pt.zeros((d * d,), dtype=packed.dtype)[self._tril_flat], packed).reshape((d, d))

    @property
    def cov(self):
        L = self.L
        return L @ L.T

    @property
    def std(self):
        return pt.sqrt(pt.sum(self.L**2, axis=1))

    def draw_from_noise(self, eps):
        return self.mean + eps @ self.L.T

    def entropy(self):
        return pt.sum(pt.log(pt.abs(pt.diag(self.L)))) + 0.5 * self.ndim * (1.0 + LOG_2PI)

    def logq(self, z):
        L = self.L
        diff = z - self.mean
        sol = pt.linalg.solve_triangular(L, diff.T, lower=True).T if diff.ndim > 1 else pt.linalg.solve_triangular(L, diff, lower=True)
        return -0.5 * pt.sum(sol**2, axis=-1) - pt.sum(pt.log(pt.abs(pt.diag(L)))) - 0.5 * self.ndim * LOG_2PI


def sample_approx(approx: Approximation, draws: int = 100, random_seed=None, **kwargs):
    """Draws from a fitted approximation (PyMC's ``pm.sample_approx``): ``approx.sample(...)``.

    Returns ``arviz.InferenceData``; the other keyword arguments are those of
    :meth:`Approximation.sample` (``return_inferencedata``, ``backend``, ``resample``).

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     approx = pm.fit(100, random_seed=1, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.1))
    >>> pm.sample_approx(approx, draws=50, random_seed=2).posterior["x"].shape
    (1, 50)
    """
    return approx.sample(draws, random_seed=random_seed, **kwargs)
