"""Out-of-core minibatches: stream data sets that do not fit in memory into the VI loop.

Two layers:

* :func:`stream_batches` - a plain Python generator of fixed-size numpy batches read chunk by
  chunk from a source, mixed through a shuffle buffer, epoch after epoch.
* :class:`StreamingMinibatch` - a model-facing tensor fed from such a stream.  The compiled
  training loop runs K steps per call (see :mod:`symvi.variational.step`), so batches are
  delivered K at a time: a shared *batch buffer* of shape ``(max_steps, batch_size, ...)``
  is filled with the next K batches before each call, and the model observes
  ``buffer[counter]`` where ``counter`` is a shared step counter carried through the scan
  (``counter + 1`` each step).

Sources (rows along the first axis):

* an array-like with ``shape`` and slicing: numpy arrays and memmaps, zarr arrays, dask
  arrays, xarray DataArrays, h5py datasets.  Blocks follow the array's own ``chunks`` when it
  has them; only one block (plus the shuffle buffer) is in memory at a time.  zarr / dask are
  never imported by symvi except in :meth:`StreamingMinibatch.from_zarr`.
* a callable returning an iterable of chunks (called once per epoch), or a re-iterable
  container of chunks.  A chunk is an array, or a tuple of arrays with the same row count
  (paired fields, e.g. ``(X, y)``).
* a one-shot iterator/generator of chunks (a single epoch; ``n_rows`` gives ``total_size``).

Epochs: every epoch is a permutation of all rows (chunk order shuffled where the source
allows random access, rows mixed in the shuffle buffer); batches are consecutive slices of
the concatenated epochs, so a batch may straddle two epochs and no row is lost or repeated
within an epoch.  With a finite ``epochs`` the final incomplete batch is dropped and the fit
stops (as if a callback raised ``StopIteration``) when the stream is exhausted.

Examples
--------
>>> import numpy as np, symvi as pm
>>> data = np.random.default_rng(0).normal(3.0, 1.0, size=(2000, 2))
>>> chunks = lambda: (data[i : i + 250] for i in range(0, 2000, 250))   # e.g. files on disk
>>> stream = StreamingMinibatch(chunks, batch_size=100, n_rows=2000, random_seed=1)
>>> with pm.Model():
...     mu = pm.Normal("mu", 0, 10, shape=2)
...     obs = pm.Normal("obs", mu, 1, observed=stream.tensor, total_size=stream.total_size)
...     approx = pm.fit(3000, obj_optimizer=pm.adam(learning_rate=0.05), random_seed=2, progressbar=False)
>>> bool(np.allclose(approx.mean.eval(), data.mean(0), atol=0.15))
True
"""

from __future__ import annotations

import collections.abc as cabc
import numbers
import queue
import threading
from collections.abc import Iterator

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.traversal import ancestors

__all__ = ["stream_batches", "StreamingMinibatch", "chunk_hooks"]

_DEFAULT_BLOCK_BYTES = 8 * 2**20
_DEFAULT_BUFFER_BYTES = 16 * 2**20


# ---------------------------------------------------------------------- sources
def _is_array_like(obj) -> bool:
    return hasattr(obj, "shape") and hasattr(obj, "__getitem__") and hasattr(obj, "ndim") and obj.ndim >= 1


