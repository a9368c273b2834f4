"""symvi.distributed on a LocalCluster of two worker processes (skipped without dask.distributed).

The data-parallel loss and gradient are checked against the same objective computed in one
process (1e-10), full batch and minibatch; a worker process killed mid-fit either changes
nothing (shards dask can recompute) or stops the fit with the last good state (scattered
numpy shards); fit_many on the cluster equals the same fits run serially.  The workers
compile with ``ONE_SHOT_MODE`` (milliseconds) to keep the file fast with cold caches.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import signal

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import pytensor  # noqa: E402
import pytensor.tensor as pt  # noqa: E402
from pytensor.graph.replace import graph_replace, vectorize_graph  # noqa: E402

import symvi as pm  # noqa: E402
from symvi.distributed import DataParallel, fit_many  # noqa: E402
from symvi.distributed.worker import batch_rows  # noqa: E402
from symvi.pytensorf import ONE_SHOT_MODE  # noqa: E402

RNG = np.random.default_rng(0)
X = RNG.normal(size=(120, 3))
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 * RNG.normal(size=120)


def build(x, y):
    with pm.Model() as m:
        w = pm.Normal("w", 0, 1, shape=3)
        s = pm.HalfNormal("s", 1)
        pm.Normal("y", pt.dot(x, w), s, observed=y)
    return m


@pytest.fixture(scope="module")
def client():
    # a hung cluster must not hang CI: dump the stacks and exit after 10 minutes
    faulthandler.dump_traceback_later(600, exit=True)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close(timeout=30)
        cluster.close(timeout=30)
        faulthandler.cancel_dump_traceback_later()


def _dask_data():
    return da.from_array(X, chunks=(60, 3)), da.from_array(Y, chunks=60)


def _in_process(params, eps, rows_scale=None):
    """Negative ELBO and its gradients at noise eps over the whole data, in this process.

    ``rows_scale``: [(rows, scale)] per shard for a minibatch step (the likelihood of each
    shard's rows times its scale), divided by total rows / batch rows as the fit does."""
    full = build(X, Y)
    q = pm.MeanField(model=full)
    for k, v in params.items():
        q.shared_params[k].set_value(v)
    theta = q.layout.vector()
    E = pt.matrix("E")
    z = q.draw_from_noise(E)
    prior = graph_replace(full.logp(vars=full.free_RVs), q.layout.replacements(theta), strict=False)
    if rows_scale is None:
        lik = graph_replace(full.logp(vars=full.observed_RVs, jacobian=False), q.layout.replacements(theta), strict=False)
        t = 1.0
    else:
        lik = 0.0
        for rows, scale in rows_scale:
            part = build(X[rows], Y[rows])
            term = graph_replace(part.logp(vars=part.observed_RVs, jacobian=False), {a: b for a, b in zip(part.value_vars, full.value_vars)}, strict=False)
            lik = lik + scale * graph_replace(term, q.layout.replacements(theta), strict=False)
        t = len(X) / sum(len(r) for r, _ in rows_scale)
    per_draw = vectorize_graph(prior + lik, {theta: z})
    loss = -(pt.mean(per_draw) + q.entropy()) / t
    grads = pt.grad(loss, list(q.shared_params.values()))
    return pytensor.function([E], [loss, *grads], mode=ONE_SHOT_MODE)(eps)


def _set_random_params(dp, seed):
    rng = np.random.default_rng(seed)
    params = {"mu": rng.normal(size=4), "rho": 0.3 * rng.normal(size=4)}
    for k, v in params.items():
        dp.approx.shared_params[k].set_value(v)
    return params


def test_full_batch_loss_and_grad_equal_in_process(client):
    with DataParallel(build, _dask_data(), client, random_seed=1, backend=ONE_SHOT_MODE) as dp:
        assert [s.n_rows for s in dp.shards] == [60, 60]
        params = _set_random_params(dp, 2)
        eps = np.random.default_rng(3).normal(size=(2, 4))
        loss, grads = dp.loss_and_grad(eps)
    want_loss, *want_grads = _in_process(params, eps)
    assert abs(loss - want_loss) <= 1e-10 * abs(want_loss)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10 * np.max(np.abs(w)))


