"""symvi.numba_calls: Numba's Generator unboxing and array boxing replaced by cheaper ones that
build the same native values (same draws, same arrays)."""

import ctypes
import gc

import numba
import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.link.numba.cache import NumbaPyTensorCacheLocator

from symvi import numba_calls


@numba.njit
def _draws(g, n):
    out = np.empty(3 * n)
    for i in range(n):
        out[3 * i] = g.normal()
        out[3 * i + 1] = g.random()
        out[3 * i + 2] = g.integers(0, 1000)
    return out


def test_installed_and_draws_match_numpy_call_after_call():
    assert numba_calls.install()
    g, ref = np.random.default_rng(7), np.random.default_rng(7)
    for _ in range(3):  # the generator is advanced in place, call after call
        expected = []
        for _ in range(4):
            expected += [ref.normal(), ref.random(), ref.integers(0, 1000)]
        np.testing.assert_array_equal(_draws(g, 4), expected)
    assert g.bit_generator.state == ref.bit_generator.state
    other = np.random.Generator(np.random.Philox(3))  # another bit generator, its own pointers
    np.testing.assert_array_equal(_draws(other, 1)[:1], [np.random.Generator(np.random.Philox(3)).normal()])


def test_generator_pointers_are_the_ctypes_values_and_a_bad_argument_raises():
    g = np.random.default_rng(1)
    ct = g.bit_generator.ctypes
    bit_generator, state_address, state, u64, u32, double = numba_calls.generator_pointers(g)
    assert bit_generator is g.bit_generator and state_address == ct.state_address == state
    assert double == ctypes.cast(ct.next_double, ctypes.c_void_p).value
    assert (u64, u32) == (ctypes.cast(ct.next_uint64, ctypes.c_void_p).value, ctypes.cast(ct.next_uint32, ctypes.c_void_p).value)

    @numba.njit
    def first(g):
        return g.normal()

    first(g)
    entry = next(iter(first.overloads.values())).entry_point
    try:
        entry(object())  # no bit_generator: the helper's AttributeError, not a crash
    except AttributeError:
        pass
    else:  # pragma: no cover - the check is the point
        raise AssertionError("expected AttributeError")


@numba.njit
def _arrays(x):
    return x * 2, (x > 0), x.astype(np.int32)[:2], np.float32(1.5) * np.ones((2, 3), dtype=np.float32), x[::2]


def test_returned_arrays_keep_type_dtype_shape_and_values():
    x = np.array([1.0, -2.0, 3.0])
    outs = _arrays(x)
    expected = (x * 2, x > 0, x.astype(np.int32)[:2], np.full((2, 3), 1.5, dtype=np.float32), x[::2])
    for got, want in zip(outs, expected):
        assert type(got) is np.ndarray and got.dtype == want.dtype and got.shape == want.shape
        assert got.flags.writeable
        np.testing.assert_array_equal(got, want)


def test_pytensor_loops_taking_a_generator_are_cached_under_their_own_key():
    rng = pytensor.shared(np.random.default_rng(0))
    nxt, x = pt.random.normal(size=2, rng=rng, return_next_rng=True)
    f = pytensor.function([], x, updates={rng: nxt}, mode="NUMBA")
    np.testing.assert_array_equal(f(), np.random.default_rng(0).normal(size=2))
    locator = f.vm.jit_fn._cache._impl.locator
    assert isinstance(locator, NumbaPyTensorCacheLocator)
    assert locator.get_disambiguator().endswith(numba_calls.CACHE_SALT)
    w = pytensor.shared(np.zeros(2))
    g = pytensor.function([], w + 1.0, mode="NUMBA")  # no generator: PyTensor's key as it was
    g()
    assert not g.vm.jit_fn._cache._impl.locator.get_disambiguator().endswith(numba_calls.CACHE_SALT)


def test_generator_pointers_are_forgotten_with_their_generator():
    # each notebook re-run of a fit makes new generators: their pointer entries (ctypes records
    # and function-pointer objects, ~10 tracked objects each) used to stay until 256 piled up
    gc.collect()
    before = len(numba_calls._pointers)
    gens = [np.random.default_rng(i) for i in range(5)]
    first = [numba_calls.generator_pointers(g) for g in gens]
    assert len(numba_calls._pointers) == before + 5
    assert [numba_calls.generator_pointers(g) for g in gens] == first  # kept while they live
    del gens, first
    assert len(numba_calls._pointers) == before  # freed by reference counting, no collection
    g = np.random.default_rng(7)  # a new record, possibly at a freed record's address
    assert numba_calls.generator_pointers(g)[1] == g.bit_generator.ctypes.state_address
