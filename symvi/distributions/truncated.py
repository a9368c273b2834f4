"""Truncated(dist, lower, upper): a univariate distribution restricted to [lower, upper].

The density is the base density divided by the mass the base puts on the bounds,
``F(upper) - F(lower)`` for a continuous base and ``F(upper) - F(lower - 1)`` for a discrete
one (so that ``lower`` itself is kept); ``F`` is the base's ``logcdf``, which every base must
have.  The mass is computed in log space from whichever side keeps its precision: from the
cdf when the lower bound sits in the lower half of the base, from the survival function
``1 - F = -expm1(log F)`` otherwise (both bounds far in the upper tail).

Draws are inverse-cdf draws where the base has an ``icdf``; for a continuous base truncated
in its upper tail (``F(lower)`` rounds to one) they are set on the survival function instead
and found by Newton steps on ``log S``.  Without an ``icdf`` they invert the cdf by bisection
between the bounds (both bounds must then be finite: a draw with an infinite bound raises
at run time, the log density is unaffected).  Known limit: a *discrete* base truncated where
``F(lower - 1)`` rounds to one (``P(X >= lower) < 1e-16``) draws ``lower`` only.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     mu = pm.Normal("mu", 0, 1)
...     y = pm.Truncated("y", pm.Normal.dist(mu, 1), lower=0, upper=2, observed=np.array([0.5, 1.5]))
>>> x = pm.Truncated.dist(pm.Poisson.dist(3.0), lower=1, upper=4, size=200)
>>> bool(((x.eval() >= 1) & (x.eval() <= 4)).all())
True
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable
from pytensor.raise_op import Assert

from symvi import transforms
from symvi.distributions.base import Distribution, DistInfo, _numeric, bound, dist_info
from symvi.distributions.dist_math import LOG_2, discrete_icdf_bisect
from symvi.pytensorf import as_tensor, new_rng

__all__ = ["Truncated"]


def _const(x, target) -> bool:
    v = _numeric(x)
    return v is not None and bool(np.all(v == target))


def base_info(dist, who: str):
    """The base variable's :class:`DistInfo`, checked to be a univariate symvi distribution."""
    info = dist_info(dist)
    if info is None:
        raise TypeError(f"{who}: dist must be a symvi distribution made with Dist.dist(...), got {type(dist).__name__}")
    if info.cls.ndim_supp != 0:
        raise TypeError(f"{who}: dist must be univariate, got {info.cls.__name__} (ndim_supp={info.cls.ndim_supp})")
    return info


def base_logcdf(info, value):
    """log F(value) of the base, -inf at value = -inf and 0 at +inf (also symbolic infinities)."""
    value = pt.as_tensor_variable(value)
    is_inf = pt.isinf(value)
    safe = pt.switch(is_inf, 0.0, value)
    lc = info.cls.logcdf(safe, **info.params)
    return pt.switch(is_inf, pt.switch(value > 0, 0.0, -np.inf), lc)


def log_mass(info, a, b):
    """log P(a < X <= b) for the base ``info`` (``a`` exclusive), accurate in both tails."""
    log_fa, log_fb = base_logcdf(info, a), base_logcdf(info, b)
    # from the cdf: F(b) (1 - F(a) / F(b))
    fb_zero = pt.isneginf(log_fb)
    ratio = pt.switch(fb_zero, -1.0, pt.minimum(log_fa - log_fb, 0.0))
    from_cdf = pt.switch(fb_zero, -np.inf, log_fb + pt.log1mexp(ratio))
    # from the survival function S = 1 - F, recovered as -expm1(log F): S(a) (1 - S(b) / S(a))
    log_sa, log_sb = pt.log1mexp(pt.minimum(log_fa, 0.0)), pt.log1mexp(pt.minimum(log_fb, 0.0))
    sa_zero = pt.isneginf(log_sa)
    ratio_s = pt.switch(sa_zero, -1.0, pt.minimum(log_sb - log_sa, 0.0))
    from_sf = pt.switch(sa_zero, -np.inf, log_sa + pt.log1mexp(ratio_s))
    upper_half = log_fa > -LOG_2
    out = pt.switch(upper_half, from_sf, from_cdf)
    return pt.switch(pt.ge(a, b), -np.inf, out)


