"""``pm.sample_smc``: chains of tempered SMC (see :mod:`symvi.smc.kernels`) as InferenceData.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     mu = pm.Normal("mu", 0.0, 1.0)
...     y = pm.Normal("y", mu, 1.0, observed=np.array([0.5, 1.5]))
...     idata = pm.sample_smc(300, chains=2, random_seed=1, progressbar=False)
>>> dict(idata.posterior["mu"].sizes), idata.sample_stats["log_marginal_likelihood"].dims
({'chain': 2, 'draw': 300}, ('chain', 'draw'))
"""

from __future__ import annotations

import logging
import numbers
import sys
import time
from types import SimpleNamespace

import numpy as np

from symvi.context import modelcontext
from symvi.smc.kernels import IMH, SMC_KERNEL

__all__ = ["SMCTrace", "sample_smc"]

_log = logging.getLogger("symvi")


def _chain_rngs(random_seed, chains: int) -> list[np.random.Generator]:
    """One generator per chain: from an int / Generator / None, or a sequence of ``chains`` ints."""
    if isinstance(random_seed, list | tuple | np.ndarray):
        if len(random_seed) != chains:
            raise ValueError(f"sample_smc: random_seed has {len(random_seed)} entries but chains={chains}")
        return [np.random.default_rng(int(s)) for s in random_seed]
    if isinstance(random_seed, np.random.Generator):
        return list(random_seed.spawn(chains))
    if random_seed is not None and (isinstance(random_seed, bool) or not isinstance(random_seed, numbers.Integral)):
        raise TypeError(f"sample_smc: random_seed must be an integer, a sequence of integers, a numpy Generator or None, got {random_seed!r}")
    return [np.random.default_rng(s) for s in np.random.SeedSequence(random_seed).spawn(chains)]


def _start_points(start, chains: int) -> list:
    if start is None or isinstance(start, dict):
        return [start] * chains
    if not isinstance(start, list | tuple) or len(start) != chains:
        raise ValueError(f"sample_smc: start must be a dict or a list of {chains} dicts (one per chain), got {type(start).__name__}")
    return list(start)


def _stats_arrays(per_chain: list[dict], names) -> dict:
    """``{stat: (chains, stages)}`` float arrays; a chain with fewer stages is padded with NaN
    in front, so that the last column is every chain's final stage (``[:, -1]``)."""
    stages = max(len(c[names[0]]) for c in per_chain)
    out = {}
    for name in names:
        arr = np.full((len(per_chain), stages), np.nan)
        for i, c in enumerate(per_chain):
            arr[i, stages - len(c[name]) :] = c[name]
        out[name] = arr
    return out


class SMCTrace(dict):
    """What ``sample_smc(return_inferencedata=False)`` returns, as PyMC's ``MultiTrace``:
    ``{name: (chains * draws, ...) array}`` (chains one after another), ``nchains``,
    ``get_values(name, chains=, combine=)``, ``point(i)``, ``varnames`` and ``report``
    (``log_marginal_likelihood``, ``beta``, acceptance rates: lists per chain of values per
    stage; and the settings ``_n_draws``, ``threshold``, ``_n_tune``, ``_t_sampling`` ...)."""

    def __init__(self, arrays: dict, nchains: int, report: dict):
        super().__init__({k: v.reshape((-1,) + v.shape[2:]) for k, v in arrays.items()})
        self._chains = arrays
        self.nchains = nchains
        self.chains = list(range(nchains))
        self.report = SimpleNamespace(**report)

    @property
    def varnames(self) -> list[str]:
        return list(self.keys())

    def __len__(self) -> int:
        return next(iter(self._chains.values())).shape[1]

    def get_values(self, varname: str, chains=None, combine: bool = True):
        if varname not in self._chains:
            raise KeyError(f"{varname!r} is not among the sampled variables; expected one of {self.varnames}")
        chains = self.chains if chains is None else ([chains] if isinstance(chains, numbers.Integral) else list(chains))
        values = [self._chains[varname][c] for c in chains]
        return np.concatenate(values) if combine else values

    def point(self, idx: int, chain: int | None = None) -> dict:
        chain = self.nchains - 1 if chain is None else chain
        return {k: v[chain, idx] for k, v in self._chains.items()}


