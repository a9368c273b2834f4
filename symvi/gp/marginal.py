"""``pm.gp.Marginal``: a GP plus Gaussian noise, with the GP integrated out.

``marginal_likelihood`` adds the data as an observed ``MvNormal(mean(X), K(X) + noise)``; after a
fit, ``conditional`` adds the GP (or a new observation with ``pred_noise=True``) at new inputs and
``predict`` returns its mean and covariance as numpy arrays at one point of the model.

Example
-------
>>> import numpy as np, symvi as pm
>>> X = np.linspace(0, 1, 6)[:, None]; y = np.sin(4 * X[:, 0])
>>> with pm.Model() as m:
...     ell = pm.Gamma("ell", alpha=2, beta=4)
...     gp = pm.gp.Marginal(cov_func=pm.gp.cov.ExpQuad(1, ls=ell))
...     y_ = gp.marginal_likelihood("y", X=X, y=y, sigma=0.1)
...     mu, var = gp.predict(np.array([[0.5]]), point={"ell": 0.3}, diag=True)
>>> mu.shape, var.shape
((1,), (1,))
"""

from __future__ import annotations

import warnings

import numpy as np
import pytensor.tensor as pt

from symvi.distributions import MvNormal
from symvi.gp import cov as _cov
from symvi.gp.util import JITTER_DEFAULT, Base, as_inputs, chol, replace_with_values, solve_lower, stabilize

__all__ = ["Marginal"]


def _noise_kernel(sigma, who: str):
    if sigma is None:
        raise TypeError(f"{who}: missing the noise: give sigma= (a standard deviation or a kernel)")
    return sigma if isinstance(sigma, _cov.Covariance) else _cov.WhiteNoise(sigma)


class Marginal(Base):
    """The GP ``f ~ GP(mean_func, cov_func)`` observed as ``y = f(X) + noise``.

    >>> import numpy as np, symvi as pm
    >>> with pm.Model() as m:
    ...     gp = pm.gp.Marginal(cov_func=pm.gp.cov.Matern32(1, ls=0.5))
    ...     y = gp.marginal_likelihood("y", X=np.zeros((2, 1)), y=np.zeros(2), sigma=1.0)
    >>> [v.name for v in m.observed_RVs]
    ['y']
    """

    def marginal_likelihood(self, name: str, X, y, sigma=None, noise=None, jitter: float = JITTER_DEFAULT,
                            is_observed: bool = True, **kwargs):
        """The observed data ``y`` (length n) at inputs ``X`` (n x d): an ``MvNormal`` with the
        GP's mean and covariance ``K(X) + sigma^2 I`` (``sigma`` a standard deviation, or a kernel
        for correlated noise; ``noise`` is PyMC's older name for it)."""
        if noise is not None:
            if sigma is not None:
                raise TypeError("Marginal.marginal_likelihood: give sigma or its old name noise, not both")
            warnings.warn("Marginal.marginal_likelihood: 'noise' is PyMC's old name; use sigma=", FutureWarning, stacklevel=2)
            sigma = noise
        noise_func = _noise_kernel(sigma, "Marginal.marginal_likelihood")
        X = as_inputs(X, "Marginal.marginal_likelihood")
        mu = self.mean_func(X)
        cov = stabilize(self.cov_func(X) + noise_func(X), jitter)
        self.X, self.y, self.sigma = X, y, noise_func
        if is_observed:
            if y is None:
                raise TypeError("Marginal.marginal_likelihood: y (the observed data) is required")
            return MvNormal(name, mu=mu, cov=cov, observed=y, **kwargs)
        warnings.warn("Marginal.marginal_likelihood(is_observed=False) is deprecated in PyMC: use gp.Latent",
                      FutureWarning, stacklevel=2)
        return MvNormal(name, mu=mu, cov=cov, **kwargs)

    def _givens(self, given):
        given = dict(given or {})
        other = given.get("gp", self)
        if all(k in given for k in ("X", "y", "sigma")):
            X = as_inputs(given["X"], "Marginal.conditional")
            y, noise_func = given["y"], _noise_kernel(given["sigma"], "Marginal.conditional")
        else:
            X, y, noise_func = self._need("X", "marginal_likelihood()"), self.y, self.sigma
        return X, y, noise_func, other.cov_func, other.mean_func

    def _build_conditional(self, Xnew, pred_noise, diag, X, y, noise_func, cov_total, mean_total, jitter):
        L = chol(stabilize(cov_total(X), jitter) + noise_func(X))
        A = solve_lower(L, self.cov_func(X, Xnew))
        w = solve_lower(L, pt.as_tensor_variable(y) - mean_total(X))
        mu = self.mean_func(Xnew) + pt.dot(A.T, w)
        if diag:
            var = self.cov_func(Xnew, diag=True) - pt.sum(pt.square(A), axis=0)
            return mu, var + noise_func(Xnew, diag=True) if pred_noise else var
        cov = self.cov_func(Xnew) - pt.dot(A.T, A)
        return mu, cov + noise_func(Xnew) if pred_noise else stabilize(cov, jitter)

    def conditional(self, name: str, Xnew, pred_noise: bool = False, given: dict | None = None,
                    jitter: float = JITTER_DEFAULT, **kwargs):
        """The GP at new inputs ``Xnew`` given the data, as an ``MvNormal`` named ``name``
        (with ``pred_noise=True``: a new noisy observation there).  Draw it with
        ``pm.sample_posterior_predictive(..., var_names=[name])``."""
        Xnew = as_inputs(Xnew, "Marginal.conditional")
        mu, cov = self._build_conditional(Xnew, pred_noise, False, *self._givens(given), jitter)
        return MvNormal(name, mu=mu, cov=cov, **kwargs)

    def predict(self, Xnew, point: dict | None = None, diag: bool = False, pred_noise: bool = False,
                given: dict | None = None, jitter: float = JITTER_DEFAULT, model=None):
        """Mean and covariance (``diag=True``: variance) of the GP at ``Xnew`` given the data, as
        numpy arrays, with the model's variables at ``point`` (e.g. ``pm.find_MAP()``)."""
        mu, cov = self._predict_at(Xnew, diag=diag, pred_noise=pred_noise, given=given, jitter=jitter)
        out = replace_with_values([mu, cov], point, model=model)
        return np.asarray(out[0]), np.asarray(out[1])

    def _predict_at(self, Xnew, diag: bool = False, pred_noise: bool = False, given=None, jitter=JITTER_DEFAULT):
        """The symbolic mean and covariance behind :meth:`predict`."""
        Xnew = as_inputs(Xnew, "Marginal.predict")
        return self._build_conditional(Xnew, pred_noise, diag, *self._givens(given), jitter)
