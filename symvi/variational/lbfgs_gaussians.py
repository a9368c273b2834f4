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
candidate (:func:`_secant_batch`) that satisfies all of its pairs' secant
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
from scipy.linalg import solve_triangular

__all__ = ["LbfgsPath", "lbfgs_path", "inverse_hessians", "local_gaussians", "local_gaussians_many", "gaussian_logpdf"]

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


def _dense_batch(A, S, Y):
    """``diag(alpha) + [S, AY] M [S, AY]^T`` (the compact L-BFGS form above) for a stack of
    states: ``A`` (n, D) the diagonals, ``S``, ``Y`` (n, D, m) the pairs, m >= 1."""
    St = np.swapaxes(S, 1, 2)
    SY = St @ Y
    R = np.triu(SY)
    m = S.shape[2]
    E = SY * np.eye(m)
    AY = A[:, :, None] * Y
    Rinv = np.linalg.inv(R)
    RinvT = np.swapaxes(Rinv, 1, 2)
    top = RinvT @ (E + np.swapaxes(Y, 1, 2) @ AY) @ Rinv
    M = np.concatenate([np.concatenate([top, -RinvT], axis=2), np.concatenate([-Rinv, np.zeros_like(Rinv)], axis=2)], axis=1)
    W = np.concatenate([S, AY], axis=2)
    H = W @ M @ np.swapaxes(W, 1, 2)
    H[:, np.arange(A.shape[1]), np.arange(A.shape[1])] += A
    return 0.5 * (H + np.swapaxes(H, 1, 2))


def _secant_one(a, s, y):
    """:func:`_secant_batch` of one state (None where undefined)."""
    C = s.T @ y
    if not _is_positive_definite(0.5 * (C + C.T)):
        return None
    return _secant_batch(a[None], s[None], y[None])[0]


def _is_positive_definite(C) -> bool:
    try:
        np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        return False
    return True


def _secant_batch(A, S, Y):
    """Symmetric H with ``H Y = S`` for all pairs at once, least change from ``diag(alpha)``:
    ``S C^-1 S^T + (I - S C^-1 Y^T) diag(alpha) (I - Y C^-1 S^T)``, ``C = sym(S^T Y)``, for
    a stack of states (as :func:`_dense_batch`); None where ``C`` is not positive definite or
    H not finite.  On a quadratic with pairs spanning the space it is the exact inverse
    Hessian, whatever the line search did."""
    C = np.swapaxes(S, 1, 2) @ Y
    C = 0.5 * (C + np.swapaxes(C, 1, 2))
    try:
        chol = np.linalg.cholesky(C)
    except np.linalg.LinAlgError:  # some not positive definite: batch the others
        ok = np.linalg.eigvalsh(C)[:, 0] > 1e-12 * np.abs(C).max(axis=(1, 2))  # one call, not one per state
        out: list = [None] * len(C)
        if ok.all():  # borderline: cholesky disagrees with the eigenvalues
            return [H if _is_positive_definite(c) else None for c, H in zip(C, (_secant_one(a, s_, y) for a, s_, y in zip(A, S, Y)))]
        if ok.any():
            for i, H in zip(np.flatnonzero(ok), _secant_batch(A[ok], S[ok], Y[ok])):
                out[i] = H
        return out
    St = np.swapaxes(S, 1, 2)
    CiS = np.linalg.solve(np.swapaxes(chol, 1, 2), np.linalg.solve(chol, St))  # C^-1 S^T
    P = np.eye(S.shape[1]) - Y @ CiS
    H = S @ CiS + np.swapaxes(P, 1, 2) @ (A[:, :, None] * P)
    H = 0.5 * (H + np.swapaxes(H, 1, 2))
    ok = np.all(np.isfinite(H), axis=(1, 2))
    return [h if good else None for h, good in zip(H, ok)]


def _candidates(X, G, history):
    """``(iterate, H, kind)`` for every iterate of one path (:func:`_candidates_many`, numpy)."""
    return _candidates_many([(X, G)], history, compiled=False)[0]


