"""The L-BFGS path and the Gaussians along it: the numerical core of Pathfinder.

Pathfinder (Zhang, Carpenter, Gelman & Vehtari, JMLR 2022) runs L-BFGS on ``-log p`` and, at
every iterate ``x_l`` (gradient ``g_l`` of ``log p``), builds the inverse-Hessian estimate
``H_l`` that L-BFGS itself implies: a diagonal ``diag(alpha)`` corrected by the last ``J``
curvature pairs ``s = x_l - x_{l-1}``, ``y = grad f(x_l) - grad f(x_{l-1})`` (``f = -log p``)
in the compact form of Byrd, Nocedal & Schnabel (1994),

    H = diag(alpha) + [S, A Y] M [S, A Y]^T,   A = diag(alpha),
    M = [[R^-T (E + Y^T A Y) R^-1, -R^-T], [-R^-1, 0]],

with ``R`` the upper triangle of ``S^T Y`` and ``E`` its diagonal.  The local approximation
is the Gaussian ``N(x_l + H_l g_l, H_l)`` (one Newton step from the iterate).

The L-BFGS ``H_l`` satisfies the newest secant condition ``H y = s`` only; the older ones
hold only after exact line searches, so even on a Gaussian target it is not the exact
covariance.  Each iterate with two or more pairs therefore also offers a multi-secant
candidate (:func:`_multi_secant_inverse_hessian`) that satisfies all of its pairs' secant
conditions at once and is exact on a Gaussian once the pairs span the space; the ELBO
chooses among all candidates.

The diagonal ``alpha`` is updated with each accepted pair: the inverse Hessian diagonal
``B = 1 / alpha`` is first rescaled so it matches the curvature seen along ``y``
(``a = y^T alpha y / y^T s``), then given the diagonal of a BFGS update,
``B <- a B + y^2 / y^T s - a (B s)^2 / s^T B s``.  A pair is accepted only where the
curvature is positive (``s^T y > 1e-12 * y^T y``).

Examples
--------
>>> import numpy as np
>>> A = np.array([[2.0, 0.6], [0.6, 1.0]])          # Hessian of f(x) = x^T A x / 2
>>> path = lbfgs_path(lambda x: (-0.5 * x @ A @ x, -A @ x), np.array([1.0, -2.0]))
>>> iters, mus, chols = local_gaussians(path.X, path.G, history=6)
>>> bool(np.allclose(chols[-1] @ chols[-1].T, np.linalg.inv(A), atol=1e-8))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_solve, solve_triangular

__all__ = ["LbfgsPath", "lbfgs_path", "inverse_hessians", "local_gaussians", "gaussian_logpdf"]

LOG_2PI = float(np.log(2 * np.pi))


@dataclass
class LbfgsPath:
    """Iterates of an L-BFGS run on ``-log p``.

    Attributes
    ----------
    X : (L + 1, D) positions, the start first.
    G : (L + 1, D) gradients of ``log p`` at those positions.
    logp : (L + 1,) log density at those positions.
    n_evals : log density + gradient evaluations the optimiser made (line searches included).
    message : scipy's stopping message.
    """

    X: np.ndarray
    G: np.ndarray
    logp: np.ndarray
    n_evals: int
    message: str


def lbfgs_path(value_and_grad, x0: np.ndarray, maxiter: int = 1000, history: int = 6, ftol: float = 1e-10, gtol: float = 1e-8) -> LbfgsPath:
    """Run L-BFGS (scipy's L-BFGS-B, no bounds) on ``-log p`` from ``x0`` and record its path.

    ``value_and_grad(x) -> (log p, grad log p)``.  Non-finite values count as +inf for the
    optimiser (its line search then steps back).  Returns :class:`LbfgsPath`.

    Examples
    --------
    >>> import numpy as np
    >>> p = lbfgs_path(lambda x: (-0.5 * float(x @ x), -x), np.array([3.0]))
    >>> float(abs(p.X[-1][0])) < 1e-6, p.X.shape[1]
    (True, 1)
    """
    from scipy.optimize import minimize

    seen: dict[bytes, tuple[float, np.ndarray]] = {}
    count = [0]

    def negative(x):
        lp, g = value_and_grad(x)
        count[0] += 1
        g = np.asarray(g, dtype="float64")
        seen[np.asarray(x, dtype="float64").tobytes()] = (float(lp), g)
        if not np.isfinite(lp) or not np.all(np.isfinite(g)):
            return np.inf, np.zeros_like(g)
        return -float(lp), -g

    x0 = np.asarray(x0, dtype="float64")
    X = [x0.copy()]

    def callback(intermediate_result):
        X.append(np.asarray(intermediate_result.x, dtype="float64").copy())

    result = minimize(
        negative,
        x0,
        jac=True,
        method="L-BFGS-B",
        callback=callback,
        options={"maxiter": int(maxiter), "maxcor": int(history), "ftol": ftol, "gtol": gtol, "maxfun": 20 * int(maxiter) + 20},
    )
    rows = []
    for x in X:
        key = x.tobytes()
        if key not in seen:  # scipy reports only evaluated points; evaluate if ever not
            negative(x)
        rows.append(seen[key])
    logp = np.array([r[0] for r in rows])
    G = np.stack([r[1] for r in rows])
    return LbfgsPath(X=np.stack(X), G=G, logp=logp, n_evals=count[0], message=str(result.message))


def _dense_inverse_hessian(alpha, S, Y):
    """``diag(alpha) + [S, AY] M [S, AY]^T`` for pairs in the columns of S, Y (D, m)."""
    H = np.diag(alpha)
    if S.shape[1] == 0:
        return H
    SY = S.T @ Y
    R = np.triu(SY)
    E = np.diag(np.diag(SY))
    AY = alpha[:, None] * Y
    Rinv = np.linalg.inv(R)  # m x m upper triangular, m <= history (numpy: less call overhead than scipy)
    top = Rinv.T @ (E + Y.T @ AY) @ Rinv
    m = S.shape[1]
    M = np.block([[top, -Rinv.T], [-Rinv, np.zeros((m, m))]])
    W = np.concatenate([S, AY], axis=1)
    H = H + W @ M @ W.T
    return 0.5 * (H + H.T)


def _multi_secant_inverse_hessian(alpha, S, Y):
    """Symmetric H with ``H Y = S`` for all pairs at once, least change from ``diag(alpha)``:
    ``S C^-1 S^T + (I - S C^-1 Y^T) diag(alpha) (I - Y C^-1 S^T)``, ``C = sym(S^T Y)``.

    None unless ``C`` is positive definite.  On a quadratic with pairs spanning the space it
    is the exact inverse Hessian, whatever the line search did.
    """
    C = S.T @ Y
    C = 0.5 * (C + C.T)
    try:
        chol = np.linalg.cholesky(C)
    except np.linalg.LinAlgError:  # not positive definite
        return None
    CiS = cho_solve((chol, True), S.T, check_finite=False)  # C^-1 S^T
    P = np.eye(S.shape[0]) - Y @ CiS  # I - Y C^-1 S^T
    H = S @ CiS + P.T @ (alpha[:, None] * P)
    H = 0.5 * (H + H.T)
    return H if np.all(np.isfinite(H)) else None


def inverse_hessians(X: np.ndarray, G: np.ndarray, history: int = 6) -> list[np.ndarray]:
    """L-BFGS inverse-Hessian estimates ``H_l`` (D, D) at every iterate of a path.

    ``X`` (L + 1, D) positions and ``G`` (L + 1, D) gradients of ``log p``; ``history`` is the
    number ``J`` of curvature pairs kept.  ``H_0`` is the identity.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [0.5]]); G = -2.0 * X   # log p = -x^2: Hessian of -log p is 2
    >>> [float(h[0, 0]) for h in inverse_hessians(X, G)]
    [1.0, 0.5]
    """
    return [H for _, H, kind in _candidates(X, G, history) if kind == "bfgs"]


def _candidates(X, G, history):
    """``(iterate, H, kind)`` for every iterate: the L-BFGS estimate ("bfgs") and, with at
    least two pairs, the multi-secant one ("secant") where it is defined."""
    D = X.shape[1]
    alpha = np.ones(D)
    pairs_s: list[np.ndarray] = []
    pairs_y: list[np.ndarray] = []
    out = [(0, np.diag(alpha), "bfgs")]
    for l in range(1, X.shape[0]):
        s = X[l] - X[l - 1]
        y = G[l - 1] - G[l]  # gradient change of f = -log p
        sy = float(s @ y)
        if sy > 1e-12 * float(y @ y) and np.all(np.isfinite(y)):
            a = float(y @ (alpha * y)) / sy
            B = 1.0 / alpha
            Bs = B * s
            B = a * B + y**2 / sy - a * Bs**2 / float(s @ Bs)
            alpha = 1.0 / np.clip(B, 1e-300, None)
            alpha = np.clip(alpha, 1e-12, 1e12)
            pairs_s.append(s)
            pairs_y.append(y)
            pairs_s, pairs_y = pairs_s[-history:], pairs_y[-history:]
        S = np.stack(pairs_s, axis=1) if pairs_s else np.zeros((D, 0))
        Y = np.stack(pairs_y, axis=1) if pairs_y else np.zeros((D, 0))
        out.append((l, _dense_inverse_hessian(alpha, S, Y), "bfgs"))
        if S.shape[1] >= 2:
            k = min(S.shape[1], D)
            H = _multi_secant_inverse_hessian(alpha, S[:, -k:], Y[:, -k:])
            if H is not None:
                out.append((l, H, "secant"))
    return out


def local_gaussians(X: np.ndarray, G: np.ndarray, history: int = 6) -> tuple[np.ndarray, np.ndarray, list]:
    """Candidate Gaussians along a path: iterate indices (n,), means ``x_l + H_l g_l`` (n, D)
    and Cholesky factors of ``H_l`` for every positive-definite candidate ``H_l`` (the L-BFGS
    estimate at each iterate, and the multi-secant one where defined).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [0.5]]); G = -2.0 * X
    >>> iters, mus, chols = local_gaussians(X, G)
    >>> iters.tolist(), mus.ravel().tolist(), round(float(chols[1][0, 0] ** 2), 12)
    ([0, 1], [-1.0, 0.0], 0.5)
    """
    iters, mus, chols = [], [], []
    for l, H, _ in _candidates(X, G, history):
        try:
            if not np.all(np.isfinite(H)):
                continue
            c = np.linalg.cholesky(H)
        except np.linalg.LinAlgError:
            continue
        iters.append(l)
        chols.append(c)
        mus.append(X[l] + H @ G[l])
    return np.array(iters, dtype=int), np.stack(mus), chols


def gaussian_logpdf(Z: np.ndarray, mu: np.ndarray, chol: np.ndarray) -> np.ndarray:
    """Log density of ``N(mu, chol chol^T)`` at the rows of ``Z`` (n, D).

    Examples
    --------
    >>> import numpy as np
    >>> round(float(gaussian_logpdf(np.zeros((1, 1)), np.zeros(1), np.eye(1))[0]), 4)
    -0.9189
    """
    u = solve_triangular(chol, (Z - mu).T, lower=True, check_finite=False)
    return -0.5 * np.sum(u**2, axis=0) - np.sum(np.log(np.abs(np.diag(chol)))) - 0.5 * Z.shape[1] * LOG_2PI


def mixture_logpdf(Z: np.ndarray, mus: np.ndarray, chols) -> np.ndarray:
    """Log density at the rows of ``Z`` of the equal-weight mixture of ``N(mus[p], chols[p] chols[p]^T)``.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.zeros((1, 1))
    >>> bool(np.isclose(mixture_logpdf(z, np.zeros((2, 1)), [np.eye(1)] * 2), gaussian_logpdf(z, np.zeros(1), np.eye(1))))
    True
    """
    parts = np.stack([gaussian_logpdf(Z, m, c) for m, c in zip(mus, chols)])
    top = parts.max(axis=0)
    return top + np.log(np.mean(np.exp(parts - top), axis=0))
