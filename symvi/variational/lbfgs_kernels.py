"""Numba kernels of :func:`symvi.variational.batched_lbfgs.batched_lbfgs` and of the L-BFGS
states of :mod:`symvi.variational.lbfgs_gaussians`.

The paths of multi-path Pathfinder are a few points in a few dimensions: in numpy every
one of the hundred small array operations of an L-BFGS iteration costs microseconds of
dispatch, more than the compiled log density.  These loops do the same arithmetic in
compiled code; only the log density call stays in Python.  Imported on first use (Numba
compiles them once and caches them on disk).  Path status codes: 0 running, 1 gradient
below gtol, 2 relative decrease below ftol, 3 maxiter, 4 no acceptable step, 5 not finite
at the start.

Examples
--------
>>> import numpy as np
>>> S, Y, rho = np.zeros((1, 2, 1)), np.zeros((1, 2, 1)), np.zeros((1, 2))
>>> d = np.zeros((1, 1)); _two_loop(np.array([[2.0]]), S, Y, rho, np.zeros(1, np.int64), 0, d)
>>> d.tolist()   # no pairs: the unit step against the gradient
[[-1.0]]
"""

from __future__ import annotations

import numpy as np
from numba import njit

C1, C2 = 1e-4, 0.9
MAX_TRIALS = 30  # line-search rounds per iteration


@njit(cache=True)
def _two_loop(G, S, Y, rho, npairs, p, d):
    """``d[p] = -H g`` by the L-BFGS two-loop recursion over path ``p``'s pairs (oldest first
    in the last ``npairs[p]`` slots); ``-g / |g|`` without pairs."""
    m, D = S.shape[1], S.shape[2]
    q = G[p].copy()
    alpha = np.zeros(m)
    first = m - npairs[p]
    for i in range(m - 1, first - 1, -1):
        a = 0.0
        for j in range(D):
            a += S[p, i, j] * q[j]
        alpha[i] = rho[p, i] * a
        for j in range(D):
            q[j] -= alpha[i] * Y[p, i, j]
    if npairs[p] > 0:
        yy = 0.0
        for j in range(D):
            yy += Y[p, m - 1, j] * Y[p, m - 1, j]
        gamma = 1.0 / (rho[p, m - 1] * yy)
    else:
        gamma = 1.0 / np.sqrt(np.sum(G[p] ** 2))
    if not (np.isfinite(gamma) and gamma > 0):
        gamma = 1.0
    for j in range(D):
        q[j] *= gamma
    for i in range(first, m):
        b = 0.0
        for j in range(D):
            b += Y[p, i, j] * q[j]
        b *= rho[p, i]
        for j in range(D):
            q[j] += (alpha[i] - b) * S[p, i, j]
    for j in range(D):
        d[p, j] = -q[j]


@njit(cache=True)
def propose(X, G, S, Y, rho, npairs, it, status, search, d, gd, t, lo, hi, armijo, ntrial, maxiter, Z, rows):
    """Start an iteration (direction, unit step) for every running path not in a line search,
    then write every searching path's trial point ``X + t d`` into ``Z``; returns how many."""
    P, D = X.shape
    n = 0
    for p in range(P):
        if status[p] != 0:
            continue
        if not search[p]:
            if it[p] >= maxiter:
                status[p] = 3
                continue
            _two_loop(G, S, Y, rho, npairs, p, d)
            gd[p] = np.dot(G[p], d[p])
            if not gd[p] < 0:  # not a descent direction (lost curvature): restart from the gradient
                npairs[p] = 0
                S[p] = 0.0
                Y[p] = 0.0
                rho[p] = 0.0
                norm = max(np.sqrt(np.sum(G[p] ** 2)), 1e-300)
                for j in range(D):
                    d[p, j] = -G[p, j] / norm
                gd[p] = np.dot(G[p], d[p])
            t[p], lo[p], hi[p] = 1.0, 0.0, np.inf
            armijo[p], ntrial[p], search[p] = False, 0, True
        for j in range(D):
            Z[n, j] = X[p, j] + t[p] * d[p, j]
        rows[n] = p
        n += 1
    return n


