"""Model context, registry, coords/dims, data containers, log densities and input validation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import symvi
import symvi as pm
from symvi.model import modelcontext


# ---------------------------------------------------------------------- fixtures
@pytest.fixture
def simple_model():
    rng = np.random.default_rng(0)
    data = rng.normal(1.0, 2.0, size=20)
    with pm.Model(coords={"obs": np.arange(20)}) as m:
        mu = pm.Normal("mu", 0.0, 10.0)
        sigma = pm.HalfNormal("sigma", 5.0)
        pm.Deterministic("mu2", 2 * mu)
        pm.Potential("pen", -0.5 * mu**2)
        pm.Normal("y", mu, sigma, observed=data, dims="obs")
    return m, data


def _logp_by_hand(point, data):
    mu = point["mu"]
    log_s = point["sigma_log__"]
    s = np.exp(log_s)
    return (
        stats.norm(0, 10).logpdf(mu)
        + stats.halfnorm(scale=5).logpdf(s)
        + log_s  # log|d exp(v)/dv|
        - 0.5 * mu**2
        + stats.norm(mu, s).logpdf(data).sum()
    )


# ---------------------------------------------------------------------- context & registry
def test_model_context_stack():
    with pm.Model() as outer:
        assert modelcontext() is outer
        with pm.Model() as inner:
            assert modelcontext() is inner
            x = pm.Normal("x", 0, 1)
        assert modelcontext() is outer
    assert x in inner.free_RVs and x not in outer.free_RVs
    with pytest.raises(TypeError, match="with symvi.Model"):
        modelcontext()


def test_registry(simple_model):
    m, data = simple_model
    assert [v.name for v in m.free_RVs] == ["mu", "sigma"]
    assert [v.name for v in m.observed_RVs] == ["y"]
    assert [v.name for v in m.deterministics] == ["mu2"]
    assert [v.name for v in m.potentials] == ["pen"]
    assert [v.name for v in m.value_vars] == ["mu", "sigma_log__"]
    assert m.basic_RVs == m.free_RVs + m.observed_RVs
    mu, sigma, y = m["mu"], m["sigma"], m["y"]
    assert m.mu is mu and m.sigma is sigma
    assert m.rvs_to_values[sigma].name == "sigma_log__"
    assert m.rvs_to_transforms[mu] is None
    assert m.rvs_to_transforms[sigma].name == "log"
    assert m.rvs_to_transforms[y] is None
    np.testing.assert_array_equal(m.rvs_to_values[y].data, data)
    assert set(m.named_vars) == {"mu", "sigma", "mu2", "pen", "y"}
    assert m.named_vars_to_dims == {"y": ("obs",)}
    with pytest.raises(KeyError, match="nope"):
        m["nope"]
    with pytest.raises(AttributeError, match="nope"):
        m.nope
    assert "Normal" in repr(m) and "observed" in repr(m)


def test_named_model_prefix():
    with pm.Model(name="sub") as m:
        x = pm.Normal("x", 0, 1)
    assert x.name == "sub::x"
    assert m["x"] is x and m["sub::x"] is x


def test_transform_none_keeps_constrained_value():
    with pm.Model() as m:
        s = pm.HalfNormal("s", 1.0, transform=None)
    assert m.rvs_to_values[s].name == "s"
    assert m.rvs_to_transforms[s] is None


# ---------------------------------------------------------------------- coords / dims / shape
def test_shape_from_dims_and_coords():
    with pm.Model(coords={"city": ["a", "b", "c"], "year": [2020, 2021]}) as m:
        x = pm.Normal("x", 0, 1, dims=("city", "year"))
        m.add_coord("k", length=4)
        m.add_coords({"j": ["p", "q"]})
        z = pm.Normal("z", 0, 1, dims=("k", "j"))
    assert m.coords["city"] == ("a", "b", "c")
    assert m.coords["year"] == (2020, 2021)
    assert m.coords["k"] is None and m.dim_lengths["k"] == 4
    assert m.dim_lengths["j"] == 2
    assert x.type.shape == (3, 2)
    assert z.type.shape == (4, 2)
    assert m.initial_point()["x"].shape == (3, 2)
    assert m.named_vars_to_dims["x"] == ("city", "year")
    with pytest.raises(ValueError, match="city"):
        m.add_coord("city", ["d"])
    with pytest.raises(ValueError, match="'w'"):
        m.add_coord("w")
    with pytest.raises(ValueError, match="length"):
        m.add_coord("w", [1, 2], length=3)


def test_shape_and_size():
    with pm.Model() as m:
        a = pm.Normal("a", 0, 1, shape=(2, 3))
        b = pm.Normal("b", 0, 1, size=4)
        c = pm.Normal("c", np.zeros(5), 1)
        d = pm.Normal("d", 0, 1, shape=3)
    assert a.type.shape == (2, 3)
    assert pm.draw(b, random_seed=1).shape == (4,)
    assert pm.draw(c, random_seed=1).shape == (5,)
    assert d.type.shape == (3,)
    ip = m.initial_point()
    assert ip["a"].shape == (2, 3) and ip["b"].shape == (4,) and ip["c"].shape == (5,)
    with pm.Model():
        with pytest.raises(ValueError, match="'e'.*shape= or size="):
            pm.Normal("e", 0, 1, shape=3, size=3)


def test_dims_inferred_from_observed():
    with pm.Model() as m:
        pm.Normal("y", 0, 1, dims=("row", "col"), observed=np.zeros((4, 2)))
    assert m.dim_lengths == {"row": 4, "col": 2}


# ---------------------------------------------------------------------- Deterministic / Potential / Data
def test_deterministic_and_potential_values(simple_model):
    m, data = simple_model
    point = {"mu": np.array(0.7), "sigma_log__": np.array(0.3)}
    with_pen = m.compile_logp()(point)
    no_pen = m.compile_logp(vars=["mu", "sigma", "y"])(point)
    np.testing.assert_allclose(with_pen - no_pen, -0.5 * 0.7**2)
    np.testing.assert_allclose(with_pen, _logp_by_hand(point, data))
    # a deterministic of an RV draws consistently with it
    mu_draw, mu2_draw = pm.draw([m["mu"], m["mu2"]], draws=3, random_seed=2)
    np.testing.assert_allclose(mu2_draw, 2 * mu_draw)


def test_data_and_set_data_changes_logp():
    x0 = np.array([0.0, 1.0, 2.0])
    y0 = np.array([0.1, 1.9, 4.2])
    with pm.Model(coords={"obs": range(3)}) as m:
        x = pm.Data("x", x0, dims="obs")
        y_data = pm.Data("y_data", y0, dims="obs")
        beta = pm.Normal("beta", 0, 1)
        pm.Normal("y", beta * x, 1.0, observed=y_data)
    logp = m.compile_logp()
    point = {"beta": np.array(2.0)}

    def by_hand(xv, yv):
        return stats.norm(0, 1).logpdf(2.0) + stats.norm(2.0 * xv, 1).logpdf(yv).sum()

    np.testing.assert_allclose(logp(point), by_hand(x0, y0))
    x1, y1 = np.arange(5.0), np.array([0.0, 2.5, 3.0, 6.5, 8.0])
    pm.set_data({"x": x1, "y_data": y1}, model=m, coords={"obs": list("abcde")})
    np.testing.assert_allclose(logp(point), by_hand(x1, y1))  # same compiled fn, new data
    assert m.dim_lengths["obs"] == 5 and m.coords["obs"] == tuple("abcde")
    assert x.get_value().shape == (5,)
    with pytest.raises(TypeError, match="beta"):
        pm.set_data({"beta": np.zeros(2)}, model=m)
    with pytest.raises(ValueError, match="'x'"):
        pm.set_data({"x": np.zeros((2, 2))}, model=m)


# ---------------------------------------------------------------------- initial point / logps
def test_initial_point_and_initval():
    with pm.Model() as m:
        mu = pm.Normal("mu", 3.0, 1.0)
        s = pm.HalfNormal("s", 2.0, initval=0.5)
        g = pm.Gamma("g", 2.0, 4.0)
        v = pm.Normal("v", 0, 1, shape=3, initval=[1.0, 2.0, 3.0])
    ip = m.initial_point()
    assert set(ip) == {"mu", "s_log__", "g_log__", "v"}
    np.testing.assert_allclose(ip["mu"], 3.0)  # support point = mu
    np.testing.assert_allclose(ip["s_log__"], np.log(0.5))  # initval, mapped to the log scale
    np.testing.assert_allclose(ip["g_log__"], np.log(0.5))  # Gamma mean alpha / beta
    np.testing.assert_allclose(ip["v"], [1.0, 2.0, 3.0])
    assert m.rvs_to_initial_values[s] == 0.5 and mu not in m.rvs_to_initial_values
    assert v.type.shape == (3,)
    with pm.Model() as m2:
        pm.Normal("w", 0, 1, shape=3, initval=np.zeros(4))
    with pytest.raises(ValueError, match="'w'"):
        m2.initial_point()


def test_initial_point_follows_data_and_new_variables_after_caching():
    """initial_point keeps its compiled functions on the model: values still follow shared
    data (support points), new variables, and a returned point is the caller's to modify."""
    with pm.Model() as m:
        loc = pm.Data("loc", np.array([1.0, 2.0]))
        pm.Normal("x", loc, 1.0)
    first = m.initial_point()
    np.testing.assert_allclose(first["x"], [1.0, 2.0])
    first["x"][:] = 99.0
    pm.set_data({"loc": np.array([5.0, 6.0])}, model=m)
    np.testing.assert_allclose(m.initial_point()["x"], [5.0, 6.0])
    with m:
        pm.Normal("z", 7.0, 1.0)
    assert set(m.initial_point()) == {"x", "z"}


