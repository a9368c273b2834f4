"""SMC kernels: tempering, resampling and the Metropolis mutations of ``pm.sample_smc``.

A population of ``draws`` particles lives in the model's flat unconstrained space (the layout
``pm.fit`` and ``pm.sample`` use).  Each stage raises the inverse temperature ``beta`` of
``p(theta) p(y | theta)^beta`` so that the effective sample size of the incremental weights is
``threshold * draws`` (bisection), resamples the particles by those weights, and moves them
with Metropolis-Hastings steps until their correlation with the stage's start stops falling:

* :class:`IMH` - independent proposals from a Gaussian fitted to the particles (default);
* :class:`MH` - random-walk proposals with that Gaussian's covariance, scaled per particle
  and tuned from its acceptance rate.

The log prior (transforms' Jacobians included) and the log likelihood (observed variables and
Potentials, as PyMC splits them) are one compiled function over a (particles, D) matrix: one
call evaluates every particle.  Discrete variables are moved on the real line and rounded
before the density reads them (as PyMC does); their draws are rounded.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     mu = pm.Normal("mu", 0.0, 1.0)
...     y = pm.Normal("y", mu, 1.0, observed=np.array([0.5]))
>>> k = IMH(draws=200, model=m)
>>> k.initialize(None, np.random.default_rng(0))
>>> while k.beta < 1:
...     k.update_beta_and_weights()
...     stats = k.step()
>>> k.particles.shape, round(float(stats["beta"]), 1)
((200, 1), 1.0)
"""

from __future__ import annotations

import numbers
from abc import ABC, abstractmethod

import numpy as np
from scipy.special import logsumexp
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace, vectorize_graph

from symvi.context import modelcontext
from symvi.smc.population import PriorDraws, start_population

__all__ = ["IMH", "MH", "SMC_KERNEL", "multinomial_resampling", "systematic_resampling"]

_DISCRETE = ("int", "uint", "bool")


def _logsumexp(a: np.ndarray) -> float:
    return float(logsumexp(a)) if np.isfinite(np.max(a)) else float(np.max(a))


