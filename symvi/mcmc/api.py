"""``pm.sample()``: NUTS on the model's unconstrained space, returning ArviZ InferenceData.

symvi does not implement NUTS: it hands its compiled log density and gradient to nutpie
(default; Rust, mass matrix adapted from draws and gradients) or to BlackJAX on the JAX
backend.  Both are optional extras: ``pip install 'symvi[nuts]'`` (nutpie) and
``pip install 'symvi[blackjax]'``.
"""

from __future__ import annotations

import numbers
import os
import time

import numpy as np

from symvi.model import modelcontext

__all__ = ["sample"]

_EXTRAS = {"nutpie": ("nutpie", "nuts"), "blackjax": ("blackjax", "blackjax")}


def _require(sampler: str) -> None:
    module, extra = _EXTRAS[sampler]
    names = [module] if sampler == "nutpie" else ["jax", "blackjax"]
    for name in names:
        try:
            __import__(name)
        except ImportError as err:
            raise ImportError(
                f"pm.sample(nuts_sampler={sampler!r}) needs the {name!r} package, which is not installed: "
                f"install the extra with  pip install 'symvi[{extra}]'"
            ) from err


def _count(value, name: str, minimum: int):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = "a positive integer" if minimum == 1 else "a non-negative integer"
        raise ValueError(f"sample: {name} must be {what}, got {value!r}")
    return int(value)


def _check_model(model) -> None:
    if not model.free_RVs:
        raise ValueError("sample: the model has no free random variables: there is nothing to sample")