def test_initval_prior_seeded():
    with pm.Model() as m:
        pm.Normal("x", 0, 1, shape=4, initval="prior")
    a, b = m.initial_point(random_seed=5)["x"], m.initial_point(random_seed=5)["x"]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, m.initial_point(random_seed=6)["x"])


def test_point_logps(simple_model):
    m, data = simple_model
    ip = m.initial_point()
    lps = m.point_logps(ip, round_vals=6)
    assert set(lps) == {"mu", "sigma", "y", "pen"}
    np.testing.assert_allclose(lps["mu"], stats.norm(0, 10).logpdf(0.0), atol=1e-6)
    # sigma's term is on the transformed space (log-Jacobian included), as in PyMC
    np.testing.assert_allclose(lps["sigma"], stats.halfnorm(scale=5).logpdf(5.0) + np.log(5.0), atol=1e-6)
    np.testing.assert_allclose(lps["y"], stats.norm(0, 5).logpdf(data).sum(), atol=1e-6)
    np.testing.assert_allclose(sum(lps.values()), m.compile_logp()(ip), atol=1e-5)


def test_compile_logp_jacobian_flag(simple_model):
    m, data = simple_model
    point = {"mu": np.array(-0.4), "sigma_log__": np.array(0.9)}
    diff = m.compile_logp()(point) - m.compile_logp(jacobian=False)(point)
    np.testing.assert_allclose(diff, 0.9)


