"""``pm.NUTS()`` as a step method for ``pm.sample(step=...)`` (PyMC's ``pm.NUTS``).

symvi's NUTS is nutpie's (or BlackJAX's), which runs whole chains on the full parameter
vector.  So a :class:`NUTS` step that covers every free variable simply chooses that sampler,
with the step's ``target_accept`` and ``max_treedepth``.  PyMC can also run NUTS on some
variables inside a Gibbs sweep (e.g. NUTS for the continuous variables, Metropolis for the
discrete ones); symvi cannot, and samples the variables such a step was given with
:class:`~symvi.mcmc.steps.Slice` instead (still a valid MCMC), with a warning that names them.

Examples
--------
>>> import symvi as pm
>>> with pm.Model():
...     x = pm.Normal("x", 0, 1)
...     step = pm.NUTS(target_accept=0.9, max_treedepth=8)
>>> step.target_accept, step.max_treedepth
(0.9, 8)
"""

from __future__ import annotations

import numbers
import warnings

from symvi.mcmc.steps import CompoundStep, Slice

__all__ = ["NUTS", "nuts_settings"]

# PyMC's NUTS / BaseHMC arguments that tune PyMC's own integrator and adaptation: accepted so
# that PyMC code runs, but nutpie adapts its own step size and mass matrix
_PYMC_ONLY = {
    "scaling", "step_scale", "is_cov", "blocked", "potential", "dtype", "gamma", "k", "t0",
    "adapt_step_size", "step_rand", "rng", "initial_point", "early_max_treedepth",
}


class NUTS(Slice):
    """The No-U-Turn sampler as a step method (PyMC's ``pm.NUTS``).

    Alone (``vars=None`` or every free variable), ``pm.sample(step=pm.NUTS(...))`` runs
    symvi's NUTS (nutpie by default) with this ``target_accept``, ``max_treedepth`` (nutpie's
    ``maxdepth``) and ``Emax`` (nutpie's ``max_energy_error``).  Combined with other steps it
    updates its variables by slice sampling, as symvi has no NUTS within a Gibbs sweep
    (``pm.sample`` warns).  ``vars=None`` means all continuous free variables.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 0.0, 10.0)
    ...     y = pm.Normal("y", mu, 1.0, observed=np.array([0.5, 1.5]))
    ...     idata = pm.sample(100, tune=100, chains=1, step=pm.NUTS(target_accept=0.9),
    ...                       random_seed=1, progressbar=False)
    >>> dict(idata.posterior["mu"].sizes)
    {'chain': 1, 'draw': 100}
    """

    def __init__(self, vars=None, max_treedepth: int = 10, *, target_accept: float = 0.8, Emax: float = 1000.0, model=None, **kwargs):
        unknown = sorted(set(kwargs) - _PYMC_ONLY)
        if unknown:
            raise TypeError(f"NUTS: unknown arguments {unknown}")
        if not (isinstance(target_accept, numbers.Real) and 0 < target_accept < 1):
            raise ValueError(f"NUTS: target_accept must lie in (0, 1), got {target_accept!r}")
        if isinstance(max_treedepth, bool) or not isinstance(max_treedepth, numbers.Integral) or max_treedepth < 1:
            raise ValueError(f"NUTS: max_treedepth must be a positive integer, got {max_treedepth!r}")
        if not (isinstance(Emax, numbers.Real) and Emax > 0):
            raise ValueError(f"NUTS: Emax must be a positive number, got {Emax!r}")
        super().__init__(vars, model=model)
        self.target_accept = float(target_accept)
        self.max_treedepth = int(max_treedepth)
        self.Emax = float(Emax)
        self.ignored = sorted(k for k, v in kwargs.items() if v is not None)


def _steps_of(step) -> list:
    if isinstance(step, list | tuple):
        return CompoundStep(step).methods
    return step.steps() if hasattr(step, "steps") else []


def nuts_settings(model, step, nuts_sampler: str = "nutpie"):
    """``(step, settings)`` for ``pm.sample``: when ``step`` is a lone :class:`NUTS` covering
    every free variable, ``(None, {sampler settings})`` (run symvi's NUTS with them);
    otherwise ``(step, None)`` unchanged, with a warning naming the variables that NUTS steps
    among it will slice-sample instead."""
    steps = _steps_of(step)
    nuts = [s for s in steps if isinstance(s, NUTS)]
    if not nuts:
        return step, None
    for s in nuts:
        if s.ignored:
            warnings.warn(
                f"NUTS: {s.ignored} tune PyMC's own NUTS and are ignored; symvi's sampler adapts its step size and mass matrix",
                UserWarning,
                stacklevel=3,
            )
    if len(steps) == 1 and set(nuts[0].resolve(model)) == set(model.free_RVs):
        s = nuts[0]
        settings = {"target_accept": s.target_accept}
        if nuts_sampler == "nutpie":
            settings.update(maxdepth=s.max_treedepth, max_energy_error=s.Emax)
        elif s.max_treedepth != 10 or s.Emax != 1000.0:
            raise ValueError("sample: nuts_sampler='blackjax' takes NUTS(max_treedepth=10, Emax=1000) only; use nutpie for others")
        return None, settings
    names = [rv.name for s in nuts for rv in s.resolve(model)]
    warnings.warn(
        f"sample: symvi has no NUTS within a compound step; {names} are sampled with Slice instead "
        "(pass NUTS alone, covering every free variable, to run symvi's NUTS)",
        UserWarning,
        stacklevel=3,
    )
    return step, None
