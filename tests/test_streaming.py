"""Out-of-core streaming: every row once per epoch, K batches per compiled call, same posterior."""

import numpy as np
import pytensor.tensor as pt
import pytest

import symvi as pm
from symvi.streaming import StreamingMinibatch, chunk_hooks, stream_batches


def chunk_factory(data, rows=137):
    """A callable returning a fresh generator of chunks, as a reader of files on disk would."""
    return lambda: (data[i : i + rows] for i in range(0, len(data), rows))


def _assert_epochs(stream_rows, n, epochs):
    """The concatenated stream is ``epochs`` permutations of range(n), one after another."""
    stream_rows = np.asarray(stream_rows)
    for e in range(epochs):
        part = stream_rows[e * n : (e + 1) * n]
        if len(part) == n:
            np.testing.assert_array_equal(np.sort(part), np.arange(n))
        else:  # the final (incomplete) epoch: no duplicates
            assert len(np.unique(part)) == len(part)


# ---------------------------------------------------------------------- the batch stream
@pytest.mark.parametrize("n, batch_size", [(1000, 50), (1003, 64)])
@pytest.mark.parametrize("kind", ["array", "callable", "list"])
def test_every_row_once_per_epoch(n, batch_size, kind):
    ids = np.arange(n)
    source = {"array": ids, "callable": chunk_factory(ids), "list": [ids[i : i + 100] for i in range(0, n, 100)]}[kind]
    batches = list(stream_batches(source, batch_size=batch_size, epochs=3, block_rows=97, shuffle_buffer=300, random_seed=0))
    assert all(b.shape == (batch_size,) for b in batches)
    assert len(batches) == (3 * n) // batch_size  # only the final incomplete batch is dropped
    rows = np.concatenate(batches)
    _assert_epochs(rows, n, 3)
    assert not np.array_equal(rows[:n], ids)  # shuffled
    assert not np.array_equal(rows[:n], rows[n : 2 * n])  # differently each epoch


def test_no_shuffle_keeps_storage_order():
    ids = np.arange(250)
    rows = np.concatenate(list(stream_batches(ids, batch_size=50, epochs=2, shuffle=False)))
    np.testing.assert_array_equal(rows, np.concatenate([ids, ids]))


def test_paired_fields_stay_paired():
    x = np.arange(600.0).reshape(300, 2)
    y = np.arange(300)
    for src in [(x, y), (lambda: ((x[i : i + 70], y[i : i + 70]) for i in range(0, 300, 70)),)]:
        for xb, yb in stream_batches(*src, batch_size=40, epochs=2, random_seed=1, shuffle_buffer=100):
            np.testing.assert_array_equal(xb, x[yb])


def test_xarray_source():
    xr = pytest.importorskip("xarray")
    ids = xr.DataArray(np.arange(500), dims="row")
    rows = np.concatenate(list(stream_batches(ids, batch_size=50, epochs=1, block_rows=64, random_seed=0)))
    _assert_epochs(rows, 500, 1)


def test_dask_source_uses_its_chunks():
    da = pytest.importorskip("dask.array")
    ids = da.from_array(np.arange(1000), chunks=128)
    rows = np.concatenate(list(stream_batches(ids, batch_size=40, epochs=2, random_seed=0)))
    _assert_epochs(rows, 1000, 2)


class ChunkedArray:
    """Duck type of a dask/xarray array: ``chunks`` as a tuple of tuples, lazy slicing."""

    def __init__(self, data, row_chunks):
        self.data, self.shape, self.ndim, self.dtype = data, data.shape, data.ndim, data.dtype
        self.chunks = (tuple(row_chunks),) + tuple((s,) for s in data.shape[1:])
        self.reads = []

    def __getitem__(self, key):
        self.reads.append((key.start, key.stop))
        return self.data[key]


def test_uneven_native_chunks_are_the_read_blocks():
    ids = np.arange(1000)
    arr = ChunkedArray(ids, [300, 300, 250, 150])
    rows = np.concatenate(list(stream_batches(arr, batch_size=40, epochs=2, random_seed=4)))
    _assert_epochs(rows, 1000, 2)
    assert sorted(set(arr.reads)) == [(0, 300), (300, 600), (600, 850), (850, 1000)]
    assert len(arr.reads) == 8  # each block read once per epoch