def test_logp_sum_false_terms(simple_model):
    m, _ = simple_model
    terms = m.compile_logp(sum=False)({"mu": np.array(0.0), "sigma_log__": np.array(0.0)})
    assert len(terms) == 4  # mu, sigma, y, pen
    assert np.shape(terms[2]) == (20,)


def test_dlogp_matches_finite_differences(simple_model):
    m, data = simple_model
    logp, dlogp = m.compile_logp(), m.compile_dlogp()
    point = {"mu": np.array(0.8), "sigma_log__": np.array(0.4)}
    grad = dlogp(point)
    assert grad.shape == (2,)
    eps = 1e-6
    fd = []
    for name in ["mu", "sigma_log__"]:
        up = dict(point, **{name: point[name] + eps})
        dn = dict(point, **{name: point[name] - eps})
        fd.append((logp(up) - logp(dn)) / (2 * eps))
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)
    with pytest.raises(KeyError, match="sigma_log__"):
        dlogp({"mu": np.array(0.0)})


def test_dlogp_vector_fd():
    rng = np.random.default_rng(3)
    with pm.Model() as m:
        w = pm.Normal("w", 0, 1, shape=3)
        g = pm.Gamma("g", 2.0, 1.0, shape=2)
        pm.Normal("y", w.sum() * g[0], g[1], observed=rng.normal(size=10))
    logp, dlogp = m.compile_logp(), m.compile_dlogp()
    point = {"w": rng.normal(size=3), "g_log__": rng.normal(size=2) * 0.3}
    grad = dlogp(point)
    flat = np.concatenate([point["w"], point["g_log__"]])

    def f(z):
        return logp({"w": z[:3], "g_log__": z[3:]})

    eps = 1e-6
    fd = np.array([(f(flat + eps * e) - f(flat - eps * e)) / (2 * eps) for e in np.eye(5)])
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-5)


def test_batched_logp_equals_loop(simple_model):
    m, _ = simple_model
    rng = np.random.default_rng(1)
    B = 7
    pts = {"mu": rng.normal(size=B), "sigma_log__": rng.normal(scale=0.5, size=B)}
    batched = m.compile_logp(batched=True)(pts)
    single = m.compile_logp()
    loop = [single({k: v[i] for k, v in pts.items()}) for i in range(B)]
    assert batched.shape == (B,)
    np.testing.assert_allclose(batched, loop, rtol=1e-10)


