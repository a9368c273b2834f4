"""Helpers shared by the Gaussian-process classes: the jitter, the base class, and evaluating a
GP's expressions at a point of the model (``predict``).

Example
-------
>>> import numpy as np
>>> from symvi.gp.util import stabilize
>>> stabilize(np.zeros((2, 2)), 1e-3).eval()
array([[0.001, 0.   ],
       [0.   , 0.001]])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.traversal import ancestors
from pytensor.graph.replace import graph_replace
from pytensor.tensor.linalg import cholesky, solve_triangular

from symvi.gp import cov as _cov
from symvi.gp import mean as _mean
from symvi.model import modelcontext
from symvi.pytensorf import ONE_SHOT_MODE, compile_fn

__all__ = ["JITTER_DEFAULT", "stabilize", "Base", "replace_with_values", "plot_gp_dist"]

JITTER_DEFAULT = 1e-6


def stabilize(K, jitter: float = JITTER_DEFAULT):
    """``K + jitter * I``: a small diagonal shift that keeps a Cholesky factorisation possible."""
    K = pt.as_tensor_variable(K)
    return K + jitter * pt.eye(K.shape[0], dtype=K.dtype)


def chol(K):
    """Lower Cholesky factor (NaN, not an exception, when ``K`` is not positive definite)."""
    return cholesky(K, lower=True, on_error="nan")


def solve_lower(L, b):
    return solve_triangular(L, b, lower=True)


def as_inputs(X, who: str):
    """``X`` as a 2-d float tensor (a 1-d array is a column: one input dimension)."""
    if isinstance(X, (list, tuple, np.ndarray)):
        X = np.asarray(X, dtype="float64")
        if X.ndim == 1:
            X = X[:, None]
    X = pt.as_tensor_variable(X)
    if X.ndim != 2:
        raise ValueError(f"{who}: X must be 2-d (n points x input dimensions), got {X.ndim}-d")
    return X


def n_points(X):
    """Number of rows of ``X``: an int when known at build time."""
    n = X.type.shape[0]
    return int(n) if n is not None else X.shape[0]


class Base:
    """What every GP implementation shares: a mean function, a kernel, and ``+`` (the sum of
    two independent GPs is a GP with the summed mean and kernel)."""

    def __init__(self, *, mean_func=None, cov_func=None):
        mean_func = _mean.Zero() if mean_func is None else mean_func
        cov_func = _cov.Constant(0.0) if cov_func is None else cov_func
        if not isinstance(mean_func, _mean.Mean):
            raise TypeError(f"{type(self).__name__}: mean_func must be a pm.gp.mean function, got {type(mean_func).__name__}")
        if not isinstance(cov_func, _cov.Covariance):
            raise TypeError(f"{type(self).__name__}: cov_func must be a pm.gp.cov kernel, got {type(cov_func).__name__}")
        self.mean_func, self.cov_func = mean_func, cov_func

    def __add__(self, other):
        if type(other) is not type(self):
            raise TypeError(f"{type(self).__name__} + {type(other).__name__}: only GPs of the same class add")
        return type(self)(mean_func=self.mean_func + other.mean_func, cov_func=self.cov_func + other.cov_func)

    def _need(self, attr: str, method: str):
        if not hasattr(self, attr):
            raise ValueError(f"{type(self).__name__}.conditional/predict: call {method} first (or pass given=...)")
        return getattr(self, attr)


def replace_with_values(outs: Sequence, replacements: Mapping | None = None, model=None) -> list:
    """Evaluate ``outs`` (expressions of the model's random variables) with each random variable
    set to ``replacements[name]`` (constrained values, e.g. a ``find_MAP`` result or one draw).

    >>> import symvi as pm
    >>> with pm.Model() as m:
    ...     s = pm.HalfNormal("s", 1.0)
    ...     [v] = replace_with_values([2 * s], {"s": 1.5})
    >>> float(v)
    3.0
    """
    model = modelcontext(model, who="gp.predict")
    outs = [pt.as_tensor_variable(o) for o in outs]
    used = set(ancestors(outs))
    rvs = [rv for rv in model.free_RVs if rv in used]
    if not rvs:
        return [o.eval() for o in outs]
    replacements = dict(replacements or {})
    missing = [rv.name for rv in rvs if rv.name not in replacements]
    if missing:
        raise ValueError(f"gp.predict: point must give values of {', '.join(missing)} (got {sorted(replacements) or 'none'})")
    stand_ins = {rv: rv.type() for rv in rvs}
    graphs = graph_replace(outs, stand_ins, strict=False)
    # one evaluation of a graph new each call: no Numba compile (the Python linker)
    fn = compile_fn(list(stand_ins.values()), graphs, mode=ONE_SHOT_MODE, on_unused_input="ignore")
    values = [np.asarray(replacements[rv.name], dtype=rv.type.dtype).reshape(np.shape(replacements[rv.name])) for rv in rvs]
    return [np.asarray(v) for v in fn(*values)]


def plot_gp_dist(ax, samples: np.ndarray, x: np.ndarray, plot_samples: bool = True, palette: str = "Reds",
                 fill_alpha: float = 0.8, samples_alpha: float = 0.1, fill_kwargs: dict | None = None,
                 samples_kwargs: dict | None = None, n_lines: int = 30, random_seed=None):
    """Draw the distribution of 1-d GP draws on matplotlib axes ``ax``: nested central bands
    (from the 2% to the 98% interval, darker towards the outside) and, with ``plot_samples``,
    ``n_lines`` of the draws themselves.  ``samples`` is (draws, len(x)).

    >>> import numpy as np, matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> ax = plot_gp_dist(plt.gca(), np.random.default_rng(0).normal(size=(50, 4)), np.arange(4.0))
    >>> len(ax.collections) > 0
    True
    """
    import matplotlib.pyplot as plt

    samples = np.asarray(samples, dtype="float64")
    x = np.asarray(x).ravel()
    if samples.ndim != 2 or samples.shape[1] != x.size:
        raise ValueError(f"plot_gp_dist: samples must be (draws, {x.size}) for {x.size} x values, got {samples.shape}")
    if np.isnan(samples).any():
        import warnings

        warnings.warn("plot_gp_dist: samples contain NaN; the bands will have gaps", UserWarning, stacklevel=2)
    cmap = plt.get_cmap(palette)
    levels = np.linspace(51, 99, 40)
    for p in levels[::-1]:  # widest band first, narrower ones painted over it
        shade = (p - levels[0]) / (levels[-1] - levels[0])
        hi, lo = np.percentile(samples, [p, 100 - p], axis=0)
        ax.fill_between(x, hi, lo, color=cmap(shade), alpha=fill_alpha, **(fill_kwargs or {}))
    if plot_samples:
        pick = np.random.default_rng(random_seed).integers(0, samples.shape[0], n_lines)
        ax.plot(x, samples[pick].T, color=cmap(0.9), lw=1, alpha=samples_alpha, **(samples_kwargs or {}))
    return ax
