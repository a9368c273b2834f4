"""Ordinary differential equations inside a model: PyMC's ``pm.ode.DifferentialEquation``.

The user writes the right-hand side ``func(y, t, p)`` with PyTensor (or plain Python)
arithmetic on indexable ``y`` (the states) and ``p`` (the parameters).  That function is
traced once into a PyTensor graph; its Jacobians with respect to the states and the
parameters are derived symbolically, and the augmented forward-sensitivity system

    dy/dt = f(y, t, p),      dS/dt = (df/dy) S + [0 | df/dp],      S(t0) = [I | 0]

(``S`` = d y(t) / d (y0, theta)) is compiled once per :class:`DifferentialEquation` and
integrated with :func:`scipy.integrate.odeint` inside an Op.  The Op returns the solution and
the sensitivities; its gradient contracts the output gradient with the sensitivities, so
VI and NUTS differentiate through the solver without a second solve.

Under Numba (symvi's default backend) the Op is nopython code calling the solver through a
C callback, with a cache key (:mod:`symvi.ode.numba_solve`): a re-fit of an ODE model reuses
the compiled training loop, in the same process and from PyTensor's disk cache.

The Op accepts batched inputs (leading dimensions on ``y0`` / ``theta``): when symvi
vectorises a log density over draws, the solver loops over the batch itself.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op
from pytensor.graph.replace import _vectorize_node
from pytensor.link.numba.dispatch.basic import generate_fallback_impl, register_funcify_and_cache_key

__all__ = ["DifferentialEquation"]


def _stack_rhs(out: Any, n_states: int) -> pt.TensorVariable:
    """The derivatives ``func`` returned, as one float64 vector of length ``n_states``."""
    if isinstance(out, (list, tuple)):
        if len(out) != n_states:
            raise ValueError(
                f"n_states={n_states}, but func returned {len(out)} derivatives; "
                "n_states must equal the number of equations func returns"
            )
        vec = pt.stack([pt.as_tensor_variable(o).astype("float64") for o in out])
    else:
        try:
            vec = pt.as_tensor_variable(out)
        except (TypeError, ValueError) as err:
            raise TypeError(
                f"func must return a tensor, a list or a tuple of derivatives, got {type(out).__name__}"
            ) from err
        vec = pt.atleast_1d(vec).astype("float64")
    if vec.ndim != 1:
        raise ValueError(f"func must return 0- or 1-dimensional derivatives, got a {vec.ndim}-d tensor")
    length = vec.type.shape[0]
    if length is not None and length != n_states:
        raise ValueError(
            f"n_states={n_states}, but func returned {length} derivatives; "
            "n_states must equal the number of equations func returns"
        )
    return vec


class DifferentialEquation:
    """An ODE ``dy/dt = func(y, t, p)``, ``y(t0) = y0``, solved at ``times`` inside a model.

    Calling it with ``y0`` (``n_states`` values) and ``theta`` (``n_theta`` values) gives a
    tensor of shape ``(len(times), n_states)`` (also for ``n_states=1``, as in PyMC) that
    has gradients with respect to both, so ADVI and NUTS can fit ODE parameters.

    Parameters
    ----------
    func : callable
        ``func(y, t, p)``: ``y`` the states (indexable, length ``n_states``), ``t`` the time
        (scalar), ``p`` the parameters (indexable, length ``n_theta``); returns the
        derivatives as a list/tuple or a tensor (a scalar when ``n_states=1``).
    times : array-like
        Times at which the solution is reported (increasing, at or after ``t0``).
    n_states, n_theta : int
        Number of equations and of parameters.
    t0 : float
        Time of the initial condition ``y0``.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> def decay(y, t, p):
    ...     return -p[0] * y[0]
    >>> ode = pm.ode.DifferentialEquation(func=decay, times=[1.0, 2.0], n_states=1, n_theta=1)
    >>> np.round(ode(y0=[1.0], theta=[0.5]).eval().ravel(), 4)
    array([0.6065, 0.3679])
    """

    def __init__(
        self,
        func: Callable[..., Any],
        times: Sequence[float] | np.ndarray,
        *,
        n_states: int,
        n_theta: int,
        t0: float = 0,
    ) -> None:
        if not callable(func):
            raise TypeError(f"func must be callable, got {type(func).__name__}")
        for name, val, low in (("n_states", n_states, 1), ("n_theta", n_theta, 1)):
            if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {val!r}")
        times_arr = np.asarray(times, dtype="float64")
        if times_arr.ndim != 1 or times_arr.size == 0:
            raise ValueError(f"times must be a non-empty 1-d sequence, got shape {times_arr.shape}")
        if not np.all(np.isfinite(times_arr)) or not np.isfinite(float(t0)):
            raise ValueError("times and t0 must be finite")
        if np.any(np.diff(times_arr) < 0):
            raise ValueError("times must be non-decreasing")
        if times_arr[0] < float(t0):
            raise ValueError(f"times must start at or after t0={t0}, got times[0]={times_arr[0]}")
        self.func = func
        self.times = tuple(float(x) for x in times_arr)
        self.t0 = float(t0)
        self.n_states = int(n_states)
        self.n_theta = int(n_theta)
        self.n_times = len(self.times)
        self.n_p = self.n_states + self.n_theta
        self._grid = np.concatenate([[self.t0], times_arr])
        self._build_graph()
        self._system: Callable[..., Any] | None = None  # compiled at the first solve
        self._op = ODESolve(self)

    # ----- the augmented right-hand side ------------------------------------------------
    def _build_graph(self) -> None:
        """Trace ``func`` symbolically and derive the sensitivity equations (not compiled yet)."""
        S, P = self.n_states, self.n_theta
        y = pt.vector("y", dtype="float64", shape=(S,))
        t = pt.scalar("t", dtype="float64")
        p = pt.vector("p", dtype="float64", shape=(P,))
        sens = pt.matrix("sens", dtype="float64", shape=(S, S + P))
        f = _stack_rhs(self.func(y, t, p), S)
        # one gradient per equation, unrolled (S is static): PyTensor's jacobian would loop with
        # a Scan, slower per right-hand-side call and without a key for the compiled-code cache
        dfdy, dfdp = (
            pt.stack([pytensor.grad(f[i], wrt, disconnected_inputs="ignore") for i in range(S)])
            for wrt in (y, p)
        )
        dsens = pt.dot(dfdy, sens) + pt.concatenate([pt.zeros((S, S), dtype="float64"), dfdp], axis=1)
        self._graph = ([y, t, p, sens], [f, dsens.ravel()])

    def _compiled_system(self) -> Callable[..., Any]:
        if self._system is None:
            inputs, outputs = self._graph
            # the C/Python VM: one call per odeint step, no Numba compile of a tiny graph
            fn = pytensor.function(inputs, outputs, mode="FAST_RUN", on_unused_input="ignore")
            fn.trust_input = True
            self._system = fn
        return self._system

    def _check_f_length(self, f: np.ndarray) -> None:
        if f.shape != (self.n_states,):
            raise ValueError(
                f"n_states={self.n_states}, but func returned derivatives of shape {f.shape}"
            )

    def simulate(self, y0: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solve for one ``y0`` / ``theta``: states ``(T, S)`` and sensitivities ``(T, S, S+P)``.

        Examples
        --------
        >>> import symvi as pm
        >>> ode = pm.ode.DifferentialEquation(lambda y, t, p: -p[0] * y[0], [1.0], n_states=1, n_theta=1)
        >>> y, s = ode.simulate([2.0], [1.0])
        >>> y.shape, s.shape
        ((1, 1), (1, 1, 2))
        """
        from scipy.integrate import odeint  # deferred: keeps `import symvi` fast

        S, P = self.n_states, self.n_theta
        y0 = np.asarray(y0, dtype="float64").reshape(S)
        theta = np.asarray(theta, dtype="float64").reshape(P)
        system = self._compiled_system()
        self._check_f_length(np.asarray(system(y0, np.float64(self.t0), theta, np.zeros((S, S + P)))[0]))

        def rhs(state: np.ndarray, t: float) -> np.ndarray:
            f, ds = system(state[:S], np.float64(t), theta, state[S:].reshape(S, S + P))
            return np.concatenate([f, ds])

        start = np.concatenate([y0, np.eye(S, S + P).ravel()])
        sol = odeint(rhs, start, self._grid)[1:]
        return sol[:, :S], sol[:, S:].reshape(self.n_times, S, S + P)

    # ----- the user's call ---------------------------------------------------------------
    def _as_input(self, value: Any, name: str, length: int, expected: str) -> pt.TensorVariable:
        if isinstance(value, (list, tuple)):
            if len(value) != length:
                raise ValueError(f"{name} must have {length} values ({expected}), got {len(value)}")
            var = pt.stack([pt.as_tensor_variable(v) for v in value]) if value else pt.as_tensor_variable(value)
        else:
            var = pt.as_tensor_variable(value)
        if var.ndim == 0:
            var = var[None]
        if var.type.shape[-1] is not None and var.type.shape[-1] != length:
            raise ValueError(
                f"{name} must have {length} values ({expected}) in its last dimension, "
                f"got shape {var.type.shape}"
            )
        if var.dtype.startswith("complex"):
            raise TypeError(f"{name} must be real, got dtype {var.dtype}")
        return var.astype(pytensor.config.floatX)

    def __call__(self, y0: Any, theta: Any, return_sens: bool = False, **kwargs: Any) -> Any:
        """The solution at ``times``, shape ``(len(times), n_states)`` (plus leading batch
        dimensions of ``y0`` / ``theta``); with ``return_sens=True`` also the sensitivities
        ``(len(times), n_states, n_states + n_theta)`` with respect to ``(y0, theta)``."""
        y0v = self._as_input(y0, "y0", self.n_states, f"n_states={self.n_states}")
        thv = self._as_input(theta, "theta", self.n_theta, f"n_theta={self.n_theta}")
        states, sens = self._op(y0v, thv, **kwargs)
        return (states, sens) if return_sens else states

    def __repr__(self) -> str:
        name = getattr(self.func, "__name__", "func")
        return (
            f"DifferentialEquation(func={name}, n_times={self.n_times}, "
            f"n_states={self.n_states}, n_theta={self.n_theta}, t0={self.t0})"
        )


