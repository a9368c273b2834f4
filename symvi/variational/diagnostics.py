"""Can this approximation be trusted?  Pareto-smoothed importance sampling (PSIS) checks.

For draws ``z_s ~ q`` the log importance ratios ``log p(z_s, y) - log q(z_s)`` (both densities
over the flat unconstrained vector; ``log p`` includes the transforms' Jacobians) tell how
well ``q`` covers the posterior.  Their average is the usual
ELBO estimate; the shape ``k`` of a generalised Pareto distribution fitted to their upper tail
(Vehtari, Simpson, Gelman, Yao & Gabry, 2024) tells whether importance weights p/q have a
usable number of finite moments:

* ``k < 0.5``   "good": q covers the posterior; importance-weighted estimates converge quickly.
* ``0.5 <= k <= 0.7`` "ok": usable, with a slower convergence of weighted estimates.
* ``k > 0.7``   "untrustworthy": q misses mass the posterior has (a mode, a heavy tail, a
  funnel); neither q's moments nor importance-weighted ones can be relied on.

(Yao, Vehtari, Simpson & Gelman, 2018, "Yes, but did it work?: Evaluating variational
inference".)  The smoothing itself is ArviZ's :func:`arviz.psislw`.

k-hat cannot see mass that q's draws never reach (a mode many q-sds away), nor a q that is
too wide but centred wrongly; :func:`diagnose` therefore also runs the coverage check of
:mod:`symvi.variational.coverage` (draws of a widened q, defensive importance weights).
The reading then names the most likely cause, first that applies:

* ``"not converged"``: the fit's loss history (``approx.hist``) is still falling
  (:mod:`symvi.variational.convergence`); a large k-hat then says only that q has not got
  there yet - refine first;
* ``"untrustworthy"``: the coverage check finds posterior mass q misses (a mode, a tail);
* ``"inaccurate"``: q's mean is more than ``SHIFT_TOL`` (0.3) posterior sd off (the size is
  in the message);
* otherwise the k-hat reading ("good", "ok", "untrustworthy").

One function ``draws -> (log p(z), log q(z), z)`` is compiled per approximation (Python
linker: compiles in milliseconds) with the model log density vectorised over the draws, and
cached on the approximation; :func:`diagnose`, :func:`resample_draws` and ``fit(...,
diagnose=True)`` all reuse it.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     mu = pm.Normal("mu", 0, 10)
...     y = pm.Normal("y", mu, 1, observed=np.array([0.9, 1.1]))
...     q = pm.MeanField(start={"mu": 1.0}, start_sigma={"mu": 0.75})
>>> d = diagnose(q, draws=1000, random_seed=1)
>>> d.reading, d.khat < 0.5
('good', True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.replace import vectorize_graph

from symvi.pytensorf import ONE_SHOT_MODE, compile_fn, find_rngs, reseed_rngs
from symvi.variational import convergence
from symvi.variational.coverage import Coverage, check_coverage, widened_draws
from symvi.variational.objective import model_logp_flat

__all__ = ["Diagnostics", "diagnose", "khat_reading", "resample_draws"]

GOOD_KHAT = 0.5
OK_KHAT = 0.7
MIN_DRAWS = 100

_HINTS = {
    "good": "q covers the posterior well",
    "ok": "q is usable; importance-weighted estimates converge slowly",
    "untrustworthy": "q misses posterior mass (a mode, a heavy tail or a funnel); do not trust its moments",
    "inaccurate": "q's mean is off by a fraction of a posterior sd",
    "not converged": "the fit has not converged; refine it",
}


def khat_reading(khat: float) -> str:
    """``"good"`` (k < 0.5), ``"ok"`` (0.5 <= k <= 0.7) or ``"untrustworthy"`` (k > 0.7 or NaN).

    Examples
    --------
    >>> khat_reading(0.3), khat_reading(0.6), khat_reading(1.2)
    ('good', 'ok', 'untrustworthy')
    """
    if khat < GOOD_KHAT:
        return "good"
    if khat <= OK_KHAT:
        return "ok"
    return "untrustworthy"


@dataclass
class Diagnostics:
    """PSIS diagnostics of an approximation ``q`` against its model's posterior.

    Attributes
    ----------
    khat : Pareto shape estimate of the importance ratios' upper tail (-inf where every
        ratio is the same, i.e. q equals the posterior).
    reading : "good", "ok" or "untrustworthy" (see :func:`khat_reading`).
    elbo, elbo_mcse : mean of ``log p(z) - log q(z)`` over the draws, and its Monte Carlo
        standard error.
    ess : effective sample size of the normalised, smoothed importance weights.
    log_weights : the smoothed, normalised log importance weights (one per draw).
    log_evidence : importance-sampling estimate of the log marginal likelihood,
        ``log mean(p/q)`` (>= ``elbo``; reliable only where k-hat is small).
    draws : number of draws from q used.

    Examples
    --------
    >>> d = Diagnostics(khat=0.2, reading="good", elbo=-3.0, elbo_mcse=0.01, ess=950.0,
    ...                 log_weights=np.full(1000, -np.log(1000)))
    >>> print(d)
    PSIS k-hat = 0.20 (good): q covers the posterior well. ELBO = -3.00 (MCSE 0.01), ESS 950 of 1000 draws
    """

    khat: float
    reading: str
    elbo: float
    elbo_mcse: float
    ess: float
    log_weights: np.ndarray = field(repr=False)
    log_evidence: float = float("nan")
    coverage: Coverage | None = field(default=None, repr=False)
    fit_state: str | None = None  # convergence of the fit (convergence.status), when it has a history

    @property
    def draws(self) -> int:
        return int(np.size(self.log_weights))

    @property
    def converged(self) -> bool | None:
        """Whether the fit's loss had converged (None: no history long enough to judge)."""
        if self.fit_state is None or self.fit_state.startswith("convergence not judged"):
            return None
        return self.fit_state.startswith("converged")

    @property
    def problems(self) -> list[str]:
        """What is wrong with q: an unconverged fit, then the coverage check's findings."""
        found = [self.fit_state] if self.converged is False else []
        return found + (list(self.coverage.problems) if self.coverage is not None else [])

    def __str__(self) -> str:
        hint = "; ".join(self.problems) if self.problems else _HINTS[self.reading]
        return (
            f"PSIS k-hat = {self.khat:.2f} ({self.reading}): {hint}. "
            f"ELBO = {self.elbo:.2f} (MCSE {self.elbo_mcse:.2g}), ESS {self.ess:.0f} of {self.draws} draws"
        )


