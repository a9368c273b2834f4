"""Pathfinder: Gaussian approximations read off an L-BFGS path (Zhang et al., JMLR 2022).

Single-path Pathfinder runs L-BFGS on ``-log p`` from a start point, forms the Gaussian
``N(x_l + H_l g_l, H_l)`` at every iterate (:mod:`symvi.variational.lbfgs_gaussians`),
estimates each one's ELBO from ``num_elbo_draws`` draws (all iterates' draws go through the
compiled log density in one vectorised call) and keeps the Gaussian with the highest ELBO,
i.e. the lowest estimated KL(q || p), less two Monte Carlo standard errors: among
candidates whose ELBOs differ by less than their noise, the one with the steadier log
ratios ``log p - log q`` wins (an exact Gaussian's are constant).  It is returned as a
:class:`~symvi.variational.approximations.FullRank` approximation (``mu``, Cholesky factor
``L``), so ``sample``, ``sample_node``, ``diagnose`` and checkpoints work as for
FullRankADVI.

Every path starts from the initial point (or ``start``) plus uniform noise in ``[-jitter,
jitter]`` on the unconstrained space (Stan's radius 2): a path started at the mode itself
would have no curvature pairs to estimate the covariance from.  Multi-path Pathfinder runs
``num_paths`` such paths, draws ``num_draws_per_path`` points from each path's Gaussian and importance-resamples the
pooled draws with Pareto-smoothed weights (PSIS, :func:`symvi.variational.diagnostics`).  The
proposal density of a pooled draw is the equal-weight mixture of the paths' Gaussians, so
several paths ending in the same mode do not over-weight it.  The result is a
:class:`PathfinderDraws` (an :class:`~symvi.variational.empirical.Empirical` over the
resampled draws that also keeps the paths' Gaussians: its ``diagnose`` reports the PSIS
k-hat of the importance weights).

All paths run together (:func:`batched_paths`): one L-BFGS over all of them
(:func:`symvi.variational.batched_lbfgs.batched_lbfgs`, one batched log density + gradient
call per line-search round), the candidate covariances of all paths formed in one batch,
and one log-density call for every path's ELBO draws.  (The warm start of gradient-descent
fits keeps :func:`single_path`, scipy's L-BFGS-B, which needs no Numba compile.)

``fit(n, method="pathfinder", inf_kwargs={...})`` uses :class:`Pathfinder`; ``n`` caps the
L-BFGS iterations per path.  ``approx.pathfinder`` holds what the run did
(:class:`PathfinderInfo`: gradient and log-density evaluations, ELBO along each path).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     x = pm.MvNormal("x", mu=np.zeros(2), cov=np.array([[1.0, 0.8], [0.8, 1.0]]))
...     q = pm.fit(method="pathfinder", inf_kwargs={"num_paths": 1}, random_seed=0,
...                progressbar=False, backend="c")
>>> bool(np.allclose(q.cov.eval(), [[1.0, 0.8], [0.8, 1.0]], atol=0.06))
True
"""

from __future__ import annotations

import contextlib
import numbers
import time
from dataclasses import dataclass, field

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import vectorize_graph

from symvi.backends import TIERED, resolve_backend
from symvi.model import modelcontext
from symvi.optimize import FlatLogp
from symvi.pytensorf import ONE_SHOT_MODE, compile_fn
from symvi.variational.approximations import FullRank, _check_model, apply_start
from symvi.variational.batched_lbfgs import batched_lbfgs
from symvi.variational.checkpoint import checkpointable
from symvi.variational.empirical import Empirical
from symvi.variational.methods import register_method
from symvi.variational.lbfgs_gaussians import LOG_2PI, lbfgs_path, local_gaussians, local_gaussians_many, mixture_logpdf

__all__ = ["Pathfinder", "PathfinderDraws", "PathfinderInfo", "PathResult", "batched_paths", "pathfinder", "single_path"]


