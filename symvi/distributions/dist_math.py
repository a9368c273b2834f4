"""Numerical helpers shared by the log densities."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from symvi.distributions.base import _numeric

__all__ = ["xlogy", "xlog1py", "as_float", "normalize", "is_numeric", "LOG_2PI"]


def xlogy(a, x):
    """``a * log(x)`` with the limit 0 at ``a == 0, x == 0`` (and -inf * sign(a) otherwise).

    Not ``pt.special.xlogy``: its gradient is unreduced when ``a`` is broadcast against
    ``x``, and pytensor rewrites it into ``a*log(x)`` and distributes a constant ``a = k - 1``
    into ``k*log(x) - log(x)``, which is nan at ``x = 0``.

    Examples
    --------
    >>> float(xlogy(0.0, 0.0).eval())
    0.0
    """
    at_zero = pt.eq(x, 0)
    limit = pt.switch(pt.eq(a, 0), 0.0, -np.inf * pt.sign(a))
    return pt.switch(at_zero, limit, a * pt.log(pt.switch(at_zero, 1.0, x)))


def xlog1py(a, y):
    """``a * log1p(y)`` with the limit 0 at ``a == 0, y == -1`` (see :func:`xlogy`)."""
    at_edge = pt.eq(y, -1)
    limit = pt.switch(pt.eq(a, 0), 0.0, -np.inf * pt.sign(a))
    return pt.switch(at_edge, limit, a * pt.log1p(pt.switch(at_edge, 0.0, y)))


def is_numeric(x) -> bool:
    """A plain number or numpy array (not a tensor, not a bool)."""
    return isinstance(x, np.ndarray | np.number | int | float) and not isinstance(x, bool)


def as_float(x):
    """``x`` as a floatX tensor (integer counts included)."""
    return pt.as_tensor_variable(x).astype(pytensor.config.floatX)


def normalize(p):
    """``p`` divided by its sum over the last axis (category probabilities)."""
    p = as_float(p)
    return p / pt.sum(p, axis=-1, keepdims=True)


LOG_2PI = float(np.log(2 * np.pi))
LOG_PI = float(np.log(np.pi))
LOG_2 = float(np.log(2.0))
SQRT2 = float(np.sqrt(2.0))
_FAR = 1e10  # stands in for an infinite standardized bound (Phi(-1e10) == 0 in float64)


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


def _batch_size(size, *params):
    """``size`` or, when None, the broadcast shape of ``params`` (for draws built from a
    single-parameter op plus arithmetic, which would otherwise share one draw per batch)."""
    if size is not None or all(p.ndim == 0 for p in params):
        return size
    return pt.broadcast_shape(*params, arrays_are_shapes=False)


def _const_all(x, target) -> bool:
    v = _numeric(x)
    return v is not None and bool(np.all(v == target))


def _norm_logcdf(x):
    """log Phi(x), accurate in both tails; gradient-safe (double ``switch``) everywhere."""
    left = x < -1.0
    xl = pt.switch(left, x, -1.0)
    xr = pt.switch(left, 0.0, x)
    # Phi(x) = erfc(-x/sqrt2)/2 = erfcx(-x/sqrt2) exp(-x^2/2)/2 for x < -1
    lo = pt.log(0.5 * pt.erfcx(-xl / SQRT2)) - 0.5 * xl**2
    hi = pt.log1p(-0.5 * pt.erfc(xr / SQRT2))
    return pt.switch(left, lo, hi)


def _norm_log_ppf(logp, newton_steps=2):
    """Phi^-1(exp(logp)), also far in the lower tail where exp(logp) underflows (draws only)."""
    central = -SQRT2 * pt.erfcinv(2 * pt.exp(pt.maximum(logp, -700.0)))
    # log Phi(-x) ~ -x^2/2 - log x - log(2 pi)/2 for large x, then Newton steps on log Phi
    t = -2 * pt.minimum(logp, -30.0)
    z = pt.switch(logp > -700, central, -pt.sqrt(t - pt.log(t) - LOG_2PI))
    for _ in range(newton_steps):
        log_pdf = -0.5 * z**2 - 0.5 * LOG_2PI
        z = z - (_norm_logcdf(z) - logp) / pt.exp(log_pdf - _norm_logcdf(z))
    return pt.switch(logp < -30, z, central)


def _student_t_logp(value, nu, mu, sigma):
    z = (value - mu) / sigma
    return (
        pt.gammaln((nu + 1) / 2)
        - pt.gammaln(nu / 2)
        - 0.5 * (pt.log(nu) + LOG_PI)
        - pt.log(sigma)
        - (nu + 1) / 2 * pt.log1p(z**2 / nu)
    )
