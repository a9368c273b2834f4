"""Time-series distributions: random walks, autoregressions and GARCH(1,1), as in PyMC 5.

Conventions (PyMC's)
--------------------
* Time is the last axis of a series; batch axes go in front.  The vector walk
  (:class:`MvGaussianRandomWalk`, or :class:`RandomWalk` with vector innovations) has shape
  ``(*batch, time, k)``: time is the axis before the event axis.
* ``steps`` is the number of innovations.  A walk or GARCH series has ``steps + 1`` values,
  an ``AR`` of order ``p`` has ``steps + p`` (its ``p`` initial values, then the innovations).
  ``steps`` may be left out when ``shape``, ``dims`` or ``observed`` fix the series length.
* ``size`` gives the batch axes only; parameters broadcast against the batch axes (their
  last axis lines up with the last batch axis, never with time).
* Sub-distributions (``init_dist``, ``innovation_dist``) are unregistered ``Dist.dist(...)``
  variables used as descriptions, as in :mod:`symvi.distributions.mixture`: their
  ``dist_info`` gives their log densities and the recipe for fresh draws of the sizes the
  series needs; the draws of the variables passed in are not used (PyMC clones them too).

Log densities are vectorised over time: the walk's innovations are the differences of the
series, the AR's residuals come from shifted slices of the series.  Only GARCH's volatility
recursion runs in a ``pytensor.scan``; draws of AR and GARCH series scan over innovations that
are drawn up front (no random generator inside the loop).  No transform: the series are
real-valued and the whole series is the unconstrained value of a latent.

Examples
--------
>>> import numpy as np, symvi as sv
>>> x = sv.GaussianRandomWalk.dist(mu=0.0, sigma=1.0, init_dist=sv.Normal.dist(0, 1), steps=9, size=4)
>>> sv.draw(x, random_seed=1).shape
(4, 10)
"""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable

from symvi.distributions.base import Continuous, Distribution, DistInfo, _check_sizes, _widen, dist_info, nonneg, positive
from symvi.distributions.dist_math import LOG_2PI, _sigma_from, as_float, batch_dims, size_vector
from symvi.distributions.multivariate import MvNormal
from symvi.distributions.unbounded import Normal
from symvi.pytensorf import as_tensor, new_rng

__all__ = ["RandomWalk", "GaussianRandomWalk", "MvGaussianRandomWalk", "AR", "GARCH11"]

COMPONENTS = ("init_dist", "innovation_dist")  # params that are .dist() variables, not tensors


def _at_least_one(steps):
    return steps >= 1


STEPS_CHECK = (("steps",), _at_least_one, "an integer >= 1 (the number of innovations)")


# ---------------------------------------------------------------------- shape helpers
def _batch(size, *shapes):
    """Batch shape as an int64 vector: ``size``, or the broadcast of ``shapes`` (tuples)."""
    if size is not None:
        return size.astype("int64") if isinstance(size, Variable) else size_vector(size)
    return size_vector(pt.broadcast_shape(*shapes, arrays_are_shapes=True))


def _prepend(n, batch):
    return pt.concatenate([pt.stack([pt.as_tensor_variable(n).astype("int64")]), batch])


def _component(var, who: str, what: str, ndim_supp=(0, 1)):
    """``dist_info`` of a ``.dist()`` sub-distribution, after validation."""
    info = dist_info(var)
    if info is None:
        raise TypeError(f"{who}: {what} must be a distribution made with Dist.dist(...), got {type(var).__name__}")
    if var.name is not None:
        raise ValueError(f"{who}: {what} is the registered model variable {var.name!r}; pass an unregistered Dist.dist(...)")
    if info.cls.discrete:
        raise TypeError(f"{who}: {what} must be a continuous distribution, got {info.cls.__name__}")
    if info.cls.ndim_supp not in ndim_supp:
        raise TypeError(f"{who}: {what} must have support dimension {' or '.join(map(str, ndim_supp))}, got {info.cls.__name__}")
    return info


