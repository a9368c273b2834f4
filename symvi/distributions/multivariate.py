"""Multivariate distributions (``ndim_supp = 1``: the last axis is the event axis).

``logp`` returns one value per event (the batch shape); parameter constraints are reduced
to a single condition by :meth:`Distribution.logp_checked`.

Examples
--------
>>> import numpy as np, symvi as sv
>>> x = sv.MvNormal.dist(mu=np.zeros(2), cov=np.eye(2), size=5)
>>> x.eval().shape
(5, 2)
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.tensor.linalg import cholesky, solve_triangular

from symvi import transforms
from symvi.pytensorf import new_rng
from symvi.distributions.dist_math import batch_dims, mvnormal_draw, as_float, is_numeric, normalize, xlogy
from symvi.distributions.base import Continuous, Discrete, bound, event_len, nonneg, positive

__all__ = ["MvNormal", "MvStudentT", "Dirichlet", "Multinomial"]

LOG_2PI = float(np.log(2 * np.pi))




def _numpy_chol(mat, what):
    """Cholesky factor of a constant matrix; NaN where it is not positive definite."""
    mat = np.asarray(mat, dtype="float64")
    if mat.ndim < 2 or mat.shape[-1] != mat.shape[-2]:
        raise ValueError(f"MvNormal: {what} must be a square matrix (..., k, k), got shape {mat.shape}")
    try:
        return np.linalg.cholesky(mat)
    except np.linalg.LinAlgError:
        return np.full(mat.shape, np.nan)


def _valid_chol(chol):
    """Finite lower-triangular factor with a positive diagonal (numpy or pytensor input)."""
    if isinstance(chol, np.ndarray):
        diag = np.diagonal(chol, axis1=-2, axis2=-1)
        return np.all(np.isfinite(chol)) and np.all(diag > 0)
    diag = pt.diagonal(chol, axis1=-2, axis2=-1)
    return pt.all(pt.isfinite(chol)) & pt.all(diag > 0)


class MvNormal(Continuous):
    """MvNormal(mu, cov=) | MvNormal(mu, chol=) | MvNormal(mu, tau=) (precision).

    The canonical parameters are ``mu`` and the lower Cholesky factor ``chol`` of the
    covariance: ``cov`` and ``tau`` are factorised once at build time (in numpy when they are
    constants - a constant matrix that is not positive definite raises ``ValueError``).
    Batch dimensions of ``value``, ``mu`` and ``chol`` broadcast.
    """

    support = "real vectors (R^k)"
    params = ("mu", "chol")
    ndim_supp = 1
    checks = [(("chol",), _valid_chol, "a Cholesky factor with positive diagonal (cov/tau positive definite)")]

    @classmethod
    def parametrize(cls, mu=None, cov=None, *, chol=None, tau=None, lower=True):
        given = [n for n, v in (("cov", cov), ("chol", chol), ("tau", tau)) if v is not None]
        if len(given) != 1:
            raise TypeError(f"MvNormal: give exactly one of cov, chol or tau (got {given or 'none'})")
        if mu is None:
            raise TypeError("MvNormal: missing parameter mu")
        # lists (and other array-likes) are constants too: np.asarray raises ValueError/TypeError on garbage
        cov, chol, tau = (v if v is None or isinstance(v, pt.Variable) else np.asarray(v, dtype="float64") for v in (cov, chol, tau))
        if chol is not None:
            if is_numeric(chol):
                chol = np.asarray(chol, dtype="float64")
                if chol.ndim < 2 or chol.shape[-1] != chol.shape[-2]:
                    raise ValueError(f"MvNormal: chol must be a square matrix (..., k, k), got shape {chol.shape}")
                chol = np.tril(chol) if lower else np.swapaxes(np.triu(chol), -1, -2)
            else:
                chol = pt.tril(chol) if lower else pt.swapaxes(pt.triu(chol), -1, -2)
        elif cov is not None:
            chol = _numpy_chol(cov, "cov") if is_numeric(cov) else cholesky(as_float(cov), lower=True)
        else:
            if is_numeric(tau):
                tau = np.asarray(tau, dtype="float64")
                chol = _numpy_chol(tau, "tau")  # NaN unless tau is positive definite
                if np.all(np.isfinite(chol)):
                    chol = _numpy_chol(np.linalg.inv(tau), "tau")
            else:
                # through tau's own Cholesky factor, not inv(tau): a singular or indefinite tau
                # met during a fit gives NaN (the chol check then makes logp -inf), not an error
                tau = as_float(tau)
                chol_tau = cholesky(tau, lower=True, check_finite=False, on_error="nan")
                inv_l = solve_triangular(chol_tau, pt.eye(tau.shape[-1], dtype=tau.dtype), lower=True, check_finite=False)
                chol = cholesky(pt.swapaxes(inv_l, -1, -2) @ inv_l, lower=True, check_finite=False, on_error="nan")
        return {"mu": mu, "chol": chol}

    @classmethod
    def rv_graph(cls, params, size, rng):
        mu, chol = as_float(params["mu"]), params["chol"]
        mu = mu + pt.zeros((chol.shape[-1],), dtype=pytensor.config.floatX)  # a scalar mu fills the event axis
        cov = chol @ pt.swapaxes(chol, -1, -2)
        return mvnormal_draw(mu, cov, size=size, rng=rng)

    @staticmethod
    def logp(value, mu, chol):
        delta = as_float(value) - as_float(mu)
        chol = as_float(chol)
        k = delta.shape[-1].astype(pytensor.config.floatX)
        # Blockwise solve: batch dims of chol and delta broadcast.
        z = solve_triangular(chol, delta, lower=True, b_ndim=1)
        diag = pt.diagonal(chol, axis1=-2, axis2=-1)
        lp = -0.5 * pt.sum(z**2, axis=-1) - pt.sum(pt.log(diag), axis=-1) - 0.5 * k * LOG_2PI
        return bound(lp, pt.all(diag > 0, axis=-1))

    @classmethod
    def support_point(cls, rv, mu, chol):
        return pt.broadcast_to(mu, rv.shape)


class MvStudentT(Continuous):
    """MvStudentT(nu, mu=0, scale=... | cov=... | Sigma=... | tau=... | chol=...).

    Multivariate Student-t with ``nu > 0`` degrees of freedom, location ``mu`` and scale
    matrix ``Sigma = chol chol^T``: ``log p(x) = log Gamma((nu + k)/2) - log Gamma(nu/2)
    - k/2 log(nu pi) - log|chol| - (nu + k)/2 log(1 + q/nu)``, ``q`` the Mahalanobis distance.
    Support: R^k.  The scale is factorised as in :class:`MvNormal` (``cov`` and ``Sigma`` are
    PyMC's older names for ``scale``).

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> x = sv.MvStudentT.dist(nu=5, mu=np.zeros(2), scale=np.eye(2), size=3)
    >>> sv.draw(x, random_seed=1).shape
    (3, 2)
    """

    params = ("nu", "mu", "chol")
    ndim_supp = 1
    support = "R^k"
    checks = [(("nu",), positive, "> 0")] + MvNormal.checks

    @classmethod
    def parametrize(cls, nu=None, mu=0.0, scale=None, *, Sigma=None, cov=None, tau=None, chol=None, lower=True):
        if nu is None:
            raise TypeError("MvStudentT: missing parameter nu")
        given = [n for n, v in (("scale", scale), ("Sigma", Sigma), ("cov", cov)) if v is not None]
        if len(given) > 1:
            raise TypeError(f"MvStudentT: give one of scale, Sigma or cov (got {given})")
        scale = next((v for v in (scale, Sigma, cov) if v is not None), None)
        out = MvNormal.parametrize(mu, cov=scale, chol=chol, tau=tau, lower=lower)
        return {"nu": nu, "mu": out["mu"], "chol": out["chol"]}

    @classmethod
    def rv_graph(cls, params, size, rng):
        nu, mu, chol = as_float(params["nu"]), as_float(params["mu"]), params["chol"]
        mu = mu + pt.zeros((chol.shape[-1],), dtype=pytensor.config.floatX)
        if size is None:
            # static lengths as ints: a symbolic length 1 (of a constant) would not broadcast
            dims = [batch_dims(v, d) for v, d in ((nu, 0), (mu, 1), (chol, 2))]
            size = tuple(pt.broadcast_shape(*dims, arrays_are_shapes=True))
        z = mvnormal_draw(pt.zeros_like(mu), chol @ pt.swapaxes(chol, -1, -2), size=size, rng=rng)
        w = rb.chisquare(nu, size=size, rng=new_rng())
        return mu + z / pt.sqrt(w / nu)[..., None]

    @staticmethod
    def logp(value, nu, mu, chol):
        delta = as_float(value) - as_float(mu)
        chol, nu = as_float(chol), as_float(nu)
        k = delta.shape[-1].astype(pytensor.config.floatX)
        z = solve_triangular(chol, delta, lower=True, b_ndim=1)
        quad = pt.sum(z**2, axis=-1)
        diag = pt.diagonal(chol, axis1=-2, axis2=-1)
        norm = pt.gammaln((nu + k) / 2) - pt.gammaln(nu / 2) - 0.5 * k * pt.log(nu * np.pi)
        lp = norm - 0.5 * (nu + k) * pt.log1p(quad / nu) - pt.sum(pt.log(diag), axis=-1)
        return bound(lp, pt.all(diag > 0, axis=-1))

    @classmethod
    def support_point(cls, rv, nu, mu, chol):
        return pt.broadcast_to(mu, rv.shape)


class Dirichlet(Continuous):
    """Dirichlet(a) on the probability simplex (last axis); default transform ``simplex``."""

    support = "simplex"
    params = ("a",)
    ndim_supp = 1
    checks = [(("a",), event_len(2), "a vector of at least 2 concentrations (last axis)"), (("a",), positive, "> 0")]

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.dirichlet(as_float(params["a"]), size=size, rng=rng)

    @staticmethod
    def logp(value, a):
        x, a = as_float(value), as_float(a)
        lp = (
            pt.gammaln(pt.sum(a, axis=-1))
            - pt.sum(pt.gammaln(a), axis=-1)
            + pt.sum(xlogy(a - 1, x), axis=-1)
        )
        on_simplex = pt.and_(pt.all(x >= 0, axis=-1), pt.all(x <= 1, axis=-1))
        on_simplex = pt.and_(on_simplex, pt.abs(pt.sum(x, axis=-1) - 1) <= 1e-6)
        return bound(lp, on_simplex)

    @classmethod
    def default_transform(cls, params):
        return transforms.simplex

    @classmethod
    def support_point(cls, rv, a):
        a = as_float(a)
        return pt.broadcast_to(a / pt.sum(a, axis=-1, keepdims=True), rv.shape)


class Multinomial(Discrete):
    """Multinomial(n, p): counts of ``n`` draws over K categories (``p`` normalised, last axis)."""

    support = "count vectors summing to n"
    params = ("n", "p")
    ndim_supp = 1
    checks = [(("n",), nonneg, ">= 0"), (("p",), event_len(1), "a vector of category probabilities (last axis)"), (("p",), lambda p: p >= 0, ">= 0")]


    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.multinomial(params["n"].astype("int64"), normalize(params["p"]), size=size, rng=rng)

    @classmethod
    def logp(cls, value, n, p):
        x, n, p = as_float(value), as_float(n), normalize(p)
        lp = pt.gammaln(n + 1) - pt.sum(pt.gammaln(x + 1), axis=-1) + pt.sum(xlogy(x, p), axis=-1)
        return bound(lp, pt.all(x >= 0, axis=-1), pt.eq(pt.sum(x, axis=-1), n))

    @classmethod
    def support_point(cls, rv, n, p):
        p = normalize(p)
        base = pt.floor(as_float(n)[..., None] * p)
        # put the remainder in the first category so that the counts sum to n
        rest = as_float(n) - pt.sum(base, axis=-1)
        base = pt.inc_subtensor(base[..., 0], rest)
        return pt.broadcast_to(base.astype(rv.dtype), rv.shape)
