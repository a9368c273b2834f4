"""Many independent fits (one model per group, seed or data slice) on a dask cluster.

Each item becomes one task: the worker calls ``build_model(item)``, fits it, samples the
approximation and sends back the ``InferenceData``.  Seeds come from one ``SeedSequence``
(item ``i`` gets the ``i``-th child), so the results equal the same fits run one after the
other without a cluster (``client=None``), whatever worker ran which fit.

Workers are long-lived processes: the second and later fits of a model with the same
structure on a worker reuse what the first compiled (symvi caches compiled loops by graph,
and their Numba code on disk), so each costs its optimisation steps, not a compile.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["fit_many", "item_seeds"]


def item_seeds(random_seed, n_items: int) -> list[int]:
    """The seed of each item's fit: children of ``SeedSequence(random_seed)``.

    >>> item_seeds(1, 3) == item_seeds(1, 3), len(set(item_seeds(1, 3)))
    (True, 3)
    """
    children = np.random.SeedSequence(random_seed).spawn(int(n_items))
    return [int(c.generate_state(1)[0]) for c in children]


def _aligned(obj):
    """``obj`` with its numpy arrays aligned (arrays sent over the network may sit unaligned in
    their message, which pytensor refuses), through tuples, lists and dicts."""
    if isinstance(obj, np.ndarray):
        return np.require(obj, requirements=["A"])
    if isinstance(obj, list | tuple):
        return type(obj)(_aligned(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _aligned(v) for k, v in obj.items()}
    return obj


def _fit_one(build_model, item, seed: int, n, method, draws: int, fit_kwargs: dict, fit):
    """Build, fit and sample one item's model (runs on a worker, or here without a client)."""
    from symvi.variational.inference import fit as vi_fit

    model = build_model(_aligned(item))
    if fit is not None:
        return fit(model, seed)
    approx = vi_fit(n, method=method, model=model, random_seed=seed, progressbar=False, **fit_kwargs)
    return approx.sample(draws, random_seed=seed)


class _Bar:
    """A rich progress bar over fits (silent when disabled or without a display)."""

    def __init__(self, total: int, enabled: bool):
        self._bar = None
        if enabled and total:
            try:
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                self._bar = Progress(TextColumn("Fits"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
                self._task = self._bar.add_task("fits", total=total)
                self._bar.start()
            except Exception:  # noqa: BLE001 - no display: no bar
                self._bar = None

    def advance(self):
        if self._bar is not None:
            self._bar.advance(self._task)

    def close(self):
        if self._bar is not None:
            self._bar.stop()


def fit_many(
    build_model: Callable,
    items: Sequence,
    client=None,
    n: int | None = 10000,
    method="advi",
    random_seed=None,
    draws: int = 500,
    fit_kwargs: dict | None = None,
    fit: Callable | None = None,
    progressbar: bool = True,
) -> list:
    """Fit ``build_model(item)`` for every item, on the cluster of ``client`` (None: here, in turn).

    Returns one ``InferenceData`` per item (``draws`` draws of the fitted approximation), in
    the order of ``items``.  ``method``, ``n`` and ``fit_kwargs`` go to :func:`symvi.fit`;
    ``fit(model, seed)`` replaces fit-and-sample altogether (e.g. Pathfinder).  Item ``i`` is
    fitted with seed ``item_seeds(random_seed, len(items))[i]``.  When fits fail, the error
    (``RuntimeError``) names them and carries every finished result as ``err.results``
    (None for the failed ones).

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> groups = [np.array([0.9, 1.1]), np.array([2.9, 3.1])]
    >>> def build(y):
    ...     with pm.Model() as m:
    ...         mu = pm.Normal("mu", 0, 10)
    ...         pm.Normal("y", mu, 1, observed=y)
    ...     return m
    >>> out = pm.fit_many(build, groups, n=3000, random_seed=0, progressbar=False,
    ...                   fit_kwargs={"obj_optimizer": pm.adam(learning_rate=0.05)})
    >>> [round(float(idata.posterior["mu"].mean())) for idata in out]
    [1, 3]
    """
    if not callable(build_model):
        raise TypeError(f"build_model must be a function item -> Model, got {type(build_model).__name__}")
    items = list(items)
    if isinstance(draws, bool) or not isinstance(draws, int | np.integer) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    if fit is not None and not callable(fit):
        raise TypeError(f"fit must be a function (model, seed) -> result, got {type(fit).__name__}")
    seeds = item_seeds(random_seed, len(items))
    fit_kwargs = dict(fit_kwargs or {})
    args = [(build_model, item, seed, n, method, int(draws), fit_kwargs, fit) for item, seed in zip(items, seeds)]
    results: list = [None] * len(items)
    failures: dict = {}
    bar = _Bar(len(items), progressbar)
    try:
        if client is None:
            for i, a in enumerate(args):
                try:
                    results[i] = _fit_one(*a)
                except Exception as err:  # noqa: BLE001 - reported below with the others
                    failures[i] = err
                bar.advance()
        else:
            from distributed import as_completed

            futures = {client.submit(_fit_one, *a, pure=False): i for i, a in enumerate(args)}
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except Exception as err:  # noqa: BLE001
                    failures[i] = err
                future.release()
                bar.advance()
    finally:
        bar.close()
    if failures:
        first = min(failures)
        error = RuntimeError(
            f"{len(failures)} of {len(items)} fits failed (items {sorted(failures)}); item {first}: "
            f"{type(failures[first]).__name__}: {failures[first]}. The finished ones are in err.results"
        )
        error.results = results
        raise error from failures[first]
    return results
