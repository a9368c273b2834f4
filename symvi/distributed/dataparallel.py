"""Data-parallel ADVI on a dask.distributed cluster: the data stay on the workers.

The negative ELBO of a model whose observed rows are split into shards is

    loss = -( mean_i [ log prior(z_i) + sum_shards loglik_s(z_i) ] + H[q] ) / t,
    z_i = draw_from_noise(eps_i)  (reparameterised draws of q),

with ``t = total rows / rows per step`` for minibatch fits (1 for full batch), as symvi
scales minibatch losses.  The driver draws the noise ``eps`` and the draws ``z``, so every
shard sees the same ``z``; each worker returns its shard's log-likelihood and gradient at the
draws (:mod:`symvi.distributed.worker`); the driver adds them, takes the prior, Jacobian and
entropy terms itself, chains the draws' gradient back to q's parameters and applies a symvi
optimizer.  A step moves ``S x D`` numbers each way per shard, never data.

Workers that die: dask computes their shards again on the other workers (shards made from
dask arrays) and reruns the step's tasks; the step's rows and noise do not change, so the fit
goes on as if nothing happened.  Shards that cannot be recomputed (numpy shards scattered to a
worker) stop the fit with an error; the approximation keeps the state of the last completed step.
"""

from __future__ import annotations

import contextlib
import numbers
import time
import uuid

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace, vectorize_graph

from symvi.distributed import shards as _shards
from symvi.distributed.worker import ShardActor, ShardSpec, forget
from symvi.distributed.worker import _mode as _worker_mode
from symvi.variational.approximations import FullRank, MeanField
from symvi.variational.optimizers import adam
from symvi.variational.progress import FitProgress, average_loss

__all__ = ["DataParallel", "fit"]

_FAMILIES = {"advi": MeanField, "fullrank_advi": FullRank}


def _require_client(client):
    try:
        from distributed import Client
    except ImportError as err:  # pragma: no cover - the extra is missing
        raise ImportError("distributed fits need dask.distributed: pip install 'symvi[distributed]'") from err
    if not isinstance(client, Client):
        raise TypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    return client


