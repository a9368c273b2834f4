"""Gradient-free step methods for ``pm.sample(step=...)``: Metropolis, Slice and Gibbs updates
of discrete variables, combined with :class:`CompoundStep` (PyMC's ``pm.Metropolis``,
``pm.Slice``, ``pm.BinaryGibbsMetropolis``, ``pm.CategoricalGibbsMetropolis``,
``pm.CompoundStep``).

Every step updates a block of the flat unconstrained vector of the model's value variables
(the layout ``pm.fit`` uses); the log density over that vector is compiled once per model.
A model with discrete latent variables that ``pm.sample`` gets without ``step=`` is given a
Gibbs step for each Bernoulli / Categorical variable, Metropolis for the other discrete ones
and Slice for the continuous ones (PyMC would use NUTS there; nutpie cannot share a chain).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     mu = pm.Normal("mu", 0.0, 10.0)
...     y = pm.Normal("y", mu, 1.0, observed=np.array([0.5, 1.5]))
...     idata = pm.sample(200, tune=200, step=pm.Metropolis(), chains=1, random_seed=1, progressbar=False)
>>> dict(idata.posterior["mu"].sizes)
{'chain': 1, 'draw': 200}
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from symvi.distributions.base import dist_info

__all__ = ["Metropolis", "BinaryMetropolis", "Slice", "BinaryGibbsMetropolis", "CategoricalGibbsMetropolis", "CompoundStep", "assign_steps"]


class _Target:
    """The model's log density over the flat unconstrained vector, and where each variable is."""

    def __init__(self, model, mode=None):
        from pytensor.graph.replace import graph_replace

        from symvi.logprob import model_logp
        from symvi.pytensorf import compile_fn
        from symvi.variational.approximations import Layout

        self.model = model
        self.start = model.initial_point()
        self.layout = Layout(model, self.start)
        theta = self.layout.vector()
        lp = graph_replace(model_logp(model), self.layout.replacements(theta), strict=False)
        # symvi's compiled mode by default: ~30 us a call on the coal-mining model, where the
        # Python linker took 37 ms (rewritten graph) - step methods call it thousands of times
        self.fn = compile_fn([theta], lp, mode=mode)
        self.slices = {rv: sl for rv, sl in zip(model.free_RVs, self.layout.slices)}

    def logp(self, x: np.ndarray) -> float:
        value = float(self.fn(x))
        return value if np.isfinite(value) else -np.inf

    def indices(self, rvs) -> np.ndarray:
        return np.concatenate([np.arange(self.slices[rv].start, self.slices[rv].stop) for rv in rvs] or [np.zeros(0, int)])


class _Step:
    """A step over some free variables (all of the model's when ``vars`` is None)."""

    def __init__(self, vars=None, model=None):
        self.model = model
        self.vars = None if vars is None else ([vars] if not isinstance(vars, Sequence) or isinstance(vars, str) else list(vars))

    def resolve(self, model) -> list:
        """The free random variables this step updates."""
        if self.model is not None and self.model is not model:
            raise ValueError(f"{type(self).__name__}: the step was made for another model")
        if self.vars is None:
            return self.default_vars(model)
        values_to_rvs = {model.rvs_to_values[rv]: rv for rv in model.free_RVs}
        out = []
        for v in self.vars:
            rv = model[v] if isinstance(v, str) else v
            rv = values_to_rvs.get(rv, rv)
            if rv not in model.free_RVs:
                raise ValueError(f"{type(self).__name__}: vars entry {getattr(rv, 'name', rv)!r} is not a free variable of the model")
            out.append(rv)
        return out

    def default_vars(self, model) -> list:
        return list(model.free_RVs)

    def steps(self) -> list:
        return [self]

    def _retune(self, tuning: bool) -> None:
        """During warm-up, every ``tune_interval`` tries: rescale the proposal by the acceptance rate."""
        if tuning and self.tune and self._tried == self.tune_interval:
            self._scale = _tuned_scale(self._scale, self._accepted / self._tried)
            self._accepted = self._tried = 0

    def _metropolis(self, x, lp, new, target, rng):
        """Accept ``new`` with probability ``min(1, p(new) / p(x))`` (a symmetric proposal);
        returns (point, its log density, accepted 1/0) and counts the try for tuning."""
        new_lp = target.logp(new)
        self._tried += 1
        if np.log(rng.uniform()) < new_lp - lp:
            self._accepted += 1
            return new, new_lp, 1.0
        return x, lp, 0.0

    def bind(self, target: _Target, rvs: list) -> None:
        self.idx = target.indices(rvs)
        self.discrete = np.array(
            [rv.dtype.startswith(("int", "uint", "bool")) for rv in rvs for _ in range(target.slices[rv].stop - target.slices[rv].start)],
            dtype=bool,
        )


