"""pm.model_to_networkx and pm.model_to_mermaid: the graph of model_to_graphviz in networkx and
Mermaid form; the Mermaid text is PyMC 5.28.5's for the same model (its distribution names
are symvi's class names: HalfNormal where PyMC writes Halfnormal)."""

import numpy as np
import pytest

import symvi as pm


@pytest.fixture(scope="module")
def model():
    with pm.Model(coords={"obs": range(3)}) as m:
        mu = pm.Normal("mu", 0, 1)
        s = pm.HalfNormal("s", 1)
        pm.Deterministic("d", mu * 2)
        x = pm.Data("x", np.arange(3.0), dims="obs")
        pm.Normal("y", mu + x, s, observed=np.zeros(3), dims="obs")
        pm.Potential("pot", -mu**2)
    return m


# PyMC 5.28.5's model_to_mermaid for the fixture's model (plate members in symvi's order)
PYMC_MERMAID = """graph TD
%% Nodes:
d([d ~ Deterministic])
d@{ shape: rect }
mu([mu ~ Normal])
mu@{ shape: rounded }
pot([pot ~ Potential])
pot@{ shape: diam }
style pot fill:#f0f0f0
s([s ~ HalfNormal])
s@{ shape: rounded }
x[x ~ Data]
x@{ shape: db }
y([y ~ Normal])
y@{ shape: rounded }
style y fill:#757575

%% Edges:
mu --> d
mu --> pot
mu --> y
s --> y
x --> y

%% Plates:
subgraph "obs (3)"
    x
    y
end"""


def test_mermaid_text_equals_pymc(model):
    assert pm.model_to_mermaid(model) == PYMC_MERMAID
    short = pm.model_to_mermaid(model, var_names=["d"], include_dim_lengths=False)
    assert "y" not in short.split("%% Edges:")[0] and "mu --> d" in short and "subgraph" not in short


def test_networkx_nodes_edges_and_formatters(model):
    pytest.importorskip("networkx")
    g = pm.model_to_networkx(model)
    assert set(g.edges()) == {("mu", "d"), ("mu", "pot"), ("mu", "y"), ("s", "y"), ("x", "y")}
    assert g.nodes["mu"] == {"label": "mu\n~\nNormal", "style": None, "shape": "ellipse"}
    assert g.nodes["y"]["cluster"] == "clusterobs (3)" and g.nodes["y"]["style"] == "rounded"  # as PyMC
    assert g.nodes["pot"]["shape"] == "octagon"
    g2 = pm.model_to_networkx(model, node_formatters={"Free Random Variable": lambda v: {"shape": "circle", "label": v.name}})
    assert g2.nodes["s"] == {"shape": "circle", "label": "s"}
    with pytest.raises(ValueError, match="node_formatters keys \\['free'\\]"):
        pm.model_to_networkx(model, node_formatters={"free": lambda v: {}})
    with pytest.raises(ValueError, match="formatting='latex'"):
        pm.model_to_networkx(model, formatting="latex")
    with pytest.raises(KeyError, match="model_to_networkx: var_names entry 'nope'"):
        pm.model_to_networkx(model, var_names=["nope"])