def test_zarr_source(tmp_path):
    zarr = pytest.importorskip("zarr")
    n = 2000
    z = zarr.create_array(store=str(tmp_path / "d.zarr"), shape=(n, 3), chunks=(256, 3), dtype="float64")
    z[:] = np.arange(n)[:, None] * np.ones(3)
    s = StreamingMinibatch.from_zarr(str(tmp_path / "d.zarr"), batch_size=100, random_seed=0, max_steps=7)
    assert s.total_size == n
    assert s._source.blocks[0] == (0, 256)  # reads follow the zarr chunks
    seen = []
    while len(seen) < 2 * n:
        k = s.before_chunk(7)
        seen.extend(s.buffers[0].get_value()[:k, :, 0].ravel())
    _assert_epochs(np.asarray(seen, dtype=int), n, 2)


# ---------------------------------------------------------------------- the batch buffer
def test_before_chunk_fills_k_batches_and_caps_at_max_steps():
    n = 700
    s = StreamingMinibatch(chunk_factory(np.arange(n)), batch_size=35, max_steps=8, random_seed=3)
    assert s.total_size == n  # counted in one pass over the chunks
    seen = []
    for k in [3, 1, 20, 8, 5, 2, 30, 30, 30, 30]:
        got = s.before_chunk(k)
        assert got == min(k, 8)
        assert s.counter.get_value() == 0
        seen.extend(s.buffers[0].get_value()[:got].ravel())
    assert s.rows_delivered == len(seen)
    _assert_epochs(seen, n, len(seen) // n + 1)


def test_prefetch_gives_the_same_stream():
    data = np.arange(900)
    a = StreamingMinibatch(data, batch_size=30, random_seed=5, max_steps=4, block_rows=100)
    b = StreamingMinibatch(data, batch_size=30, random_seed=5, max_steps=4, block_rows=100, prefetch=3)
    for k in [4, 2, 4, 4, 4, 4, 4, 4, 4]:
        assert a.before_chunk(k) == b.before_chunk(k) == k
        np.testing.assert_array_equal(a.buffers[0].get_value()[:k], b.buffers[0].get_value()[:k])
    b.reset()
    assert b.rows_delivered == 0


def test_compiled_loop_reads_one_batch_per_step():
    """Loss of step t is const - sum(batch t) exactly: with lr=0 and a point-mass q."""
    data = np.arange(1.0, 401.0)
    s = StreamingMinibatch(data, batch_size=20, shuffle=False, random_seed=0, max_steps=6)
    with pm.Model():
        mu = pm.Normal("mu", 0, 1)
        pm.Potential("p", pt.sum(s.tensor) + 0 * mu)
        inference = pm.ADVI(random_seed=1, start_sigma={"mu": 1e-8})
        approx = inference.fit(45, progressbar=False, obj_optimizer=pm.sgd(learning_rate=0.0))
    assert chunk_hooks(approx.model.potentials) == [s]
    sums = data.reshape(20, 20).sum(1)
    expected = np.resize(sums, 45)  # storage order, epoch after epoch
    offset = approx.hist + expected
    np.testing.assert_allclose(offset, offset[0], atol=1e-6)
    assert s.rows_delivered == 45 * 20


def test_finite_epochs_stop_the_fit():
    data = np.random.default_rng(0).normal(size=300)
    s = StreamingMinibatch(data, batch_size=30, epochs=2, random_seed=0)
    with pm.Model():
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1, observed=s.tensor, total_size=s.total_size)
        approx = pm.fit(1000, random_seed=1, progressbar=False)
    assert len(approx.hist) == 20  # 2 epochs x 10 batches
    # the default optimizer does not search on a stream (it would consume batches): fixed rate
    from symvi.variational.adapt import STREAM_RATE

    assert approx.inference.adapted_rate == STREAM_RATE and approx.inference.rate_scores is None