def _time_length(observed, ndim_supp: int, who: str):
    """Length of the time axis of observed data (symbolic for a Data container)."""
    data = observed if isinstance(observed, Variable) else np.asarray(observed)
    if data.ndim < ndim_supp:
        raise ValueError(f"{who}: observed data needs at least {ndim_supp} axis(es) (time last), got {data.ndim}")
    n = data.shape[data.ndim - ndim_supp]
    return int(n) if isinstance(n, int | np.integer) else n


class _TimeSeries(Continuous):
    """Shared construction of the time-series distributions (steps, shapes, the draw)."""

    ndim_supp = 1

    def __new__(cls, name, *args, steps=None, observed=None, **kwargs):
        target = cls._target(args, kwargs)
        if steps is None and observed is not None:
            kwargs["_time_len"] = _time_length(observed, target.ndim_supp, f"{target.__name__}({name!r})")
        return Distribution.__new__(target, name, *args, steps=steps, observed=observed, **kwargs)

    @classmethod
    def _target(cls, args, kwargs):
        return cls

    @classmethod
    def _steps(cls, who, steps, shape, time_len, offset: int):
        """The number of innovations from ``steps``, ``shape`` or the observed length."""
        length = time_len
        if shape is not None:
            if len(shape) < cls.ndim_supp:
                axes = "(time, event)" if cls.ndim_supp == 2 else "(time)"
                raise ValueError(f"{who}: shape={shape} needs at least {cls.ndim_supp} axis(es) {axes}")
            length = shape[len(shape) - cls.ndim_supp]
        if steps is None:
            if length is None:
                raise ValueError(f"{who}: give steps= (the number of innovations) or a shape, dims or observed data that fix the series length")
            steps = length - offset
        elif isinstance(length, int | np.integer) and not isinstance(steps, Variable) and int(length) != np.asarray(steps) + offset:
            raise ValueError(f"{who}: steps={steps} makes a series of length {np.asarray(steps) + offset}, but the time axis of the shape has length {length}")
        if isinstance(steps, Variable):
            if steps.ndim != 0 or steps.dtype[:3] not in ("int", "uin"):
                raise ValueError(f"{who}: steps must be an integer scalar, got {steps.type}")
            return steps.astype("int64")
        arr = np.asarray(steps)
        if arr.ndim != 0 or arr.dtype.kind not in "iu":
            raise ValueError(f"{who}: steps must be an integer (the number of innovations), got {steps!r}")
        return int(arr)

    @classmethod
    def _make(cls, params: dict, shape, size, label: str):
        """Tensors for the numeric params, build-time checks, the draw and its DistInfo."""
        params = {k: v if k in COMPONENTS else as_tensor(_widen(v), name=f"{label}: parameter {k}") for k, v in params.items()}
        cls._check_constant_params(params, label)
        if shape is not None:
            size = shape[: len(shape) - cls.ndim_supp]
        if size is not None and not isinstance(size, Variable):
            entries = size if isinstance(size, tuple | list) else np.atleast_1d(size).tolist()
            symbolic = any(isinstance(e, Variable) for e in entries)
            size = size_vector(entries) if symbolic else tuple(int(e) for e in entries)
        rv = cls.rv_graph(params, size, new_rng())
        if shape is not None and all(isinstance(s, int | np.integer) for s in shape):
            rv = pt.specify_shape(rv, tuple(int(s) for s in shape))
        elif isinstance(params["steps"], pt.TensorConstant):  # a known length on the time axis
            static = list(rv.type.shape)
            static[rv.ndim - cls.ndim_supp] = int(params["steps"].data) + cls._offset(params)
            rv = pt.specify_shape(rv, tuple(static))
        rv.tag.symvi = DistInfo(cls, params)
        return rv

    @classmethod
    def _offset(cls, params) -> int:
        """Values of the series that do not come from innovations (the initial ones)."""
        return 1

    @staticmethod
    def _shape_tuple(who, shape, size):
        _check_sizes(who, shape, size)
        if isinstance(shape, Variable):  # a symbolic shape vector: its entries
            if shape.ndim != 1 or shape.type.shape[0] is None:
                raise TypeError(f"{who}: a symbolic shape must be a vector of known length, got {shape.type}")
            return tuple(shape[i] for i in range(shape.type.shape[0]))
        if shape is None:
            return shape
        return tuple(shape) if isinstance(shape, tuple | list) else tuple(np.atleast_1d(shape).tolist())


