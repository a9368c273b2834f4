"""symvi.variational is layered: no module imports (at the top or inside a function) a module
that imports it back, directly or through others.  Checkpoints rebuild classes through a
registry the classes register into, so symvi.variational.checkpoint imports none of them."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import symvi as pm
from symvi.variational import checkpoint
from symvi.variational.pathfinder import PathfinderDraws

PKG = Path(pm.__file__).parent / "variational"


def import_graph(pkg: Path) -> dict[str, set[str]]:
    """{module: modules of the same package it imports anywhere in its source}."""
    mods = {p.stem for p in pkg.glob("*.py")} - {"__init__"}
    graph = {}
    for path in pkg.glob("*.py"):
        if path.stem == "__init__":
            continue
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[:2] == ["symvi", "variational"] and len(parts) > 2:
                    deps.add(parts[2])
                elif node.module == "symvi.variational":
                    deps |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.Import):
                for a in node.names:
                    parts = a.name.split(".")
                    if parts[:2] == ["symvi", "variational"] and len(parts) > 2:
                        deps.add(parts[2])
        graph[path.stem] = (deps & mods) - {path.stem}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(v):
        state[v] = 1
        path.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return path[path.index(w) :] + [w]
            if w not in state:
                found = visit(w)
                if found:
                    return found
        path.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state:
            found = visit(v)
            if found:
                return found
    return None


def test_find_cycle_detects_a_circle():
    # the checker itself: the old checkpoint <-> approximations circle is found
    assert find_cycle({"checkpoint": {"approximations"}, "approximations": {"checkpoint"}}) == [
        "approximations", "checkpoint", "approximations"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_variational_modules_have_no_import_cycle():
    graph = import_graph(PKG)
    assert {"checkpoint", "approximations", "inference", "svgd"} <= set(graph)
    assert find_cycle(graph) is None, f"import cycle in symvi.variational: {' -> '.join(find_cycle(graph))}"


def test_checkpoint_imports_no_approximation_or_inference_module():
    deps = import_graph(PKG)["checkpoint"]
    higher = {"approximations", "empirical", "lowrank", "inference", "svgd", "pathfinder"}
    assert not deps & higher, deps & higher


def test_every_saveable_class_is_registered():
    assert {"MeanField", "FullRank", "LowRank", "Empirical", "PathfinderDraws", "ADVI",
            "FullRankADVI", "LowRankADVI", "SVGD", "ASVGD"} <= set(checkpoint._KINDS)
    with pytest.raises(ValueError, match="already registered"):
        checkpoint.checkpointable(type("MeanField", (), {}))
    # re-registering the same class, e.g. after importlib.reload of its module, is fine
    again = type("MeanField", (), {"__module__": pm.MeanField.__module__, "__qualname__": "MeanField"})
    try:
        assert checkpoint.checkpointable(again) is again and checkpoint._KINDS["MeanField"] is again
    finally:
        checkpoint._KINDS["MeanField"] = pm.MeanField


@pytest.mark.parametrize("make", [
    lambda: pm.LowRank(rank=2, random_seed=1),
    lambda: pm.Empirical(size=7, jitter=1.0, random_seed=1),
    lambda: PathfinderDraws(
        np.arange(6.0).reshape(2, 3), np.zeros((1, 3)), np.eye(3)[None] * 2.0, random_seed=1),
], ids=["LowRank", "Empirical", "PathfinderDraws"])
def test_bare_approximations_round_trip_through_the_registry(tmp_path, make):
    with pm.Model() as m:
        pm.Normal("x", 0, 1, shape=3)
        q = make()
    path = q.save(tmp_path / "q")
    again = pm.load(path, m)
    assert type(again) is type(q)
    for k, v in q.get_params().items():
        np.testing.assert_array_equal(again.get_params()[k], v)
    with np.load(path) as f:
        meta = json.loads(str(f["__meta__"]))
    assert meta["approx"] == type(q).__name__ and meta["inference"] is None


def test_unregistered_subclass_is_not_rebuilt(tmp_path):
    class MyField(pm.MeanField):
        pass

    with pm.Model() as m:
        pm.Normal("x", 0, 1)
        q = MyField()
    path = q.save(tmp_path / "q")
    with pytest.raises(ValueError, match="MyField, which load\\(\\) cannot rebuild"):
        pm.load(path, m)
