"""FullRank at scale: the Cholesky factor built by one vectorised scatter, and a FullRank too big
for the memory available refused before anything is allocated."""

import tracemalloc

import numpy as np
import pytest

import symvi as pm
from symvi.pytensorf import ONE_SHOT_MODE, compile_fn
from symvi.variational import memory


def test_L_is_the_lower_triangle_of_the_packed_entries():
    with pm.Model() as m:
        pm.Normal("x", 0, 1, shape=4)
    q = pm.FullRank(model=m, start_sigma={"x": np.array([1.0, 2.0, 3.0, 4.0])})
    L0 = compile_fn([], q.L, mode=ONE_SHOT_MODE)()
    np.testing.assert_array_equal(L0, np.diag([1.0, 2.0, 3.0, 4.0]))
    packed = np.arange(1.0, 11.0)
    q.set_params({"L_tril": packed})
    expected = np.zeros((4, 4))
    expected[np.tril_indices(4)] = packed  # numpy's row-major order of the triangle
    np.testing.assert_array_equal(compile_fn([], q.L, mode=ONE_SHOT_MODE)(), expected)
    np.testing.assert_allclose(q.std.eval(), np.sqrt((expected**2).sum(1)))


def test_fullrank_estimate_matches_its_parts():
    d = 20_000
    n = d * (d + 1) // 2
    assert memory.fullrank_bytes(d) == 5 * 8 * n + 2 * 8 * d * d + 4 * n
    assert memory.fullrank_bytes(50_000) == 5 * 8 * (50_000 * 50_001 // 2) + 2 * 8 * 50_000**2 + 8 * (50_000 * 50_001 // 2)
    have = memory.available_bytes()
    assert have is None or have > 0


def test_too_big_fullrank_is_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 4 * 2**30)  # a 4 GiB machine
    with pm.Model() as m:
        pm.Normal("x", 0, 1, shape=20_000)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            pm.FullRankADVI(model=m)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    msg = str(err.value)
    assert "FullRank on 20000 parameters needs at least 14.2 GiB" in msg and "only 4.0 GiB" in msg
    assert "LowRankADVI" in msg
    assert peak < 20 * 2**20  # the 200 million entries (1.5 GiB) were never allocated
    with pm.Model() as small:
        pm.Normal("x", 0, 1, shape=100)
    assert pm.FullRank(model=small).shared_params["L_tril"].get_value().shape == (5050,)
