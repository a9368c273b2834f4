"""Censored(dist, lower, upper): values of ``dist`` clipped to [lower, upper].

A censored observation at a bound carries the whole tail mass beyond it: the log
likelihood is ``log F(lower)`` at ``lower``, ``log P(X >= upper)`` at ``upper`` (``1 - F(upper)``
for a continuous base, ``1 - F(upper - 1)`` for a discrete one) and the base density in
between.  Draws are base draws clipped to the bounds.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     mu = pm.Normal("mu", 0, 1)
...     y = pm.Censored("y", pm.Normal.dist(mu, 1), lower=-1, upper=1, observed=np.array([-1.0, 0.2, 1.0]))
>>> x = pm.Censored.dist(pm.Normal.dist(0.0, 1.0), lower=None, upper=0.0)
>>> round(float(pm.logp(x, 0.0).eval()), 4)  # log P(X >= 0) = log 1/2
-0.6931
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from symvi.distributions.base import Distribution, dist_info
from symvi.distributions.truncated import base_info, base_logcdf, build_wrapped

__all__ = ["Censored"]


class Censored(Distribution):
    """Censored(dist, lower=None, upper=None): ``dist`` with values beyond a bound recorded at it.

    ``dist`` is an unregistered univariate variable (``pm.Normal.dist(mu, sigma)``); a finite
    bound needs the distribution's ``logcdf``.  ``None`` (or an infinite bound) leaves that
    side uncensored.  Meant mostly for observed data; as a latent variable it has no
    default transform.

    Examples
    --------
    >>> import symvi as pm
    >>> x = pm.Censored.dist(pm.Poisson.dist(2.0), lower=None, upper=3)
    >>> round(float(pm.logp(x, 3).eval()), 4)  # log P(X >= 3), scipy: log(poisson(2).sf(2))
    -1.1291
    """

    params = ("dist", "lower", "upper")
    support = "[lower, upper] within the support of dist"

    @classmethod
    def dist(cls, dist, lower=None, upper=None, *, shape=None, size=None, _label: str | None = None):
        label = _label or f"{cls.__name__}.dist"
        who = f"{cls.__name__} {label}"
        info = base_info(dist, who)
        if (lower is not None or upper is not None) and info.cls.logcdf is None:
            raise TypeError(f"{who}: {info.cls.__name__} has no logcdf, so it cannot be censored")
        target = DiscreteCensored if info.cls.discrete else cls
        return build_wrapped(target, dist, lower, upper, shape, size, label, who)

    @classmethod
    def rv_graph(cls, params, size, rng):
        dist, lower, upper = params["dist"], params["lower"], params["upper"]
        info = dist_info(dist)
        if size is None:
            size = pt.broadcast_shape(dist, lower, upper)
            size = size if size else None
        draws = info.cls.rv_graph(info.params, size, rng)
        return pt.clip(draws, lower, upper).astype(draws.dtype)

    @staticmethod
    def logp(value, dist, lower, upper):
        info = dist_info(dist)
        value = pt.as_tensor_variable(value)
        inside = info.logp(value)
        at_lower, at_upper = pt.eq(value, lower), pt.eq(value, upper)
        lo_fin, up_fin = pt.isfinite(lower), pt.isfinite(upper)
        out = inside
        if info.cls.logcdf is not None:
            lower_mass = base_logcdf(info, pt.switch(lo_fin, lower, 0.0))
            upper_arg = upper - 1 if info.cls.discrete else upper
            upper_mass = pt.log1mexp(pt.minimum(base_logcdf(info, pt.switch(up_fin, upper_arg, 0.0)), 0.0))
            out = pt.switch(pt.and_(at_lower, lo_fin), lower_mass, pt.switch(pt.and_(at_upper, up_fin), upper_mass, inside))
        return pt.switch(pt.or_(pt.lt(value, lower), pt.gt(value, upper)), -np.inf, out)

    @classmethod
    def support_point(cls, rv, dist, lower, upper):
        info = dist_info(dist)
        return pt.clip(info.cls.support_point(dist, **info.params), lower, upper)


class DiscreteCensored(Censored):
    """A :class:`Censored` discrete distribution (chosen by ``Censored.dist``)."""

    discrete = True
    support = "integers in [lower, upper] within the support of dist"