def test_streaming_posterior_matches_in_memory_minibatch():
    rng = np.random.default_rng(11)
    n = 4000
    data = rng.normal([1.0, -2.0], [1.0, 2.0], size=(n, 2))
    fits = {}
    for kind in ["memory", "stream"]:
        if kind == "memory":
            obs = pm.Minibatch(data, batch_size=100, random_seed=2)
        else:
            obs = StreamingMinibatch(chunk_factory(data, 500), batch_size=100, n_rows=n, random_seed=2).tensor
        with pm.Model():
            mu = pm.Normal("mu", 0, 10, shape=2)
            sd = pm.HalfNormal("sd", 5, shape=2)
            pm.Normal("y", mu, sd, observed=obs, total_size=n)
            approx = pm.fit(8000, random_seed=3, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.005))
        fits[kind] = approx.sample(2000, random_seed=0, return_inferencedata=False)
    post_sd = data.std(0) / np.sqrt(n)  # exact posterior sd of the means (flat-ish prior)
    for kind, draws in fits.items():
        np.testing.assert_allclose(draws["mu"].mean(0), data.mean(0), atol=4 * post_sd.max(), err_msg=kind)
        np.testing.assert_allclose(draws["sd"].mean(0), data.std(0), rtol=0.05, err_msg=kind)
    diff = fits["stream"]["mu"].mean(0) - fits["memory"]["mu"].mean(0)
    assert np.all(np.abs(diff) < 5 * post_sd)


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "args, kwargs, exc, text",
    [
        ((np.zeros(10),), {"batch_size": 0}, ValueError, "batch_size"),
        ((np.zeros(10),), {"batch_size": 11}, ValueError, "batch_size 11 is larger"),
        ((np.zeros(10),), {"batch_size": 2.0}, TypeError, "batch_size"),
        ((np.zeros(10),), {"batch_size": 2, "epochs": 0}, ValueError, "epochs"),
        ((np.zeros(10),), {"batch_size": 2, "max_steps": 0}, ValueError, "max_steps"),
        ((np.zeros(10),), {"batch_size": 2, "shuffle_buffer": 0}, ValueError, "shuffle_buffer"),
        ((np.zeros(10),), {"batch_size": 2, "prefetch": -1}, ValueError, "prefetch"),
        ((np.zeros(10),), {"batch_size": 2, "n_rows": 11}, ValueError, "n_rows"),
        ((np.zeros(10), np.zeros(9)), {"batch_size": 2}, ValueError, "same number of rows"),
        ((42,), {"batch_size": 2}, TypeError, "source"),
        (("abc",), {"batch_size": 2}, TypeError, "source"),
        ((), {"batch_size": 2}, TypeError, "source"),
        (([],), {"batch_size": 2}, ValueError, "no data"),
    ],
)
def test_bad_input(args, kwargs, exc, text):
    with pytest.raises(exc, match=text):
        StreamingMinibatch(*args, **kwargs)


def test_one_shot_iterator():
    data = np.arange(100)
    s = StreamingMinibatch(iter([data[:60], data[60:]]), batch_size=10, shuffle=False)
    with pytest.raises(ValueError, match="n_rows"):
        _ = s.total_size
    assert s.before_chunk(20) == 10  # a one-shot iterator is one epoch
    with pytest.raises(StopIteration):
        s.before_chunk(1)
    with pytest.raises(ValueError, match="single epoch"):
        StreamingMinibatch(iter([data]), batch_size=10, epochs=2)
    ok = StreamingMinibatch(iter([data]), batch_size=10, n_rows=100, epochs=1)
    assert ok.total_size == 100
    assert ok.before_chunk(50) == 10
    with pytest.raises(StopIteration):
        ok.before_chunk(1)


def test_inconsistent_chunks_are_an_error():
    bad = lambda: iter([(np.zeros(5), np.zeros(4))])  # noqa: E731
    with pytest.raises(ValueError, match="different row counts"):
        StreamingMinibatch(bad, batch_size=2)
    wrong_n = StreamingMinibatch(chunk_factory(np.arange(100), 30), batch_size=10, n_rows=90)
    with pytest.raises(ValueError, match="100 rows but n_rows"):
        wrong_n.before_chunk(20)
    with pytest.raises(ValueError, match="row"):
        StreamingMinibatch(np.array(3.0), batch_size=1)


def test_total_size_from_source_and_tensor_shape():
    s = StreamingMinibatch(np.zeros((123, 4)), batch_size=10)
    assert s.total_size == 123
    assert s.tensor.type.shape == (10, 4)
    with pm.Model():
        with pytest.raises(ValueError, match="smaller than the batch"):
            pm.Normal("y", 0, 1, observed=s.tensor, total_size=5)


@pytest.mark.parametrize("kind", ["array", "chunks"])
def test_nan_in_streamed_data_is_found_as_its_chunk_is_read(kind):
    data = np.random.default_rng(2).normal(size=3000)
    data[2345] = np.nan
    source = data if kind == "array" else (lambda: (data[i : i + 500] for i in range(0, 3000, 500)))
    stream = StreamingMinibatch(source, batch_size=50, block_rows=500, n_rows=3000, random_seed=0)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10)
        pm.Normal("y", mu, 1, observed=stream.tensor, total_size=stream.total_size)
    with pytest.raises(ValueError, match=r"'y': observed data contains NaN or inf at row 2345 of the streamed source"):
        pm.fit(200, model=m, random_seed=0, progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01))