@njit(cache=True)
def _accept(p, xn, fn_, gn, X, F, G, S, Y, rho, npairs, it, status, search, RX, RG, RF, ftol, gtol):
    m, D = S.shape[1], S.shape[2]
    s = xn - X[p]
    y = gn - G[p]
    sy, yy = np.dot(s, y), np.dot(y, y)
    if sy > 1e-12 * yy:  # always after a Wolfe step
        for i in range(m - 1):
            S[p, i] = S[p, i + 1]
            Y[p, i] = Y[p, i + 1]
            rho[p, i] = rho[p, i + 1]
        S[p, m - 1], Y[p, m - 1], rho[p, m - 1] = s, y, 1.0 / sy
        npairs[p] = min(npairs[p] + 1, m)
    rel = (F[p] - fn_) / max(max(abs(F[p]), abs(fn_)), 1.0)
    X[p], F[p], G[p] = xn, fn_, gn
    it[p] += 1
    RX[p, it[p]], RG[p, it[p]], RF[p, it[p]] = xn, gn, fn_
    search[p] = False
    if np.max(np.abs(gn)) <= gtol:
        status[p] = 1
    elif rel <= ftol:
        status[p] = 2


@njit(cache=True)
def absorb(n, rows, Z, lpZ, gZ, X, F, G, S, Y, rho, npairs, it, status, search, d, gd, t, lo, hi, armijo, ntrial, Xa, Fa, Ga, n_evals, RX, RG, RF, ftol, gtol):
    """Weak-Wolfe bookkeeping of the trial points ``Z[:n]`` (log p ``lpZ``, gradient ``gZ``):
    accept a step, or shorten / lengthen it for the next round."""
    D = X.shape[1]
    for k in range(n):
        p = rows[k]
        f = -lpZ[k]
        g = -gZ[k]
        if not (np.isfinite(f) and np.all(np.isfinite(g))):
            f = np.inf
            g = np.zeros(D)
        ntrial[p] += 1
        n_evals[p] += 1
        decrease = f <= F[p] + C1 * t[p] * gd[p]
        if decrease and np.dot(g, d[p]) >= C2 * gd[p]:
            _accept(p, Z[k].copy(), f, g, X, F, G, S, Y, rho, npairs, it, status, search, RX, RG, RF, ftol, gtol)
            continue
        if decrease:  # too short: remember it, go further
            lo[p] = t[p]
            Xa[p], Fa[p], Ga[p], armijo[p] = Z[k], f, g, True
            t[p] = 0.5 * (lo[p] + hi[p]) if np.isfinite(hi[p]) else 2.0 * t[p]
        else:  # too long (or not finite): the quadratic's minimiser, kept inside (lo, t)
            tt = t[p]
            hi[p] = tt
            curv = f - F[p] - gd[p] * tt
            tq = -gd[p] * tt * tt / (2.0 * curv)
            width = tt - lo[p]
            if not np.isfinite(tq):
                tq = lo[p] + 0.5 * width
            t[p] = min(max(tq, lo[p] + 0.1 * width), lo[p] + 0.5 * width)
        if ntrial[p] >= MAX_TRIALS:  # no Wolfe step: the longest that met the decrease condition
            if armijo[p]:
                _accept(p, Xa[p].copy(), Fa[p], Ga[p].copy(), X, F, G, S, Y, rho, npairs, it, status, search, RX, RG, RF, ftol, gtol)
            else:
                status[p], search[p] = 4, False


