"""``symvi fit``'s loss.png: its y-axis has numbered ticks that the loss can be read off."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from symvi.runs import loss_figure  # noqa: E402


def tick_values(ax):
    """(value, label) of the labelled major y ticks inside the visible range, after a draw."""
    ax.figure.canvas.draw()
    lo, hi = sorted(ax.get_ylim())
    out = []
    for value, label in zip(ax.get_yticks(), ax.get_yticklabels()):
        if lo <= value <= hi and label.get_text().strip():
            out.append((value, label.get_text()))
    return out


@pytest.fixture
def close_figures():
    yield
    plt.close("all")


def test_a_loss_spanning_decades_gets_a_labelled_log_axis(close_figures):
    steps = np.arange(2000)
    hist = 50 + 2e5 * np.exp(-steps / 40) + np.random.default_rng(0).normal(0, 2, steps.size)
    ax = loss_figure(hist, "-ELBO").axes[0]
    assert ax.get_yscale() == "log"
    ticks = tick_values(ax)
    assert len(ticks) >= 2, ticks
    # the level the fit settles at is inside the plotted range
    lo, hi = ax.get_ylim()
    assert lo < 50 < hi


def test_a_narrow_loss_gets_a_linear_axis_over_its_running_mean(close_figures):
    # the case that drew an unreadable symlog axis: a large first step, then a narrow band
    rng = np.random.default_rng(1)
    hist = 1234.0 + rng.normal(0, 3, 3000)
    hist[:5] = [9e5, 2e4, 5e3, 2e3, 1500]
    ax = loss_figure(hist).axes[0]
    assert ax.get_yscale() == "linear"
    lo, hi = ax.get_ylim()
    assert 1200 < lo < 1234 < hi < 1270  # the band is what is shown, not the first steps
    ticks = tick_values(ax)
    assert len(ticks) >= 3, ticks
    numbers = [float(t.replace("\u2212", "-").replace(",", "")) for _, t in ticks]
    assert all(1200 <= v <= 1270 for v in numbers), numbers


def test_negative_losses_and_a_single_step(close_figures):
    hist = -500.0 + 20 * np.exp(-np.arange(400) / 30)
    ax = loss_figure(hist).axes[0]
    assert ax.get_yscale() == "linear" and len(tick_values(ax)) >= 3
    ax = loss_figure([3.5]).axes[0]
    lo, hi = ax.get_ylim()
    assert lo < 3.5 < hi and len(tick_values(ax)) >= 2