def _windows_many(paths, history, compiled=True):
    """The L-BFGS state after every iterate of several paths ``[(X, G), ...]`` (the sequential
    part, vectorised over the paths): ``(alpha (P, L, D), pairs (P, L, history, 2, D), count
    (P, L), lengths (P,))``, the newest ``count`` accepted pairs ``(s, y)`` last in ``pairs``,
    ``L`` the longest path's iterates.  ``compiled``: Numba's loop over the paths
    (:mod:`symvi.variational.lbfgs_kernels`), else numpy's, path by path."""
    P, D = len(paths), paths[0][0].shape[1]
    n = np.array([X.shape[0] for X, _ in paths])
    L = int(n.max())
    X = np.stack([np.concatenate([Xp, np.repeat(Xp[-1:], L - len(Xp), 0)]) for Xp, _ in paths])
    G = np.stack([np.concatenate([Gp, np.repeat(Gp[-1:], L - len(Gp), 0)]) for _, Gp in paths])
    ALPHA, RING, COUNT = np.ones((P, L, D)), np.zeros((P, L, int(history), 2, D)), np.zeros((P, L), dtype=np.int64)
    if compiled:
        from symvi.variational.lbfgs_kernels import windows

        windows(X, G, n.astype(np.int64), int(history), ALPHA, RING, COUNT)
    else:
        for p in range(P):
            _windows_numpy(X[p], G[p], int(n[p]), int(history), ALPHA[p], RING[p], COUNT[p])
    return ALPHA, RING, COUNT, n


def _windows_numpy(X, G, n, m, ALPHA, RING, COUNT):
    """:func:`symvi.variational.lbfgs_kernels.windows` of one path in numpy (no Numba compile:
    for the single path of a fit's warm start)."""
    alpha, ring, count = np.ones(X.shape[1]), np.zeros((m, 2, X.shape[1])), 0
    for l in range(1, n):
        s = X[l] - X[l - 1]
        y = G[l - 1] - G[l]  # gradient change of f = -log p
        sy = float(s @ y)
        if sy > 1e-12 * float(y @ y) and np.all(np.isfinite(y)):
            a = float(y @ (alpha * y)) / sy
            B = 1.0 / alpha
            Bs = B * s
            B = a * B + y**2 / sy - a * Bs**2 / float(s @ Bs)
            alpha = np.clip(1.0 / np.clip(B, 1e-300, None), 1e-12, 1e12)
            ring = np.concatenate([ring[1:], np.stack([s, y])[None]])
            count = min(count + 1, m)
        ALPHA[l], RING[l], COUNT[l] = alpha, ring, count


def _candidates_many(paths, history, compiled=True):
    """``(iterate, H, kind)`` for every iterate of every path ``[(X, G), ...]``: the L-BFGS
    estimate ("bfgs") and, with at least two pairs, the multi-secant one ("secant") where it
    is defined.  The matrices of all states with the same number of pairs, over all paths,
    are formed in one batch of stacked products."""
    D = paths[0][0].shape[1]
    ALPHA, RING, COUNT, n = _windows_many(paths, history, compiled)
    bfgs: dict[tuple[int, int], np.ndarray] = {}
    secant: dict[tuple[int, int], np.ndarray] = {}
    valid = np.arange(COUNT.shape[1])[None, :] < n[:, None]
    for m in np.unique(COUNT[valid]):
        ps, ls = np.nonzero(valid & (COUNT == m))
        A = ALPHA[ps, ls]
        if m == 0:
            for p, l, a in zip(ps, ls, A):
                bfgs[p, l] = np.diag(a)
            continue
        pairs = RING[ps, ls, -m:]  # (k, m, 2, D)
        S, Y = np.swapaxes(pairs[:, :, 0], 1, 2), np.swapaxes(pairs[:, :, 1], 1, 2)
        for p, l, H in zip(ps, ls, _dense_batch(A, S, Y)):
            bfgs[p, l] = H
        if m >= 2:
            k = min(m, D)
            for p, l, H in zip(ps, ls, _secant_batch(A, S[:, :, -k:], Y[:, :, -k:])):
                if H is not None:
                    secant[p, l] = H
    out = []
    for p in range(len(paths)):
        rows = []
        for l in range(int(n[p])):
            rows.append((l, bfgs[p, l], "bfgs"))
            if (p, l) in secant:
                rows.append((l, secant[p, l], "secant"))
        out.append(rows)
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
    iters, mus, chols = local_gaussians_many([(X, G)], history, compiled=False)[0]
    return iters, mus, list(chols)