def _native_blocks(arr, n_rows: int, block_rows: int | None) -> list[tuple[int, int]]:
    """Row ranges that follow the array's own chunking (zarr: ints, dask/xarray: tuples)."""
    if block_rows is None:
        chunks = getattr(arr, "chunks", None)
        first = chunks[0] if chunks else None
        if isinstance(first, numbers.Integral) and first > 0:
            block_rows = int(first)
        elif isinstance(first, tuple) and first:
            stops = np.cumsum((0,) + tuple(int(c) for c in first))
            return [(int(a), int(b)) for a, b in zip(stops[:-1], stops[1:]) if b > a]
        else:
            row_bytes = int(np.prod(arr.shape[1:], dtype=np.int64)) * np.dtype(arr.dtype).itemsize
            block_rows = max(1, _DEFAULT_BLOCK_BYTES // max(row_bytes, 1))
    return [(a, min(a + block_rows, n_rows)) for a in range(0, n_rows, block_rows)]


class _ArraySource:
    """Random access by row blocks to one or several array-likes of equal length."""

    random_access = True

    def __init__(self, arrays, block_rows):
        self.arrays = arrays
        self.n_rows = int(arrays[0].shape[0])
        if self.n_rows == 0:
            raise ValueError("StreamingMinibatch: the source has no data (0 rows)")
        lengths = [int(a.shape[0]) for a in arrays]
        if len(set(lengths)) > 1:
            raise ValueError(f"StreamingMinibatch: sources must have the same number of rows, got {lengths}")
        self.blocks = _native_blocks(arrays[0], self.n_rows, block_rows)

    def specs(self):
        return [(tuple(a.shape[1:]), np.dtype(a.dtype)) for a in self.arrays]

    check = staticmethod(lambda fields, first_row: None)  # StreamingMinibatch sets its finite check

    def epoch(self, rng) -> Iterator[tuple]:
        order = rng.permutation(len(self.blocks)) if rng is not None else range(len(self.blocks))
        for b in order:
            lo, hi = self.blocks[b]
            # np.asarray loads the block: zarr reads it, dask/xarray compute it
            fields = tuple(np.asarray(a[lo:hi]) for a in self.arrays)
            self.check(fields, lo)
            yield fields


class _IterSource:
    """Chunks from a callable (one call per epoch), a re-iterable, or a one-shot iterator."""

    random_access = False

    def __init__(self, source, n_rows):
        self.source = source
        self.one_shot = isinstance(source, cabc.Iterator)
        self.used = False
        self._peeked = None
        self.n_rows = n_rows
        if n_rows is None and not self.one_shot:
            self.n_rows = sum(len(c[0]) for c in self._chunks())  # one counting pass, chunk by chunk
            if self.n_rows == 0:
                raise ValueError("StreamingMinibatch: the source yielded no data")

    def _chunks(self) -> Iterator[tuple]:
        if self.one_shot:
            if self.used:
                raise RuntimeError(
                    "StreamingMinibatch: a one-shot iterator supports a single epoch; pass a callable "
                    "returning a fresh iterator (e.g. lambda: read_chunks(path)) for several epochs"
                )
            self.used = True
            it = self.source
        else:
            it = self.source() if callable(self.source) else iter(self.source)
        width = None
        for chunk in it:
            fields = tuple(np.asarray(f) for f in (chunk if isinstance(chunk, tuple) else (chunk,)))
            if width is None:
                width = len(fields)
            if len(fields) != width or any(f.ndim == 0 for f in fields):
                raise ValueError("StreamingMinibatch: every chunk must be an array (or a tuple of arrays) with rows")
            if len({len(f) for f in fields}) > 1:
                raise ValueError(f"StreamingMinibatch: paired chunk fields have different row counts {[len(f) for f in fields]}")
            if len(fields[0]):
                yield fields

    def specs(self):
        if self._peeked is None:
            if self.one_shot:
                first = next(self.source, None)
                if first is None:
                    raise ValueError("StreamingMinibatch: the source yielded no data")
                rest = self.source

                def chained():
                    yield first
                    yield from rest

                self.source = chained()
                fields = first if isinstance(first, tuple) else (first,)
                self._peeked = [(tuple(np.shape(f)[1:]), np.asarray(f).dtype) for f in fields]
            else:
                first = next(iter(self._chunks()), None)
                if first is None:
                    raise ValueError("StreamingMinibatch: the source yielded no data")
                self._peeked = [(f.shape[1:], f.dtype) for f in first]
        return self._peeked

    check = staticmethod(lambda fields, first_row: None)

    def epoch(self, rng) -> Iterator[tuple]:
        first_row = 0
        for fields in self._chunks():
            self.check(fields, first_row)
            first_row += len(fields[0])
            yield fields


def _make_source(sources, n_rows, block_rows):
    if not sources:
        raise TypeError("StreamingMinibatch needs a source")
    if all(_is_array_like(s) for s in sources):
        src = _ArraySource(list(sources), block_rows)
        if n_rows is not None and int(n_rows) != src.n_rows:
            raise ValueError(f"StreamingMinibatch: n_rows={n_rows} but the source has {src.n_rows} rows")
        return src
    if len(sources) != 1:
        raise TypeError("StreamingMinibatch: several sources must all be array-likes (numpy, zarr, dask, xarray)")
    (source,) = sources
    if isinstance(source, np.ndarray):  # a 0-d array
        raise ValueError("StreamingMinibatch: a source array needs at least one (row) dimension")
    if isinstance(source, (str, bytes, dict)) or not (callable(source) or isinstance(source, cabc.Iterable)):
        raise TypeError(
            "StreamingMinibatch: the source must be an array-like (numpy/zarr/dask/xarray), a callable "
            f"returning an iterable of chunks, or an iterable of chunks; got {type(source).__name__}"
        )
    if n_rows is not None and (isinstance(n_rows, bool) or not isinstance(n_rows, numbers.Integral) or n_rows <= 0):
        raise ValueError(f"StreamingMinibatch: n_rows must be a positive integer, got {n_rows!r}")
    return _IterSource(source, None if n_rows is None else int(n_rows))


# ---------------------------------------------------------------------- row stream
class _RowStream:
    """Rows of successive epochs, shuffled through a pool, copied straight into batches.

    Chunks are appended to a pool; once it holds ``buffer_rows`` rows (or the epoch ends) a
    random permutation decides which rows leave next (all but a random ``buffer_rows // 2``
    kept back to mix with later chunks; all of them at the end of an epoch).  Rows are
    gathered with ``np.take`` directly into the destination batch: two copies per row
    (chunk -> pool -> batch) plus the compaction of the kept rows.
    """

    def __init__(self, source, specs, epochs, rng, buffer_rows):
        self.source, self.specs, self.epochs, self.rng = source, specs, epochs, rng
        self.keep_rows = buffer_rows // 2 if rng is not None else 0
        self.buffer_rows = buffer_rows if rng is not None else 1
        self.pool = [np.empty((0, *shape), dtype=dtype) for shape, dtype in specs]
        self.n_pool = 0
        self.order = np.zeros(0, dtype=np.int64)  # pool rows to emit, in emission order
        self.pos = 0
        self.kept = None  # pool rows kept back once ``order`` is emitted
        self.epoch = 0
        self.epoch_rows = 0
        self.chunks = None  # iterator over the current epoch's chunks

    def _append(self, chunk):
        n = len(chunk[0])
        if self.n_pool + n > len(self.pool[0]):
            cap = max(2 * len(self.pool[0]), self.n_pool + n)
            grown = [np.empty((cap, *shape), dtype=dtype) for shape, dtype in self.specs]
            for g, p in zip(grown, self.pool):
                g[: self.n_pool] = p[: self.n_pool]
            self.pool = grown
        for p, f in zip(self.pool, chunk):
            p[self.n_pool : self.n_pool + n] = f
        self.n_pool += n

    def _refill(self) -> bool:
        """Plan the next rows to emit; False when the stream is exhausted."""
        if self.kept is not None:  # compact the kept-back rows to the front of the pool
            for p in self.pool:
                p[: len(self.kept)] = np.take(p, self.kept, axis=0, mode="clip")
            self.n_pool = len(self.kept)
            self.kept = None
        else:
            self.n_pool = 0
        end_of_epoch = False
        while self.n_pool < self.buffer_rows:
            if self.chunks is None:
                if self.epochs is not None and self.epoch >= self.epochs:
                    break
                self.chunks = iter(self.source.epoch(self.rng if self.source.random_access else None))
            chunk = next(self.chunks, None)
            if chunk is None:
                if self.epoch_rows == 0:
                    raise ValueError(f"StreamingMinibatch: the source yielded no rows in epoch {self.epoch + 1}")
                if self.source.n_rows is not None and self.epoch_rows != self.source.n_rows:
                    raise ValueError(
                        f"StreamingMinibatch: epoch {self.epoch + 1} had {self.epoch_rows} rows but n_rows (and "
                        f"total_size) is {self.source.n_rows}: fix n_rows"
                    )
                self.chunks = None
                self.epoch += 1
                self.epoch_rows = 0
                end_of_epoch = True  # never mix two epochs: emit the whole pool now
                break
            self._append(chunk)
            self.epoch_rows += len(chunk[0])
        if self.n_pool == 0:
            return not (self.epochs is not None and self.epoch >= self.epochs) and self._refill()
        keep = 0 if end_of_epoch else min(self.keep_rows, self.n_pool - 1)
        if self.rng is None:
            self.order = np.arange(self.n_pool)
        else:
            perm = self.rng.permutation(self.n_pool)
            self.order = perm[: self.n_pool - keep]
            self.kept = np.sort(perm[self.n_pool - keep :]) if keep else None
        self.pos = 0
        return True

    def fill(self, dests) -> bool:
        """Fill one batch (a list of arrays, one per field); False if the stream ran dry first."""
        size = len(dests[0])
        filled = 0
        while filled < size:
            if self.pos >= len(self.order) and not self._refill():
                return False
            take = min(size - filled, len(self.order) - self.pos)
            idx = self.order[self.pos : self.pos + take]
            for d, p in zip(dests, self.pool):
                np.take(p, idx, axis=0, out=d[filled : filled + take], mode="clip")  # unbuffered
            self.pos += take
            filled += take
        return True


def _batches_from(source, batch_size, specs, epochs, rng, buffer_rows) -> Iterator[tuple]:
    """Fresh batch arrays (tuples, one array per field) from a :class:`_RowStream`."""
    rows = _RowStream(source, specs, epochs, rng, buffer_rows)
    while True:
        out = [np.empty((batch_size, *shape), dtype=dtype) for shape, dtype in specs]
        if not rows.fill(out):
            return
        yield tuple(out)


def _check_batch_size(batch_size, n_rows):
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"StreamingMinibatch: batch_size must be an integer, got {batch_size!r}")
    if batch_size <= 0:
        raise ValueError(f"StreamingMinibatch: batch_size must be a positive integer, got {batch_size}")
    if n_rows is not None and batch_size > n_rows:
        raise ValueError(f"StreamingMinibatch: batch_size {batch_size} is larger than the number of rows {n_rows}")
    return int(batch_size)