def systematic_resampling(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``len(weights)`` particles drawn by systematic resampling (one uniform,
    evenly spaced positions in the cumulative weights; ``weights`` sum to 1).

    >>> systematic_resampling(np.array([0.0, 1.0, 0.0]), np.random.default_rng(0)).tolist()
    [1, 1, 1]
    """
    n = len(weights)
    positions = (rng.random() + np.arange(n)) / n
    return np.minimum(np.searchsorted(np.cumsum(weights), positions, side="left"), n - 1)


def multinomial_resampling(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``len(weights)`` particles drawn independently with probabilities ``weights``."""
    return rng.choice(len(weights), size=len(weights), p=weights)


_RESAMPLERS = {"systematic": systematic_resampling, "multinomial": multinomial_resampling}


class _Densities:
    """Compiled ``(N, D) -> (log prior (N,), log likelihood (N,))`` of a model, and its layout."""

    def __init__(self, model, mode=None):
        from symvi.logprob import model_logp
        from symvi.pytensorf import compile_fn
        from symvi.variational.approximations import Layout

        self.model = model
        self.layout = layout = Layout(model, model.initial_point())
        value_of = {model.rvs_to_values[rv]: rv for rv in model.free_RVs}
        self.discrete = np.zeros(layout.size, dtype=bool)
        theta = layout.vector()
        repl = {}
        for v, sl, sh in zip(layout.vars, layout.slices, layout.shapes):
            piece = theta[sl]
            if value_of[v].dtype.startswith(_DISCRETE):
                self.discrete[sl] = True
                piece = pt.round(piece)
            repl[v] = piece.reshape(sh).astype(v.dtype)
        prior = model_logp(model, vars=list(model.free_RVs))
        like_vars = list(model.observed_RVs) + list(model.potentials)
        like = model_logp(model, vars=like_vars) if like_vars else pt.constant(0.0, dtype="float64")
        prior, like = graph_replace([prior, like], repl, strict=False)
        Z = pt.matrix("particles", dtype=layout.dtype)
        zeros = pt.zeros((Z.shape[0],), dtype="float64")
        outs = vectorize_graph([prior, like], {theta: Z})
        outs = [zeros + o.astype("float64") for o in outs]  # a constant term still gives (N,)
        self.fn = compile_fn([Z], outs, mode=mode)

    @classmethod
    def cached(cls, model, mode=None) -> _Densities:
        """The densities of ``model`` kept on it while the model (and ``mode``) are unchanged."""
        key = (model.version, id(mode) if mode is not None else None)
        cache = model.__dict__.setdefault("_smc_density_cache", {})
        if key not in cache:
            cache.clear()
            cache[key] = cls(model, mode)
        return cache[key]

    def __call__(self, particles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        prior, like = self.fn(np.ascontiguousarray(particles, dtype=self.layout.dtype))
        prior = np.where(np.isnan(prior), -np.inf, np.asarray(prior, dtype="float64"))
        like = np.where(np.isnan(like), -np.inf, np.asarray(like, dtype="float64"))
        return prior, like


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|correlation| per column between the particles ``a`` and ``b`` (N, D)."""
    am, bm = a - a.mean(axis=0), b - b.mean(axis=0)
    den = np.sqrt((am**2).sum(axis=0) * (bm**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs((am * bm).sum(axis=0) / den)


class SMC_KERNEL(ABC):
    """Tempered SMC over a model's particles; subclasses define :meth:`mutate` (see the module docs).

    Parameters
    ----------
    draws : particles (the posterior draws of a chain).
    start : ``{name: (draws, ...) array}`` initial particles (default: prior draws).
    model : the model (default: the one in context).
    random_seed : seed of the kernel's generator (``initialize`` takes each chain's).
    threshold : the next ``beta`` keeps an effective sample size of ``threshold * draws``;
        larger means more stages.  In (0, 1).
    correlation_threshold : Metropolis steps continue while the particles' correlation with
        the stage's start falls by more than this (in at least 90% of the coordinates).
    resampling : ``"systematic"`` (default) or ``"multinomial"``.
    compile_kwargs : ``{"mode": ...}`` for compiling the densities (default: symvi's).
    """

    stats_names: tuple[str, ...] = ("log_marginal_likelihood", "beta")

    def __init__(
        self,
        draws: int = 2000,
        start=None,
        model=None,
        random_seed=None,
        threshold: float = 0.5,
        correlation_threshold: float = 0.01,
        resampling: str = "systematic",
        compile_kwargs: dict | None = None,
    ):
        from symvi.sampling import _compile_mode

        if isinstance(draws, bool) or not isinstance(draws, numbers.Integral) or draws < 2:
            raise ValueError(f"sample_smc: draws must be an integer >= 2 (the number of particles), got {draws!r}")
        if not isinstance(threshold, numbers.Real) or not 0 < threshold < 1:
            # 1 would ask every stage to keep all particles' weight equal: beta could never grow
            raise ValueError(f"sample_smc: threshold must lie in (0, 1), got {threshold!r}")
        if not isinstance(correlation_threshold, numbers.Real) or not 0 <= correlation_threshold <= 1:
            raise ValueError(f"sample_smc: correlation_threshold must lie in [0, 1], got {correlation_threshold!r}")
        if resampling not in _RESAMPLERS:
            raise ValueError(f"sample_smc: resampling must be one of {sorted(_RESAMPLERS)}, got {resampling!r}")
        self.model = modelcontext(model, who="sample_smc()")
        if not self.model.free_RVs:
            raise ValueError("sample_smc: the model has no free random variables: there is nothing to sample")
        self.draws = int(draws)
        self.start = start
        self.threshold = float(threshold)
        self.correlation_threshold = float(correlation_threshold)
        self.resampling = resampling
        self.rng = np.random.default_rng(random_seed)
        self.density = _Densities.cached(self.model, _compile_mode("sample_smc", compile_kwargs))
        self.layout = self.density.layout
        self.n_steps = 0

    # ------------------------------------------------------------------ population
    def initialize(self, start: dict | None, rng: np.random.Generator) -> None:
        """A fresh population (``start`` or prior draws) for a chain using ``rng``."""
        self.rng = rng
        self.beta = 0.0
        self.iteration = 0
        self.log_marginal_likelihood = 0.0
        self.weights = np.full(self.draws, 1.0 / self.draws)
        start = self.start if start is None else start
        if start is None:
            self.particles = PriorDraws.cached(self.model, self.layout)(self.draws, int(rng.integers(2**31)))
        else:
            self.particles = start_population(self.model, self.layout, self.draws, start)
        self.prior_logp, self.likelihood_logp = self.density(self.particles)
        bad = ~np.isfinite(self.prior_logp)
        if bad.all():
            raise ValueError("sample_smc: the log prior is not finite at any initial particle")
        self.setup_kernel()

    def setup_kernel(self) -> None:
        """Kernel set-up before the first stage (nothing by default)."""

    @property
    def tempered_logp(self) -> np.ndarray:
        return self.prior_logp + self.beta * self.likelihood_logp

    # ------------------------------------------------------------------ one stage
    def _log_weights(self, dbeta: float) -> np.ndarray:
        lw = dbeta * self.likelihood_logp
        return np.where(np.isnan(lw), -np.inf, lw)  # 0 * -inf: a particle outside the support

    def _ess(self, dbeta: float) -> float:
        lw = self._log_weights(dbeta)
        lw = lw - _logsumexp(lw)
        return float(np.exp(-_logsumexp(2 * lw)))

    def update_beta_and_weights(self) -> None:
        """The next ``beta`` (bisection on the ESS of the incremental weights), the weights and
        the running log marginal likelihood (PyMC's ``update_beta_and_weights``)."""
        self.iteration += 1
        old = self.beta
        target = self.threshold * self.draws
        if self._ess(1.0 - old) >= target:
            new = 1.0
        else:
            lo, hi = old, 1.0
            while hi - lo > 1e-9 * max(1.0, hi):
                mid = 0.5 * (lo + hi)
                if self._ess(mid - old) >= target:
                    lo = mid
                else:
                    hi = mid
            new = max(lo, old + 1e-12)
        lw = self._log_weights(new - old)
        total = _logsumexp(lw)
        if not np.isfinite(total):
            raise FloatingPointError("sample_smc: every particle has a log likelihood of -inf or NaN")
        self.beta = new
        self.weights = np.exp(lw - total)
        self.weights /= self.weights.sum()
        self.log_marginal_likelihood += total - np.log(self.draws)

    def resample(self) -> None:
        """Draw the particles with replacement by their weights (``self.resampling_indexes``)."""
        idx = _RESAMPLERS[self.resampling](self.weights, self.rng)
        self.resampling_indexes = idx
        self.particles = self.particles[idx]
        self.prior_logp = self.prior_logp[idx]
        self.likelihood_logp = self.likelihood_logp[idx]

    def _gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and Cholesky factor of the particles' covariance (plus 1e-6 on the diagonal)."""
        cov = np.atleast_2d(np.cov(self.particles, rowvar=False, ddof=0)) + 1e-6 * np.eye(self.layout.size)
        if not np.all(np.isfinite(cov)):
            raise ValueError("sample_smc: the particles' covariance is not finite; draws may be too small")
        return self.particles.mean(axis=0), np.linalg.cholesky(cov)

    def tune(self) -> None:
        """Proposal set-up before each mutation (subclasses)."""

    @abstractmethod
    def mutate(self) -> None:
        """Move the particles at the current ``beta`` (each kernel's own rule)."""

    def _metropolis(self, propose) -> list[np.ndarray]:
        """Metropolis steps until the correlation with the stage's start stops falling.

        ``propose()`` gives (proposals (N, D), log q(back) - log q(forward) (N,)); returns
        the accepted masks of the steps."""
        first = self.particles.copy()
        old_corr = np.full(self.layout.size, 2.0)
        accepted_steps = []
        while True:
            proposal, log_q = propose()
            pl, ll = self.density(proposal)
            new_lp = pl + self.beta * ll
            with np.errstate(invalid="ignore"):
                log_ratio = new_lp - self.tempered_logp + log_q
            accept = np.log(self.rng.random(self.draws)) < np.where(np.isnan(log_ratio), -np.inf, log_ratio)
            self.particles[accept] = proposal[accept]
            self.prior_logp[accept] = pl[accept]
            self.likelihood_logp[accept] = ll[accept]
            accepted_steps.append(accept)
            corr = _pearson(first, self.particles)
            if np.mean((old_corr - corr) > self.correlation_threshold) > 0.9:
                old_corr = corr
            else:
                break
        self.n_steps = len(accepted_steps)
        return accepted_steps

    def step(self) -> dict:
        """One stage after :meth:`update_beta_and_weights`: resample, tune, mutate; its stats."""
        self.resample()
        self.tune()
        self.mutate()
        return self.sample_stats()

    def sample_stats(self) -> dict:
        return {"log_marginal_likelihood": self.log_marginal_likelihood if self.beta == 1 else np.nan, "beta": self.beta}

    def sample_settings(self) -> dict:
        """Settings stored in ``sample_stats.attrs`` (PyMC's names)."""
        return {
            "_n_draws": self.draws,
            "threshold": self.threshold,
            "_n_tune": self.n_steps,
            "correlation_threshold": self.correlation_threshold,
        }


class IMH(SMC_KERNEL):
    """Independent Metropolis-Hastings mutations: proposals from a Gaussian with the particles'
    mean and covariance (PyMC's ``pm.smc.IMH``; see :class:`SMC_KERNEL` for the arguments)."""

    stats_names = ("log_marginal_likelihood", "beta", "accept_rate")

    def tune(self) -> None:
        self._mean, self._chol = self._gaussian()
        self._chol_inv = np.linalg.inv(self._chol)  # D x D, once a stage

    def _logq(self, x: np.ndarray) -> np.ndarray:
        z = (x - self._mean) @ self._chol_inv.T
        return -0.5 * np.sum(z**2, axis=1)  # the normalising constant cancels in the ratio

    def mutate(self) -> None:
        def propose():
            z = self.rng.standard_normal((self.draws, self.layout.size))
            proposal = self._mean + z @ self._chol.T
            return proposal, self._logq(self.particles) + 0.5 * np.sum(z**2, axis=1)

        self.acc_rate = float(np.mean(self._metropolis(propose)))

    def sample_stats(self) -> dict:
        return {**super().sample_stats(), "accept_rate": self.acc_rate}


class MH(SMC_KERNEL):
    """Random-walk Metropolis mutations: steps from a Gaussian with the particles' covariance
    times a per-particle scale, tuned each stage towards an acceptance rate of 0.234 (PyMC's
    ``pm.smc.MH``; see :class:`SMC_KERNEL` for the arguments)."""

    stats_names = ("log_marginal_likelihood", "beta", "mean_accept_rate", "mean_proposal_scale")

    def setup_kernel(self) -> None:
        self.proposal_scales = np.full(self.draws, min(1.0, 2.38**2 / self.layout.size))
        self.chain_acc_rate = None

    def resample(self) -> None:
        super().resample()
        if self.chain_acc_rate is not None:
            self.proposal_scales = self.proposal_scales[self.resampling_indexes]
            self.chain_acc_rate = self.chain_acc_rate[self.resampling_indexes]

    def tune(self) -> None:
        if self.chain_acc_rate is not None:
            scales = self.proposal_scales * np.exp(self.chain_acc_rate - 0.234)
            self.proposal_scales = 0.5 * (scales + scales.mean())
        _, self._chol = self._gaussian()

    def mutate(self) -> None:
        def propose():
            z = self.rng.standard_normal((self.draws, self.layout.size)) @ self._chol.T
            return self.particles + z * self.proposal_scales[:, None], 0.0

        self.chain_acc_rate = np.mean(self._metropolis(propose), axis=0)

    def sample_stats(self) -> dict:
        return {
            **super().sample_stats(),
            "mean_accept_rate": float(self.chain_acc_rate.mean()),
            "mean_proposal_scale": float(self.proposal_scales.mean()),
        }
