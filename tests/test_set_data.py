"""``set_data`` refuses bad values with a ValueError naming the container, and a refused call
changes nothing (values, coords, dim lengths), even when other containers in it were fine."""

import numpy as np
import pytest

import symvi as pm


def model():
    with pm.Model(coords={"obs": ["a", "b", "c"]}) as m:
        pm.Data("x", np.array([0.5, 1.5, 2.5]), dims="obs")
        pm.Data("idx", np.array([0, 1, 2]))
        pm.Data("mask", np.array([True, False]))
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu * m["x"], 1.0, observed=np.zeros(3))
    return m


def snapshot(m):
    return (
        {d.name: d.get_value().copy() for d in m.data_vars},
        dict(m.coords),
        dict(m.dim_lengths),
    )


def assert_unchanged(m, before):
    values, coords, lengths = snapshot(m)
    for k, v in before[0].items():
        np.testing.assert_array_equal(values[k], v)
        assert values[k].dtype == v.dtype
    assert coords == before[1] and lengths == before[2]


@pytest.mark.parametrize(
    "new, match",
    [
        ({"z": np.zeros(3)}, r"'z' is not a Data container of the model; its containers are \['idx', 'mask', 'x'\]"),
        ({"x": np.zeros((3, 1))}, r"'x' has 1 dimensions, new value has 2"),
        ({"x": np.float64(1.0)}, r"'x' has 1 dimensions, new value has 0"),
        ({"x": np.array(["a", "b"])}, r"'x' holds float64 numbers; the new value has dtype <U1"),
        ({"x": np.array([1 + 2j])}, r"'x' holds float64 numbers; the new value has dtype complex128"),
        ({"idx": np.array([0.5, 1.0])}, r"'idx' holds int64 values; the new value \(dtype float64\) cannot be cast"),
        ({"idx": np.array([1.0, np.nan])}, r"'idx' holds int64 values"),
        ({"mask": np.array([0, 2])}, r"'mask' holds bool values"),
        ({"x": [[1.0], [2.0, 3.0]]}, r"the new value of 'x' is not an array"),
        # the first entry is fine, the second is not: neither is applied
        ({"x": np.zeros(4), "idx": np.array([1.5])}, r"'idx'"),
    ],
)
def test_bad_values_raise_and_change_nothing(new, match):
    m = model()
    before = snapshot(m)
    with pytest.raises(ValueError, match=match):
        pm.set_data(new, model=m, coords={"obs": list("wxyz")})
    assert_unchanged(m, before)
    # the model still evaluates with its old data
    assert m.compile_logp()({"mu": np.array(1.0)}) == pytest.approx(
        -0.5 * np.log(2 * np.pi) - 0.5 - 0.5 * (3 * np.log(2 * np.pi) + np.sum(np.array([0.5, 1.5, 2.5]) ** 2))
    )


def test_a_model_variable_is_not_a_container():
    m = model()
    before = snapshot(m)
    with pytest.raises(TypeError, match="'mu' is not a Data container"):
        pm.set_data({"mu": np.zeros(1)}, model=m)
    assert_unchanged(m, before)
    with pytest.raises(TypeError, match="dict"):
        pm.set_data([("x", np.zeros(3))], model=m)


def test_values_that_cast_are_stored_in_the_container_dtype():
    m = model()
    pm.set_data({"x": np.array([1, 2, 3, 4]), "idx": np.array([3.0, 4.0]), "mask": np.array([1, 0, 1])}, model=m)
    x, idx, mask = (m[n].get_value() for n in ("x", "idx", "mask"))
    assert x.dtype == np.float64 and x.tolist() == [1.0, 2.0, 3.0, 4.0]
    assert idx.dtype == np.int64 and idx.tolist() == [3, 4]
    assert mask.dtype == np.bool_ and mask.tolist() == [True, False, True]
    assert m.coords["obs"] == (0, 1, 2, 3) and m.dim_lengths["obs"] == 4
    pm.set_data({"x": [0.0, 1.0]}, model=m, coords={"obs": ["p", "q"]})  # lists are fine too
    assert m.coords["obs"] == ("p", "q") and m.dim_lengths["obs"] == 2
