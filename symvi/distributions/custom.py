"""CustomDist: a distribution from user functions, as PyMC's ``pm.CustomDist``.

Two forms:

* ``logp=`` (and optionally ``logcdf=``, ``random=``, ``support_point=``): the log density
  ``logp(value, *params)`` written with pytensor; draws come from ``random(*params, rng=,
  size=)`` (a numpy function, run inside a pytensor RandomVariable, so seeds and prior
  draws work as for built-in distributions).  Without ``random`` drawing raises.
* ``dist=``: ``dist(*params, size)`` builds the variable from other symvi distributions.
  The log density is derived by a change of variables through a chain of invertible
  elementwise operations applied to one distribution: ``exp``, ``log``, ``sigmoid``, ``neg``,
  and adding, subtracting, multiplying or dividing by terms that do not depend on it.
  Anything else (a sum of two random variables, ``abs``, ``pow``, ...) raises ``TypeError``
  naming the operation; give ``logp=`` instead.

The default transform: ``log`` when the chain ends in ``exp``, ``logodds`` when it ends in
``sigmoid``, the base's own for ``dist=`` returning a plain distribution, else none (pass
``transform=`` for a bounded support).

Examples
--------
>>> import numpy as np, symvi as pm
>>> def logp(value, mu):
...     return -0.5 * (value - mu) ** 2 - 0.5 * np.log(2 * np.pi)
>>> with pm.Model():
...     mu = pm.Normal("mu", 0, 1)
...     y = pm.CustomDist("y", mu, logp=logp, observed=np.array([0.1, -0.3]))
>>> x = pm.CustomDist.dist(0.0, 1.0, dist=lambda mu, sigma, size: pm.math.exp(pm.Normal.dist(mu, sigma, size=size)))
>>> round(float(pm.logp(x, 1.0).eval()), 4)  # the log-normal density at 1
-0.9189
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import ancestors
from pytensor.scalar import basic as ps
from pytensor.scalar import math as psm
from pytensor.tensor.elemwise import Elemwise
from pytensor.tensor.random.op import RandomVariable

from symvi import transforms
from symvi.distributions.base import Continuous, Discrete, Distribution, DistInfo, _widen, dist_info
from symvi.pytensorf import as_tensor, new_rng

__all__ = ["CustomDist", "DensityDist"]


class CustomRandom(RandomVariable):
    """A RandomVariable whose draws come from a numpy function ``fn(*params, rng=, size=)``."""

    __props__ = RandomVariable.__props__ + ("fn", "owner_name")

    def __init__(self, fn: Callable | None = None, owner_name: str = "CustomDist", **kwargs):
        self.fn = fn
        self.owner_name = owner_name
        super().__init__(**kwargs)

    def rng_fn(self, rng, *args):
        *params, size = args
        if self.fn is None:
            raise TypeError(f"{self.owner_name}: cannot draw: no random= function was given (CustomDist(..., random=fn))")
        out = self.fn(*params, rng=rng, size=size)
        return np.asarray(out, dtype=self.dtype)


def _signature(ndim_supp: int | None, signature: str | None, n_params: int) -> str:
    if signature is not None:
        return signature
    if ndim_supp in (None, 0):
        return ",".join(["()"] * n_params) + "->()"
    core = "(" + ",".join(f"s{i}" for i in range(ndim_supp)) + ")"
    return ",".join(["()"] * n_params) + "->" + core


def _ndim_supp(signature: str) -> int:
    out = signature.split("->")[1]
    inner = re.match(r"\s*\((.*)\)\s*$", out)
    return 0 if inner is None or not inner.group(1).strip() else len(inner.group(1).split(","))


class CustomDist(Distribution):
    """CustomDist(name, *params, logp=None, logcdf=None, random=None, dist=None, ...).

    See the module docstring for the two forms.  Keyword arguments as PyMC's:
    ``support_point(rv, size, *params)`` (a start value; default zeros, or the ``dist=``
    graph at its base's support point), ``ndim_supp`` / ``signature`` (event dimensions of
    a ``random``-based variable), ``dtype`` (``"floatX"`` or an integer type for a discrete
    variable), ``class_name`` (the name in messages).

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> x = pm.CustomDist.dist(2.0, logp=lambda v, lam: pm.math.log(lam) - lam * v,
    ...                        random=lambda lam, rng=None, size=None: rng.exponential(1 / lam, size=size), size=3)
    >>> x.eval().shape
    (3,)
    """

    support = "set by logp (or the dist= graph)"

    @classmethod
    def dist(
        cls,
        *params,
        logp: Callable | None = None,
        logcdf: Callable | None = None,
        icdf: Callable | None = None,
        random: Callable | None = None,
        dist: Callable | None = None,
        support_point: Callable | None = None,
        ndim_supp: int | None = None,
        ndims_params=None,
        signature: str | None = None,
        dtype: str = "floatX",
        class_name: str | None = None,
        shape=None,
        size=None,
        _label: str | None = None,
    ):
        label = _label or f"{cls.__name__}.dist"
        who = f"CustomDist {label}"
        name = class_name or "CustomDist"
        if logp is None and dist is None:
            raise TypeError(f"{who}: give logp= (a log density function) or dist= (a function building the variable)")
        if dist is not None and random is not None:
            raise TypeError(f"{who}: give dist= or random=, not both (dist= draws through its own graph)")
        tensors = [as_tensor(_widen(p), name=f"{label}: parameter {i}") for i, p in enumerate(params)]
        if shape is not None:
            shape = tuple(np.atleast_1d(shape)) if not isinstance(shape, tuple) else shape
        if size is not None and not isinstance(size, Variable):
            size = tuple(int(s) for s in np.atleast_1d(size))
        if dist is not None:
            if shape is not None:
                size = shape
            return _symbolic(who, name, tensors, dist, size, logp, logcdf, icdf, support_point)
        signature = _signature(ndim_supp, signature, len(tensors))
        n_supp = _ndim_supp(signature)
        if shape is not None:
            size = shape[: len(shape) - n_supp] if n_supp else shape
        dtype = pytensor.config.floatX if dtype == "floatX" else dtype
        base = Discrete if np.dtype(dtype).kind in "iub" else Continuous
        user_logp, user_logcdf, user_icdf = logp, logcdf, icdf
        attrs = {
            "params": tuple(f"param{i}" for i in range(len(tensors))),
            "ndim_supp": n_supp,
            "support": "set by logp",
            "logp": staticmethod(lambda value, **kw: user_logp(value, *kw.values())),
            "logcdf": None if user_logcdf is None else staticmethod(lambda value, **kw: user_logcdf(value, *kw.values())),
            "icdf": None if user_icdf is None else staticmethod(lambda q, **kw: user_icdf(q, *kw.values())),
            "__doc__": f"CustomDist {name} (logp from a user function).",
        }
        if support_point is not None:
            attrs["support_point"] = classmethod(lambda c, rv, **kw: support_point(rv, size, *kw.values()))
        new_cls = type(name, (base,), attrs)
        op = CustomRandom(fn=random, owner_name=f"{who}", signature=signature, dtype=dtype, name=name)
        _, rv = op(*tensors, size=size, rng=new_rng(), return_next_rng=True)
        if shape is not None and all(isinstance(s, int | np.integer) for s in shape):
            rv = pt.specify_shape(rv, tuple(int(s) for s in shape))
        rv.tag.symvi = DistInfo(new_cls, dict(zip(new_cls.params, tensors)))
        return rv


# ---------------------------------------------------------------------- dist= form
# scalar op -> (inverse(y, c, rv_first), log|d inverse / dy|(y, c, rv_first)); ``c`` is the other
# operand (None for unary ops); rv_first says whether the random operand comes first
_UNARY = {
    ps.Exp: (lambda y: pt.log(y), lambda y: -pt.log(y)),
    ps.Log: (lambda y: pt.exp(y), lambda y: y),
    ps.Neg: (lambda y: -y, lambda y: pt.zeros_like(y)),
    psm.Sigmoid: (lambda y: pt.log(y) - pt.log1p(-y), lambda y: -pt.log(y) - pt.log1p(-y)),
}
# the image of each unary op (where its inverse is defined); a safe point inside it
_DOMAIN = {
    ps.Exp: (lambda y: y > 0, 1.0),
    psm.Sigmoid: (lambda y: pt.and_(y > 0, y < 1), 0.5),
}
_BINARY = {
    ps.Add: (lambda y, c, first: y - c, lambda y, c, first: pt.zeros_like(y)),
    ps.Sub: (lambda y, c, first: y + c if first else c - y, lambda y, c, first: pt.zeros_like(y)),
    ps.Mul: (lambda y, c, first: y / c, lambda y, c, first: -pt.log(pt.abs(c)) + pt.zeros_like(y)),
    ps.TrueDiv: (
        lambda y, c, first: y * c if first else c / y,
        lambda y, c, first: pt.log(pt.abs(c)) + (pt.zeros_like(y) if first else -2 * pt.log(pt.abs(y))),
    ),
}
SUPPORTED_OPS = "exp, log, sigmoid, neg, and +, -, *, / by terms without the random variable"


def _random_ancestors(var) -> list:
    """The symvi random variables in ``var``'s graph (itself included)."""
    return [v for v in ancestors([var]) if dist_info(v) is not None]


