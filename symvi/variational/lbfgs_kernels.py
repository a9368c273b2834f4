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
