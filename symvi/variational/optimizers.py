"""Optimizers as small gradient transforms.

A :class:`GradientTransform` is a pair of pure pieces: ``init(value) -> [state arrays]`` and
``update(grad, states, t) -> (direction, new_states)``.  Transforms compose with :func:`chain`;
every public optimizer is a chain of a "scale by ..." transform and a learning-rate scale.

Each public optimizer follows one calling convention:

* ``adam(loss_or_grads, params, learning_rate=...)`` returns an updates dict
  ``{shared variable: new value expression}`` (parameters and optimizer state);
* ``adam(learning_rate=0.1)`` (no loss/params) returns a configured partial.

Examples
--------
>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> w = pytensor.shared(np.ones(2), name="w")
>>> updates = sgd(pt.sum(w**2), [w], learning_rate=0.1)
>>> f = pytensor.function([], [], updates=updates); f()
[]
>>> w.get_value()
array([0.8, 0.8])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytensor
import pytensor.tensor as pt

__all__ = [
    "GradientTransform",
    "chain",
    "scale",
    "sgd",
    "momentum",
    "nesterov_momentum",
    "adagrad",
    "adagrad_window",
    "rmsprop",
    "adadelta",
    "adam",
    "adamax",
    "total_norm_constraint",
    "norm_constraint",
    "apply_momentum",
    "apply_nesterov_momentum",
    "apply_transform",
    "exponential_decay",
    "ExponentialDecay",
]


@dataclass(frozen=True)
class GradientTransform:
    """``init(value) -> list of initial state arrays``; ``update(g, states, t) -> (d, new_states)``."""

    init: Callable
    update: Callable


def chain(*transforms: GradientTransform) -> GradientTransform:
    """Apply transforms one after another (each sees the previous one's output)."""

    def init(value):
        return [s for t in transforms for s in t.init(value)]

    def update(g, states, t):
        new, k = [], 0
        for tr in transforms:
            n = len(tr.init(np.zeros(0)))
            g, st = tr.update(g, states[k : k + n], t)
            new += st
            k += n
        return g, new

    return GradientTransform(init, update)


def _like(x, g):
    """A symbolic scalar ``x`` in ``g``'s dtype (float32 fits keep float32 arithmetic)."""
    return x.astype(g.dtype) if isinstance(x, pytensor.graph.basic.Variable) and x.dtype != g.dtype else x


def scale(factor) -> GradientTransform:
    return GradientTransform(lambda v: [], lambda g, s, t: (_like(factor, g) * g, []))


@dataclass(frozen=True)
class ExponentialDecay:
    """Learning-rate schedule ``init * (end / init) ** min((t - 1) / steps, 1)`` at step ``t``.

    Starts at ``init``, reaches ``end`` after ``steps`` steps and stays there; build it with
    :func:`exponential_decay`.
    """

    init: float
    end: float
    steps: int

    def __call__(self, t):
        return self.init * (self.end / self.init) ** pt.minimum((t - 1.0) / self.steps, 1.0)


def exponential_decay(init: float, end: float, steps: int) -> ExponentialDecay:
    """A learning rate that decays geometrically from ``init`` to ``end`` over ``steps`` steps.

    Pass it as any optimizer's ``learning_rate``: large early steps find the optimum, small
    late ones remove the Monte Carlo jitter of the final parameters.  Checkpoints store it.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 3.0, 0.1)
    ...     approx = pm.fit(3000, obj_optimizer=pm.adam(learning_rate=pm.exponential_decay(0.1, 1e-4, 3000)),
    ...                     random_seed=0, progressbar=False)
    >>> bool(abs(approx.mean.eval()[0] - 3.0) < 0.02)
    True
    """
    init, end = float(init), float(end)
    if not (np.isfinite(init) and np.isfinite(end) and init > 0 and end > 0):
        raise ValueError(f"exponential_decay: init and end must be positive and finite, got {init}, {end}")
    if isinstance(steps, bool) or not isinstance(steps, int | np.integer) or steps < 1:
        raise ValueError(f"exponential_decay: steps must be a positive integer, got {steps!r}")
    return ExponentialDecay(init, end, int(steps))


def _descend(learning_rate) -> GradientTransform:
    """``-learning_rate * g``; ``learning_rate`` a number or a schedule ``t -> rate`` (t from 1)."""
    if isinstance(learning_rate, pytensor.graph.basic.Variable):  # e.g. a shared rate a callback changes
        return scale(-learning_rate)
    if callable(learning_rate):
        return GradientTransform(lambda v: [], lambda g, s, t: (_like(-learning_rate(t), g) * g, []))
    rate = float(learning_rate)
    if not np.isfinite(rate) or rate < 0:  # 0 is allowed: it freezes the parameters
        raise ValueError(f"learning_rate must be a finite number >= 0 or a schedule such as exponential_decay(...), got {learning_rate!r}")
    return scale(-rate)


def _zeros(v):
    return [np.zeros_like(v)]


def scale_by_momentum(mu, nesterov=False) -> GradientTransform:
    def update(g, states, t):
        v = mu * states[0] + g
        return (mu * v + g if nesterov else v), [v]

    return GradientTransform(_zeros, update)


def scale_by_rss(eps) -> GradientTransform:
    """Adagrad: divide by the root of the running sum of squared gradients."""

    def update(g, states, t):
        acc = states[0] + g**2
        return g / pt.sqrt(acc + eps), [acc]

    return GradientTransform(_zeros, update)


def scale_by_window_rss(n_win, eps) -> GradientTransform:
    """Adagrad over a sliding window of the last ``n_win`` squared gradients."""

    def init(v):
        return [np.zeros((n_win,) + np.shape(v), dtype=np.asarray(v).dtype)]

    def update(g, states, t):
        slot = pt.cast((t - 1) % n_win, "int64")
        acc = pt.set_subtensor(states[0][slot], g**2)
        return g / pt.sqrt(acc.sum(0) + eps), [acc]

    return GradientTransform(init, update)


def scale_by_rms(rho, eps) -> GradientTransform:
    def update(g, states, t):
        acc = rho * states[0] + (1 - rho) * g**2
        return g / pt.sqrt(acc + eps), [acc]

    return GradientTransform(_zeros, update)


def scale_by_adadelta(rho, eps) -> GradientTransform:
    def init(v):
        return [np.zeros_like(v), np.zeros_like(v)]

    def update(g, states, t):
        acc, delta_acc = states
        acc = rho * acc + (1 - rho) * g**2
        d = g * pt.sqrt(delta_acc + eps) / pt.sqrt(acc + eps)
        return d, [acc, rho * delta_acc + (1 - rho) * d**2]

    return GradientTransform(init, update)


def scale_by_adam(b1, b2, eps) -> GradientTransform:
    def init(v):
        return [np.zeros_like(v), np.zeros_like(v)]

    def update(g, states, t):
        m = b1 * states[0] + (1 - b1) * g
        v = b2 * states[1] + (1 - b2) * g**2
        step = pt.sqrt(1 - b2**t) / (1 - b1**t)
        return step * m / (pt.sqrt(v) + eps), [m, v]

    return GradientTransform(init, update)


def scale_by_adamax(b1, b2, eps) -> GradientTransform:
    def init(v):
        return [np.zeros_like(v), np.zeros_like(v)]

    def update(g, states, t):
        m = b1 * states[0] + (1 - b1) * g
        u = pt.maximum(b2 * states[1], abs(g))
        return m / ((1 - b1**t) * (u + eps)), [m, u]

    return GradientTransform(init, update)


# ---------------------------------------------------------------------- plumbing
def _grads(loss_or_grads, params):
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ValueError(f"got {len(loss_or_grads)} gradients for {len(params)} parameters")
        return list(loss_or_grads)
    return pt.grad(loss_or_grads, params)


def apply_transform(transform: GradientTransform, loss_or_grads, params: Sequence, param_scales: dict | None = None) -> dict:
    """Updates dict for ``params`` (shared variables) from a transform's descent direction.

    State lives in new shared variables; one shared step counter ``t`` is shared by all.
    ``param_scales`` ``{param: tensor of its shape}`` multiplies each listed parameter's
    step elementwise (a diagonal preconditioner: with Adam, the same as optimising
    ``param / scale``).
    """
    param_scales = param_scales or {}
    params = list(params)
    grads = _grads(loss_or_grads, params)
    t_prev = pytensor.shared(np.asarray(0.0), name="opt_t")  # float64: exact counts past 2**24 steps
    t = t_prev + 1.0
    updates = {}
    for p, g in zip(params, grads):
        value = p.get_value(borrow=True)
        states = [pytensor.shared(np.asarray(s, dtype=value.dtype), name=f"{p.name}_opt{i}") for i, s in enumerate(transform.init(value))]
        # the step count in the parameter's dtype: float32 parameters keep float32 arithmetic
        t_p = t if value.dtype == t.dtype or value.dtype.kind != "f" else t.astype(value.dtype)
        d, new_states = transform.update(g, states, t_p)
        if p in param_scales:
            d = d * param_scales[p]
        updates[p] = (p + d).astype(p.dtype)
        for s, ns in zip(states, new_states):
            updates[s] = ns.astype(s.dtype)
    updates[t_prev] = t
    return updates


def _optimizer(make: Callable[..., GradientTransform]):
    """Wrap a transform factory into the ``opt(loss_or_grads, params, **hyper)`` convention."""

    @functools.wraps(make)
    def opt(loss_or_grads=None, params=None, **hyper):
        if loss_or_grads is None and params is None:
            make(**hyper)  # validate the hyper-parameters now
            return functools.partial(opt, **hyper)
        if loss_or_grads is None or params is None:
            raise ValueError(f"{make.__name__}: give both loss_or_grads and params, or neither (for a partial)")
        return apply_transform(make(**hyper), loss_or_grads, params)

    return opt


@_optimizer
def sgd(learning_rate=1e-3):
    """Plain gradient descent: ``p -= learning_rate * g``."""
    return _descend(learning_rate)


@_optimizer
def momentum(learning_rate=1e-3, momentum=0.9):
    """Heavy-ball momentum."""
    return chain(scale_by_momentum(momentum), _descend(learning_rate))


@_optimizer
def nesterov_momentum(learning_rate=1e-3, momentum=0.9):
    """Nesterov accelerated momentum."""
    return chain(scale_by_momentum(momentum, nesterov=True), _descend(learning_rate))


@_optimizer
def adagrad(learning_rate=1.0, epsilon=1e-6):
    """Adagrad with the full history of squared gradients."""
    return chain(scale_by_rss(epsilon), _descend(learning_rate))


@_optimizer
def adagrad_window(learning_rate=1e-3, epsilon=0.1, n_win=10):
    """Adagrad over the last ``n_win`` squared gradients (PyMC's default ADVI optimizer)."""
    if int(n_win) < 1:
        raise ValueError(f"adagrad_window: n_win must be >= 1, got {n_win}")
    return chain(scale_by_window_rss(int(n_win), epsilon), _descend(learning_rate))


@_optimizer
def rmsprop(learning_rate=1.0, rho=0.9, epsilon=1e-6):
    """RMSProp."""
    return chain(scale_by_rms(rho, epsilon), _descend(learning_rate))


@_optimizer
def adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-6):
    """Adadelta."""
    return chain(scale_by_adadelta(rho, epsilon), _descend(learning_rate))


