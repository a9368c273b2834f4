"""Memory a full-rank Gaussian needs, checked before anything is allocated.

A :class:`~symvi.variational.approximations.FullRank` on ``d`` unconstrained parameters keeps
the ``n = d (d + 1) / 2`` entries of its Cholesky factor.  A fit then holds, at the least,

* the packed factor, its gradient, Adam's two moment estimates and the copy of the carried
  state that the loop keeps to undo a non-finite step: 5 arrays of ``n`` float64;
* the dense ``d x d`` factor built from it in the step and the gradient flowing back
  through it: 2 arrays of ``d^2`` float64;
* the flat positions of the triangle in the dense matrix: ``n`` int32 (int64 past 46 340).

That sum is a lower bound (compiled temporaries, ``adagrad_window``'s 10-step gradient
window and the model itself come on top), so a FullRank refused by :func:`check_fullrank_fits`
could not have been fitted; one that passes may still be tight.  The memory available is
``MemAvailable`` of ``/proc/meminfo`` (where that file cannot be read, nothing is checked).

Examples
--------
>>> from symvi.variational.memory import fullrank_bytes
>>> round(fullrank_bytes(20_000) / 2**30, 1)   # GiB for a 20 000-parameter model
14.2
"""

from __future__ import annotations

__all__ = ["fullrank_bytes", "available_bytes", "check_fullrank_fits"]

_GIB = 2**30


def fullrank_bytes(d: int) -> int:
    """Lower bound on the bytes a FullRank fit on ``d`` parameters holds (see the module docs)."""
    n = d * (d + 1) // 2
    index = 4 if d * d < 2**31 else 8
    return 5 * 8 * n + 2 * 8 * d * d + index * n


def available_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo`` in bytes, or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_fullrank_fits(d: int) -> None:
    """Raise ``ValueError`` when a FullRank on ``d`` parameters cannot fit in the memory available.

    Examples
    --------
    >>> check_fullrank_fits(10)   # a few kB: always fits
    """
    need = fullrank_bytes(d)
    have = available_bytes()
    if have is None or need <= have:
        return
    raise ValueError(
        f"FullRank on {d} parameters needs at least {need / _GIB:.1f} GiB ({d * (d + 1) // 2} entries of its "
        f"Cholesky factor, with gradient, optimizer state and the dense {d}x{d} factor) but only "
        f"{have / _GIB:.1f} GiB of memory is available. Use a low-rank approximation instead: "
        "pm.LowRankADVI(rank=k) or pm.fit(method='lowrank_advi'), or MeanField (pm.ADVI)"
    )
