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


def test_distributions_page_lists_every_distribution(site):
    import symvi.distributions as dists
    from symvi.distributions import bounded, discrete, mixture, multivariate, positive, unbounded

    html = _page(site, "distributions")
    for mod in (unbounded, positive, bounded, discrete, multivariate, mixture):
        for name in mod.__all__:
            assert f'id="symvi.distributions.{mod.__name__.rsplit(".", 1)[1]}.{name}"' in html, name
            assert hasattr(dists, name)
    assert "Normal" in html and "NormalMixture" in html


def test_notebooks_rendered(site):
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for nb in notebooks:
        assert (site / "notebooks" / nb.stem / "index.html").is_file(), f"{nb.name} not rendered"
    if notebooks:
        assert "Examples" in (site / "index.html").read_text(encoding="utf-8")
