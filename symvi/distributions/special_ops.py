"""Scalar ops for two ``scipy.special`` functions PyTensor lacks: Owen's T and the noncentral chi-square cdf.

They give the SkewNormal and Rice distributions a ``logcdf`` (and so make them usable inside
``Truncated`` and ``Censored``).  Each op evaluates with ``scipy.special`` on the Python and C
linkers (the C linker runs the op's ``impl``, as it does for pytensor's own ``ive``) and with
scipy's Cython kernel on the Numba linker: PyTensor's Numba backend calls any scalar op whose
``nfunc_spec`` names a ``scipy.special`` function through its Cython function pointer.  Like
every graph holding such a pointer (``ive``, ``gammaincc``...), a compiled Numba function using
them is not cached on disk.  The gradients are closed forms written with pytensor ops, so they
compile on every backend and can be differentiated again.

Examples
--------
>>> import numpy as np, pytensor.tensor as pt
>>> f64 = lambda v: pt.as_tensor(np.float64(v))
>>> round(float(owens_t(f64(0.5), f64(2.0)).eval()), 10)  # scipy.special.owens_t(0.5, 2.0)
0.1415806037
>>> round(float(chndtr(f64(3.0), f64(2.0), f64(1.5)).eval()), 10)  # scipy.special.chndtr(3, 2, 1.5)
0.5513141414
"""

from __future__ import annotations

import numpy as np
import pytensor.scalar as ps
import pytensor.scalar.math as psm
import pytensor.tensor as pt
import scipy.special as sc
from pytensor.gradient import grad_not_implemented
from pytensor.graph.basic import Variable
from pytensor.scalar.basic import BinaryScalarOp, ScalarOp, upgrade_to_float
from pytensor.tensor.elemwise import Elemwise

__all__ = ["chndtr", "ncx2_pdf", "owens_t"]

_INV_2PI = 1.0 / (2.0 * np.pi)
_INV_SQRT2 = 1.0 / np.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


class OwensT(BinaryScalarOp):
    """Owen's T function ``T(h, a) = 1/(2 pi) int_0^a exp(-h^2 (1 + x^2) / 2) / (1 + x^2) dx``.

    ``dT/dh = -phi(h) erf(a h / sqrt 2) / 2`` and ``dT/da = exp(-h^2 (1 + a^2) / 2) / (2 pi (1 + a^2))``.
    """

    nfunc_spec = ("scipy.special.owens_t", 2, 1)

    def impl(self, h, a):
        return sc.owens_t(h, a)

    def pullback(self, inputs, outputs, grads):
        h, a = inputs
        (gz,) = grads
        ph = ps.exp(-0.5 * h * h - _LOG_SQRT_2PI)
        d_h = -0.5 * ph * ps.erf(a * h * _INV_SQRT2)
        one_a2 = 1.0 + a * a
        d_a = _INV_2PI * ps.exp(-0.5 * h * h * one_a2) / one_a2
        return [gz * d_h, gz * d_a]


class Chndtr(ScalarOp):
    """The noncentral chi-square cdf ``F(x; k, lam)`` (``scipy.special.chndtr(x, k, lam)``).

    ``dF/dx`` is the density ``f(x; k, lam)``; ``dF/dlam = -f(x; k + 2, lam)`` (from
    ``F(x; k + 2, lam) = F(x; k, lam) - 2 f(x; k + 2, lam)`` and the Poisson-mixture form);
    the degrees of freedom get no gradient.
    """

    nin = 3
    nfunc_spec = ("scipy.special.chndtr", 3, 1)

    def impl(self, x, k, lam):
        return sc.chndtr(x, k, lam)

    def pullback(self, inputs, outputs, grads):
        x, k, lam = inputs
        (gz,) = grads
        return [gz * _ncx2_pdf(ps, psm, x, k, lam), grad_not_implemented(self, 1, k), -gz * _ncx2_pdf(ps, psm, x, k + 2.0, lam)]


def _float(v):
    """A tensor of ``v``; python numbers become float64 (pytensor would make 0.5 a float32)."""
    return v if isinstance(v, Variable) else pt.as_tensor_variable(np.asarray(v, dtype="float64"))


_owens_t = Elemwise(OwensT(upgrade_to_float, name="owens_t"))
_chndtr = Elemwise(Chndtr(upgrade_to_float, name="chndtr"))


def owens_t(h, a):
    """Owen's T function of tensors ``h`` and ``a`` (broadcast), with gradients in both.

    >>> round(float(owens_t(0.0, 1.0).eval()), 12)  # arctan(1) / (2 pi)
    0.125
    """
    return _owens_t(_float(h), _float(a))


def chndtr(x, k, lam):
    """Noncentral chi-square cdf at ``x`` with ``k`` degrees of freedom and noncentrality ``lam``.

    Differentiable in ``x`` and ``lam``.

    >>> round(float(chndtr(2.0, 2.0, 0.0).eval()), 12)  # central: 1 - exp(-x/2)
    0.632120558829
    """
    return _chndtr(_float(x), _float(k), _float(lam))


def _ncx2_pdf(m, mm, x, k, lam):
    """The density in the ops of module ``m`` (pytensor.scalar or .tensor; ``mm`` has ive/gammaln)."""
    inside = x > 0
    xs = m.switch(inside, x, 1.0)
    pos = lam > 0
    ls = m.switch(pos, lam, 1.0)
    v = 0.5 * k - 1.0
    log_nc = (
        -0.5 * (m.sqrt(xs) - m.sqrt(ls)) ** 2
        + 0.5 * v * (m.log(xs) - m.log(ls))
        + m.log(mm.ive(v, m.sqrt(ls * xs)))
        - np.log(2.0)
    )
    log_central = v * m.log(xs) - 0.5 * xs - 0.5 * k * np.log(2.0) - mm.gammaln(0.5 * k)
    return m.switch(inside, m.exp(m.switch(pos, log_nc, log_central)), 0.0)


def ncx2_pdf(x, k, lam):
    """Noncentral chi-square density ``f(x; k, lam)`` for ``x > 0`` (central form at ``lam = 0``); 0 for ``x <= 0``.

    ``f = exp(-(sqrt x - sqrt lam)^2 / 2) (x / lam)^(k/4 - 1/2) ive(k/2 - 1, sqrt(lam x)) / 2``.

    >>> round(float(ncx2_pdf(1.0, 2.0, 0.0).eval()), 12)  # exp(-1/2) / 2
    0.303265329856
    """
    x, k, lam = (_float(v) for v in (x, k, lam))
    return _ncx2_pdf(pt, pt, x, k, lam)