def check_diagnosable(approx) -> None:
    """Raise ``TypeError`` unless ``approx`` has a density ``logq`` (Empirical/SVGD has none)."""
    # duck-typed: this module sits below symvi.variational.approximations and does not import it
    logq = getattr(type(approx), "logq", None)
    if logq is None or not hasattr(approx, "layout"):
        raise TypeError(f"diagnose needs an approximation such as MeanField, FullRank or LowRank, got {type(approx).__name__}")
    if getattr(logq, "__isabstractmethod__", False) or getattr(approx, "histogram", None) is not None:
        raise TypeError(
            f"diagnose needs an approximation with a density q(z); {type(approx).__name__} has none "
            "(particle approximations such as SVGD's Empirical cannot be importance-weighted)"
        )


def _draws_function(approx, widened: bool = True):
    """Cached compiled ``n -> (log p, log q, log r, Z, q mean, q sd)``.

    ``widened``: ``2n`` draws, ``n`` of q then ``n`` of q widened
    (:func:`symvi.variational.coverage.widened_draws`, for the coverage check); otherwise ``n``
    draws of q only (``log r`` is then ``log q``), for resampling.
    """
    cache = approx.__dict__.setdefault("_psis_cache", {})
    key = "draws" if widened else "draws_q"
    if key not in cache:
        n = pt.iscalar("draws")
        if widened:
            Z, lq, lr = widened_draws(approx, n)
        else:
            Z = approx.random(n)
            lq = lr = approx.logq(Z)
        theta, logp = model_logp_flat(approx)
        lp = vectorize_graph(logp, {theta: Z})
        fn = compile_fn([n], [lp, lq, lr, Z, approx.mean, approx.std], mode=ONE_SHOT_MODE)
        cache[key] = (fn, find_rngs([Z]))
    return cache[key]


def _seeds(random_seed, k: int) -> list[int]:
    return [int(s) for s in np.random.SeedSequence(random_seed).generate_state(k, dtype=np.uint64)]


