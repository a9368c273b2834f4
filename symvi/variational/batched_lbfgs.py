"""L-BFGS on many start points at once: one batched log-density call per iteration.

Multi-path Pathfinder runs the same optimiser from several start points.  Run one after
the other (scipy's L-BFGS-B), each iteration is a Python round trip and a compiled call on
one point; here all paths advance together: the search directions come from the L-BFGS
two-loop recursion done in numpy over the paths (pairs ``(s, y)`` stored as ``(P, m, D)``
arrays, missing pairs zero), and every round of the line search evaluates the trial points
of all paths still searching in one call of ``fn`` on a ``(B, D)`` stack.

The line search looks for a step ``t`` meeting the weak Wolfe conditions (sufficient
decrease ``f(x + t d) <= f(x) + c1 t g.d`` and curvature ``g(x + t d).d >= c2 g.d``, with
``c1 = 1e-4, c2 = 0.9``): too long a step (decrease fails, or the value is not finite) is
cut to a safeguarded minimiser of the quadratic through ``f(x)``, ``g.d`` and ``f(x + t d)``;
too short a step (curvature fails) is doubled, or bisected once an upper bound is known.
The curvature condition makes ``s.y > 0`` for every accepted step, so the inverse-Hessian
estimate stays positive definite.  A path stops when the relative decrease of ``f``
is at most ``ftol``, the largest gradient entry at most ``gtol``, after ``maxiter``
iterations, or when its line search fails (it then keeps its last point).

Examples
--------
>>> import numpy as np
>>> A = np.array([[2.0, 0.6], [0.6, 1.0]])
>>> fn = lambda Z: (-0.5 * np.einsum("pi,ij,pj->p", Z, A, Z), -Z @ A)   # log p and its gradient
>>> paths = batched_lbfgs(fn, np.array([[1.0, -2.0], [3.0, 3.0]]))
>>> [bool(np.allclose(p.X[-1], 0.0, atol=1e-6)) for p in paths]
[True, True]
"""

from __future__ import annotations

import numpy as np

from symvi.variational.lbfgs_gaussians import LbfgsPath

__all__ = ["batched_lbfgs"]

C1, C2 = 1e-4, 0.9
MAX_TRIALS = 30  # line-search rounds per iteration


def _directions(G: np.ndarray, S: np.ndarray, Y: np.ndarray, rho: np.ndarray, npairs: np.ndarray) -> np.ndarray:
    """``-H g`` for every path by the two-loop recursion: ``G`` (P, D) gradients of ``f``;
    ``S``, ``Y`` (P, m, D) pairs oldest first, ``rho`` (P, m) ``1 / s.y`` (0: no pair).
    Without pairs the direction is ``-g / |g|`` (a unit first step, as L-BFGS-B)."""
    q = G.copy()
    m = S.shape[1]
    alpha = np.zeros((G.shape[0], m))
    for i in range(m - 1, -1, -1):
        alpha[:, i] = rho[:, i] * np.einsum("pd,pd->p", S[:, i], q)
        q -= alpha[:, i, None] * Y[:, i]
    yy = np.einsum("pd,pd->p", Y[:, -1], Y[:, -1])
    with np.errstate(divide="ignore", invalid="ignore"):
        gamma = np.where(npairs > 0, 1.0 / (rho[:, -1] * yy), 1.0 / np.linalg.norm(G, axis=1))
    gamma = np.where(np.isfinite(gamma) & (gamma > 0), gamma, 1.0)
    r = gamma[:, None] * q
    for i in range(m):
        beta = rho[:, i] * np.einsum("pd,pd->p", Y[:, i], r)
        r += (alpha[:, i] - beta)[:, None] * S[:, i]
    return -r