def _peel(who, out):
    """(base variable, [(inverse, log-jacobian), ...] from the output inwards)."""
    steps = []
    node_var = out
    while dist_info(node_var) is None:
        node = node_var.owner
        if node is None:
            raise TypeError(f"{who}: dist= must return a graph built on a symvi distribution (Dist.dist(...)), got a constant or input")
        op = node.op
        if type(op).__name__ == "SpecifyShape" or type(op).__name__ == "DimShuffle" and len(node.inputs) == 1 and node.inputs[0].ndim == node_var.ndim:
            node_var = node.inputs[0]
            continue
        if not isinstance(op, Elemwise):
            raise TypeError(f"{who}: cannot derive the log density through {op} ({SUPPORTED_OPS} are supported); give logp=")
        has_rv = [bool(_random_ancestors(i)) for i in node.inputs]
        if sum(has_rv) != 1:
            raise TypeError(
                f"{who}: cannot derive the log density of {op} applied to {sum(has_rv)} random variables "
                f"(only one invertible chain on a single distribution: {SUPPORTED_OPS}); give logp="
            )
        k = has_rv.index(True)
        scalar = type(op.scalar_op)
        if len(node.inputs) == 1 and scalar in _UNARY:
            inv, jac = _UNARY[scalar]
            steps.append((inv, jac, _DOMAIN.get(scalar)))
        elif len(node.inputs) == 2 and scalar in _BINARY:
            c = node.inputs[1 - k]
            if c.dtype != pytensor.config.floatX:  # 2.0 arrives as float32: log|c| in floatX
                c = c.astype(pytensor.config.floatX)
            inv2, jac2 = _BINARY[scalar]
            steps.append(((lambda y, c=c, f=(k == 0), g=inv2: g(y, c, f)), (lambda y, c=c, f=(k == 0), g=jac2: g(y, c, f)), None))
        else:
            raise TypeError(f"{who}: cannot derive the log density through {op} ({SUPPORTED_OPS} are supported); give logp=")
        node_var = node.inputs[k]
    return node_var, steps