def _draws(approx, draws: int, seed: int, widened: bool = True) -> dict:
    """Arrays of :func:`_draws_function` for ``draws``; q's own generators are left as they were."""
    fn, rngs = _draws_function(approx, widened)
    saved = [r.get_value(borrow=False) for r in rngs]
    reseed_rngs(rngs, seed)
    try:
        out = fn(int(draws))
    finally:
        for r, v in zip(rngs, saved):
            r.set_value(v, borrow=True)
    return dict(zip(("lp", "lq", "lr", "z", "q_mean", "q_sd"), (np.asarray(a, dtype="float64") for a in out)))


def _log_ratios(approx, draws: int, seed: int, arrays: dict | None = None):
    """(log p(z) - log q(z), z) for ``draws`` draws of q."""
    a = arrays if arrays is not None else _draws(approx, draws, seed, widened=False)
    lw = a["lp"][:draws] - a["lq"][:draws]
    lw = np.where(np.isnan(lw), -np.inf, lw)  # a NaN density counts as zero weight
    if not np.isfinite(lw).any():
        raise FloatingPointError("diagnose: log p(z) - log q(z) is -inf/NaN at every draw from q")
    return lw, a["z"][:draws]


def _psis(lw: np.ndarray):
    """(smoothed normalised log weights, khat) of raw log ratios ``lw``."""
    finite = lw[np.isfinite(lw)]
    if np.ptp(finite) <= 1e-9 * max(1.0, float(np.abs(finite).max())):
        # every ratio equal: q is the posterior (up to rounding); the tail fit is undefined
        out = np.where(np.isfinite(lw), 0.0, -np.inf)
        return out - np.log(np.isfinite(lw).sum()), -np.inf
    from symvi.lazy_imports import arviz

    az = arviz()
    with warnings.catch_warnings():  # the reading below says what a large k means
        warnings.simplefilter("ignore")
        smoothed, khat = az.psislw(lw, reff=1.0)
    return np.asarray(smoothed, dtype="float64"), float(khat)


def _check_draws(draws, who: str) -> int:
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < MIN_DRAWS:
        raise ValueError(f"{who}: draws must be an integer >= {MIN_DRAWS} (the Pareto tail fit needs them), got {draws!r}")
    return int(draws)


def _summarise(lw: np.ndarray) -> Diagnostics:
    smoothed, khat = _psis(lw)
    w = np.exp(smoothed)
    with np.errstate(invalid="ignore"):
        elbo = float(np.mean(lw))
        mcse = float(np.std(lw, ddof=1) / np.sqrt(lw.size)) if np.isfinite(elbo) else float("nan")
    finite = lw[np.isfinite(lw)]
    top = float(finite.max())
    return Diagnostics(
        log_evidence=top + float(np.log(np.sum(np.exp(finite - top)) / lw.size)),
        khat=khat,
        reading=khat_reading(khat),
        elbo=elbo,
        elbo_mcse=mcse,
        ess=float(1.0 / np.sum(w**2)),
        log_weights=smoothed,
    )


def diagnose(approx, draws: int = 1000, random_seed=None) -> Diagnostics:
    """PSIS diagnostics of ``approx``: k-hat and its reading, ELBO (with MCSE) and ESS.

    ``draws`` (>= 100) independent draws of q are weighted by ``p(z, y) / q(z)``; the weights'
    Pareto tail shape ``khat`` reads "good" (< 0.5), "ok" (0.5-0.7) or "untrustworthy"
    (> 0.7); the reading is also "untrustworthy" when the coverage check
    (``result.coverage``, :func:`symvi.variational.coverage.check_coverage`) finds that q
    misses posterior mass or that its mean is off.  ``random_seed`` makes the draws reproducible; the approximation's own random
    generators (and so later fits) are not disturbed either way.  Models fed by minibatches
    give a noisy log density and so a meaningless k-hat: diagnose on the full data.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.NormalMixture("x", w=[0.2, 0.8], mu=[-0.3, 0.5], sigma=[0.1, 0.1])
    ...     q = pm.MeanField(start={"x": 0.5}, start_sigma={"x": 0.1})
    >>> diagnose(q, random_seed=0).reading  # q sits on one of the two modes
    'untrustworthy'
    """
    check_diagnosable(approx)
    draws = _check_draws(draws, "diagnose")
    seed_q, seed_boot = _seeds(random_seed, 2)
    arrays = _draws(approx, draws, seed_q)
    lw, _ = _log_ratios(approx, draws, seed_q, arrays)
    result = _summarise(lw)
    result.coverage = check_coverage(arrays["lp"], arrays["lq"], arrays["lr"], arrays["z"], arrays["q_mean"], arrays["q_sd"], seed=seed_boot)
    hist = getattr(approx, "hist", None)
    if hist is not None and len(hist):
        result.fit_state = convergence.status(hist)
    result.reading = _reading(result)
    return result