def test_batched_logp_vector_vars():
    rng = np.random.default_rng(2)
    with pm.Model() as m:
        w = pm.Normal("w", 0, 1, shape=3)
        s = pm.HalfNormal("s", 1)
        pm.Normal("y", w.sum(), s, observed=rng.normal(size=5))
    B = 4
    pts = {"w": rng.normal(size=(B, 3)), "s_log__": rng.normal(size=B)}
    batched = m.compile_logp(batched=True)(pts)
    single = m.compile_logp()
    np.testing.assert_allclose(batched, [single({k: v[i] for k, v in pts.items()}) for i in range(B)])


# ---------------------------------------------------------------------- total_size
def _obs_logp(data, **kw):
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu, 1.0, observed=data, **kw)
    return m.compile_logp(vars=["y"])({"mu": np.array(0.3)})


@pytest.mark.parametrize(
    "data_shape, total_size, factor",
    [
        ((10,), 1000, 100.0),
        ((10,), (1000,), 100.0),
        ((10, 3), (40, None), 4.0),
        ((10, 3), (Ellipsis, 6), 2.0),
        ((10, 3), (20, Ellipsis), 2.0),
        ((10, 3), (40, 9), 12.0),
        ((10, 3), (None, Ellipsis, 9), 3.0),
    ],
)
def test_total_size_scaling(data_shape, total_size, factor):
    data = np.random.default_rng(0).normal(size=data_shape)
    base = _obs_logp(data)
    np.testing.assert_allclose(_obs_logp(data, total_size=total_size), factor * base, rtol=1e-12)


def test_total_size_does_not_scale_other_terms():
    data = np.random.default_rng(0).normal(size=5)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu, 1.0, observed=data, total_size=50)
    point = {"mu": np.array(0.3)}
    full = m.compile_logp()(point)
    expected = stats.norm(0, 1).logpdf(0.3) + 10 * stats.norm(0.3, 1).logpdf(data).sum()
    np.testing.assert_allclose(full, expected)


# ---------------------------------------------------------------------- bad inputs
def test_bad_duplicate_name():
    with pm.Model():
        pm.Normal("x", 0, 1)
        with pytest.raises(ValueError, match="'x'.*already exists"):
            pm.Normal("x", 0, 1)
        with pytest.raises(ValueError, match="'x'"):
            pm.Deterministic("x", pm.math.ones(2))
        with pytest.raises(ValueError, match="'x'"):
            pm.Data("x", np.ones(2))


def test_bad_outside_model():
    with pytest.raises(TypeError, match=r"Normal\('x'\).*with symvi\.Model\(\)"):
        pm.Normal("x", 0, 1)
    with pytest.raises(TypeError, match=r"'d'.*with symvi\.Model\(\)"):
        pm.Deterministic("d", pm.math.ones(2))
    with pytest.raises(TypeError, match=r"'p'.*with symvi\.Model\(\)"):
        pm.Potential("p", pm.math.ones(2))
    with pytest.raises(TypeError, match=r"'dd'.*with symvi\.Model\(\)"):
        pm.Data("dd", np.ones(2))