def sample(
    draws: int = 1000,
    tune: int = 1000,
    chains: int | None = None,
    cores: int | None = None,
    random_seed=None,
    progressbar: bool = True,
    init="auto",
    nuts_sampler: str = "nutpie",
    model=None,
    target_accept: float = 0.8,
    idata_kwargs: dict | None = None,
    n_init: int = 10000,
    nutpie_backend: str = "python",
    var_names=None,
    **kwargs,
):
    """Draw posterior samples with NUTS (PyMC's ``pm.sample``).

    Parameters
    ----------
    draws, tune : NUTS steps kept, and warm-up steps (step size and mass matrix adaptation)
        before them, per chain.
    chains : number of chains (default: ``max(2, cores)``, as PyMC).
    cores : chains run at once (default: the CPUs available, at most 4; nutpie only).
    random_seed : an integer or numpy ``Generator`` making the run reproducible (None: not).
    init : ``"auto"`` / ``"jitter+adapt_diag"`` (initial point plus uniform jitter in
        [-1, 1]), ``"adapt_diag"`` (no jitter), ``"advi"`` / ``"fullrank_advi"`` (fit that
        approximation with ``n_init`` steps first) or a fitted approximation: chains start at
        its draws and its covariance preconditions the sampler (see :mod:`symvi.mcmc.init`).
    nuts_sampler : ``"nutpie"`` (default) or ``"blackjax"``.
    target_accept : target mean acceptance probability of the step-size adaptation.
    idata_kwargs : ``{"log_likelihood": True}`` adds the pointwise log likelihood group.
    var_names : the free variables and Deterministics kept in the posterior (default: all;
        :func:`symvi.compute_deterministics` adds left-out Deterministics later).
    nutpie_backend : ``"python"`` (default: nutpie calls the Numba-compiled graph function
        through a Python callback per gradient; nothing to compile beyond what PyTensor's
        disk cache holds) or ``"numba"`` (nutpie calls a Numba ``cfunc`` wrapping it, no
        Python per gradient: 4-5x less time per gradient and parallel chains, but Numba
        compiles the cfunc in every new process, 5-15 s; worth it for long runs).
    kwargs : further nutpie settings (``maxdepth``, ``store_divergences``, ...), and
        ``step=``: step methods (``pm.Metropolis()``, ``pm.Slice()``, a list of them or a
        ``pm.CompoundStep``) instead of NUTS; variables they leave out get default steps.
        ``pm.NUTS(target_accept=..., max_treedepth=...)`` alone runs NUTS with those
        settings; within a compound step its variables are slice-sampled (with a warning).
        A model with discrete free variables is sampled this way even without ``step=``:
        Gibbs for Bernoulli/Categorical, Metropolis for other discrete ones, Slice for the
        continuous ones (see :mod:`symvi.mcmc.steps`).  ``compile_kwargs={"mode": ...}``
        sets how their log density is compiled (default: symvi's Numba mode).

    Returns
    -------
    arviz.InferenceData with ``posterior`` (free variables and Deterministics),
    ``sample_stats`` (``diverging``, ``energy``, ``step_size``, ``tree_depth``, ``lp``,
    ``n_steps``, ``acceptance_rate``...), ``observed_data`` / ``constant_data`` and, on
    request, ``log_likelihood``.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 0.0, 10.0)
    ...     y = pm.Normal("y", mu, 1.0, observed=np.array([0.5, 1.5]))
    ...     trace = pm.sample(200, tune=200, chains=2, random_seed=1, progressbar=False)
    >>> dict(trace.posterior["mu"].sizes)
    {'chain': 2, 'draw': 200}
    """
    from symvi.mcmc.init import start_plan
    from symvi.mcmc.trace import draws_to_idata

    model = modelcontext(model, who="sample()")
    draws = _count(draws, "draws", 1)
    tune = _count(tune, "tune", 0)
    if cores is not None:
        cores = _count(cores, "cores", 1)
    available = min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    if chains is None:
        chains = max(2, cores or available)
    chains = _count(chains, "chains", 1)
    cores = min(chains, cores or available)
    if not (isinstance(target_accept, numbers.Real) and 0 < target_accept < 1):
        raise ValueError(f"sample: target_accept must lie in (0, 1), got {target_accept!r}")
    if nuts_sampler not in _EXTRAS:
        raise ValueError(f"sample: nuts_sampler must be one of {sorted(_EXTRAS)}, got {nuts_sampler!r}")
    step = kwargs.pop("step", None)
    compile_kwargs = kwargs.pop("compile_kwargs", None)
    if step is not None:  # pm.NUTS() alone selects symvi's NUTS with its settings (symvi.mcmc.nuts_step)
        from symvi.mcmc.nuts_step import nuts_settings

        step, nuts = nuts_settings(model, step, nuts_sampler)
        if nuts is not None:
            target_accept = nuts.pop("target_accept")
            kwargs = {**nuts, **kwargs}
    discrete = [rv for rv in model.free_RVs if rv.dtype.startswith(("int", "uint", "bool"))]
    _check_model(model)
    if var_names is not None:
        var_names = [var_names] if isinstance(var_names, str) else list(var_names)
        known = [v.name for v in list(model.free_RVs) + list(model.deterministics)]
        unknown = [n for n in var_names if n not in known]
        if unknown:
            raise KeyError(f"sample: var_names {unknown} are not free variables or Deterministics; those are: {known}")
    for name in ("return_inferencedata", "discard_tuned_samples"):  # PyMC's, only True here
        if not kwargs.pop(name, True):
            raise ValueError(f"sample: {name}=False is not supported; symvi returns InferenceData of the kept draws")
    kwargs.pop("compute_convergence_checks", None)  # PyMC's; ArviZ's az.summary reports R-hat and ESS
    if step is None and not discrete:
        _require(nuts_sampler)
    idata_kwargs = dict(idata_kwargs or {})
    log_likelihood = bool(idata_kwargs.pop("log_likelihood", False))
    if idata_kwargs:
        raise TypeError(f"sample: idata_kwargs takes only 'log_likelihood', got {sorted(idata_kwargs)}")
    if random_seed is None or isinstance(random_seed, np.random.Generator):
        seed = int(np.random.default_rng(random_seed).integers(2**31))
    elif isinstance(random_seed, numbers.Integral) and not isinstance(random_seed, bool):
        seed = int(random_seed)
    else:
        raise TypeError(f"sample: random_seed must be an integer, a numpy Generator or None, got {random_seed!r}")
    started = time.perf_counter()
    if step is not None or discrete:  # gradient-free steps (symvi.mcmc.steps)
        from symvi.mcmc.steps import run_steps
        from symvi.sampling import _compile_mode

        if kwargs:
            raise TypeError(f"sample: with step methods these arguments do not apply: {sorted(kwargs)}")
        flat, stats = run_steps(model, step, draws, tune, chains, seed, mode=_compile_mode("sample", compile_kwargs))
        attrs = {"sampling_time": time.perf_counter() - started, "tuning_steps": tune, "step_methods": "compound"}
        return draws_to_idata(model, flat, stats, log_likelihood=log_likelihood, attrs=attrs, var_names=var_names)
    if compile_kwargs:
        raise TypeError("sample: compile_kwargs applies to step methods (step=...) only; NUTS compiles its own way")
    plan = start_plan(model, init, seed=seed, progressbar=progressbar, n_init=n_init)
    if nuts_sampler == "nutpie":
        from symvi.mcmc.nutpie_run import run_nutpie

        flat, stats, tune_grads = run_nutpie(
            model, plan, draws, tune, chains, cores, seed, progressbar, via=nutpie_backend, target_accept=target_accept, **kwargs
        )
    else:
        from symvi.mcmc.blackjax_run import run_blackjax

        flat, stats, tune_grads = run_blackjax(model, plan, draws, tune, chains, seed, target_accept=target_accept, **kwargs)
    attrs = {
        "sampling_time": time.perf_counter() - started,
        "tuning_steps": tune,
        "tuning_gradient_evals": tune_grads,
        "nuts_sampler": nuts_sampler,
        "init": plan.source,
    }
    return draws_to_idata(model, flat, stats, log_likelihood=log_likelihood, attrs=attrs, var_names=var_names)
