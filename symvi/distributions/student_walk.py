"""MvStudentTRandomWalk: a walk of vectors with multivariate Student-t innovations (PyMC 5).

Examples
--------
>>> import numpy as np, symvi as sv
>>> w = sv.MvStudentTRandomWalk.dist(nu=4, mu=np.zeros(2), scale=np.eye(2), init_dist=sv.MvNormal.dist(np.zeros(2), np.eye(2)), steps=5)
>>> sv.draw(w, random_seed=0).shape
(6, 2)
"""

from __future__ import annotations



from symvi.distributions.base import dist_info
from symvi.distributions.multivariate import MvStudentT
from symvi.distributions.timeseries import MvGaussianRandomWalk, _component, _walk_logp, default_init_dist

__all__ = ["MvStudentTRandomWalk"]


class MvStudentTRandomWalk(MvGaussianRandomWalk):
    """MvStudentTRandomWalk(nu, mu, *, scale= | cov= | tau= | chol=, lower=True, init_dist=None, steps=None).

    x_0 ~ init_dist, x_t = x_{t-1} + e_t with e_t ~ MvStudentT(nu, mu, scale): shape
    ``(*batch, steps + 1, k)``.  ``init_dist=None`` uses PyMC's default
    ``MvNormal.dist(0, 100 * I)`` with PyMC's UserWarning.  Support: real series of vectors.
    """

    params = ("nu", "mu", "chol", "init_dist", "innovation_dist", "steps")

    @classmethod
    def dist(cls, nu=None, mu=None, *, scale=None, cov=None, tau=None, chol=None, lower=True, init_dist=None, steps=None,
             shape=None, size=None, _label=None, _time_len=None):
        label = _label or f"{cls.__name__}.dist"
        who = f"{cls.__name__} {label}"
        shape = cls._shape_tuple(who, shape, size)
        steps = cls._steps(who, steps, shape, _time_len, 1)
        if nu is None or mu is None:
            raise TypeError(f"{who}: missing parameter {'nu' if nu is None else 'mu'}")
        innov = MvStudentT.dist(nu=nu, mu=mu, scale=scale, cov=cov, tau=tau, chol=chol, lower=lower, _label=f"{label} (innovations)")
        p = dist_info(innov).params
        if init_dist is None:
            init_dist = default_init_dist(label, p["chol"])
        _component(init_dist, who, "init_dist", ndim_supp=(1,))
        params = {"nu": p["nu"], "mu": p["mu"], "chol": p["chol"], "init_dist": init_dist, "innovation_dist": innov, "steps": steps}
        return cls._make(params, shape, size, label)

    @classmethod
    def logp(cls, value, nu, mu, chol, init_dist, innovation_dist, steps):
        return _walk_logp(value, dist_info(init_dist).logp, dist_info(innovation_dist).logp, 1)
