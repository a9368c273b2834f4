"""``Empirical``: an approximation made of particles (points) in the flat unconstrained space.

The particles live in one shared matrix ``histogram`` of shape (n_particles, D), where D is
the size of the flattened unconstrained space (see :class:`~symvi.variational.approximations.Layout`).
Its moments are the particles' sample moments and a draw picks particles uniformly at random.
SVGD moves the particles; an ``Empirical`` can also be built from an existing trace.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     s = pm.HalfNormal("s", 1.0)
...     approx = pm.Empirical(trace={"s": np.array([0.5, 1.0, 2.0])}, random_seed=0)
>>> approx.histogram.get_value().shape
(3, 1)
>>> bool(np.allclose(np.exp(approx.histogram.get_value()[:, 0]), [0.5, 1.0, 2.0]))
True
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace, vectorize_graph

from symvi.pytensorf import ONE_SHOT_MODE, compile_fn
from symvi.variational.approximations import Approximation, _resolve_keys
from symvi.variational.checkpoint import checkpointable

__all__ = ["Empirical"]


def _trace_arrays(trace) -> dict[str, np.ndarray]:
    """``{name: (n_draws, *shape) array}`` from InferenceData, a Dataset or a dict of arrays."""
    posterior = getattr(trace, "posterior", None)
    if posterior is not None:
        trace = posterior
    if hasattr(trace, "data_vars"):  # xarray Dataset with (chain, draw, ...) variables
        out = {}
        for name, da in trace.data_vars.items():
            arr = np.asarray(da.values)
            lead = [d for d in ("chain", "draw") if d in da.dims]
            out[name] = arr.reshape((-1,) + arr.shape[len(lead) :]) if lead else arr
        return out
    if isinstance(trace, Mapping):
        return {k: np.asarray(v) for k, v in trace.items()}
    raise TypeError(f"Empirical: trace must be InferenceData, an xarray Dataset or a dict of arrays, got {type(trace).__name__}")


@checkpointable
class Empirical(Approximation):
    """Particle approximation ``q = (1/n) sum_i delta(z - z_i)`` over the unconstrained space.

    Parameters
    ----------
    trace : InferenceData, xarray Dataset or dict, optional
        Draws of the free variables; random-variable names are on the constrained space
        (transformed forward here), value-variable names (``s_log__``) on the unconstrained
        one.  Chains and draws are pooled into particles.  Without a trace, ``size``
        particles start at the model's initial point (or ``start``) plus ``jitter`` * N(0, 1).
    size : number of particles when there is no trace.
    jitter : scale of the Gaussian noise added to the starting particles.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1, shape=2)
    ...     approx = pm.Empirical(size=50, jitter=1.0, random_seed=1)
    >>> approx.histogram.get_value().shape, approx.sample(10).posterior["x"].shape
    ((50, 2), (1, 10, 2))
    """

    noise = "uniform"  # fresh draws are made from uniforms (see symvi.variational.nodes)

    def __init__(
        self,
        trace=None,
        size: int | None = None,
        jitter: float = 0.0,
        model=None,
        start: dict | None = None,
        random_seed=None,
    ):
        super().__init__(model, start, random_seed)
        if trace is not None:
            if size is not None or start:
                raise TypeError("Empirical: give either trace= or size=/start=, not both")
            particles = self._from_trace(trace)
        else:
            if size is None:
                size = 100
            if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
                raise ValueError(f"Empirical: size (number of particles) must be a positive integer, got {size!r}")
            if not np.isfinite(jitter) or jitter < 0:
                raise ValueError(f"Empirical: jitter must be a finite non-negative number, got {jitter!r}")
            gen = np.random.default_rng(self.rng.get_value().integers(2**63))
            particles = np.tile(self._start, (int(size), 1)) + float(jitter) * gen.standard_normal((int(size), self.ndim))
        particles = np.ascontiguousarray(particles, dtype=self.dtype)
        self.histogram = pytensor.shared(particles, name="histogram")
        self.shared_params = {"histogram": self.histogram}

    # ---- construction from draws
    def _from_trace(self, trace) -> np.ndarray:
        model = self.model
        arrays = _trace_arrays(trace)
        rv_names = {rv.name for rv in model.free_RVs}
        value_names = {model.rvs_to_values[rv].name for rv in model.free_RVs}
        wanted = {k: v for k, v in arrays.items() if k in rv_names or k in value_names}
        resolved = _resolve_keys(model, wanted, "trace")
        missing = [n for n in self.layout.names if n not in resolved]
        if missing:
            raise KeyError(f"Empirical: trace has no draws of {missing} (give them by variable name)")
        n_draws = {np.shape(resolved[n][0])[0] if np.ndim(resolved[n][0]) else 0 for n in self.layout.names}
        if len(n_draws) != 1 or 0 in n_draws:
            raise ValueError(f"Empirical: every variable in trace needs the same number of draws (leading axis), got {sorted(n_draws)}")
        n = n_draws.pop()
        rv_of = {model.rvs_to_values[rv].name: rv for rv in model.free_RVs}
        # one graph: constrained placeholders -> unconstrained values, batched over draws
        holders = {rv: rv.type() for rv in model.free_RVs}
        unconstrained = {}
        for name in self.layout.names:
            arr, constrained = resolved[name]
            rv = rv_of[name]
            tr = model.rvs_to_transforms[rv]
            if constrained and tr is not None:
                unconstrained[name] = tr.forward(rv)
        flat = np.empty((n, self.ndim))
        if unconstrained:
            outs = graph_replace(list(unconstrained.values()), holders, strict=False)
            batched = {h: pt.tensor(dtype=h.dtype, shape=(None,) + h.type.shape) for h in holders.values()}
            outs = vectorize_graph(outs, dict(zip(holders.values(), batched.values())))
            fn = compile_fn(list(batched.values()), outs, mode=ONE_SHOT_MODE)
            inputs = []
            for rv, h in holders.items():
                arr, constrained = resolved[model.rvs_to_values[rv].name]
                inputs.append(np.asarray(arr, dtype=h.dtype) if constrained else np.zeros((n,) + tuple(np.shape(arr)[1:]), dtype=h.dtype))
            values = dict(zip(unconstrained, fn(*inputs)))
        else:
            values = {}
        for name, sl, shape in zip(self.layout.names, self.layout.slices, self.layout.shapes):
            arr = values.get(name, resolved[name][0])
            arr = np.asarray(arr, dtype="float64")
            if arr.shape[1:] != shape:
                raise ValueError(f"Empirical: draws of {name!r} have shape {arr.shape[1:]}, the model's value has shape {shape}")
            flat[:, sl] = arr.reshape(n, -1)
        if not np.all(np.isfinite(flat)):
            raise ValueError("Empirical: the trace gives non-finite unconstrained values (draws outside the support?)")
        return flat

    def _checkpoint_kwargs(self) -> dict:
        return {"size": 1}  # a blank with one particle: a checkpoint's particles replace it

    # ---- moments and draws
    @property
    def n_particles(self) -> int:
        return int(self.histogram.get_value(borrow=True).shape[0])

    @property
    def mean(self):
        return pt.mean(self.histogram, axis=0)

    @property
    def cov(self):
        centred = self.histogram - self.mean
        return centred.T @ centred / self.histogram.shape[0].astype(self.histogram.dtype)

    @property
    def std(self):
        return pt.sqrt(pt.mean((self.histogram - self.mean) ** 2, axis=0))

    def draw_from_noise(self, u):
        """Particles picked by uniforms ``u`` in [0, 1): shape ``u.shape + (D,)``."""
        n = self.histogram.shape[0]
        idx = pt.minimum(pt.floor(u * n.astype(u.dtype)).astype("int64"), n - 1)
        return self.histogram[idx]

    def random(self, size=None):
        """Symbolic particles drawn uniformly at random: shape (D,) or (size, D)."""
        n = self.histogram.shape[0]
        idx = pt.random.integers(0, n, size=size, rng=self.rng)
        return self.histogram[idx]

    def entropy(self):
        raise TypeError("Empirical has no density: its entropy is not defined (use a MeanField, FullRank or LowRank q)")

    def logq(self, z):
        raise TypeError("Empirical has no density: logq is not defined (use a MeanField, FullRank or LowRank q)")