@njit(cache=True)
def windows(X, G, n, history, ALPHA, RING, COUNT):
    """The L-BFGS states along padded paths ``X``, ``G`` (P, L, D) of lengths ``n``: fills
    ``ALPHA`` (P, L, D), ``RING`` (P, L, history, 2, D), ``COUNT`` (P, L) as described in
    :func:`symvi.variational.lbfgs_gaussians._windows_many`."""
    P, L, D = X.shape
    m = history
    for p in range(P):
        alpha = np.ones(D)
        ring = np.zeros((m, 2, D))
        count = 0
        ALPHA[p, 0] = alpha
        for l in range(1, n[p]):
            s = X[p, l] - X[p, l - 1]
            y = G[p, l - 1] - G[p, l]  # gradient change of f = -log p
            sy, yy = np.dot(s, y), np.dot(y, y)
            if sy > 1e-12 * yy and np.all(np.isfinite(y)):
                a = np.dot(y, alpha * y) / sy
                B = 1.0 / alpha
                Bs = B * s
                sBs = np.dot(s, Bs)
                for j in range(D):
                    b = a * B[j] + y[j] * y[j] / sy - a * Bs[j] * Bs[j] / sBs
                    alpha[j] = min(max(1.0 / max(b, 1e-300), 1e-12), 1e12)
                for i in range(m - 1):
                    ring[i] = ring[i + 1]
                ring[m - 1, 0], ring[m - 1, 1] = s, y
                count = min(count + 1, m)
            ALPHA[p, l], RING[p, l], COUNT[p, l] = alpha, ring, count


@njit(cache=True)
def _cholesky_into(H, L):
    """Lower Cholesky factor of the symmetric ``H`` (D, D) into ``L``; False where a pivot is
    not positive (or not finite): ``H`` not positive definite."""
    D = H.shape[0]
    for j in range(D):
        for i in range(j, D):
            acc = H[i, j]
            for k in range(j):
                acc -= L[i, k] * L[j, k]
            if i == j:
                if not (acc > 0.0 and acc < np.inf):  # NaN/inf anywhere in H reaches a pivot
                    return False
                L[j, j] = np.sqrt(acc)
            else:
                L[i, j] = acc / L[j, j]
        for i in range(j):
            L[i, j] = 0.0
    return True


@njit(cache=True)
def _gram(S, Y, SY):
    """``SY[i, j] = s_i . y_j`` for the pairs ``S``, ``Y`` (m, D)."""
    m, D = S.shape
    for i in range(m):
        for j in range(m):
            acc = 0.0
            for r in range(D):
                acc += S[i, r] * Y[j, r]
            SY[i, j] = acc


@njit(cache=True)
def _dense_one(a, S, Y, H, SY, Ut, AY, Mid, V):
    """The compact L-BFGS ``H = diag(a) + U (E + Y^T A Y) U^T - U (A Y)^T - (A Y) U^T`` with
    ``U = S R^-T`` (``R`` the upper triangle of ``S^T Y``, ``E`` its diagonal): the formula of
    :mod:`symvi.variational.lbfgs_gaussians` multiplied out, for one state; ``S``, ``Y`` (m, D)
    rows the pairs; ``SY``, ``Mid`` (m, m), ``Ut``, ``AY``, ``V`` (m, D) are work space."""
    m, D = S.shape
    _gram(S, Y, SY)
    # U^T = R^-1 S (rows s_i): back substitution, R[i, k] = s_i . y_k for i <= k
    for i in range(m - 1, -1, -1):
        for j in range(D):
            acc = S[i, j]
            for k in range(i + 1, m):
                acc -= SY[i, k] * Ut[k, j]
            Ut[i, j] = acc / SY[i, i]
    for i in range(m):
        for j in range(D):
            AY[i, j] = Y[i, j] * a[j]
    for i in range(m):  # E + Y^T A Y
        for j in range(m):
            acc = 0.0
            for r in range(D):
                acc += Y[i, r] * AY[j, r]
            Mid[i, j] = acc + (SY[i, i] if i == j else 0.0)
    for i in range(m):  # V = Mid U^T - A Y
        for j in range(D):
            acc = 0.0
            for k in range(m):
                acc += Mid[i, k] * Ut[k, j]
            V[i, j] = acc - AY[i, j]
    # H is symmetric (so is the sum of the two cross terms): its lower triangle, mirrored
    for i in range(D):
        for j in range(i + 1):
            acc = 0.0
            for k in range(m):
                acc += Ut[k, i] * V[k, j] - AY[k, i] * Ut[k, j]
            if i == j:
                H[i, i] = acc + a[i]
            else:
                H[i, j] = acc
                H[j, i] = acc


