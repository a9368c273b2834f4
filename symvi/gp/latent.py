"""``pm.gp.Latent``: a Gaussian process observed only through another likelihood.

``prior`` adds ``f = mean(X) + chol(K(X)) v`` (a Deterministic) with ``v`` a standard normal named
``name + "_rotated_"`` (the non-centred form, PyMC's default), or ``f ~ MvNormal(mean, K)`` with
``reparameterize=False``; ``conditional`` adds the GP at new inputs given that ``f``.

Example
-------
>>> import numpy as np, symvi as pm
>>> X = np.linspace(0, 1, 5)[:, None]
>>> with pm.Model() as m:
...     gp = pm.gp.Latent(cov_func=pm.gp.cov.ExpQuad(1, ls=0.3))
...     f = gp.prior("f", X=X)
...     y = pm.Normal("y", f, 0.1, observed=np.zeros(5))
>>> sorted(m.named_vars)
['f', 'f_rotated_', 'y']
"""

from __future__ import annotations

import pytensor.tensor as pt

from symvi.distributions import MvNormal, Normal
from symvi.gp.util import JITTER_DEFAULT, Base, as_inputs, chol, n_points, solve_lower, stabilize
from symvi.model import Deterministic

__all__ = ["Latent"]


class Latent(Base):
    """A latent GP ``f ~ GP(mean_func, cov_func)``: build its prior at inputs ``X`` and its
    conditional at new inputs.

    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     gp = pm.gp.Latent(mean_func=pm.gp.mean.Constant(1.0), cov_func=pm.gp.cov.Matern52(1, ls=1.0))
    ...     f = gp.prior("f", X=np.zeros((3, 1)), reparameterize=False)
    >>> f.name
    'f'
    """

    def prior(self, name: str, X, n_outputs: int = 1, reparameterize: bool = True,
              jitter: float = JITTER_DEFAULT, **kwargs):
        """The GP at inputs ``X`` (n x d) as a model variable named ``name``; ``kwargs`` (e.g.
        ``dims``) go to the underlying distribution.  ``n_outputs > 1`` gives that many
        independent GPs as rows of an ``(n_outputs, n)`` variable."""
        if not isinstance(n_outputs, int) or n_outputs < 1:
            raise ValueError(f"Latent.prior: n_outputs must be a positive integer, got {n_outputs!r}")
        X = as_inputs(X, "Latent.prior")
        mu = self.mean_func(X)
        K = stabilize(self.cov_func(X), jitter)
        if reparameterize:
            dims = kwargs.get("dims")
            if dims is None:
                n = n_points(X)
                kwargs["size"] = (n_outputs, n) if n_outputs > 1 else n
            v = Normal(name + "_rotated_", mu=0.0, sigma=1.0, **kwargs)
            f = Deterministic(name, mu + pt.dot(chol(K), v.T).T, dims=dims)
        else:
            if n_outputs > 1:
                mu = pt.stack([mu] * n_outputs, axis=0)
            f = MvNormal(name, mu=mu, cov=K, **kwargs)
        self.X, self.f = X, f
        return f

    def _givens(self, given):
        given = dict(given or {})
        other = given.get("gp", self)
        if "X" in given and "f" in given:
            X, f = as_inputs(given["X"], "Latent.conditional"), given["f"]
        else:
            X, f = self._need("X", "prior()"), self.f
        return X, f, other.cov_func, other.mean_func

    def _build_conditional(self, Xnew, X, f, cov_total, mean_total, jitter):
        L = chol(stabilize(cov_total(X), jitter))
        A = solve_lower(L, self.cov_func(X, Xnew))
        w = solve_lower(L, (pt.as_tensor_variable(f) - mean_total(X)).T)
        mu = self.mean_func(Xnew) + pt.dot(A.T, w).T
        cov = self.cov_func(Xnew) - pt.dot(A.T, A)
        return mu, cov

    def conditional(self, name: str, Xnew, given: dict | None = None, jitter: float = JITTER_DEFAULT, **kwargs):
        """The GP at new inputs ``Xnew`` given its values ``f`` at the prior's ``X``, as an
        ``MvNormal`` named ``name``.  ``given={"X": ..., "f": ..., "gp": ...}`` conditions on
        other values (``gp``: the total GP when this one is a term of a sum)."""
        Xnew = as_inputs(Xnew, "Latent.conditional")
        mu, cov = self._build_conditional(Xnew, *self._givens(given), jitter)
        return MvNormal(name, mu=mu, cov=stabilize(cov, jitter), **kwargs)
