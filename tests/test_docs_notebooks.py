"""The documentation shows what the notebooks draw, with typeset math.

``docs/_hooks/notebooks.py`` executes every notebook at build time (fast mode) and wraps the
math of their markdown cells as arithmatex does; ``docs/_hooks/mathml.py`` turns all of it into
MathML.  The built pages are checked statically here: every notebook page holds executed
cells, at least one PNG figure (decoded here), no error output, and no ``$...$`` math left
outside the MathML.  ``tests/test_docs_browser.py`` opens the pages in headless Chromium.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import struct
from pathlib import Path

import pytest

from docsite import ROOT, built_site

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def load_hook():
    spec = importlib.util.spec_from_file_location("notebooks_hook", ROOT / "docs" / "_hooks" / "notebooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pytest.importorskip("mkdocs")
HOOK = load_hook()
CELL = HOOK._MARKDOWN_CELL


# ---------------------------------------------------------------------- the math wrapping, alone
def page(*cells: str) -> str:
    return "<p>outside $a$</p>" + "".join(f"{CELL}\n{c}</div>" for c in cells) + "<pre>$x$</pre>"


def test_inline_and_display_math_are_wrapped():
    out = HOOK.notebook_math(page(r"<p>the mean $\mu_i$ and</p><p>$$\sum_i \log y_i$$</p>"))
    assert r'<span class="arithmatex">\(\mu_i\)</span>' in out
    assert r'<div class="arithmatex">\[\sum_i \log y_i\]</div>' in out
    assert out.startswith("<p>outside $a$</p>") and out.endswith("<pre>$x$</pre>")  # only markdown cells


def test_code_prices_and_escaped_dollars_are_left_alone():
    out = HOOK.notebook_math(page(r"<p><code>$HOME</code> costs $5 and $6.</p><p>literal \$7 and \$8</p>"))
    assert "arithmatex" not in out
    out = HOOK.notebook_math(page("<p>$a &lt; b$ and $x<em>i</em>$</p>"))
    assert r'<span class="arithmatex">\(a &lt; b\)</span>' in out
    assert r'<span class="arithmatex">\(x<em>i</em>\)</span>' in out


def test_nested_divs_end_the_cell_at_its_own_div():
    html = f"{CELL}<div><p>$a$</p></div><p>$b$</p></div><p>$c$</p>"
    out = HOOK.notebook_math(html)
    assert out.count("arithmatex") == 2 and out.endswith("<p>$c$</p>")


def test_nbconverts_mathjax2_loader_is_dropped():
    html = '<!-- Load mathjax -->\n<script src=""> </script>\n<!-- End of mathjax configuration -->' + page("<p>$a$</p>")
    out = HOOK.notebook_math(html)
    assert "Load mathjax" not in out and 'src=""' not in out


def load_mathml_hook():
    pytest.importorskip("latex2mathml")
    spec = importlib.util.spec_from_file_location("mathml_hook", ROOT / "docs" / "_hooks" / "mathml.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_math_becomes_mathml_at_build_time():
    hook = load_mathml_hook()
    wrapped = HOOK.notebook_math(page(r"<p>$a &lt; b$, $a<em>i + b</em>j$, $\mathcal N(0, 1)$</p><p>$$\sum_i \log y_i$$</p>"))
    out = hook.render_math(wrapped)
    assert "arithmatex\">\\(" not in out and out.count("<math ") == 4
    assert 'alttext="a &lt; b"' in out and "<mo>&#x0003C;</mo>" in out  # the entity is read as "<"
    assert 'alttext="a_i + b_j"' in out and "<msub><mi>b</mi><mi>j</mi></msub>" in out  # <em> was "_"
    assert "\U0001d4a9" in out  # script N as its Unicode letter (MathML Core has no mathvariant)
    assert '<div class="arithmatex"><math alttext="\\sum_i \\log y_i" xmlns="http://www.w3.org/1998/Math/MathML" display="block">' in out
    with pytest.raises(ValueError, match=r"notebooks/x.ipynb: latex2mathml cannot read the formula '\\\\left\( x'"):
        hook.render_math('<span class="arithmatex">\\(\\left( x\\)</span>', where="notebooks/x.ipynb")


# ---------------------------------------------------------------------- the built site
@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs_jupyter")
    pytest.importorskip("material")
    pytest.importorskip("nbclient")
    if HOOK._mode() == "off":
        pytest.skip("SYMVI_DOCS_NOTEBOOKS=off: the notebooks are not executed in this build")
    return built_site(tmp_path_factory)


def markdown_cells(html: str) -> list[str]:
    out, pos = [], 0
    while (i := html.find(CELL, pos)) >= 0:
        start = i + len(CELL)
        end = HOOK._cell_end(html, start)
        out.append(html[start:end])
        pos = end
    return out


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_page_shows_executed_cells_and_figures(site, nb):
    html = (site / "notebooks" / nb.stem / "index.html").read_text(encoding="utf-8")
    source = json.loads(nb.read_text())
    n_code = sum(c["cell_type"] == "code" for c in source["cells"])
    prompts = re.findall(r"In\xa0\[(\d*)\]:|In&nbsp;\[(\d*)\]:", html)
    counts = [a or b for a, b in prompts]
    assert len(counts) == n_code and all(counts), f"unexecuted cells: {counts}"
    assert counts[0] == "1"  # the hook's setup cell is gone from the page and the numbering
    images = re.findall(r'<img[^>]+src="data:image/png;base64,([^"]+)"', html)
    assert images, f"{nb.name}: no figure on the page"
    for b64 in images:
        w, h = png_size(base64.b64decode(b64))
        assert 50 <= w <= 2000 and 50 <= h <= 2000, (w, h)  # 90 dpi: a screen-sized picture
    assert 'data-mime-type="application/vnd.jupyter.error"' not in html  # no cell failed
    assert "Rewrite failure" not in html and "TRACEBACK" not in html  # no PyTensor rewriter error on stderr


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_math_is_mathml(site, nb):
    html = (site / "notebooks" / nb.stem / "index.html").read_text(encoding="utf-8")
    assert "mathjax" not in html.lower()  # no script to fetch: the math is MathML already
    assert "Load mathjax" not in html
    source = json.loads(nb.read_text())
    has_math = any(c["cell_type"] == "markdown" and "$" in "".join(c["source"]) for c in source["cells"])
    cells = markdown_cells(html)
    assert len(cells) == sum(c["cell_type"] == "markdown" for c in source["cells"])
    wrapped = sum(c.count('class="arithmatex"') for c in cells)
    assert (wrapped > 0) == has_math
    assert sum(c.count("<math ") for c in cells) == wrapped  # every formula converted
    for cell in cells:
        bare = re.sub(r'<(span|div) class="arithmatex">.*?</\1>', "", cell, flags=re.S)
        bare = re.sub(r"<(code|pre)\b.*?</\1>", "", bare, flags=re.S)
        assert not re.search(r"(?<!\\)\$[^$\s][^$]*\$", bare), f"raw math left in {nb.name}: {bare[:300]}"


def test_api_reference_has_the_comparison_and_graph_functions(site):
    html = (site / "api" / "symvi" / "index.html").read_text(encoding="utf-8")
    for name in ("compute_log_likelihood", "model_to_graphviz", "Model.to_graphviz"):
        assert f'id="symvi.{name}"' in html, name
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "cdn." not in home and "mathjax" not in home.lower()  # nothing fetched from the network


def test_stored_notebooks_have_no_outputs():
    # the outputs live in the built site only (tests/nbrun.py also insists on this)
    for nb in NOTEBOOKS:
        for cell in json.loads(nb.read_text())["cells"]:
            assert not cell.get("outputs"), f"{nb.name} is stored with outputs"


# ---------------------------------------------------------------------- execution and its cache
def test_cache_key_follows_the_notebook_text_and_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("SYMVI_DOCS_CACHE", str(tmp_path))
    monkeypatch.setitem(HOOK._STATE, "digest", "d1")
    nb = tmp_path / "nbs" / "demo.ipynb"
    nb.parent.mkdir()
    nb.write_text('{"cells": []}')
    first = HOOK._cached_path(nb, "fast")
    assert first.parent.parent.parent == tmp_path and first.parts[-2:] == ("notebooks", "demo.ipynb")
    assert HOOK._cached_path(nb, "fast") == first
    assert HOOK._cached_path(nb, "full") != first
    monkeypatch.setitem(HOOK._STATE, "digest", "d2")  # symvi's source changed
    assert HOOK._cached_path(nb, "fast") != first
    monkeypatch.setitem(HOOK._STATE, "digest", "d1")
    nb.write_text('{"cells": [1]}')
    assert HOOK._cached_path(nb, "fast") != first
    monkeypatch.setenv("SYMVI_DOCS_NOTEBOOKS", "sometimes")
    with pytest.raises(ValueError, match="SYMVI_DOCS_NOTEBOOKS"):
        HOOK._mode()


def test_executed_copy_has_figures_and_a_failing_notebook_stops_the_build(tmp_path, monkeypatch):
    pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.setitem(HOOK._STATE, "digest", "d")
    good = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os, matplotlib.pyplot as plt\nprint(os.environ.get('SYMVI_NOTEBOOK_FAST'))"),
        nbformat.v4.new_code_cell("plt.plot([0, 1], [1, 0]); plt.show()"),
    ])
    bad = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("raise ValueError('boom in a cell')")])
    (tmp_path / "good.ipynb").write_text(nbformat.writes(good))
    (tmp_path / "bad.ipynb").write_text(nbformat.writes(bad))
    dest = tmp_path / "out" / "good.ipynb"
    HOOK._execute_all([(tmp_path / "good.ipynb", dest)], tmp_path, "fast")
    cells = nbformat.read(dest, as_version=4).cells
    assert len(cells) == 2 and [c.execution_count for c in cells] == [1, 2]  # no setup cell
    assert cells[0].outputs[0]["text"].strip() == "1"  # fast mode
    png = base64.b64decode(cells[1].outputs[0]["data"]["image/png"])
    w, h = png_size(png)
    assert w < 800 and h < 600  # 90 dpi
    with pytest.raises(RuntimeError, match="(?s)notebooks/bad.ipynb.*boom in a cell"):
        HOOK._execute_all([(tmp_path / "bad.ipynb", tmp_path / "out" / "bad.ipynb")], tmp_path, "fast")


# ---------------------------------------------------------------------- one execution per session
def _fake_checkout(tmp_path, cells):
    """A checkout with ``notebooks/demo.ipynb`` (``cells``: code sources) and a tiny ``symvi/``."""
    nbformat = pytest.importorskip("nbformat")
    root = tmp_path / "checkout"
    (root / "notebooks").mkdir(parents=True)
    (root / "symvi").mkdir()
    (root / "symvi" / "__init__.py").write_text("VERSION = 1\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    (root / "notebooks" / "demo.ipynb").write_text(nbformat.writes(nb))
    (root / "mkdocs.yml").write_text("site_name: demo\n")
    return root


def test_the_notebook_runner_stores_the_docs_copy_and_the_build_reuses_it(tmp_path, monkeypatch, caplog):
    pytest.importorskip("nbclient")
    import logging

    import nbformat
    import nbrun

    monkeypatch.setenv("SYMVI_DOCS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SYMVI_DOCS_NOTEBOOKS", raising=False)
    root = _fake_checkout(tmp_path, [
        "import os, matplotlib.pyplot as plt\nresults = {'fast': os.environ.get('SYMVI_NOTEBOOK_FAST')}",
        "plt.plot([0, 1], [1, 0]); plt.show()",
    ])
    assert nbrun.execute_notebook("demo", timeout=120, root=root) == {"fast": "1"}
    copy = HOOK.cached_copy_path(root / "notebooks" / "demo.ipynb", root, "fast")
    cells = nbformat.read(copy, as_version=4).cells
    assert len(cells) == 2 and [c.execution_count for c in cells] == [1, 2]  # no setup, no results cell
    assert "image/png" in cells[1].outputs[0]["data"]  # the docs' inline figures, not Agg

    # the docs build of that checkout takes the copy from the cache and executes nothing
    def no_execution(todo, root, mode):
        raise AssertionError(f"executed again: {[str(src) for src, _ in todo]}")

    monkeypatch.setattr(HOOK, "_execute_all", no_execution)
    config = {"config_file_path": str(root / "mkdocs.yml"), "nav": None, "site_dir": str(tmp_path / "site"), "use_directory_urls": True}
    caplog.set_level(logging.INFO, logger="mkdocs.hooks.notebooks")
    HOOK.on_config(config)
    files = HOOK.on_files([], config)
    assert [f.src_uri for f in files] == ["notebooks/demo.ipynb"]
    assert Path(files[0].abs_src_path) == copy
    assert "notebook demo.ipynb: executed copy from the cache" in caplog.text

    # symvi's source changed: the copy no longer applies, the build would execute it
    (root / "symvi" / "__init__.py").write_text("VERSION = 2\n")
    HOOK.on_config(config)
    with pytest.raises(AssertionError, match="executed again"):
        HOOK.on_files([], config)


def test_a_failing_notebook_fails_the_runner_with_its_error_and_stores_nothing(tmp_path, monkeypatch):
    pytest.importorskip("nbclient")
    import nbrun

    monkeypatch.setenv("SYMVI_DOCS_CACHE", str(tmp_path / "cache"))
    root = _fake_checkout(tmp_path, ["results = {}", "raise ValueError('boom in a notebook')"])
    with pytest.raises(Exception, match="boom in a notebook"):
        nbrun.execute_notebook("demo", timeout=120, root=root)
    assert not list((tmp_path / "cache").rglob("*.ipynb"))


def test_the_session_build_reused_the_notebook_runners_copies(site):
    """In a session that ran the notebook tests in the background, the docs build executed none
    of those notebooks again (tests/docsite.py waits for the runner)."""
    import nbrun
    from docsite import build_log

    if HOOK._mode() != "fast":
        pytest.skip("the notebook runner stores fast-mode copies; this build is not in fast mode")
    names = sorted(nbrun._BACKGROUND.get("names", ()))
    done = [n for n in names if "results" in json.loads((nbrun._BACKGROUND["outdir"] / f"{n}.json").read_text())]
    if not done:
        pytest.skip("no notebook ran in the background in this session (run with the tests/test_nb_*.py files)")
    log = build_log()
    for name in done:
        assert f"notebook {name}.ipynb: executed copy from the cache" in log, log[-3000:]
        assert f"notebook {name}.ipynb: executing" not in log