@dataclass
class PathResult:
    """One L-BFGS path and the Gaussian chosen on it.

    Attributes
    ----------
    mu, chol : mean (D,) and Cholesky factor (D, D) of the chosen Gaussian.
    best : iterate of the chosen Gaussian (0 is the start).
    elbo : ELBO estimate of the chosen Gaussian.
    elbos : ELBO estimate of each candidate Gaussian along the path, in path order.
    iterations : L-BFGS iterations (L).
    n_grad_evals : log density + gradient evaluations of the optimiser.
    n_logp_evals : log density evaluations of the ELBO estimates.
    message : the optimiser's stopping message.
    """

    mu: np.ndarray
    chol: np.ndarray
    best: int
    elbo: float
    elbos: np.ndarray
    iterations: int
    n_grad_evals: int
    n_logp_evals: int
    message: str


@dataclass
class PathfinderInfo:
    """What a Pathfinder run did.

    Attributes
    ----------
    paths : one :class:`PathResult` per path (failed paths left out).
    n_grad_evals : gradient evaluations of all the L-BFGS runs.
    n_logp_evals : every log density evaluation (L-BFGS, ELBO estimates, importance draws).
    khat : PSIS k-hat of the multi-path importance weights (NaN for a single path).
    seconds : wall time of the run (compile included).
    """

    paths: list[PathResult] = field(default_factory=list)
    n_grad_evals: int = 0
    n_logp_evals: int = 0
    khat: float = float("nan")
    seconds: float = 0.0

    def __str__(self) -> str:
        best = max(p.elbo for p in self.paths)
        khat = "" if np.isnan(self.khat) else f", PSIS k-hat {self.khat:.2f}"
        return (
            f"Pathfinder: {len(self.paths)} path(s), {sum(p.iterations for p in self.paths)} L-BFGS iterations, "
            f"{self.n_grad_evals} gradient evaluations, {self.n_logp_evals} log-density evaluations in all, "
            f"best ELBO {best:.4g}{khat} ({self.seconds:.2f} s)"
        )