# ---------------------------------------------------------------------- random walks
def default_init_dist(label: str, chol=None, shape_note: str = ""):
    """PyMC's default ``init_dist``, with PyMC's UserWarning: ``Normal.dist(0, 100)``, or
    ``MvNormal.dist(0, 100 I)`` of ``chol``'s size for vector walks."""
    what = "MvNormal.dist(0, I*100)" if chol is not None else f"Normal.dist(0, 100{shape_note})"
    warnings.warn(
        f"Initial distribution not specified, defaulting to `{what}`. "
        "You can specify an init_dist manually to suppress this warning.",
        UserWarning,
        stacklevel=3,  # the caller of Dist.dist
    )
    if chol is None:
        return Normal.dist(0.0, 100.0, _label=f"{label} (init_dist)")
    k = chol.type.shape[-1]
    cov0 = np.eye(k) * 100.0 if k is not None else pt.eye(chol.shape[-1]) * 100.0
    return MvNormal.dist(0.0, cov=cov0, _label=f"{label} (init_dist)")


def _walk_logp(value, init_logp, innov_logp, event_ndim: int):
    """log p(x_0) + sum_t log p(x_t - x_{t-1}): the innovations are the differences."""
    value = as_float(value)
    t_axis = value.ndim - event_ndim - 1
    first = value[(slice(None),) * t_axis + (0,)]
    diffs = pt.diff(value, axis=t_axis)
    # time first, so that the innovation's parameters broadcast against the batch axes
    innov = innov_logp(pt.moveaxis(diffs, t_axis, 0))
    return init_logp(first) + pt.sum(innov, axis=0)


def _point(var):
    """A component's support point, broadcast to the component's own shape."""
    info = dist_info(var)
    return pt.broadcast_to(as_float(info.cls.support_point(var, **info.params)), var.shape)