def _reading(d: Diagnostics) -> str:
    """The most likely cause first: no convergence, missed mass, an off mean, then k-hat."""
    if d.converged is False:
        return "not converged"
    if d.coverage is not None and d.coverage.misses_mass:
        return "untrustworthy"
    if d.coverage is not None and d.coverage.mean_off:
        return "inaccurate"
    return khat_reading(d.khat)


def diagnose_after_fit(approx, draws: int = 1000) -> Diagnostics:
    """:func:`diagnose` with a seed taken from (without advancing) q's generator: a seeded
    fit prints the same line every run."""
    seed = int(approx.rng.get_value(borrow=False).integers(2**63))
    return diagnose(approx, draws=draws, random_seed=seed)


def _constrained_function(approx):
    """Cached ``Z (n, D) -> [free variables (constrained), Deterministics]`` and their names."""
    cache = approx.__dict__.setdefault("_psis_cache", {})
    if "constrained" not in cache:
        model = approx.model
        theta = approx.layout.vector()
        Z = pt.matrix("Z", dtype=approx.dtype)
        nodes = list(model.free_RVs) + list(model.deterministics)
        outs = vectorize_graph(approx.layout.expression(nodes, theta), {theta: Z})
        cache["constrained"] = (compile_fn([Z], outs, mode=ONE_SHOT_MODE), [v.name for v in nodes])
    return cache["constrained"]


def resample_draws(approx, draws: int = 500, method: str = "psis", random_seed=None, return_inferencedata: bool = True):
    """Importance-resampled draws: ``approx.sample(draws, resample="psis")``.

    ``max(4 * draws, 1000)`` proposals are drawn from q, weighted by their Pareto-smoothed
    importance weights p/q, and ``draws`` of them are picked with replacement in proportion
    to the weights; the result has the same form as :meth:`Approximation.sample`.  This
    corrects a q that is slightly off (too narrow, shifted); where k-hat is above 0.7 the
    weights are too heavy-tailed and a warning says so.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 1.0)
    ...     q = pm.MeanField(start={"x": 0.5}, start_sigma={"x": 1.5})
    >>> d = q.sample(2000, random_seed=0, resample="psis", return_inferencedata=False)
    >>> bool(abs(d["x"].mean() - 1.0) < 0.1)
    True
    """
    if method != "psis":
        raise ValueError(f"resample must be None or 'psis', got {method!r}")
    check_diagnosable(approx)
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
        raise ValueError(f"sample: draws must be a positive integer, got {draws!r}")
    seed_q, seed_pick = _seeds(random_seed, 2)
    n_prop = max(4 * int(draws), 1000)
    lw, z = _log_ratios(approx, n_prop, seed_q)
    diag = _summarise(lw)
    if diag.reading == "untrustworthy":
        warnings.warn(
            f"resample='psis': k-hat = {diag.khat:.2f} > {OK_KHAT}; the importance weights are too heavy-tailed "
            "for the resampled draws to be reliable",
            UserWarning,
            stacklevel=3,
        )
    p = np.exp(diag.log_weights - np.max(diag.log_weights))
    idx = np.random.default_rng(seed_pick).choice(n_prop, size=int(draws), replace=True, p=p / p.sum())
    fn, names = _constrained_function(approx)
    result = {n: np.asarray(v) for n, v in zip(names, fn(z[idx]))}
    if not return_inferencedata:
        from symvi.variational.trace import Draws

        return Draws(result, values=approx.layout.unravel(np.asarray(z[idx])))
    from symvi.sampling import to_inference_data

    idata = to_inference_data({"posterior": result}, approx.model, add_chain_dim=True)
    idata.posterior.attrs.update(resample="psis", psis_khat=diag.khat, psis_ess=diag.ess, psis_proposals=n_prop)
    return idata