@contextlib.contextmanager
def one_blas_thread():
    """Limit BLAS to one thread inside the block (threadpoolctl, where installed).

    Pathfinder's linear algebra is on D x D matrices with D small: OpenBLAS's threads only
    add synchronisation, and on a busy machine each small solve then waits milliseconds
    for a core (measured: a 0.26 s path took 1.0 s with the default thread count).
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _CONTROLLER = False
        else:
            _CONTROLLER = ThreadpoolController()  # scans the loaded libraries once (~20 ms)
    if _CONTROLLER is False:
        yield
        return
    with _CONTROLLER.limit(limits=1, user_api="blas"):
        yield


_CONTROLLER = None


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"Pathfinder: {what} must be a positive integer, got {value!r}")
    return int(value)


def _thin(n: int, k: int) -> np.ndarray:
    """``k`` of the indices ``0..n-1``: the last ``k // 2`` and the rest spread over the others.

    >>> _thin(10, 4).tolist()
    [0, 7, 8, 9]
    """
    tail = k // 2
    spread = np.linspace(0, n - 1 - tail, k - tail).round().astype(int)
    return np.unique(np.r_[spread, np.arange(n - tail, n)])


def single_path(
    f: FlatLogp,
    x0: np.ndarray,
    gen: np.random.Generator,
    maxiter: int = 1000,
    history: int = 6,
    num_elbo_draws: int = 10,
    max_candidates: int | None = None,
) -> PathResult:
    """Run one Pathfinder path of ``f`` from ``x0`` (scipy's L-BFGS-B); returns its :class:`PathResult`.

    ``max_candidates`` caps the Gaussians whose ELBO is estimated (each costs
    ``num_elbo_draws`` log-density evaluations): half of them the last ones of the path, the
    rest spread evenly over the earlier part.  Raises ``FloatingPointError`` when no Gaussian
    on the path has a finite ELBO.
    """
    before = f.n_points
    path = lbfgs_path(f.value_and_grad, x0, maxiter=maxiter, history=history)
    n_grad = f.n_points - before
    cands = _path_candidates(path, history, max_candidates)
    eps = gen.standard_normal((num_elbo_draws, f.ndim))
    Z = _elbo_points(cands, eps)
    lp = f.logp(Z)
    return _choose(path, cands, eps, lp, n_grad)


def batched_paths(
    f: FlatLogp,
    starts: np.ndarray,
    gen: np.random.Generator,
    maxiter: int = 1000,
    history: int = 6,
    num_elbo_draws: int = 10,
) -> list[PathResult | FloatingPointError]:
    """Pathfinder paths of ``f`` from every row of ``starts`` (P, D), run together.

    One L-BFGS over all paths (:func:`symvi.variational.batched_lbfgs.batched_lbfgs`: one
    batched log-density call per line-search round) and one log-density call for the ELBO
    draws of every candidate Gaussian of every path.  Returns a :class:`PathResult` per
    path, or the ``FloatingPointError`` of a path whose Gaussians have no finite ELBO.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> from symvi.optimize import FlatLogp
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 1.0, 2.0)
    >>> paths = batched_paths(FlatLogp(m, backend="c"), np.array([[0.0], [3.0]]), np.random.default_rng(0))
    >>> [(round(float(p.mu[0]), 4), round(float(p.chol[0, 0]), 4)) for p in paths]
    [(1.0, 2.0), (1.0, 2.0)]
    """
    paths = batched_lbfgs(f, starts, maxiter=maxiter, history=history)
    cands = _many_candidates(paths, history)
    # one (P, K, D) draw is the P successive (K, D) draws of the same generator
    eps = gen.standard_normal((len(paths), num_elbo_draws, f.ndim))
    sizes = np.array([len(c[0]) for c in cands])
    owner = np.repeat(np.arange(len(paths)), sizes)
    mus = np.concatenate([c[1] for c in cands])
    C = np.concatenate([c[2] for c in cands])
    # every candidate's draws in one product: candidate n of path p gets p's draws eps[p]
    Z = mus[:, None, :] + eps[owner] @ np.swapaxes(C, 1, 2)
    lp = f.logp(Z.reshape(-1, f.ndim))
    elbos, score = _scores(eps[owner], C, lp)
    out: list[PathResult | FloatingPointError] = []
    offsets = np.r_[0, np.cumsum(sizes)]
    for k, path in enumerate(paths):
        a, b = offsets[k], offsets[k + 1]
        try:
            out.append(_pick(path, cands[k], elbos[a:b], score[a:b], num_elbo_draws, path.n_evals))
        except FloatingPointError as err:
            out.append(err)
    return out


def _starts(f: FlatLogp, x0: np.ndarray, jitter: float, num_paths: int, gen: np.random.Generator) -> np.ndarray:
    """``num_paths`` start points: ``x0`` plus uniform noise in ``[-jitter, jitter]``.

    A start where the log density is not finite (a wide jitter can put a log-scale parameter
    where the model overflows) is drawn again with half the noise, up to 8 times, then ``x0``.
    """
    starts = x0 + gen.uniform(-jitter, jitter, size=(num_paths, x0.size))
    if jitter == 0:
        return starts
    scale = np.full(num_paths, float(jitter))
    for _ in range(8):
        bad = ~np.isfinite(f.logp(starts))
        if not bad.any():
            return starts
        scale[bad] /= 2
        starts[bad] = x0 + gen.uniform(-1, 1, size=(int(bad.sum()), x0.size)) * scale[bad, None]
    bad = ~np.isfinite(f.logp(starts))
    starts[bad] = x0
    return starts


def _path_candidates(path, history: int, max_candidates: int | None = None):
    iters, mus, chols = local_gaussians(path.X, path.G, history)
    if max_candidates is not None and len(mus) > max_candidates:
        keep = _thin(len(mus), max(2, int(max_candidates)))
        iters, mus, chols = iters[keep], mus[keep], [chols[i] for i in keep]
    return iters, mus, np.stack(chols)


def _many_candidates(paths, history: int):
    """:func:`_path_candidates` of every path, the matrix algebra batched over the paths."""
    return local_gaussians_many([(p.X, p.G) for p in paths], history)


def _elbo_points(cands, eps: np.ndarray) -> np.ndarray:
    """The ELBO draws of every candidate, (n * K, D): the same standard-normal draws ``eps``
    (K, D) for every candidate (common random numbers: the ELBO differences between
    candidates are then far less noisy than the ELBOs themselves)."""
    _, mus, C = cands
    return (mus[:, None, :] + np.einsum("kj,ndj->nkd", eps, C)).reshape(-1, mus.shape[1])


def _choose(path, cands, eps: np.ndarray, lp: np.ndarray, n_grad: int) -> PathResult:
    """The candidate with the highest ELBO less two Monte Carlo standard errors."""
    elbos, score = _scores(np.broadcast_to(eps, (len(cands[1]),) + eps.shape), cands[2], lp)
    return _pick(path, cands, elbos, score, eps.shape[0], n_grad)


def _scores(eps: np.ndarray, C: np.ndarray, lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ELBO estimates, ELBO less two Monte Carlo standard errors) of candidates with Cholesky
    factors ``C`` (n, D, D) from their draws ``eps`` (n, K, D) and log densities ``lp`` (n * K,)."""
    n, K, D = eps.shape
    lp = np.where(np.isnan(lp), -np.inf, lp).reshape(n, K)
    logdet = np.sum(np.log(np.diagonal(C, axis1=1, axis2=2)), axis=1)
    lq = -0.5 * np.sum(eps**2, axis=-1) - logdet[:, None] - 0.5 * D * LOG_2PI
    with np.errstate(invalid="ignore", over="ignore"):  # far starts: huge spreads are scored -inf below
        elbos = np.mean(lp - lq, axis=1)
        mcse = np.std(lp - lq, axis=1, ddof=1) / np.sqrt(K) if K > 1 else np.zeros(n)
        elbos = np.where(np.isnan(elbos), -np.inf, elbos)
        score = np.where(np.isfinite(elbos), elbos - 2.0 * np.nan_to_num(mcse, nan=np.inf), -np.inf)
    return elbos, score


