"""Has a fit converged?  A stopping rule on the loss history (Stan ADVI's ``tol_rel_obj`` idea).

Every ``eval_every`` steps the rule looks at the last ``WINDOW_BLOCKS`` blocks of
``eval_every`` losses each (1 000 steps by default): a robust (Theil-Sen) line through the
block medians (one-draw losses have heavy tails) gives the trend of the loss, and the scatter
of the block medians about that line its standard error.  The fit counts as converged at that check when the change the trend
makes over the window is

* below ``tol_rel_obj`` times the size of the loss (Stan's relative tolerance), or
* below ``NOISE_Z`` standard errors of itself (the loss no longer falls more than its Monte
  Carlo noise),

and the window's level (median of its block means) is no worse than the best level of any
earlier window by more than that tolerance or ``WORSE_Z`` standard errors of the level: a fit
that blew up is noisy and flat, but not converged.

``fit(n=None)`` stops at the first check that passes (or at the cap); with an explicit ``n``
the fit runs all ``n`` steps unless ``tol_rel_obj`` is passed, and the closing line reports
the state either way (:func:`status`).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> flat = 100 + rng.normal(size=3000)
>>> falling = 100 + 0.01 * np.arange(3000)[::-1] + rng.normal(size=3000)
>>> converged_at(flat), converged_at(falling)
(1000, None)
>>> round(trend(falling), 1)        # per 1000 steps
-9.8
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["DEFAULT_TOL", "EVAL_EVERY", "WINDOW_BLOCKS", "is_converged", "converged_at", "trend", "status", "worsened", "jumped"]

DEFAULT_TOL = 1e-4
EVAL_EVERY = 100
WINDOW_BLOCKS = 10
#: |trend| / its standard error below which the trend is noise: the 95 % point of that ratio
#: for 10 block means of pure noise (the robust standard error of 10 points is itself noisy)
NOISE_Z = 3.7
#: standard errors of the window's level above the best earlier level that count as "worse"
#: (the best of many windows is biased low: 10 keeps false alarms on pure noise below 1 %)
WORSE_Z = 10.0
_RESET_AFTER = 3


def _block_means(hist: np.ndarray, eval_every: int, end: int) -> np.ndarray | None:
    """Medians of the last ``WINDOW_BLOCKS`` blocks of ``eval_every`` losses before ``end``."""
    n = WINDOW_BLOCKS * eval_every
    if end < n:
        return None
    window = np.asarray(hist[end - n : end], dtype="float64").reshape(WINDOW_BLOCKS, eval_every)
    return _medians(window)


def _medians(blocks: np.ndarray) -> np.ndarray | None:
    """Row medians of the finite values (robust to the heavy tail of one-draw losses)."""
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(np.where(np.isfinite(blocks), blocks, np.nan), axis=1)
    return med if np.all(np.isfinite(med)) else None


def _theil_sen(y: np.ndarray) -> tuple[float, float]:
    """(slope per block, standard error of the slope from the residuals about the line)."""
    x = np.arange(y.size, dtype="float64")
    i, j = np.triu_indices(y.size, 1)
    slope = float(np.median((y[j] - y[i]) / (j - i)))
    resid = y - slope * x
    resid = resid - np.median(resid)
    scale = 1.4826 * float(np.median(np.abs(resid)))  # robust sd of the residuals
    se = scale / np.sqrt(np.sum((x - x.mean()) ** 2))
    return slope, se


def is_converged(hist, end: int, tol_rel_obj: float = DEFAULT_TOL, eval_every: int = EVAL_EVERY) -> bool:
    """Whether the rule holds at step ``end`` of ``hist`` (False with fewer than a window of steps).

    Examples
    --------
    >>> import numpy as np
    >>> is_converged(np.full(2000, 5.0), 2000), is_converged(np.arange(2000.0)[::-1], 2000)
    (True, False)
    """
    means = _block_means(hist, eval_every, end)
    if means is None:
        return False
    slope, se = _theil_sen(means)
    change = abs(slope) * (WINDOW_BLOCKS - 1)
    noise = NOISE_Z * se * (WINDOW_BLOCKS - 1)
    level = float(np.median(means))
    allowed = tol_rel_obj * abs(level)
    if not (change <= allowed or change <= noise):
        return False
    return not worsened(hist, end, tol_rel_obj, eval_every)


def worsened(hist, end: int, tol_rel_obj: float = DEFAULT_TOL, eval_every: int = EVAL_EVERY) -> bool:
    """Whether the loss over the last window is clearly worse than the best earlier window
    (a fit that became unstable); False with too few steps.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.concatenate([np.full(2000, 10.0), np.full(1000, 40.0)]) + np.random.default_rng(0).normal(size=3000)
    >>> worsened(h, 3000), worsened(h, 2000)
    (True, False)
    """
    means = _block_means(hist, eval_every, end)
    best = _best_level(hist, eval_every, end)
    if means is None or best is None:
        return False
    level = float(np.median(means))
    level_se = 1.4826 * float(np.median(np.abs(means - level))) / np.sqrt(WINDOW_BLOCKS)
    return bool(level > best + max(tol_rel_obj * abs(level), WORSE_Z * level_se))


def jumped(hist, end: int, tol_rel_obj: float = DEFAULT_TOL, eval_every: int = EVAL_EVERY) -> bool:
    """Whether the loss over the last window is clearly worse than over the window before it
    (the optimisation just became unstable); False with fewer than two windows.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.concatenate([np.full(2000, 10.0), np.full(1000, 40.0)]) + np.random.default_rng(0).normal(size=3000)
    >>> jumped(h, 3000), jumped(h, 2000)
    (True, False)
    """
    window = WINDOW_BLOCKS * eval_every
    now, before = _block_means(hist, eval_every, end), _block_means(hist, eval_every, end - window) if end >= 2 * window else None
    if now is None or before is None:
        return False
    level, previous = float(np.median(now)), float(np.median(before))
    se = 1.4826 * float(np.median(np.abs(before - previous))) / np.sqrt(WINDOW_BLOCKS)
    return bool(level > previous + max(tol_rel_obj * abs(previous), WORSE_Z * se))


#: how far back (in windows) a fit's best level is looked for, and how many checks the
#: closing line's "converged at step N" scans: bounded, so a check costs the same at step
#: 10 000 and at step 10 000 000 (unbounded, the checks of a long fit grew quadratically)
LOOKBACK_WINDOWS = 20
STATUS_CHECKS = 300


def _best_level(hist, eval_every: int, end: int) -> float | None:
    """Lowest median of ``WINDOW_BLOCKS`` consecutive block means among windows ending before
    ``end`` at multiples of ``eval_every``, at most ``LOOKBACK_WINDOWS`` windows back (None
    when there is none)."""
    start = end - WINDOW_BLOCKS * eval_every
    usable = start - start % eval_every
    if usable < WINDOW_BLOCKS * eval_every:
        return None
    first = max(0, usable - (LOOKBACK_WINDOWS + 1) * WINDOW_BLOCKS * eval_every)
    blocks = np.asarray(hist[first:usable], dtype="float64").reshape(-1, eval_every)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        means = np.nanmedian(np.where(np.isfinite(blocks), blocks, np.nan), axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(means, WINDOW_BLOCKS)
    levels = np.median(windows, axis=1)
    levels = levels[np.isfinite(levels)]
    return float(levels.min()) if levels.size else None


def converged_at(hist, tol_rel_obj: float = DEFAULT_TOL, eval_every: int = EVAL_EVERY) -> int | None:
    """First check step (among the last ``STATUS_CHECKS``) from which the rule holds with no
    ``_RESET_AFTER`` failing checks in a row (the noise test fails on about 5 % of checks of pure noise, and neighbouring checks
    share most of their window), or None when the last two checks fail.

    Examples
    --------
    >>> import numpy as np
    >>> h = np.concatenate([np.linspace(50, 10, 1500), np.full(1500, 10.0)])
    >>> converged_at(h)      # the robust line ignores the 400 falling steps left in the window
    2100
    """
    hist = np.asarray(hist, dtype="float64")
    last = hist.size - hist.size % eval_every
    checks = range(max(eval_every, last - (STATUS_CHECKS - 1) * eval_every), hist.size + 1, eval_every)
    first, failed = None, 0
    for end in checks:
        if is_converged(hist, end, tol_rel_obj, eval_every):
            first, failed = (end if first is None else first), 0
        else:
            failed += 1
            if failed >= _RESET_AFTER:
                first = None
    return first if failed < 2 else None


def trend(hist, eval_every: int = EVAL_EVERY) -> float:
    """Change of the loss per 1 000 steps over the last window (NaN with too few steps).

    Examples
    --------
    >>> import numpy as np
    >>> round(trend(np.linspace(100, 80, 2000)), 1)
    -10.0
    """
    hist = np.asarray(hist, dtype="float64")
    means = _block_means(hist, eval_every, hist.size)
    if means is None:
        return float("nan")
    return _theil_sen(means)[0] * 1000.0 / eval_every


def status(hist, tol_rel_obj: float = DEFAULT_TOL, eval_every: int = EVAL_EVERY) -> str:
    """Words for the state of a fit with loss history ``hist`` (the end of the progress line).

    Examples
    --------
    >>> import numpy as np
    >>> status(np.full(2000, 3.0))
    'converged at step 1,000'
    >>> status(np.linspace(100, 80, 2000))
    'not converged: loss still falling by 10 per 1000 steps - refine or raise the learning rate'
    """
    hist = np.asarray(hist, dtype="float64")
    window = WINDOW_BLOCKS * eval_every
    if hist.size < window:
        return f"convergence not judged: fewer than {window:,d} steps"
    at = converged_at(hist, tol_rel_obj, eval_every)
    if at is not None:
        return f"converged at step {at:,d}"
    slope = trend(hist, eval_every)
    if not np.isfinite(slope):
        return "not converged: the loss is not finite over the last steps"
    if slope < 0:
        return f"not converged: loss still falling by {-slope:.3g} per 1000 steps - refine or raise the learning rate"
    return f"not converged: loss rising by {slope:.3g} per 1000 steps - lower the learning rate"