def test_bad_name_type():
    with pm.Model():
        with pytest.raises(TypeError, match="name"):
            pm.Normal(0.0, 1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_bad_observed_nonfinite(bad):
    with pm.Model():
        with pytest.raises(ValueError, match="'y'.*NaN or inf"):
            pm.Normal("y", 0, 1, observed=np.array([0.0, bad, 1.0]))
        d = pm.Data("d", np.array([0.0, bad]))
        with pytest.raises(ValueError, match="'y2'.*NaN or inf"):
            pm.Normal("y2", 0, 1, observed=d)


def test_bad_observed_non_numeric():
    with pm.Model():
        with pytest.raises(TypeError, match="'y'"):
            pm.Normal("y", 0, 1, observed=["a", "b"])


def test_bad_observed_shape():
    with pm.Model(coords={"obs": range(3)}):
        with pytest.raises(ValueError, match="'y1'.*incompatible"):
            pm.Normal("y1", 0, 1, shape=(3,), observed=np.zeros(4))
        with pytest.raises(ValueError, match="'y2'.*incompatible"):
            pm.Normal("y2", 0, 1, dims="obs", observed=np.zeros(4))
        with pytest.raises(ValueError, match="'y3'.*incompatible"):
            pm.Normal("y3", 0, 1, size=3, observed=np.zeros(4))
        with pytest.raises(ValueError, match="'y4'.*incompatible"):
            pm.Normal("y4", 0, 1, dims="obs", observed=np.zeros((3, 2)))
        with pytest.raises(ValueError, match="'y5'.*contradicts"):
            pm.Normal("y5", 0, 1, dims="obs", shape=4)


def test_bad_unknown_dim():
    with pm.Model(coords={"city": range(2), "year": range(3)}):
        with pytest.raises(ValueError, match=r"'x'.*'planet'.*\['city', 'year'\]"):
            pm.Normal("x", 0, 1, dims=("city", "planet"))
        with pytest.raises(ValueError, match=r"'d'.*'planet'.*\['city', 'year'\]"):
            pm.Deterministic("d", pm.math.zeros(2), dims="planet")


def test_bad_deterministic_dims_length():
    with pm.Model(coords={"city": range(2)}):
        with pytest.raises(ValueError, match="'d'.*'city'"):
            pm.Deterministic("d", pm.math.zeros(5), dims="city")
        with pytest.raises(ValueError, match="'d2'"):
            pm.Deterministic("d2", pm.math.zeros((2, 2)), dims="city")


@pytest.mark.parametrize(
    "kwargs, param",
    [({"mu": 0, "sigma": -1}, "sigma"), ({"mu": 0, "sigma": 0.0}, "sigma"), ({"mu": 0, "sigma": [1.0, -2.0]}, "sigma")],
)
def test_bad_constant_parameters(kwargs, param):
    with pm.Model():
        with pytest.raises(ValueError, match=f"'x'.*{param}"):
            pm.Normal("x", **kwargs)
        with pytest.raises(ValueError, match="'g'.*alpha"):
            pm.Gamma("g", -1.0, 1.0)
        with pytest.raises(ValueError, match="'h'.*sigma"):
            pm.HalfNormal("h", -2.0)


def test_symbolic_invalid_parameter_gives_minus_inf():
    with pm.Model() as m:
        a = pm.Normal("a", 0, 1)
        pm.Normal("b", 0, a)  # sigma can be negative at run time
    assert m.compile_logp(jacobian=False)({"a": np.array(-1.0), "b": np.array(0.0)}) == -np.inf


@pytest.mark.parametrize(
    "total_size, exc, text",
    [
        (0, ValueError, "positive"),
        (-3, ValueError, "positive"),
        ((10, -1), ValueError, "positive"),
        ((10, 5, 2), ValueError, "only 2"),
        ((10, Ellipsis, 5, 2), ValueError, "only 2"),
        ((Ellipsis, 5, Ellipsis), ValueError, "Ellipsis"),
        (2.5, TypeError, "total_size"),
        ((1.5,), ValueError, "positive"),
    ],
)
def test_bad_total_size(total_size, exc, text):
    with pm.Model():
        with pytest.raises(exc, match=f"'y'.*{text}"):
            pm.Normal("y", 0, 1, observed=np.zeros((4, 3)), total_size=total_size)


@pytest.mark.parametrize("bad", ["abc", None, {"a": 1}, object()])
def test_bad_potential_deterministic_non_tensor(bad):
    with pm.Model():
        with pytest.raises(TypeError, match="Potential\\('p'\\)"):
            pm.Potential("p", bad)
        with pytest.raises(TypeError, match="Deterministic\\('d'\\)"):
            pm.Deterministic("d", bad)


def test_bad_data():
    with pm.Model():
        with pytest.raises(TypeError, match="'dd'"):
            pm.Data("dd", np.array([object(), 1]))
        with pytest.raises(ValueError, match="'de'"):
            pm.Data("de", np.zeros(3), dims=("a", "b"))


def test_public_api_exports():
    for name in ["Model", "Deterministic", "Potential", "Data", "set_data", "draw", "sample_prior_predictive"]:
        assert hasattr(symvi, name), name


def test_logp_graph_is_built_once_per_model_state():
    """A fit asks for the model's log density several times: one graph per model state, and
    any change to the model (a new variable, a potential) gives a new one."""
    import pytensor

    with pm.Model() as m:
        x = pm.Normal("x", 0.0, 1.0)
        first = m.logp()
        assert m.logp() is first and m.logp(jacobian=False) is not first
        terms = m.logp(sum=False)
        assert m.logp(sum=False) == terms and m.logp(sum=False) is not terms  # a new list each time
        pm.Normal("y", x, 1.0, observed=np.array([0.5]))
        second = m.logp()
        pm.Potential("pen", -(x**2))
        third = m.logp()
    assert second is not first and third is not second
    f = pytensor.function([m.rvs_to_values[x]], [first, second, third], mode="FAST_COMPILE")
    prior, lik = stats.norm.logpdf(1.0), stats.norm.logpdf(0.5, 1.0, 1.0)
    np.testing.assert_allclose(f(1.0), [prior, prior + lik, prior + lik - 1.0])
