"""ArviZ's statistics and plots under PyMC's names: ``pm.summary``, ``pm.plot_trace``, ...

PyMC re-exports these ArviZ functions at its top level, and PyMC code calls them that way
(``pm.summary(idata)``, ``pm.plot_posterior(idata)``, ``pm.loo(idata)``).  symvi hands out the
very same ArviZ objects, imported on first use so that ``import symvi`` stays quick.

Examples
--------
>>> import arviz as az, symvi as pm
>>> pm.summary is az.summary
True
"""

from __future__ import annotations

import importlib

#: ArviZ statistics PyMC 5.28.5 re-exports (``pymc.stats``)
STATS = (
    "autocorr", "autocov", "bayes_factor", "bfmi", "compare", "ess", "hdi", "kde", "loo",
    "loo_pit", "make_ufunc", "mcse", "psislw", "r2_samples", "r2_score", "reloo", "rhat",
    "smooth_data", "summary", "waic", "weight_predictions", "wrap_xarray_ufunc", "ELPDData",
    "apply_test_function", "psens",
)
#: ArviZ plots PyMC 5.28.5 re-exports (``pymc.plots``)
PLOTS = (
    "plot_autocorr", "plot_bf", "plot_bpv", "plot_compare", "plot_density", "plot_dist",
    "plot_dist_comparison", "plot_dot", "plot_ecdf", "plot_elpd", "plot_energy", "plot_ess",
    "plot_forest", "plot_hdi", "plot_kde", "plot_khat", "plot_lm", "plot_loo_pit", "plot_mcse",
    "plot_pair", "plot_parallel", "plot_posterior", "plot_ppc", "plot_rank", "plot_separation",
    "plot_trace", "plot_ts", "plot_violin",
)
NAMES = frozenset(STATS + PLOTS)

__all__ = list(STATS + PLOTS)


def arviz_function(name: str):
    """The ArviZ object PyMC exposes as ``pm.<name>`` (AttributeError for other names).

    >>> arviz_function("hdi").__name__
    'hdi'
    """
    if name not in NAMES:
        raise AttributeError(f"module 'symvi' has no attribute {name!r}")
    az = importlib.import_module("arviz")
    obj = getattr(az, name, None)
    if obj is None:  # a statistic ArviZ keeps in arviz.stats only
        obj = getattr(importlib.import_module("arviz.stats"), name, None)
    if obj is None:
        raise AttributeError(f"symvi.{name}: this ArviZ ({az.__version__}) has no {name!r}")
    return obj


def __getattr__(name: str):
    return arviz_function(name)