class DataParallel:
    """A mean-field (``method="advi"``) or full-rank ADVI fit whose data live on a dask cluster.

    ``build_model(*arrays)`` returns a symvi ``Model`` for any rows of the data (the same free
    variables whatever the number of rows; no ``total_size``).  ``data`` is a dask array, a
    tuple of dask arrays with the same rows, or a list of shards (tuples of arrays): see
    :mod:`symvi.distributed.shards`.  ``batch_size`` (total rows per step, split over the
    shards by their size) makes it a minibatch fit; None uses every row at every step.
    ``backend`` is the compiler of the workers' functions: a symvi backend name (default
    "c", which calls BLAS for matrix products) or a pytensor ``Mode`` (``symvi.pytensorf.ONE_SHOT_MODE`` compiles in
    milliseconds, for small data).

    Examples
    --------
    >>> import numpy as np, dask.array as da, symvi as pm
    >>> from distributed import Client, LocalCluster
    >>> def build(y):
    ...     with pm.Model() as m:
    ...         mu = pm.Normal("mu", 0, 10)
    ...         pm.Normal("y", mu, 1, observed=y)
    ...     return m
    >>> y = da.from_array(np.random.default_rng(0).normal(3.0, 1.0, 1000), chunks=500)
    >>> with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cl, Client(cl) as client:
    ...     with pm.distributed.DataParallel(build, y, client=client, random_seed=1) as dp:
    ...         approx = dp.fit(2000, progressbar=False)
    >>> bool(abs(approx.mean.eval()[0] - 3.0) < 0.2)
    True
    """

    def __init__(
        self,
        build_model,
        data,
        client,
        method: str = "advi",
        batch_size: int | None = None,
        random_seed=None,
        start: dict | None = None,
        n_shards: int | None = None,
        backend: str | None = None,
    ):
        self.client = _require_client(client)
        if not callable(build_model):
            raise TypeError(f"build_model must be a function (*arrays) -> Model, got {type(build_model).__name__}")
        if method not in _FAMILIES:
            raise ValueError(f"method must be one of {sorted(_FAMILIES)}, got {method!r}")
        model = build_model(*_shards.probe_rows(client, data))
        sized = [rv.name for rv in getattr(model, "observed_RVs", []) if model.rvs_to_total_sizes.get(rv) is not None]
        if sized:
            raise ValueError(
                f"build_model gives observed variable(s) {sized} a total_size: a distributed fit sums the shards' "
                "log-likelihoods and scales minibatches itself; leave total_size out"
            )
        self.approx = _FAMILIES[method](model=model, start=start, random_seed=random_seed)
        self.shards = _shards.place(client, data, n_shards)
        self.n_rows = sum(s.n_rows for s in self.shards)
        self.batch = self._split_batch(batch_size)
        self.token = f"symvi-dp-{uuid.uuid4().hex[:12]}"
        seeds = np.random.SeedSequence(random_seed)
        self._noise = np.random.default_rng(seeds.spawn(1)[0])
        self._batch_seed = int(seeds.generate_state(1)[0])
        layout = self.approx.layout
        from dask.base import tokenize

        structure = tokenize(build_model)
        self._specs = [
            ShardSpec(self.token, s.index, layout.names, layout.shapes, b, self._batch_seed, structure, backend)
            for s, b in zip(self.shards, self.batch)
        ]
        self._build = client.scatter(build_model, broadcast=True, hash=False)
        self.t = 1.0 if batch_size is None else self.n_rows / float(sum(self.batch))
        self._actors: list = [None] * len(self.shards)
        #: times a step was asked again after a worker was lost; steps asked again at most this often
        self.recoveries, self.max_retries = 0, 3
        self.steps_done = 0
        self.hist = np.array([], dtype="float64")
        self._fns: dict = {}
        self._driver_mode = _worker_mode(backend)  # the driver's small functions: same compiler
        self._graph_parts = None

    # ---- setup
    def _split_batch(self, batch_size):
        if batch_size is None:
            return [None] * len(self.shards)
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < len(self.shards):
            raise ValueError(f"batch_size must be an integer >= the number of shards ({len(self.shards)}), got {batch_size!r}")
        return [max(1, round(batch_size * s.n_rows / self.n_rows)) for s in self.shards]

    def _graph(self, n_mc: int):
        """(eps, lsum, grad_z inputs; z, loss, surrogate) of the driver's part of the objective."""
        approx = self.approx
        model = approx.model
        d = approx.ndim
        dtype = approx.dtype
        eps = pt.matrix("eps", dtype=dtype, shape=(n_mc, d))
        lsum = pt.vector("loglik", dtype="float64", shape=(n_mc,))
        gz = pt.matrix("loglik_grad", dtype=dtype, shape=(n_mc, d))
        z = approx.draw_from_noise(eps)
        theta = approx.layout.vector()
        prior = model.logp(vars=model.free_RVs + list(model.potentials))
        prior = graph_replace(prior, approx.layout.replacements(theta), strict=False)
        prior_z = vectorize_graph(prior, {theta: z})
        entropy = approx.entropy()
        loss = -(pt.mean(prior_z + lsum) + entropy) / self.t
        # same gradient as the loss: the shards' d loglik / dz enters through z (chain rule)
        surrogate = -(pt.mean(prior_z) + pt.sum(z * pt.constant(1.0 / n_mc) * gz) + entropy) / self.t
        return eps, lsum, gz, z, loss, surrogate

    def _functions(self, n_mc: int, optimizer):
        key = (n_mc, id(optimizer))
        if key not in self._fns:
            eps, lsum, gz, z, loss, surrogate = self._graph(n_mc)
            params = list(self.approx.shared_params.values())
            grads = pt.grad(surrogate, params)
            mode = self._driver_mode
            f_z = pytensor.function([eps], z, mode=mode)
            f_lg = pytensor.function([eps, lsum, gz], [loss, *grads], mode=mode)
            f_step, state = None, []
            if optimizer is not None:
                updates = optimizer(grads, params)
                if not isinstance(updates, dict):
                    raise TypeError(f"obj_optimizer must return a dict of updates, got {type(updates).__name__}")
                f_step = pytensor.function([eps, lsum, gz], loss, updates=updates, mode=mode)
                state = list(updates)
            self._fns[key] = (f_z, f_lg, f_step, state, optimizer)  # (the optimizer kept alive with its key)
        return self._fns[key]

    # ---- one step on the cluster
    def _actor(self, i: int, timeout: float | None):
        """The actor of shard ``i``, created (again) where its data are."""
        if self._actors[i] is None:
            shard = self.shards[i]
            future = self.client.submit(ShardActor, self._build, self._specs[i], *shard.futures, actor=True, pure=False)
            self._actors[i] = (future, future.result(timeout=timeout))
        return self._actors[i][1]

    def _drop_actor(self, i: int) -> None:
        if self._actors[i] is not None:
            self._actors[i][0].release()
            self._actors[i] = None

    def _shard_terms(self, z: np.ndarray, step: int, timeout: float | None):
        """Sum over the shards of (log-likelihoods (S,), gradients (S, D)) at the draws ``z``.

        A shard whose worker died is given a new actor (dask recomputes its data where it
        can) and the step is asked again, up to ``max_retries`` times.
        """
        for attempt in range(self.max_retries + 1):
            calls = []
            try:
                calls = [self._actor(i, timeout).loglik(z, step) for i in range(len(self.shards))]
                results = [c.result(timeout=timeout) for c in calls]
                break
            except Exception:  # noqa: BLE001 - a lost worker shows as several error types
                if attempt == self.max_retries:
                    raise
                for i in range(len(self.shards)):  # which actor died is not always known: renew all
                    self._drop_actor(i)
                self.recoveries += 1
        values = np.sum([r[0] for r in results], axis=0)
        grads = np.sum([r[1] for r in results], axis=0)
        return values, grads

    def loss_and_grad(self, eps: np.ndarray, timeout: float | None = 300) -> tuple[float, list]:
        """The negative ELBO at noise ``eps`` (shape ``(S, D)``) and its gradients in q's
        parameters (one array per ``approx.shared_params`` entry), summed over the shards."""
        eps = np.atleast_2d(np.asarray(eps, dtype=self.approx.dtype))
        f_z, f_lg, *_ = self._functions(len(eps), None)
        values, grads = self._shard_terms(f_z(eps), self.steps_done, timeout)
        loss, *g = f_lg(eps, values, grads)
        return float(loss), g

    # ---- the loop
    def fit(
        self,
        n: int = 10000,
        obj_optimizer=None,
        obj_n_mc: int = 1,
        progressbar: bool = True,
        callbacks=None,
        step_timeout: float | None = 300,
    ):
        """Run ``n`` steps (continuing any earlier ones); returns the approximation.

        ``obj_optimizer`` is a symvi optimizer (default ``pm.adam(learning_rate=0.01)``; one
        per ``DataParallel`` keeps its state across calls).  ``step_timeout`` seconds without
        every shard's answer stop the fit.  On an error, Ctrl-C or a non-finite step the
        approximation keeps the state after the last completed step and ``hist`` its losses;
        ``fit`` can be called again to go on.  ``callbacks`` are called after every step as
        ``f(approx, losses, i)`` (``i``: steps done; ``StopIteration`` ends the fit).
        """
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not callable(cb):
                raise TypeError(f"callbacks must be callables f(approx, losses, i), got {cb!r}")
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"n (number of steps) must be an integer >= 0, got {n!r}")
        if isinstance(obj_n_mc, bool) or not isinstance(obj_n_mc, numbers.Integral) or obj_n_mc < 1:
            raise ValueError(f"obj_n_mc must be a positive integer, got {obj_n_mc!r}")
        if obj_optimizer is None:
            obj_optimizer = getattr(self, "_default_optimizer", None) or adam(learning_rate=0.01)
            self._default_optimizer = obj_optimizer
        f_z, _, f_step, state, _ = self._functions(int(obj_n_mc), obj_optimizer)
        d = self.approx.ndim
        losses = np.empty(n)
        done = 0
        progress = FitProgress(n, enabled=progressbar)
        shown = time.perf_counter()
        error = None
        try:
            while done < n:
                step = self.steps_done
                noise_state = self._noise.bit_generator.state
                eps = self._noise.standard_normal((int(obj_n_mc), d)).astype(self.approx.dtype)
                try:
                    values, grads = self._shard_terms(f_z(eps), step, step_timeout)
                except Exception as err:
                    self._noise.bit_generator.state = noise_state  # the next fit() redoes this step
                    error = RuntimeError(
                        f"the distributed fit stopped at step {step + 1}: {type(err).__name__}: {err}. The approximation "
                        f"keeps the state after step {step} (DataParallel.approx, .hist); call fit() again to go on "
                        "once the cluster has its workers (and the shards) back"
                    )
                    error.__cause__ = err
                    break
                kept = [s.get_value() for s in state]
                loss = f_step(eps, values, grads)
                if not (np.isfinite(loss) and all(np.all(np.isfinite(p.get_value(borrow=True))) for p in self.approx.shared_params.values())):
                    for s, v in zip(state, kept):
                        s.set_value(v)
                    error = FloatingPointError(
                        f"NaN or inf occurred in optimization at step {step + 1}; the approximation keeps the state "
                        f"after step {step}; try a smaller learning rate or obj_n_mc > 1"
                    )
                    break
                losses[done] = loss
                done += 1
                self.steps_done += 1
                if callbacks:
                    so_far = np.concatenate([self.hist, losses[:done]])
                    try:
                        for cb in callbacks:
                            cb(self.approx, so_far, self.steps_done)
                    except StopIteration:
                        break
                now = time.perf_counter()
                if now - shown > 0.1:
                    progress.update(done, average_loss(losses[:done]))
                    shown = now
        except KeyboardInterrupt:
            error = None
            progress.close(done, average_loss(losses[:done]), interrupted_at=self.steps_done)
            progress = None
        finally:
            self.hist = np.concatenate([self.hist, losses[:done]])
            self.approx.hist = self.hist
            if progress is not None:
                progress.close(done, average_loss(losses[:done]), None if error is None and done == n else self.steps_done)
        if error is not None:
            error.approx = self.approx
            raise error
        return self.approx

    # ---- cleanup
    def close(self) -> None:
        """Release the shards on the workers and their compiled functions (the approximation stays)."""
        for i in range(len(self._actors)):
            self._drop_actor(i)
        for shard in self.shards:
            for f in shard.futures:
                f.release()
        self.shards = []
        with contextlib.suppress(Exception):  # a cluster already gone has nothing left to free
            self.client.run(forget, self.token)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def fit(
    build_model,
    data,
    client,
    n: int = 10000,
    method: str = "advi",
    batch_size: int | None = None,
    random_seed=None,
    start: dict | None = None,
    backend: str | None = None,
    **fit_kwargs,
):
    """Fit ``build_model``'s posterior with its data ``data`` kept on the dask cluster of ``client``.

    One call of :class:`DataParallel` (see there for ``build_model`` and ``data``) followed by
    its ``fit(n, **fit_kwargs)``; the shards are released afterwards.  Returns the approximation.
    On a failure the error carries the approximation (``err.approx``) at its last completed step.

    Examples
    --------
    >>> import numpy as np, dask.array as da, symvi as pm
    >>> from distributed import Client, LocalCluster
    >>> def build(x, y):
    ...     with pm.Model() as m:
    ...         w = pm.Normal("w", 0, 1)
    ...         pm.Normal("y", w * x, 0.5, observed=y)
    ...     return m
    >>> x = da.random.default_rng(0).normal(size=2000, chunks=1000)
    >>> y = 2.0 * x + 0.5 * da.random.default_rng(1).normal(size=2000, chunks=1000)
    >>> with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cl, Client(cl) as client:
    ...     approx = pm.distributed.fit(build, (x, y), client, n=1500, random_seed=0, progressbar=False)
    >>> bool(abs(approx.mean.eval()[0] - 2.0) < 0.1)
    True
    """
    with DataParallel(build_model, data, client, method=method, batch_size=batch_size, random_seed=random_seed, start=start, backend=backend) as dp:
        approx = dp.fit(n, **fit_kwargs)
    approx.inference = None
    return approx
