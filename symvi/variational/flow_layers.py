"""Invertible layers with tractable log-determinants, as PyTensor graphs (for normalizing flows).

Each layer maps points ``z`` of shape ``(..., D)`` to ``y = f(z)`` and gives
``log |det df/dz|`` of shape ``(...)``; ``inverse(y)`` recovers ``z``.  Parameters are
pytensor shared variables (``layer.params``, named ``flow{i}_{kind}_{name}``) and every
layer starts at (or within a small seeded perturbation of) the identity.

* :class:`Planar` - ``y = z + u' tanh(w.z + b)`` (Rezende & Mohamed, 2015), with ``u'`` the
  projection of ``u`` that keeps the map invertible (``w.u' >= -1``); the inverse solves one
  monotone scalar equation by bisection.
* :class:`Radial` - ``y = z + beta (z - z0) / (alpha + |z - z0|)`` with ``alpha > 0``,
  ``beta >= -alpha``; the inverse is a quadratic in the radius.
* :class:`IAF` - inverse autoregressive affine layer: ``y_i = m_i(z_<i) + exp(l_i(z_<i)) z_i``
  where ``m`` and ``l`` (softly bounded by ``LOG_SCALE_BOUND``) come from one masked (MADE)
  network with a hidden layer (ELU); the log-determinant is ``sum l``.  Odd-numbered IAF layers reverse the order of
  the coordinates so the stack conditions every coordinate on every other.  The inverse takes
  ``D`` passes of the network (each fixes one more coordinate).
* :class:`Loc`, :class:`Scale` - ``y = z + b`` and ``y = z * exp(s)`` (PyMC 3's "loc",
  "scale").

Examples
--------
>>> import numpy as np, pytensor.tensor as pt
>>> layer = Planar(2, 0, np.random.default_rng(0), "float64")
>>> z = pt.as_tensor(np.array([[0.3, -1.2]]))
>>> y, logdet = layer.forward(z)
>>> np.allclose(y.eval(), z.eval()), abs(float(logdet.eval()[0])) < 1e-9     # u' = 0 at the start: identity
(True, True)
"""

from __future__ import annotations

import abc

import numpy as np
import pytensor
import pytensor.tensor as pt

__all__ = ["IAF", "LAYERS", "FlowLayer", "Loc", "Planar", "Radial", "Scale"]

#: bisection steps of the planar inverse (the bracket has width 2 |w.u'|: 2^-60 of it is exact)
BISECTION_STEPS = 60
#: an IAF layer's log scales are ``B tanh(out / B)``: each layer scales by at most e^B (~55)
LOG_SCALE_BOUND = 4.0


class FlowLayer(abc.ABC):
    """Abstract base of the layers: ``forward(z) -> (y, logdet)``, ``inverse(y) -> z``, ``params``."""

    kind = "layer"

    def __init__(self, dim: int, index: int, gen: np.random.Generator, dtype: str, center=None):
        self.dim = int(dim)
        self.index = int(index)
        self.dtype = dtype
        self.params: dict = {}
        self._build(gen, np.zeros(self.dim) if center is None else np.asarray(center, dtype="float64"))

    def _shared(self, name: str, value) -> pytensor.compile.SharedVariable:
        key = f"flow{self.index}_{self.kind}_{name}"
        var = pytensor.shared(np.asarray(value, dtype=self.dtype), name=key)
        self.params[key] = var
        return var

    @abc.abstractmethod
    def _build(self, gen, center):
        """Create the layer's shared parameters (at the identity map)."""

    @abc.abstractmethod
    def forward(self, z):
        """``(y, log |det dy/dz|)`` for a batch of points ``z`` (rows)."""

    @abc.abstractmethod
    def inverse(self, y):
        """The ``z`` with ``forward(z)[0] == y``."""

    def _const(self, x):
        return pt.constant(np.asarray(x, dtype=self.dtype))


class Loc(FlowLayer):
    """``y = z + b`` (log-determinant 0)."""

    kind = "loc"

    def _build(self, gen, center):
        self.b = self._shared("b", np.zeros(self.dim))

    def forward(self, z):
        return z + self.b, pt.zeros(z.shape[:-1], dtype=self.dtype)

    def inverse(self, y):
        return y - self.b


class Scale(FlowLayer):
    """``y = z * exp(s)`` (log-determinant ``sum(s)``)."""

    kind = "scale"

    def _build(self, gen, center):
        self.s = self._shared("s", np.zeros(self.dim))

    def forward(self, z):
        return z * pt.exp(self.s), pt.zeros(z.shape[:-1], dtype=self.dtype) + pt.sum(self.s)

    def inverse(self, y):
        return y * pt.exp(-self.s)


class Planar(FlowLayer):
    """``y = z + u' tanh(w.z + b)``; ``u' = 0`` at the start (the identity), ``w`` seeded."""

    kind = "planar"

    def _build(self, gen, center):
        w = gen.normal(0.0, 1.0 / np.sqrt(self.dim), self.dim)
        self.w = self._shared("w", w)
        # u' = 0: u along w with w.u = log(e - 1), where the projection's softplus(w.u) - 1 is 0
        self.u = self._shared("u", np.log(np.expm1(1.0)) * w / np.sum(w**2))
        self.b = self._shared("b", 0.0)

    def _u_hat(self):
        w, u = self.w, self.u
        wu = pt.dot(w, u)
        return u + (pt.softplus(wu) - 1.0 - wu) * w / (pt.sum(w**2) + self._const(1e-12))

    def forward(self, z):
        u = self._u_hat()
        t = pt.tanh(z @ self.w + self.b)
        y = z + t[..., None] * u
        return y, pt.log1p((1.0 - t**2) * pt.dot(self.w, u))

    def inverse(self, y):
        u = self._u_hat()
        s = pt.dot(self.w, u)  # > -1
        c = y @ self.w + self.b  # solve a + s tanh(a) = c for a = w.z + b (increasing in a)
        lo, hi = c - pt.abs(s), c + pt.abs(s)

        def halve(lo, hi, s, c):
            mid = 0.5 * (lo + hi)
            below = mid + s * pt.tanh(mid) < c
            return pt.where(below, mid, lo), pt.where(below, hi, mid)

        los, his = pytensor.scan(halve, outputs_info=[lo, hi], non_sequences=[s, c], n_steps=BISECTION_STEPS, return_updates=False)
        a = 0.5 * (los[-1] + his[-1])
        return y - pt.tanh(a)[..., None] * u


