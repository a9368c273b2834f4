"""A full-data control variate for the gradients of default minibatch fits.

A minibatch fit's gradient is noisy twice over: the Monte Carlo draw from q, and the batch
of rows.  With ``total_size`` the batch's log density is an unbiased estimate of the full
data's, but its gradient varies from batch to batch by about ``sqrt(total_size /
batch_size)`` times the posterior's own curvature: on the seed notebook's 40 000 x 100 model
(batches of 500) that batch noise is ~40x the Monte Carlo noise in the steps of q's scales,
and 10 000 steps of it, even averaged (:mod:`symvi.variational.adapt`), leave q's sds
10-15 % off.

So default minibatch fits correct each step's gradient with the same batch at a reference
point ``z_ref`` (SVRG's control variate, Johnson & Zhang 2013, applied to ``log p``):

    grad log p_batch(z)  -  grad log p_batch(z_ref)  +  grad log p_full(z_ref)

The last term is computed from the full data (in row blocks) with ``z_ref`` the current
mean of q twice: when the fit starts (after the warm start) and when its loss has levelled
off and the rate starts to decay (:mod:`symvi.variational.adapt`; again after a back-off), when
q's mean is near its optimum; the middle term uses the step's own batch, so the
correction has mean zero over batches and the gradient stays unbiased.  What is left of the
batch noise is the batch-to-batch variation of the *change* of the per-row gradients
between ``z_ref`` and the draw ``z`` -- about the posterior sd times the rows' curvature
spread, tiny once q is near the posterior (seed model: the steps' noise falls ~50x).

The loss *value* (``hist``) is the plain batch estimate; only its gradient is corrected.
The correction applies where every random input of the log density is a
:func:`symvi.Minibatch` over in-memory arrays, which the full-data pass can read (not to
data streams); fits with an explicit ``obj_optimizer`` are PyMC's estimator unchanged.

Examples
--------
>>> import numpy as np, symvi as pm
>>> data = np.random.default_rng(0).normal(1.0, 2.0, size=2000)
>>> with pm.Model() as m:
...     mu = pm.Normal("mu", 0, 10)
...     obs = pm.Normal("obs", mu, 2.0, observed=pm.Minibatch(data, batch_size=50), total_size=2000)
...     q = pm.MeanField()
>>> cv = MinibatchControlVariate.build(q)
>>> cv.refresh(np.array([0.5]))
>>> round(float(cv.g_ref.get_value()[0]), 6) == round(float((data - 0.5).sum() / 4 - 0.5 / 100), 6)
True
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.gradient import zero_grad
from pytensor.graph.replace import graph_replace

__all__ = ["MinibatchControlVariate", "refresh_control_variate", "BLOCK_ELEMENTS"]

#: data elements per block of the full-data pass (bounds its intermediate arrays)
BLOCK_ELEMENTS = 2_000_000


class MinibatchControlVariate:
    """The reference point, its full-data gradient and the graph of the correction.

    Build with :meth:`build` (None where the model has no Minibatch, or other random
    inputs); :meth:`correction` gives the term the loss adds, :meth:`refresh` moves the
    reference point (a full pass over the data).
    """

    def __init__(self, approx, groups: dict):
        self.approx = approx
        self.groups = groups  # index draw -> [(minibatch tensor, MinibatchInfo)]
        start = np.asarray(approx._start, dtype=approx.dtype)
        self.z_ref = pytensor.shared(start.copy(), name="cv_z_ref")
        self.g_ref = pytensor.shared(np.zeros_like(start), name="cv_g_ref")
        self.ready = pytensor.shared(np.asarray(0.0, dtype=approx.dtype), name="cv_ready")  # 0 until refreshed
        self._lo = pytensor.shared(np.int64(0), name="cv_block_lo")
        self._hi = pytensor.shared(np.int64(1), name="cv_block_hi")
        self._flat = None  # FlatLogp over one block of rows (compiled on the first refresh)
        self.refreshes = 0

    @classmethod
    def build(cls, approx) -> MinibatchControlVariate | None:
        """The control variate for ``approx``'s model, or None where it does not apply: no
        :func:`symvi.Minibatch`, other random inputs (data streams), or Minibatch calls of
        different row counts (their full-data pass could not share row blocks)."""
        from pytensor.graph.traversal import ancestors

        from symvi.minibatch import minibatch_info
        from symvi.pytensorf import find_rngs

        logp = approx.model.logp()
        groups: dict = {}
        for var in ancestors([logp]):
            info = minibatch_info(var)
            if info is not None:
                groups.setdefault(info.indices, []).append((var, info))
        if not groups or set(find_rngs([logp])) - {members[0][1].rng for members in groups.values()}:
            return None
        rows = {int(info.source.get_value(borrow=True).shape[0]) for members in groups.values() for _, info in members}
        if len(rows) != 1:
            return None
        return cls(approx, groups)

    @property
    def n_rows(self) -> int:
        members = next(iter(self.groups.values()))
        return int(members[0][1].source.get_value(borrow=True).shape[0])

    def correction(self, logp, theta, z):
        """``(c . z) - stop(c . z)`` with ``c = grad log p_full(z_ref) - grad log p_batch(z_ref)``
        (no gradient through ``c``): zero in value, ``c`` in the gradient with respect to ``z``.
        ``logp`` is the batch log density over the flat ``theta``; ``z`` (D,) or (n, D)."""
        at_ref = graph_replace(logp, {theta: self.z_ref}, strict=False)
        c = zero_grad(pt.switch(self.ready > 0, self.g_ref - pt.grad(at_ref, self.z_ref), 0.0))
        term = pt.mean(pt.sum(z * c.astype(z.dtype), axis=-1))
        return term - zero_grad(term)

    def _block_logp(self):
        from symvi.optimize import FlatLogp

        if self._flat is None:
            approx = self.approx
            repl = {var: info.source[self._lo : self._hi] for members in self.groups.values() for var, info in members}
            self._flat = FlatLogp(approx.model, approx.layout.unravel(approx._start), one_shot=True, replacements=repl)
        return self._flat

    def full_grad(self, x: np.ndarray) -> np.ndarray:
        """``grad log p`` of the full data at the flat point ``x`` (row blocks, weighted by
        their share of the rows: each block's log density is scaled to ``total_size``)."""
        f = self._block_logp()
        n = self.n_rows
        per_row = sum(int(np.prod(info.source.get_value(borrow=True).shape[1:])) for m in self.groups.values() for _, info in m)
        step = max(1, min(n, BLOCK_ELEMENTS // per_row))
        g = np.zeros(len(x), dtype="float64")
        for lo in range(0, n, step):
            hi = min(n, lo + step)
            self._lo.set_value(np.int64(lo))
            self._hi.set_value(np.int64(hi))
            g += (hi - lo) / n * f.value_and_grad(x)[1]
        return g

    def refresh(self, x: np.ndarray) -> None:
        """Move the reference point to ``x`` (flat) and compute the full-data gradient there;
        a non-finite gradient switches the correction off until the next refresh."""
        x = np.asarray(x, dtype="float64")
        g = self.full_grad(x)
        ok = bool(np.all(np.isfinite(g)))
        self.z_ref.set_value(x.astype(self.approx.dtype))
        self.g_ref.set_value((g if ok else np.zeros_like(g)).astype(self.approx.dtype))
        self.ready.set_value(np.asarray(1.0 if ok else 0.0, dtype=self.approx.dtype))
        self.refreshes += 1


def refresh_control_variate(step, approx, first: bool = False) -> None:
    """Refresh ``step``'s control variate (if it has one) at q's current mean; with
    ``first`` only if it was never refreshed (a step rebuilt from a checkpoint)."""
    cv = getattr(step, "control_variate", None)
    if cv is None or (first and cv.refreshes):
        return
    cv.refresh(approx.mean.get_value())
