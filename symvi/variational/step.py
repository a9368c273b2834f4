"""One optimisation step, compiled as a loop of K steps per call.

``StepFunction`` takes the objective's loss (and optionally explicit gradients), applies the
optimizer, and wraps the single-step update in a ``scan`` whose carried state is every
shared variable the step changes: parameters, optimizer state, and the random generators
(noise for the Monte Carlo estimate, minibatch indices).  Drawing noise inside the step keeps
results identical whatever K is.  The function is compiled once and reused for every chunk,
``fit`` and ``refine`` call.

A step whose loss or new parameters are not finite is not applied: the scan carries an
``alive`` flag, and every later step of the chunk is a no-op that reports NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.replace import graph_replace
from pytensor.tensor.random.type import RandomGeneratorType

from symvi.backends import fixed_length_loops, get_mode, resolve_backend
from symvi.pytensorf import lift_constants, rng_updates
from symvi.variational.optimizers import total_norm_constraint

__all__ = ["StepFunction"]


def _is_rng(var) -> bool:
    return isinstance(var.type, RandomGeneratorType)


class StepFunction:
    """Compiled ``run(K) -> (losses[K], first_bad_param_names | None)``.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> from symvi.variational.optimizers import sgd
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> step = StepFunction(pt.sum(w**2), [w], sgd(learning_rate=0.25))
    >>> losses, bad = step.run(2); losses.round(3).tolist(), w.get_value().tolist()
    ([1.0, 0.25], [0.25])
    """

    def __init__(
        self,
        loss,
        params,
        optimizer,
        grads=None,
        total_grad_norm_constraint=None,
        more_updates=None,
    ):
        params = list(params)
        if grads is None:
            grads = pt.grad(loss, params)
        if total_grad_norm_constraint is not None:
            grads = total_norm_constraint(grads, total_grad_norm_constraint)
        try:
            updates = optimizer(grads, params)
        except TypeError as err:
            raise TypeError(f"obj_optimizer {optimizer!r} cannot be called as obj_optimizer(grads, params): {err}") from err
        if not isinstance(updates, dict):
            raise TypeError(
                f"obj_optimizer must return a dict of updates {{shared variable: expression}}, got {type(updates).__name__}"
            )
        updates = dict(updates)
        updates.update(more_updates or {})
        for var, expr in list(updates.items()):
            if not isinstance(var, SharedVariable):
                raise TypeError(f"updates must be keyed by shared variables, got {var!r}")
        keys = list(updates)
        lifted = lift_constants([loss] + [updates[k] for k in keys])
        loss, updates = lifted[0], dict(zip(keys, lifted[1:]))
        rngs = rng_updates([loss] + list(updates.values()))
        for r, nxt in rngs.items():
            updates.setdefault(r, nxt)
        self.params = params
        self.state = list(updates)
        self._loss, self._updates = loss, updates
        self._fns: dict = {}
        self.backend: str | None = None  # None: resolved at each run (context / env / numba)

    def _compiled(self, backend: str, k: int):
        """The compiled loop for ``backend``; JAX needs the loop length ``k`` fixed."""
        key = (backend, k if fixed_length_loops(backend) else None)
        self.compiled_now = key not in self._fns  # lets the caller leave compile time out of timings
        if self.compiled_now:
            self._fns[key] = self._compile(backend, key[1])
        return self._fns[key]

    def _compile(self, backend, static_k):
        loss, updates, state = self._loss, self._updates, self.state
        param_idx = [state.index(p) for p in self.params]

        def one_step(*inner):
            alive = inner[-1]
            cur = inner[:-1]
            repl = dict(zip(state, cur))
            new = graph_replace([updates[s] for s in state] + [loss], repl, strict=False)
            new_vals, step_loss = new[:-1], new[-1]
            finite = [pt.all(pt.isfinite(new_vals[i])) for i in param_idx]
            ok = pt.and_(alive, pt.isfinite(step_loss))
            for f in finite:
                ok = pt.and_(ok, f)
            out = []
            for s, old, nv in zip(state, cur, new_vals):
                out.append(nv if _is_rng(s) else pt.switch(ok, nv, old).astype(old.dtype))
            reported = pt.switch(ok, step_loss, np.nan).astype("float64")
            flags = pt.stack([pt.and_(f, alive) for f in finite]) if finite else pt.zeros(0, dtype="bool")
            return [*out, ok, reported, flags]

        n_steps = pt.iscalar("K")
        length = n_steps if static_k is None else static_k
        init = [*state, pt.constant(np.bool_(True))]
        results = pytensor.scan(
            one_step,
            outputs_info=init + [None, None],
            n_steps=length,
            return_updates=False,
        )
        finals = results[: len(state)]
        losses, flags = results[-2], results[-1]
        fn_updates = {s: (r if _is_rng(s) else r[-1]) for s, r in zip(state, finals)}
        mode = get_mode(backend, for_scan=True)
        inputs = [n_steps] if static_k is None else []
        with warnings.catch_warnings():
            # JAX keeps its own copy of each generator and advances it between calls: expected
            warnings.filterwarnings("ignore", message="The RandomType SharedVariables")
            fn = pytensor.function(inputs, [losses, flags], updates=fn_updates, mode=mode, on_unused_input="ignore")
        return fn if static_k is None else (lambda k: fn())

    @property
    def fixed_length(self) -> bool:
        """Whether each loop length is a separate compile (JAX)."""
        return fixed_length_loops(resolve_backend(self.backend))

    def chunk_sizes(self, k: int) -> int:
        """Largest loop length <= k that the backend runs without a new compile."""
        if not self.fixed_length:
            return k
        # JAX: lengths 1000, 100, 10, 1 only - one compile each, a 10 000-step fit needs one
        return min(1000, 10 ** int(np.floor(np.log10(max(k, 1)))))

    def run(self, k: int):
        """Run ``k`` steps; returns (losses, names of non-finite params at the first bad step)."""
        backend = resolve_backend(self.backend)
        losses, flags = self._compiled(backend, int(k))(int(k))
        if fixed_length_loops(backend):  # JAX leaves read-only buffers that Numba cannot take
            for s in self.state:
                if not _is_rng(s):
                    s.set_value(np.array(s.get_value()), borrow=True)
            losses, flags = np.asarray(losses), np.asarray(flags)
        bad = ~np.isfinite(losses)
        if not bad.any():
            return losses, None
        j = int(np.argmax(bad))
        names = [p.name for p, f in zip(self.params, flags[j]) if not f]
        return losses[:j], names or ["loss"]

    def snapshot(self) -> list:
        return [s.get_value(borrow=False) for s in self.state]

    def restore(self, values) -> None:
        for s, v in zip(self.state, values):
            s.set_value(v, borrow=False)