class Radial(FlowLayer):
    """``y = z + beta h (z - z0)``, ``h = 1 / (alpha + |z - z0|)``; ``beta = 0`` at the start."""

    kind = "radial"

    def _build(self, gen, center):
        self.z0 = self._shared("z0", center + gen.normal(0.0, 0.1, self.dim))
        self.a = self._shared("alpha", 0.0)  # alpha = softplus(a) = log 2
        self.b = self._shared("beta", 0.0)  # beta = -alpha + softplus(b) = 0

    def _alpha_beta(self):
        alpha = pt.softplus(self.a)
        return alpha, -alpha + pt.softplus(self.b)

    def forward(self, z):
        alpha, beta = self._alpha_beta()
        d = z - self.z0
        r = pt.sqrt(pt.sum(d**2, axis=-1))
        h = 1.0 / (alpha + r)
        y = z + (beta * h)[..., None] * d
        logdet = (self.dim - 1) * pt.log1p(beta * h) + pt.log1p(beta * alpha * h**2)
        return y, logdet

    def inverse(self, y):
        alpha, beta = self._alpha_beta()
        d = y - self.z0
        rho = pt.sqrt(pt.sum(d**2, axis=-1))  # = r (1 + beta / (alpha + r))
        k = alpha + beta - rho
        r = 0.5 * (-k + pt.sqrt(k**2 + 4.0 * rho * alpha))
        return self.z0 + d / (1.0 + beta / (alpha + r))[..., None]


def made_masks(dim: int, hidden: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks ``(hidden x dim, dim x hidden)`` of a one-hidden-layer MADE network: output ``i``
    depends on inputs ``< i`` only.

    >>> m1, m2 = made_masks(3, 4)
    >>> (m2 @ m1).astype(int).tolist()   # paths from input j (columns) to output i (rows)
    [[0, 0, 0], [2, 0, 0], [4, 2, 0]]
    """
    degrees = 1 + np.arange(hidden) % max(dim - 1, 1)  # hidden unit degrees 1 .. D-1
    m1 = (np.arange(1, dim + 1)[None, :] <= degrees[:, None]).astype("float64")
    m2 = (degrees[None, :] < np.arange(1, dim + 1)[:, None]).astype("float64")
    return m1, m2


class IAF(FlowLayer):
    """Affine autoregressive layer ``y = m(z) + exp(l(z)) * z`` from a MADE network.

    ``hidden`` units (default ``max(2 D, 8)``); the output weights start at zero, so the
    layer starts as the identity; odd ``order`` reverses the coordinates.
    """

    kind = "iaf"

    def __init__(self, dim, index, gen, dtype, center=None, hidden: int | None = None, order: int = 0):
        self.hidden = max(2 * int(dim), 8) if hidden is None else int(hidden)
        self.reverse = bool(order % 2)
        super().__init__(dim, index, gen, dtype, center)

    def _build(self, gen, center):
        D, H = self.dim, self.hidden
        m1, m2 = made_masks(D, H)
        self.m1 = self._const(m1)
        self.m2 = self._const(np.concatenate([m2, m2]))
        self.W1 = self._shared("W1", gen.normal(0.0, 1.0 / np.sqrt(D), (H, D)) * m1)
        self.b1 = self._shared("b1", gen.normal(0.0, 0.1, H))
        self.W2 = self._shared("W2", np.zeros((2 * D, H)))
        self.b2 = self._shared("b2", np.zeros(2 * D))

    def _shift_log_scale(self, z):
        x = z @ (self.W1 * self.m1).T + self.b1
        h = pt.where(x > 0, x, pt.expm1(pt.minimum(x, 0.0)))  # ELU
        out = h @ (self.W2 * self.m2).T + self.b2
        D = self.dim
        return out[..., :D], LOG_SCALE_BOUND * pt.tanh(out[..., D:] / LOG_SCALE_BOUND)

    def forward(self, z):
        if self.reverse:
            z = z[..., ::-1]
        m, log_s = self._shift_log_scale(z)
        y = m + pt.exp(log_s) * z
        return (y[..., ::-1] if self.reverse else y), pt.sum(log_s, axis=-1)

    def inverse(self, y):
        if self.reverse:
            y = y[..., ::-1]

        def sweep(z, y):
            m, log_s = self._shift_log_scale(z)
            return (y - m) * pt.exp(-log_s)

        z = pytensor.scan(sweep, outputs_info=[y], non_sequences=[y], n_steps=self.dim, return_updates=False)[-1]
        return z[..., ::-1] if self.reverse else z


#: flow-formula name -> layer class
LAYERS: dict[str, type] = {"planar": Planar, "radial": Radial, "iaf": IAF, "loc": Loc, "scale": Scale}