def _tuned_scale(scale: float, acc_rate: float) -> float:
    """Grow the proposal when most moves are accepted, shrink it when few are."""
    for bound, factor in ((0.001, 0.1), (0.05, 0.5), (0.2, 0.9)):
        if acc_rate < bound:
            return scale * factor
    for bound, factor in ((0.95, 10.0), (0.75, 2.0), (0.5, 1.1)):
        if acc_rate > bound:
            return scale * factor
    return scale


class Metropolis(_Step):
    """Random-walk Metropolis on a block of variables (PyMC's ``pm.Metropolis``).

    Proposals add ``scaling * proposal_dist(S)`` draws to the block (``S``: a proposal scale per
    element, default 1, or a covariance matrix; ``proposal_dist``: a class of
    :mod:`symvi.mcmc.proposals`, default normal), rounded for discrete variables.  With ``tune`` the scaling is
    adapted every ``tune_interval`` warm-up steps towards acceptance rates of 0.2-0.5.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     step = pm.Metropolis([x], scaling=0.5)
    >>> step.scaling
    0.5
    """

    def __init__(self, vars=None, S=None, scaling: float = 1.0, tune: bool = True, tune_interval: int = 100, model=None, **kwargs):
        from symvi.mcmc.proposals import check_proposal_dist

        proposal_dist = kwargs.pop("proposal_dist", None)
        check_proposal_dist("Metropolis", proposal_dist)
        if kwargs:
            raise TypeError(f"Metropolis: unknown arguments {sorted(kwargs)}")
        if not (np.isfinite(scaling) and scaling > 0):
            raise ValueError(f"Metropolis: scaling must be a positive number, got {scaling!r}")
        if int(tune_interval) < 1:
            raise ValueError(f"Metropolis: tune_interval must be a positive integer, got {tune_interval!r}")
        super().__init__(vars, model)
        self.S = None if S is None else np.asarray(S, dtype=float)
        self.proposal_dist = proposal_dist
        self.scaling = float(scaling)
        self.tune = bool(tune)
        self.tune_interval = int(tune_interval)

    def bind(self, target, rvs):
        super().bind(target, rvs)
        from symvi.mcmc.proposals import make_proposal

        D = len(self.idx)
        if self.S is not None and self.S.ndim == 2:
            if self.S.shape != (D, D):
                raise ValueError(f"Metropolis: S must be a ({D}, {D}) covariance matrix for its {D} elements, got shape {self.S.shape}")
            S = self.S
        else:
            S = np.ones(D) if self.S is None else np.broadcast_to(np.ravel(self.S), (D,)).copy()
        self._proposal = make_proposal("Metropolis", self.proposal_dist, S)
        self._scale = self.scaling
        self._accepted = self._tried = 0

    def step(self, x, lp, target, rng, tuning):
        self._retune(tuning)
        delta = self._scale * np.asarray(self._proposal(rng=rng), dtype=float)
        delta[self.discrete] = np.round(delta[self.discrete])
        new = x.copy()
        new[self.idx] += delta
        return self._metropolis(x, lp, new, target, rng)


class Slice(_Step):
    """Univariate slice sampling with stepping out, element by element (PyMC's ``pm.Slice``).

    ``w``: the initial interval width, adapted during warm-up to the mean width of the
    intervals found; ``iter_limit``: the most steps out and shrinks per element.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     step = pm.Slice(w=2.0)
    >>> step.w
    2.0
    """

    def __init__(self, vars=None, w: float = 1.0, tune: bool = True, iter_limit: int = 1000, model=None):
        if not (np.isfinite(w) and w > 0):
            raise ValueError(f"Slice: w must be a positive number, got {w!r}")
        super().__init__(vars, model)
        self.w = float(w)
        self.tune = bool(tune)
        self.iter_limit = int(iter_limit)

    def default_vars(self, model):
        return [rv for rv in model.free_RVs if not rv.dtype.startswith(("int", "uint", "bool"))]

    def bind(self, target, rvs):
        super().bind(target, rvs)
        if self.discrete.any():
            raise TypeError(f"Slice: {[rv.name for rv in rvs if rv.dtype.startswith(('int', 'uint'))]} are discrete; use Metropolis")
        self._w = np.full(len(self.idx), self.w)
        self._n = 0

    def step(self, x, lp, target, rng, tuning):
        x = x.copy()
        for k, i in enumerate(self.idx):
            level = lp - rng.exponential()
            width = self._w[k]
            left = x[i] - width * rng.uniform()
            right = left + width
            probe = x.copy()
            for _ in range(self.iter_limit):
                probe[i] = left
                if target.logp(probe) <= level:
                    break
                left -= width
            for _ in range(self.iter_limit):
                probe[i] = right
                if target.logp(probe) <= level:
                    break
                right += width
            for _ in range(self.iter_limit):
                probe[i] = rng.uniform(left, right)
                new_lp = target.logp(probe)
                if new_lp > level:
                    break
                if probe[i] < x[i]:
                    left = probe[i]
                else:
                    right = probe[i]
            else:
                raise RuntimeError(f"Slice: no point of the slice found in {self.iter_limit} shrinks (element {i})")
            if tuning and self.tune:
                self._w[k] += (right - left - self._w[k]) / (self._n + 1)
            x, lp = probe, new_lp
        if tuning and self.tune:
            self._n += 1
        return x, lp, 1.0


