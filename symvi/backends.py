"""Compilation backends: one switch for PyTensor's C, Numba and JAX linkers.

The backend is chosen, in order, by an explicit ``backend=`` argument, the innermost
``with symvi.backend(...)`` block, the ``SYMVI_BACKEND`` environment variable, else
``"numba"`` (PyTensor 3's default linker) - except a fit's loop, whose default
(:func:`fit_backend`) starts on JAX where it is installed and moves to Numba once that is
compiled (see :mod:`symvi.variational.tiers`); ``"auto"`` asks for those tiers explicitly.

Examples
--------
>>> import symvi as pm
>>> with pm.backend("c"):
...     resolve_backend()
'c'
>>> resolve_backend("numba")
'numba'
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

__all__ = ["BACKENDS", "backend", "resolve_backend", "chosen_backend", "fit_backend", "get_mode", "fixed_length_loops"]

BACKENDS = ("numba", "c", "jax")
#: ``backend="auto"``: fits start on the quick C VM and move to Numba once a background
#: process has compiled it (symvi.variational.tiers); everything else compiles with Numba
TIERED = "auto"
_local = threading.local()


def _link_blas() -> None:
    """Give PyTensor's C backend scipy's OpenBLAS (:mod:`symvi.blas`) unless the user chose one."""
    from symvi import blas

    try:
        blas.link()
    except Exception as err:  # noqa: BLE001 - a BLAS is an optimisation: never fail the import for it
        import warnings

        warnings.warn(f"symvi could not point PyTensor at scipy's OpenBLAS ({err}); the C backend may run without BLAS", stacklevel=2)


_link_blas()  # at import: before anything compiles C code and PyTensor searches for a BLAS


def _stack() -> list:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def resolve_backend(name: str | None = None) -> str:
    """The backend name in force for a call that was given ``name`` (None: the default)."""
    if name is None:
        stack = _stack()
        name = stack[-1] if stack else os.environ.get("SYMVI_BACKEND", "numba")
    key = str(name).lower()
    if key == TIERED:
        return key
    if key not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if key == "jax":
        try:
            import jax  # noqa: F401
        except ImportError:
            raise ImportError(
                "the JAX backend needs jax: install it with `pip install 'symvi[jax]'` (or `pip install jax`; "
                "`pip install 'jax[cuda12]'` for NVIDIA GPUs)"
            ) from None
        from symvi.variational.nodes import register_jax

        register_jax()
    return key


def chosen_backend(name: str | None = None) -> str | None:
    """The backend the user chose (argument, ``with backend(...)``, ``SYMVI_BACKEND``), else None.

    Functions evaluated a few hundred times (``find_MAP``, Pathfinder) compile for the quick
    C VM of :mod:`symvi.variational.tiers` when no backend is chosen.
    """
    if name is None and not _stack() and not os.environ.get("SYMVI_BACKEND"):
        return None
    return resolve_backend(name)


def fit_backend(name: str | None = None) -> str:
    """The backend of a fit's compiled loop: the one chosen, else ``"auto"`` where JAX is
    installed (the fit starts on JAX, which compiles a new model in about a second, and moves
    to Numba once a background process has compiled it; both consume the same random draws),
    else ``"numba"``.

    >>> fit_backend("c")
    'c'
    """
    chosen = chosen_backend(name)
    if chosen is not None:
        return chosen
    from symvi.variational.tiers import jax_available

    return TIERED if jax_available() else "numba"


@contextlib.contextmanager
def backend(name: str) -> Iterator[str]:
    """Use ``name`` ("c", "numba" or "jax") for every compile inside the block."""
    key = resolve_backend(name)
    _stack().append(key)
    try:
        yield key
    finally:
        _stack().pop()


def get_mode(name: str | None = None, for_scan: bool = False):
    """The PyTensor compilation mode of a backend.

    ``for_scan`` drops scan's in-place rewrite, which costs ~0.4 s of compile time in the
    training loop and gains nothing measurable there, except for the random generators the
    loop carries: those are advanced in place (:mod:`symvi.rng_inplace`), since copying one
    costs ~50 us per call of a Numba loop.
    """
    from pytensor.compile.mode import Mode, get_mode as pt_get_mode

    key = resolve_backend(name)
    if key in ("numba", TIERED):
        from symvi.fused_reduce import TAG

        # elementwise chains fused with the sums consuming them (symvi.fused_reduce);
        # SYMVI_FUSED_REDUCE=0 turns that off (to compare, or to rule it out)
        mode = pt_get_mode("NUMBA")
        if os.environ.get("SYMVI_FUSED_REDUCE", "1") != "0":
            mode = mode.including(TAG)
    elif key == "c":
        mode = Mode(linker="cvm", optimizer="fast_run")
    else:
        mode = pt_get_mode("JAX")
    if not for_scan:
        return mode
    mode = mode.excluding("scan_make_inplace")
    if key == "jax":
        return mode
    from symvi.rng_inplace import POSITION, RngScanInplace

    return mode.register((RngScanInplace(), POSITION))


def fixed_length_loops(name: str | None = None) -> bool:
    """True where a compiled loop needs its length at compile time (JAX's ``lax.scan``)."""
    return resolve_backend(name) == "jax"
