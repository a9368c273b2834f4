"""Differential-evolution Metropolis steps (PyMC's ``pm.DEMetropolis`` and ``pm.DEMetropolisZ``).

Both propose ``x + lamb * (a - b) + scaling * proposal_dist(S)``, where ``a - b`` is the
difference of two distinct points that carry the target's scale and correlation:

* :class:`DEMetropolisZ` takes ``a`` and ``b`` from its own chain's past (ter Braak & Vrugt
  2008), so each chain runs on its own.  At the end of warm-up the oldest
  ``tune_drop_fraction`` of that history is dropped, so unconverged warm-up points stop
  informing the jumps.
* :class:`DEMetropolis` takes them from the current points of two *other* chains (ter Braak
  2006).  ``pm.sample`` then runs all chains in lockstep (:func:`run_population`): each
  iteration updates chain 0, 1, ... in turn, each seeing the others' latest points.  It
  needs ``chains >= 3``.

``lamb`` defaults to ``2.38 / sqrt(2 d)`` (``d``: the number of elements the step updates),
optimal for Gaussian targets.  During warm-up ``tune="scaling"`` (default) or ``"lambda"``
adapts that factor every ``tune_interval`` steps towards acceptance rates of 0.2-0.5;
``tune=None`` keeps both fixed.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     x = pm.Normal("x", 0.0, 1.0, shape=2)
...     idata = pm.sample(100, tune=200, step=pm.DEMetropolisZ(), chains=1, random_seed=1, progressbar=False)
>>> dict(idata.posterior["x"].sizes)
{'chain': 1, 'draw': 100, 'x_dim_0': 2}
"""

from __future__ import annotations

import copy
import numbers
import warnings

import numpy as np

from symvi.mcmc.proposals import check_proposal_dist, make_proposal
from symvi.mcmc.steps import _Step, _tuned_scale

__all__ = ["DEMetropolis", "DEMetropolisZ", "run_population"]


class _DEBase(_Step):
    """Shared settings, checks and tuning of the two differential-evolution steps."""

    population = False

    def __init__(
        self, vars=None, S=None, proposal_dist=None, lamb=None, scaling=0.001, tune="scaling", tune_interval: int = 100, model=None
    ):
        name = type(self).__name__
        check_proposal_dist(name, proposal_dist)
        if tune not in (None, "scaling", "lambda"):
            raise ValueError(f"{name}: tune must be 'scaling', 'lambda' or None, got {tune!r}")
        if lamb is not None and not (isinstance(lamb, numbers.Real) and np.isfinite(lamb) and lamb > 0):
            raise ValueError(f"{name}: lamb must be a positive number or None, got {lamb!r}")
        sc = np.atleast_1d(np.asarray(scaling, dtype=float))
        if sc.size == 0 or not np.all(np.isfinite(sc)) or np.any(sc <= 0):
            raise ValueError(f"{name}: scaling must be positive (a number or an array), got {scaling!r}")
        if not isinstance(tune_interval, numbers.Integral) or tune_interval < 1:
            raise ValueError(f"{name}: tune_interval must be a positive integer, got {tune_interval!r}")
        super().__init__(vars, model)
        self.S = None if S is None else np.asarray(S, dtype=float)
        self.proposal_dist = proposal_dist
        self.lamb = None if lamb is None else float(lamb)
        self.scaling = sc
        self.tune = tune
        self.tune_interval = int(tune_interval)

    def default_vars(self, model):
        return [rv for rv in model.free_RVs if not rv.dtype.startswith(("int", "uint", "bool"))]

    def bind(self, target, rvs):
        super().bind(target, rvs)
        name = type(self).__name__
        if self.discrete.any():
            raise TypeError(f"{name}: {[rv.name for rv in rvs if rv.dtype.startswith(('int', 'uint', 'bool'))]} are discrete")
        D = len(self.idx)
        if self.S is not None and self.S.ndim == 2 and self.S.shape != (D, D):
            raise ValueError(f"{name}: S must be a ({D}, {D}) covariance matrix for its {D} elements, got shape {self.S.shape}")
        S = np.ones(D) if self.S is None else (self.S if self.S.ndim == 2 else np.broadcast_to(np.ravel(self.S), (D,)).copy())
        self._proposal = make_proposal(name, self.proposal_dist, S)
        self._scaling = np.broadcast_to(self.scaling, (D,)).copy() if self.scaling.size > 1 else self.scaling.copy()
        self._lamb = 2.38 / np.sqrt(2 * D) if self.lamb is None else self.lamb
        self._accepted = self._tried = 0

    def _propose(self, x, rng, tuning, a, b):
        """Tune if due, then the proposed block ``x + lamb (a - b) + epsilon`` (no DE term if a is None)."""
        if tuning and self.tune and self._tried == self.tune_interval:
            rate = self._accepted / self._tried
            if self.tune == "scaling":
                self._scaling = _tuned_scale(self._scaling, rate)
            else:
                self._lamb = _tuned_scale(self._lamb, rate)
            self._accepted = self._tried = 0
        epsilon = self._scaling * np.asarray(self._proposal(rng=rng), dtype=float)
        q = x[self.idx] + epsilon
        if a is not None:
            q += self._lamb * (a - b)
        return q

    def _accept(self, x, lp, q, target, rng):
        new = x.copy()
        new[self.idx] = q
        return self._metropolis(x, lp, new, target, rng)


