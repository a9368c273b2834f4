"""EulerMaruyama: a scalar stochastic differential equation discretised in time, as in PyMC 5.

``dx = f(x, *pars) dt + g(x, *pars) dW`` becomes, with step ``dt``,
``x_{t+1} ~ Normal(x_t + f(x_t) dt, g(x_t) sqrt(dt))`` from ``x_0 ~ init_dist``.  ``sde_fn``
is a Python function of the PyTensor value ``x`` and the parameters returning ``(f, g)``.
The log density is vectorised over time (the transition densities of consecutive values);
the draw scans over Normal noise drawn up front (no random generator inside the loop).

Examples
--------
>>> import numpy as np, symvi as sv
>>> def ou(x, k):
...     return -k * x, 0.5
>>> x = sv.EulerMaruyama.dist(dt=0.1, sde_fn=ou, sde_pars=(2.0,), init_dist=sv.Normal.dist(0, 1), steps=4)
>>> sv.draw(x, random_seed=1).shape
(5,)
"""

from __future__ import annotations


import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import _widen, dist_info, positive
from symvi.distributions.dist_math import as_float, batch_dims
from symvi.distributions.timeseries import STEPS_CHECK, _batch, _component, _prepend, _TimeSeries, default_init_dist
from symvi.distributions.unbounded import Normal
from symvi.pytensorf import as_tensor, new_rng

__all__ = ["EulerMaruyama"]


def _pars(params: dict) -> list:
    return [params[k] for k in sorted((k for k in params if k.startswith("sde_par")), key=lambda k: int(k[7:]))]


class EulerMaruyama(_TimeSeries):
    """EulerMaruyama(dt, sde_fn, sde_pars, *, init_dist=None, steps=None): Euler-Maruyama
    discretisation of a scalar SDE (see the module docstring).

    ``dt > 0`` the time step; ``sde_fn(x, *sde_pars) -> (drift, diffusion)``; ``sde_pars`` a
    tuple of parameters (tensors or random variables; they broadcast against the batch axes);
    ``init_dist=None`` uses PyMC's default ``Normal.dist(0, 100)`` with PyMC's UserWarning.
    Shape ``(*batch, steps + 1)``; support: real series.
    """

    params = ("dt", "init_dist", "steps")
    support = "real series (..., steps + 1)"
    checks = [(("dt",), positive, "> 0"), STEPS_CHECK]
    sde_fn = None

    @classmethod
    def dist(cls, dt, sde_fn, sde_pars=(), *, init_dist=None, steps=None, shape=None, size=None, _label=None, _time_len=None):
        label = _label or f"{cls.__name__}.dist"
        who = f"{cls.__name__} {label}"
        if not callable(sde_fn):
            raise TypeError(f"{who}: sde_fn must be a function (x, *sde_pars) -> (drift, diffusion), got {type(sde_fn).__name__}")
        if not isinstance(sde_pars, tuple | list):
            raise TypeError(f"{who}: sde_pars must be a tuple of parameters, got {type(sde_pars).__name__}")
        shape = cls._shape_tuple(who, shape, size)
        steps = cls._steps(who, steps, shape, _time_len, 1)
        if init_dist is None:
            init_dist = default_init_dist(label)
        _component(init_dist, who, "init_dist", ndim_supp=(0,))
        names = tuple(f"sde_par{i}" for i in range(len(sde_pars)))
        # the function is part of the distribution: one subclass per sde_fn
        target = type(cls.__name__, (cls,), {"sde_fn": staticmethod(sde_fn), "params": cls.params + names})
        params = {"dt": dt, "init_dist": init_dist, "steps": steps}
        params.update({n: as_tensor(_widen(p), name=f"{label}: sde_pars[{i}]") for i, (n, p) in enumerate(zip(names, sde_pars))})
        return target._make(params, shape, size, label)

    @classmethod
    def _drift_diffusion(cls, x, params):
        f, g = cls.sde_fn(x, *_pars(params))
        return as_float(f), as_float(g)

    @classmethod
    def rv_graph(cls, params, size, rng):
        init, dt, steps = params["init_dist"], as_float(params["dt"]), params["steps"]
        pars = _pars(params)
        batch = _batch(size, batch_dims(init), *(batch_dims(p) for p in pars), batch_dims(dt))
        first = dist_info(init).cls.rv_graph(dist_info(init).params, batch, new_rng())
        first = as_float(pt.broadcast_to(first, tuple(batch[i] for i in range(batch.type.shape[0]))))
        noise = rb.normal(0.0, 1.0, size=_prepend(steps, batch), rng=rng)  # (S, *B)

        def step(z, x, *pars_):
            f, g = cls.sde_fn(x, *pars_)
            return (x + as_float(f) * dt + as_float(g) * pt.sqrt(dt) * z).astype(x.dtype)

        path = pytensor.scan(step, sequences=[noise], outputs_info=[first], non_sequences=pars, return_updates=False)
        walk = pt.concatenate([first[None], path], axis=0)  # (S + 1, *B)
        return pt.moveaxis(walk, 0, -1)

    @classmethod
    def logp(cls, value, dt, init_dist, steps, **pars):
        x = as_float(value)
        dt = as_float(dt)
        # time first, so that the parameters broadcast against the batch axes
        xt = pt.moveaxis(x, -1, 0)
        f, g = cls._drift_diffusion(xt[:-1], pars)
        trans = Normal.logp(xt[1:], xt[:-1] + f * dt, g * pt.sqrt(dt))
        return dist_info(init_dist).logp(xt[0]) + pt.sum(trans, axis=0)

    @classmethod
    def support_point(cls, rv, dt, init_dist, steps, **pars):
        start = pt.broadcast_to(as_float(dist_info(init_dist).cls.support_point(init_dist, **dist_info(init_dist).params)), rv.shape[:-1])
        return pt.broadcast_to(start[..., None], rv.shape)

    @classmethod
    def _offset(cls, params) -> int:
        return 1