class _Gibbs(_Step):
    """Each element drawn from its exact conditional over a finite set of values."""

    def step(self, x, lp, target, rng, tuning):
        x = x.copy()
        for k, i in enumerate(self.idx):
            lps = np.empty(self._k[k])
            for v in range(self._k[k]):
                x[i] = v
                lps[v] = target.logp(x)
            p = np.exp(lps - lps.max())
            x[i] = v = rng.choice(len(p), p=p / p.sum())
            lp = lps[v]
        return x, lp, 1.0


class BinaryGibbsMetropolis(_Gibbs):
    """Gibbs updates of 0/1 variables (Bernoulli), element by element (PyMC's
    ``pm.BinaryGibbsMetropolis``; here each element is drawn from its exact conditional).

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     z = pm.Bernoulli("z", 0.3)
    ...     step = pm.BinaryGibbsMetropolis([z])
    >>> len(step.vars)
    1
    """

    def default_vars(self, model):
        return [rv for rv in model.free_RVs if dist_info(rv).cls.__name__ == "Bernoulli"]

    def bind(self, target, rvs):
        super().bind(target, rvs)
        self._k = np.full(len(self.idx), 2)


class BinaryMetropolis(_Step):
    """Metropolis on 0/1 variables (PyMC's ``pm.BinaryMetropolis``): each element flips with
    probability ``1 - 0.5**scaling`` and the whole flip is accepted or rejected at once.
    With ``tune`` the scaling is adapted during warm-up like Metropolis's.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     z = pm.Bernoulli("z", 0.3, shape=4)
    ...     step = pm.BinaryMetropolis([z], scaling=2.0)
    >>> step.scaling
    2.0
    """

    def __init__(self, vars=None, scaling: float = 1.0, tune: bool = True, tune_interval: int = 100, model=None):
        if not (np.isfinite(scaling) and scaling > 0):
            raise ValueError(f"BinaryMetropolis: scaling must be a positive number, got {scaling!r}")
        if int(tune_interval) < 1:
            raise ValueError(f"BinaryMetropolis: tune_interval must be a positive integer, got {tune_interval!r}")
        super().__init__(vars, model)
        self.scaling, self.tune, self.tune_interval = float(scaling), bool(tune), int(tune_interval)

    def default_vars(self, model):
        return [rv for rv in model.free_RVs if dist_info(rv).cls.__name__ == "Bernoulli"]

    def bind(self, target, rvs):
        super().bind(target, rvs)
        if not self.discrete.all():
            raise TypeError(f"BinaryMetropolis: {[rv.name for rv in rvs if not rv.dtype.startswith(('int', 'uint', 'bool'))]} are not 0/1")
        self._scale = self.scaling
        self._accepted = self._tried = 0

    def step(self, x, lp, target, rng, tuning):
        self._retune(tuning)
        flip = rng.uniform(size=len(self.idx)) < 1.0 - 0.5**self._scale
        new = x.copy()
        new[self.idx[flip]] = 1.0 - new[self.idx[flip]]
        return self._metropolis(x, lp, new, target, rng)


class CategoricalGibbsMetropolis(_Gibbs):
    """Gibbs updates of Categorical variables, element by element, over their k categories
    (PyMC's ``pm.CategoricalGibbsMetropolis``).

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     c = pm.Categorical("c", np.array([0.2, 0.3, 0.5]))
    ...     step = pm.CategoricalGibbsMetropolis([c])
    >>> len(step.vars)
    1
    """

    def default_vars(self, model):
        return [rv for rv in model.free_RVs if dist_info(rv).cls.__name__ == "Categorical"]

    def bind(self, target, rvs):
        super().bind(target, rvs)
        ks = []
        for rv in rvs:
            info = dist_info(rv)
            if info.cls.__name__ != "Categorical":
                raise TypeError(f"CategoricalGibbsMetropolis: {rv.name!r} is a {info.cls.__name__}, not a Categorical")
            p = info.params.get("p")
            n_cat = p.type.shape[-1] if p is not None else None
            if n_cat is None:
                raise ValueError(f"CategoricalGibbsMetropolis: the number of categories of {rv.name!r} is not known when built")
            size = target.slices[rv].stop - target.slices[rv].start
            ks += [int(n_cat)] * size
        self._k = np.array(ks, dtype=int)


