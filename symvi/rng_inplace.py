"""Let a compiled training loop advance its random generators in place.

symvi compiles its K-step loop without PyTensor's ``scan_make_inplace`` rewrite: trying every
carried value in place costs ~0.4 s of compile time and gains nothing in a loop of many steps.
But without it the loop copies each random generator it carries before starting, and for a
NumPy ``Generator`` the Numba backend makes that copy in Python (``deepcopy`` in object mode,
~50 us).  A fit watched by a callback every step runs loops of one step, so that copy was a
third of each step's cost.

:class:`RngScanInplace` makes only the generator outputs of each ``Scan`` in place: one
validation per generator, milliseconds of compile time.  The loop then mutates the
generator it is given, so whoever needs to undo a call keeps the generator's *state*
(``bit_generator.state``, ~1 us), not a reference to it.

Examples
--------
>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> from symvi.backends import get_mode
>>> rng = pytensor.shared(np.random.default_rng(0))
>>> def body(r):
...     nxt, x = pt.random.normal(rng=r, return_next_rng=True)
...     return nxt, x
>>> (r_last, xs) = pytensor.scan(body, outputs_info=[rng, None], n_steps=3, return_updates=False)
>>> f = pytensor.function([], xs, updates={rng: r_last}, mode=get_mode("c", for_scan=True))
>>> [dict(n.op.destroy_map) for n in f.maker.fgraph.apply_nodes if type(n.op).__name__ == "Scan"]
[{0: [2]}]
"""

from __future__ import annotations

from pytensor.graph.destroyhandler import DestroyHandler
from pytensor.graph.features import ReplaceValidate
from pytensor.graph.rewriting.basic import GraphRewriter
from pytensor.scan.op import Scan
from pytensor.scan.rewriting.inplace import ScanInplaceOptimizer
from pytensor.tensor.random.type import RandomGeneratorType

__all__ = ["RngScanInplace", "POSITION"]

#: where PyTensor's own scan in-place pass runs (after the destroy handler is attached)
POSITION = 50.5


class RngScanInplace(GraphRewriter):
    """Make each ``Scan`` advance the random generators it carries in place (nothing else)."""

    def add_requirements(self, fgraph):
        fgraph.attach_feature(ReplaceValidate())
        fgraph.attach_feature(DestroyHandler())

    def apply(self, fgraph):
        attempt = ScanInplaceOptimizer().attempt_scan_inplace
        for node in reversed(fgraph.toposort()):
            if not isinstance(node.op, Scan):
                continue
            info = node.op.info
            first = info.n_mit_mot + info.n_mit_sot + info.n_sit_sot + info.n_nit_sot
            wanted = [
                first + j
                for j in range(info.n_untraced_sit_sot)
                if isinstance(node.outputs[first + j].type, RandomGeneratorType) and first + j not in node.op.destroy_map
            ]
            for out_idx in wanted:  # one at a time: a refused one leaves the others in place
                node = attempt(fgraph, node, [out_idx]) or node
