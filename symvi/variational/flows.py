"""Normalizing-flow approximations: a base Gaussian pushed through invertible layers.

``q`` is the law of ``z = A(f_K(... f_1(eps)))`` with ``eps ~ N(0, I)``, ``f_k`` the layers of
:mod:`symvi.variational.flow_layers` (planar, radial, inverse-autoregressive affine, loc,
scale) and ``A`` the affine map of a base
:class:`~symvi.variational.approximations.MeanField` (``mu + sd * y``) or
:class:`~symvi.variational.approximations.FullRank` (``mu + L y``) Gaussian over the model's
unconstrained vector.  The layers act on standardised points, so their identity start,
their bounded IAF scales and their initial weights mean the same whatever the model's units;
with no layers q is the base Gaussian.  Its density is
``log q(z) = log q0(z) - log N(y) + log N(eps) - sum_k log |det df_k|`` (``y = A^-1(z)``), and
its entropy ``H[q0] + E[sum_k log |det df_k|]``, so the ELBO is estimated on the same draws as
``E[log p(z)] + H[q0] + E[sum_k log |det|]``; everything is one PyTensor graph, compiled into
the same K-step loop as ADVI (no Python per step).

The layers are given as PyMC 3's NFVI formula: names joined by ``-``, each optionally
``*count``, applied left to right: ``"planar*10"``, ``"radial*4"``, ``"scale-loc-iaf*4"``.
A leading ``scale`` / ``loc`` (PyMC 3's flows from a standard normal) is the base Gaussian's
own scale and location here, so ``"scale-loc-iaf*4"`` is a MeanField base and four IAF layers
and ``"scale-loc"`` alone is MeanField; ``base="fullrank"`` starts from a FullRank Gaussian.

``q``'s mean, sd and covariance have no closed form: ``mean``, ``std``, ``cov`` and
``entropy()`` are estimates over a fixed set of ``MOMENT_DRAWS`` base draws (deterministic
functions of the parameters); ``logq`` at any point inverts the layers (exact up to rounding;
planar layers by bisection, IAF layers in ``D`` passes).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     v = pm.Normal("v", 0, 3)
...     x = pm.Normal("x", 0, pm.math.exp(v / 2))
...     approx = pm.fit(200, method="nfvi", inf_kwargs={"flow": "scale-loc-iaf*2"}, random_seed=0, progressbar=False)
>>> sorted(approx.shared_params)[:3]
['flow0_iaf_W1', 'flow0_iaf_W2', 'flow0_iaf_b1']
"""

from __future__ import annotations

import re

import numpy as np
import pytensor
import pytensor.tensor as pt

from symvi.pytensorf import seed_sequence
from symvi.variational import objective as objectives
from symvi.variational.approximations import LOG_2PI, Approximation, FullRank, MeanField
from symvi.variational.checkpoint import checkpointable
from symvi.variational.flow_layers import IAF, LAYERS
from symvi.variational.inference import KLqp, register_method

__all__ = ["NFVI", "NormalizingFlow", "parse_flow"]

#: base draws behind ``mean``, ``std``, ``cov`` and ``entropy()`` (fewer where D is large)
MOMENT_DRAWS = 1000
_BASES = {"meanfield": MeanField, "mf": MeanField, "fullrank": FullRank, "fr": FullRank}
_TOKEN = re.compile(r"^([a-z]+)(?:\*(\d+))?$")


