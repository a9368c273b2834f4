"""Where a default fit starts: the Gaussian of one Pathfinder path, and the scales it gives.

Gradient descent from ``model.initial_point()`` with a unit-scale q is slow wherever the
posterior is badly scaled: on kidiq (an unscaled predictor: a ridge with correlation near
-1, posterior sds 0.06 and 6) Adam's steps, about the learning rate in every coordinate,
drift along the ridge for tens of thousands of steps, and the loss falls so slowly that it
looks converged 4 posterior sds away; on sblrc (posterior sds 0.001) a rate that moves the
approximation at all jitters it by ten posterior sds.

So ``fit`` without ``obj_optimizer`` and without ``start``/``start_sigma`` first runs
single-path Pathfinder (:func:`symvi.variational.pathfinder.single_path`: L-BFGS on the
compiled log density, a few dozen gradient evaluations) from the start point (again from a
jittered start if that is the mode already) and

* starts q at the Gaussian it picks: ``mu`` its mean; for :class:`FullRank` ``L`` its
  Cholesky factor; for :class:`MeanField` the sds of the best mean-field fit to it, ``1 /
  sqrt(diag(H^-1))`` (the reverse-KL optimum for a Gaussian target);
* scales each coordinate's steps by that Gaussian's marginal sd (the default optimizer's
  diagonal preconditioner, :meth:`symvi.variational.adapt.DefaultOptimizer.set_scales`):
  ``mu[i]`` and row ``i`` of ``L`` move by ``rate * sd[i]``, so the searched base rate is
  in posterior units whatever the model's.

ADVI then only polishes: it finds the ELBO optimum of its own family near the Pathfinder
Gaussian.  Where the path fails (non-finite log density along it) the fit starts as before.
Minibatch models (:func:`symvi.Minibatch`) are warm-started on a fixed random subsample of
their rows (all rows where they hold at most ``SUBSAMPLE_ELEMENTS`` elements), scaled to
``total_size`` like a batch: its Gaussian has the right scales and a centre within a few
posterior sds, which is what the noisy minibatch steps are slow to find on their own (the
seed notebook's 40 000 x 100 model: q's sds start 100-300x the posterior's).  Models fed by
data streams, or fitted with ``more_replacements``, are not warm-started (their log density
is not a fixed function the path could optimise), nor are other models whose data exceed
``MAX_DATA_ELEMENTS`` elements.

Examples
--------
>>> import numpy as np, symvi as pm
>>> x = np.linspace(100, 140, 50)
>>> y = 3.0 + 0.5 * x + np.random.default_rng(0).normal(0, 1, 50)
>>> with pm.Model():
...     b = pm.Normal("b", 0, 100, shape=2)
...     obs = pm.Normal("y", b[0] + b[1] * x, 1.0, observed=y)
...     inference = pm.ADVI(random_seed=1)
>>> start = warm_start(inference)
>>> bool(np.allclose(inference.approx.mean.eval(), np.linalg.lstsq(np.c_[np.ones(50), x], y, rcond=None)[0], atol=0.5))
True
"""

from __future__ import annotations

import copy

import numpy as np
from scipy.linalg import solve_triangular

from symvi.variational.approximations import FullRank, MeanField

__all__ = ["warm_start", "applies", "subsample_replacements"]

#: L-BFGS iterations of the warm-start path
MAXITER = 1000
#: no warm start where the log density reads an array larger than this: the path's few
#: hundred one-shot evaluations of the full data would cost more than they save (a 40 000 x
#: 100 data set took seconds per evaluation); such fits start as before
MAX_DATA_ELEMENTS = 200_000
#: minibatch models are warm-started on a subsample of at most this many data elements
SUBSAMPLE_ELEMENTS = 20_000
#: log-density evaluations x data elements the path's ELBO estimates may cost: where the data
#: are large, fewer of the path's Gaussians are compared (a 2000 x 100 data set compared 232
#: of them with 10 draws each, one minute of the one-shot evaluator)
ELBO_BUDGET = 20_000_000
#: a path from the start point that stops at once (the start is the mode: no curvature pairs
#: to estimate the covariance from) is run again from the start plus uniform noise in
#: [-JITTER, JITTER] (Pathfinder's and Stan's radius)
JITTER = 2.0


def applies(inference, more_replacements=None) -> bool:
    """Whether a default fit of ``inference`` starts from a Pathfinder Gaussian: ADVI or
    FullRankADVI, no ``start``/``start_sigma``/``more_replacements``, and a deterministic log
    density (a :func:`symvi.Minibatch` draws a new batch at every evaluation, which L-BFGS
    cannot follow)."""
    from symvi.optimize import largest_array
    from symvi.pytensorf import find_rngs

    approx = inference.approx
    if type(approx) not in (MeanField, FullRank) or getattr(approx, "given_start", False) or more_replacements:
        return False
    logp = approx.model.logp()
    if not find_rngs([logp]):
        return largest_array(logp) <= MAX_DATA_ELEMENTS
    return subsample_replacements(approx.model) is not None


