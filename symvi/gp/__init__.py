"""Gaussian processes under PyMC's names: ``pm.gp.cov`` (kernels), ``pm.gp.mean`` (mean
functions), ``pm.gp.Latent``, ``pm.gp.Marginal`` and ``pm.gp.HSGP``.

Example
-------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     gp = pm.gp.Latent(cov_func=pm.gp.cov.ExpQuad(1, ls=0.2))
...     f = gp.prior("f", X=np.linspace(0, 1, 4)[:, None])
>>> m["f"].name
'f'
"""

from symvi.gp import cov, mean, util
from symvi.gp.hsgp import HSGP
from symvi.gp.latent import Latent
from symvi.gp.marginal import Marginal

__all__ = ["cov", "mean", "util", "HSGP", "Latent", "Marginal"]

_NOT_PROVIDED = ("TP", "MarginalApprox", "MarginalSparse", "LatentKron", "MarginalKron", "HSGPPeriodic")


def __getattr__(name: str):
    if name in _NOT_PROVIDED:
        raise AttributeError(f"pm.gp.{name} (PyMC's GP class) is not available in symvi yet; "
                             f"available: {', '.join(__all__)}")
    raise AttributeError(f"module 'symvi.gp' has no attribute {name!r}")
