"""Model.copy, pm.do and pm.observe: new models whose log densities equal PyMC 5.28.5's
(values below computed by PyMC 5.28.5 on the same model and point, /tmp/venv-pymc)."""

import copy

import numpy as np
import pytest

import symvi as pm
from symvi.logprob import compile_logp
from symvi.pytensorf import ONE_SHOT_MODE

POINT = {"s_log__": np.log(0.7), "lo": 0.2, "u_interval__": 0.3, "th": np.array([0.1, -0.4, 0.9])}


def build():
    with pm.Model(coords={"g": ["a", "b", "c"]}) as m:
        s = pm.HalfNormal("s", 1.0)
        lo = pm.Normal("lo", 0, 1)
        u = pm.Uniform("u", lo, lo + 3)  # a transform whose bounds are a random variable
        th = pm.Normal("th", u, s, dims="g")
        xd = pm.Data("xd", np.array([0.5, -1.0, 2.0]), dims="g")
        d = pm.Deterministic("d", th * xd, dims="g")
        pm.Normal("y", d + u, 1.0, observed=np.array([1.0, 0.3, -0.2]), dims="g")
    return m


@pytest.fixture(scope="module")
def model():
    return build()


def logp(model):
    f = compile_logp(model, mode=ONE_SHOT_MODE)
    return float(f({v.name: POINT[v.name] for v in model.value_vars}))


def names(vs):
    return sorted(v.name for v in vs)


def test_base_logp_equals_pymc_and_is_not_random(model):
    # the Uniform's bounds are the draw of lo unless replaced by lo's value: the log density
    # was random before rv_replacements replaced them too
    assert logp(model) == pytest.approx(-27.80453425859654, rel=1e-10)
    assert logp(model) == logp(model)


def test_observe_free_and_observed_variables(model):
    m1 = pm.observe(model, {"th": np.array([0.2, 0.1, -0.3])})
    assert names(m1.free_RVs) == ["lo", "s", "u"] and names(m1.observed_RVs) == ["th", "y"]
    assert logp(m1) == pytest.approx(-21.929752842430297, rel=1e-10)
    m2 = pm.observe(model, {model["y"]: np.array([0.0, 0.0, 1.0])})  # new data for an observed one
    assert logp(m2) == pytest.approx(-25.941867013640035, rel=1e-10)
    assert logp(model) == pytest.approx(-27.80453425859654, rel=1e-10)  # the original is unchanged
    assert m1.named_vars_to_dims["th"] == ("g",)


def test_do_constant_and_expression(model):
    m3 = pm.do(model, {"u": 1.5})
    assert names(m3.data_vars) == ["u", "xd"] and "u" not in names(m3.free_RVs)
    assert logp(m3) == pytest.approx(-19.817281605363235, rel=1e-10)
    pm.set_data({"u": 2.5}, model=m3)  # a constant intervention is a Data container
    assert logp(m3) != pytest.approx(-19.817281605363235)
    m4 = pm.do(model, {"d": np.array([1.0, 2.0, 3.0])})
    assert logp(m4) == pytest.approx(-39.1257625727277, rel=1e-10)
    m5 = pm.do(model, {"th": model["lo"] * 2 + np.array([0.0, 1.0, 2.0])})
    assert names(m5.deterministics) == ["d", "th"]
    assert logp(m5) == pytest.approx(-30.554033093819964, rel=1e-10)


def test_do_prune_vars_and_forward_draws():
    with pm.Model() as m:
        s = pm.HalfNormal("s", 1.0)
        th = pm.Normal("th", 0, s, shape=3)
        pm.Normal("y", th, 1.0, observed=np.zeros(3))
    pruned = pm.do(m, {"th": np.zeros(3)}, prune_vars=True)
    assert sorted(pruned.named_vars) == ["th", "y"] and pruned.free_RVs == []  # as PyMC
    with pm.Model() as m:
        x = pm.Normal("x", 0, 1)
        y = pm.Normal("y", x, 1)
        pm.Normal("z", x + y, 1)
    z = pm.draw(pm.do(m, {y: 100.0})["z"], draws=2000, random_seed=3)
    assert abs(z.mean() - 100) < 0.15 and abs(z.std() - np.sqrt(2)) < 0.1  # z = 100 + x + N(0,1)