def test_minibatch_loss_and_grad_equal_in_process(client):
    # three shards of 40 rows, 10 rows each per step: every shard's rows scaled by 40 / 10
    shards = [(X[i : i + 40], Y[i : i + 40]) for i in (0, 40, 80)]
    with DataParallel(build, shards, client, batch_size=30, random_seed=4, backend=ONE_SHOT_MODE) as dp:
        assert dp.batch == [10, 10, 10] and dp.t == 4.0
        params = _set_random_params(dp, 5)
        eps = np.random.default_rng(6).normal(size=(1, 4))
        loss, grads = dp.loss_and_grad(eps)
        rows = [(40 * i + batch_rows(dp._batch_seed, i, 0, 40, 10), 4.0) for i in range(3)]
    want_loss, *want_grads = _in_process(params, eps, rows)
    assert abs(loss - want_loss) <= 1e-10 * abs(want_loss)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10 * np.max(np.abs(w)))


@pytest.mark.slow
def test_fit_matches_conjugate_posterior(client):
    # y_i ~ N(mu, 1), mu ~ N(0, 10): posterior N(sum(y) / (n + 0.01), 1 / (n + 0.01))
    y = np.random.default_rng(7).normal(2.0, 1.0, 400)

    def normal_model(obs):
        with pm.Model() as m:
            mu = pm.Normal("mu", 0, 10)
            pm.Normal("obs", mu, 1, observed=obs)
        return m

    approx = pm.distributed.fit(
        normal_model, da.from_array(y, chunks=200), client, n=800, random_seed=8, backend=ONE_SHOT_MODE,
        progressbar=False, obj_optimizer=pm.adam(learning_rate=0.03),
    )
    prec = len(y) + 0.01  # posterior sd 0.05
    assert len(approx.hist) == 800
    assert abs(float(approx.mean.eval()[0]) - y.sum() / prec) < 0.03
    assert 0.5 < float(approx.std.eval()[0]) / prec**-0.5 < 2.5  # (from 0.69 at the start)


def _kill_one_worker(client):
    """SIGKILL the process of one worker (its nanny starts a new one; LocalCluster: same machine)."""
    pids = client.run(os.getpid)
    victim = sorted(pids)[0]
    os.kill(pids[victim], signal.SIGKILL)
    return victim


def _wait_for_workers(client, n=2):
    client.wait_for_workers(n, timeout=120)


@pytest.mark.slow
def test_killed_worker_mid_fit_changes_nothing(client):
    """Shards from dask arrays: dask computes the lost one again and the fit goes on."""

    def run(kill_at):
        def cb(approx, losses, i):
            if i == kill_at:
                _kill_one_worker(client)

        with DataParallel(build, _dask_data(), client, random_seed=9, backend=ONE_SHOT_MODE) as dp:
            dp.fit(40, progressbar=False, callbacks=[cb], obj_optimizer=pm.adam(learning_rate=0.05))
            return {k: v.get_value() for k, v in dp.approx.shared_params.items()}, dp.hist

    killed, hist_killed = run(kill_at=15)
    _wait_for_workers(client)
    clean, hist_clean = run(kill_at=None)
    assert len(hist_killed) == 40
    np.testing.assert_allclose(hist_killed, hist_clean, rtol=1e-10)
    for k in clean:
        np.testing.assert_allclose(killed[k], clean[k], rtol=1e-10)