def subsample_replacements(model, seed: int = 0) -> dict | None:
    """``{minibatch tensor: fixed rows of its data}`` for a model whose only randomness is
    :func:`symvi.Minibatch` draws (None otherwise): per ``Minibatch`` call one random subset of
    rows (the same rows for its paired arrays), as many as keep the subsample within
    ``SUBSAMPLE_ELEMENTS`` elements (at least ``batch_size``; all rows where they fit).

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> X = pm.Minibatch(np.zeros((10_000, 50)), batch_size=100, random_seed=0)
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu", 0, 1, shape=50)
    ...     obs = pm.Normal("obs", mu, 1, observed=X, total_size=(10_000, 50))
    >>> [v.eval().shape for v in subsample_replacements(m).values()]
    [(400, 50)]
    """
    from pytensor.graph.traversal import ancestors

    from symvi.minibatch import minibatch_info
    from symvi.pytensorf import find_rngs

    logp = model.logp()
    groups: dict = {}  # index draw -> [(minibatch tensor, info)]
    for var in ancestors([logp]):
        info = minibatch_info(var)
        if info is not None:
            groups.setdefault(info.indices, []).append((var, info))
    if not groups or set(find_rngs([logp])) - {members[0][1].rng for members in groups.values()}:
        return None  # no minibatch, or other random inputs (data streams, ...)
    gen = np.random.default_rng(seed)
    repl = {}
    for members in groups.values():
        values = [info.source.get_value(borrow=True) for _, info in members]
        n_rows = values[0].shape[0]
        row_elements = max(1, sum(int(np.prod(v.shape[1:])) for v in values))
        m = min(n_rows, max(members[0][1].batch_size, SUBSAMPLE_ELEMENTS // row_elements))
        rows = np.arange(n_rows) if m == n_rows else np.sort(gen.choice(n_rows, size=m, replace=False))
        for var, info in members:
            repl[var] = info.source[rows]
    return repl


def warm_start(inference):
    """Move ``inference.approx`` to a single-path Pathfinder Gaussian and set its default
    optimizer's step scales; returns the :class:`~symvi.variational.pathfinder.PathResult`
    (None where the path failed: nothing is changed then).
    """
    from symvi.optimize import FlatLogp
    from symvi.pytensorf import find_rngs
    from symvi.variational.pathfinder import single_path

    approx = inference.approx
    point = approx.layout.unravel(approx._start)
    repl = subsample_replacements(approx.model) if find_rngs([approx.model.logp()]) else None
    if repl:  # a minibatch model: fixed rows stand in for the batches
        f = FlatLogp(approx.model, point, one_shot=True, replacements=repl)
    else:
        f = FlatLogp.cached(approx.model, point, one_shot=True)  # a few dozen calls: compile cheaply
    seed = int(copy.deepcopy(approx.rng.get_value()).integers(2**63))  # the fit's own stream stays untouched
    gen = np.random.default_rng(seed)
    try:
        with np.errstate(all="ignore"):
            cap = max(8, int(ELBO_BUDGET // (10 * f.data_elements)))
            path = single_path(f, approx._start.copy(), gen, maxiter=MAXITER, max_candidates=cap)
            if path.iterations < 2:  # started at the mode: no curvature seen; start nearby
                x0 = approx._start + gen.uniform(-JITTER, JITTER, size=approx._start.shape)
                path = single_path(f, x0, gen, maxiter=MAXITER, max_candidates=cap)
    except FloatingPointError:
        return None
    chol = path.chol
    sd = np.sqrt(np.sum(chol**2, axis=1))
    if not (np.all(np.isfinite(path.mu)) and np.all(np.isfinite(chol)) and np.all(sd > 0)):
        return None
    if isinstance(approx, FullRank):
        tril = np.tril_indices(approx.ndim)
        approx.set_params({"mu": path.mu, "L_tril": chol[tril]})
        scales = {"mu": sd, "L_tril": sd[tril[0]]}
    else:
        inv = solve_triangular(chol, np.eye(len(sd)), lower=True)  # chol^-1: precision = inv^T inv
        mf_sd = 1.0 / np.sqrt(np.sum(inv**2, axis=0))
        approx.set_params({"mu": path.mu, "rho": mf_sd + np.log(-np.expm1(-mf_sd))})  # softplus^-1
        scales = {"mu": sd}
    inference.default_optimizer()
    inference._adaptive.set_scales(scales)
    return path
