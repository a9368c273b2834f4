"""The core modules form layers: each imports only layers below it (no import circle).

``context`` < ``distributions.base`` < ``distributions.dist_math`` < the distribution
families (every other module of ``symvi.distributions``, found automatically) <
``logprob`` < ``model``.  Imports inside functions count too: a deferred import of a
higher layer is the same circle, only hidden until run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import symvi

ROOT = Path(symvi.__file__).resolve().parent

# the package and everything not named here (sampling, variational, ...) sits above model
TOP = 100
BASE_RANKS = {
    "symvi.pytensorf": 0,
    "symvi.context": 0,
    "symvi.transforms": 0,
    "symvi.distributions.base": 1,
    "symvi.distributions.dist_math": 2,
    "symvi.minibatch": 4,  # data containers: used by model, below it (ranked, not checked here)
    "symvi.logprob": 5,
    "symvi.graph": 5,  # model.to_graphviz() draws with it: reads models through symvi.context
    "symvi.model_api": 5,  # PyMC's Model methods over logprob, mixed into Model
    "symvi.model_transform": 5,  # Model.copy, pm.do, pm.observe: clones a model's graph
    "symvi.model": 6,
}
FAMILY_RANK = 3
UNCHECKED: set[str] = set()  # every ranked module is checked (minibatch reads the model through symvi.context)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _ranks() -> dict[str, int]:
    ranks = dict(BASE_RANKS)
    for path in sorted((ROOT / "distributions").glob("*.py")):
        ranks.setdefault(_module_name(path), FAMILY_RANK)
    return ranks


def _rank_of(name: str, ranks: dict[str, int]) -> int:
    """Rank of an imported module: the longest known prefix, else above everything."""
    if not name.startswith("symvi"):
        return -1  # third-party: always allowed
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        prefix = ".".join(parts[:k])
        if prefix in ranks:
            return ranks[prefix]
    return TOP


def _imported_modules(source: str, module: str) -> list[str]:
    """Every symvi module ``source`` imports, at module level or inside functions."""
    package = module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                # `from symvi import logprob` imports the module symvi.logprob
                sub = f"{base}.{alias.name}"
                is_module = (ROOT.parent / Path(*sub.split("."))).with_suffix(".py").exists() or (
                    ROOT.parent / Path(*sub.split(".")) / "__init__.py"
                ).exists()
                out.append(sub if is_module else base)
    return out


def _violations(source: str, module: str, ranks: dict[str, int]) -> list[str]:
    own = ranks[module]
    bad = []
    for target in _imported_modules(source, module):
        if target == module or target.startswith(module + "."):
            continue
        if _rank_of(target, ranks) > own:
            bad.append(f"{module} (layer {own}) imports {target} (layer {_rank_of(target, ranks)})")
    return bad


def _layered_modules():
    ranks = _ranks()
    for name in sorted(set(ranks) - UNCHECKED):
        path = ROOT.parent / Path(*name.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        if path.exists():
            yield name, path


@pytest.mark.parametrize("module,path", list(_layered_modules()), ids=lambda v: str(v).rsplit("/", 1)[-1])
def test_module_imports_only_lower_layers(module, path):
    assert _violations(path.read_text(), module, _ranks()) == []


def test_every_family_module_is_checked():
    names = {m for m, _ in _layered_modules()}
    for family in ("unbounded", "positive", "bounded", "discrete", "multivariate", "mixture"):
        assert f"symvi.distributions.{family}" in names


def test_checker_catches_a_deferred_upward_import():
    # the circle this test guards against: base.py importing the model inside a method
    source = "def f():\n    from symvi.model import modelcontext\n    return modelcontext\n"
    found = _violations(source, "symvi.distributions.base", _ranks())
    assert found == ["symvi.distributions.base (layer 1) imports symvi.model (layer 6)"]
    assert _violations("from symvi import logprob\n", "symvi.distributions.unbounded", _ranks())
    assert _violations("import symvi\n", "symvi.logprob", _ranks())
    assert not _violations("from symvi.distributions.base import dist_info\n", "symvi.logprob", _ranks())
