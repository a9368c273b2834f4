"""model_to_graphviz / model.to_graphviz: nodes, shapes, plates and edges in the DOT source
(there is no 'dot' program here, so nothing is rendered)."""

import sys

import numpy as np
import pytest

import symvi as pm
from symvi.graph import model_graph_parts


def regression():
    with pm.Model(coords={"obs": range(5), "k": ["a", "b"]}) as m:
        x = pm.Data("x", np.arange(5.0), dims="obs")
        y_obs = pm.Data("y_obs", np.zeros(5), dims="obs")
        a = pm.Normal("a", 0, 1)
        b = pm.Normal("b", 0, 1, dims="k")
        s = pm.HalfNormal("s", 1)
        mu = pm.Deterministic("mu", a + b[0] * x, dims="obs")
        pm.Potential("pen", -(a**2))
        pm.Normal("y", mu, s, observed=y_obs, dims="obs")
        z = pm.Normal("z", 0, 1, shape=3)
        pm.Normal("w", z, 1, shape=(2, 3))
    return m


def test_nodes_kinds_plates_and_edges():
    parts = model_graph_parts(regression())
    nodes = {n: (k, label, plate) for n, k, label, plate in parts["nodes"]}
    assert nodes == {
        "x": ("data", "x\n~\nData", "obs (5)"),
        "y_obs": ("data", "y_obs\n~\nData", "obs (5)"),
        "a": ("free", "a\n~\nNormal", ""),
        "b": ("free", "b\n~\nNormal", "k (2)"),
        "s": ("free", "s\n~\nHalfNormal", ""),
        "mu": ("deterministic", "mu\n~\nDeterministic", "obs (5)"),
        "pen": ("potential", "pen\n~\nPotential", ""),
        "y": ("observed", "y\n~\nNormal", "obs (5)"),
        "z": ("free", "z\n~\nNormal", "3"),
        "w": ("free", "w\n~\nNormal", "2 x 3"),
    }
    assert sorted(parts["edges"]) == sorted([
        ("a", "mu"), ("b", "mu"), ("x", "mu"), ("a", "pen"),
        ("mu", "y"), ("s", "y"), ("y_obs", "y"), ("z", "w"),
    ])


def test_var_names_keeps_the_ancestors_only():
    parts = model_graph_parts(regression(), var_names=["mu"])
    assert [n for n, *_ in parts["nodes"]] == ["x", "a", "b", "mu"]
    assert sorted(parts["edges"]) == [("a", "mu"), ("b", "mu"), ("x", "mu")]
    with pytest.raises(KeyError, match="'nope' is not a variable"):
        model_graph_parts(regression(), var_names=["nope"])


def test_parents_through_unnamed_distributions_and_no_dim_lengths():
    with pm.Model(coords={"c": [0, 1]}) as m:
        loc = pm.Normal("loc", 0, 5, dims="c")
        w = pm.Dirichlet("w", np.ones(2))
        comps = [pm.Normal.dist(loc[0], 1), pm.Normal.dist(loc[1], 1)]
        pm.Mixture("y", w, comps, observed=np.array([0.1, 2.0, -1.0]))
    parts = model_graph_parts(m, include_dim_lengths=False)
    assert sorted(parts["edges"]) == [("loc", "y"), ("w", "y")]
    assert {n: p for n, _, _, p in parts["nodes"]} == {"loc": "c", "w": "2", "y": "3"}


def test_dot_source_and_to_graphviz_method():
    pytest.importorskip("graphviz")
    m = regression()
    src = m.to_graphviz().source
    assert src == pm.model_to_graphviz(m).source
    assert 'y [label="y\n~\nNormal" shape=ellipse style=filled]' in src
    assert 'mu [label="mu\n~\nDeterministic" shape=box]' in src
    assert 'pen [label="pen\n~\nPotential" shape=octagon style=filled]' in src
    assert 'x [label="x\n~\nData" shape=box style="rounded, filled"]' in src
    assert 'a [label="a\n~\nNormal" shape=ellipse]' in src
    assert 'subgraph "clusterobs (5)" {' in src and 'label="obs (5)"' in src
    assert 'subgraph "cluster2 x 3" {' in src
    for edge in ("a -> mu", "x -> mu", "mu -> y", "s -> y", "z -> w"):
        assert f"\t{edge}\n" in src
    assert "y -> mu" not in src and "dpi" not in src
    # the observed variable sits inside its plate, the scalar outside every plate
    obs_plate = src[src.index('subgraph "clusterobs (5)"') :]
    obs_plate = obs_plate[: obs_plate.index("}")]
    assert "y [label" in obs_plate and "a [label" not in obs_plate


def test_prefixed_names_do_not_become_ports():
    pytest.importorskip("graphviz")
    with pm.Model(name="m") as m:
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu, 1, observed=np.zeros(2))
    src = pm.model_to_graphviz(m).source
    assert '"m/mu" -> "m/y"' in src and 'label="m::mu\n~\nNormal"' in src


def test_without_graphviz_an_import_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # import graphviz now raises ImportError
    with pytest.raises(ImportError, match=r"symvi\[graph\]"):
        pm.model_to_graphviz(regression())
    with pytest.raises(ValueError, match="formatting='latex'"):
        pm.model_to_graphviz(regression(), formatting="latex")
