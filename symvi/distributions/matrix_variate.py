"""Matrix-structured normals and the Wishart distribution.

* ``MatrixNormal(mu, rowcov|rowchol|rowtau, colcov|colchol|coltau)``: ``ndim_supp = 2``;
* ``KroneckerNormal(mu, covs|chols|evds, sigma=0)``: a vector normal whose covariance is a
  Kronecker product (plus ``sigma^2 I``), evaluated through the factors' eigendecompositions;
* ``Wishart(nu, V)``: ``ndim_supp = 2``; default transform
  :class:`symvi.transforms.CholeskyMatrix` (PyMC leaves Wishart untransformed and warns; here a
  Wishart latent is a valid VI variable).

Examples
--------
>>> import numpy as np, symvi as sv
>>> x = sv.MatrixNormal.dist(mu=np.zeros((2, 3)), rowcov=np.eye(2), colcov=np.eye(3))
>>> sv.draw(x, random_seed=1).shape
(2, 3)
"""

from __future__ import annotations

import functools

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable
from pytensor.tensor.linalg import cholesky, eigh, solve_triangular

from symvi import transforms
from symvi.distributions.base import Continuous, bound
from symvi.distributions.dist_math import batch_dims, mvnormal_draw, LOG_2, LOG_2PI, LOG_PI, as_float, is_numeric
from symvi.distributions.variants import variant

__all__ = ["MatrixNormal", "KroneckerNormal", "Wishart"]


