"""Where NUTS chains start: jittered initial points, or draws of a variational approximation.

``init="auto"`` (or ``"jitter+adapt_diag"``, PyMC's default) starts each chain at the
model's initial point plus uniform noise in [-1, 1] on the unconstrained space and samples
in that space.  ``init=approx`` (a fitted approximation) or ``init="advi"`` /
``"fullrank_advi"`` (fitted here first) starts each chain at a draw of the approximation's
Gaussian ``N(mu, Sigma)`` and samples in whitened coordinates ``z`` with ``x = mu + L z``
(``L L^T = Sigma``): a sampler whose mass matrix adaptation starts from the identity then
starts it from the approximation's covariance (dense for FullRank), and adapts a diagonal
on top of it.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     x = pm.Normal("x", 0.0, 1.0, shape=2)
>>> plan = start_plan(m, "auto", seed=0)
>>> plan.draw(np.random.default_rng(1), 3).shape, plan.precond.is_identity
((3, 2), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symvi.mcmc.density import Preconditioner

__all__ = ["StartPlan", "start_plan", "VI_INITS"]

#: ``init`` strings that fit an approximation first, and the method each fits
VI_INITS = {"advi": "advi", "fullrank_advi": "fullrank_advi", "advi+adapt_diag": "advi"}
_JITTER_INITS = ("auto", "jitter+adapt_diag", "adapt_diag")


@dataclass
class StartPlan:
    """How chains start, in the sampler's coordinates: ``center`` plus uniform noise in
    [-jitter, jitter] (``spread="uniform"``) or standard normal noise (``"normal"``), and the
    map from those coordinates to the model's unconstrained space."""

    center: np.ndarray
    spread: str
    jitter: float
    precond: Preconditioner
    source: str

    def draw(self, rng, n: int | None = None) -> np.ndarray:
        """Start point(s) (D,) or (n, D) drawn with the numpy generator ``rng``."""
        shape = self.center.shape if n is None else (n,) + self.center.shape
        if self.spread == "normal":
            return self.center + rng.standard_normal(shape)
        return self.center + rng.uniform(-self.jitter, self.jitter, size=shape)


def _approx_gaussian(approx) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of an approximation on the unconstrained space."""
    mu = np.asarray(approx.mean.eval(), dtype="float64").ravel()
    cov = np.asarray(approx.cov.eval(), dtype="float64")
    return mu, cov


def _from_approx(approx, model, name: str) -> StartPlan:
    if getattr(approx, "model", model) is not model:
        raise ValueError("sample: init= is an approximation of another model; fit it on this model")
    mu, cov = _approx_gaussian(approx)
    from symvi.variational.approximations import Layout

    ndim = Layout(model, model.initial_point()).size
    if mu.size != ndim:
        raise ValueError(f"sample: init= approximation has {mu.size} dimensions, the model {ndim}")
    if np.allclose(cov, np.diag(np.diag(cov))):
        L = np.sqrt(np.maximum(np.diag(cov), 1e-12))
    else:
        cov = 0.5 * (cov + cov.T) + 1e-10 * np.eye(ndim) * np.mean(np.diag(cov))
        L = np.linalg.cholesky(cov)
    precond = Preconditioner(mu, L)
    return StartPlan(np.zeros(ndim), "normal", 1.0, precond, name)


def start_plan(model, init, seed=None, progressbar: bool = False, n_init: int = 10000) -> StartPlan:
    """The :class:`StartPlan` of ``init`` ("auto", "jitter+adapt_diag", "adapt_diag",
    "advi", "fullrank_advi", "advi+adapt_diag" or a fitted approximation), seeded by
    ``seed`` (``n_init``: steps of the fit for the VI inits)."""
    rng = np.random.default_rng(seed)
    if not isinstance(init, str):
        if not (hasattr(init, "mean") and hasattr(init, "cov")):
            raise TypeError(f"sample: init must be a string or a fitted approximation, got {type(init).__name__}")
        return _from_approx(init, model, type(init).__name__)
    key = init.lower()
    if key in VI_INITS:
        from symvi.variational.inference import fit

        approx = fit(n_init, method=VI_INITS[key], model=model, random_seed=int(rng.integers(2**31)), progressbar=progressbar)
        return _from_approx(approx, model, key)
    if key in _JITTER_INITS:
        from symvi.variational.approximations import Layout

        point = model.initial_point()
        x0 = Layout(model, point).ravel(point).astype("float64")
        jitter = 0.0 if key == "adapt_diag" else 1.0
        return StartPlan(x0, "uniform", jitter, Preconditioner.identity(x0.size), key)
    raise ValueError(
        f"sample: init={init!r} is not known; expected 'auto', 'jitter+adapt_diag', 'adapt_diag', "
        f"{', '.join(repr(k) for k in VI_INITS)} or a fitted approximation"
    )
