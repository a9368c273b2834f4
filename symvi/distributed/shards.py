"""Placing a fit's data on the workers of a dask cluster, as row shards that stay there.

Two inputs are accepted:

* dask arrays (one, or a tuple of arrays with the same rows): split into one row range per
  worker, each computed *on* its worker (the driver never holds the rows), so dask can compute
  a shard again on another worker when the one holding it dies;
* a list of shards, each a tuple of arrays (numpy arrays are scattered to one worker each,
  dask arrays computed there): numpy shards live only on their worker, so if it dies the fit
  stops with a clear error instead of going on.

The driver keeps futures and row counts only, plus one probe row of each array to build its
own copy of the model (the layout of the parameters).
"""

from __future__ import annotations

import numpy as np

__all__ = ["Shard", "place"]


class Shard:
    """One shard of the data on the cluster: futures of its arrays and its number of rows."""

    __slots__ = ("index", "futures", "n_rows", "recomputable")

    def __init__(self, index: int, futures: list, n_rows: int, recomputable: bool):
        self.index, self.futures, self.n_rows, self.recomputable = index, futures, int(n_rows), recomputable


def _is_dask_array(x) -> bool:
    return type(x).__module__.startswith("dask.array") and hasattr(x, "chunks")


def _rows(arr, what: str) -> int:
    shape = getattr(arr, "shape", None)
    if not shape:
        raise ValueError(f"{what} must be an array with at least one dimension (rows first), got {type(arr).__name__}")
    n = shape[0]
    if n is None or (isinstance(n, float) and np.isnan(n)):
        raise ValueError(f"{what} has an unknown number of rows; call .compute_chunk_sizes() on it first")
    return int(n)


def _as_arrays(data) -> tuple | None:
    """The tuple of dask arrays ``data`` is, or None where it is a list of shards."""
    if _is_dask_array(data):
        return (data,)
    if isinstance(data, tuple) and data and all(_is_dask_array(a) for a in data):
        return data
    return None


def _workers(client) -> list[str]:
    workers = sorted(client.scheduler_info()["workers"])
    if not workers:
        raise RuntimeError("the dask cluster has no workers: start some (or wait for them) before fitting")
    return workers


def _check_shard_list(data) -> None:
    if not isinstance(data, list | tuple) or not data:
        raise TypeError(
            "data must be a dask array, a tuple of dask arrays with the same rows, or a non-empty list of shards "
            f"(each a tuple of arrays), got {type(data).__name__}"
        )


def probe_rows(client, data) -> tuple:
    """The first row of each array of the first shard (numpy), for the driver's model."""
    arrays = _as_arrays(data)
    if arrays is None:
        _check_shard_list(data)
    first = arrays if arrays is not None else (tuple(data[0]) if isinstance(data[0], list | tuple) else (data[0],))
    out = []
    for a in first:
        if _is_dask_array(a):
            out.append(np.asarray(client.compute(a[:1]).result()))
        else:
            out.append(np.asarray(a)[:1])
    # (arrays that came over the network may sit unaligned in their message: pytensor wants aligned)
    return tuple(np.require(a, requirements=["A", "C"]) for a in out)


def place(client, data, n_shards: int | None = None) -> list[Shard]:
    """Put ``data`` on the cluster as row shards (see the module text); returns the shards.

    ``n_shards`` (dask arrays only) defaults to the number of workers.
    """
    workers = _workers(client)
    arrays = _as_arrays(data)
    if arrays is not None:
        rows = {_rows(a, f"data array {i}") for i, a in enumerate(arrays)}
        if len(rows) != 1:
            raise ValueError(f"data arrays must have the same number of rows, got {sorted(rows)}")
        n = rows.pop()
        k = len(workers) if n_shards is None else int(n_shards)
        if k < 1 or k > n:
            raise ValueError(f"n_shards must be between 1 and the {n} rows, got {k}")
        bounds = np.linspace(0, n, k + 1).astype(int)
        shards = []
        for i in range(k):
            lo, hi = int(bounds[i]), int(bounds[i + 1])
            futures = client.compute([a[lo:hi] for a in arrays], workers=[workers[i % len(workers)]], allow_other_workers=True)
            shards.append(Shard(i, list(futures), hi - lo, True))
        return shards
    _check_shard_list(data)
    shards = []
    width = None
    for i, shard in enumerate(data):
        parts = tuple(shard) if isinstance(shard, list | tuple) else (shard,)
        if width is None:
            width = len(parts)
        if len(parts) != width:
            raise ValueError(f"data shard {i} has {len(parts)} arrays, shard 0 has {width}: every shard needs the same arrays")
        rows = {_rows(a, f"data shard {i} array {j}") for j, a in enumerate(parts)}
        if len(rows) != 1:
            raise ValueError(f"the arrays of data shard {i} must have the same number of rows, got {sorted(rows)}")
        worker = [workers[i % len(workers)]]
        futures, recomputable = [], True
        for a in parts:
            if _is_dask_array(a):
                futures.append(client.compute(a, workers=worker, allow_other_workers=True))
            else:
                futures.append(client.scatter(np.asarray(a), workers=worker, hash=False))
                recomputable = False
        shards.append(Shard(i, futures, rows.pop(), recomputable))
    return shards
