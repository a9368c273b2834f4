"""Does q cover the posterior?  Defensive importance sampling with a widened q.

PSIS k-hat (:mod:`symvi.variational.diagnostics`) reads the tail of ``p/q`` over draws *of q*.
It cannot see posterior mass that those draws never reach: when ADVI locks onto one mode of
a bimodal posterior the other mode lies many q-sds away, every ratio p/q at q's draws is
about the same, and k-hat says "good".  Nor does it object to a q that is too *wide* (a blob
over both modes): importance sampling from it works fine, but q's own mean and sd are wrong.

This check adds draws from ``r``, q widened ``WIDEN`` times about its mean, and weights all
draws by ``p / d`` with the defensive mixture ``d = (q + r) / 2`` (Hesterberg, 1995).  Since
``d >= q / 2`` the weights are never more than twice q's own, so the estimates are at worst
about as noisy as plain importance sampling from q, and the widened draws find mass that q
misses.  From them:

* ``missing_mass``: ``1 - Z_q / Z_d``, the share of the posterior mass that importance
  sampling with q alone does not see (Z_q, Z_d: the two estimates of the evidence);
* ``mean_shift``: the largest ``|E_q[z] - E_p[z]| / sd_p[z]`` over the coordinates, with the
  posterior moments estimated from the weighted draws; ``sd_ratio``: range of ``sd_q / sd_p``.

q is flagged when the missing mass exceeds ``MASS_TOL`` by two standard errors (a stratified
bootstrap over the draws), or q's mean is off by more than ``SHIFT_TOL`` posterior sds.  The
check is inconclusive (and flags nothing) when the weighted draws are too few (ESS below
``MIN_ESS``), as in high dimensions, where neither q's nor the widened draws weight evenly.
``khat`` (of the defensive weights) is reported, not used: a found mode is, by nature, a few
draws with large weights, so that k-hat is large exactly when the check finds something.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> z = rng.normal(size=(2000, 1)); z[1000:] *= WIDEN   # 1000 draws of q = N(0, 1), 1000 of r
>>> lq = -0.5 * z[:, 0] ** 2; lr = lq / WIDEN**2 - np.log(WIDEN); lp = lq.copy()   # p = q
>>> c = check_coverage(lp, lq, lr, z, np.zeros(1), np.ones(1), seed=1)
>>> c.problems, abs(c.missing_mass) < 0.05
([], True)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pytensor.tensor as pt

__all__ = ["Coverage", "check_coverage", "widened_draws", "WIDEN"]

WIDEN = 3.0
MASS_TOL = 0.05
SHIFT_TOL = 0.3
MIN_ESS = 100.0


@dataclass
class Coverage:
    """Result of :func:`check_coverage` (see the module docstring for each number)."""

    missing_mass: float
    missing_mass_se: float
    mean_shift: float
    sd_ratio: tuple[float, float]
    khat: float
    ess: float
    conclusive: bool
    problems: list[str] = field(default_factory=list)
    posterior_mean: np.ndarray = field(default=None, repr=False)
    posterior_sd: np.ndarray = field(default=None, repr=False)

    @property
    def misses_mass(self) -> bool:
        """Whether q misses more than ``MASS_TOL`` of the posterior mass (by two standard errors)."""
        return bool(self.conclusive and self.missing_mass - 2 * self.missing_mass_se > MASS_TOL)

    @property
    def mean_off(self) -> bool:
        """Whether q's mean is more than ``SHIFT_TOL`` posterior sds off in some coordinate."""
        return bool(self.conclusive and self.mean_shift > SHIFT_TOL)


def widened_draws(approx, n):
    """Symbolic ``(Z, log q(Z), log r(Z))``: ``n`` draws of q, then ``n`` of q widened ``WIDEN`` times."""
    z = approx.random(2 * n)
    m = approx.mean
    Z = pt.concatenate([z[:n], m + WIDEN * (z[n:] - m)], axis=0)
    lq = approx.logq(Z)
    lr = approx.logq(m + (Z - m) / WIDEN) - approx.ndim * np.log(WIDEN)
    return Z, lq, lr


def _logmeanexp(a: np.ndarray) -> float:
    top = np.max(a)
    if not np.isfinite(top):
        return -np.inf
    return float(top + np.log(np.mean(np.exp(a - top))))


def _missing(lw_q: np.ndarray, lw_d: np.ndarray) -> float:
    return float(1.0 - np.exp(_logmeanexp(lw_q) - _logmeanexp(lw_d)))


def check_coverage(lp, lq, lr, z, q_mean, q_sd, seed=None, n_boot: int = 200) -> Coverage:
    """Coverage of ``q`` from ``2n`` draws ``z`` (first ``n`` of q, then ``n`` of the widened r).

    ``lp``, ``lq``, ``lr``: log p, log q and log r at every draw; ``q_mean``, ``q_sd``: q's
    mean and sd per coordinate.
    """
    lp, lq, lr = (np.asarray(a, dtype="float64") for a in (lp, lq, lr))
    z = np.asarray(z, dtype="float64")
    n = lp.size // 2
    lp = np.where(np.isnan(lp), -np.inf, lp)
    lw_q = lp[:n] - lq[:n]
    lw_d = lp - (np.logaddexp(lq, lr) - np.log(2.0))
    missing = _missing(lw_q, lw_d)
    rng = np.random.default_rng(seed)
    boot = np.empty(n_boot)
    for b in range(n_boot):  # stratified: resample q's draws and r's draws separately
        iq = rng.integers(0, n, n)
        ir = n + rng.integers(0, n, n)
        boot[b] = _missing(lw_q[iq], lw_d[np.concatenate([iq, ir])])
    se = float(np.std(boot, ddof=1))
    w = np.exp(lw_d - np.max(lw_d))
    w /= w.sum()
    ess = float(1.0 / np.sum(w**2))
    post_mean = w @ z
    post_sd = np.sqrt(np.maximum(w @ (z - post_mean) ** 2, 1e-300))
    shift = float(np.max(np.abs(np.asarray(q_mean) - post_mean) / post_sd))
    ratio = np.asarray(q_sd) / post_sd
    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, khat = az.psislw(lw_d.copy(), reff=1.0)
    khat = float(khat)
    conclusive = ess >= MIN_ESS
    problems = []
    if conclusive and missing - 2 * se > MASS_TOL:
        problems.append(f"q misses about {100 * missing:.0f} % of the posterior mass (another mode or a tail)")
    if conclusive and shift > SHIFT_TOL:
        problems.append(f"inaccurate: q's mean is {shift:.2f} posterior sd off (importance-weighted estimate)")
    return Coverage(
        missing_mass=missing,
        missing_mass_se=se,
        mean_shift=shift,
        sd_ratio=(float(ratio.min()), float(ratio.max())),
        khat=khat,
        ess=ess,
        conclusive=conclusive,
        problems=problems,
        posterior_mean=post_mean,
        posterior_sd=post_sd,
    )