class RandomWalk(_TimeSeries):
    """RandomWalk(init_dist, innovation_dist, steps=None): x_0 ~ init_dist, x_t = x_{t-1} + e_t.

    ``init_dist`` and ``innovation_dist`` are unregistered ``Dist.dist(...)`` variables of the
    same support dimension (scalar: the walk has shape ``(*batch, steps + 1)``; vector of
    length k: ``(*batch, steps + 1, k)``).  The innovations e_t ~ innovation_dist are i.i.d.
    over time; both distributions' parameters broadcast against the batch axes.
    log p(x) = log p_init(x_0) + sum_t log p_innov(x_t - x_{t-1}).

    Support: real (no transform); ``support_point``: the init support point plus t times the
    innovation support point.

    Examples
    --------
    >>> import symvi as sv
    >>> w = sv.RandomWalk.dist(sv.Normal.dist(0, 1), sv.StudentT.dist(nu=4), steps=20)
    >>> sv.draw(w, random_seed=0).shape
    (21,)
    """

    params = ("init_dist", "innovation_dist", "steps")
    support = "real series (..., steps + 1)"
    checks = [STEPS_CHECK]

    @classmethod
    def _target(cls, args, kwargs):
        innov = kwargs.get("innovation_dist", args[1] if len(args) > 1 else None)
        info = dist_info(innov)
        if cls is RandomWalk and info is not None and info.cls.ndim_supp == 1:
            return _VectorRandomWalk
        return cls

    @classmethod
    def dist(cls, init_dist, innovation_dist, steps=None, *, shape=None, size=None, _label=None, _time_len=None) -> pt.TensorVariable:
        label = _label or f"{cls.__name__}.dist"
        target = cls._target((init_dist, innovation_dist), {})
        who = f"{target.__name__} {label}"
        init_i = _component(init_dist, who, "init_dist")
        innov_i = _component(innovation_dist, who, "innovation_dist")
        if init_i.cls.ndim_supp != innov_i.cls.ndim_supp:
            raise TypeError(f"{who}: init_dist and innovation_dist must have the same support dimension, got {init_i.cls.__name__} and {innov_i.cls.__name__}")
        shape = target._shape_tuple(who, shape, size)
        steps = target._steps(who, steps, shape, _time_len, 1)
        params = {"init_dist": init_dist, "innovation_dist": innovation_dist, "steps": steps}
        return target._make(params, shape, size, label)

    @classmethod
    def rv_graph(cls, params, size, rng):
        init, innov, steps = params["init_dist"], params["innovation_dist"], params["steps"]
        init_i, innov_i = dist_info(init), dist_info(innov)
        e = innov_i.cls.ndim_supp
        batch = _batch(size, batch_dims(init, e), batch_dims(innov, e))
        first = init_i.cls.rv_graph(init_i.params, batch, new_rng())  # (*B, *E)
        moves = innov_i.cls.rv_graph(innov_i.params, _prepend(steps, batch), new_rng())  # (S, *B, *E)
        t_axis = first.ndim - e
        moves = pt.moveaxis(as_float(moves), 0, t_axis)
        walk = pt.concatenate([pt.expand_dims(as_float(first), t_axis), moves], axis=t_axis)
        return pt.cumsum(walk, axis=t_axis)

    @classmethod
    def logp(cls, value, init_dist, innovation_dist, steps, **_):
        e = dist_info(innovation_dist).cls.ndim_supp
        return _walk_logp(value, dist_info(init_dist).logp, dist_info(innovation_dist).logp, e)

    @classmethod
    def support_point(cls, rv, init_dist, innovation_dist, steps, **_):
        e = dist_info(innovation_dist).cls.ndim_supp
        t_axis = rv.ndim - e - 1
        frame = rv[(slice(None),) * t_axis + (0,)]  # one time step: (*B, *E)
        start = pt.broadcast_to(_point(init_dist), frame.shape)
        drift = pt.broadcast_to(_point(innovation_dist), frame.shape)
        t = pt.arange(rv.shape[t_axis]).astype(pytensor.config.floatX)
        t = t[(slice(None),) + (None,) * e]  # (T, 1...) against the event axes
        return pt.expand_dims(start, t_axis) + t * pt.expand_dims(drift, t_axis)


class _VectorRandomWalk(RandomWalk):
    """A :class:`RandomWalk` of vector innovations: shape ``(*batch, steps + 1, k)``.

    ``RandomWalk`` picks this class when ``innovation_dist`` has vector support (its
    ``ndim_supp`` is 2: time and event).
    """

    ndim_supp = 2
    support = "real series (..., steps + 1, k)"


