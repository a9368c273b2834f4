"""The Laplace approximation: a Gaussian at the mode with the inverse Hessian as covariance.

``fit(method="laplace")`` (or :func:`fit_laplace`, the name of PyMC's side package) finds the
mode of the log density on the flat unconstrained space (the transforms' log-Jacobian
included, so the Gaussian lives on the same space as ADVI's) with L-BFGS on the compiled
log density and gradient (:func:`symvi.optimize.maximise`, the machinery of
:func:`symvi.find_MAP`), polishes it with Newton steps on the Hessian below, and takes as covariance the
inverse of the Hessian of ``-log p`` there:

* up to ``EXACT_MAX_DIM`` unconstrained coordinates, PyTensor's symbolic Hessian (the
  Jacobian of the gradient, vectorised over the coordinates, compiled once);
* above, central finite differences of the compiled gradient, all ``2 D`` shifted points in
  one batched call (exact up to rounding where the gradient is linear, i.e. on a Gaussian).

The result is a :class:`~symvi.variational.approximations.FullRank` with those fixed
parameters, so ``sample``, ``sample_node``, ``diagnose`` (PSIS k-hat tells how far the
posterior is from the Gaussian) and checkpoints work as for FullRankADVI.
``approx.laplace`` holds what the run did (:class:`LaplaceInfo`).

Cost: one L-BFGS run (tens to hundreds of gradient evaluations) plus one Hessian, ``O(D)``
gradient passes and an ``O(D^3)`` factorisation; exact on a Gaussian posterior.  It is as
good as the posterior is Gaussian around its mode: hierarchical models (funnels), where the
mode of the joint density is far from the bulk, are where it fails (``diagnose`` says so).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     x = pm.MvNormal("x", mu=np.zeros(2), cov=np.array([[1.0, 0.8], [0.8, 1.0]]))
...     q = pm.fit(method="laplace", progressbar=False, backend="c")
>>> bool(np.allclose(q.cov.eval(), [[1.0, 0.8], [0.8, 1.0]], atol=1e-6))
True
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pytensor
from scipy.linalg import cho_solve
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace

from symvi.backends import TIERED, resolve_backend
from symvi.model import modelcontext
from symvi.optimize import FlatLogp, maximise
from symvi.pytensorf import ONE_SHOT_MODE, compile_fn
from symvi.variational.approximations import FullRank, _check_model, apply_start
from symvi.variational.methods import register_method

__all__ = ["LaplaceApproximation", "LaplaceInfo", "fit_laplace", "EXACT_MAX_DIM"]

#: up to this many unconstrained coordinates the Hessian is PyTensor's symbolic one
EXACT_MAX_DIM = 100
#: Newton steps after each optimiser run, and optimiser runs (restarts from where Newton stopped)
NEWTON_STEPS = 20
RESTARTS = 3
_HESSIANS = ("auto", "exact", "fd")


@dataclass
class LaplaceInfo:
    """What a Laplace fit did.

    Attributes
    ----------
    logp : log density (unconstrained space, Jacobian included) at the mode.
    grad_norm : largest absolute gradient entry at the mode (0 at an exact mode).
    hessian : "exact" (PyTensor's) or "fd" (finite differences of the gradient).
    n_grad_evals : log density + gradient evaluations (optimiser, Newton step, differences).
    converged : whether the optimiser reported success.
    message : the optimiser's stopping message.
    seconds : wall time of the fit (compiles included).
    """

    logp: float
    grad_norm: float
    hessian: str
    n_grad_evals: int
    converged: bool
    message: str
    seconds: float = 0.0

    def __str__(self) -> str:
        state = "converged" if self.converged else f"optimiser stopped: {self.message}"
        return (
            f"Laplace: mode logp = {self.logp:.6g} (max |gradient| {self.grad_norm:.2g}, {state}), "
            f"{self.hessian} Hessian, {self.n_grad_evals} gradient evaluations ({self.seconds:.2f} s)"
        )


def _flat_logp_graph(model, layout):
    """(theta, log p(theta)) over the flat unconstrained vector, Jacobian included."""
    theta = pt.vector("theta", dtype="float64")
    logp = graph_replace(model.logp(jacobian=True), layout.replacements(theta), strict=False)
    return theta, logp


def exact_hessian(model, layout, x: np.ndarray) -> np.ndarray:
    """Hessian of ``-log p`` at the flat point ``x`` from PyTensor's symbolic derivatives.

    Compiled without graph rewrites (a few calls: compiling fast matters more than running
    fast), once per model and layout (kept on the model, like :meth:`FlatLogp.cached`).
    """
    terms = tuple(id(v) for v in model.value_vars + model.observed_RVs + list(model.potentials))
    key = (terms, tuple(layout.names), tuple(layout.shapes))
    cache = model.__dict__.setdefault("_laplace_hessian_cache", {})
    if key not in cache:
        theta, logp = _flat_logp_graph(model, layout)
        grad = pytensor.grad(logp, theta)
        hess = pytensor.gradient.jacobian(grad, theta, vectorize=True)
        cache[key] = compile_fn([theta], -hess, mode=ONE_SHOT_MODE)
    return np.asarray(cache[key](np.asarray(x, dtype="float64")), dtype="float64")


def fd_hessian(f: FlatLogp, x: np.ndarray) -> np.ndarray:
    """Hessian of ``-log p`` at ``x`` by central differences of the compiled gradient:
    ``-(g(x + h_j e_j) - g(x - h_j e_j)) / (2 h_j)`` for every coordinate ``j``, all ``2 D``
    points in one batched call, step ``h_j = eps^(1/3) max(1, |x_j|)``; symmetrised."""
    D = x.shape[0]
    h = np.finfo("float64").eps ** (1 / 3) * np.maximum(1.0, np.abs(x))
    shift = np.diag(h)
    _, G = f(np.concatenate([x + shift, x - shift]))
    H = -(G[:D] - G[D:]) / (2.0 * h[:, None])  # row j: d grad / d x_j
    return 0.5 * (H + H.T)


def _where(layout, j: int) -> str:
    """``name[index]`` of flat coordinate ``j``."""
    for name, sl, shape in zip(layout.names, layout.slices, layout.shapes):
        if sl.start <= j < sl.stop:
            if not shape:
                return name
            return f"{name}[{', '.join(str(int(i)) for i in np.unravel_index(j - sl.start, shape))}]"
    return f"coordinate {j}"


def covariance_factor(H: np.ndarray, layout) -> np.ndarray:
    """Cholesky factor of ``H^-1``; ``H`` (the Hessian of ``-log p``) must be positive definite.

    Raises ``np.linalg.LinAlgError`` naming the variables along the direction of the smallest
    eigenvalue when it is not.
    """
    if not np.all(np.isfinite(H)):
        bad = sorted({_where(layout, int(j)) for j in np.nonzero(~np.isfinite(H))[0]})
        raise np.linalg.LinAlgError(f"Laplace: the Hessian of -log p at the mode is not finite (in {', '.join(bad[:5])})")
    try:
        chol_h = np.linalg.cholesky(H)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(H)
        v = vecs[:, 0]
        top = np.argsort(-np.abs(v))[: min(3, v.size)]
        names = ", ".join(_where(layout, int(j)) for j in top if abs(v[j]) > 0.1 * np.abs(v).max())
        raise np.linalg.LinAlgError(
            f"Laplace: the Hessian of -log p where the optimiser stopped is not positive definite (smallest eigenvalue {vals[0] + 0.0:.3g}, "
            f"mostly along {names}): the log density has no proper peak there - a flat or improper direction "
            "(a Flat prior the data do not pin down), a saddle, or an optimiser that stopped short. "
            "Give those variables proper priors, pass start=, or use fit(method='fullrank_advi')"
        ) from None
    eye = np.eye(H.shape[0])
    inv_chol = np.linalg.solve(chol_h, eye)  # L_H^-1, so H^-1 = L_H^-T L_H^-1
    cov = inv_chol.T @ inv_chol
    return np.linalg.cholesky(0.5 * (cov + cov.T))


class LaplaceApproximation:
    """The Laplace approximation; ``fit`` returns a :class:`FullRank` with fixed parameters.

    Parameters
    ----------
    model, random_seed, start : as for :class:`~symvi.variational.inference.ADVI`; ``start``
        is where the optimiser starts (default ``model.initial_point()``).
    hessian : "auto" (symbolic up to :data:`EXACT_MAX_DIM` coordinates, finite differences
        above), "exact" or "fd".
    method : the :func:`scipy.optimize.minimize` method finding the mode (default "L-BFGS-B").

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 2.0)
    ...     q = pm.LaplaceApproximation(hessian="fd").fit(progressbar=False, backend="c")
    >>> round(float(q.mean.eval()[0]), 6), round(float(q.std.eval()[0]), 6)
    (1.0, 2.0)
    """

    loss_label = "-log p at the mode"

    def __init__(self, model=None, random_seed=None, start: dict | None = None, hessian: str = "auto", method: str = "L-BFGS-B"):
        self.model = modelcontext(model, who="Laplace")
        _check_model(self.model)
        if hessian not in _HESSIANS:
            raise ValueError(f"Laplace: hessian must be one of {_HESSIANS}, got {hessian!r}")
        self.hessian = hessian
        self.method = method
        self.random_seed = random_seed
        point = self.model.initial_point()
        self.start_point = apply_start(self.model, point, start) if start else point
        self.approx = None
        self.info = None

    def fit(self, n: int | None = None, progressbar: bool = True, backend: str | None = None, diagnose: bool = False, **kwargs):
        """Find the mode (at most ``n`` log-density evaluations, None: 5000) and the Hessian there.

        ``backend`` compiles the log density as for :class:`~symvi.variational.pathfinder.Pathfinder`.
        Returns a :class:`FullRank`; ``approx.laplace`` is the run's :class:`LaplaceInfo`.
        Raises ``numpy.linalg.LinAlgError`` when the Hessian is not positive definite.
        """
        if kwargs:
            raise TypeError(
                f"LaplaceApproximation.fit() got keyword argument(s) {sorted(kwargs)} of gradient-descent VI; the Laplace "
                "approximation optimises with scipy and takes hessian and method in inf_kwargs"
            )
        if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1):
            raise ValueError(f"Laplace: n (log-density evaluations of the optimiser) must be a positive integer, got {n!r}")
        t0 = time.perf_counter()
        key = resolve_backend(backend)
        f = FlatLogp.cached(self.model, self.start_point, backend=None if key == TIERED else key)
        first = f.n_points
        x0 = f.layout.ravel(self.start_point).astype("float64")
        lp0, _ = f.value_and_grad(x0)
        if not np.isfinite(lp0):
            raise ValueError(f"Laplace: the log density is {lp0} at the start point; pass start= with a point inside the support")
        kind = self.hessian if self.hessian != "auto" else ("exact" if f.ndim <= EXACT_MAX_DIM else "fd")
        hess = (lambda z: exact_hessian(self.model, f.layout, z)) if kind == "exact" else (lambda z: fd_hessian(f, z))
        maxeval = 5000 if n is None else int(n)
        x = x0
        for _ in range(RESTARTS):
            result = maximise(f, x, self.method, maxeval, tol=1e-12)
            x = np.asarray(result.x, dtype="float64")
            lp, g = f.value_and_grad(x)
            if not np.isfinite(lp) or not np.all(np.isfinite(g)):
                raise FloatingPointError(f"Laplace: the optimiser ended where the log density is {lp} ({result.message}); pass start=")
            x, lp, g, H, at_mode = self._newton(f, hess, x, lp, g)
            if at_mode:
                break
        chol = covariance_factor(H, f.layout)
        approx = FullRank(model=self.model, random_seed=self.random_seed)
        approx.set_params({"mu": x, "L_tril": chol[np.tril_indices(f.ndim)]})
        approx.hist = np.array([-lp])
        info = LaplaceInfo(
            logp=float(lp),
            grad_norm=float(np.max(np.abs(g))) if g.size else 0.0,
            hessian=kind,
            n_grad_evals=f.n_points - first,
            converged=bool(result.success),
            message=str(result.message),
            seconds=time.perf_counter() - t0,
        )
        if not result.success:
            warnings.warn(f"Laplace: the optimiser did not converge ({result.message}); the Gaussian is centred where it stopped", RuntimeWarning, stacklevel=2)
        approx.laplace = info
        approx.inference = self
        self.approx, self.info = approx, info
        if progressbar:
            print(info)
        if diagnose:
            print(approx.diagnose(random_seed=self.random_seed))
        return approx

    @staticmethod
    def _newton(f, hess, x, lp, g):
        """Newton steps ``x + t H^-1 g`` (``t`` halved until the log density does not fall) from
        the optimiser's point until the Newton decrement ``g^T H^-1 g`` is below 1e-12: the
        optimiser's tolerance leaves the mode a little off (on a Gaussian one step lands on it
        exactly) and on badly scaled posteriors L-BFGS can stop far from it.  Returns ``(x,
        logp, grad, H, at_mode)``; ``at_mode`` is False where H is not positive definite or
        no step improves (the caller then restarts the optimiser from ``x``)."""
        H = hess(x)
        for _ in range(NEWTON_STEPS):
            try:
                chol = np.linalg.cholesky(H)
            except np.linalg.LinAlgError:
                return x, lp, g, H, False
            step = cho_solve((chol, True), g)
            decrement = float(g @ step)
            if not np.isfinite(decrement):
                return x, lp, g, H, False
            if decrement <= 1e-12:
                return x, lp, g, H, True
            t = 1.0
            for _ in range(30):
                lp_new, g_new = f.value_and_grad(x + t * step)
                if np.isfinite(lp_new) and lp_new >= lp and np.all(np.isfinite(g_new)):
                    break
                t *= 0.5
            else:
                return x, lp, g, H, decrement <= 1e-6  # rounding-limited: at the mode
            x, lp, g = x + t * step, lp_new, g_new
            H = hess(x)
        return x, lp, g, H, False


def fit_laplace(model=None, random_seed=None, start: dict | None = None, hessian: str = "auto", progressbar: bool = True, backend: str | None = None):
    """Laplace approximation of ``model`` (default: the context model); returns a :class:`FullRank`.

    The name of PyMC's side package; the same as ``fit(method="laplace")``.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 2.0)
    ...     q = pm.fit_laplace(progressbar=False, backend="c")
    >>> round(float(q.std.eval()[0]), 6)
    2.0
    """
    inference = LaplaceApproximation(model=model, random_seed=random_seed, start=start, hessian=hessian)
    return inference.fit(progressbar=progressbar, backend=backend)


register_method("laplace", LaplaceApproximation)
