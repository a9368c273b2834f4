"""Optimising the log density: a compiled log density + gradient over the flat unconstrained
vector (:class:`FlatLogp`, shared with Pathfinder) and :func:`find_MAP`.

``find_MAP`` follows PyMC 5: it optimises on the unconstrained space (every transformed
variable is free of bounds there) but *without* the transforms' log-Jacobian terms
(``jacobian=False``), so the point it returns is the mode of the posterior density of the
constrained variables, the usual meaning of "maximum a posteriori".  ``jacobian=True`` gives
the mode of the density on the unconstrained space instead (the centre ADVI and Laplace
approximations on that space aim for).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     mu = pm.Normal("mu", 0, 10)
...     y = pm.Normal("y", mu, 1, observed=np.array([0.9, 1.1]))
...     mp = pm.find_MAP(progressbar=False, backend="c")
>>> round(float(mp["mu"]), 4)  # (0.9 + 1.1) / (2 + 1/100)
0.995
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant
from pytensor.graph.traversal import ancestors
from pytensor.graph.replace import graph_replace, vectorize_graph

from symvi.backends import chosen_backend, get_mode
from symvi.logprob import param_constants
from symvi.model import modelcontext
from symvi.pytensorf import ONE_SHOT_MODE, compile_fn

__all__ = ["FlatLogp", "find_MAP", "largest_array", "maximise"]

_GRADIENT_FREE = {"nelder-mead", "powell", "cobyla", "cobyqa"}
#: memory for one batched call's intermediates (see ``FlatLogp.max_rows``)
BATCH_BYTES = 2**28
#: elements of one intermediate (rows x data) that stay in the CPU caches (see ``FlatLogp.max_rows``)
CACHE_ELEMENTS = 2**17


def largest_array(graph) -> int:
    """Elements of the largest constant or shared array ``graph`` depends on (the data, usually).

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> largest_array(pt.sum(pytensor.shared(np.zeros((30, 4))) * pt.constant(np.ones(4))))
    120
    """
    sizes = [1]
    for c in ancestors([graph]):
        if isinstance(c, Constant):
            sizes.append(int(np.size(c.data)))
        elif isinstance(c, SharedVariable) and isinstance(c.get_value(borrow=True), np.ndarray):
            sizes.append(int(c.get_value(borrow=True).size))
    return max(sizes)


class FlatLogp:
    """``log p(theta)`` and its gradient over the model's flat unconstrained vector, compiled once.

    The compiled function takes a stack of points ``Z`` (B, D) and returns ``(logp (B,),
    grad (B, D))``: one compile serves both the optimiser (B = 1) and batched evaluations over
    draws (the graph is vectorised with ``vectorize_graph``).  ``n_points`` counts the points
    evaluated so far.

    Parameters
    ----------
    model : the model (default: the context model).
    point : a point (value-variable keyed dict) that fixes the layout's shapes.
    jacobian : include the transforms' log-Jacobian terms.
    backend : "numba", "c" or "jax" (default from :func:`symvi.backend`; none chosen: the quick
        C VM of :mod:`symvi.variational.tiers`, which compiles in about a second).
    replacements : ``{variable: expression}`` applied to the log density first (e.g. fixed rows
        standing in for minibatches).
    one_shot : compile with :data:`symvi.pytensorf.ONE_SHOT_MODE` instead (Python linker, no
        graph rewrites): compiles in well under a second whatever the caches hold, each call
        costs milliseconds - for a few dozen calls once per fit (the warm start of default
        fits, :mod:`symvi.variational.warmstart`; measured on the busy 2-core machine: 2-9 s
        for the whole warm-start path against 6-62 s with the quick VM).

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 1.0, 2.0)
    >>> f = FlatLogp(m, backend="c")
    >>> lp, g = f(np.array([[1.0], [3.0]]))
    >>> g.ravel().tolist(), f.n_points
    ([0.0, -0.5], 2)
    """

    def __init__(
        self,
        model=None,
        point: dict | None = None,
        jacobian: bool = True,
        backend: str | None = None,
        one_shot: bool = False,
        replacements: dict | None = None,
    ):
        from symvi.variational.approximations import Layout

        self.model = modelcontext(model, who="FlatLogp")
        self.layout = Layout(self.model, point if point is not None else self.model.initial_point())
        theta = pt.vector("theta", dtype="float64")
        logp = self.model.logp(jacobian=jacobian)
        if replacements:  # e.g. fixed rows for the minibatches (warm start of minibatch fits)
            logp = graph_replace(logp, replacements, strict=False)
        logp = graph_replace(logp, self.layout.replacements(theta), strict=False)
        grad = pt.grad(logp, theta)
        Z = pt.matrix("Z", dtype="float64")
        outs = vectorize_graph([logp, grad], {theta: Z})
        self._one_shot, self._backend = one_shot, backend
        self._fn = self._compile([Z], outs)
        self._Z, self._logp_only, self._logp_fn = Z, outs[0], None
        self.n_points = 0
        # a batch of B points makes intermediates of B times the model's largest array (the
        # observed data, say): at most BATCH_BYTES of them per compiled call
        self.data_elements = max(largest_array(logp), self.layout.size)  # the largest array read
        # ... and calls of at most CACHE_ELEMENTS per intermediate (64 rows at least): a model
        # with a thousand data points evaluated 4000 points per call at 78 us a point (logp
        # alone; 830 with the gradient), 128 per call at 50 (64-86): each intermediate of the
        # vectorised graph then stays in the cache for the next operation
        cache_rows = max(64, CACHE_ELEMENTS // self.data_elements)
        self.max_rows = max(1, min(int(BATCH_BYTES // (8 * self.data_elements)), cache_rows))

    def _compile(self, inputs, outputs):
        if self._one_shot:
            fn = compile_fn(inputs, outputs, mode=ONE_SHOT_MODE)
        elif chosen_backend(self._backend) is None:  # a few hundred calls: the quick VM, no Numba compile
            from symvi.variational import tiers

            with tiers.cached_c_only():
                fn = compile_fn(inputs, outputs, mode=tiers.quick_mode(), lift=param_constants(self.model))
        else:
            # prior values as inputs: a model whose priors changed value reuses the compiled code
            fn = compile_fn(inputs, outputs, mode=get_mode(self._backend), lift=param_constants(self.model))
        # every call passes a C-contiguous float64 (B, D) array: skip PyTensor's input checks
        # (~0.1 ms of the ~0.3 ms an L-BFGS evaluation costs on a small model)
        fn.trust_input = True
        return fn

    @classmethod
    def cached(cls, model, point: dict, jacobian: bool = True, backend: str | None = None, one_shot: bool = False) -> FlatLogp:
        """A :class:`FlatLogp` of ``model`` kept on the model and reused by later calls with the
        same layout, ``jacobian`` and backend (repeated fits then skip the compile)."""
        terms = tuple(id(v) for v in model.value_vars + model.observed_RVs + list(model.potentials))
        mode = "one_shot" if one_shot else chosen_backend(backend)
        key = (terms, tuple((n, np.shape(v)) for n, v in sorted(point.items())), bool(jacobian), mode)
        cache = model.__dict__.setdefault("_flat_logp_cache", {})
        if key not in cache:
            cache[key] = cls(model, point, jacobian=jacobian, backend=backend, one_shot=one_shot)
        return cache[key]

    @property
    def ndim(self) -> int:
        return self.layout.size

    def __call__(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(logp (B,), grad (B, D))`` at the rows of ``Z`` (B, D), at most ``max_rows``
        rows per compiled call."""
        Z = np.ascontiguousarray(Z, dtype="float64")
        self.n_points += Z.shape[0]
        if Z.shape[0] <= self.max_rows:
            lp, g = self._fn(Z)
            return np.asarray(lp, dtype="float64"), np.asarray(g, dtype="float64")
        parts = [self._fn(Z[i : i + self.max_rows]) for i in range(0, Z.shape[0], self.max_rows)]
        return (
            np.concatenate([np.asarray(lp, dtype="float64") for lp, _ in parts]),
            np.concatenate([np.asarray(g, dtype="float64") for _, g in parts]),
        )

    def logp(self, Z: np.ndarray) -> np.ndarray:
        """``logp (B,)`` alone at the rows of ``Z`` (B, D): no gradient, so about half the work
        of a call (a second function, compiled on first use, in the same mode)."""
        if self._logp_fn is None:
            self._logp_fn = self._compile([self._Z], self._logp_only)
        Z = np.ascontiguousarray(Z, dtype="float64")
        self.n_points += Z.shape[0]
        return np.concatenate(
            [np.asarray(self._logp_fn(Z[i : i + self.max_rows]), dtype="float64").reshape(-1) for i in range(0, max(Z.shape[0], 1), self.max_rows)]
        )

    def value_and_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """``(logp, grad)`` at one flat point ``x`` (D,)."""
        lp, g = self(np.asarray(x, dtype="float64")[None, :])
        return float(lp[0]), g[0]

    def negative(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """``(-logp, -grad)`` at ``x``; non-finite values become +inf / zeros (a step the
        line search rejects)."""
        lp, g = self.value_and_grad(x)
        if not np.isfinite(lp) or not np.all(np.isfinite(g)):
            return np.inf, np.zeros_like(g)
        return -lp, -g


def constrained_values(model, layout, flat: np.ndarray, include_transformed: bool = True) -> dict:
    """``{name: value}`` of every free variable (constrained), Deterministic and, with
    ``include_transformed``, every transformed value variable, at the flat point ``flat``."""
    theta = pt.vector("theta", dtype="float64")
    nodes = list(model.free_RVs) + list(model.deterministics)
    outs = layout.expression(nodes, theta)
    values = compile_fn([theta], outs, mode=ONE_SHOT_MODE)(np.asarray(flat, dtype="float64"))
    result = {}
    if include_transformed:
        for rv in model.free_RVs:
            if model.rvs_to_transforms[rv] is not None:
                name = model.rvs_to_values[rv].name
                result[name] = layout.unravel(flat)[name].copy()
    for node, val in zip(nodes, values):
        result[node.name] = np.asarray(val)
    return result


def maximise(f: FlatLogp, x0: np.ndarray, method: str = "L-BFGS-B", maxeval: int = 5000, **kwargs):
    """Maximise the log density ``f`` from the flat point ``x0`` with :func:`scipy.optimize.minimize`
    (``method``; gradient-free methods get the value only); returns scipy's ``OptimizeResult``
    (``x`` the flat maximiser, ``fun`` = ``-log p`` there).  ``maxeval`` caps the
    evaluations (iterations, for methods without an evaluation cap); ``kwargs`` go to ``minimize``.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 1.0, 2.0)
    >>> f = FlatLogp(m, backend="c")
    >>> round(float(maximise(f, np.zeros(1)).x[0]), 4)
    1.0
    """
    from scipy.optimize import minimize

    gradient_free = str(method).lower() in _GRADIENT_FREE
    options = dict(kwargs.pop("options", None) or {})
    if str(method).lower() == "l-bfgs-b":
        options.setdefault("maxfun", int(maxeval))
        options.setdefault("maxiter", int(maxeval))
    elif gradient_free and str(method).lower() in ("nelder-mead", "powell"):
        options.setdefault("maxfev", int(maxeval))
    else:
        options.setdefault("maxiter", int(maxeval))
    if gradient_free:
        return minimize(lambda x: f.negative(x)[0], x0, method=method, options=options, **kwargs)
    return minimize(f.negative, x0, jac=True, method=method, options=options, **kwargs)


def find_MAP(
    start: dict | None = None,
    model=None,
    method: str = "L-BFGS-B",
    maxeval: int = 5000,
    return_raw: bool = False,
    include_transformed: bool = True,
    progressbar: bool = True,
    jacobian: bool = False,
    backend: str | None = None,
    **kwargs,
):
    """Maximum a posteriori point of the model (PyMC's ``find_MAP``).

    Minimises ``-log p`` over the flat unconstrained vector with
    :func:`scipy.optimize.minimize` (``method``, default L-BFGS-B) using the compiled log
    density and its gradient, starting from ``model.initial_point()`` updated with ``start``
    (random-variable names take constrained values, value-variable names unconstrained ones).
    As in PyMC the transforms' Jacobian is left out (``jacobian=False``): the result is the
    mode of the posterior of the constrained variables.  ``jacobian=True`` optimises the
    density of the unconstrained variables instead.

    Returns ``{name: value}`` for every free variable (constrained), every Deterministic and,
    with ``include_transformed``, every transformed value variable (``sigma_log__``); with
    ``return_raw`` also scipy's ``OptimizeResult``.  ``maxeval`` caps the log-density
    evaluations; other keyword arguments go to ``scipy.optimize.minimize``.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     lam = pm.Gamma("lam", alpha=2.0, beta=1.0)
    ...     y = pm.Poisson("y", lam, observed=np.array([3, 5]))
    ...     mp = pm.find_MAP(progressbar=False, backend="c")
    >>> round(float(mp["lam"]), 4)  # Gamma(10, 3) posterior: mode (10 - 1) / 3
    3.0
    """
    from symvi.variational.approximations import _check_model, apply_start

    model = modelcontext(model, who="find_MAP()")
    _check_model(model)
    if isinstance(maxeval, bool) or not isinstance(maxeval, int | np.integer) or maxeval < 1:
        raise ValueError(f"find_MAP: maxeval must be a positive integer, got {maxeval!r}")
    point = model.initial_point()
    if start:
        point = apply_start(model, point, start)
    f = FlatLogp.cached(model, point, jacobian=jacobian, backend=backend)
    first = f.n_points
    x0 = f.layout.ravel(point)
    lp0, _ = f.value_and_grad(x0)
    if not np.isfinite(lp0):
        raise ValueError(f"find_MAP: the log density is {lp0} at the start point; pass start= with a point inside the support")
    result = maximise(f, x0, method, maxeval, **kwargs)
    values = constrained_values(model, f.layout, result.x, include_transformed=include_transformed)
    if progressbar:
        state = "converged" if result.success else f"stopped: {result.message}"
        print(f"find_MAP: logp = {-float(result.fun):.6g} after {f.n_points - first} evaluations ({state})")
    return (values, result) if return_raw else values
