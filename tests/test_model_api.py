"""PyMC's Model interface beyond logp: pieces, derivatives, compile_fn, debug (values from PyMC 5.28.5)."""

import numpy as np
import pytest
from scipy import stats

import symvi as pm


@pytest.fixture(scope="module")
def model():
    with pm.Model(coords={"k": ["a", "b"]}) as m:
        a = pm.Normal("a", 0, 2)
        s = pm.HalfNormal("s", 1)
        pm.Deterministic("d", a * 2)
        pm.Potential("pot", -0.5 * a**2)
        pm.Normal("y", a, s, observed=[0.1, 0.2])
    return m


def test_derivatives_and_compile_fn_match_pymc():
    with pm.Model() as m:
        a = pm.Normal("a", 0, 2)
        s = pm.HalfNormal("s", 1)
        d = pm.Deterministic("d", a * 2)
        pm.Normal("y", a, s, observed=[0.1, 0.2])
    ip = m.initial_point()
    # PyMC: m.compile_d2logp()(ip), m.compile_dlogp()(ip): the NEGATIVE Hessian, as there
    np.testing.assert_allclose(m.compile_d2logp()(ip), [[2.25, 0.6], [0.6, 2.1]], rtol=1e-12)
    np.testing.assert_allclose(m.compile_fn(m.dlogp())(ip), [0.3, -1.95], rtol=1e-12)
    assert float(m.compile_fn(d)({"a": 1.5})) == 3.0
    # PyMC gives -5.0257541347 (to 4e-10); the sum of scipy's terms:
    exact = stats.norm(0, 2).logpdf(1.0) + stats.halfnorm.logpdf(1.0) + stats.norm(1.0, 1.0).logpdf([0.1, 0.2]).sum()
    np.testing.assert_allclose(m.compile_fn(m.logp())({"a": 1.0, "s_log__": 0.0}), exact, rtol=1e-14)
    both = m.compile_fn([d, s], point_fn=False)
    np.testing.assert_allclose(both(1.0, 0.0), [2.0, 1.0])


def test_pieces_and_lists(model):
    ip = {"a": np.array(0.3), "s_log__": np.array(-0.2)}
    total = model.compile_logp()(ip)
    parts = [model.compile_fn(p)(ip) for p in (model.varlogp, model.observedlogp, model.potentiallogp)]
    np.testing.assert_allclose(sum(parts), total, rtol=1e-12)
    np.testing.assert_allclose(model.compile_fn(model.datalogp)(ip), parts[1] + parts[2], rtol=1e-12)
    assert [v.name for v in model.unobserved_RVs] == ["a", "s", "d"]
    assert [v.name for v in model.unobserved_value_vars[:2]] == ["a", "s_log__"]
    np.testing.assert_allclose(model.compile_fn(model.unobserved_value_vars[2:])(ip), [np.exp(-0.2), 0.6])
    assert [v.name for v in model.continuous_value_vars] == ["a", "s_log__"] and model.discrete_value_vars == []
    assert model.shape_from_dims(["k"]) == (2,)
    with pm.Model():
        assert pm.Model.get_context() is not model
    assert pm.Model.get_context(error_if_none=False) is None


def test_set_initval_check_start_vals_and_debug(capsys):
    with pm.Model() as m:
        a = pm.Normal("a", 0, 1)
        sd = pm.Normal("sd", -1.0, 0.1)  # a negative scale at the start
        pm.Normal("y", a, sd, observed=[0.0, 1.0])
    m.set_initval(a, 0.5)
    assert float(m.initial_point()["a"]) == 0.5
    with pytest.raises(ValueError, match="'y'"):
        m.check_start_vals(m.initial_point())
    m.debug()
    out = capsys.readouterr().out
    assert "The variable y has the following parameters" in out and "sigma = -1.0" in out
    m.check_start_vals({"sd": 1.0})
    with pytest.raises(ValueError, match="not a free random variable"):
        m.set_initval(m["y"], 0.0)


def test_profile_counts_the_calls_and_reports_the_ops():
    import io

    with pm.Model() as m:
        mu = pm.Normal("mu", 0.0, 1.0)
        pm.Normal("y", mu, 1.0, observed=np.zeros(3))
    stats = m.profile(m.logp(), n=7, point={"mu": 0.5})
    assert stats.fct_callcount == 7
    out = io.StringIO()
    stats.summary(file=out)
    assert "7 calls" in out.getvalue()
    with pytest.raises(ValueError, match="n must be a positive integer"):
        m.profile(m.logp(), n=0)
