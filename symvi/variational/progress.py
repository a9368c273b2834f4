"""Progress display for fits: a rich bar (terminals and notebooks) and PyMC's final line."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FitProgress", "average_loss"]


def average_loss(losses: np.ndarray, window: int = 1000) -> float:
    """Mean of the finite losses among the last ``window`` (NaN when there are none)."""
    tail = np.asarray(losses[-window:], dtype="float64")
    tail = tail[np.isfinite(tail)]
    return float(tail.mean()) if tail.size else math.nan


def _fmt(x: float) -> str:
    return "n/a" if not np.isfinite(x) else f"{x:,.5g}"


def _live_display_possible() -> bool:
    """False in a Jupyter kernel without ipywidgets (rich would warn on every fit there)."""
    try:
        from rich.console import Console

        if not Console().is_jupyter:
            return True
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class FitProgress:
    """Show steps done and the running average loss; print one closing line."""

    def __init__(self, total: int, enabled: bool = True, loss_label: str = "Average Loss"):
        self.total = int(total)
        self.loss_label = loss_label
        self._bar = None
        if enabled and total > 0 and _live_display_possible():
            try:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                self._bar = Progress(
                    TextColumn("[progress.description]{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn("{task.fields[loss]}"),
                    TimeRemainingColumn(),
                    transient=True,
                )
                self._task = self._bar.add_task("Fitting", total=self.total, loss="")
                self._bar.start()
            except Exception:  # noqa: BLE001 - no rich display available: fall back to silence
                self._bar = None
        self.enabled = enabled

    def update(self, done: int, avg: float) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, loss=f"{self.loss_label} = {_fmt(avg)}")

    def close(self, done: int, avg: float, interrupted_at: int | None = None, state: str | None = None) -> str:
        """Print (when enabled) and return the closing line; ``state`` (e.g. "converged at
        step 1,200", :func:`symvi.variational.convergence.status`) is appended after "; "."""
        if self._bar is not None:
            self._bar.stop()
        pct = 100.0 * done / self.total if self.total else 100.0
        if interrupted_at is None:
            line = f"Finished [100%]: {self.loss_label} = {_fmt(avg)}"
        else:
            line = f"Interrupted at {interrupted_at:,d} [{pct:.0f}%]: {self.loss_label} = {_fmt(avg)}"
        if state:
            line = f"{line}; {state}"
        if self.enabled:
            print(line)
        return line
