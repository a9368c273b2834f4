"""The names ``fit(method=...)`` accepts: a registry the Inference modules register into.

It sits below every Inference module, so a module that adds a method (Pathfinder, SVGD,
low-rank ADVI) imports this registry rather than :mod:`symvi.variational.inference`
(whose default fit itself uses Pathfinder: importing it back would be a circle).

Examples
--------
>>> from symvi.variational.methods import METHODS, register_method
>>> register_method("toy", dict)
>>> METHODS["toy"] is dict
True
>>> del METHODS["toy"]
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["METHODS", "register_method"]

#: method name -> factory called as ``factory(model=, random_seed=, start=, ...)``
METHODS: dict[str, Callable] = {}


def register_method(name: str, factory: Callable) -> None:
    """Make ``fit(method=name)`` build ``factory(model=, random_seed=, start=, ...)``.

    Examples
    --------
    >>> register_method("toy", dict); METHODS.pop("toy") is dict
    True
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"register_method: name must be a non-empty string, got {name!r}")
    if not callable(factory):
        raise TypeError(f"register_method({name!r}): factory must be callable, got {type(factory).__name__}")
    METHODS[name] = factory
