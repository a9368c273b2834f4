"""Numba draws for the PyTensor random variables its Numba backend does not implement (or gets wrong).

PyTensor 3.0's Numba backend has no implementation of ``HalfCauchyRV``, ``BetaBinomialRV``
or ``GenGammaRV``: a compiled graph drawing from them (``pm.sample_prior_predictive`` on a
model with a HalfCauchy prior - eight schools, most hierarchical models in PyMC's docs -
or ``pm.draw``) ran the op's Python ``perform`` in Numba's object mode and printed a
"Numba will use object mode" warning each time.  The draws here follow the same recipes as
the Python implementations (scipy's ``halfcauchy``: ``loc + scale * |standard Cauchy|``;
a Beta then a Binomial; ``GenGamma(alpha, p, lambda) = lambda * Gamma(alpha / p)^(1 / p)``).
PyTensor 3.0.7's Numba ``CauchyRV`` computes ``(loc + standard Cauchy) / scale``: draws of
``pt.random.cauchy(5, 10)`` had median 0.5 and quartiles +-0.1 instead of 5 and +-10 (symvi's
own ``pm.Cauchy`` does not use that op; a ``CustomDist`` or graph using it would).
Registering is cheap (nothing compiles until a graph uses them); imported for its side
effect by ``symvi/__init__.py``.

Examples
--------
>>> import numpy as np, symvi as pm
>>> x = pm.draw(pm.HalfCauchy.dist(2.0), 20000, random_seed=1)
>>> bool(x.min() > 0), round(float(np.median(x)), 1)   # median of HalfCauchy(2): 2
(True, 2.0)
"""

from __future__ import annotations


def _key(name: str) -> int:
    """A cache key of one of these draws: PyTensor keys a random variable's compiled code by
    the op and this number, so without it the on-disk cache would hand back code compiled
    from PyTensor's own implementation (for Cauchy: the wrong one)."""
    import hashlib

    return int(hashlib.sha256(f"symvi.numba_rvs.{name} v1".encode()).hexdigest()[:15], 16)


def register() -> bool:
    """Register the draws with PyTensor's Numba dispatch; False if it is unavailable."""
    try:
        import numpy as np
        import pytensor.tensor.random.basic as ptr
        from pytensor.link.numba.dispatch import basic as numba_basic
        from pytensor.link.numba.dispatch.random import numba_core_rv_funcify
    except ImportError:  # pragma: no cover - numba is a pytensor dependency
        return False

    @numba_core_rv_funcify.register(ptr.HalfCauchyRV)
    def numba_core_HalfCauchyRV(op, node):
        @numba_basic.numba_njit
        def random_fn(rng, loc, scale):
            return loc + scale * np.abs(rng.standard_cauchy())

        return random_fn, _key("HalfCauchyRV")

    @numba_core_rv_funcify.register(ptr.CauchyRV)
    def numba_core_CauchyRV(op, node):  # PyTensor 3.0.7's divides by the scale: Cauchy(5, 10) had median 0.5
        @numba_basic.numba_njit
        def random_fn(rng, loc, scale):
            return loc + scale * rng.standard_cauchy()

        return random_fn, _key("CauchyRV")

    @numba_core_rv_funcify.register(ptr.BetaBinomialRV)
    def numba_core_BetaBinomialRV(op, node):
        @numba_basic.numba_njit
        def random_fn(rng, n, a, b):
            return rng.binomial(n, rng.beta(a, b))

        return random_fn, _key("BetaBinomialRV")

    @numba_core_rv_funcify.register(ptr.GenGammaRV)
    def numba_core_GenGammaRV(op, node):
        @numba_basic.numba_njit
        def random_fn(rng, alpha, p, lambd):
            return lambd * rng.gamma(alpha / p, 1.0) ** (1.0 / p)

        return random_fn, _key("GenGammaRV")

    return True


REGISTERED = register()