def parse_flow(formula: str) -> list[str]:
    """The layer names of a flow formula, in the order they are applied.

    Leading ``scale`` / ``loc`` tokens (the base Gaussian's own) are dropped.

    Examples
    --------
    >>> parse_flow("scale-loc-iaf*2-planar")
    ['iaf', 'iaf', 'planar']
    """
    if not isinstance(formula, str) or not formula.strip():
        raise ValueError(f"flow must be a formula such as 'planar*10' or 'scale-loc-iaf*4', got {formula!r}")
    layers = []
    for token in formula.strip().lower().split("-"):
        match = _TOKEN.match(token.strip())
        if match is None or match.group(1) not in LAYERS:
            raise ValueError(
                f"flow {formula!r}: cannot read {token!r}; expected NAME or NAME*COUNT with NAME one of {sorted(LAYERS)}"
            )
        count = 1 if match.group(2) is None else int(match.group(2))
        if count < 1:
            raise ValueError(f"flow {formula!r}: the count of {match.group(1)!r} must be >= 1, got {count}")
        layers += [match.group(1)] * count
    while layers and layers[0] in ("scale", "loc"):
        layers.pop(0)
    return layers


@checkpointable
class NormalizingFlow(Approximation):
    """A base Gaussian over the unconstrained vector followed by invertible layers.

    ``shared_params`` are the base's (``mu``, ``rho`` or ``L_tril``) and each layer's
    (``flow{i}_{kind}_{name}``).

    Parameters
    ----------
    flow : the layers as a formula (see the module docstring), e.g. ``"scale-loc-iaf*4"``.
    base : ``"meanfield"`` (default) or ``"fullrank"``: the Gaussian the layers transform.
    hidden : hidden units of each IAF layer's network (default ``max(2 D, 8)``).
    model, start, start_sigma, random_seed : as for
        :class:`~symvi.variational.approximations.MeanField` (``random_seed`` also seeds the
        small random initial weights; every layer starts at the identity or next to it).

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1, shape=2)
    ...     q = pm.NormalizingFlow("planar*2", random_seed=0)
    >>> [layer.kind for layer in q.layers], sorted(q.shared_params)[:4]
    (['planar', 'planar'], ['flow0_planar_b', 'flow0_planar_u', 'flow0_planar_w', 'flow1_planar_b'])
    """

    def __init__(self, flow: str = "scale-loc-iaf*2", base: str = "meanfield", hidden: int | None = None,
                 model=None, start=None, start_sigma=None, random_seed=None):
        names = parse_flow(flow)
        if not isinstance(base, str) or base.lower() not in _BASES:
            raise ValueError(f"base must be 'meanfield' or 'fullrank', got {base!r}")
        if hidden is not None and (isinstance(hidden, bool) or not isinstance(hidden, int | np.integer) or hidden < 1):
            raise ValueError(f"hidden (IAF hidden units) must be a positive integer, got {hidden!r}")
        super().__init__(model, start, random_seed)
        self.flow, self.base_kind, self.hidden = flow, base.lower(), hidden
        self.base = _BASES[self.base_kind](model=self.model, start=start, start_sigma=start_sigma, random_seed=random_seed)
        self.given_start = self.base.given_start
        gen = np.random.default_rng(seed_sequence(random_seed).spawn(2)[1])
        D = self.ndim
        self.layers = []
        n_iaf = 0
        for i, name in enumerate(names):
            if name == "iaf":
                layer = IAF(D, i, gen, self.dtype, hidden=hidden, order=n_iaf)
                n_iaf += 1
            else:
                layer = LAYERS[name](D, i, gen, self.dtype)
            self.layers.append(layer)
        self.shared_params = dict(self.base.shared_params)
        for layer in self.layers:
            self.shared_params.update(layer.params)
        n = int(min(MOMENT_DRAWS, max(100, 2_000_000 // max(D, 1))))
        noise = np.random.default_rng(seed_sequence(random_seed).spawn(3)[2]).standard_normal((n, D))
        self._moment_noise = pytensor.shared(noise.astype(self.dtype), name="flow_moment_noise")

    def _checkpoint_kwargs(self) -> dict:
        return {"flow": self.flow, "base": self.base_kind, "hidden": self.hidden}

    # ---- the map
    def push(self, eps):
        """``(y, sum of log |det|)``: standard-normal points ``eps`` (..., D) through every layer
        (``base.draw_from_noise(y)`` is then a draw of q)."""
        logdet = pt.zeros(eps.shape[:-1], dtype=self.dtype)
        y = eps
        for layer in self.layers:
            y, ld = layer.forward(y)
            logdet = logdet + ld
        return y, logdet

    def pull(self, y):
        """``eps`` with ``push(eps)[0] == y`` (the layers inverted, last first)."""
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y

    def _standardize(self, z):
        """``A^-1(z)``: q draws back to the base's standard-normal coordinates."""
        r = z - self.base.mean
        if isinstance(self.base, FullRank):
            L = self.base.L
            return pt.linalg.solve_triangular(L, r.T, lower=True).T if r.ndim > 1 else pt.linalg.solve_triangular(L, r, lower=True)
        return r / self.base.std

    def draw_from_noise(self, eps):
        return self.base.draw_from_noise(self.push(eps)[0])

    def draws_and_entropy(self, n_mc: int):
        """``(draws, entropy estimate)`` on the same ``n_mc`` draws (the ELBO's estimator):
        draws of shape (D,) for ``n_mc == 1``, else (n_mc, D)."""
        shape = (self.ndim,) if n_mc == 1 else (n_mc, self.ndim)
        eps = pt.random.normal(0.0, 1.0, size=shape, rng=self.rng, dtype=self.dtype)
        y, logdet = self.push(eps)
        return self.base.draw_from_noise(y), self.base.entropy() + pt.mean(logdet)

    def _moment_draws(self):
        return self.draw_from_noise(self._moment_noise)

    # ---- interface
    def entropy(self):
        """``H[q0] + E[log |det|]`` over the fixed moment draws (an estimate)."""
        return self.base.entropy() + pt.mean(self.push(self._moment_noise)[1])

    def logq(self, z):
        y = self._standardize(z)
        eps = self.pull(y)
        log_std_normal = lambda u: -0.5 * pt.sum(u**2, axis=-1) - 0.5 * self.ndim * LOG_2PI
        return self.base.logq(z) - log_std_normal(y) + log_std_normal(eps) - self.push(eps)[1]

    @property
    def mean(self):
        return pt.mean(self._moment_draws(), axis=0)

    @property
    def std(self):
        return pt.std(self._moment_draws(), axis=0)

    @property
    def cov(self):
        z = self._moment_draws()
        d = z - pt.mean(z, axis=0)
        return d.T @ d / (z.shape[0] - 1).astype(self.dtype)


@checkpointable
class NFVI(KLqp):
    """Normalizing-flow VI: ``KLqp(NormalizingFlow(flow, ...))`` (PyMC 3's ``NFVI``).

    Also ``fit(method="nfvi", inf_kwargs={"flow": "scale-loc-iaf*4"})``.

    ``anneal_steps`` > 0 anneals the target: the first ``anneal_steps`` steps (counted over
    every ``fit`` / ``refine`` of this object) follow the gradient of the ELBO against
    ``p^beta``, with ``beta`` rising geometrically from ``anneal_start`` to 1, so q first
    spreads over a flattened posterior and its layers can split it between separated modes
    before the target sharpens (plain ``KL(q || p)`` from a unimodal start keeps one mode).
    ``beta`` is computed inside the compiled loop from a step counter it carries (no recompile,
    no Python per step); ``hist`` records the true negative ELBO throughout.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1, shape=3)
    ...     inference = pm.NFVI("radial*2", random_seed=1)
    >>> [layer.kind for layer in inference.approx.layers]
    ['radial', 'radial']
    """

    def __init__(self, flow: str = "scale-loc-iaf*2", model=None, random_seed=None, start=None, start_sigma=None,
                 base: str = "meanfield", hidden: int | None = None, anneal_steps: int = 0, anneal_start: float = 0.05):
        if isinstance(anneal_steps, bool) or not isinstance(anneal_steps, int | np.integer) or anneal_steps < 0:
            raise ValueError(f"anneal_steps must be a non-negative integer (0: no annealing), got {anneal_steps!r}")
        if isinstance(anneal_start, bool) or not isinstance(anneal_start, int | float | np.floating) or not 0 < anneal_start <= 1:
            raise ValueError(f"anneal_start (the first beta of the annealing) must be in (0, 1], got {anneal_start!r}")
        super().__init__(NormalizingFlow(flow, base=base, hidden=hidden, model=model, start=start,
                                         start_sigma=start_sigma, random_seed=random_seed))
        self.anneal_steps, self.anneal_start = int(anneal_steps), float(anneal_start)
        dtype = self.approx.dtype
        #: steps taken under annealing so far (carried by the compiled loop; saved in checkpoints)
        self.anneal_counter = pytensor.shared(np.asarray(0.0, dtype=dtype), name="anneal_counter")
        self._counter_update = {self.anneal_counter: self.anneal_counter + np.asarray(1.0, dtype=dtype)}
        # the schedule's settings are inputs of the compiled loop, not constants in it (one
        # compiled structure serves every schedule: tests and sweeps reuse it)
        self._anneal_len = pytensor.shared(np.asarray(max(self.anneal_steps, 1), dtype=dtype), name="anneal_steps")
        self._anneal_log_start = pytensor.shared(np.asarray(np.log(self.anneal_start), dtype=dtype), name="anneal_log_start")

    def set_anneal(self, anneal_steps: int, anneal_start: float = 0.05, restart: bool = True) -> None:
        """Change the annealing schedule of an annealed fit without recompiling its loop
        (``restart``: count the steps from 0 again)."""
        if not self.anneal_steps:
            raise ValueError("set_anneal needs an NFVI built with anneal_steps > 0 (its loop has no annealing)")
        if isinstance(anneal_steps, bool) or not isinstance(anneal_steps, int | np.integer) or anneal_steps < 1:
            raise ValueError(f"anneal_steps must be a positive integer, got {anneal_steps!r}")
        if not 0 < float(anneal_start) <= 1:
            raise ValueError(f"anneal_start must be in (0, 1], got {anneal_start!r}")
        self.anneal_steps, self.anneal_start = int(anneal_steps), float(anneal_start)
        self._anneal_len.set_value(np.asarray(self.anneal_steps, dtype=self.approx.dtype))
        self._anneal_log_start.set_value(np.asarray(np.log(self.anneal_start), dtype=self.approx.dtype))
        if restart:
            self.anneal_counter.set_value(np.asarray(0.0, dtype=self.approx.dtype))

    def _checkpoint_kwargs(self) -> dict:
        return {**self.approx._checkpoint_kwargs(), "anneal_steps": self.anneal_steps, "anneal_start": self.anneal_start}

    #: the search's larger rates train the layers' networks for its 100 trial steps, then diverge
    candidate_rates = (0.01, 0.003)

    def beta(self):
        """The annealing exponent of the next step, a graph: ``anneal_start ** (1 - t / anneal_steps)``
        for ``t < anneal_steps`` steps taken, then 1."""
        frac = pt.minimum(self.anneal_counter / self._anneal_len, 1.0)
        return pt.exp((1.0 - frac) * self._anneal_log_start)

    def loss_and_grads(self, n_mc, more_replacements):
        if not self.anneal_steps:
            return super().loss_and_grads(n_mc, more_replacements)
        loss, tempered = objectives.tempered_kl_loss(self.approx, self.beta(), n_mc, more_replacements)
        params = list(self.approx.shared_params.values())
        return loss, params, pt.grad(tempered, params)

    def step_function(self, *args, more_updates=None, **kwargs):
        if self.anneal_steps:  # the counter joins the loop's carried state (the same dict each time: one cache key)
            if more_updates:
                more_updates = {**more_updates, **self._counter_update}
            else:
                more_updates = self._counter_update
        return super().step_function(*args, more_updates=more_updates, **kwargs)


register_method("nfvi", NFVI)