class GaussianRandomWalk(RandomWalk):
    """GaussianRandomWalk(mu=0, sigma=1, *, init_dist=None, steps=None): Normal innovations.

    x_0 ~ init_dist, x_t = x_{t-1} + e_t with e_t ~ Normal(mu, sigma) (``mu``: drift,
    ``sigma > 0``: innovation standard deviation; both broadcast against the batch axes).
    ``init_dist=None`` uses PyMC's default ``Normal.dist(0, 100)`` with PyMC's UserWarning.
    Shape ``(*batch, steps + 1)``; support: real series.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model() as m:
    ...     trend = sv.GaussianRandomWalk("trend", sigma=0.1, init_dist=sv.Normal.dist(0, 1), steps=49)
    >>> m.initial_point()["trend"].shape
    (50,)
    """

    params = ("mu", "sigma", "init_dist", "innovation_dist", "steps")
    checks = [(("sigma",), positive, "> 0"), STEPS_CHECK]

    @classmethod
    def _target(cls, args, kwargs):
        return cls

    @classmethod
    def dist(cls, mu=0.0, sigma=1.0, *, init_dist=None, steps=None, shape=None, size=None, _label=None, _time_len=None):
        label = _label or f"{cls.__name__}.dist"
        who = f"{cls.__name__} {label}"
        shape = cls._shape_tuple(who, shape, size)
        steps = cls._steps(who, steps, shape, _time_len, 1)
        mu = as_tensor(_widen(mu), name=f"{label}: parameter mu")
        sigma = as_tensor(_widen(sigma), name=f"{label}: parameter sigma")
        cls._check_constant_params({"mu": mu, "sigma": sigma, "steps": as_tensor(steps)}, label)
        if init_dist is None:
            init_dist = default_init_dist(label)
        _component(init_dist, who, "init_dist", ndim_supp=(0,))
        innov = Normal.dist(mu, sigma, _label=f"{label} (innovations)")
        params = {"mu": mu, "sigma": sigma, "init_dist": init_dist, "innovation_dist": innov, "steps": steps}
        return cls._make(params, shape, size, label)

    @classmethod
    def logp(cls, value, mu, sigma, init_dist, innovation_dist, steps):
        return _walk_logp(value, dist_info(init_dist).logp, lambda d: Normal.logp(d, mu, sigma), 0)


class MvGaussianRandomWalk(_VectorRandomWalk):
    """MvGaussianRandomWalk(mu, *, cov= | chol= | tau=, lower=True, init_dist=None, steps=None).

    A walk of vectors in R^k with MvNormal(mu, cov) innovations: shape
    ``(*batch, steps + 1, k)`` (time is the axis before the event axis, as in PyMC).
    ``init_dist=None`` uses PyMC's default ``MvNormal.dist(0, 100 * I)`` with PyMC's
    UserWarning.  Support: real series of vectors.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> w = sv.MvGaussianRandomWalk.dist(mu=np.zeros(2), cov=np.eye(2), init_dist=sv.MvNormal.dist(np.zeros(2), np.eye(2)), steps=5)
    >>> sv.draw(w, random_seed=0).shape
    (6, 2)
    """

    params = ("mu", "chol", "init_dist", "innovation_dist", "steps")

    @classmethod
    def _target(cls, args, kwargs):
        return cls

    @classmethod
    def dist(cls, mu=None, *, cov=None, tau=None, chol=None, lower=True, init_dist=None, steps=None,
             shape=None, size=None, _label=None, _time_len=None):
        label = _label or f"{cls.__name__}.dist"
        who = f"{cls.__name__} {label}"
        shape = cls._shape_tuple(who, shape, size)
        steps = cls._steps(who, steps, shape, _time_len, 1)
        cls._check_constant_params({"steps": as_tensor(steps)}, label)
        if mu is None:
            raise TypeError(f"{who}: missing parameter mu")
        innov = MvNormal.dist(mu, cov=cov, tau=tau, chol=chol, lower=lower, _label=f"{label} (innovations)")
        mu, chol = dist_info(innov).params["mu"], dist_info(innov).params["chol"]
        if init_dist is None:
            init_dist = default_init_dist(label, chol)
        _component(init_dist, who, "init_dist", ndim_supp=(1,))
        params = {"mu": mu, "chol": chol, "init_dist": init_dist, "innovation_dist": innov, "steps": steps}
        return cls._make(params, shape, size, label)

    @classmethod
    def logp(cls, value, mu, chol, init_dist, innovation_dist, steps):
        return _walk_logp(value, dist_info(init_dist).logp, dist_info(innovation_dist).logp, 1)