def _chol_of(who: str, what: str, cov=None, chol=None, tau=None):
    """Lower Cholesky factor from exactly one of a covariance, a factor or a precision."""
    given = [n for n, v in ((f"{what}cov", cov), (f"{what}chol", chol), (f"{what}tau", tau)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"{who}: give exactly one of {what}cov, {what}chol or {what}tau (got {given or 'none'})")
    name, value = given[0], next(v for v in (cov, chol, tau) if v is not None)
    if not isinstance(value, Variable):
        value = np.asarray(value, dtype="float64")
        if value.ndim != 2 or value.shape[0] != value.shape[1]:
            raise ValueError(f"{who}: {name} must be a square matrix, got shape {value.shape}")
        if chol is not None:
            return np.tril(value)
        try:
            factor = np.linalg.cholesky(value)
            return factor if cov is not None else np.linalg.cholesky(np.linalg.inv(value))
        except np.linalg.LinAlgError:
            raise ValueError(f"{who}: {name} must be positive definite") from None
    value = as_float(value)
    if value.ndim != 2:
        raise ValueError(f"{who}: {name} must be a matrix (2 dimensions), got {value.ndim}")
    if chol is not None:
        return pt.tril(value)
    return cholesky(value if cov is not None else pt.linalg.inv(value), lower=True)


def _valid_factor(chol):
    if isinstance(chol, np.ndarray):
        return bool(np.all(np.isfinite(chol)) and np.all(np.diagonal(chol, axis1=-2, axis2=-1) > 0))
    return pt.all(pt.isfinite(chol)) & pt.all(pt.diagonal(chol, axis1=-2, axis2=-1) > 0)


def _batch(size, default=()):
    if size is None:
        return tuple(default)
    if isinstance(size, Variable):
        return tuple(size[i] for i in range(pt.get_vector_length(size)))
    return tuple(size)


class MatrixNormal(Continuous):
    """MatrixNormal(mu, rowcov=U | rowchol= | rowtau=, colcov=V | colchol= | coltau=).

    ``vec(X) ~ N(vec(mu), V (x) U)`` for m x n matrices X: ``U`` (m x m) is the covariance
    among rows, ``V`` (n x n) among columns.  ``log p = -mn/2 log(2 pi) - n/2 log|U| - m/2 log|V|
    - 1/2 tr[V^-1 (X-mu)^T U^-1 (X-mu)]``.  Support: R^(m x n).  ``rowtau``/``coltau``
    (precisions) are a symvi extension.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model() as m:
    ...     x = sv.MatrixNormal("x", mu=np.zeros((2, 2)), rowcov=np.eye(2), colchol=np.eye(2))
    >>> m.initial_point()["x"].shape
    (2, 2)
    """

    params = ("mu", "rowchol", "colchol")
    ndim_supp = 2
    support = "R^(m x n)"
    checks = [
        (("rowchol",), _valid_factor, "a Cholesky factor with positive diagonal (rowcov/rowtau positive definite)"),
        (("colchol",), _valid_factor, "a Cholesky factor with positive diagonal (colcov/coltau positive definite)"),
    ]

    @classmethod
    def parametrize(cls, mu, rowcov=None, rowchol=None, colcov=None, colchol=None, *, rowtau=None, coltau=None):
        row = _chol_of("MatrixNormal", "row", rowcov, rowchol, rowtau)
        col = _chol_of("MatrixNormal", "col", colcov, colchol, coltau)
        if is_numeric(mu) or isinstance(mu, list):
            mu = np.asarray(mu, dtype="float64")
            if is_numeric(row) and is_numeric(col):
                try:
                    mu = np.broadcast_to(mu, mu.shape[:-2] + (row.shape[0], col.shape[0]) if mu.ndim >= 2 else (row.shape[0], col.shape[0]))
                except ValueError:
                    raise ValueError(
                        f"MatrixNormal: mu of shape {mu.shape} does not fit {row.shape[0]} x {col.shape[0]} (rows x cols)"
                    ) from None
        return {"mu": mu, "rowchol": row, "colchol": col}

    @classmethod
    def rv_graph(cls, params, size, rng):
        mu, row, col = as_float(params["mu"]), as_float(params["rowchol"]), as_float(params["colchol"])
        mu = mu + pt.zeros((row.shape[0], col.shape[0]))
        batch = _batch(size, tuple(mu.shape)[:-2])
        z = rb.normal(0.0, 1.0, size=batch + (row.shape[0], col.shape[0]), rng=rng)
        return mu + row @ z @ col.T

    @staticmethod
    def logp(value, mu, rowchol, colchol):
        delta = as_float(value) - as_float(mu)
        row, col = as_float(rowchol), as_float(colchol)
        m, n = row.shape[0].astype(delta.dtype), col.shape[0].astype(delta.dtype)
        a = solve_triangular(row, delta, lower=True, b_ndim=2)  # U^-1/2 (X - mu)
        b = solve_triangular(col, pt.swapaxes(a, -1, -2), lower=True, b_ndim=2)
        quad = pt.sum(b**2, axis=(-2, -1))
        half_logdet_row = pt.sum(pt.log(pt.diagonal(row)))
        half_logdet_col = pt.sum(pt.log(pt.diagonal(col)))
        return -0.5 * m * n * LOG_2PI - 0.5 * quad - m * half_logdet_col - n * half_logdet_row

    @classmethod
    def support_point(cls, rv, mu, rowchol, colchol):
        return pt.broadcast_to(mu, rv.shape)


class KroneckerNormal(Continuous):
    """KroneckerNormal(mu, covs=[K_1, ...] | chols=[L_1, ...] | evds=[(v_1, Q_1), ...], sigma=0).

    ``x ~ N(mu, K_1 (x) K_2 (x) ... + sigma^2 I)`` with N = prod(dim K_i).  The log density uses
    the factors' eigendecompositions (no N x N matrix is formed): with ``Q = (x) Q_i`` and
    ``lambda = (x) v_i + sigma^2``, ``log p = -1/2 [sum((Q^T (x-mu))^2 / lambda) + sum(log lambda)
    + N log(2 pi)]``.  Support: R^N.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> x = sv.KroneckerNormal.dist(mu=np.zeros(6), covs=[np.eye(2), np.eye(3)], sigma=0.1)
    >>> sv.draw(x, random_seed=1).shape
    (6,)
    """

    params = ("mu", "sigma")
    ndim_supp = 1
    support = "R^N"
    checks = [(("sigma",), lambda s: s >= 0, ">= 0")]

    @classmethod
    def dist(cls, mu, covs=None, chols=None, evds=None, sigma=0.0, **kwargs):
        given = [n for n, v in (("covs", covs), ("chols", chols), ("evds", evds)) if v is not None]
        if len(given) != 1:
            raise ValueError(f"KroneckerNormal: give exactly one of covs, chols or evds (got {given or 'none'})")
        factors = covs if covs is not None else chols if chols is not None else evds
        if not isinstance(factors, list | tuple) or not factors:
            raise TypeError(f"KroneckerNormal: {given[0]} must be a non-empty list, got {type(factors).__name__}")
        k = len(factors)
        sub = variant(KroneckerNormal, params=("mu", "sigma") + tuple(f"cov_{i}" for i in range(k)))
        mats = {f"cov_{i}": _as_cov(given[0], i, f) for i, f in enumerate(factors)}
        return Continuous.dist.__func__(sub, mu=mu, sigma=sigma, **mats, **kwargs)

    @classmethod
    def parametrize(cls, **kwargs):
        return Continuous.parametrize.__func__(cls, **kwargs)

    @classmethod
    def rv_graph(cls, params, size, rng):
        covs = [as_float(params[n]) for n in cls.params[2:]]
        cov = functools.reduce(pt.linalg.kron, covs)
        sigma = as_float(params["sigma"])
        cov = cov + sigma**2 * pt.eye(cov.shape[0])
        mu = as_float(params["mu"]) + pt.zeros((cov.shape[0],))
        return mvnormal_draw(mu, cov, size=size, rng=rng)

    @staticmethod
    def logp(value, mu, sigma, **covs):
        delta = as_float(value) - as_float(mu)
        mats = [as_float(covs[f"cov_{i}"]) for i in range(len(covs))]
        pairs = [eigh(c) for c in mats]
        dims = [c.shape[0] for c in mats]
        nb = delta.ndim - 1
        rot = delta.reshape((*[delta.shape[i] for i in range(nb)], *dims), ndim=nb + len(dims))
        for i, (_, q) in enumerate(pairs):  # apply Q_i^T along factor axis i
            rot = pt.moveaxis(pt.moveaxis(rot, nb + i, -1) @ q, -1, nb + i)
        rot = rot.reshape((*[delta.shape[i] for i in range(nb)], -1), ndim=nb + 1)
        eig = pairs[0][0]
        for v, _ in pairs[1:]:
            eig = (eig[:, None] * v[None, :]).flatten()
        eig = eig + as_float(sigma) ** 2
        n = eig.shape[0].astype(delta.dtype)
        return -0.5 * (pt.sum(rot**2 / eig, axis=-1) + pt.sum(pt.log(eig)) + n * LOG_2PI)

    @classmethod
    def support_point(cls, rv, mu, sigma, **covs):
        return pt.broadcast_to(mu, rv.shape)


def _as_cov(kind: str, i: int, factor):
    """The i-th Kronecker factor as a covariance matrix (numpy when constant)."""
    who = f"KroneckerNormal: {kind}[{i}]"
    if kind == "evds":
        if not isinstance(factor, tuple | list) or len(factor) != 2:
            raise TypeError(f"{who} must be a pair (eigenvalues, eigenvectors), got {type(factor).__name__}")
        vals, vecs = factor
        if not isinstance(vals, Variable) and not isinstance(vecs, Variable):
            vals, vecs = np.asarray(vals, dtype="float64"), np.asarray(vecs, dtype="float64")
            return (vecs * vals) @ vecs.T
        vals, vecs = as_float(vals), as_float(vecs)
        return (vecs * vals) @ vecs.T
    if isinstance(factor, Variable):
        mat = as_float(factor)
        return mat @ mat.T if kind == "chols" else mat
    mat = np.asarray(factor, dtype="float64")
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise ValueError(f"{who} must be a square matrix, got shape {mat.shape}")
    return mat @ mat.T if kind == "chols" else mat


# ---------------------------------------------------------------------- Wishart
def _square(V):
    if V.ndim < 2:
        return np.array(False)
    if isinstance(V, Variable):  # `==` on shape entries would compare the variables, not values
        return pt.eq(V.shape[-1], V.shape[-2])
    return V.shape[-1] == V.shape[-2]


def _spd(V):
    if isinstance(V, np.ndarray):
        try:
            np.linalg.cholesky(V)
            return True
        except np.linalg.LinAlgError:
            return False
    return pt.all(pt.isfinite(cholesky(V, lower=True)))


def _multigammaln(a, p):
    j = pt.arange(p).astype(a.dtype)
    return p * (p - 1) / 4.0 * LOG_PI + pt.sum(pt.gammaln(a[..., None] - j / 2.0), axis=-1)


class Wishart(Continuous):
    """Wishart(nu, V): p x p symmetric positive-definite matrices, ``nu > p - 1`` degrees of
    freedom and p x p scale matrix ``V`` (positive definite); ``E[X] = nu V``.

    ``log p(X) = [(nu - p - 1) log|X| - tr(V^-1 X) - nu p log 2 - nu log|V|]/2
    - log Gamma_p(nu/2)``, over X's lower triangle; -inf for X not symmetric positive definite.

    Default transform :class:`symvi.transforms.CholeskyMatrix` (``X = L L^T``, log-diagonal),
    so a Wishart latent runs unconstrained in VI; this needs ``V``'s size to be known when the
    model is built (a ValueError otherwise).

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model() as m:
    ...     X = sv.Wishart("X", nu=4, V=np.eye(2))
    >>> m.initial_point()["X_cholesky__"].shape
    (3,)
    """

    params = ("nu", "V")
    ndim_supp = 2
    support = "symmetric positive-definite p x p matrices"
    checks = [
        (("V",), _square, "a square matrix (..., p, p)"),
        (("V",), _spd, "positive definite"),
        (("nu", "V"), lambda nu, V: nu > V.shape[-1] - 1, "greater than p - 1 (nu > p - 1, p = V's size)"),
    ]

    @classmethod
    def rv_graph(cls, params, size, rng):
        nu, V = as_float(params["nu"]), as_float(params["V"])
        p = V.shape[-1]
        # static lengths as ints: a symbolic length 1 (of a constant) would not broadcast
        dims = [batch_dims(v, d) for v, d in ((nu, 0), (V, 2))]
        batch = _batch(size, tuple(pt.broadcast_shape(*dims, arrays_are_shapes=True)))
        # Bartlett: A lower triangular, A_ii^2 ~ chi2(nu - i), A_ij ~ N(0, 1) below the diagonal
        df = nu[..., None] - pt.arange(p).astype(nu.dtype)
        diag = pt.sqrt(rb.chisquare(df, size=batch + (p,), rng=rng))
        from symvi.pytensorf import new_rng

        below = pt.tril(rb.normal(0.0, 1.0, size=batch + (p, p), rng=new_rng()), k=-1)
        a = below + diag[..., :, None] * pt.eye(p)
        la = cholesky(V, lower=True) @ a
        return la @ pt.swapaxes(la, -1, -2)

    @staticmethod
    def logp(value, nu, V):
        X, nu, V = as_float(value), as_float(nu), as_float(V)
        p = V.shape[-1]
        pf = p.astype(X.dtype)
        lx = cholesky(X, lower=True)
        lv = cholesky(V, lower=True)
        logdet_x = 2 * pt.sum(pt.log(pt.diagonal(lx, axis1=-2, axis2=-1)), axis=-1)
        logdet_v = 2 * pt.sum(pt.log(pt.diagonal(lv, axis1=-2, axis2=-1)), axis=-1)
        trace = pt.sum(solve_triangular(lv, lx, lower=True, b_ndim=2) ** 2, axis=(-2, -1))  # tr(V^-1 X)
        lp = 0.5 * ((nu - pf - 1) * logdet_x - trace - nu * pf * LOG_2 - nu * logdet_v) - _multigammaln(nu / 2, p)
        pd = pt.all(pt.isfinite(lx), axis=(-2, -1))
        sym = pt.all(pt.abs(X - pt.swapaxes(X, -1, -2)) <= 1e-9 * (1 + pt.abs(X)), axis=(-2, -1))
        return bound(pt.switch(pd, lp, -np.inf), pd, sym)

    @classmethod
    def default_transform(cls, params):
        p = params["V"].type.shape[-1]
        if p is None:
            raise ValueError(
                "Wishart: the default (Cholesky) transform needs V's size when the model is built; give V a "
                "static shape (a constant, or pt.tensor(shape=(p, p))) or pass transform= explicitly"
            )
        return transforms.CholeskyMatrix(p)

    @classmethod
    def support_point(cls, rv, nu, V):
        return pt.broadcast_to(as_float(nu)[..., None, None] * as_float(V), rv.shape)