def _pick(path, cands, elbos: np.ndarray, score: np.ndarray, K: int, n_grad: int) -> PathResult:
    """The :class:`PathResult` of the candidate with the best ``score`` (see :func:`_choose`)."""
    iters, mus, C = cands
    n = len(mus)
    if not np.isfinite(elbos).any():
        raise FloatingPointError(
            f"Pathfinder: no Gaussian along the L-BFGS path ({path.X.shape[0] - 1} iterations, {path.message}) has a finite ELBO; "
            "the log density is -inf/NaN at its draws. Check the model or pass start="
        )
    best = int(np.argmax(score)) if np.isfinite(score).any() else int(np.argmax(elbos))
    return PathResult(
        mu=mus[best],
        chol=C[best],
        best=int(iters[best]),
        elbo=float(elbos[best]),
        elbos=elbos,
        iterations=path.X.shape[0] - 1,
        n_grad_evals=int(n_grad),
        n_logp_evals=n * K,
        message=path.message,
    )


@checkpointable
class PathfinderDraws(Empirical):
    """Importance-resampled draws of multi-path Pathfinder, with the paths' Gaussians.

    An :class:`~symvi.variational.empirical.Empirical` over ``histogram`` (the resampled
    draws, unconstrained flat space) whose ``shared_params`` also hold ``means`` (P, D) and
    ``chols`` (P, D, D), the Gaussians the draws were proposed from.  :meth:`diagnose`
    importance-weights fresh draws of their equal-weight mixture against the model.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 0, 1)
    ...     q = PathfinderDraws(np.zeros((3, 1)), np.zeros((1, 1)), np.ones((1, 1, 1)), random_seed=0)
    >>> q.n_particles, q.diagnose(random_seed=0).reading
    (3, 'good')
    """

    resizable_params = ("histogram", "means", "chols")

    def __init__(self, particles=None, means=None, chols=None, model=None, random_seed=None):
        super().__init__(size=1, model=model, random_seed=random_seed)
        D = self.ndim
        particles = self._start[None, :] if particles is None else np.asarray(particles, dtype="float64")
        means = self._start[None, :] if means is None else np.asarray(means, dtype="float64")
        chols = np.eye(D)[None] if chols is None else np.asarray(chols, dtype="float64")
        if particles.ndim != 2 or particles.shape[1] != D or means.shape[1:] != (D,) or chols.shape != (means.shape[0], D, D):
            raise ValueError(
                f"PathfinderDraws: expected particles (n, {D}), means (P, {D}) and chols (P, {D}, {D}); "
                f"got {particles.shape}, {means.shape}, {chols.shape}"
            )
        self.histogram.set_value(np.ascontiguousarray(particles))
        self.shared_params = {
            "histogram": self.histogram,
            "means": pytensor.shared(np.ascontiguousarray(means), name="means"),
            "chols": pytensor.shared(np.ascontiguousarray(chols), name="chols"),
        }

    def _checkpoint_kwargs(self) -> dict:
        return {}  # particles and Gaussians of a checkpoint replace the blank's

    def proposal_logpdf(self, Z: np.ndarray) -> np.ndarray:
        """Log density of the paths' Gaussian mixture at the rows of ``Z`` (n, D)."""
        return mixture_logpdf(Z, self.shared_params["means"].get_value(), self.shared_params["chols"].get_value())

    def _batched_logp(self):
        if getattr(self, "_logp_fn", None) is None:
            from symvi.variational.objective import model_logp_flat

            theta, logp = model_logp_flat(self)
            Z = pt.matrix("Z", dtype="float64")
            self._logp_fn = compile_fn([Z], vectorize_graph(logp, {theta: Z}), mode=ONE_SHOT_MODE)
        return self._logp_fn

    def diagnose(self, draws: int = 1000, random_seed=None):
        """PSIS diagnostics of the importance resampling: ``draws`` fresh draws of the paths'
        Gaussian mixture weighted by ``p / q_mixture``.

        k-hat reads as for :func:`symvi.variational.diagnostics.diagnose`: below 0.7 the
        resampled draws can be trusted; above, the paths' Gaussians miss posterior mass.
        (No coverage check: that one needs a single Gaussian q.)
        """
        from symvi.variational.diagnostics import _check_draws, _summarise

        draws = _check_draws(draws, "diagnose")
        gen = np.random.default_rng(random_seed)
        means = self.shared_params["means"].get_value()
        chols = self.shared_params["chols"].get_value()
        comp = gen.integers(means.shape[0], size=draws)
        eps = gen.standard_normal((draws, self.ndim))
        Z = means[comp] + np.einsum("nij,nj->ni", chols[comp], eps)
        lp = np.asarray(self._batched_logp()(Z), dtype="float64")
        lw = lp - self.proposal_logpdf(Z)
        lw = np.where(np.isnan(lw), -np.inf, lw)
        if not np.isfinite(lw).any():
            raise FloatingPointError("diagnose: log p(z) is -inf/NaN at every draw of the paths' Gaussians")
        return _summarise(lw)