# ---------------------------------------------------------------------- autoregression
def _bshape(batch):
    """An int64 batch vector (static length) as a tuple of scalars for ``broadcast_to``."""
    return tuple(batch[i] for i in range(batch.type.shape[0]))


def _ar_order(who, rho, ar_order, constant: bool) -> int:
    n = rho.type.shape[-1]
    if ar_order is None:
        if n is None:
            raise ValueError(f"{who}: cannot infer ar_order from the last axis of rho (its length is unknown when the model is built); pass ar_order=")
        ar_order = n - int(constant)
        if ar_order < 1:
            raise ValueError(f"{who}: rho's last axis has length {n}, which leaves no lag coefficient with constant={constant}; lengthen rho or drop constant")
        return int(ar_order)
    if isinstance(ar_order, bool) or not isinstance(ar_order, int | np.integer) or ar_order < 1:
        raise ValueError(f"{who}: ar_order must be an integer >= 1, got {ar_order!r}")
    if n is not None and n != ar_order + int(constant):
        raise ValueError(
            f"{who}: rho's last axis has length {n} but ar_order={ar_order} with constant={constant} needs {ar_order + int(constant)}"
        )
    return int(ar_order)


class AR(_TimeSeries):
    """AR(rho, sigma=None, tau=None, *, constant=False, ar_order=None, init_dist=None, steps=None).

    Autoregression of order p:
    x_t = rho_0 + rho_1 x_{t-1} + ... + rho_p x_{t-p} + e_t, e_t ~ Normal(0, sigma)
    (``tau`` = 1 / sigma**2 instead of ``sigma``; default sigma 1).  The last axis of ``rho``
    holds the coefficients, lag 1 first; with ``constant=True`` its first entry is the
    intercept rho_0, otherwise there is none.  p = ``ar_order`` or the length of rho's last
    axis (minus one with ``constant``).  The first p values come from ``init_dist``: a scalar
    distribution (drawn independently for each of the p values) or a vector one of length p;
    ``None`` uses PyMC's default ``Normal.dist(0, 100)`` with PyMC's UserWarning.
    Shape ``(*batch, steps + p)``; ``sigma`` and rho's other axes broadcast against the batch.
    Support: real series (no transform).

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> x = sv.AR.dist(rho=[0.5, -0.2], sigma=1.0, init_dist=sv.Normal.dist(0, 1), steps=100)
    >>> sv.draw(x, random_seed=0).shape
    (102,)
    """

    params = ("rho", "sigma", "init_dist", "steps", "ar_order", "constant")
    support = "real series (..., steps + ar_order)"
    checks = [(("sigma",), positive, "> 0"), STEPS_CHECK]

    @classmethod
    def dist(cls, rho, sigma=None, tau=None, *, init_dist=None, steps=None, constant=False, ar_order=None,
             shape=None, size=None, _label=None, _time_len=None):
        label = _label or f"{cls.__name__}.dist"
        who = f"{cls.__name__} {label}"
        shape = cls._shape_tuple(who, shape, size)
        rho = pt.atleast_1d(as_float(as_tensor(_widen(rho), name=f"{label}: parameter rho")))
        if not isinstance(constant, bool | np.bool_):
            raise TypeError(f"{who}: constant must be True or False, got {constant!r}")
        try:
            sigma = _sigma_from(sigma, tau)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{who}: {err}") from None
        p = _ar_order(who, rho, ar_order, bool(constant))
        steps = cls._steps(who, steps, shape, _time_len, p)
        if init_dist is None:
            init_dist = default_init_dist(label, shape_note=", shape=...")
        init_i = _component(init_dist, who, "init_dist")
        if init_i.cls.ndim_supp == 1 and init_dist.type.shape[-1] not in (None, p):
            raise ValueError(f"{who}: a vector init_dist must have length ar_order={p}, got {init_dist.type.shape[-1]}")
        params = {"rho": rho, "sigma": sigma, "init_dist": init_dist, "steps": steps, "ar_order": p, "constant": int(bool(constant))}
        return cls._make(params, shape, size, label)

    @classmethod
    def _offset(cls, params) -> int:
        return int(params["ar_order"].data)

    @staticmethod
    def _static(p, constant):
        return int(p.data), int(constant.data)

    @classmethod
    def rv_graph(cls, params, size, rng):
        rho, sigma, init, steps = (params[k] for k in ("rho", "sigma", "init_dist", "steps"))
        p, c = cls._static(params["ar_order"], params["constant"])
        init_i = dist_info(init)
        batch = _batch(size, batch_dims(sigma, 0), batch_dims(rho, 1), batch_dims(init, 1))
        bshape = _bshape(batch)
        init_size = pt.concatenate([batch, pt.constant([p], dtype="int64")]) if init_i.cls.ndim_supp == 0 else batch
        start = as_float(init_i.cls.rv_graph(init_i.params, init_size, new_rng()))  # (*B, p)
        noise = rb.normal(0.0, 1.0, size=_prepend(steps, batch), rng=rng) * as_float(sigma)  # (S, *B)
        coefs = [pt.broadcast_to(rho[..., c + k], bshape) for k in range(p)]  # lag k + 1
        icpt = pt.broadcast_to(rho[..., 0], bshape) if c else pt.zeros(bshape, dtype=rho.dtype)

        def step(eps, *args):
            prev, lags, mean = args[:p], args[p : 2 * p], args[2 * p]  # prev: x_{t-p}, ..., x_{t-1}
            for k in range(p):
                mean = mean + lags[k] * prev[p - 1 - k]
            return (mean + eps).astype(prev[0].dtype)

        xs = pytensor.scan(
            step,
            sequences=[noise],
            # one lag: a plain recurrent state (scan reads taps=[-1] as that, without a tap axis)
            outputs_info=[start[..., 0] if p == 1 else {"initial": pt.moveaxis(start, -1, 0), "taps": list(range(-p, 0))}],
            non_sequences=[*coefs, icpt],
            strict=True,
            return_updates=False,
        )
        return pt.concatenate([start, pt.moveaxis(xs, 0, -1)], axis=-1)

    @classmethod
    def logp(cls, value, rho, sigma, init_dist, steps, ar_order, constant):
        p, c = cls._static(ar_order, constant)
        x, rho = as_float(value), as_float(rho)
        mean = rho[..., 0, None] if c else 0.0
        for k in range(1, p + 1):  # the p lags, not time: slices shift the whole series at once
            mean = mean + rho[..., c + k - 1, None] * x[..., p - k : -k]
        innov = pt.sum(Normal.logp(x[..., p:] - mean, 0.0, as_float(sigma)[..., None]), axis=-1)
        init_i = dist_info(init_dist)
        first = init_i.logp(x[..., :p])
        if init_i.cls.ndim_supp == 0:
            first = pt.sum(first, axis=-1)
        return first + innov

    @classmethod
    def support_point(cls, rv, rho, sigma, init_dist, steps, ar_order, constant):
        last = pt.atleast_1d(_point(init_dist))[..., -1]  # PyMC: the init's last support value throughout
        return pt.broadcast_to(last[..., None], rv.shape)