def _check_epochs(epochs, src):
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs <= 0):
        raise ValueError(f"StreamingMinibatch: epochs must be a positive integer or None (endless), got {epochs!r}")
    if getattr(src, "one_shot", False):
        if epochs not in (None, 1):
            raise ValueError(
                f"StreamingMinibatch: epochs={epochs}, but a one-shot iterator supports a single epoch; pass a "
                "callable returning a fresh iterator (e.g. lambda: read_chunks(path)) for several epochs"
            )
        return 1
    return None if epochs is None else int(epochs)


def stream_batches(
    *sources,
    batch_size: int,
    epochs: int | None = 1,
    shuffle: bool = True,
    shuffle_buffer: int | None = None,
    n_rows: int | None = None,
    block_rows: int | None = None,
    random_seed=None,
) -> Iterator:
    """Fixed-size numpy batches from chunked storage, without loading it whole.

    ``shuffle_buffer`` is the number of rows mixed at a time (default: 32 batches, at least
    one source block); ``shuffle=False`` keeps the storage order.  Yields arrays of shape
    ``(batch_size, ...)``, or tuples of them for several (paired) sources.

    Examples
    --------
    >>> import numpy as np
    >>> ids = np.arange(10)
    >>> batches = list(stream_batches(ids, batch_size=5, random_seed=0))
    >>> sorted(np.concatenate(batches).tolist()) == list(range(10))
    True
    """
    src = _make_source(sources, n_rows, block_rows)
    batch_size = _check_batch_size(batch_size, src.n_rows)
    epochs = _check_epochs(epochs, src)
    specs = src.specs()
    rng = np.random.default_rng(random_seed) if shuffle else None
    buffer_rows = _buffer_rows(src, batch_size, shuffle_buffer)
    single = len(specs) == 1
    for batch in _batches_from(src, batch_size, specs, epochs, rng, buffer_rows):
        yield batch[0] if single else batch


