"""The distribution protocol.

A distribution is a small class with class-level hooks; ``Dist("x", ...)`` registers a random
variable in the current model and ``Dist.dist(...)`` returns an unregistered one.  The returned
object is a plain pytensor ``TensorVariable`` (a draw, made with pytensor's RandomVariable ops
where they exist) whose ``tag.symvi`` holds a :class:`DistInfo` with the distribution class and
its canonical parameters; the model reads it to build log densities.

Subclasses define:

* ``params``: canonical parameter names, in the order ``logp`` takes them;
* ``parametrize(cls, *args, **kwargs) -> dict``: user arguments -> canonical parameters
  (alternative parametrizations such as ``tau`` or ``logit_p`` are converted here);
* ``rv_graph(cls, params, size, rng)``: the draw (defaults to ``rv_op`` on ``rv_params``);
* ``logp(value, **params)``: elementwise log density (batch shape), -inf outside the support;
* ``logcdf(value, **params)`` and ``icdf(q, **params)`` (optional staticmethods, same
  parameter names as ``logp``): log cumulative distribution function and quantile function
  of univariate distributions; ``None`` (the default) means "not available";
* ``support``: a short text for the docs, e.g. ``"real"``, ``"(0, inf)"``, ``"[lower, upper]"``,
  ``"{0, 1, ..., n}"``, ``"simplex"``;
* ``checks``: ``[(param names, predicate, "what is expected"), ...]`` - predicates work on
  numpy and pytensor alike; constant invalid parameters raise ``ValueError`` at build time,
  symbolic ones make the log density -inf at run time; constant NaN or infinite parameters
  are always rejected (``infinite_ok`` names those that may be infinite, e.g. bounds);
* ``default_transform(cls, params)`` and ``support_point(cls, rv, **params)``.

Examples
--------
>>> import symvi as sv
>>> x = sv.Normal.dist(0.0, 2.0, size=3)
>>> x.eval().shape
(3,)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.tensor.variable import TensorConstant

from symvi.context import modelcontext
from symvi.pytensorf import as_tensor, new_rng

__all__ = ["Distribution", "Continuous", "Discrete", "DistInfo", "dist_info", "positive", "unit"]

_UNSET: Any = object()


def positive(x):
    return x > 0


def nonneg(x):
    return x >= 0


def unit(x):
    return (x >= 0) & (x <= 1)


def event_len(min_len: int):
    """Predicate: at least one axis, the last (event/category) axis of length >= ``min_len``."""

    def ok(x):
        return x.ndim >= 1 and x.shape[-1] >= min_len

    return ok


@dataclass
class DistInfo:
    """What a model needs to know about a random variable beyond its draw."""

    cls: type
    params: dict
    extra: dict = field(default_factory=dict)

    def logp(self, value):
        return self.cls.logp_checked(value, self.params)


def dist_info(var) -> DistInfo | None:
    """The :class:`DistInfo` attached to a symvi random variable (None for other tensors)."""
    return getattr(getattr(var, "tag", None), "symvi", None)


def _widen(x):
    """Numeric parameters -> floatX / int64 arrays (pytensor would make 2.0 float32, 3 int8)."""
    if isinstance(x, Variable) or x is None:
        return x
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        return arr.astype(pytensor.config.floatX)
    if arr.dtype.kind in "iub":
        return arr.astype("int64")
    return arr


def _numeric(x):
    if isinstance(x, np.ndarray | np.number | int | float | bool):
        return np.asarray(x)
    if isinstance(x, TensorConstant):
        return np.asarray(x.data)
    return None


class Distribution:
    """Base class of all distributions (see the module docstring for the protocol)."""

    params: ClassVar[tuple[str, ...]] = ()
    rv_op: ClassVar[Any] = None
    rv_params: ClassVar[tuple[str, ...] | None] = None
    ndim_supp: ClassVar[int] = 0
    discrete: ClassVar[bool] = False
    checks: ClassVar[list] = []
    infinite_ok: ClassVar[tuple[str, ...]] = ()  # parameters that may be +-inf (never NaN)
    support: ClassVar[str] = ""
    logcdf: ClassVar[Any] = None  # staticmethod(value, **params) where a closed form exists
    icdf: ClassVar[Any] = None  # staticmethod(q, **params) where a closed form exists

    # ------------------------------------------------------------------ construction
    def __new__(
        cls,
        name: str,
        *args,
        dims=None,
        shape=None,
        size=None,
        observed=None,
        total_size=None,
        transform=_UNSET,
        initval=None,
        **kwargs,
    ):
        if not isinstance(name, str):
            raise TypeError(
                f"{cls.__name__}: the first argument must be the variable's name (a str), got "
                f"{type(name).__name__}. Use {cls.__name__}.dist(...) for an unnamed variable."
            )
        model = modelcontext(None, who=f"{cls.__name__}({name!r})")
        _check_sizes(f"{cls.__name__}({name!r})", shape, size)
        shape, size, observed = model.resolve_shape(name, cls, dims, shape, size, observed)
        rv = cls.dist(*args, shape=shape, size=size, _label=f"{name!r}", **kwargs)
        if isinstance(observed, TensorConstant) and _event_mismatch(observed.data.shape, rv, cls.ndim_supp):
            raise ValueError(  # e.g. size= with observed rows of the wrong length: indexed out of bounds later
                f"{cls.__name__}({name!r}): observed data has shape {observed.data.shape}, but the variable's "
                f"last {cls.ndim_supp} axes (from the parameters) have lengths {tuple(rv.type.shape[rv.ndim - cls.ndim_supp:])}"
            )
        if observed is not None and getattr(cls, "discrete", False) and rv.dtype.startswith(("int", "uint")):
            _check_integer_data(f"{cls.__name__}({name!r})", observed)  # (a float DiracDelta takes any value)
        return model.register_rv(
            rv,
            name,
            observed=observed,
            total_size=total_size,
            dims=dims,
            transform=transform,
            initval=initval,
        )

    @classmethod
    def dist(cls, *args, shape=None, size=None, _label: str | None = None, **kwargs) -> pt.TensorVariable:
        """An unregistered random variable of this distribution (for mixtures, ``draw``)."""
        label = _label or f"{cls.__name__}.dist"
        _check_sizes(f"{cls.__name__} {label}", shape, size)
        try:
            params = cls.parametrize(*args, **kwargs)
        except (TypeError, ValueError) as err:
            if type(err) not in (TypeError, ValueError):
                raise
            # name the variable: "Normal 'x': got an unexpected keyword argument 'sd'"
            msg = str(err).removeprefix(f"{cls.__name__}: ").replace(f"{cls.__name__}.parametrize() ", "")
            raise type(err)(f"{cls.__name__} {label}: {msg}") from None
        params = {k: as_tensor(_widen(v), name=f"{label}: parameter {k}") for k, v in params.items()}
        cls._check_constant_params(params, label)
        if shape is not None:
            shape = tuple(np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
            size = shape[: len(shape) - cls.ndim_supp] if cls.ndim_supp else shape
        if size is not None and not isinstance(size, Variable):
            size = tuple(int(s) for s in np.atleast_1d(size))
        rv = cls.rv_graph(params, size, new_rng())
        if shape is not None and all(isinstance(s, int | np.integer) for s in shape):
            shape = tuple(int(s) for s in shape)
            # the support axes come from the parameters: a shape (or observed data) that
            # contradicts them would otherwise be broadcast or indexed out of bounds later
            if _event_mismatch(shape, rv, cls.ndim_supp):
                raise ValueError(
                    f"{cls.__name__} {label}: shape {shape} (from shape=, dims= or observed data) does not fit "
                    f"the variable's shape {tuple(rv.type.shape)} (None: not known when built)"
                )
            rv = pt.specify_shape(rv, shape)
        rv.tag.symvi = DistInfo(cls, params)
        return rv

    @classmethod
    def parametrize(cls, *args, **kwargs) -> dict:
        names = cls.params
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__} takes at most {len(names)} parameters {names}, got {len(args)}")
        out = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError(f"{cls.__name__}: unknown parameter {k!r}; expected one of {names}")
            if k in out:
                raise TypeError(f"{cls.__name__}: parameter {k!r} given twice")
            out[k] = v
        missing = [k for k in names if k not in out]
        if missing:
            raise TypeError(f"{cls.__name__}: missing parameter(s) {missing}")
        return out

    @classmethod
    def rv_graph(cls, params: dict, size, rng):
        names = cls.rv_params if cls.rv_params is not None else cls.params
        return cls.rv_op(*[params[k] for k in names], size=size, rng=rng)

    @classmethod
    def _check_constant_params(cls, params: dict, label: str) -> None:
        for names, pred, expected in cls.checks:
            values = [_numeric(params[n]) for n in names]
            if any(v is None for v in values):
                continue
            with np.errstate(all="ignore"):
                ok = np.all(pred(*values))
            if not ok:
                shown = ", ".join(f"{n}={np.array2string(v, threshold=6)}" for n, v in zip(names, values))
                raise ValueError(f"{cls.__name__} {label}: parameter {' and '.join(names)} must be {expected}, got {shown}")
        for name, param in params.items():  # NaN is never a valid parameter, inf rarely
            value = _numeric(param)
            if value is None or value.dtype.kind not in "fc":
                continue
            bad = np.isnan(value) if name in cls.infinite_ok else ~np.isfinite(value)
            if np.any(bad):
                what = "not NaN" if name in cls.infinite_ok else "finite"
                shown = np.array2string(value, threshold=6)
                raise ValueError(f"{cls.__name__} {label}: parameter {name} must be {what}, got {name}={shown}")

    # ------------------------------------------------------------------ density
    @staticmethod
    def logp(value, **params):  # pragma: no cover - every subclass defines it
        raise NotImplementedError  # abstract

    @classmethod
    def logp_checked(cls, value, params: dict):
        """``logp`` with -inf where a symbolic parameter constraint fails."""
        lp = cls.logp(value, **params)
        conds = []
        for names, pred, _ in cls.checks:
            if all(_numeric(params[n]) is not None for n in names):
                continue  # already validated at build time
            cond = pred(*[params[n] for n in names])
            cond = pt.all(cond)  # one scalar check: no data-sized mask in the loop


            conds.append(cond)
        if conds:
            ok = conds[0]
            for c in conds[1:]:
                ok = pt.and_(ok, c)
            lp = pt.switch(ok, lp, -np.inf)
        return lp

    @classmethod
    def default_transform(cls, params: dict):
        return None

    @classmethod
    def support_point(cls, rv, **params):
        return pt.zeros_like(rv, dtype=pytensor.config.floatX)


def _check_sizes(owner: str, shape, size) -> None:
    """``shape=`` / ``size=`` given as integers must be non-negative (-1 is not "any length")."""
    for arg, value in (("shape", shape), ("size", size)):
        if value is None or isinstance(value, Variable):
            continue
        entries = value if isinstance(value, tuple | list) else np.atleast_1d(value).tolist()
        ints = [e for e in entries if isinstance(e, int | np.integer)]
        if any(e < 0 for e in ints):
            raise ValueError(f"{owner}: {arg}={value!r} holds a negative length; expected non-negative integers")


def _event_mismatch(shape: tuple, rv, ndim_supp: int) -> bool:
    """Whether ``shape`` contradicts the support axes of ``rv`` where their lengths are known."""
    if ndim_supp == 0:
        return False
    if len(shape) < ndim_supp or rv.ndim < ndim_supp:
        return True
    known = rv.type.shape[rv.ndim - ndim_supp:]
    return any(k is not None and k != s for k, s in zip(known, shape[len(shape) - ndim_supp:]))


def _check_integer_data(owner: str, observed) -> None:
    """A discrete likelihood's observed values must be whole numbers (PyMC casts 1.5 to 1 silently)."""
    from pytensor.compile.sharedvalue import SharedVariable
    from pytensor.tensor import TensorConstant

    if isinstance(observed, SharedVariable):
        data = observed.get_value(borrow=True)
    elif isinstance(observed, TensorConstant):
        data = observed.data
    else:
        return  # an expression (Minibatch, streamed data): its values are not known here
    data = np.asarray(data)
    if data.dtype.kind != "f":
        return
    frac = np.isfinite(data) & (data != np.floor(data))
    if frac.any():
        idx = tuple(int(i) for i in np.argwhere(frac)[0])
        where = idx[0] if len(idx) == 1 else idx
        raise ValueError(
            f"{owner}: observed data must be whole numbers for a discrete distribution, got "
            f"{float(data[idx])!r} at index {where}"
        )


class Continuous(Distribution):
    """Distributions over real values (transformable, usable as VI latents)."""


class Discrete(Distribution):
    """Distributions over integers: allowed as observed variables, not as ADVI latents."""

    discrete = True

    @classmethod
    def support_point(cls, rv, **params):
        return pt.zeros_like(rv)


def bound(logp, *conditions):
    """``logp`` where every condition holds, -inf elsewhere (conditions broadcast)."""
    ok = conditions[0]
    for c in conditions[1:]:
        ok = pt.and_(ok, c)
    return pt.switch(ok, logp, -np.inf)