@_optimizer
def adam(learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adam with bias correction."""
    return chain(scale_by_adam(beta1, beta2, epsilon), _descend(learning_rate))


@_optimizer
def adamax(learning_rate=2e-3, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Adamax (Adam with the infinity norm)."""
    return chain(scale_by_adamax(beta1, beta2, epsilon), _descend(learning_rate))


def total_norm_constraint(tensor_vars: Sequence, max_norm: float, epsilon: float = 1e-7, return_norm: bool = False):
    """Rescale a list of gradients so that their joint L2 norm is at most ``max_norm``.

    Composes with every optimizer, which take a list of gradients in place of a loss:
    ``pm.adam(pm.total_norm_constraint(pytensor.grad(loss, params), 5.0), params)``.
    ``return_norm=True`` also returns the joint norm before rescaling (as PyMC/Lasagne).

    Examples
    --------
    >>> import pytensor.tensor as pt
    >>> g = total_norm_constraint([pt.as_tensor([3.0, 4.0])], 1.0)
    >>> [round(float(v), 3) for v in g[0].eval()]
    [0.6, 0.8]
    """
    tensor_vars = [pt.as_tensor_variable(g) for g in tensor_vars]
    if not tensor_vars:
        raise ValueError("total_norm_constraint: tensor_vars is empty; give the list of gradients to rescale")
    if isinstance(max_norm, int | float | np.number) and not (np.isfinite(max_norm) and max_norm > 0):
        raise ValueError(f"total_norm_constraint: max_norm must be a positive number, got {max_norm!r}")
    norm = pt.sqrt(sum(pt.sum(g**2) for g in tensor_vars))
    factor = pt.minimum(1.0, max_norm / (norm + epsilon))
    scaled = [(g * factor).astype(g.dtype) for g in tensor_vars]
    return (scaled, norm) if return_norm else scaled


def _with_momentum(updates: dict, params, momentum: float, nesterov: bool) -> dict:
    """Momentum on each parameter's step ``updates[p] - p``: ``v <- momentum * v + step``; the
    parameter moves by ``v`` (heavy ball) or ``momentum * v + step`` (Nesterov)."""
    updates = dict(updates)
    params = list(updates) if params is None else list(params)
    for p in params:
        if p not in updates:
            raise ValueError(f"apply_momentum: parameter {p.name or p!r} has no update in the updates dict")
    for p in params:
        v = pytensor.shared(np.zeros_like(p.get_value(borrow=True)), name=f"{p.name}_velocity")
        step = updates[p] - p
        x = momentum * v + step
        updates[v] = x.astype(v.dtype)
        updates[p] = (p + (momentum * x + step if nesterov else x)).astype(p.dtype)
    return updates


def apply_momentum(updates: dict, params=None, momentum: float = 0.9) -> dict:
    """Add heavy-ball momentum to an updates dict (``{param: new value}``) from any optimizer.

    Each parameter's step ``updates[p] - p`` is accumulated in a velocity ``v``:
    ``v <- momentum * v + step`` and ``p <- p + v``.  ``params`` defaults to every key.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> up = apply_momentum(sgd(pt.sum(w**2), [w], learning_rate=0.1), momentum=0.5)
    >>> f = pytensor.function([], [], updates=up)
    >>> _ = f(), f()   # w: 1 -> 0.8 (v = -0.2) -> 0.8 - 0.16 - 0.1
    >>> w.get_value().round(4).tolist()
    [0.54]
    """
    return _with_momentum(updates, params, momentum, nesterov=False)


def apply_nesterov_momentum(updates: dict, params=None, momentum: float = 0.9) -> dict:
    """Add Nesterov momentum to an updates dict: ``v <- momentum * v + step``, ``p <- p +
    momentum * v + step`` (the look-ahead form used by Lasagne and PyMC).

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> up = apply_nesterov_momentum(sgd(pt.sum(w**2), [w], learning_rate=0.1), momentum=0.5)
    >>> f = pytensor.function([], [], updates=up)
    >>> _ = f()   # step -0.2, v = -0.2: w = 1 - 0.5 * 0.2 - 0.2
    >>> w.get_value().round(4).tolist()
    [0.7]
    """
    return _with_momentum(updates, params, momentum, nesterov=True)


def norm_constraint(tensor_var, max_norm: float, norm_axes=None, epsilon: float = 1e-7):
    """Rescale ``tensor_var`` so that its L2 norm over ``norm_axes`` is at most ``max_norm``.

    Default axes: a vector's whole norm; a matrix's axis 0 (each column, as for a dense
    layer's weights); higher ranks: all axes but the first.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> norm_constraint(pt.as_tensor(np.array([[3.0, 0.0], [4.0, 0.5]])), 1.0).eval().round(3).tolist()
    [[0.6, 0.0], [0.8, 0.5]]
    """
    x = pt.as_tensor_variable(tensor_var)
    if norm_axes is None:
        if x.ndim in (1, 2):
            norm_axes = (0,)
        elif x.ndim > 2:
            norm_axes = tuple(range(1, x.ndim))
        else:
            raise ValueError("norm_constraint: a scalar has no norm to constrain; give a vector or larger")
    norms = pt.sqrt(pt.sum(x**2, axis=norm_axes, keepdims=True))
    target = pt.clip(norms, 0, max_norm)
    return x * (target / (epsilon + norms))
