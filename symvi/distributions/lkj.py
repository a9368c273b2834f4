"""LKJ priors on correlation matrices: LKJCorr and LKJCholeskyCov (PyMC's names and packings).

* ``LKJCorr(name, n, eta)``: the strict upper triangle of an n x n correlation matrix, packed
  row by row (``np.triu_indices(n, 1)``), density ``|C|^(eta - 1) / c_n(eta)``.
* ``LKJCholeskyCov(name, eta, n, sd_dist)``: a covariance's lower Cholesky factor packed row by
  row (``np.tril_indices(n)``), correlations LKJ(eta) and standard deviations ``sd_dist``;
  returns ``(chol, corr, stds)`` and records ``{name}_corr`` and ``{name}_stds``.

Normalising constant: ``c_n(eta)`` of Lewandowski, Kurowicka and Joe (2009), so that the
densities integrate to one.  PyMC 5.28.5 adds this constant with the wrong sign (its LKJCorr
density integrates to 4 for n = 2, eta = 1; Stan fixed the same sign in stan-dev/math#628), so
symvi's log densities equal PyMC's minus twice PyMC's constant; everything else agrees.

Examples
--------
>>> import numpy as np, symvi as sv
>>> from symvi.distributions.base import dist_info
>>> r = sv.LKJCorr.dist(n=2, eta=1.0)
>>> round(float(np.exp(dist_info(r).logp(np.array([0.3])).eval())), 6)  # uniform on (-1, 1)
0.5
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable
from pytensor.tensor.linalg import cholesky
from pytensor.tensor.variable import TensorConstant

from symvi import transforms
from symvi.distributions.base import Continuous, DistInfo, _widen, bound, dist_info, positive
from symvi.distributions.dist_math import LOG_2, as_float
from symvi.pytensorf import as_tensor, new_rng

__all__ = ["LKJCorr", "LKJCholeskyCov", "lkj_log_normalizer"]


def _int_n(n, who: str) -> int:
    if isinstance(n, TensorConstant):
        n = n.data
    if isinstance(n, Variable):
        raise TypeError(f"{who}: n must be a constant integer (the matrix dimension), got a symbolic {n}")
    arr = np.asarray(n)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf" or float(arr) != int(arr) or int(arr) < 1:
        raise ValueError(f"{who}: n must be a positive integer, got {n!r}")
    return int(arr)


def lkj_log_normalizer(eta, n: int):
    """log c_n(eta) = sum_{k=1}^{n-1} [(2 eta - 2 + n - k)(n - k) log 2 + (n - k) log B(b_k, b_k)]
    with b_k = eta + (n - k - 1)/2 (Lewandowski, Kurowicka and Joe 2009, section 3.2).

    Examples
    --------
    >>> round(float(lkj_log_normalizer(1.0, 2).eval()), 6)  # uniform r in (-1, 1): c = 2
    0.693147
    """
    eta = as_float(eta)
    total = pt.constant(0.0, dtype=pytensor.config.floatX)
    for k in range(1, n):
        b = eta + (n - k - 1) / 2.0
        log_beta = 2 * pt.gammaln(b) - pt.gammaln(2 * b)
        total = total + (2 * eta - 2 + n - k) * (n - k) * LOG_2 + (n - k) * log_beta
    return total


def _cpc_draws(n: int, eta, batch, rng):
    """Canonical partial correlations of LKJ(eta) draws, column by column of the lower triangle:
    the pair in column j is ``2 Beta(b, b) - 1`` with ``b = eta + (n - j - 2)/2``, independently."""
    _, cols = transforms._pairs_lower(n)
    b = as_float(eta)[..., None] + (n - cols - 2) / 2.0
    return 2.0 * rb.beta(b, b, size=tuple(batch) + (len(cols),), rng=rng) - 1.0


def _batch_list(size, shapes=()):
    if size is None:
        return list(shapes)
    if isinstance(size, Variable):
        return [size[i] for i in range(pt.get_vector_length(size))]
    return list(size)


class LKJCorr(Continuous):
    """LKJCorr(n, eta): LKJ distribution of n x n correlation matrices, as packed upper triangles.

    Support: vectors of length n(n-1)/2 whose matrix (``np.triu_indices(n, 1)``, unit diagonal)
    is positive definite.  ``eta > 0``; ``eta = 1`` is uniform.  ``return_matrix=True`` returns
    the full matrix (the variable itself stays packed, as in PyMC).  Default transform:
    :class:`symvi.transforms.CorrCholeskyPacked` (tanh of canonical partial correlations), so
    every unconstrained value is a valid correlation matrix.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model() as m:
    ...     c = sv.LKJCorr("c", n=3, eta=2.0)
    >>> m.initial_point()["c_corr-cholesky__"].tolist()
    [0.0, 0.0, 0.0]
    """

    params = ("n", "eta")
    ndim_supp = 1
    support = "packed correlation matrix (upper triangle, positive definite)"
    checks = [(("eta",), positive, "> 0")]

    def __new__(cls, name, n, eta, *, return_matrix=False, **kwargs):
        packed = Continuous.__new__(cls, name, n, eta, **kwargs)
        return transforms.unpack_corr(packed, _int_n(n, f"LKJCorr({name!r})")) if return_matrix else packed

    @classmethod
    def dist(cls, n, eta, *, return_matrix=False, **kwargs):
        packed = super().dist(n, eta, **kwargs)
        return transforms.unpack_corr(packed, _int_n(n, "LKJCorr")) if return_matrix else packed

    @classmethod
    def parametrize(cls, n, eta):
        n = _int_n(n, "LKJCorr")
        if n < 2:
            raise ValueError(f"LKJCorr: n must be >= 2 (a matrix with at least one correlation), got {n}")
        if not isinstance(eta, Variable) and np.ndim(eta) != 0:
            raise ValueError(f"LKJCorr: eta must be a scalar, got shape {np.shape(eta)}")
        return {"n": np.int64(n), "eta": eta}

    @classmethod
    def rv_graph(cls, params, size, rng):
        n = _int_n(params["n"], "LKJCorr")
        z = _cpc_draws(n, params["eta"], _batch_list(size), rng)
        return transforms.CorrCholeskyPacked(n).backward(pt.arctanh(z))

    @staticmethod
    def logp(value, n, eta):
        n = _int_n(n, "LKJCorr")
        x = as_float(value)
        corr = transforms.unpack_corr(x, n)
        lower = cholesky(corr, lower=True)  # NaN when not positive definite
        diag = pt.diagonal(lower, axis1=-2, axis2=-1)
        logdet = 2 * pt.sum(pt.log(diag), axis=-1)
        lp = (as_float(eta) - 1) * logdet - lkj_log_normalizer(eta, n)
        pd = pt.all(pt.isfinite(lower), axis=(-2, -1))
        inside = pt.all(pt.abs(x) <= 1, axis=-1)
        return bound(pt.switch(pd, lp, -np.inf), pd, inside)

    @classmethod
    def default_transform(cls, params):
        return transforms.CorrCholeskyPacked(_int_n(params["n"], "LKJCorr"))


def _packed_parts(value, n: int):
    """(sd, lower-Cholesky diagonal of the correlation, row index) of packed Cholesky factors."""
    rows, cols = np.tril_indices(n)
    diag = np.cumsum(np.arange(1, n + 1)) - 1
    x = as_float(value)
    row_ss = pt.zeros(pt.concatenate([pt.as_tensor(x.shape[:-1], dtype="int64"), [n]]) if x.ndim > 1 else (n,), dtype=x.dtype)
    row_ss = pt.inc_subtensor(row_ss[..., rows], x**2)  # sum of squares of each row
    sd = pt.sqrt(row_ss)
    return sd, x[..., diag] / sd, x[..., diag]


def _helper_deterministics(n: int, packed):
    """(chol, corr, stds) of packed lower Cholesky factors (PyMC's LKJCholeskyCov outputs)."""
    rows, cols = np.tril_indices(n)
    shape = pt.concatenate([pt.as_tensor(packed.shape[:-1], dtype="int64"), [n, n]]) if packed.ndim > 1 else (n, n)
    chol = pt.set_subtensor(pt.zeros(shape, dtype=packed.dtype)[..., rows, cols], packed)
    cov = chol @ pt.swapaxes(chol, -1, -2)
    stds = pt.sqrt(pt.diagonal(cov, axis1=-2, axis2=-1))
    corr = cov / (stds[..., :, None] * stds[..., None, :])
    return chol, corr, stds


class LKJCholeskyCov(Continuous):
    """LKJCholeskyCov(name, eta, n, sd_dist, compute_corr=True, store_in_trace=True).

    The lower Cholesky factor ``L`` of a covariance ``diag(s) C diag(s)`` packed row by row
    (length n(n+1)/2), with ``C ~ LKJCorr(n, eta)`` and the standard deviations ``s ~ sd_dist``
    (an unregistered positive distribution, e.g. ``Exponential.dist(1.0, shape=n)``; a scalar
    one is used for each of the n deviations).  The density is over the packed entries:
    ``log p(s) + LKJ(C's Cholesky factor) - sum_i (i log s_i - log U_ii)``, ``U = diag(s)^-1 L``.

    With ``compute_corr=True`` (default) returns ``(chol, corr, stds)`` and, with
    ``store_in_trace``, records the Deterministics ``{name}_corr`` and ``{name}_stds``; with
    ``compute_corr=False`` returns the packed vector.  Default transform:
    :class:`symvi.transforms.CholeskyCovPacked` (log of the diagonal).

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model() as m:
    ...     chol, corr, stds = sv.LKJCholeskyCov("c", eta=2.0, n=3, sd_dist=sv.Exponential.dist(1.0))
    >>> sorted(m.named_vars)
    ['c', 'c_corr', 'c_stds']
    """

    params = ("n", "eta", "sd_dist")
    ndim_supp = 1
    support = "packed lower Cholesky factor (row-major, positive diagonal)"
    checks = [(("eta",), positive, "> 0")]

    def __new__(cls, name, eta, n, sd_dist, *, compute_corr=True, store_in_trace=True, **kwargs):
        from symvi.context import modelcontext

        packed = Continuous.__new__(cls, name, eta, n, sd_dist, compute_corr=False, **kwargs)
        if not compute_corr:
            return packed
        chol, corr, stds = _helper_deterministics(_int_n(n, f"LKJCholeskyCov({name!r})"), packed)
        if store_in_trace:
            corr = modelcontext(None).add_deterministic(f"{name}_corr", corr)
            stds = modelcontext(None).add_deterministic(f"{name}_stds", stds)
        return chol, corr, stds

    @classmethod
    def dist(cls, eta, n, sd_dist, *, compute_corr=True, shape=None, size=None, _label=None):
        label = _label or "LKJCholeskyCov.dist"
        who = f"LKJCholeskyCov {label}"
        n = _int_n(n, who)
        info = dist_info(sd_dist)
        if info is None or not isinstance(sd_dist, Variable):
            raise TypeError(f"{who}: sd_dist must be an unregistered distribution, e.g. Exponential.dist(1.0), got {type(sd_dist).__name__}")
        if sd_dist.name is not None:
            raise ValueError(f"{who}: sd_dist is the model variable {sd_dist.name!r}; pass an unregistered Dist.dist(...)")
        if info.cls.ndim_supp > 1:
            raise TypeError(f"{who}: sd_dist must be a scalar or vector distribution, got {info.cls.__name__}")
        if not isinstance(eta, Variable) and np.ndim(eta) != 0:
            raise ValueError(f"{who}: eta must be a scalar, got shape {np.shape(eta)}")
        params = {"n": pt.constant(np.int64(n)), "eta": as_tensor(_widen(eta), name=f"{label}: parameter eta"), "sd_dist": sd_dist}
        cls._check_constant_params({"eta": params["eta"], "n": params["n"]}, label)
        if shape is not None:
            shape = tuple(int(s) for s in np.atleast_1d(shape))
            if shape[-1] != n * (n + 1) // 2:
                raise ValueError(f"{who}: the last entry of shape={shape} must be n(n+1)/2 = {n * (n + 1) // 2}")
            size = shape[:-1]
        if size is not None and not isinstance(size, Variable):
            size = tuple(int(s) for s in np.atleast_1d(size))
        packed = cls.rv_graph(params, size, new_rng())
        packed.tag.symvi = DistInfo(cls, params)
        if not compute_corr:
            return packed
        return _helper_deterministics(n, packed)

    @classmethod
    def rv_graph(cls, params, size, rng):
        n = _int_n(params["n"], "LKJCholeskyCov")
        batch = _batch_list(size)
        sd_info = dist_info(params["sd_dist"])
        sd_size = tuple(batch) + ((n,) if sd_info.cls.ndim_supp == 0 else ())
        sds = sd_info.cls.rv_graph(sd_info.params, sd_size, new_rng())
        z = _cpc_draws(n, params["eta"], batch, rng)
        unit = transforms.CorrCholeskyPacked(n).chol(pt.arctanh(z))
        chol = as_float(sds)[..., :, None] * unit
        rows, cols = np.tril_indices(n)
        return chol[..., rows, cols]

    @staticmethod
    def logp(value, n, eta, sd_dist):
        n = _int_n(n, "LKJCholeskyCov")
        sd, unit_diag, diag = _packed_parts(value, n)
        sd_lp = dist_info(sd_dist).logp(sd)
        if dist_info(sd_dist).cls.ndim_supp == 0:
            sd_lp = pt.sum(sd_lp, axis=-1)
        i = np.arange(n, dtype="float64")
        log_u = pt.log(unit_diag)
        lkj = pt.sum((2 * as_float(eta) - 3 + n - i) * log_u, axis=-1) - lkj_log_normalizer(eta, n)
        log_jac = pt.sum(log_u - i * pt.log(sd), axis=-1)
        return bound(sd_lp + lkj + log_jac, pt.all(diag > 0, axis=-1))

    @classmethod
    def default_transform(cls, params):
        return transforms.CholeskyCovPacked(_int_n(params["n"], "LKJCholeskyCov"))

    @classmethod
    def support_point(cls, rv, n, eta, sd_dist):
        n = _int_n(n, "LKJCholeskyCov")
        diag = np.cumsum(np.arange(1, n + 1)) - 1
        return pt.set_subtensor(pt.zeros_like(rv)[..., diag], 1.0)