#: importance-resampling proposals of multi-path Pathfinder in all (``num_draws_per_path`` default)
PROPOSALS = 4000


class Pathfinder:
    """Pathfinder variational inference (single- or multi-path); ``fit`` returns the approximation.

    Parameters
    ----------
    model, random_seed, start : as for :class:`~symvi.variational.inference.ADVI`; ``start``
        is the (first) start point, default ``model.initial_point()``.
    num_paths : 1 gives single-path Pathfinder (a :class:`FullRank` result); more give
        multi-path Pathfinder (a :class:`PathfinderDraws` result).  Default 16 (Stan: 4):
        on eight_schools_noncentered 4 paths from Stan's starts missed the posterior mean of
        ``mu`` by 0.4-0.8 sd; 16 paths with the wider default ``jitter`` by 0.07-0.12 over
        8 seeds (``benchmarks/bench_pathfinder.py``).  The paths' L-BFGS runs are batched,
        so 16 cost little more than 4.
    history : L-BFGS history size ``J`` (curvature pairs kept), default 6.
    num_elbo_draws : draws per iterate for its ELBO estimate; default 10 for a single path,
        5 per path for several.
    num_draws : resampled draws kept by multi-path Pathfinder, default 1000.
    num_draws_per_path : proposals drawn from each path's Gaussian for the importance
        resampling; default 4000 in all (Stan: 1000 per path, 4 paths).
    jitter : each path starts at the start point plus uniform noise in ``[-jitter, jitter]``
        on the unconstrained scale (0: exactly at the start point); default 2 (Stan's) for a
        single path, 10 for several.  The Gaussians lie along the L-BFGS paths, so the
        paths must pass through the posterior's bulk: from Stan's narrower starts every path
        of eight_schools ran from ``mu`` in [-1.4, 3.0] to the joint mode (``mu`` 1.4,
        ``tau`` 29) and none came near the posterior mean (``mu`` 4.4).  A start where the
        log density is not finite is drawn again with half the noise.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 2.0)
    ...     q = pm.Pathfinder(num_paths=1, random_seed=0).fit(progressbar=False, backend="c")
    >>> round(float(q.mean.eval()[0]), 4), round(float(q.std.eval()[0]), 4)
    (1.0, 2.0)
    """

    loss_label = "-ELBO of the Gaussians along the path"  # what a single path's ``approx.hist`` holds

    def __init__(
        self,
        model=None,
        random_seed=None,
        start: dict | None = None,
        num_paths: int = 16,
        history: int = 6,
        num_elbo_draws: int | None = None,
        num_draws: int = 1000,
        num_draws_per_path: int | None = None,
        jitter: float | None = None,
    ):
        self.model = modelcontext(model, who="Pathfinder")
        _check_model(self.model)
        self.random_seed = random_seed
        point = self.model.initial_point()
        self.start_point = apply_start(self.model, point, start) if start else point
        self.num_paths = _positive_int(num_paths, "num_paths")
        single = self.num_paths == 1
        self.history = _positive_int(history, "history")
        self.num_elbo_draws = _positive_int((10 if single else 5) if num_elbo_draws is None else num_elbo_draws, "num_elbo_draws")
        self.num_draws = _positive_int(num_draws, "num_draws")
        per_path = max(1, PROPOSALS // self.num_paths) if num_draws_per_path is None else num_draws_per_path
        self.num_draws_per_path = _positive_int(per_path, "num_draws_per_path")
        jitter = (2.0 if single else 10.0) if jitter is None else jitter
        if not np.isfinite(jitter) or jitter < 0:
            raise ValueError(f"Pathfinder: jitter must be a finite non-negative number, got {jitter!r}")
        self.jitter = float(jitter)
        self.approx = None
        self.info = None

    def fit(self, n: int | None = None, progressbar: bool = True, backend: str | None = None, diagnose: bool = False, **kwargs):
        """Run Pathfinder with at most ``n`` L-BFGS iterations per path (None: 1000).

        ``backend`` picks the compiler of the log density ("numba", "c", "jax"; default
        symvi's, :func:`symvi.backend`: Numba, its compile cached on disk; "auto" uses the
        quick C VM, which compiles faster and calls slower).  Returns a
        :class:`FullRank` (one path) or :class:`PathfinderDraws` (several); ``approx.pathfinder``
        is the run's :class:`PathfinderInfo`.
        """
        if kwargs:
            raise TypeError(
                f"Pathfinder.fit() got keyword argument(s) {sorted(kwargs)} of gradient-descent VI; Pathfinder uses "
                "L-BFGS and takes num_paths, history, num_elbo_draws, num_draws, num_draws_per_path and jitter in inf_kwargs"
            )
        maxiter = 1000 if n is None else _positive_int(n, "n (L-BFGS iterations per path)")
        t0 = time.perf_counter()
        with one_blas_thread():
            approx, info, seed = self._run(maxiter, backend)
        info.seconds = time.perf_counter() - t0
        approx.pathfinder = info
        approx.inference = self
        self.approx, self.info = approx, info
        if progressbar:
            print(info)
        if diagnose:
            print(approx.diagnose(random_seed=seed))
        return approx

    def _run(self, maxiter: int, backend: str | None):
        gen = np.random.default_rng(self.random_seed)
        # a few hundred single-point calls and one batch: Numba's per-call cost (~10 us) beats
        # the C VM's (~0.2-0.5 ms, ops without cached C code run in Python), and its
        # compiled log density is cached on disk like the fits' loops ("auto": the quick VM)
        key = resolve_backend(backend)
        f = FlatLogp.cached(self.model, self.start_point, backend=None if key == TIERED else key)
        first = f.n_points
        x0 = f.layout.ravel(self.start_point)
        starts = _starts(f, x0, self.jitter, self.num_paths, gen)
        info = PathfinderInfo()
        results = batched_paths(f, starts, gen, maxiter, self.history, self.num_elbo_draws)
        info.paths = [r for r in results if isinstance(r, PathResult)]
        if not info.paths:
            raise FloatingPointError(str(results[0]))
        info.n_grad_evals = sum(p.n_grad_evals for p in info.paths)
        seed = int(gen.integers(2**63))
        if self.num_paths == 1:
            approx = self._full_rank(info.paths[0], seed)
        else:
            approx = self._resample(f, info, gen, seed)
        info.n_logp_evals = f.n_points - first
        return approx, info, seed

    def _full_rank(self, path: PathResult, seed: int) -> FullRank:
        q = FullRank(model=self.model, random_seed=seed)
        q.set_params({"mu": path.mu, "L_tril": path.chol[np.tril_indices(q.ndim)]})
        q.hist = -path.elbos[np.isfinite(path.elbos)]
        return q

    def _resample(self, f: FlatLogp, info: PathfinderInfo, gen: np.random.Generator, seed: int) -> PathfinderDraws:
        from symvi.variational.diagnostics import _psis

        means = np.stack([p.mu for p in info.paths])
        chols = np.stack([p.chol for p in info.paths])
        m = self.num_draws_per_path
        # one (P, m, D) draw is the P successive (m, D) draws of the same generator
        Z = (means[:, None, :] + gen.standard_normal((len(info.paths), m, f.ndim)) @ np.swapaxes(chols, 1, 2)).reshape(-1, f.ndim)
        lp = f.logp(Z)
        lw = lp - mixture_logpdf(Z, means, chols, compiled=True)
        lw = np.where(np.isnan(lw), -np.inf, lw)
        if not np.isfinite(lw).any():
            raise FloatingPointError("Pathfinder: the log density is -inf/NaN at every draw of the paths' Gaussians")
        smoothed, khat = _psis(lw)
        info.khat = khat
        w = np.exp(smoothed - smoothed.max())
        idx = gen.choice(Z.shape[0], size=self.num_draws, replace=True, p=w / w.sum())
        return PathfinderDraws(Z[idx], means, chols, model=self.model, random_seed=seed)


def pathfinder(model=None, num_paths: int = 16, random_seed=None, start: dict | None = None, maxiter: int | None = None, progressbar: bool = True, backend: str | None = None, **kwargs):
    """Run :class:`Pathfinder` on ``model`` (default: the context model); returns the approximation.

    ``kwargs`` are Pathfinder's (``history``, ``num_elbo_draws``, ``num_draws``,
    ``num_draws_per_path``, ``jitter``); ``maxiter`` caps the L-BFGS iterations per path.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model():
    ...     x = pm.Normal("x", 1.0, 2.0)
    ...     q = pm.pathfinder(num_paths=1, random_seed=0, progressbar=False, backend="c")
    >>> round(float(q.mean.eval()[0]), 4)
    1.0
    """
    inference = Pathfinder(model=model, random_seed=random_seed, start=start, num_paths=num_paths, **kwargs)
    return inference.fit(maxiter, progressbar=progressbar, backend=backend)


register_method("pathfinder", Pathfinder)