@pytest.mark.slow
def test_killed_worker_with_scattered_shard_keeps_last_good_state(client):
    """numpy shards scattered to a worker cannot be recomputed: clear error, last good state kept."""
    _wait_for_workers(client)
    shards = [(X[:60], Y[:60]), (X[60:], Y[60:])]

    def cb(approx, losses, i):
        if i == 10:
            _kill_one_worker(client)

    with DataParallel(build, shards, client, random_seed=10, backend=ONE_SHOT_MODE) as dp:
        with pytest.raises(RuntimeError, match="stopped at step 11") as info:
            dp.fit(40, progressbar=False, callbacks=[cb], obj_optimizer=pm.adam(learning_rate=0.05), step_timeout=120)
        assert info.value.approx is dp.approx and len(dp.hist) == dp.steps_done == 10
        state = {k: v.get_value() for k, v in dp.approx.shared_params.items()}
    _wait_for_workers(client)
    with DataParallel(build, shards, client, random_seed=10, backend=ONE_SHOT_MODE) as clean:
        clean.fit(10, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.05))
        for k, v in state.items():
            np.testing.assert_allclose(v, clean.approx.shared_params[k].get_value(), rtol=1e-12)


def test_bad_inputs_are_named(client):
    with pytest.raises(TypeError, match="data must be a dask array"):
        DataParallel(build, {"x": X}, client)
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        DataParallel(build, _dask_data(), client="tcp://nowhere")

    def sized(x, y):
        with pm.Model() as m:
            w = pm.Normal("w", 0, 1, shape=3)
            pm.Normal("y", pt.dot(x, w), 1, observed=y, total_size=1000)
        return m

    with pytest.raises(ValueError, match="total_size"):
        DataParallel(sized, _dask_data(), client)


def _group_model(y):
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1, observed=y)
    return m


def _exact_draws(model, seed):
    """A conjugate posterior's draws for ``fit_many(fit=...)``: the gathering, without compiling."""
    y = model.rvs_to_values[model.observed_RVs[0]].data
    prec = len(y) + 0.01
    return np.random.default_rng(seed).normal(y.sum() / prec, prec**-0.5, 20)


def test_fit_many_gathers_in_order_with_serial_seeds(client):
    _wait_for_workers(client)
    groups = [np.random.default_rng(30 + g).normal(g, 1.0, 15) for g in range(8)]
    on_cluster = fit_many(_group_model, groups, client=client, random_seed=12, fit=_exact_draws, progressbar=False)
    serial = fit_many(_group_model, groups, random_seed=12, fit=_exact_draws, progressbar=False)
    for g, (a, b) in enumerate(zip(on_cluster, serial)):
        np.testing.assert_array_equal(a, b)
        assert abs(a.mean() - groups[g].sum() / 15.01) < 0.3  # 20 draws, sd 0.26
    assert len({float(a[0]) for a in on_cluster}) == 8  # one seed per item


def test_fit_many_on_cluster_equals_serial(client):  # the check: CI runs it (~45 s loaded)
    _wait_for_workers(client)
    groups = [np.random.default_rng(20 + g).normal(g, 1.0, 15) for g in range(8)]
    kwargs = dict(n=200, random_seed=11, draws=20, progressbar=False, fit_kwargs={"obj_optimizer": pm.adam(learning_rate=0.1), "backend": "c"})
    on_cluster = fit_many(_group_model, groups, client=client, **kwargs)
    serial = fit_many(_group_model, groups, **kwargs)
    assert len(on_cluster) == len(serial) == 8
    for g, (a, b) in enumerate(zip(on_cluster, serial)):
        np.testing.assert_allclose(a.posterior["mu"].values, b.posterior["mu"].values, rtol=1e-10)
        assert abs(float(a.posterior["mu"].mean()) - groups[g].sum() / 15.01) < 0.6  # posterior sd 0.26


def test_fit_many_reports_failures_and_keeps_results():
    def build_or_fail(y):
        if y is None:
            raise ValueError("no data for this group")
        return _group_model(y)

    with pytest.raises(RuntimeError, match=r"1 of 2 fits failed \(items \[1\]\)") as info:
        fit_many(build_or_fail, [np.zeros(3), None], fit=_exact_draws, progressbar=False)
    assert info.value.results[1] is None and info.value.results[0].shape == (20,)
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        fit_many(build_or_fail, [np.zeros(3)], draws=0)
