"""ZeroSumNormal: a normal vector (or array) constrained to sum to zero over its last axes.

Examples
--------
>>> import symvi as sv
>>> x = sv.ZeroSumNormal.dist(sigma=2.0, shape=(3, 4), n_zerosum_axes=2)
>>> d = sv.draw(x, random_seed=1)
>>> bool(abs(d.sum(0)).max() < 1e-12 and abs(d.sum(1)).max() < 1e-12)
True
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable

from symvi import transforms
from symvi.distributions.base import Continuous, bound, positive
from symvi.distributions.dist_math import LOG_2PI, as_float, is_numeric
from symvi.distributions.variants import variant

__all__ = ["ZeroSumNormal"]


def _n_axes(n_zerosum_axes) -> int:
    if n_zerosum_axes is None:
        return 1
    if not isinstance(n_zerosum_axes, int | np.integer) or isinstance(n_zerosum_axes, bool):
        raise TypeError(f"ZeroSumNormal: n_zerosum_axes must be an integer, got {n_zerosum_axes!r}")
    if n_zerosum_axes < 1:
        raise ValueError(f"ZeroSumNormal: n_zerosum_axes must be >= 1, got {n_zerosum_axes} (use Normal for none)")
    return int(n_zerosum_axes)


class ZeroSumNormal(Continuous):
    """ZeroSumNormal(sigma=1, n_zerosum_axes=1, support_shape=None): ``N(0, sigma^2 (I - J/K))``.

    A normal array whose last ``n_zerosum_axes`` axes each sum to zero; ``sigma`` is the scale
    of the underlying unconstrained normal and must have length 1 over the zero-sum axes.
    The shape comes from ``shape``, ``dims``, observed data or ``support_shape`` (the lengths
    of the zero-sum axes).  As in PyMC the log density lives on the zero-sum subspace:
    ``sum(-x^2 / (2 sigma^2)) - prod(K_i - 1) * (log(sigma) + log(2 pi)/2)`` per event, and
    values off the subspace get -inf.  The default transform is
    :class:`symvi.transforms.ZeroSumTransform` (an isometry, zero log-Jacobian).

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model(coords={"group": list("abc")}) as m:
    ...     a = sv.ZeroSumNormal("a", sigma=1.0, dims="group")
    >>> m.initial_point()["a_zerosum__"].shape
    (2,)
    """

    params = ("sigma", "support_shape")
    ndim_supp = 1
    support = "real, summing to 0 over the last n_zerosum_axes axes"
    checks = [(("sigma",), positive, "> 0")]

    def __new__(cls, name, *args, n_zerosum_axes=None, **kwargs):
        sub = variant(ZeroSumNormal, ndim_supp=_n_axes(n_zerosum_axes))
        return Continuous.__new__(sub, name, *args, **kwargs)

    @classmethod
    def dist(cls, sigma=1.0, n_zerosum_axes=None, support_shape=None, *, shape=None, size=None, _label=None):
        n = _n_axes(n_zerosum_axes) if n_zerosum_axes is not None or cls is ZeroSumNormal else cls.ndim_supp
        sub = variant(ZeroSumNormal, ndim_supp=n)
        label = _label or "ZeroSumNormal.dist"
        if shape is not None and not isinstance(shape, Variable):
            shape = tuple(int(s) for s in np.atleast_1d(shape))
            if len(shape) < n:
                raise ValueError(f"ZeroSumNormal {label}: shape={shape} has fewer than n_zerosum_axes={n} entries")
            if support_shape is not None and tuple(np.atleast_1d(support_shape)) != shape[-n:]:
                raise ValueError(f"ZeroSumNormal {label}: support_shape={support_shape} contradicts shape={shape}")
            support_shape = shape[-n:]
        if support_shape is None:
            raise ValueError(f"ZeroSumNormal {label}: give shape=, dims=, observed= or support_shape= (the zero-sum axes' lengths)")
        support_shape = tuple(int(s) for s in np.atleast_1d(support_shape))
        if len(support_shape) != n or min(support_shape) < 1:
            raise ValueError(
                f"ZeroSumNormal {label}: support_shape must hold n_zerosum_axes={n} positive lengths, got {support_shape}"
            )
        if shape is None and size is not None and not isinstance(size, Variable):
            shape = tuple(int(s) for s in np.atleast_1d(size)) + support_shape
            size = None
        if is_numeric(sigma):
            sig = np.asarray(sigma, dtype="float64")
            if sig.ndim >= n and any(s != 1 for s in sig.shape[sig.ndim - n :]):
                raise ValueError(
                    f"ZeroSumNormal {label}: sigma must have length 1 over the {n} zero-sum axes, got shape {sig.shape}"
                )
        return Continuous.dist.__func__(sub, sigma, np.array(support_shape, dtype="int64"), shape=shape, size=size, _label=label)

    @classmethod
    def rv_graph(cls, params, size, rng):
        n = cls.ndim_supp
        sigma = as_float(params["sigma"])
        sigma = pt.shape_padleft(sigma, max(n - sigma.ndim, 0))
        supp = [params["support_shape"][i] for i in range(n)]
        if size is None:
            batch = [sigma.shape[i] for i in range(sigma.ndim - n)]
        elif isinstance(size, Variable):
            batch = [size[i] for i in range(pt.get_vector_length(size))]
        else:
            batch = list(size)
        x = rb.normal(0.0, sigma, size=tuple(batch) + tuple(supp), rng=rng)
        for axis in range(1, n + 1):
            x = x - pt.mean(x, axis=-axis, keepdims=True)
        return x

    @classmethod
    def logp(cls, value, sigma, support_shape):
        n = cls.ndim_supp
        x, sigma = as_float(value), as_float(sigma)
        axes = tuple(range(-n, 0))
        supp = [x.shape[x.ndim - n + i].astype(pytensor.config.floatX) for i in range(n)]
        dof_share = pt.prod(pt.stack([(k - 1.0) / k for k in supp]))  # prod(K_i - 1) / prod(K_i)
        lp = pt.sum(-0.5 * (x / sigma) ** 2 - (0.5 * LOG_2PI + pt.log(sigma)) * dof_share, axis=axes)
        ok = None
        for axis in range(1, n + 1):
            close = pt.abs(pt.mean(x, axis=-axis)) <= 1e-9
            if n > 1:
                close = pt.all(close, axis=tuple(range(-(n - 1), 0)))
            ok = close if ok is None else pt.and_(ok, close)
        return bound(lp, ok)

    @classmethod
    def default_transform(cls, params):
        return transforms.ZeroSumTransform(cls.ndim_supp)
