"""Continuous distributions (scalar support).

Each class maps the user's parametrization to canonical parameters, draws with pytensor's
RandomVariable ops and writes its own log density.

Examples
--------
>>> import symvi as sv
>>> with sv.Model():
...     s = sv.HalfNormal("s", sigma=2.0)
>>> s.name
's'
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable

from symvi import transforms
from symvi.distributions.dist_math import xlogy
from symvi.distributions.base import Continuous, bound, positive

__all__ = ["Flat", "HalfFlat", "Normal", "HalfNormal", "Exponential", "Gamma", "Uniform"]

LOG_2PI = float(np.log(2 * np.pi))


def _f(x):
    """Numeric parameters -> float arrays; tensors and None pass through.

    ``pt.as_tensor_variable`` turns python ints into int8 and exactly representable python
    floats (2.0) into float32 constants, which drags ``log``/``gammaln`` down to float32.
    """
    if x is None or isinstance(x, Variable):
        return x
    arr = np.asarray(x)
    if arr.dtype.kind in "biu":
        return arr.astype(pytensor.config.floatX)
    return arr


def _floats(params: dict) -> dict:
    return {k: _f(v) for k, v in params.items()}


def _inv_sqrt(x):
    """x ** -0.5, nan (not complex) for negative numeric x so that the checks reject it."""
    if isinstance(x, Variable):
        return pt.pow(x, -0.5)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(x, dtype="float64") ** -0.5


def _sigma_from(sigma=None, tau=None, default=1.0, tau_name="tau"):
    if sigma is not None and tau is not None:
        raise TypeError(f"give sigma or {tau_name}, not both")
    if tau is not None:
        if not isinstance(tau, Variable) and not np.all(np.asarray(tau, dtype="float64") > 0):
            raise ValueError(f"parameter {tau_name} must be > 0, got {tau_name}={np.array2string(np.asarray(tau), threshold=6)}")
        return _inv_sqrt(tau)
    return _f(default if sigma is None else sigma)


class Flat(Continuous):
    """Improper uniform density on the real line (logp 0)."""

    params = ()

    @classmethod
    def rv_graph(cls, params, size, rng):
        # Flat has no proper draw; prior draws return zeros of the right shape.
        return pt.zeros(() if size is None else size, dtype=pytensor.config.floatX)

    @staticmethod
    def logp(value):
        return pt.zeros_like(value, dtype=pytensor.config.floatX)


class HalfFlat(Continuous):
    """Improper uniform density on (0, inf)."""

    params = ()

    @classmethod
    def rv_graph(cls, params, size, rng):
        return pt.ones(() if size is None else size, dtype=pytensor.config.floatX)

    @staticmethod
    def logp(value):
        return bound(pt.zeros_like(value, dtype=pytensor.config.floatX), value > 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, **params):
        return pt.ones_like(rv, dtype=pytensor.config.floatX)


class Normal(Continuous):
    """Normal(mu, sigma) or Normal(mu, tau=precision)."""

    params = ("mu", "sigma")
    rv_op = rb.normal
    checks = [(("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, mu=0.0, sigma=None, tau=None):
        return {"mu": _f(mu), "sigma": _sigma_from(sigma, tau)}

    @staticmethod
    def logp(value, mu, sigma):
        z = (value - mu) / sigma
        return -0.5 * z**2 - pt.log(sigma) - 0.5 * LOG_2PI

    @classmethod
    def support_point(cls, rv, mu, sigma):
        return mu


class HalfNormal(Continuous):
    """|Normal(0, sigma)|, or with tau=precision."""

    params = ("sigma",)
    rv_op = rb.halfnormal
    checks = [(("sigma",), positive, "> 0")]

    @classmethod
    def parametrize(cls, sigma=None, tau=None):
        return {"sigma": _sigma_from(sigma, tau)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.halfnormal(0.0, params["sigma"], size=size, rng=rng)

    @staticmethod
    def logp(value, sigma):
        z = value / sigma
        lp = -0.5 * z**2 - pt.log(sigma) + 0.5 * np.log(2 / np.pi)
        return bound(lp, value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, sigma):
        return sigma


class Exponential(Continuous):
    """Exponential(lam) (rate) or Exponential(scale=1/lam)."""

    params = ("lam",)
    checks = [(("lam",), lambda lam: (lam > 0) & (lam < np.inf), "> 0 and finite (scale > 0)")]

    @classmethod
    def parametrize(cls, lam=None, *, scale=None):
        if (lam is None) == (scale is None):
            raise TypeError("Exponential: give exactly one of lam or scale")
        if scale is not None:
            lam = 1 / (scale if isinstance(scale, pt.Variable) else np.asarray(scale, dtype="float64"))
        return {"lam": _f(lam)}

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.exponential(1 / params["lam"], size=size, rng=rng)

    @staticmethod
    def logp(value, lam):
        return bound(pt.log(lam) - lam * value, value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, lam):
        return 1 / lam


class Gamma(Continuous):
    """Gamma(alpha, beta) (shape, rate) or Gamma(mu=, sigma=)."""

    params = ("alpha", "beta")
    checks = [(("alpha",), positive, "> 0"), (("beta",), positive, "> 0")]

    @classmethod
    def parametrize(cls, alpha=None, beta=None, *, mu=None, sigma=None):
        if mu is not None or sigma is not None:
            if alpha is not None or beta is not None or mu is None or sigma is None:
                raise TypeError("Gamma: give (alpha, beta) or (mu, sigma)")
            mu, sigma = _f(mu), _f(sigma)
            return {"alpha": mu**2 / sigma**2, "beta": mu / sigma**2}
        if alpha is None or beta is None:
            raise TypeError("Gamma: give (alpha, beta) or (mu, sigma)")
        return _floats({"alpha": alpha, "beta": beta})

    @classmethod
    def rv_graph(cls, params, size, rng):
        return rb.gamma(params["alpha"], scale=1 / params["beta"], size=size, rng=rng)

    @staticmethod
    def logp(value, alpha, beta):
        # xlogy: finite density at 0 when alpha == 1 (the exponential case), as scipy/PyMC
        lp = alpha * pt.log(beta) - pt.gammaln(alpha) + xlogy(alpha - 1, value) - beta * value
        return bound(lp, value >= 0)

    @classmethod
    def default_transform(cls, params):
        return transforms.log

    @classmethod
    def support_point(cls, rv, alpha, beta):
        return alpha / beta


class Uniform(Continuous):
    """Uniform(lower, upper)."""

    params = ("lower", "upper")
    rv_op = rb.uniform
    checks = [(("lower", "upper"), lambda lo, up: up > lo, "ordered: upper > lower")]

    @classmethod
    def parametrize(cls, lower=0.0, upper=1.0):
        return _floats({"lower": lower, "upper": upper})

    @staticmethod
    def logp(value, lower, upper):
        lp = -pt.log(upper - lower) + pt.zeros_like(value)
        return bound(lp, value >= lower, value <= upper)

    @classmethod
    def default_transform(cls, params):
        return transforms.Interval(params["lower"], params["upper"])

    @classmethod
    def support_point(cls, rv, lower, upper):
        return (lower + upper) / 2
