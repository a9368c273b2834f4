"""Variational objectives as symbolic losses.

``kl_loss`` is the negative ELBO, ``E_q[log q(z) - log p(z)]``, estimated with ``n_mc``
reparameterised draws for the ``log p`` part and the analytic Gaussian entropy for ``log q``.
``total_size`` scaling comes from the model's log density itself.
"""

from __future__ import annotations

import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace, vectorize_graph

from symvi.pytensorf import as_replacements

__all__ = ["model_logp_flat", "kl_loss"]


def model_logp_flat(approx, more_replacements=None):
    """(theta, logp(theta)): the model log density as a graph over one flat vector."""
    theta = approx.layout.vector()
    logp = approx.model.logp()
    if more_replacements:
        logp = graph_replace(logp, as_replacements(more_replacements), strict=False)
    return theta, graph_replace(logp, approx.layout.replacements(theta), strict=False)


def kl_loss(approx, n_mc: int = 1, more_replacements=None):
    """Negative ELBO of ``approx`` against its model (a scalar graph).

    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     q = pm.MeanField()
    >>> float(kl_loss(q, n_mc=1).eval()) > -10
    True
    """
    if int(n_mc) < 1:
        raise ValueError(f"obj_n_mc must be a positive integer, got {n_mc!r}")
    theta, logp = model_logp_flat(approx, more_replacements)
    if n_mc == 1:
        expected_logp = graph_replace(logp, {theta: approx.random()}, strict=False)
    else:
        expected_logp = pt.mean(vectorize_graph(logp, {theta: approx.random(int(n_mc))}))
    return -(expected_logp + approx.entropy())
