"""NUTS with nutpie (Rust; diagonal mass matrix adapted from draws and gradients).

symvi hands nutpie its own compiled log density.  Two ways are offered:

* ``"python"`` (default): nutpie calls a Python callable per gradient
  (``nutpie.from_pyfunc``), which calls the Numba-compiled graph function PyTensor built
  (and keeps in its disk cache).  Each call takes the GIL, so chains effectively run one
  at a time.
* ``"numba"``: a C-callable Numba function (:meth:`FlatDensity.numba_cfunc`) that nutpie
  calls from its Rust threads with no Python in the loop - the way nutpie's own PyMC path
  works; chains run in parallel.  Numba compiles that cfunc (and, again, the graph function
  inside it) in every new process: 5-15 s on the busy 2-core test machine.

Measured (kidiq / sblrc, 2 chains x 6000 steps, compiled already): 12 / 14 us per gradient
with the cfunc against 45-58 / 64 us with the callback; but a default ``pm.sample()``
(2 x 2000 steps) needs 40-170 thousand gradients, so the cfunc's compile costs more than it
saves: ``benchmarks/bench_nuts.py`` (README) measures ``pm.sample`` wall time both ways, and
the callback is the default.  Pass ``nutpie_backend="numba"`` for long runs or several
cores (a second ``pm.sample`` of the same model reuses the compiled cfunc).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     x = pm.Normal("x", 0.0, 1.0)
>>> from symvi.mcmc.init import start_plan
>>> flat, stats, tune_grads = run_nutpie(m, start_plan(m, "auto", seed=1), draws=50, tune=50, chains=1,
...                          cores=1, seed=1, progressbar=False)
>>> flat.shape, sorted(stats)[:3]
((1, 50, 1), ['acceptance_rate', 'diverging', 'energy'])
"""

from __future__ import annotations

import numpy as np

from symvi.mcmc.density import FlatDensity

__all__ = ["run_nutpie", "NUTPIE_STATS"]

#: nutpie's statistic names -> the names PyMC's samplers use
NUTPIE_STATS = {
    "diverging": "diverging",
    "energy": "energy",
    "energy_error": "energy_error",
    "step_size": "step_size",
    "step_size_bar": "step_size_bar",
    "depth": "tree_depth",
    "maxdepth_reached": "reached_max_treedepth",
    "n_steps": "n_steps",
    "logp": "lp",
    "mean_tree_accept": "acceptance_rate",
    "index_in_trajectory": "index_in_trajectory",
}


def _compiled_model(density: FlatDensity, init_fn, via: str):
    """A nutpie model object sampling ``z`` (named ``__z``) with ``density``."""
    import pandas as pd

    n = density.ndim
    coords = {"unconstrained_parameter": pd.Index([f"z{i}" for i in range(n)])}
    if via == "python":
        from nutpie.compiled_pyfunc import from_pyfunc

        logp = density.python_logp()

        def make_expand(seed1, seed2, chain):
            return lambda z, **shared: {"__z": np.asarray(z, dtype="float64").copy()}

        return from_pyfunc(
            n, lambda: logp, make_expand, [np.dtype("float64")], [(n,)], ["__z"], coords=coords,
            make_initial_point_fn=init_fn,
        )
    import numba
    from numba.core import types
    from nutpie.compile_pymc import CompiledPyMCModel

    logp_cfunc = density.numba_cfunc()

    def expand(dim, n_expanded, x_, out_, user_data_):
        if dim != n or n_expanded != n:
            return -1
        numba.carray(out_, (n,))[:] = numba.carray(x_, (n,))
        return 0

    sig = types.int64(types.uint64, types.uint64, types.CPointer(types.double), types.CPointer(types.double), types.voidptr)
    expand_cfunc = numba.cfunc(sig)(expand)
    return CompiledPyMCModel(
        dims={},
        _n_dim=n,
        _coords=coords,
        _shapes={"__z": (n,)},
        compiled_logp_func=logp_cfunc,
        compiled_expand_func=expand_cfunc,
        initial_point_func=init_fn,
        shared_data={},
        user_data=np.zeros((), dtype=[("unused", np.uint8)]),
        n_expanded=n,
        shape_info=(["__z"], [slice(0, n)], [(n,)]),
        logp_func=density,
        expand_func=None,
    )


def run_nutpie(model, plan, draws: int, tune: int, chains: int, cores: int, seed, progressbar: bool, via: str = "python", **settings):
    """Sample with nutpie; returns ``(flat draws (chains, draws, D) on the model's
    unconstrained space, {PyMC stat name: (chains, draws)}, gradient evaluations of the
    warm-up (all chains))``.  ``settings`` go to nutpie
    (``target_accept``, ``maxdepth``, ...)."""
    import nutpie
    from nutpie import _lib

    known = set(dir(_lib.PyNutsSettings.Diag(0))) | {"low_rank_modified_mass_matrix", "transform_adapt"}
    unknown = sorted(k for k in settings if k.startswith("_") or k not in known)
    if unknown:
        raise TypeError(f"sample: unknown keyword argument(s) {unknown} (not pm.sample arguments nor nutpie settings)")
    if via not in ("numba", "python"):
        raise ValueError(f"sample: nutpie_backend must be 'numba' or 'python', got {via!r}")
    density = FlatDensity.cached(model, plan.precond.dense)
    density.set_precond(plan.precond)
    base = int(np.random.default_rng(seed).integers(2**31))

    def init_fn(chain_seed):
        return np.ascontiguousarray(plan.draw(np.random.default_rng([base, int(chain_seed)])), dtype="float64")

    compiled = _compiled_model(density, init_fn, via)
    idata = nutpie.sample(
        compiled, draws=draws, tune=tune, chains=chains, cores=cores, seed=base, progress_bar=progressbar,
        save_warmup=True, **settings,
    )
    z = np.asarray(idata.posterior["__z"].values, dtype="float64")
    stats = {}
    for name, new in NUTPIE_STATS.items():
        if name in idata.sample_stats:
            stats[new] = np.asarray(idata.sample_stats[name].values)
    warm = getattr(idata, "warmup_sample_stats", None)
    tune_grads = int(np.asarray(warm["n_steps"].values).sum()) if warm is not None and "n_steps" in warm else 0
    return plan.precond.to_x(z), stats, tune_grads
