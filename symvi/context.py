"""The stack of open ``with Model():`` blocks, below every layer that needs it.

Distributions look up the current model here when ``Dist("x", ...)`` registers a variable,
and :class:`symvi.Model` pushes and pops itself here; neither has to import the other, so
the layers stay ordered: ``context`` < ``distributions`` < ``logprob`` < ``model``.

Examples
--------
>>> import symvi as sv
>>> from symvi.context import modelcontext
>>> with sv.Model() as m:
...     assert modelcontext() is m
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["modelcontext", "push_model", "pop_model"]

_stack = threading.local()


def _contexts() -> list:
    if not hasattr(_stack, "models"):
        _stack.models = []
    return _stack.models


def push_model(model: Any) -> None:
    """Make ``model`` the innermost model (``Model.__enter__``)."""
    _contexts().append(model)


def pop_model() -> Any:
    """Drop the innermost model (``Model.__exit__``) and return it."""
    return _contexts().pop()


def modelcontext(model: Any = None, who: str = "this call") -> Any:
    """The model passed in, or the innermost ``with Model():`` block.

    Raises ``TypeError`` naming ``who`` when there is neither.

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model() as m:
    ...     assert modelcontext() is m
    """
    if model is not None:
        return model
    stack = _contexts()
    if not stack:
        raise TypeError(
            f"No model on the context stack: {who} must be used inside a `with symvi.Model():` "
            "block (or pass model=...)."
        )
    return stack[-1]