def batched_lbfgs(fn, X0: np.ndarray, maxiter: int = 1000, history: int = 6, ftol: float = 1e-10, gtol: float = 1e-8) -> list[LbfgsPath]:
    """Minimise ``-log p`` by L-BFGS from every row of ``X0`` (P, D) together.

    ``fn(Z) -> (log p (B,), grad log p (B, D))`` at the rows of ``Z`` (B, D); it is called once
    per line-search round with the paths still searching.  Non-finite values count as
    ``+inf`` for the optimiser.  Returns one :class:`~symvi.variational.lbfgs_gaussians.LbfgsPath`
    per row (``n_evals``: the points evaluated for that path, the start included).

    Examples
    --------
    >>> import numpy as np
    >>> paths = batched_lbfgs(lambda Z: (-0.5 * np.sum(Z**2, 1), -Z), np.array([[3.0], [-1.0]]))
    >>> [round(float(p.X[-1, 0]), 6) for p in paths], paths[0].message
    ([0.0, 0.0], 'converged: gradient below gtol')
    """
    X = np.array(X0, dtype="float64", ndmin=2)
    if X.ndim != 2:
        raise ValueError(f"batched_lbfgs: X0 must be (paths, dims), got shape {np.shape(X0)}")
    P, D = X.shape
    F, G = _as_objective(*(np.asarray(a, dtype="float64") for a in fn(X)))
    n_evals = np.ones(P, dtype=int)
    rec = _Record(X, G, F)
    messages = ["" for _ in range(P)]
    active = np.isfinite(F)
    for p in np.flatnonzero(~active):
        messages[p] = "log density not finite at the start"
    m = int(history)
    S, Yp, rho = np.zeros((P, m, D)), np.zeros((P, m, D)), np.zeros((P, m))
    npairs = np.zeros(P, dtype=int)
    it = np.zeros(P, dtype=int)
    for p in np.flatnonzero(active & (np.abs(G).max(axis=1) <= gtol)):
        active[p] = False
        messages[p] = "converged: gradient below gtol"
    while active.any():
        for p in np.flatnonzero(active & (it >= maxiter)):
            active[p] = False
            messages[p] = "stopped: maxiter reached"
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        d = _directions(G[idx], S[idx], Yp[idx], rho[idx], npairs[idx])
        gd = np.einsum("pd,pd->p", G[idx], d)
        bad = ~(gd < 0)  # not a descent direction (lost curvature): restart from the gradient
        if bad.any():
            npairs[idx[bad]] = 0
            S[idx[bad]], Yp[idx[bad]], rho[idx[bad]] = 0.0, 0.0, 0.0
            g = G[idx[bad]]
            d[bad] = -g / np.maximum(np.linalg.norm(g, axis=1), 1e-300)[:, None]
            gd[bad] = np.einsum("pd,pd->p", G[idx[bad]], d[bad])
        ok, Xn, Fn, Gn, used = _line_search(fn, X[idx], F[idx], gd, d)
        n_evals[idx] += used
        for p in idx[~ok]:
            active[p] = False
            messages[p] = "stopped: line search found no acceptable step"
        idx, Xn, Fn, Gn = idx[ok], Xn[ok], Fn[ok], Gn[ok]
        s, y = Xn - X[idx], Gn - G[idx]
        sy, yy = np.einsum("pd,pd->p", s, y), np.einsum("pd,pd->p", y, y)
        new = idx[sy > 1e-12 * yy]  # curvature pairs kept (always, after a Wolfe step)
        if new.size:
            keep = sy > 1e-12 * yy
            S[new], Yp[new], rho[new] = S[new][:, list(range(1, m)) + [0]], Yp[new][:, list(range(1, m)) + [0]], rho[new][:, list(range(1, m)) + [0]]
            S[new, -1], Yp[new, -1], rho[new, -1] = s[keep], y[keep], 1.0 / sy[keep]
            npairs[new] = np.minimum(npairs[new] + 1, m)
        rel = (F[idx] - Fn) / np.maximum(np.maximum(np.abs(F[idx]), np.abs(Fn)), 1.0)
        X[idx], F[idx], G[idx] = Xn, Fn, Gn
        it[idx] += 1
        rec.add(idx, it[idx], Xn, Gn, Fn)
        small = np.abs(Gn).max(axis=1) <= gtol
        for k in np.flatnonzero(small | (rel <= ftol)):
            active[idx[k]] = False
            messages[idx[k]] = "converged: gradient below gtol" if small[k] else "converged: relative reduction of f below ftol"
    return [
        LbfgsPath(X=rec.X[p, : it[p] + 1].copy(), G=-rec.G[p, : it[p] + 1], logp=-rec.F[p, : it[p] + 1], n_evals=int(n_evals[p]), message=messages[p])
        for p in range(P)
    ]