def _progress(enabled: bool, chain: int, stage: int, beta: float, done: bool = False) -> None:
    if enabled and done:
        print(file=sys.stderr, flush=True)
    elif enabled:
        print(f"\rSMC chain {chain}: stage {stage}, beta {beta:.4f}", end="", file=sys.stderr, flush=True)


def _convergence_warnings(idata, chains: int) -> None:
    """Log R-hat above 1.01 and bulk ESS below 100 per chain, as PyMC's checks do."""
    import arviz as az

    if chains < 2:
        return
    rhat = az.rhat(idata.posterior)
    worst = max((float(np.nanmax(v.values)) for v in rhat.data_vars.values()), default=np.nan)
    if worst > 1.01:
        _log.warning("sample_smc: the largest R-hat is %.3f (> 1.01): the chains disagree; consider more draws", worst)
    ess = az.ess(idata.posterior)
    low = min((float(np.nanmin(v.values)) for v in ess.data_vars.values()), default=np.nan)
    if low < 100 * chains:
        _log.warning("sample_smc: the smallest effective sample size is %.0f (< 100 per chain)", low)


def sample_smc(
    draws: int = 2000,
    kernel=IMH,
    *,
    start=None,
    model=None,
    random_seed=None,
    chains: int | None = None,
    cores: int | None = None,
    compute_convergence_checks: bool = True,
    return_inferencedata: bool = True,
    idata_kwargs: dict | None = None,
    progressbar: bool = True,
    compile_kwargs: dict | None = None,
    **kernel_kwargs,
):
    """Sequential Monte Carlo from the prior to the posterior (PyMC's ``pm.sample_smc``).

    Each chain tempers ``draws`` prior particles through ``p(theta) p(y | theta)^beta`` from
    ``beta = 0`` to 1, resampling and moving them with the ``kernel``'s Metropolis steps
    (:mod:`symvi.smc.kernels`); the last population is the chain's posterior sample, and the
    product of the mean incremental weights estimates the marginal likelihood.

    Parameters
    ----------
    draws : particles per chain (its posterior draws), at least 2.
    kernel : :class:`symvi.smc.IMH` (default; independent Gaussian proposals) or
        :class:`symvi.smc.MH` (tuned random walk) - the class, or a subclass of ``SMC_KERNEL``.
    start : initial particles ``{name: (draws, ...) array}`` (or a list of them, one per
        chain) instead of prior draws; value-variable names take unconstrained values.  As in
        PyMC, a variable with a fixed ``initval`` starts at it in every particle (a warning
        says so).  Discrete variables move on the real line and are rounded (as PyMC).
    model : the model (default: the one in context).
    random_seed : an integer, a sequence of one integer per chain, a numpy Generator or None.
    chains : number of chains (default: ``max(2, cores)`` with cores the CPUs, at most 4).
    cores : accepted for PyMC compatibility and ignored: chains run one after another in this
        process (each stage is already one vectorised density call over all particles).
        Ctrl-C after the first chain returns the finished chains (with a warning).
    compute_convergence_checks : log R-hat / ESS warnings (PyMC's checks).
    return_inferencedata : False returns an :class:`SMCTrace` (PyMC's ``MultiTrace`` role,
        with the statistics in ``.report``).
    idata_kwargs : ``{"log_likelihood": True}`` adds the pointwise log likelihood group.
    progressbar : print each chain's stage and ``beta`` to stderr.
    compile_kwargs : ``{"mode": ...}`` for compiling the densities.
    kernel_kwargs : ``threshold`` (0.5: the ESS fraction kept per stage; larger, more
        stages), ``correlation_threshold`` (0.01: lower, more Metropolis steps per stage),
        ``resampling`` (``"systematic"`` or ``"multinomial"``).  PyMC's ``blas_cores``,
        ``progressbar_theme`` and ``mp_ctx`` are accepted and ignored.

    Returns
    -------
    arviz.InferenceData: ``posterior`` (chain, draw, ...) with free variables and
    Deterministics; ``sample_stats`` with one entry per stage (the ``draw`` axis):
    ``log_marginal_likelihood`` (NaN except at the last stage, as PyMC), ``beta``, and
    ``accept_rate`` (IMH) or ``mean_accept_rate`` / ``mean_proposal_scale`` (MH); a chain
    with fewer stages than another is padded with NaN in front, so ``[:, -1]`` is always the
    final stage (PyMC stores ragged chains as object arrays).  ``sample_stats.attrs`` holds
    ``_n_draws``, ``threshold``, ``correlation_threshold``, ``_n_tune`` (Metropolis steps in
    the last stage) and ``_t_sampling``.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 0.0, 1.0)
    ...     y = pm.Normal("y", mu, 1.0, observed=np.array([1.0]))
    ...     idata = pm.sample_smc(1000, chains=1, random_seed=0, progressbar=False)
    >>> round(float(idata.posterior["mu"].mean()), 1)  # exact: 0.5
    0.5
    """
    from symvi.mcmc.trace import draws_to_idata

    model = modelcontext(model, who="sample_smc()")
    if not (isinstance(kernel, type) and issubclass(kernel, SMC_KERNEL)):
        raise TypeError(f"sample_smc: kernel must be pm.smc.IMH, pm.smc.MH or another SMC_KERNEL subclass, got {kernel!r}")
    if isinstance(draws, bool) or not isinstance(draws, numbers.Integral) or draws < 2:
        raise ValueError(f"sample_smc: draws must be an integer >= 2 (particles per chain), got {draws!r}")
    if cores is not None and (isinstance(cores, bool) or not isinstance(cores, numbers.Integral) or cores < 1):
        raise ValueError(f"sample_smc: cores must be a positive integer, got {cores!r}")
    if chains is None:
        import os

        available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        chains = max(2, cores or min(4, available))
    if isinstance(chains, bool) or not isinstance(chains, numbers.Integral) or chains < 1:
        raise ValueError(f"sample_smc: chains must be a positive integer, got {chains!r}")
    chains = int(chains)
    for ignored in ("blas_cores", "progressbar_theme", "mp_ctx"):
        kernel_kwargs.pop(ignored, None)
    idata_kwargs = dict(idata_kwargs or {})
    log_likelihood = bool(idata_kwargs.pop("log_likelihood", False))
    if idata_kwargs:
        raise TypeError(f"sample_smc: idata_kwargs takes only 'log_likelihood', got {sorted(idata_kwargs)}")
    rngs = _chain_rngs(random_seed, chains)
    starts = _start_points(start, chains)
    smc = kernel(draws=int(draws), model=model, compile_kwargs=compile_kwargs, **kernel_kwargs)

    started = time.perf_counter()
    flat, stats, n_tune = [], [], []
    try:
        for chain, (rng, chain_start) in enumerate(zip(rngs, starts)):
            smc.initialize(chain_start, rng)
            chain_stats = {name: [] for name in smc.stats_names}
            stage = 0
            while smc.beta < 1:
                smc.update_beta_and_weights()
                for name, value in smc.step().items():
                    chain_stats[name].append(value)
                stage += 1
                _progress(progressbar, chain, stage, smc.beta)
            _progress(progressbar, chain, stage, smc.beta, done=True)
            particles = smc.particles.copy()
            disc = smc.density.discrete
            particles[:, disc] = np.round(particles[:, disc])
            flat.append(particles)
            stats.append(chain_stats)
            n_tune.append(smc.n_steps)
    except KeyboardInterrupt:
        if not flat:
            raise
        import warnings

        warnings.warn(f"sample_smc: interrupted; returning the {len(flat)} finished chain(s) of {chains}", UserWarning, stacklevel=2)
        chains = len(flat)
    settings = {**smc.sample_settings(), "_n_tune": n_tune[-1], "_t_sampling": time.perf_counter() - started}
    arrays = _stats_arrays(stats, list(smc.stats_names))
    idata = draws_to_idata(model, np.stack(flat), arrays, log_likelihood=log_likelihood and return_inferencedata)
    idata.sample_stats.attrs.update(settings)
    if compute_convergence_checks:
        _convergence_warnings(idata, chains)
    if return_inferencedata:
        return idata
    posterior = {name: np.asarray(v.values) for name, v in idata.posterior.data_vars.items()}
    report = {name: [list(c[name]) for c in stats] if chains > 1 else list(stats[0][name]) for name in smc.stats_names}
    return SMCTrace(posterior, chains, {**report, **settings})