# ---------------------------------------------------------------------- GARCH(1, 1)
def _garch_variance(y_prev_sq, var0, omega, alpha_1, beta_1):
    """sigma_t^2 = omega + alpha_1 y_{t-1}^2 + beta_1 sigma_{t-1}^2 for t >= 1 (time first)."""
    return pytensor.scan(
        lambda y2, v, w, a, b: w + a * y2 + b * v,
        sequences=[y_prev_sq],
        outputs_info=[var0],
        non_sequences=[omega, alpha_1, beta_1],
        strict=True,
        return_updates=False,
    )


class GARCH11(_TimeSeries):
    """GARCH11(omega, alpha_1, beta_1, initial_vol, *, steps=None): GARCH(1, 1), Normal noise.

    y_t ~ Normal(0, sigma_t) with sigma_0 = ``initial_vol`` and
    sigma_t^2 = omega + alpha_1 y_{t-1}^2 + beta_1 sigma_{t-1}^2 (``omega > 0``,
    ``alpha_1 >= 0``, ``beta_1 >= 0``, ``initial_vol > 0``; alpha_1 + beta_1 < 1 makes the
    process stationary but is not required).  Shape ``(*batch, steps + 1)``; the parameters
    broadcast against the batch axes.  Support: real series (no transform).

    Examples
    --------
    >>> import symvi as sv
    >>> y = sv.GARCH11.dist(omega=0.1, alpha_1=0.2, beta_1=0.7, initial_vol=1.0, steps=50)
    >>> sv.draw(y, random_seed=0).shape
    (51,)
    """

    params = ("omega", "alpha_1", "beta_1", "initial_vol", "steps")
    support = "real series (..., steps + 1)"
    checks = [
        (("omega",), positive, "> 0"),
        (("alpha_1",), nonneg, ">= 0"),
        (("beta_1",), nonneg, ">= 0"),
        (("initial_vol",), positive, "> 0"),
        STEPS_CHECK,
    ]

    @classmethod
    def dist(cls, omega, alpha_1, beta_1, initial_vol, *, steps=None, shape=None, size=None, _label=None, _time_len=None):
        label = _label or f"{cls.__name__}.dist"
        who = f"{cls.__name__} {label}"
        shape = cls._shape_tuple(who, shape, size)
        steps = cls._steps(who, steps, shape, _time_len, 1)
        params = {"omega": omega, "alpha_1": alpha_1, "beta_1": beta_1, "initial_vol": initial_vol, "steps": steps}
        return cls._make(params, shape, size, label)

    @classmethod
    def rv_graph(cls, params, size, rng):
        w, a, b, vol = (as_float(params[k]) for k in ("omega", "alpha_1", "beta_1", "initial_vol"))
        batch = _batch(size, *(batch_dims(v, 0) for v in (w, a, b, vol)))
        bshape = _bshape(batch)
        w, a, b, vol = (pt.broadcast_to(v, bshape) for v in (w, a, b, vol))
        z = rb.normal(0.0, 1.0, size=_prepend(params["steps"] + 1, batch), rng=rng)  # (T, *B)
        y0 = vol * z[0]

        def step(z_t, y_prev, var_prev, w, a, b):
            var = w + a * y_prev**2 + b * var_prev
            return pt.sqrt(var) * z_t, var

        ys, _ = pytensor.scan(
            step,
            sequences=[z[1:]],
            outputs_info=[y0, vol**2],
            non_sequences=[w, a, b],
            strict=True,
            return_updates=False,
        )
        return pt.moveaxis(pt.concatenate([y0[None], ys], axis=0), 0, -1)

    @classmethod
    def logp(cls, value, omega, alpha_1, beta_1, initial_vol, steps):
        y = pt.moveaxis(as_float(value), -1, 0)  # time first: (T, *B)
        params = [as_float(v) for v in (omega, alpha_1, beta_1, initial_vol)]
        bshape = tuple(pt.broadcast_shape(y[0], *params))
        w, a, b, vol = (pt.broadcast_to(v, bshape) for v in params)
        sq = pt.broadcast_to(y[:-1] ** 2, (y.shape[0] - 1, *bshape))
        var0 = vol**2
        var = pt.concatenate([var0[None], _garch_variance(sq, var0, w, a, b)], axis=0)
        lp = -0.5 * y**2 / var - 0.5 * pt.log(var) - 0.5 * LOG_2PI
        return pt.sum(lp, axis=0)

    @classmethod
    def support_point(cls, rv, **params):
        return pt.zeros_like(rv, dtype=pytensor.config.floatX)