class _Record:
    """Every path's iterates in (P, capacity, D) buffers that double when full."""

    def __init__(self, X, G, F):
        self.X, self.G, self.F = X[:, None].copy(), G[:, None].copy(), F[:, None].copy()

    def add(self, rows, at, X, G, F):
        if at.size and at.max() >= self.X.shape[1]:
            n = self.X.shape[1]
            self.X = np.concatenate([self.X, np.zeros_like(self.X[:, : n + 1])], axis=1)
            self.G = np.concatenate([self.G, np.zeros_like(self.G[:, : n + 1])], axis=1)
            self.F = np.concatenate([self.F, np.zeros_like(self.F[:, : n + 1])], axis=1)
        self.X[rows, at], self.G[rows, at], self.F[rows, at] = X, G, F


def _as_objective(lp: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(f, grad f) = (-log p, -grad log p)`` with non-finite rows as ``(inf, 0)``."""
    bad = ~np.isfinite(lp) | ~np.all(np.isfinite(g), axis=1)
    F = np.where(bad, np.inf, -lp)
    G = np.where(bad[:, None], 0.0, -g)
    return F, G


def _line_search(fn, X, F, gd, d):
    """Weak Wolfe steps along ``d`` (B, D) from ``X`` for all rows together.

    Returns ``(ok (B,), X_new, F_new, G_new, evaluations (B,))``; a row that found no
    Wolfe step takes the longest step that met the decrease condition, if any (``ok``)."""
    B = X.shape[0]
    t = np.ones(B)
    lo, hi = np.zeros(B), np.full(B, np.inf)
    found = np.zeros(B, dtype=bool)  # a Wolfe step accepted
    armijo = np.zeros(B, dtype=bool)  # ``lo`` > 0 met the decrease condition: fallback
    Xn, Fn, Gn = X.copy(), F.copy(), np.zeros_like(X)
    Xa, Fa, Ga = X.copy(), F.copy(), np.zeros_like(X)
    used = np.zeros(B, dtype=int)
    for _ in range(MAX_TRIALS):
        rows = np.flatnonzero(~found)
        if rows.size == 0:
            break
        Z = X[rows] + t[rows, None] * d[rows]
        f, g = _as_objective(*(np.asarray(a, dtype="float64") for a in fn(Z)))
        used[rows] += 1
        decrease = f <= F[rows] + C1 * t[rows] * gd[rows]
        slope = np.einsum("bd,bd->b", g, d[rows])
        curved = slope >= C2 * gd[rows]
        accept = decrease & curved
        r = rows[accept]
        Xn[r], Fn[r], Gn[r], found[r] = Z[accept], f[accept], g[accept], True
        short = decrease & ~curved  # too short: remember it, go further
        r = rows[short]
        lo[r] = t[r]
        Xa[r], Fa[r], Ga[r], armijo[r] = Z[short], f[short], g[short], True
        t[r] = np.where(np.isfinite(hi[r]), 0.5 * (lo[r] + hi[r]), 2.0 * t[r])
        long = ~decrease  # too long (or not finite): cut back between lo and t
        r = rows[long]
        tt = t[r]
        hi[r] = tt
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            curv = f[long] - F[r] - gd[r] * tt
            tq = -gd[r] * tt**2 / (2.0 * curv)  # minimiser of the quadratic through f(0), f'(0), f(t)
        width = tt - lo[r]
        tq = np.where(np.isfinite(tq), tq, lo[r] + 0.5 * width)
        t[r] = np.clip(tq, lo[r] + 0.1 * width, lo[r] + 0.5 * width)
    fallback = ~found & armijo
    Xn[fallback], Fn[fallback], Gn[fallback] = Xa[fallback], Fa[fallback], Ga[fallback]
    return found | armijo, Xn, Fn, Gn, used