@njit(cache=True)
def _secant_gram(S, Y, C, SY):
    """``C = sym(S Y^T)`` of the pairs ``S``, ``Y`` (k, D) into ``C`` (k, k)."""
    k = S.shape[0]
    _gram(S, Y, SY)
    for i in range(k):
        for j in range(k):
            C[i, j] = 0.5 * (SY[i, j] + SY[j, i])


@njit(cache=True)
def _secant_one(a, S, Y, H, C, Lc, strict, SY, CiS, P):
    """The multi-secant ``H = S C^-1 S^T + P^T diag(a) P``, ``P = I - Y^T C^-1 S``,
    ``C = sym(S Y^T)`` for ``S``, ``Y`` (k, D) (see ``_secant_batch`` of
    :mod:`symvi.variational.lbfgs_gaussians`); False where ``C`` is not positive definite or
    ``H`` not finite.  ``strict`` (numpy's batch had a state whose ``C`` failed Cholesky):
    also False where ``C``'s smallest eigenvalue is at most ``1e-12`` of its largest entry
    (as ``np.linalg.eigvalsh`` would find, up to rounding at the threshold).
    ``SY`` (k, k), ``CiS`` (k, D), ``P`` (D, D) are work space."""
    k, D = S.shape
    _secant_gram(S, Y, C, SY)
    if not _cholesky_into(C, Lc):
        return False
    if strict:  # smallest eigenvalue above tau <=> C - tau I positive definite (P as work space)
        tau = 1e-12 * np.max(np.abs(C))
        W = P[:k, :k]
        W[:, :] = C
        for i in range(k):
            W[i, i] -= tau
        if not _cholesky_into(W, CiS[:, :k]):  # (CiS, k <= D columns, as work space)
            return False
    # CiS = C^-1 S (k, D): forward then back substitution with Lc
    for j in range(D):
        for i in range(k):
            acc = S[i, j]
            for r in range(i):
                acc -= Lc[i, r] * CiS[r, j]
            CiS[i, j] = acc / Lc[i, i]
        for i in range(k - 1, -1, -1):
            acc = CiS[i, j]
            for r in range(i + 1, k):
                acc -= Lc[r, i] * CiS[r, j]
            CiS[i, j] = acc / Lc[i, i]
    for i in range(D):  # P = I - Y^T C^-1 S in the (D, k) convention
        for j in range(D):
            acc = 0.0
            for r in range(k):
                acc += Y[r, i] * CiS[r, j]
            P[i, j] = (1.0 if i == j else 0.0) - acc
    for i in range(D):  # symmetric: the lower triangle, mirrored
        for j in range(i + 1):
            acc = 0.0
            for r in range(k):
                acc += S[r, i] * CiS[r, j]
            for r in range(D):
                acc += P[r, i] * a[r] * P[r, j]
            if not np.isfinite(acc):
                return False
            H[i, j] = acc
            H[j, i] = acc
    return True