class ODESolve(Op):
    """Solve a :class:`DifferentialEquation`: ``(y0 (..., S), theta (..., P))`` ->
    ``(states (..., T, S), sensitivities (..., T, S, S+P))``; leading dimensions broadcast."""

    __props__ = ("ode",)

    def __init__(self, ode: DifferentialEquation) -> None:
        self.ode = ode

    def make_node(self, y0: Any, theta: Any) -> Apply:
        ode = self.ode
        y0 = pt.as_tensor_variable(y0)
        theta = pt.as_tensor_variable(theta)
        if y0.ndim < 1 or theta.ndim < 1:
            raise ValueError("y0 and theta must be at least 1-dimensional")
        if y0.type.shape[-1] not in (None, ode.n_states):
            raise ValueError(f"y0 must end in a dimension of length n_states={ode.n_states}, got {y0.type.shape}")
        if theta.type.shape[-1] not in (None, ode.n_theta):
            raise ValueError(
                f"theta must end in a dimension of length n_theta={ode.n_theta}, got {theta.type.shape}"
            )
        # batch dimensions broadcast explicitly (their gradient sums over what was broadcast)
        nb = max(y0.ndim, theta.ndim) - 1
        # (as in PyTensor's elementwise ops, a batch length is broadcast only where it is
        # statically 1 or missing; two unknown lengths must agree when run)
        if nb and (y0.ndim != theta.ndim or y0.type.shape[:-1] != theta.type.shape[:-1]):
            y0 = pt.shape_padleft(y0, nb + 1 - y0.ndim)
            theta = pt.shape_padleft(theta, nb + 1 - theta.ndim)
            yb, tb = pt.broadcast_arrays(y0[..., 0], theta[..., 0])
            y0 = pt.broadcast_to(y0, (*yb.shape, ode.n_states))
            theta = pt.broadcast_to(theta, (*tb.shape, ode.n_theta))
        batch = tuple(
            a if a == b else (a if b is None else b if a is None else None)
            for a, b in zip(y0.type.shape[:-1], theta.type.shape[:-1])
        )
        dtype = pytensor.config.floatX
        states = pt.tensor(dtype=dtype, shape=(*batch, ode.n_times, ode.n_states))
        sens = pt.tensor(dtype=dtype, shape=(*batch, ode.n_times, ode.n_states, ode.n_p))
        return Apply(self, [y0, theta], [states, sens])

    def perform(self, node: Apply, inputs: list[np.ndarray], outputs: list[list[Any]]) -> None:
        ode = self.ode
        y0, theta = inputs
        if y0.shape[-1] != ode.n_states:
            raise ValueError(f"y0 must have n_states={ode.n_states} values, got shape {y0.shape}")
        if theta.shape[-1] != ode.n_theta:
            raise ValueError(f"theta must have n_theta={ode.n_theta} values, got shape {theta.shape}")
        if y0.shape[:-1] != theta.shape[:-1]:
            raise ValueError(
                f"y0 and theta must have the same batch shape, got y0 {y0.shape} and theta {theta.shape}"
            )
        batch = y0.shape[:-1]
        dtype = node.outputs[0].dtype
        states = np.empty((*batch, ode.n_times, ode.n_states), dtype=dtype)
        sens = np.empty((*batch, ode.n_times, ode.n_states, ode.n_p), dtype=dtype)
        for idx in np.ndindex(*batch):
            states[idx], sens[idx] = ode.simulate(y0[idx], theta[idx])
        outputs[0][0] = states
        outputs[1][0] = sens

    def infer_shape(self, fgraph: Any, node: Apply, input_shapes: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        ode = self.ode
        batch = input_shapes[0][:-1]  # make_node gave y0 and theta one batch shape
        return [(*batch, ode.n_times, ode.n_states), (*batch, ode.n_times, ode.n_states, ode.n_p)]

    def pullback(
        self, inputs: Sequence[Variable], outputs: Sequence[Variable], output_grads: Sequence[Variable]
    ) -> list[Variable]:
        y0, theta = inputs
        g_states, g_sens = output_grads
        if not isinstance(g_sens.type, DisconnectedType):
            return [
                grad_not_implemented(self, 0, y0, "second derivatives of an ODE solution"),
                grad_not_implemented(self, 1, theta, "second derivatives of an ODE solution"),
            ]
        if isinstance(g_states.type, DisconnectedType):
            return [y0.zeros_like(), theta.zeros_like()]
        S = self.ode.n_states
        sens = outputs[1]
        # sum over times and states: (..., T, S, 1) * (..., T, S, S+P) -> (..., S+P)
        total = (g_states[..., None] * sens).sum(axis=(-3, -2))
        return [total[..., :S].astype(y0.dtype), total[..., S:].astype(theta.dtype)]

    def connection_pattern(self, node: Apply) -> list[list[bool]]:
        return [[True, True], [True, True]]


@_vectorize_node.register(ODESolve)
def _vectorize_ode_solve(op: ODESolve, node: Apply, y0: Variable, theta: Variable) -> Apply:
    """Draws in leading dimensions: the Op loops over them itself (no Blockwise wrapper)."""
    return op.make_node(y0, theta)


@register_funcify_and_cache_key(ODESolve)
def _numba_ode_solve(op: ODESolve, node: Apply, **kwargs: Any) -> tuple[Callable[..., Any], str | None]:
    """Under Numba the solve is nopython code calling the Python solver through a C callback
    (:mod:`symvi.ode.numba_solve`), with a cache key, so a compiled fit is cached and reused.
    An ODE that cannot be keyed runs in object mode, uncached; PyTensor's warning about that
    would repeat on every compiled fit, so it is dropped here."""
    from symvi.ode.numba_solve import numba_ode_solve

    found = numba_ode_solve(op, node)
    if found is not None:
        return found
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Numba will use object mode", category=UserWarning)
        return generate_fallback_impl(op, node, **kwargs), None
