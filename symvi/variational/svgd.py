"""Stein variational gradient descent (SVGD) and its amortized variant (ASVGD).

SVGD moves a set of particles ``x_1..x_n`` along the direction that most quickly decreases
KL(q || p) within the unit ball of an RBF kernel's RKHS:

    phi(x_i) = mean_j [ k(x_j, x_i) * grad log p(x_j) / temperature + grad_{x_j} k(x_j, x_i) ]

The first term pulls particles towards high density, the second pushes them apart.  The
model log density and its gradient are computed for all particles at once (the flat-vector
log density vectorised over a leading particle axis).  Optimizers minimise, so the gradient
handed to the step function is ``-phi``.

SVGD has no loss; ``hist`` records a documented surrogate, the negative mean log density of
the particles (``Average -logp(particles)`` in the progress bar).  ASVGD trains a Gaussian
``q`` by pushing its reparameterised draws along ``phi``; its ``hist`` is the usual negative
ELBO estimate.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     x = pm.Normal("x", 1.0, 0.5)
...     approx = pm.fit(300, method="svgd", inf_kwargs=dict(n_particles=50), random_seed=1,
...                     progressbar=False, obj_optimizer=pm.adam(learning_rate=0.1))
>>> particles = approx.histogram.get_value()[:, 0]
>>> bool(abs(particles.mean() - 1.0) < 0.1 and abs(particles.std() - 0.5) < 0.1)
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.replace import vectorize_graph

from pytensor.graph.basic import Apply
from pytensor.graph.op import Op

from symvi.variational import objective as objectives
from symvi.variational.approximations import Approximation, FullRank, MeanField
from symvi.variational.checkpoint import checkpointable
from symvi.variational.empirical import Empirical
from symvi.variational.inference import Inference, register_method

__all__ = ["pairwise_median", "rbf_kernel", "stein_direction", "SVGD", "ASVGD"]


def _upper_median(d):
    """Median of the entries above the diagonal of a square matrix (0.0 with no such entry)."""
    n = d.shape[0]
    m = n * (n - 1) // 2
    if m == 0:
        return 0.0
    buf = np.empty(m, dtype=np.float64)
    k = 0
    for i in range(n):
        for j in range(i + 1, n):
            buf[k] = d[i, j]
            k += 1
    return np.median(buf)


class PairwiseMedian(Op):
    """Median of a square matrix's strictly-upper-triangular entries (the distinct pairs).

    Selection, not sorting (pytensor's ``pt.median`` sorts: for 500 particles sorting the n^2
    distances was most of an SVGD step), and over n(n-1)/2 entries, not n^2.  Its gradient is
    zero, which makes the kernel bandwidth a constant.
    """

    __props__ = ()

    def make_node(self, d):
        d = pt.as_tensor_variable(d)
        if d.ndim != 2:
            raise TypeError(f"PairwiseMedian needs a matrix, got {d.type}")
        return Apply(self, [d], [pt.scalar(dtype="float64")])

    def perform(self, node, inputs, outputs):
        d = np.asarray(inputs[0], dtype="float64")
        vals = d[np.triu_indices(d.shape[0], k=1)]
        outputs[0][0] = np.asarray(np.median(vals) if vals.size else 0.0, dtype="float64")

    def infer_shape(self, fgraph, node, input_shapes):
        return [()]

    def grad(self, inputs, output_grads):
        return [pt.zeros_like(inputs[0])]


pairwise_median = PairwiseMedian()


def _register_numba_median():
    try:
        from pytensor.link.numba.dispatch.basic import numba_njit, register_funcify_default_op_cache_key
    except ImportError:  # pragma: no cover - numba is a pytensor dependency
        return

    upper_median = numba_njit(_upper_median)

    @register_funcify_default_op_cache_key(PairwiseMedian)
    def numba_funcify_pairwise_median(op, node, **kwargs):
        @numba_njit
        def pairwise_median_f(d):
            return np.array(upper_median(d))

        return pairwise_median_f


_register_numba_median()
_jax_registered = False


def _register_jax_median():
    """Give ``PairwiseMedian`` a JAX implementation (lazily: importing jax costs ~0.4 s)."""
    global _jax_registered
    if _jax_registered:
        return
    _jax_registered = True
    try:
        import jax.numpy as jnp
        from pytensor.link.jax.dispatch import jax_funcify
    except ImportError:
        return

    @jax_funcify.register(PairwiseMedian)
    def jax_funcify_pairwise_median(op, node=None, **kwargs):
        def pairwise_median_f(d):
            i, j = jnp.triu_indices(d.shape[0], k=1)
            return jnp.median(d[i, j]) if i.size else jnp.zeros((), d.dtype)

        return pairwise_median_f


def rbf_kernel(X):
    """RBF kernel with the median-heuristic bandwidth, and its repulsive term.

    For particles ``X`` (n, D) returns ``(K, R)`` with ``K[j, i] = exp(-|x_j - x_i|^2 / h)``,
    ``h = median_{j<i}(|x_j - x_i|^2) / log(n + 1)``, and ``R[i] = sum_j grad_{x_j} k(x_j, x_i)``.
    The bandwidth is treated as a constant (it is not differentiated).

    Examples
    --------
    >>> import numpy as np
    >>> K, R = rbf_kernel(pt.as_tensor(np.array([[0.0], [1.0]])))
    >>> K.eval().round(3).tolist(), R.eval().round(3).tolist()
    ([[1.0, 0.333], [0.333, 1.0]], [[-0.732], [0.732]])
    """
    _register_jax_median()
    X = pt.as_tensor_variable(X)
    sq = pt.sum(X**2, axis=1)
    d2 = pt.maximum(sq[:, None] + sq[None, :] - 2.0 * (X @ X.T), 0.0)
    n = X.shape[0].astype(X.dtype)
    # the median Op works in float64; the bandwidth, a scalar, comes back in X's dtype
    h = pt.maximum(pairwise_median(d2).astype(X.dtype), 1e-8) / pt.log(n + 1.0)
    K = pt.exp(-d2 / h)
    # grad_{x_j} k(x_j, x_i) = 2 / h * (x_i - x_j) * K[j, i]; summed over j (K is symmetric)
    R = 2.0 / h * (X * pt.sum(K, axis=1)[:, None] - K @ X)
    return K, R


def stein_direction(X, dlogp, kernel: Callable = rbf_kernel, temperature: float = 1.0):
    """The SVGD update direction ``phi`` (n, D) for particles ``X`` with log-density gradients ``dlogp``."""
    K, R = kernel(X)
    n = X.shape[0].astype(X.dtype)
    return (K @ dlogp / temperature + R) / n


def _check_temperature(temperature):
    if isinstance(temperature, bool) or not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}")
    return float(temperature)


def _batched_logp(approx, X, more_replacements):
    """Model log density at each row of ``X`` (n, D) and its gradient wrt ``X``."""
    theta, logp = objectives.model_logp_flat(approx, more_replacements)
    lp = vectorize_graph(logp, {theta: X})
    return lp, pt.grad(pt.sum(lp), X)


@checkpointable
class SVGD(Inference):
    """Stein variational gradient descent over an :class:`Empirical` of ``n_particles`` points.

    Particles start at ``start`` (or the model's initial point) plus ``jitter`` * N(0, 1) on the
    unconstrained space.  SVGD keeps each particle in the basin it starts in, so use a jitter
    wide enough to reach every mode.  ``kernel(X) -> (K, R)`` (default :func:`rbf_kernel`);
    ``temperature`` divides the log density's gradient.  ``hist`` holds the negative mean log
    density of the particles (a surrogate: SVGD has no loss).

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     svgd = pm.SVGD(n_particles=20, jitter=1.0, random_seed=0)
    >>> svgd.approx.histogram.get_value().shape
    (20, 1)
    """

    loss_label = "Average -logp(particles)"

    def __init__(
        self,
        n_particles: int = 100,
        jitter: float = 1.0,
        temperature: float = 1.0,
        start: dict | None = None,
        kernel: Callable = rbf_kernel,
        model=None,
        random_seed=None,
    ):
        self.temperature = _check_temperature(temperature)
        if isinstance(n_particles, bool) or not isinstance(n_particles, int | np.integer) or n_particles < 1:
            raise ValueError(f"SVGD: n_particles must be a positive integer, got {n_particles!r}")
        self.kernel = kernel
        approx = Empirical(size=n_particles, jitter=jitter, start=start, model=model, random_seed=random_seed)
        super().__init__(approx)

    def _checkpoint_kwargs(self) -> dict | None:
        if self.kernel is not rbf_kernel:  # a user's kernel is code, which a file cannot hold
            return None
        n = int(self.approx.histogram.get_value(borrow=True).shape[0])
        return {"temperature": float(self.temperature), "n_particles": n}

    def loss_and_grads(self, n_mc, more_replacements):
        hist = self.approx.histogram
        # static (n, D): JAX needs concrete shapes for the reshapes of the vectorised logp
        X = pt.specify_shape(hist, hist.get_value(borrow=True).shape)
        lp, dlogp = _batched_logp(self.approx, X, more_replacements)
        phi = stein_direction(X, dlogp, self.kernel, self.temperature)
        loss, grad = -pt.mean(lp), -phi
        t = objectives.normalizing_constant(self.approx, more_replacements)
        if t is not None:  # minibatches: steps on the scale of one batch, as PyMC
            loss, grad = loss / t, grad / t
        return loss, [hist], [grad]


@checkpointable
class ASVGD(Inference):
    """Amortized SVGD: train a Gaussian ``q`` (MeanField, or ``approx=``) with Stein updates.

    Each step draws ``obj_n_mc`` particles ``z_i = f(eps_i; params)`` from q and moves the
    parameters so the particles follow the SVGD direction: the gradient is
    ``-mean_i phi(z_i) . dz_i/dparams`` (``phi`` held constant).  ``start`` is not accepted;
    pass an approximation built with one.  ``hist`` is the negative ELBO estimate.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     asvgd = pm.ASVGD(random_seed=0)
    >>> sorted(asvgd.approx.shared_params)
    ['mu', 'rho']
    """

    def __init__(
        self,
        approx: Approximation | None = None,
        kernel: Callable = rbf_kernel,
        temperature: float = 1.0,
        model=None,
        random_seed=None,
        start_sigma=None,
        **kwargs,
    ):
        if "start" in kwargs:
            raise TypeError("ASVGD does not accept start=; build the approximation with it: ASVGD(approx=MeanField(start=...))")
        if kwargs:
            raise TypeError(f"ASVGD got unexpected keyword argument(s) {sorted(kwargs)}")
        if approx is None:
            approx = MeanField(model=model, start_sigma=start_sigma, random_seed=random_seed)
        elif isinstance(approx, Empirical) or not isinstance(approx, Approximation):
            raise TypeError(f"ASVGD needs a parametric approximation such as MeanField or FullRank, got {type(approx).__name__}")
        self.temperature = _check_temperature(temperature)
        self.kernel = kernel
        super().__init__(approx)

    def _checkpoint_kwargs(self) -> dict | None:
        if self.kernel is not rbf_kernel or type(self.approx) not in (MeanField, FullRank):
            return None
        return {"temperature": float(self.temperature), "approx_class": type(self.approx).__name__}

    def fit(self, n: int = 10000, score=None, callbacks=None, progressbar: bool = True, obj_n_mc: int = 100, **kwargs):
        """As :meth:`Inference.fit`; ``obj_n_mc`` is the number of particles per step (default 100)."""
        return super().fit(n, score=score, callbacks=callbacks, progressbar=progressbar, obj_n_mc=obj_n_mc, **kwargs)

    def loss_and_grads(self, n_mc, more_replacements):
        approx = self.approx
        params = list(approx.shared_params.values())
        z = approx.random(max(int(n_mc), 2))
        lp, dlogp = _batched_logp(approx, z, more_replacements)
        phi = stein_direction(z, dlogp, self.kernel, self.temperature)
        n = z.shape[0].astype(z.dtype)
        loss = -(pt.mean(lp) + approx.entropy())
        t = objectives.normalizing_constant(approx, more_replacements)
        if t is not None:  # minibatches: steps on the scale of one batch, as PyMC
            phi, loss = phi / t, loss / t
        grads = pt.grad(None, params, known_grads={z: -phi / n})
        return loss, params, grads


def _svgd_factory(model=None, random_seed=None, start=None, start_sigma=None, **kwargs):
    if start_sigma is not None:
        raise TypeError("SVGD does not use start_sigma; use jitter= (inf_kwargs) to spread the particles")
    return SVGD(model=model, random_seed=random_seed, start=start, **kwargs)


register_method("svgd", _svgd_factory)
register_method("asvgd", ASVGD)