class DEMetropolisZ(_DEBase):
    """Differential-evolution Metropolis from the chain's own history (PyMC's ``pm.DEMetropolisZ``).

    ``S``, ``proposal_dist``: the noise ``epsilon`` (default normal, scale 1) times
    ``scaling`` (default 0.001); ``lamb``: the factor of the history difference;
    ``tune``: ``"scaling"``, ``"lambda"`` or None; ``tune_drop_fraction``: the share of the
    history dropped when warm-up ends.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1, shape=3)
    ...     step = pm.DEMetropolisZ(tune="lambda", tune_drop_fraction=0.5)
    >>> step.tune, step.tune_drop_fraction
    ('lambda', 0.5)
    """

    def __init__(
        self,
        vars=None,
        S=None,
        proposal_dist=None,
        lamb=None,
        scaling=0.001,
        tune="scaling",
        tune_interval: int = 100,
        tune_drop_fraction: float = 0.9,
        model=None,
    ):
        if not (isinstance(tune_drop_fraction, numbers.Real) and 0 <= tune_drop_fraction <= 1):
            raise ValueError(f"DEMetropolisZ: tune_drop_fraction must lie in [0, 1], got {tune_drop_fraction!r}")
        super().__init__(vars, S, proposal_dist, lamb, scaling, tune, tune_interval, model)
        self.tune_drop_fraction = float(tune_drop_fraction)

    def bind(self, target, rvs):
        super().bind(target, rvs)
        self._history: list[np.ndarray] = []
        self._was_tuning = True

    def step(self, x, lp, target, rng, tuning):
        if self._was_tuning and not tuning:  # warm-up over: forget its oldest points
            self._history = self._history[int(self.tune_drop_fraction * len(self._history)) :]
            self._was_tuning = False
        n = len(self._history)
        a = b = None
        if n > 1:
            i = rng.integers(n)
            j = rng.integers(n - 1)
            j += j >= i
            a, b = self._history[i], self._history[j]
        q = self._propose(x, rng, tuning, a, b)
        x, lp, accepted = self._accept(x, lp, q, target, rng)
        self._history.append(x[self.idx].copy())
        return x, lp, accepted


class DEMetropolis(_DEBase):
    """Population differential-evolution Metropolis (PyMC's ``pm.DEMetropolis``): the jump is
    ``lamb`` times the difference of two other chains' current points, plus ``scaling *
    proposal_dist(S)`` noise.  ``pm.sample`` runs the chains together; it needs ``chains >= 3``
    (PyMC recommends at least twice the number of dimensions).

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1, shape=2)
    ...     step = pm.DEMetropolis(lamb=0.5, tune=None)
    >>> step.lamb
    0.5
    """

    population = True

    def step(self, x, lp, target, rng, tuning):
        others = self._others
        i, j = rng.choice(len(others), 2, replace=False)
        points = self._points
        q = self._propose(x, rng, tuning, points[others[i], self.idx], points[others[j], self.idx])
        return self._accept(x, lp, q, target, rng)


def run_population(target, plan, draws: int, tune: int, children, start: np.ndarray):
    """Run all chains in lockstep (for DEMetropolis): every iteration steps chain 0, 1, ... in
    turn, each with its own copy of the steps and its own random stream.  Returns
    (flat draws (chains, draws, D), stats) like :func:`symvi.mcmc.steps.run_steps`."""
    chains = len(children)
    if chains < 3:
        raise ValueError(f"sample: DEMetropolis proposes from two other chains, so it needs chains >= 3, got chains={chains}")
    plans = [[copy.copy(s) for s, _ in plan] for _ in range(chains)]
    for steps in plans:
        for s, (_, rvs) in zip(steps, plan):
            s.bind(target, rvs)
            if s.population:
                s._points = None
    rngs = [np.random.default_rng(child) for child in children]
    points = np.tile(start, (chains, 1))
    lps = np.full(chains, target.logp(start))
    flat = np.empty((chains, draws, target.layout.size))
    lp_out = np.empty((chains, draws))
    acc_out = np.empty((chains, draws))
    kept = 0
    try:
        for t in range(tune + draws):
            for c in range(chains):
                accepted = []
                x, lp = points[c].copy(), lps[c]
                for s in plans[c]:
                    if s.population:
                        s._points, s._others = points, [k for k in range(chains) if k != c]
                    x, lp, a = s.step(x, lp, target, rngs[c], t < tune)
                    accepted.append(a)
                points[c], lps[c] = x, lp
                if t >= tune:
                    flat[c, t - tune], lp_out[c, t - tune], acc_out[c, t - tune] = x, lp, np.mean(accepted)
            if t >= tune:
                kept = t - tune + 1
    except KeyboardInterrupt:
        if kept == 0:
            raise
        warnings.warn(f"sample: interrupted; returning the first {kept} draws of every chain", stacklevel=3)
        return flat[:, :kept], {"lp": lp_out[:, :kept], "accept": acc_out[:, :kept]}
    return flat, {"lp": lp_out, "accept": acc_out}
