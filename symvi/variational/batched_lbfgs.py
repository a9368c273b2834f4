"""L-BFGS on many start points at once: one batched log-density call per iteration.

Multi-path Pathfinder runs the same optimiser from several start points.  Run one after
the other (scipy's L-BFGS-B), each iteration is a Python round trip and a compiled call on
one point; here all paths advance together: every round of the line search evaluates the
trial points of all paths still searching in one call of ``fn`` on a ``(B, D)`` stack, and
the L-BFGS arithmetic between the calls (two-loop recursion over pairs ``(s, y)`` stored as
``(P, m, D)`` arrays, line-search bookkeeping) runs in the compiled loops of
:mod:`symvi.variational.lbfgs_kernels`.

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

MESSAGES = {
    1: "converged: gradient below gtol",
    2: "converged: relative reduction of f below ftol",
    3: "stopped: maxiter reached",
    4: "stopped: line search found no acceptable step",
    5: "log density not finite at the start",
}


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
    from symvi.variational import lbfgs_kernels as k

    X = np.array(X0, dtype="float64", ndmin=2)
    if X.ndim != 2:
        raise ValueError(f"batched_lbfgs: X0 must be (paths, dims), got shape {np.shape(X0)}")
    P, D = X.shape
    m = int(history)
    lp, g = (np.asarray(a, dtype="float64") for a in fn(X))
    bad = ~np.isfinite(lp) | ~np.all(np.isfinite(g), axis=1)
    F, G = np.where(bad, np.inf, -lp), np.where(bad[:, None], 0.0, -g)
    status = np.where(bad, 5, np.where(np.abs(G).max(axis=1) <= gtol, 1, 0)).astype(np.int64)
    S, Y, rho = np.zeros((P, m, D)), np.zeros((P, m, D)), np.zeros((P, m))
    npairs, it, ntrial = np.zeros(P, dtype=np.int64), np.zeros(P, dtype=np.int64), np.zeros(P, dtype=np.int64)
    search, armijo = np.zeros(P, dtype=bool), np.zeros(P, dtype=bool)
    d, gd, t, lo, hi = np.zeros((P, D)), np.zeros(P), np.ones(P), np.zeros(P), np.full(P, np.inf)
    Xa, Fa, Ga = np.zeros((P, D)), np.zeros(P), np.zeros((P, D))
    n_evals = np.ones(P, dtype=np.int64)
    cap = min(int(maxiter), 64) + 1
    RX, RG, RF = np.zeros((P, cap, D)), np.zeros((P, cap, D)), np.zeros((P, cap))
    RX[:, 0], RG[:, 0], RF[:, 0] = X, G, F
    Z, rows = np.zeros((P, D)), np.zeros(P, dtype=np.int64)
    while True:
        n = k.propose(X, G, S, Y, rho, npairs, it, status, search, d, gd, t, lo, hi, armijo, ntrial, int(maxiter), Z, rows)
        if n == 0:
            break
        lpZ, gZ = (np.asarray(a, dtype="float64") for a in fn(Z[:n]))
        if it.max() + 1 >= RX.shape[1]:  # one more iterate may come: double the records
            RX, RG, RF = (np.concatenate([R, np.zeros_like(R)], axis=1) for R in (RX, RG, RF))
        k.absorb(n, rows, Z, lpZ, gZ.reshape(n, D), X, F, G, S, Y, rho, npairs, it, status, search, d, gd, t, lo, hi, armijo, ntrial, Xa, Fa, Ga, n_evals, RX, RG, RF, float(ftol), float(gtol))
    return [
        LbfgsPath(X=RX[p, : it[p] + 1].copy(), G=-RG[p, : it[p] + 1], logp=-RF[p, : it[p] + 1], n_evals=int(n_evals[p]), message=MESSAGES[int(status[p])])
        for p in range(P)
    ]