def _buffer_rows(src, batch_size, shuffle_buffer):
    if shuffle_buffer is None:
        block = max((b - a for a, b in getattr(src, "blocks", [(0, 0)])), default=0)
        return max(32 * batch_size, block)
    if isinstance(shuffle_buffer, bool) or not isinstance(shuffle_buffer, numbers.Integral) or shuffle_buffer < 1:
        raise ValueError(f"StreamingMinibatch: shuffle_buffer must be a positive number of rows, got {shuffle_buffer!r}")
    return int(shuffle_buffer)


# ---------------------------------------------------------------------- model-facing tensor
class _Prefetcher:
    """Reads batches in a background thread (I/O and decompression overlap the compute)."""

    _END = object()

    def __init__(self, it: Iterator, depth: int):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(it,), daemon=True)
        self._thread.start()

    def _run(self, it):
        try:
            for item in it:
                while not self._stop.is_set():
                    try:
                        self._q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
            self._q.put(self._END)
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer
            self._q.put(err)

    def __iter__(self):
        return self

    def __next__(self):
        item = self._q.get()
        if item is self._END:
            self._q.put(item)
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self):
        self._stop.set()


class StreamingMinibatch:
    """Minibatches streamed from out-of-core storage into the compiled VI loop.

    Memory: the batch buffer, the shuffle pool (about ``shuffle_buffer`` rows plus one
    block) and one block being read - independent of the data set's size.

    Parameters
    ----------
    *sources : one or several array-likes with equal row counts (numpy/memmap, zarr, dask,
        xarray, h5py), or one callable/iterable yielding chunks (see the module docs).
    batch_size : rows per optimisation step.
    epochs : passes over the data (None: endless; one for a one-shot iterator).  When a
        finite stream ends, ``fit`` stops early like a callback raising ``StopIteration``.
    shuffle, shuffle_buffer : shuffle block order (random-access sources) and rows within a
        buffer of ``shuffle_buffer`` rows (default ``max(32 * batch_size, one block)``).
    n_rows : number of rows of an iterable source (without it, one counting pass is made).
    block_rows : read size for array-likes without native chunks (default ~8 MB).
    max_steps : capacity of the batch buffer, i.e. the most steps one compiled call may run
        (default: as many batches as fit in ~16 MB, between 1 and 1000).
    prefetch : batches read ahead in a background thread (0: read in the training thread).
    random_seed : seed of the shuffling.

    Attributes
    ----------
    tensor (or ``tensors`` for several fields): what the model observes; ``total_size``: the
    number of rows, for ``total_size=``; ``rows_delivered``: rows handed to the loop so far.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> x = np.random.default_rng(1).normal(size=5000)      # or zarr.open_array("x.zarr")
    >>> s = StreamingMinibatch(x, batch_size=200, random_seed=0)
    >>> with pm.Model():
    ...     mu = pm.Normal("mu", 0, 10)
    ...     y = pm.Normal("y", mu, 1, observed=s.tensor, total_size=s.total_size)
    >>> s.total_size
    5000
    """

    def __init__(
        self,
        *sources,
        batch_size: int,
        epochs: int | None = None,
        shuffle: bool = True,
        shuffle_buffer: int | None = None,
        n_rows: int | None = None,
        block_rows: int | None = None,
        max_steps: int | None = None,
        prefetch: int = 0,
        random_seed=None,
    ):
        self._source = _make_source(sources, n_rows, block_rows)
        self.batch_size = _check_batch_size(batch_size, self._source.n_rows)
        self.epochs = _check_epochs(epochs, self._source)
        self._shuffle = bool(shuffle)
        self._buffer_rows = _buffer_rows(self._source, self.batch_size, shuffle_buffer)
        self._seed = random_seed
        if isinstance(prefetch, bool) or not isinstance(prefetch, numbers.Integral) or prefetch < 0:
            raise ValueError(f"StreamingMinibatch: prefetch must be a non-negative integer, got {prefetch!r}")
        self._prefetch = int(prefetch)
        specs = self._source.specs()
        specs = [(shape, np.dtype(pytensor.config.floatX) if np.issubdtype(dt, np.floating) else dt) for shape, dt in specs]
        batch_bytes = sum(self.batch_size * int(np.prod(s, dtype=np.int64)) * d.itemsize for s, d in specs)
        if max_steps is None:
            max_steps = int(np.clip(_DEFAULT_BUFFER_BYTES // max(batch_bytes, 1), 1, 1000))
        if isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral) or max_steps < 1:
            raise ValueError(f"StreamingMinibatch: max_steps must be a positive integer, got {max_steps!r}")
        self.max_steps = int(max_steps)
        self._host = [np.zeros((self.max_steps, self.batch_size, *s), dtype=d) for s, d in specs]
        self.buffers = [
            pytensor.shared(h, name=f"stream_buffer_{i}", shape=h.shape, borrow=True) for i, h in enumerate(self._host)
        ]
        self.counter = pytensor.shared(np.int64(0), name="stream_step")
        self.counter.tag.chunk_hook = self
        # modulo: evaluating the tensor after a full chunk (counter == max_steps) stays in bounds
        self.tensors = tuple(b[self.counter % self.max_steps] for b in self.buffers)
        for i, t in enumerate(self.tensors):
            t.name = "stream_batch" if len(self.tensors) == 1 else f"stream_batch_{i}"
            t.tag.stream = self
        self.rows_delivered = 0
        self._it = None
        self._observed_names = [None] * len(self.tensors)
        self._source.check = self._check_chunk

    # ---- model side
    def observed_as(self, tensor, name: str) -> None:
        """Record that the model observes field ``tensor`` as variable ``name`` (for error messages)."""
        for i, t in enumerate(self.tensors):
            if t is tensor:
                self._observed_names[i] = name

    def _check_chunk(self, fields, first_row: int) -> None:
        """Refuse a chunk with NaN or inf, naming the variable (or field) and the source row."""
        for i, f in enumerate(fields):
            if np.issubdtype(f.dtype, np.floating) and not np.isfinite(f).all():
                row = first_row + int(np.argwhere(~np.isfinite(f))[0][0])
                name = self._observed_names[i]
                what = f"{name!r}: observed data" if name is not None else f"StreamingMinibatch field {i}"
                raise ValueError(
                    f"{what} contains NaN or inf at row {row} of the streamed source (found when its chunk was "
                    "read); symvi does not impute missing values - drop or fill them first"
                )

    @property
    def tensor(self):
        """The observed tensor (the only field of a single-field stream)."""
        if len(self.tensors) != 1:
            raise AttributeError(f"this stream has {len(self.tensors)} fields: use .tensors")
        return self.tensors[0]

    @property
    def total_size(self) -> int:
        """Rows in one epoch (pass as ``total_size=`` to the observed variable)."""
        if self._source.n_rows is None:
            raise ValueError("StreamingMinibatch: the number of rows is unknown for this one-shot source; pass n_rows=")
        return self._source.n_rows

    @classmethod
    def from_zarr(cls, store, *, path: str | None = None, **kwargs) -> StreamingMinibatch:
        """Stream a zarr array (opened read-only; zarr is imported only here).

        Examples
        --------
        >>> s = StreamingMinibatch.from_zarr("data.zarr", batch_size=500)  # doctest: +SKIP
        >>> s.total_size  # doctest: +SKIP
        40000
        """
        try:
            import zarr
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("StreamingMinibatch.from_zarr needs zarr: pip install 'symvi[stream]'") from err
        arr = zarr.open_array(store, mode="r", path=path) if path else zarr.open_array(store, mode="r")
        return cls(arr, **kwargs)

    # ---- stream
    def _batches(self):
        """A row stream filling the host buffer directly, or a prefetching batch iterator."""
        rng = np.random.default_rng(self._seed) if self._shuffle else None
        specs = [(h.shape[2:], h.dtype) for h in self._host]
        if self._prefetch:
            it = _batches_from(self._source, self.batch_size, specs, self.epochs, rng, self._buffer_rows)
            return _Prefetcher(it, self._prefetch)
        return _RowStream(self._source, specs, self.epochs, rng, self._buffer_rows)

    def reset(self) -> None:
        """Start the stream again from its first epoch (same shuffling seed)."""
        if isinstance(self._it, _Prefetcher):
            self._it.close()
        self._it = None
        self.rows_delivered = 0

    # ---- hook protocol used by Inference._iterate (see chunk_hooks)
    def step_updates(self) -> dict:
        """Updates added to every optimisation step: advance the buffer position."""
        return {self.counter: self.counter + 1}

    def before_chunk(self, k: int) -> int:
        """Load the next ``k`` batches (at most ``max_steps``); returns how many were loaded.

        Raises ``StopIteration`` when a finite stream has no batch left.
        """
        if self._it is None:
            self._it = self._batches()
        k = max(1, min(int(k), self.max_steps))
        got = 0
        if isinstance(self._it, _RowStream):
            while got < k and self._it.fill([h[got] for h in self._host]):
                got += 1
        else:
            for batch in self._it:
                for h, f in zip(self._host, batch):
                    h[got] = f
                got += 1
                if got == k:
                    break
        if got == 0:
            raise StopIteration(f"StreamingMinibatch: the data stream ended after {self.epochs} epoch(s)")
        for b, h in zip(self.buffers, self._host):
            b.set_value(h, borrow=True)
        self.counter.set_value(np.int64(0))
        self.rows_delivered += got * self.batch_size
        return got

    def __del__(self):
        if isinstance(getattr(self, "_it", None), _Prefetcher):
            self._it.close()


def chunk_hooks(outputs) -> list:
    """Data feeders (chunk hooks) that the graphs ``outputs`` read from.

    A chunk hook is any object with ``max_steps`` (most steps it can feed per compiled call),
    ``step_updates()`` (shared-variable updates applied at every step) and ``before_chunk(k)``
    (load the data of the next ``k`` steps, return how many were loaded, raise
    ``StopIteration`` when exhausted).  It registers itself by setting ``tag.chunk_hook`` on a
    shared variable of its graph (see :class:`StreamingMinibatch`).  :class:`symvi.Inference`
    adds the ``step_updates`` to its compiled step and calls ``before_chunk`` before each call.

    Examples
    --------
    >>> import numpy as np
    >>> s = StreamingMinibatch(np.arange(10.0), batch_size=5)
    >>> chunk_hooks([2 * s.tensor]) == [s]
    True
    """
    outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    hooks = []
    for var in ancestors(outs):
        hook = getattr(getattr(var, "tag", None), "chunk_hook", None) if isinstance(var, SharedVariable) else None
        if hook is not None and hook not in hooks:
            hooks.append(hook)
    return hooks
