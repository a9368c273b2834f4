"""Finite mixtures of scalar-support distributions.

Design
------
``Mixture(name, w, comp_dists)`` takes its components as unregistered ``Dist.dist(...)``
variables, in one of two forms:

* a single variable whose *last axis* indexes the K components (``Normal.dist(mu=[-1, 1])``),
  the mixture then has the component's shape without that axis;
* a list of K variables (possibly of different families); the mixture has their broadcast
  shape.

The component variables serve only as descriptions: their ``dist_info`` (class + parameters)
gives the component log densities and the recipe for fresh component draws.  The mixture's
``DistInfo.params`` is ``{"w": tensor, "comp_dists": <the variable or a tuple of them>}`` -
the one place where a ``params`` value is not a tensor - and ``DistInfo.extra`` repeats the
components as a tuple (``extra["components"]``) together with ``extra["stacked"]`` (True for
the single-variable form).  The log density is

    logp(x) = logsumexp_k( log w_k + logp_k(x) )

and a draw picks a component index from Categorical(w) and takes that component's draw.
Only components with scalar support (``ndim_supp == 0``) are supported.  The default transform
is ``log`` when every component's default transform is ``log`` (positive support) and none
otherwise.  A mixture of discrete components is a :class:`DiscreteMixture` (``discrete=True``).

Examples
--------
>>> import numpy as np, symvi as sv
>>> with sv.Model() as m:
...     x = sv.NormalMixture("x", w=np.array([0.2, 0.8]), mu=np.array([-0.3, 0.5]),
...                          sigma=np.array([0.1, 0.1]))
>>> x.ndim
0
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable

from symvi import transforms
from symvi.distributions.base import Distribution, DistInfo, dist_info
from symvi.distributions.dist_math import batch_dims, size_vector
from symvi.distributions.unbounded import Normal
from symvi.pytensorf import as_tensor, new_rng

__all__ = ["Mixture", "NormalMixture"]

_W_TOL = 1e-5


def _valid_weights(w):
    """Non-negative and summing to one along the last (component) axis; numpy or pytensor."""
    return (w >= 0).all(axis=-1) & (abs(w.sum(axis=-1) - 1) <= _W_TOL)


def _components(comp_dists, who):
    """(tuple of component variables, stacked?) after validation."""
    stacked = isinstance(comp_dists, Variable)
    comps = (comp_dists,) if stacked else tuple(comp_dists) if isinstance(comp_dists, list | tuple) else None
    if not comps:
        raise TypeError(
            f"{who}: comp_dists must be a Dist.dist(...) variable with a trailing component axis "
            f"or a non-empty list of them, got {type(comp_dists).__name__}"
        )
    for i, c in enumerate(comps):
        info = dist_info(c)
        if info is None:
            raise TypeError(f"{who}: component {i} is not a symvi distribution; build it with Dist.dist(...)")
        if c.name is not None:
            raise ValueError(
                f"{who}: component {i} is the registered model variable {c.name!r}; "
                "pass an unregistered Dist.dist(...) instead"
            )
        if info.cls.ndim_supp != 0:
            raise TypeError(f"{who}: only scalar-support components are supported, got {info.cls.__name__}")
    if stacked and comps[0].ndim < 1:
        raise ValueError(f"{who}: a single component distribution needs a trailing component axis (it is a scalar)")
    return comps, stacked


def _logsumexp_last(x):
    """Stable log-sum-exp over the last axis (-inf when every entry is -inf)."""
    m = pt.max(x, axis=-1, keepdims=True)
    m = pt.switch(pt.isinf(m), 0.0, m)
    return pt.log(pt.sum(pt.exp(x - m), axis=-1)) + m[..., 0]


class Mixture(Distribution):
    """Mixture(w, comp_dists): weights ``w`` (last axis = components) over ``comp_dists``.

    See the module docstring for the two forms of ``comp_dists`` and the design.
    """

    support = "the union of the components' supports"
    params = ("w", "comp_dists")
    checks = [(("w",), _valid_weights, "non-negative and summing to 1 along the last axis")]

    @classmethod
    def parametrize(cls, w, comp_dists):
        return {"w": w, "comp_dists": comp_dists}

    @classmethod
    def dist(cls, w, comp_dists, *, shape=None, size=None, _label: str | None = None):
        label = _label or f"{cls.__name__}.dist"
        comps, stacked = _components(comp_dists, f"{cls.__name__} {label}")
        params = {"w": as_tensor(w, name=f"{label}: parameter w"), "comp_dists": comps[0] if stacked else comps}
        if params["w"].ndim < 1:
            raise ValueError(f"{cls.__name__} {label}: w needs a trailing component axis, got a scalar")
        n_comp = len(comps) if not stacked else None
        if n_comp is not None and params["w"].type.shape[-1] not in (None, n_comp):
            raise ValueError(
                f"{cls.__name__} {label}: w has {params['w'].type.shape[-1]} components, comp_dists has {n_comp}"
            )
        cls._check_constant_params({"w": params["w"]}, label)
        if shape is not None:
            shape = tuple(np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
            size = shape
        if size is not None and not isinstance(size, Variable):
            size = tuple(int(s) for s in np.atleast_1d(size))
        target = cls
        if cls is Mixture and all(dist_info(c).cls.discrete for c in comps):
            target = DiscreteMixture
        rv = target.rv_graph(params, size, new_rng())
        if shape is not None and all(isinstance(s, int | np.integer) for s in shape):
            rv = pt.specify_shape(rv, tuple(int(s) for s in shape))
        rv.tag.symvi = DistInfo(target, params, extra={"components": comps, "stacked": stacked})
        return rv

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _unpack(comp_dists):
        if isinstance(comp_dists, Variable):
            return (comp_dists,), True
        return tuple(comp_dists), False

    @classmethod
    def rv_graph(cls, params, size, rng):
        w = pt.as_tensor_variable(params["w"]).astype(pytensor.config.floatX)
        comps, stacked = cls._unpack(params["comp_dists"])
        if size is not None:
            batch = size_vector(size) if not isinstance(size, Variable) else size.astype("int64")
        else:
            # static lengths as ints, so a known length 1 broadcasts (see batch_dims)
            shapes = [batch_dims(w, 1)]
            shapes += [batch_dims(comps[0], 1)] if stacked else [batch_dims(c) for c in comps]
            batch = size_vector(pt.broadcast_shape(*shapes, arrays_are_shapes=True))
        # Fresh component draws of the full batch shape (independent across batch entries).
        if stacked:
            info = dist_info(comps[0])
            n_comp = comps[0].shape[-1]
            comp_size = pt.concatenate([batch, pt.stack([n_comp]).astype("int64")])
            draws = info.cls.rv_graph(info.params, comp_size, new_rng())
        else:
            parts = [dist_info(c).cls.rv_graph(dist_info(c).params, batch, new_rng()) for c in comps]
            draws = pt.stack(parts, axis=-1)
        idx = rb.categorical(w / pt.sum(w, axis=-1, keepdims=True), size=batch, rng=rng)
        return pt.take_along_axis(draws, idx[..., None], axis=-1)[..., 0]

    # ------------------------------------------------------------------ density
    @classmethod
    def component_logps(cls, value, comp_dists):
        """Per-component log densities, components on a new trailing axis."""
        comps, stacked = cls._unpack(comp_dists)
        value = pt.as_tensor_variable(value)
        if stacked:
            return dist_info(comps[0]).logp(value[..., None])
        lps = [dist_info(c).logp(value) for c in comps]
        return pt.stack(pt.broadcast_arrays(*lps), axis=-1)

    @classmethod
    def logp(cls, value, w, comp_dists):
        lp = pt.log(pt.as_tensor_variable(w).astype(pytensor.config.floatX)) + cls.component_logps(value, comp_dists)
        return _logsumexp_last(lp)

    @classmethod
    def default_transform(cls, params):
        comps, _ = cls._unpack(params["comp_dists"])
        trs = [dist_info(c).cls.default_transform(dist_info(c).params) for c in comps]
        return transforms.log if all(t is transforms.log for t in trs) else None

    @classmethod
    def support_point(cls, rv, w, comp_dists):
        """The w-weighted mean of the components' support points."""
        comps, stacked = cls._unpack(comp_dists)
        points = [pt.broadcast_to(dist_info(c).cls.support_point(c, **dist_info(c).params), c.shape) for c in comps]
        pts = points[0] if stacked else pt.stack(pt.broadcast_arrays(*points), axis=-1)
        point = pt.sum(pt.as_tensor_variable(w).astype(pytensor.config.floatX) * pts.astype(pytensor.config.floatX), axis=-1)
        if cls.discrete:
            point = pt.round(point)
        return pt.broadcast_to(point, rv.shape).astype(rv.dtype)


class DiscreteMixture(Mixture):
    """A :class:`Mixture` whose components are all discrete (chosen by ``Mixture.dist``)."""

    discrete = True
    support = "the union of the components' supports (integers)"


class NormalMixture(Mixture):
    """NormalMixture(w, mu, sigma) or NormalMixture(w, mu, tau=precision).

    Components live on the last axis of ``w``, ``mu`` and ``sigma``; the variable has their
    broadcast shape without that axis (a scalar for 1-d parameters).
    """

    support = "real"

    @classmethod
    def dist(cls, w, mu, sigma=None, *, tau=None, shape=None, size=None, _label: str | None = None):
        label = _label or f"{cls.__name__}.dist"
        comps = Normal.dist(mu=mu, sigma=sigma, tau=tau, _label=f"{label} (components)")
        return super().dist(w, comps, shape=shape, size=size, _label=label)
