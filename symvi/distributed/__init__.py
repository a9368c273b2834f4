"""Fits on a dask.distributed cluster (``pip install 'symvi[distributed]'``).

Two patterns:

* :func:`fit` / :class:`DataParallel`: one model whose observed rows stay on the workers;
  each step sends the current draws to the workers and adds their shards' log-likelihood
  gradients (:mod:`symvi.distributed.dataparallel`);
* :func:`fit_many`: many independent fits, one task per item (:mod:`symvi.distributed.many`).

The same code runs on a ``LocalCluster`` and on a cluster of many machines: only the
address given to ``Client`` changes.  dask is imported when a fit starts, not here.
"""

from symvi.distributed.dataparallel import DataParallel, fit
from symvi.distributed.many import fit_many, item_seeds

__all__ = ["DataParallel", "fit", "fit_many", "item_seeds"]