def local_gaussians_many(paths, history: int = 6, compiled: bool = True) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """:func:`local_gaussians` of several paths ``[(X, G), ...]`` at once: the matrix algebra
    of all paths is batched (``compiled``: the sequential L-BFGS states in Numba, else numpy).
    Returns ``(iters, mus, chols (n, D, D))`` per path.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [0.5]])
    >>> [it.tolist() for it, _, _ in local_gaussians_many([(X, -2.0 * X), (X[:1], -X[:1])])]
    [[0, 1], [0]]
    """
    if compiled:
        return _local_gaussians_compiled(paths, history)
    per_path = _candidates_many(paths, history, compiled)
    cands = [(p, l, H) for p, rows in enumerate(per_path) for l, H, _ in rows]
    Hs = np.stack([H for _, _, H in cands])
    finite = np.isfinite(Hs).all(axis=(1, 2))
    if not finite.all():
        cands, Hs = [c for c, ok in zip(cands, finite) if ok], Hs[finite]
    try:
        chols = np.linalg.cholesky(Hs)
        keep = np.arange(len(cands))
    except np.linalg.LinAlgError:  # some not positive definite: one at a time
        found, kept = [], []
        for i, (_, _, H) in enumerate(cands):
            try:
                found.append(np.linalg.cholesky(H))
            except np.linalg.LinAlgError:
                continue
            kept.append(i)
        keep = np.array(kept, dtype=int)
        chols = np.stack(found) if found else np.zeros((0,) + Hs.shape[1:])
    owner = np.array([cands[i][0] for i in keep], dtype=int)
    iters = np.array([cands[i][1] for i in keep], dtype=int)
    H = Hs[keep]
    out = []
    for p, (X, G) in enumerate(paths):
        sel = owner == p
        it = iters[sel]
        out.append((it, X[it] + np.einsum("nij,nj->ni", H[sel], G[it]), chols[sel]))
    return out


def _local_gaussians_compiled(paths, history: int):
    """:func:`local_gaussians_many` in one Numba loop over all states
    (:func:`symvi.variational.lbfgs_kernels.candidates`): the same candidates as the numpy
    batches, without a Python step per state."""
    from symvi.variational.lbfgs_kernels import candidates

    ALPHA, RING, COUNT, n = _windows_many(paths, history, compiled=True)
    P, D = len(paths), paths[0][0].shape[1]
    L = ALPHA.shape[1]
    X = np.stack([np.concatenate([Xp, np.repeat(Xp[-1:], L - len(Xp), 0)]) for Xp, _ in paths])
    G = np.stack([np.concatenate([Gp, np.repeat(Gp[-1:], L - len(Gp), 0)]) for _, Gp in paths])
    N = 2 * int(n.sum())
    ITER, OWNER = np.zeros(N, dtype=np.int64), np.zeros(N, dtype=np.int64)
    MU, CHOL = np.zeros((N, D)), np.zeros((N, D, D))
    k = candidates(X, G, n.astype(np.int64), ALPHA, RING, COUNT, ITER, OWNER, MU, CHOL)
    bounds = np.searchsorted(OWNER[:k], np.arange(P + 1))
    return [(ITER[a:b].astype(int), MU[a:b], CHOL[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


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


def mixture_logpdf(Z: np.ndarray, mus: np.ndarray, chols, compiled: bool = False) -> np.ndarray:
    """Log density at the rows of ``Z`` of the equal-weight mixture of ``N(mus[p], chols[p] chols[p]^T)``.

    ``compiled``: one Numba loop (:func:`symvi.variational.lbfgs_kernels.mixture_logpdf`,
    compiled on first use and cached on disk) instead of numpy's batched products.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.zeros((1, 1))
    >>> bool(np.isclose(mixture_logpdf(z, np.zeros((2, 1)), [np.eye(1)] * 2), gaussian_logpdf(z, np.zeros(1), np.eye(1))))
    True
    """
    chols = np.asarray(chols, dtype="float64")
    if compiled:
        from symvi.variational.lbfgs_kernels import mixture_logpdf as kernel

        linvs = np.linalg.inv(chols)
        logdets = np.sum(np.log(np.abs(np.diagonal(chols, axis1=1, axis2=2))), axis=1)
        Zt = np.ascontiguousarray(np.asarray(Z, dtype="float64").T)
        return kernel(Zt, np.ascontiguousarray(mus, dtype="float64"), np.ascontiguousarray(linvs), logdets)
    # all components in one batched product: (Z - mu_p) L_p^-T, (P, n, D)
    U = (np.asarray(Z)[None, :, :] - np.asarray(mus)[:, None, :]) @ np.swapaxes(np.linalg.inv(chols), 1, 2)
    logdet = np.sum(np.log(np.abs(np.diagonal(chols, axis1=1, axis2=2))), axis=1)
    parts = -0.5 * np.sum(U**2, axis=2) - logdet[:, None] - 0.5 * Z.shape[1] * LOG_2PI
    top = parts.max(axis=0)
    return top + np.log(np.mean(np.exp(parts - top), axis=0))