def test_do_then_posterior_predictive_redraws_requested_variables():
    # PyMC's causal-inference example: the trace holds x, y, z; z is drawn afresh given y = 100
    import arviz as az

    with pm.Model() as m:
        x = pm.Normal("x", 0, 1)
        y = pm.Normal("y", x, 1)
        z = pm.Normal("z", y + x, 1)
    idata = az.from_dict({rv.name: [pm.draw(rv, draws=500, random_seed=1)] for rv in [x, y, z]})
    with pm.do(m, {y: 100.0}):
        pp = pm.sample_posterior_predictive(idata, var_names="z", random_seed=2, progressbar=False)
    zz = pp.posterior_predictive["z"].values
    # z - x is N(100, 1) given the trace's x
    assert abs((zz - idata.posterior["x"].values).mean() - 100) < 0.15


def test_copy_is_independent(model):
    m7 = copy.copy(model)
    assert m7["th"] is not model["th"] and names(m7.free_RVs) == names(model.free_RVs)
    pm.set_data({"xd": np.array([1.0, 1.0, 1.0])}, model=m7)
    assert logp(m7) == pytest.approx(-23.429793800378828, rel=1e-10)
    assert logp(model) == pytest.approx(-27.80453425859654, rel=1e-10)
    with m7:
        pm.Deterministic("extra", m7["lo"] + 1)
    assert "extra" in m7.named_vars and "extra" not in model.named_vars
    assert copy.deepcopy(model).coords == model.coords


def test_errors_name_the_argument(model):
    with pytest.raises(KeyError, match="'nope' is not a variable"):
        pm.observe(model, {"nope": 1.0})
    with pytest.raises(ValueError, match="'d' is a Deterministic"):
        pm.observe(model, {"d": np.zeros(3)})
    with pytest.raises(ValueError, match="incompatible"):
        pm.observe(model, {"th": np.zeros(4)})
    with pytest.raises(TypeError, match="intervention for 'th' must fit"):
        pm.do(model, {"th": np.zeros(4)})
    with pytest.raises(TypeError, match="vars_to_interventions must be a dict"):
        pm.do(model, ["th"])
    with pytest.raises(ValueError, match="intervened variable"):
        pm.do(model, {"lo": 1.0, "th": model["lo"] + np.zeros(3)})


def test_set_dim_then_predict_on_new_data():
    # PyMC's out-of-sample pattern: set_dim + set_data, then posterior predictive of length 4
    with pm.Model(coords={"obs": ["a", "b"]}) as m:
        b = pm.Normal("b", 0, 1)
        x = pm.Data("x", np.array([1.0, 2.0]), dims="obs")
        pm.Deterministic("mu", b * x, dims="obs")
        pm.Normal("y", b * x, 0.1, observed=np.array([1.0, 2.0]), dims="obs")
    m.set_dim("obs", 4, coord_values=list("wxyz"))
    pm.set_data({"x": np.array([1.0, 2.0, 3.0, 4.0])}, model=m)
    pp = pm.sample_posterior_predictive({"b": np.full(50, 2.0)}, model=m, var_names=["mu", "y"],
                                        random_seed=1, progressbar=False)
    assert pp.posterior_predictive["y"].shape == (1, 50, 4)
    assert list(pp.posterior_predictive["y"].coords["obs"].values) == list("wxyz")
    np.testing.assert_allclose(pp.posterior_predictive["mu"].values[0, 0], [2.0, 4.0, 6.0, 8.0])
    assert abs(pp.posterior_predictive["y"].values.mean(axis=(0, 1))[3] - 8.0) < 0.1
    with pytest.raises(ValueError, match="coordinate values; pass coord_values"):
        m.set_dim("obs", 5)
    with pytest.raises(ValueError, match="coord_values has 2 entries"):
        m.set_dim("obs", 3, coord_values=["a", "b"])
    with pytest.raises(KeyError, match="'nope' is not a dimension"):
        m.set_dim("nope", 3)
    with pm.Model(coords={"g": range(2)}) as m2:
        pm.Normal("th", 0, 1, dims="g")
    with pytest.raises(ValueError, match=r"fixes the shape of \['th'\]"):
        m2.set_dim("g", 3, coord_values=range(3))
    assert m2.dim_lengths["g"] == 2  # nothing changed
