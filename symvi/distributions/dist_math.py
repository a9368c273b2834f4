"""Numerical helpers shared by the log densities."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb
from pytensor.graph.basic import Variable

from symvi.distributions.base import _numeric
from symvi.pytensorf import new_rng

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


def batch_dims(v, n_core: int = 0) -> tuple:
    """The leading (batch) lengths of ``v``, leaving out its last ``n_core`` axes.

    Statically known lengths come back as Python ints, the rest as symbolic scalars, so that
    ``pt.broadcast_shape(*dims, arrays_are_shapes=True)`` broadcasts a known length 1 of one
    parameter against another's length (a symbolic 1, e.g. ``shape[0]`` of a constant, would
    not broadcast when the draw runs).

    Examples
    --------
    >>> batch_dims(pt.zeros((1, 3, 2)), 1)
    (1, 3)
    """
    return tuple(s if s is not None else v.shape[i] for i, s in enumerate(v.type.shape[: v.ndim - n_core]))


def mvnormal_draw(mu, cov, size=None, rng=None) -> Variable:
    """Multivariate normal draws of ``floatX``, computed in float64.

    PyTensor's Numba implementation of ``multivariate_normal`` multiplies the Cholesky factor
    of ``cov`` by float64 standard normals, which Numba refuses for a float32 ``cov``; drawing
    in float64 and casting keeps float32 models (``floatX = "float32"``) able to draw.

    Examples
    --------
    >>> mvnormal_draw(pt.zeros(2), pt.eye(2), size=(3,)).eval().shape
    (3, 2)
    """
    import pytensor.tensor.random.basic as rb

    mu, cov = pt.as_tensor_variable(mu), pt.as_tensor_variable(cov)
    if mu.dtype == "float64" and cov.dtype == "float64":
        return rb.multivariate_normal(mu, cov, size=size, rng=rng)
    draw = rb.multivariate_normal(mu.astype("float64"), cov.astype("float64"), size=size, rng=rng)
    return draw.astype(pytensor.config.floatX)


def size_vector(entries) -> Variable:
    """Shape entries (ints or symbolic scalars) as one int64 vector (empty for no entries)."""
    entries = [pt.as_tensor_variable(e).astype("int64") for e in entries]
    return pt.stack(entries) if entries else pt.constant(np.zeros(0, dtype="int64"))


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


def student_t_draw(nu, mu, sigma, size, rng) -> Variable:
    """Student-t draws as ``mu + sigma z sqrt(nu / (2 g))``, ``z ~ N(0, 1)``, ``g ~ Gamma(nu/2)``.

    Not PyTensor's ``t`` op: its Numba implementation raises ZeroDivisionError when the gamma
    draw underflows to 0 (tiny ``nu``, e.g. a prior predictive with ``nu ~ Exponential(0.1)``),
    where numpy returns inf; the division here is an elementwise one, which gives inf too.

    Examples
    --------
    >>> from symvi.pytensorf import new_rng
    >>> bool(np.isinf(student_t_draw(1e-3, 0.0, 1.0, (2000,), new_rng(1)).eval()).any())
    True
    """
    nu, mu, sigma = (pt.as_tensor_variable(v) for v in (nu, mu, sigma))
    size = _batch_size(size, nu, mu, sigma)
    z = rb.normal(0.0, 1.0, size=size, rng=rng)
    g = rb.gamma(nu / 2, scale=1.0, size=size, rng=new_rng())
    return (mu + sigma * z * pt.sqrt(nu / (2 * g))).astype(pytensor.config.floatX)


def _student_t_logp(value, nu, mu, sigma):
    z = (value - mu) / sigma
    return (
        pt.gammaln((nu + 1) / 2)
        - pt.gammaln(nu / 2)
        - 0.5 * (pt.log(nu) + LOG_PI)
        - pt.log(sigma)
        - (nu + 1) / 2 * pt.log1p(z**2 / nu)
    )


# ---------------------------------------------------------------------- cdf helpers
def cdf_guard(value, lower=None, upper=None, safe=1.0, discrete=False):
    """``(v, below, above)`` for a log cdf on the support ``[lower, upper]``.

    ``v`` is ``value`` inside the support and ``safe`` (a point inside it) elsewhere, so the
    closed form is never evaluated where it is undefined: the gradient of the final
    ``switch`` stays finite (a plain ``switch`` would pass ``0 * inf = nan`` back).
    ``below`` is ``value <= lower`` for a continuous distribution (F(lower) = 0) and
    ``value < lower`` for a discrete one; ``above`` is ``value >= upper`` (None: no such end).
    """
    no = pt.zeros_like(value, dtype="bool")
    if lower is None:
        below = no
    else:
        below = pt.lt(value, lower) if discrete else pt.le(value, lower)
    above = no if upper is None else pt.ge(value, upper)
    v = pt.switch(pt.or_(below, above), safe, value)
    return v, below, above


def cdf_bounds(logcdf, below, above):
    """``logcdf`` with -inf below the support and 0 at or above its upper end (``above``
    False: no upper end)."""
    if above is not False:
        logcdf = pt.switch(above, 0.0, logcdf)
    return pt.switch(below, -np.inf, logcdf)


def log_cdf_pair(cdf, ccdf):
    """log F from F and 1 - F both computed directly: ``log F`` where F is small and
    ``log1p(-(1 - F))`` where it is close to one (each keeps its relative precision)."""
    small = cdf < 0.5
    return pt.switch(small, pt.log(pt.switch(small, cdf, 1.0)), pt.log1p(-pt.switch(small, 0.0, ccdf)))


def quantile(q, x):
    """``x`` where ``q`` is a probability, nan where it is outside [0, 1]."""
    return pt.switch(pt.and_(pt.ge(q, 0), pt.le(q, 1)), x, np.nan)


def safe_q(q):
    """``q`` inside [0, 1]; 0.5 elsewhere (the caller returns nan there with :func:`quantile`)."""
    return pt.switch(pt.and_(pt.ge(q, 0), pt.le(q, 1)), q, 0.5)


def norm_icdf(q):
    """Phi^-1(q) for the standard normal (-inf at 0, inf at 1)."""
    return -SQRT2 * pt.erfcinv(2 * q)


def discrete_icdf_fix(logcdf, q, k, lower):
    """Exact smallest integer ``k`` with ``F(k) >= q`` from a guess one off at most.

    Closed-form quantiles of discrete distributions land one step off where ``q`` sits on
    a jump of the cdf in floating point; one step down and one up make them exact.
    """
    logq = pt.log(q)
    down = pt.and_(k - 1 >= lower, logcdf(k - 1) >= logq)
    k = pt.switch(down, k - 1, k)
    up = logcdf(k) < logq
    return pt.switch(up, k + 1, k)


def discrete_icdf_bisect(logcdf, q, lower, upper):
    """Smallest integer ``k`` in ``[lower, upper]`` with ``F(k) >= q``, by bisection.

    For distributions whose quantile has no closed form (Poisson, Binomial, ...):
    ``upper`` must satisfy ``F(upper) >= q``.  One ``scan`` (its body compiled once) runs
    ``ceil(log2(range)) + 1`` halvings.  The result is a float holding a whole number.
    """
    logq = pt.log(q)
    lo, hi = pt.floor(as_float(lower)), pt.floor(as_float(upper))
    lo, hi = pt.broadcast_arrays(lo, hi, logq)[:2]
    n_steps = pt.ceil(pt.log2(pt.max(hi - lo) + 1)).astype("int64") + 1

    def step(lo, hi):
        mid = pt.floor((lo + hi) / 2)
        ok = logcdf(mid) >= logq
        return pt.switch(ok, lo, mid + 1), pt.switch(ok, mid, hi)

    _, his = pytensor.scan(step, outputs_info=[lo, hi], n_steps=pt.maximum(n_steps, 1), return_updates=False)
    return his[-1]


def discrete_icdf_search(logcdf, q, lower, start, steps: int = 64):
    """Smallest integer ``k >= lower`` with ``F(k) >= q`` when no upper bracket is known.

    The bracket ``lower + start * 2**j`` is doubled (one ``scan``) until ``F`` reaches
    ``q``, then :func:`discrete_icdf_bisect` searches inside it.  ``q`` must be below one
    (the caller answers ``inf`` at ``q = 1``).
    """
    fx = pytensor.config.floatX
    logq = pt.log(q)
    lo = pt.floor(as_float(lower))
    width = pt.maximum(pt.ceil(as_float(start)), 1.0).astype(fx)
    lo, width, logq = pt.broadcast_arrays(lo, width, logq)

    def grow(width):
        done = logcdf(lo + width) >= logq
        return pt.switch(done, width, 2 * width)

    widths = pytensor.scan(grow, outputs_info=[width], n_steps=steps, return_updates=False)
    return discrete_icdf_bisect(logcdf, pt.exp(logq), lo, lo + widths[-1])
