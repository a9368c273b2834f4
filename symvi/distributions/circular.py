"""Circular distributions: VonMises, an angle in [-pi, pi].

The default transform is ``Interval(-pi, pi)``, not PyMC's circular transform (which maps
the real line onto the circle by wrapping).  Wrapping makes the unconstrained density
periodic, so it has infinite mass on the real line: harmless for HMC, but a variational
Gaussian on it can raise the ELBO without bound by widening (the expected log density stays
bounded while the entropy grows).  The interval transform keeps the target proper; its
price is a seam at -pi = pi, so a posterior concentrated across that point (``mu`` near
+-pi) is better reparametrized, e.g. by shifting the angle.

Examples
--------
>>> import symvi as sv
>>> x = sv.VonMises.dist(mu=0.5, kappa=2.0, size=3).eval()
>>> bool((abs(x) <= 3.1416).all())
True
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi import transforms
from symvi.distributions.base import Continuous, bound, positive
from symvi.distributions.dist_math import LOG_2PI, _f

__all__ = ["VonMises"]


class VonMises(Continuous):
    """Von Mises distribution ``VonMises(mu=0, kappa=1)`` on the circle, angles in [-pi, pi].

    Density ``exp(kappa cos(x - mu)) / (2 pi I0(kappa))`` (``I0`` the modified Bessel function).

    Mean direction ``mu`` (any real; only ``mu`` modulo 2 pi matters), concentration
    ``kappa > 0`` (``1/kappa`` is like a variance).  Support: [-pi, pi].
    ``E[cos(x - mu)] = I_1(kappa) / I_0(kappa)``.  ``log I_0`` is computed through the
    exponentially scaled Bessel function, so large ``kappa`` does not overflow.
    The default transform is ``Interval(-pi, pi)`` (see the module docstring).

    Examples
    --------
    >>> import symvi as sv
    >>> with sv.Model():
    ...     angle = sv.VonMises("angle", mu=0.0, kappa=4.0)
    """

    params = ("mu", "kappa")
    rv_op = rb.vonmises
    support = "[-pi, pi]"
    checks = [(("kappa",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=0.0, kappa=1.0):
        return {"mu": _f(mu), "kappa": _f(kappa)}

    @staticmethod
    def logp(value, mu, kappa):
        # log I0(kappa) = log ive(0, kappa) + kappa
        lp = kappa * (pt.cos(value - mu) - 1) - LOG_2PI - pt.log(pt.ive(0.0, kappa))
        return bound(lp, value >= -np.pi, value <= np.pi)

    @classmethod
    def default_transform(cls, params):
        return transforms.Interval(-np.pi, np.pi)

    @classmethod
    def support_point(cls, rv, mu, kappa):
        wrapped = pt.arctan2(pt.sin(mu), pt.cos(mu)) + 0 * kappa  # mu moved into [-pi, pi]
        return pt.clip(wrapped, -np.pi + 1e-6, np.pi - 1e-6)  # off the interval's ends