def _lower_exclusive(info, lower):
    """The exclusive lower end of the mass: ``lower`` (continuous) or ``lower - 1`` (discrete)."""
    return lower - 1 if info.cls.discrete else lower


def _support_ends(info):
    """(lower, upper) ends of the base's support read from its default transform (None: open)."""
    tr = info.cls.default_transform(info.params)
    if tr is transforms.log:
        return pt.constant(0.0), None
    if tr is transforms.logodds:
        return pt.constant(0.0), pt.constant(1.0)
    if isinstance(tr, transforms.Interval):
        return tr.lower, tr.upper
    if isinstance(tr, transforms.LowerBound):
        return tr.lower, None
    if isinstance(tr, transforms.UpperBound):
        return None, tr.upper
    return None, None



def build_wrapped(target, dist, lower, upper, shape, size, label: str, who: str):
    """The variable of a wrapper (Truncated, Censored) around ``dist``: bounds as tensors
    (None -> -inf / +inf, NaN and lower >= upper rejected), ``shape``/``size`` resolved, the
    draw from ``target.rv_graph`` and its DistInfo."""
    fx = pytensor.config.floatX
    lower = lower if isinstance(lower, Variable) else as_tensor(np.asarray(-np.inf if lower is None else lower, dtype=fx), name=f"{label}: lower")
    upper = upper if isinstance(upper, Variable) else as_tensor(np.asarray(np.inf if upper is None else upper, dtype=fx), name=f"{label}: upper")
    lo, up = _numeric(lower), _numeric(upper)
    if (lo is not None and np.any(np.isnan(lo))) or (up is not None and np.any(np.isnan(up))):
        raise ValueError(f"{who}: lower and upper must not be NaN")
    if lo is not None and up is not None and not np.all(lo < up):
        raise ValueError(f"{who}: lower must be < upper, got lower={lo}, upper={up}")
    if shape is not None:
        size = tuple(np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
    if size is not None and not isinstance(size, Variable):
        size = tuple(int(s) for s in np.atleast_1d(size))
    params = {"dist": dist, "lower": lower, "upper": upper}
    rv = target.rv_graph(params, size, new_rng())
    if shape is not None and all(isinstance(s, int | np.integer) for s in shape):
        rv = pt.specify_shape(rv, tuple(int(s) for s in shape))
    rv.tag.symvi = DistInfo(target, params)
    return rv


class Truncated(Distribution):
    """Truncated(dist, lower=None, upper=None): ``dist`` restricted to ``[lower, upper]``.

    ``dist`` is an unregistered univariate variable (``pm.Normal.dist(mu, sigma)``) whose
    distribution has a ``logcdf`` (continuous or discrete); ``None`` means no bound on that
    side.  The density is renormalised by the mass between the bounds; the default transform
    is Interval / LowerBound / UpperBound by which bounds (of the truncation, or of the base
    support) are present.

    Examples
    --------
    >>> import symvi as pm
    >>> x = pm.Truncated.dist(pm.Normal.dist(0.0, 1.0), lower=0.0)
    >>> round(float(pm.logp(x, 0.5).eval()), 4)  # scipy: truncnorm(0, inf).logpdf(0.5)
    -0.3508
    """

    params = ("dist", "lower", "upper")
    support = "[lower, upper] within the support of dist"

    @classmethod
    def dist(cls, dist, lower=None, upper=None, *, max_n_steps=None, shape=None, size=None, _label: str | None = None):
        label = _label or f"{cls.__name__}.dist"
        who = f"{cls.__name__} {label}"
        info = base_info(dist, who)
        if info.cls.logcdf is None:
            raise TypeError(f"{who}: {info.cls.__name__} has no logcdf, so it cannot be truncated")
        target = DiscreteTruncated if info.cls.discrete else cls
        return build_wrapped(target, dist, lower, upper, shape, size, label, who)

    @classmethod
    def rv_graph(cls, params, size, rng):
        dist, lower, upper = params["dist"], params["lower"], params["upper"]
        info = dist_info(dist)
        if size is None:
            size = pt.broadcast_shape(dist, lower, upper)
            size = size if size else None
        u = rb.uniform(0.0, 1.0, size=size, rng=rng)
        lo_ex = _lower_exclusive(info, lower)
        if info.cls.icdf is not None:
            # u scaled into [F(lower), F(upper)] and mapped back through the quantile function
            log_fa, log_fb = base_logcdf(info, lo_ex), base_logcdf(info, upper)
            q = pt.exp(log_fa) + u * (pt.exp(log_fb) - pt.exp(log_fa))
            x = info.cls.icdf(pt.clip(q, 0.0, 1.0 - 2**-53), **info.params)
            if not info.cls.discrete:
                x = _upper_tail_refine(info, x, u, log_fa, log_fb, lower, upper)
        else:
            msg = f"Truncated({info.cls.__name__}) draws need both bounds finite: {info.cls.__name__} has no icdf"
            if _const(lower, -np.inf) or _const(upper, np.inf):  # no draw possible: say so when drawn
                x = Assert(msg)(u, pt.constant(False))
            else:
                finite = pt.all(pt.isfinite(lower)) & pt.all(pt.isfinite(upper))
                x = _bisect_draw(info, u, Assert(msg)(lower, finite), upper)
        x = pt.clip(x, lower, upper)
        return x.astype(dist.dtype) if info.cls.discrete else x.astype(pytensor.config.floatX)

    @staticmethod
    def logp(value, dist, lower, upper):
        info = dist_info(dist)
        lp = info.logp(value)
        if not (_const(lower, -np.inf) and _const(upper, np.inf)):
            lp = lp - log_mass(info, _lower_exclusive(info, lower), upper)
        return bound(lp, pt.ge(value, lower), pt.le(value, upper))

    @staticmethod
    def logcdf(value, dist, lower, upper):
        info = dist_info(dist)
        value = pt.as_tensor_variable(value)
        x = pt.floor(value) if info.cls.discrete else value
        lo_ex = _lower_exclusive(info, lower)
        log_z = log_mass(info, lo_ex, upper)
        below_part = log_mass(info, lo_ex, pt.clip(x, lo_ex, upper)) - log_z
        above_part = log_mass(info, pt.clip(x, lo_ex, upper), upper) - log_z
        small = below_part < -LOG_2
        lc = pt.switch(small, below_part, pt.log1mexp(pt.minimum(above_part, 0.0)))
        lc = pt.switch(pt.lt(value, lower), -np.inf, pt.switch(pt.ge(value, upper), 0.0, lc))
        return pt.minimum(lc, 0.0)

    @staticmethod
    def icdf(q, dist, lower, upper):
        info = dist_info(dist)
        if info.cls.icdf is None:
            raise TypeError(f"icdf: Truncated({info.cls.__name__}) has no icdf: {info.cls.__name__} has none")
        q = pt.as_tensor_variable(q)
        log_fa, log_fb = base_logcdf(info, _lower_exclusive(info, lower)), base_logcdf(info, upper)
        p = pt.exp(log_fa) + pt.clip(q, 0.0, 1.0) * (pt.exp(log_fb) - pt.exp(log_fa))
        x = pt.clip(info.cls.icdf(pt.clip(p, 0.0, 1.0), **info.params), lower, upper)
        return pt.switch(pt.and_(pt.ge(q, 0), pt.le(q, 1)), x, np.nan)

    @classmethod
    def default_transform(cls, params):
        info = dist_info(params["dist"])
        lower, upper = params["lower"], params["upper"]
        base_lo, base_up = _support_ends(info)
        lo = None if _const(lower, -np.inf) else lower
        up = None if _const(upper, np.inf) else upper
        lo = base_lo if lo is None else (lo if base_lo is None else pt.maximum(lo, base_lo))
        up = base_up if up is None else (up if base_up is None else pt.minimum(up, base_up))
        if lo is not None and up is not None:
            return transforms.Interval(lo, up)
        if lo is not None:
            return transforms.LowerBound(lo)
        if up is not None:
            return transforms.UpperBound(up)
        return None

    @classmethod
    def support_point(cls, rv, dist, lower, upper):
        info = dist_info(dist)
        point = pt.as_tensor_variable(info.cls.support_point(dist, **info.params)).astype(pytensor.config.floatX)
        if info.cls.discrete:
            return pt.clip(point, lower, upper)
        inside = (point > lower) & (point < upper)
        lo_inf, up_inf = pt.isinf(lower), pt.isinf(upper)
        lo_s, up_s = pt.switch(lo_inf, 0.0, lower), pt.switch(up_inf, 0.0, upper)
        fallback = pt.switch(lo_inf, up_s - 1, pt.switch(up_inf, lo_s + 1, (lo_s + up_s) / 2))
        return pt.switch(inside, point, fallback)


class DiscreteTruncated(Truncated):
    """A :class:`Truncated` discrete distribution (chosen by ``Truncated.dist``)."""

    discrete = True
    support = "integers in [lower, upper] within the support of dist"

    @classmethod
    def default_transform(cls, params):
        return None


def _upper_tail_refine(info, x, u, log_fa, log_fb, lower, upper, steps: int = 10):
    """Draws of a truncation in the base's upper tail, where F(lower) rounds to one.

    The target is set on the survival function, S(x) = (1 - u) S(lower) + u S(upper), which
    keeps its precision there, and reached by Newton steps on log S (slope -pdf / S) from
    the quantile-function guess clipped into the bounds.  Elsewhere ``x`` is returned as is.
    """
    log_sa = pt.log1mexp(pt.minimum(log_fa, 0.0))
    log_sb = pt.log1mexp(pt.minimum(log_fb, 0.0))
    target = pt.logaddexp(pt.log1p(-u) + log_sa, pt.log(u) + log_sb)
    upper_side = log_fa > -LOG_2
    y = pt.clip(pt.switch(upper_side, x, lower), lower, upper)
    for _ in range(steps):
        y_safe = pt.switch(upper_side, y, 0.0 * y + pt.switch(pt.isinf(lower), 0.0, lower))
        log_s = pt.log1mexp(pt.minimum(base_logcdf(info, y_safe), 0.0))
        step = (log_s - target) * pt.exp(log_s - info.logp(y_safe))
        y = pt.clip(y + pt.switch(pt.isfinite(step), step, 0.0), lower, upper)
    return pt.switch(upper_side, y, x)


def _bisect_draw(info, u, lower, upper, steps: int = 80):
    """Quantile ``u`` of the truncated base by bisection on its cdf (finite bounds)."""
    lo_ex = _lower_exclusive(info, lower)
    log_z = log_mass(info, lo_ex, upper)
    target = pt.log(u) + log_z  # log of the mass wanted between lo_ex and x

    def mass_to(x):
        return log_mass(info, lo_ex, x)

    u_b, lo_b, up_b = pt.broadcast_arrays(u, lower.astype(u.dtype), upper.astype(u.dtype))
    if info.cls.discrete:
        return discrete_icdf_bisect(lambda k: mass_to(k) - log_z, u_b, lo_b, up_b)

    def step(a, b):
        mid = (a + b) / 2
        ok = mass_to(mid) >= target
        return pt.switch(ok, a, mid), pt.switch(ok, mid, b)

    _, bs = pytensor.scan(step, outputs_info=[lo_b, up_b], n_steps=steps, return_updates=False)
    return bs[-1]
