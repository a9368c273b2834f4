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

import functools
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


def _median(a: np.ndarray, axis: int = -1, keepdims: bool = False) -> np.ndarray:
    """``np.median`` of rows, bit for bit (the two middle values' sum halved), by one sort:
    ``np.median``'s own overhead is ~20 us a call, and a check makes a dozen calls on rows of
    ten values.  NaN where a row holds NaN, as ``np.median``."""
    a = np.moveaxis(np.asarray(a, dtype="float64"), axis, -1)
    s = np.sort(a, axis=-1)
    n = s.shape[-1]
    mid = s[..., n // 2] if n % 2 else (s[..., n // 2 - 1] + s[..., n // 2]) / 2
    if np.isnan(s[..., -1]).any():  # sort puts NaN last
        mid = np.where(np.isnan(s[..., -1]), np.nan, mid)
    return np.expand_dims(mid, axis) if keepdims else mid


def _medians(blocks: np.ndarray) -> np.ndarray | None:
    """Row medians of the finite values (robust to the heavy tail of one-draw losses)."""
    med = _row_medians(blocks)
    return med if np.all(np.isfinite(med)) else None


def _row_medians(blocks: np.ndarray) -> np.ndarray:
    """Median of each row's finite values (NaN for a row with none).

    ``np.median`` when every value is finite (the usual case); ``np.nanmedian`` goes through
    masked arrays and costs ~50x more, which made each check of a long fit cost milliseconds.
    """
    finite = np.isfinite(blocks)
    if finite.all():
        return _median(blocks, axis=1)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(np.where(finite, blocks, np.nan), axis=1)


@functools.lru_cache(maxsize=8)
def _pairs(n: int):
    """Positions, index pairs i < j, their gaps and sqrt(sum((x - mean x)^2)) for n points."""
    x = np.arange(n, dtype="float64")
    i, j = np.triu_indices(n, 1)
    return x, i, j, (j - i).astype("float64"), np.sqrt(np.sum((x - x.mean()) ** 2))


def _theil_sen(y: np.ndarray):
    """(slope per block, standard error of the slope from the residuals about the line).

    ``y`` is one series or a stack of them (rows): then both are arrays, one value per row.
    """
    x, i, j, gap, spread = _pairs(y.shape[-1])
    slope = _median((y[..., j] - y[..., i]) / gap, axis=-1)
    resid = y - slope[..., None] * x
    resid = resid - _median(resid, axis=-1, keepdims=True)
    scale = 1.4826 * _median(np.abs(resid), axis=-1)  # robust sd of the residuals
    se = scale / spread
    if y.ndim == 1:
        return float(slope), float(se)
    return slope, se


def _rule(means: np.ndarray, best, tol_rel_obj: float) -> np.ndarray:
    """The stopping rule on windows of block means (rows) and each window's best earlier
    level (NaN: none): flat (relative or within noise) and not worse than the best level."""
    slope, se = _theil_sen(means)
    change = np.abs(slope) * (WINDOW_BLOCKS - 1)
    noise = NOISE_Z * se * (WINDOW_BLOCKS - 1)
    level = _median(means, axis=-1)
    flat = (change <= tol_rel_obj * np.abs(level)) | (change <= noise)
    level_se = 1.4826 * _median(np.abs(means - level[..., None]), axis=-1) / np.sqrt(WINDOW_BLOCKS)
    worse = level > best + np.maximum(tol_rel_obj * np.abs(level), WORSE_Z * level_se)  # False where best is NaN
    return flat & ~worse


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
    best = _best_level(hist, eval_every, end)
    return bool(_rule(means[None, :], np.nan if best is None else best, tol_rel_obj)[0])


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
    level = float(_median(means))
    level_se = 1.4826 * float(_median(np.abs(means - level))) / np.sqrt(WINDOW_BLOCKS)
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
    level, previous = float(_median(now)), float(_median(before))
    se = 1.4826 * float(_median(np.abs(before - previous))) / np.sqrt(WINDOW_BLOCKS)
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
    means = _row_medians(blocks)
    windows = np.lib.stride_tricks.sliding_window_view(means, WINDOW_BLOCKS)
    levels = _median(windows, axis=1)
    levels = levels[np.isfinite(levels)]
    return float(levels.min()) if levels.size else None


def _rule_at_checks(hist: np.ndarray, checks: range, tol_rel_obj: float, eval_every: int) -> np.ndarray:
    """``is_converged`` at every step of ``checks`` (multiples of ``eval_every``), vectorised:
    each block's median is computed once, not once per check that sees it (the closing line
    of a long fit judged 300 checks one by one: ~0.2-0.4 s at the end of every fit call)."""
    out = np.zeros(len(checks), dtype=bool)
    if not len(checks):
        return out
    b, e = WINDOW_BLOCKS, eval_every
    ends = np.arange(checks.start, checks.stop, checks.step) // e  # block index after each check's window
    lo = max(0, int(ends[0]) - b - (LOOKBACK_WINDOWS + 1) * b)  # first block any check looks at
    hi = int(ends[-1])
    if hi - lo < b:  # no check has a whole window yet
        return out
    medians = _row_medians(hist[lo * e : hi * e].reshape(-1, e))  # block lo + m
    windows = np.lib.stride_tricks.sliding_window_view(medians, b)  # row r: blocks lo + r .. lo + r + b - 1
    levels = _median(windows, axis=1)  # level of the window ending before block lo + r + b
    levels = np.where(np.isfinite(levels), levels, np.inf)
    judged = ends >= b
    rows = ends[judged] - b - lo
    means = windows[rows]
    # the best level: windows ending at blocks max(b, u - LOOKBACK_WINDOWS * b) .. u, where u
    # is the check's window start (a running minimum over LOOKBACK_WINDOWS * b + 1 windows)
    usable = ends[judged] - b
    reach = LOOKBACK_WINDOWS * b
    padded = np.concatenate([np.full(reach, np.inf), levels])
    spans = np.lib.stride_tricks.sliding_window_view(padded, reach + 1)
    best = spans[np.maximum(usable - b - lo, 0)].min(axis=1)  # padded row r ends at levels[r]
    best = np.where((usable >= b) & np.isfinite(best), best, np.nan)
    finite = np.all(np.isfinite(means), axis=1)
    ok = np.zeros(rows.size, dtype=bool)
    if finite.any():
        ok[finite] = _rule(means[finite], best[finite], tol_rel_obj)
    out[judged] = ok
    return out


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
    for end, ok in zip(checks, _rule_at_checks(hist, checks, tol_rel_obj, eval_every)):
        if ok:
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
