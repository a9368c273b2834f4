"""DiracDelta: all mass on one value.

Examples
--------
>>> import symvi as sv
>>> sv.DiracDelta.dist(3, size=2).eval().tolist()
[3, 3]
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from symvi.distributions.base import Discrete

__all__ = ["DiracDelta"]


class DiracDelta(Discrete):
    """DiracDelta(c): the constant ``c`` (log mass 0 at ``c``, -inf elsewhere).

    As in PyMC, the dtype of ``c`` is the variable's dtype (``DiracDelta(0)`` is an integer
    variable, ``DiracDelta(0.0)`` a float one) and the class counts as discrete: a free
    DiracDelta variable gets no transform and is not a VI latent.  It is mostly a building
    block (the zero component of zero-inflated and hurdle mixtures).

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> from symvi.distributions import dist_info
    >>> dist_info(sv.DiracDelta.dist(2)).logp(np.array([1, 2])).eval().tolist()
    [-inf, 0.0]
    """

    params = ("c",)
    support = "{c}"

    @classmethod
    def rv_graph(cls, params, size, rng):
        c = params["c"]
        if size is None:
            return pt.identity(c) if c.owner is None else c.copy()
        return pt.full(size, c, dtype=c.dtype)

    @staticmethod
    def logp(value, c):
        value = pt.as_tensor_variable(value)
        return pt.switch(pt.eq(value, c), 0.0, -np.inf)

    @staticmethod
    def logcdf(value, c):
        value = pt.as_tensor_variable(value)
        return pt.switch(pt.lt(value, c), -np.inf, 0.0)

    @staticmethod
    def icdf(value, c):
        """``c`` for every probability in [0, 1], NaN outside."""
        q = pt.as_tensor_variable(value)
        return pt.switch((q >= 0) & (q <= 1), c, np.nan)

    @classmethod
    def support_point(cls, rv, c):
        return pt.broadcast_to(c, rv.shape).astype(rv.dtype)
