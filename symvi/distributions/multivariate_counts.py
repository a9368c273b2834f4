"""Count vectors over categories beyond the plain Multinomial: DirichletMultinomial and
OrderedMultinomial (``ndim_supp = 1``: the last axis holds the categories).

Examples
--------
>>> import numpy as np, symvi as sv
>>> x = sv.DirichletMultinomial.dist(n=10, a=np.ones(3), size=4)
>>> sv.draw(x, random_seed=1).sum(-1).tolist()
[10, 10, 10, 10]
"""

from __future__ import annotations

import pytensor.tensor as pt
import pytensor.tensor.random.basic as rb

from symvi.distributions.base import Discrete, bound, event_len, nonneg, positive
from symvi.distributions.dist_math import batch_dims, as_float, normalize
from symvi.distributions.multivariate import Multinomial
from symvi.pytensorf import new_rng

__all__ = ["DirichletMultinomial", "OrderedMultinomial"]


class DirichletMultinomial(Discrete):
    """DirichletMultinomial(n, a): counts of ``n`` draws over K categories whose probabilities
    are Dirichlet(a) (marginalised).

    ``log p(x) = log Gamma(n + 1) + log Gamma(A) - log Gamma(n + A)
    + sum_k [log Gamma(x_k + a_k) - log Gamma(x_k + 1) - log Gamma(a_k)]`` with ``A = sum(a)``;
    support: non-negative integer vectors summing to ``n``.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> from symvi.distributions.base import dist_info
    >>> x = sv.DirichletMultinomial.dist(n=2, a=np.ones(2))
    >>> round(float(np.exp(dist_info(x).logp(np.array([1, 1])).eval())), 6)  # uniform on {0,1,2}
    0.333333
    """

    params = ("n", "a")
    ndim_supp = 1
    support = "{0, 1, ..., n}^K summing to n"
    checks = [(("n",), nonneg, ">= 0"), (("a",), event_len(1), "a vector of concentrations (last axis)"), (("a",), positive, "> 0")]

    @classmethod
    def rv_graph(cls, params, size, rng):
        a = as_float(params["a"])
        n = params["n"].astype("int64")
        if size is None:
            # static lengths as ints: a symbolic length 1 (of a constant) would not broadcast
            dims = [batch_dims(v, d) for v, d in ((n, 0), (a, 1))]
            size = tuple(pt.broadcast_shape(*dims, arrays_are_shapes=True))
        p = rb.dirichlet(a, size=size, rng=rng)
        return rb.multinomial(n, p, size=size, rng=new_rng())

    @staticmethod
    def logp(value, n, a):
        x, n, a = as_float(value), as_float(n), as_float(a)
        total = pt.sum(a, axis=-1)
        lp = (
            pt.gammaln(n + 1)
            + pt.gammaln(total)
            - pt.gammaln(n + total)
            + pt.sum(pt.gammaln(x + a) - pt.gammaln(x + 1) - pt.gammaln(a), axis=-1)
        )
        return bound(lp, pt.all(x >= 0, axis=-1), pt.eq(pt.sum(x, axis=-1), n))

    @classmethod
    def support_point(cls, rv, n, a):
        return Multinomial.support_point(rv, n, normalize(a))


def ordered_probs(eta, cutpoints):
    """Category probabilities of an ordered logit: ``P(Y <= k) = sigmoid(c_k - eta)``.

    Examples
    --------
    >>> import numpy as np
    >>> ordered_probs(0.0, np.array([0.0])).eval().tolist()
    [0.5, 0.5]
    """
    eta, cut = as_float(eta), as_float(cutpoints)
    below = pt.sigmoid(cut - eta[..., None])
    zeros = pt.zeros_like(below[..., :1])
    cum = pt.concatenate([zeros, below, zeros + 1.0], axis=-1)
    return cum[..., 1:] - cum[..., :-1]


class OrderedMultinomial(Multinomial):
    """OrderedMultinomial(eta, cutpoints, n, compute_p=True): Multinomial counts of ``n``
    trials over K ordered categories with ordered-logit probabilities
    ``p_k = sigmoid(c_k - eta) - sigmoid(c_{k-1} - eta)`` (``c_0 = -inf``, ``c_K = +inf``,
    K - 1 cutpoints, which should be increasing).

    With ``compute_p=True`` (default) a Deterministic ``{name}_probs`` records ``p``, as PyMC.
    Support: non-negative integer vectors of length K summing to ``n``.

    Examples
    --------
    >>> import numpy as np, symvi as sv
    >>> with sv.Model() as m:
    ...     y = sv.OrderedMultinomial("y", eta=0.0, cutpoints=np.array([-1.0, 1.0]), n=10,
    ...                               observed=np.array([2, 6, 2]))
    >>> sorted(m.named_vars)
    ['y', 'y_probs']
    """

    support = "{0, 1, ..., n}^K summing to n"

    def __new__(cls, name, *args, compute_p=True, **kwargs):
        from symvi.distributions.base import dist_info
        from symvi.context import modelcontext

        rv = Discrete.__new__(cls, name, *args, **kwargs)
        if compute_p:
            modelcontext(None).add_deterministic(f"{name}_probs", dist_info(rv).params["p"], dims=kwargs.get("dims"))
        return rv

    @classmethod
    def dist(cls, eta, cutpoints, n, *, compute_p=True, **kwargs):
        return super().dist(eta, cutpoints, n, **kwargs)

    @classmethod
    def parametrize(cls, eta, cutpoints, n):
        return {"n": n, "p": ordered_probs(eta, cutpoints)}