class CompoundStep:
    """Several steps applied in turn, each to its own variables (PyMC's ``pm.CompoundStep``;
    ``pm.sample(step=[s1, s2])`` makes one).

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     z = pm.Bernoulli("z", 0.5)
    ...     step = pm.CompoundStep([pm.Slice([x]), pm.BinaryGibbsMetropolis([z])])
    >>> len(step.methods)
    2
    """

    def __init__(self, methods: Sequence):
        methods = list(methods)
        flat = []
        for m in methods:
            if not isinstance(m, _Step | CompoundStep):
                raise TypeError(f"CompoundStep: methods must be step methods, got {type(m).__name__}")
            flat += m.steps()
        self.methods = flat

    def steps(self) -> list:
        return list(self.methods)


def assign_steps(model, step=None) -> list:
    """The steps to run, each with its variables: the given ones (a step, a list of steps or a
    CompoundStep), and defaults for the free variables they leave out."""
    if step is None:
        given = []
    elif isinstance(step, _Step | CompoundStep):
        given = step.steps()
    elif isinstance(step, list | tuple):
        given = CompoundStep(step).methods
    else:
        raise TypeError(
            f"sample: step must be a step method (pm.Metropolis(), pm.Slice(), ...) or a list of them, got {type(step).__name__}"
        )
    plan, taken = [], set()
    for s in given:
        rvs = s.resolve(model)
        twice = [rv.name for rv in rvs if rv in taken]
        if twice:
            raise ValueError(f"sample: {twice} are updated by more than one step")
        taken |= set(rvs)
        plan.append((s, rvs))
    rest = [rv for rv in model.free_RVs if rv not in taken]
    groups: dict[str, list] = {}
    for rv in rest:
        name = dist_info(rv).cls.__name__
        kind = name if name in ("Bernoulli", "Categorical") else ("discrete" if rv.dtype.startswith(("int", "uint")) else "continuous")
        groups.setdefault(kind, []).append(rv)
    defaults = {"Bernoulli": BinaryGibbsMetropolis, "Categorical": CategoricalGibbsMetropolis, "discrete": Metropolis, "continuous": Slice}
    for kind, rvs in groups.items():
        plan.append((defaults[kind](rvs), rvs))
    return plan


def run_steps(model, step, draws: int, tune: int, chains: int, seed: int, mode=None):
    """Run the chains one after another (no progress bar); returns (flat draws (chains, draws, D), stats).
    ``mode``: the compilation mode of the log density (None: symvi's default)."""
    target = _Target(model, mode)
    plan = assign_steps(model, step)
    children = np.random.SeedSequence(seed).spawn(chains)
    start = target.layout.ravel(target.start).astype("float64")
    if not np.isfinite(target.logp(start)):
        raise ValueError("sample: the log density is not finite at the initial point; see model.debug()")
    if any(getattr(s, "population", False) for s, _ in plan):  # DEMetropolis: all chains in lockstep
        from symvi.mcmc.de_steps import run_population

        return run_population(target, plan, draws, tune, children, start)
    flat = np.empty((chains, draws, target.layout.size))
    lp_out = np.empty((chains, draws))
    acc_out = np.empty((chains, draws))
    c = kept = 0
    try:
        for c in range(chains):
            rng = np.random.default_rng(children[c])
            for s, rvs in plan:
                s.bind(target, rvs)
            x, lp = start.copy(), target.logp(start)
            for t in range(tune + draws):
                accepted = []
                for s, _ in plan:
                    x, lp, a = s.step(x, lp, target, rng, t < tune)
                    accepted.append(a)
                if t >= tune:
                    kept = t - tune + 1
                    flat[c, kept - 1], lp_out[c, kept - 1], acc_out[c, kept - 1] = x, lp, np.mean(accepted)
    except KeyboardInterrupt:
        # keep what is done: the finished chains, or the first chain's draws so far
        rows = (slice(0, c), slice(None)) if c > 0 else (slice(0, 1), slice(0, kept))
        if c == 0 and kept == 0:
            raise
        warnings.warn(f"sample: interrupted; returning the {'finished chains' if c else f'first {kept} draws'} only", stacklevel=3)
        return flat[rows], {"lp": lp_out[rows], "accept": acc_out[rows]}
    return flat, {"lp": lp_out, "accept": acc_out}
