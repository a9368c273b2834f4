"""Per-argument subclasses for distributions whose event rank or parameter list is chosen by
an argument (``ZeroSumNormal(n_zerosum_axes=2)`` has a 2-d event, ``KroneckerNormal`` takes as
many factor matrices as it is given).

The protocol keeps ``ndim_supp`` and ``params`` on the class; :func:`variant` makes (once, then
caches) a subclass with those attributes set, and the same ``__name__`` so messages and
``Model`` reprs show the public name.

Examples
--------
>>> from symvi.distributions.zerosum import ZeroSumNormal
>>> variant(ZeroSumNormal, ndim_supp=2).ndim_supp
2
"""

from __future__ import annotations

import copyreg

__all__ = ["variant"]

_CACHE: dict = {}


class _VariantMeta(type):
    """Metaclass of the variants: lets pickle rebuild them with :func:`variant` (a variant is not
    reachable by its name, which is its base class's)."""


def variant(cls: type, **attrs) -> type:
    """A subclass of ``cls`` with the class attributes ``attrs`` (cached per ``cls`` and values)."""
    key = (cls, tuple(sorted(attrs.items())))
    if key not in _CACHE:
        namespace = {"__module__": cls.__module__, "__qualname__": cls.__qualname__, **attrs}
        sub = _VariantMeta(cls.__name__, (cls,), namespace)
        sub._base, sub._attrs = cls, key[1]
        _CACHE[key] = sub
    return _CACHE[key]


def _reduce_variant(sub):
    return _rebuild, (sub._base, sub._attrs)


def _rebuild(base, attrs):
    return variant(base, **dict(attrs))


copyreg.pickle(_VariantMeta, _reduce_variant)
