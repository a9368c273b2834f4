"""Cacheable Numba kernels for scalar ops that pytensor maps to scipy function pointers.

PyTensor's Numba backend calls ``scipy.special`` through Cython function pointers for ops
such as ``Psi`` (digamma, the gradient of ``gammaln``).  A compiled function holding such a
pointer cannot be cached on disk, so every new process recompiled the whole ELBO loop of any
model with a Gamma, Beta, StudentT... term (10-20 s).  Registering pure-Numba versions gives
those graphs a cache key.  Imported for its side effect by ``symvi/__init__.py``.
"""

from __future__ import annotations

import math


def register() -> bool:
    """Register the kernels with pytensor's Numba dispatch; False if Numba is unavailable."""
    try:
        from pytensor.link.numba.dispatch import basic as numba_basic
        from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
        from pytensor.link.numba.dispatch.scalar import scalar_op_cache_key
        from pytensor.scalar.math import Psi
    except ImportError:  # pragma: no cover - numba is a pytensor dependency
        return False

    @register_funcify_and_cache_key(Psi)
    def numba_funcify_Psi(op, node, **kwargs):
        @numba_basic.numba_njit
        def digamma(x):
            x = float(x)
            if x <= 0.0 and x == math.floor(x):
                return math.nan
            result = 0.0
            if x < 0.0:  # reflection: psi(1 - x) - psi(x) = pi / tan(pi x)
                result -= math.pi / math.tan(math.pi * x)
                x = 1.0 - x
            while x < 10.0:
                result -= 1.0 / x
                x += 1.0
            f = 1.0 / (x * x)
            tail = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132)))))
            return result + math.log(x) - 0.5 / x + tail

        return digamma, scalar_op_cache_key(op, symvi_kernel="digamma-1")

    return True


REGISTERED = register()