def _symbolic(who, name, tensors, build, size, logp, logcdf, icdf, support_point):
    out = build(*tensors, size)
    out = pt.as_tensor_variable(out)
    base = None
    steps = []
    if logp is None:
        base, steps = _peel(who, out)
    base_info = dist_info(base) if base is not None else None
    if logp is not None:
        user_logp = logp

        def derived_logp(value, **kw):
            return user_logp(value, *kw.values())
    else:

        def derived_logp(value, **kw):
            y = pt.as_tensor_variable(value)
            jac = pt.zeros_like(y, dtype=pytensor.config.floatX)
            ok = None
            for inv, log_jac, domain in steps:
                if domain is not None:  # outside the op's image: -inf (inverse at a safe point)
                    inside = domain[0](y)
                    ok = inside if ok is None else pt.and_(ok, inside)
                    y = pt.switch(inside, y, domain[1])
                jac = jac + log_jac(y)
                y = inv(y)
            lp = base_info.logp(y) + jac
            return lp if ok is None else pt.switch(ok, lp, -np.inf)

    plain = base is not None and not steps  # dist= returned a distribution as it is
    discrete = bool(base_info.cls.discrete) if base_info is not None else out.dtype.startswith(("int", "uint"))
    if base_info is not None and discrete and steps:
        raise TypeError(f"{who}: a change of variables needs a continuous distribution, got {base_info.cls.__name__}")
    outer = None
    if base is not None and steps:
        node = out
        while type(node.owner.op).__name__ in ("SpecifyShape",):
            node = node.owner.inputs[0]
        outer = type(node.owner.op.scalar_op) if isinstance(node.owner.op, Elemwise) else None

    def default_transform(c, params):
        if plain:
            return base_info.cls.default_transform(base_info.params)
        if outer is ps.Exp:
            return transforms.log
        if outer is psm.Sigmoid:
            return transforms.logodds
        return None

    def point(c, rv, **kw):
        if support_point is not None:
            return support_point(rv, size, *kw.values())
        if base is None:
            return pt.zeros_like(rv, dtype=pytensor.config.floatX)
        start = pt.broadcast_to(base_info.cls.support_point(base, **base_info.params), base.shape)
        return graph_replace(out, {base: start.astype(base.dtype)}, strict=False)

    attrs = {
        "params": tuple(f"param{i}" for i in range(len(tensors))),
        "support": "derived from dist=",
        "logp": staticmethod(derived_logp),
        "default_transform": classmethod(default_transform),
        "support_point": classmethod(point),
        "__doc__": f"CustomDist {name} (built by dist=).",
    }
    if logcdf is not None:
        attrs["logcdf"] = staticmethod(lambda value, **kw: logcdf(value, *kw.values()))
    elif plain:
        attrs["logcdf"] = None if base_info.cls.logcdf is None else staticmethod(lambda value, **kw: base_info.cls.logcdf(value, **base_info.params))
    if icdf is not None:
        attrs["icdf"] = staticmethod(lambda q, **kw: icdf(q, *kw.values()))
    elif plain:
        attrs["icdf"] = None if base_info.cls.icdf is None else staticmethod(lambda q, **kw: base_info.cls.icdf(q, **base_info.params))
    new_cls = type(name, (Discrete if discrete else Continuous,), attrs)
    if out.owner is None or dist_info(out) is not None:
        out = pt.identity(out)  # its own variable: the base keeps its tag
    out.tag.symvi = DistInfo(new_cls, dict(zip(new_cls.params, tensors)))
    return out


#: PyMC's older name for :class:`CustomDist` (PyMC 5 keeps it as the same class)
DensityDist = CustomDist
