"""The model's log density and gradient over a flat vector, in the forms NUTS samplers take.

A sampler moves a flat vector ``z``; the model's unconstrained point is ``x = mu + L z``
(:class:`Preconditioner`; the identity unless a variational fit supplied ``mu`` and ``L``),
so a sampler that starts its mass-matrix adaptation from the identity starts it, in effect,
from the approximation's covariance ``L L^T``.  :class:`FlatDensity` builds
``log p(mu + L z)`` and its gradient once, as a PyTensor graph, and compiles it three ways:

* :meth:`FlatDensity.numba_cfunc` - a C-callable Numba function with nutpie's logp signature
  (``int64 (dim, x*, grad*, logp*, user_data*)``), built around the function PyTensor's
  Numba backend compiled, so nutpie calls it from Rust with no Python in the loop;
* :meth:`FlatDensity.python_logp` - the compiled function behind a Python callable
  ``z -> (logp, grad)`` (nutpie's ``from_pyfunc`` path);
* :meth:`FlatDensity.jax_logp` - a JAX function ``z -> logp`` (BlackJAX differentiates it).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     x = pm.Normal("x", 1.0, 2.0)
>>> d = FlatDensity(m)
>>> lp, g = d.python_logp()(np.array([3.0]))
>>> float(g[0])
-0.5
>>> d.set_precond(Preconditioner(np.array([1.0]), np.array([2.0])))  # x = 1 + 2 z
>>> float(d.python_logp()(np.array([1.0]))[1][0])  # d/dz log N(3 | 1, 2) = 2 * -0.5
-1.0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace

from symvi.backends import get_mode
from symvi.pytensorf import compile_fn

__all__ = ["FlatDensity", "Preconditioner"]


@dataclass
class Preconditioner:
    """``x = mu + L z``: the affine map from the sampler's space to the model's unconstrained
    space (``L`` lower triangular, (D, D); a 1-d ``L`` is a diagonal)."""

    mu: np.ndarray
    L: np.ndarray

    @classmethod
    def identity(cls, ndim: int) -> Preconditioner:
        return cls(np.zeros(ndim), np.ones(ndim))

    @property
    def dense(self) -> bool:
        return self.L.ndim == 2

    @property
    def is_identity(self) -> bool:
        return not self.dense and not np.any(self.mu) and bool(np.all(self.L == 1.0))

    def to_x(self, z: np.ndarray) -> np.ndarray:
        """Model points (..., D) of sampler points ``z`` (..., D)."""
        z = np.asarray(z, dtype="float64")
        return self.mu + (z @ self.L.T if self.dense else z * self.L)

    def to_z(self, x: np.ndarray) -> np.ndarray:
        """Sampler points of model points ``x`` (..., D)."""
        d = np.asarray(x, dtype="float64") - self.mu
        if not self.dense:
            return d / self.L
        from scipy.linalg import solve_triangular

        return solve_triangular(self.L, d.T, lower=True).T


class FlatDensity:
    """``log p(mu + L z)`` (transforms' log-Jacobians included) and its gradient in ``z``.

    ``mu`` and ``L`` are data of the compiled function, not constants of it: one compile per
    model (and per kind of ``L``, diagonal or dense) serves every preconditioner
    (:meth:`set_precond` writes them in place), and :meth:`cached` keeps it on the model, so
    a second ``pm.sample`` of an unchanged model compiles nothing.

    Parameters
    ----------
    model : the model.
    dense : ``L`` is a dense lower-triangular matrix (else a diagonal, a vector).
    """

    def __init__(self, model, dense: bool = False):
        import pytensor

        from symvi.variational.approximations import Layout

        self.model = model
        self.layout = Layout(model, model.initial_point())
        self.ndim = n = self.layout.size
        self.dense = bool(dense)
        self._mu = np.zeros(n)
        self._L = np.eye(n) if dense else np.ones(n)
        mu = pytensor.shared(self._mu, name="__precond_mu", borrow=True, shape=(n,))
        L = pytensor.shared(self._L, name="__precond_L", borrow=True, shape=self._L.shape)
        self.z = pt.tensor("z", dtype="float64", shape=(n,))
        x = mu + (pt.dot(L, self.z) if dense else L * self.z)
        self.logp = graph_replace(model.logp(), self.layout.replacements(x), strict=False).astype("float64")
        self.grad = pt.grad(self.logp, self.z)

    @classmethod
    def cached(cls, model, dense: bool = False) -> FlatDensity:
        """The :class:`FlatDensity` of ``model`` kept on it while the model is unchanged."""
        key = (model.version, bool(dense))
        cache = model.__dict__.setdefault("_nuts_density_cache", {})
        if key not in cache:
            cache.clear()  # a changed model (set_data, new variables): the old ones are stale
            cache[key] = cls(model, dense)
        return cache[key]

    def set_precond(self, precond: Preconditioner) -> None:
        """Use ``precond``'s ``mu`` and ``L`` from now on (written into the compiled data)."""
        if precond.dense != self.dense or precond.mu.shape != self._mu.shape:
            raise ValueError("set_precond: the preconditioner's kind or size differs from this density's")
        self._mu[...] = precond.mu
        self._L[...] = precond.L

    # ------------------------------------------------------------------ PyTensor / Python
    def compiled(self):
        """The Numba-compiled PyTensor function ``z -> (logp, grad)`` (compiled once)."""
        if not hasattr(self, "_fn"):
            self._fn = compile_fn([self.z], [self.logp, self.grad], mode=get_mode("numba"))
        return self._fn

    def python_logp(self):
        """A Python callable ``z -> (float logp, grad array)``.

        It calls the Numba-compiled graph function itself (``fn.vm.jit_fn``) with the data
        arrays: a pure function, safe to call from several sampler threads at once (a
        PyTensor ``Function`` is not: its input and output storage are shared).
        """
        fn = self.compiled()
        jit_fn = fn.vm.jit_fn
        data = [s.storage[0] for s in fn.input_storage[1:]]

        def logp(z, **shared):
            lp, g = jit_fn(np.asarray(z, dtype="float64"), *data)
            return float(lp), np.asarray(g, dtype="float64")

        return logp

    # ------------------------------------------------------------------ Numba cfunc
    def numba_cfunc(self):
        """A Numba ``cfunc`` with nutpie's logp signature, calling the Numba-compiled graph.

        The data the graph reads (shared variables: observed values, ``Data`` containers,
        lifted constants) are passed to it as arrays rebuilt from their addresses, which are
        compile-time constants of the cfunc; ``self`` keeps those arrays alive.
        """
        if hasattr(self, "_cfunc"):
            return self._cfunc
        import numba
        from numba.core import types

        fn = self.compiled()
        jit_fn = fn.vm.jit_fn
        # the compiled graph's inputs after z: its shared variables' current values
        self._data = [np.asarray(s.storage[0], order="C") for s in fn.input_storage[1:]]
        if not any(a is self._mu for a in self._data) or not any(a is self._L for a in self._data):
            raise RuntimeError("FlatDensity: the compiled function copied the preconditioner's arrays")
        n = self.ndim
        call = _data_caller(jit_fn, self._data)

        def logp_cfunc(dim, x_, out_, logp_, user_data_):
            if dim != n:
                return -1
            x = numba.carray(x_, (n,))
            out = numba.carray(out_, (n,))
            lp = numba.carray(logp_, ())
            value, grad = call(x)
            lp[()] = value
            out[...] = grad
            if not np.all(np.isfinite(out)):
                return 3
            if not np.isfinite(value):
                return 4
            return 0

        sig = types.int64(
            types.uint64, types.CPointer(types.double), types.CPointer(types.double), types.CPointer(types.double), types.voidptr
        )
        self._cfunc = numba.cfunc(sig)(logp_cfunc)
        return self._cfunc

    # ------------------------------------------------------------------ JAX
    def jax_logp(self):
        """A JAX function ``z -> logp`` (the graph compiled by PyTensor's JAX backend)."""
        if hasattr(self, "_jax_logp"):
            return self._jax_logp
        fn = compile_fn([self.z], [self.logp], mode=get_mode("jax"))
        jit_fn = fn.vm.jit_fn
        data = [s.storage[0] for s in fn.input_storage[1:]]

        def logp(z):
            return jit_fn(z, *data)[0]

        self._jax_logp = logp
        return logp


def _data_caller(jit_fn, arrays):
    """A Numba function ``x -> jit_fn(x, *arrays)`` that rebuilds each array from its address."""
    import numba
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def _pointer(typingctx, address):
        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], cgutils.voidptr_t)

        return types.voidptr(address), codegen

    # the call spelled out for this many arrays, their addresses, shapes and dtypes as literals
    names = [f"a{i}" for i in range(len(arrays))]
    lines = [
        f"    {nm} = numba.carray(_pointer({int(a.ctypes.data)}), {tuple(int(s) for s in a.shape)!r}, np.{a.dtype.type.__name__})"
        for nm, a in zip(names, arrays)
    ]
    src = "def call(x):\n" + "".join(line + "\n" for line in lines) + f"    return jit_fn(x{''.join(', ' + nm for nm in names)})\n"
    scope = {"numba": numba, "np": np, "_pointer": _pointer, "jit_fn": jit_fn}
    exec(src, scope)  # noqa: S102 - generated from numbers only
    return numba.njit(inline="always")(scope["call"])
