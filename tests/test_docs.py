"""The documentation site builds with ``mkdocs build --strict`` (warnings fail) and has its key pages.

Docstrings are rendered by mkdocstrings, so a docstring that griffe cannot parse fails here;
notebooks in ``notebooks/`` are executed (fast mode) and rendered by mkdocs-jupyter through the hook in
``docs/_hooks/notebooks.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocstrings_handlers.python")
pytest.importorskip("mkdocs_jupyter")
pytest.importorskip("material")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    from docsite import built_site  # one build per session, shared with test_docs_notebooks.py

    return built_site(tmp_path_factory)


def _page(site: Path, name: str) -> str:
    path = site / name / "index.html"
    assert path.is_file(), f"{name} was not built"
    return path.read_text(encoding="utf-8")


def test_guides_built(site):
    for name in ["getting-started", "model", "vi-guide", "cli", "errors"]:
        _page(site, name)
    assert (site / "index.html").is_file()
    assert "Error catalogue" in _page(site, "errors")
    assert "k-hat" in _page(site, "vi-guide")


def test_api_reference(site):
    top = _page(site, "api/symvi")
    assert 'id="symvi.fit"' in top and 'id="symvi.Model"' in top
    variational = _page(site, "api/variational")
    for name in ["fit", "ADVI", "FullRankADVI", "SVGD", "Approximation"]:
        assert f'id="symvi.variational.{name}"' in variational
    assert 'id="symvi.variational.optimizers.adam"' in _page(site, "api/optimizers")
    assert 'id="symvi.variational.callbacks.CheckParametersConvergence"' in _page(site, "api/callbacks")
    assert 'id="symvi.model.set_data"' in _page(site, "api/model")
    assert 'id="symvi.sampling.sample_posterior_predictive"' in _page(site, "api/sampling")


def _distributions_hook():
    import importlib.util

    spec = importlib.util.spec_from_file_location("distributions_hook", ROOT / "docs" / "_hooks" / "distributions.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def test_distributions_page_lists_every_distribution(site):
    """Every distribution class of every module of symvi.distributions (found by walking the
    package, not from the hook's own list) has a table row and an entry on the page."""
    import importlib
    import pkgutil

    import symvi.distributions as dists
    from symvi.distributions.base import Distribution

    html = _page(site, "distributions")
    found = 0
    for info in pkgutil.iter_modules(dists.__path__):
        mod = importlib.import_module(f"symvi.distributions.{info.name}")
        for name in getattr(mod, "__all__", ()):
            cls = getattr(mod, name)
            if not (isinstance(cls, type) and issubclass(cls, Distribution)) or cls.__name__ != name:
                continue
            if cls.__module__ == "symvi.distributions.base":  # the protocol's abstract classes
                continue
            assert getattr(dists, name) is cls, f"{name} is not exported by symvi.distributions"
            assert f'id="{mod.__name__}.{name}"' in html, name  # the mkdocstrings entry
            assert f'href="#{mod.__name__}.{name}"' in html, name  # its table row
            # ZeroInflatedPoisson is being moved out of discrete.py (issue 17); in its new module
            # it is checked like every other class
            if not (mod.__name__ == "symvi.distributions.discrete" and name == "ZeroInflatedPoisson"):
                assert cls.support, f"{name} has no support text"
            found += 1
    assert found >= 30
    assert "Normal" in html and "NormalMixture" in html and "Interval(lower, upper)" in html
    for fn in ("logp", "logcdf", "icdf"):
        assert f'id="symvi.distributions.functions.{fn}"' in html, fn


def test_distributions_table_columns():
    """The generated table: support text, derived transform and logcdf/icdf columns."""
    import symvi as pm

    text = _distributions_hook().render()
    row = next(line for line in text.splitlines() if line.startswith("| [Pareto]"))
    assert "`[m, inf)`" in row and "LowerBound(m)" in row and row.endswith("| yes | yes |")
    row = next(line for line in text.splitlines() if line.startswith("| [Wald]"))
    assert row.endswith("| yes | - |")
    for name in ("SkewNormal", "Rice"):  # logcdf through symvi/distributions/special_ops.py
        row = next(line for line in text.splitlines() if line.startswith(f"| [{name}]"))
        assert row.endswith("| yes | - |"), row
    row = next(line for line in text.splitlines() if line.startswith("| [Poisson]"))
    assert "none (discrete)" in row
    assert "::: symvi.distributions.positive.Gamma" in text and "`Lognormal` = `LogNormal`" in text
    assert pm.Lognormal is pm.LogNormal


def test_notebooks_rendered(site):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for nb in notebooks:
        assert (site / "notebooks" / nb.stem / "index.html").is_file(), f"{nb.name} not rendered"
    if notebooks:
        assert "Examples" in (site / "index.html").read_text(encoding="utf-8")