@njit(cache=True)
def candidates(X, G, n, ALPHA, RING, COUNT, ITER, OWNER, MU, CHOL):
    """The candidate Gaussians of every state of padded paths (see ``_windows_many`` of
    :mod:`symvi.variational.lbfgs_gaussians`): per iterate the L-BFGS ``H`` and, with two or more
    pairs, the multi-secant one where defined, each kept where its Cholesky factor exists;
    writes iterate, path, mean ``x + H g`` and Cholesky factor into the next rows of ``ITER``,
    ``OWNER``, ``MU``, ``CHOL`` (room for ``2 * sum(n)``) and returns how many."""
    P, L, D = X.shape
    m_max = RING.shape[2]
    H = np.zeros((D, D))
    Lh = np.zeros((D, D))
    C = np.zeros((m_max, m_max))
    Lc = np.zeros((m_max, m_max))
    SY, Mid = np.zeros((m_max, m_max)), np.zeros((m_max, m_max))
    Ut, AY, V, CiS = np.zeros((m_max, D)), np.zeros((m_max, D)), np.zeros((m_max, D)), np.zeros((m_max, D))
    Pw = np.zeros((D, D))
    # numpy's batches (one per pair count m) apply an eigenvalue threshold to every state of
    # a batch in which some C failed Cholesky: find those batches first, to choose alike
    strict = np.zeros(m_max + 1, dtype=np.bool_)
    for p in range(P):
        for l in range(n[p]):
            m = COUNT[p, l]
            if m < 2 or strict[m]:
                continue
            k = min(m, D)
            _secant_gram(RING[p, l, m_max - k :, 0], RING[p, l, m_max - k :, 1], C[:k, :k], SY[:k, :k])
            if not _cholesky_into(C[:k, :k], Lc[:k, :k]):
                strict[m] = True
    out = 0
    for p in range(P):
        for l in range(n[p]):
            a = ALPHA[p, l]
            m = COUNT[p, l]
            for kind in range(2):
                if kind == 0:
                    if m == 0:
                        H[:, :] = 0.0
                        for i in range(D):
                            H[i, i] = a[i]
                    else:
                        S = RING[p, l, m_max - m :, 0]
                        Y = RING[p, l, m_max - m :, 1]
                        _dense_one(a, S, Y, H, SY[:m, :m], Ut[:m], AY[:m], Mid[:m, :m], V[:m])
                else:
                    if m < 2:
                        break
                    k = min(m, D)
                    S = RING[p, l, m_max - k :, 0]
                    Y = RING[p, l, m_max - k :, 1]
                    if not _secant_one(a, S, Y, H, C[:k, :k], Lc[:k, :k], strict[m], SY[:k, :k], CiS[:k], Pw):
                        continue
                if not _cholesky_into(H, Lh):
                    continue
                ITER[out], OWNER[out] = l, p
                CHOL[out] = Lh
                for i in range(D):
                    acc = X[p, l, i]
                    for j in range(D):
                        acc += H[i, j] * G[p, l, j]
                    MU[out, i] = acc
                out += 1
    return out


@njit(cache=True)
def mixture_logpdf(Zt, mus, linvs, logdets):
    """Log density at the columns of ``Zt`` (D, n) of the equal-weight mixture of the Gaussians
    ``N(mus[p], L_p L_p^T)``, given ``linvs[p] = L_p^-1`` (lower) and ``logdets[p] = log|det L_p|``
    (see :func:`symvi.variational.lbfgs_gaussians.mixture_logpdf`).  The loops run along the
    draws, so they vectorise."""
    D, n = Zt.shape
    P = mus.shape[0]
    parts = np.empty((P, n))
    diff = np.empty((D, n))
    u = np.empty(n)
    ss = np.empty(n)
    half_log_2pi = 0.5 * np.log(2.0 * np.pi)
    for p in range(P):
        for k in range(D):
            mk = mus[p, k]
            for r in range(n):
                diff[k, r] = Zt[k, r] - mk
        ss[:] = 0.0
        for i in range(D):
            u[:] = 0.0
            for k in range(i + 1):
                c = linvs[p, i, k]
                for r in range(n):
                    u[r] += c * diff[k, r]
            for r in range(n):
                ss[r] += u[r] * u[r]
        const = -logdets[p] - D * half_log_2pi
        for r in range(n):
            parts[p, r] = -0.5 * ss[r] + const
    out = np.empty(n)
    for r in range(n):
        top = -np.inf
        for p in range(P):
            if parts[p, r] > top:
                top = parts[p, r]
        if not np.isfinite(top):
            out[r] = top
            continue
        acc = 0.0
        for p in range(P):
            acc += np.exp(parts[p, r] - top)
        out[r] = top + np.log(acc / P)
    return out
