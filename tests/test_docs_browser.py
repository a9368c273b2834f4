"""The built site in a real browser: headless Chromium opens every notebook page.

Each page must show at least one figure that the browser decoded (``naturalWidth > 0``), its
math laid out as MathML with a non-zero size, and no ``$...$`` or ``\\(...\\)`` left as text.
The checks run inside the page (a copy of it with a small script added, read back with
``--dump-dom``), so no driver package is needed; a screenshot of the first notebook page is
taken too (all pages into ``$SYMVI_BROWSER_SHOTS`` when that folder is set).

Skipped, with the reason, when no Chromium is installed (``.ci/run`` installs Debian's when it
runs as root with apt-get); ``$SYMVI_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from docsite import ROOT, built_site

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

# runs in the page once everything (the base64 figures included) has loaded
CHECK_JS = r"""
<script>
window.addEventListener("load", () => {
  const article = document.querySelector("article") || document.body;
  const imgs = [...article.querySelectorAll("img")];
  const maths = [...article.querySelectorAll("math")];
  const box = (el) => el.getBoundingClientRect();
  // the text a reader sees: outside code and math, and shown (mkdocs-jupyter keeps a hidden
  // copy of each cell's source for its copy button)
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  let text = "";
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent.closest("code, pre, script, style, math, .highlight")) continue;
    if (parent.getClientRects().length === 0) continue;
    text += walker.currentNode.textContent;
  }
  const raw = (text.match(/(?<!\\)\$[^$\s][^$]*?\$|\\\(|\\\[/g) || []).slice(0, 5);
  const result = {
    mathml: typeof MathMLElement !== "undefined",
    images: imgs.length,
    decoded: imgs.filter((i) => i.complete && i.naturalWidth > 0 && i.naturalHeight > 0).length,
    math: maths.length,
    sized: maths.filter((m) => box(m).width > 0 && box(m).height > 0).length,
    // a laid-out fraction or subscript is taller than its line's text would be alone
    tall: maths.filter((m) => m.querySelector("mfrac, msub, msup, msubsup, munderover") && box(m).height > 10).length,
    scripted: maths.filter((m) => m.querySelector("mfrac, msub, msup, msubsup, munderover")).length,
    raw: raw,
  };
  document.body.setAttribute("data-browser-check", JSON.stringify(result));
});
</script>
"""


def chromium() -> str | None:
    named = os.environ.get("SYMVI_CHROMIUM")
    if named:
        return shutil.which(named) or (named if Path(named).exists() else None)
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


def run_chromium(binary: str, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            binary,
            "--headless",
            "--no-sandbox",  # root in a container has no user namespace sandbox
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def browser() -> str:
    binary = chromium()
    if binary is None:
        pytest.skip(f"no Chromium installed (looked for {', '.join(CANDIDATES)} and $SYMVI_CHROMIUM)")
    return binary


@pytest.fixture(scope="module")
def site(tmp_path_factory, browser) -> Path:
    pytest.importorskip("mkdocs_jupyter")
    pytest.importorskip("material")
    pytest.importorskip("nbclient")
    pytest.importorskip("latex2mathml")
    if os.environ.get("SYMVI_DOCS_NOTEBOOKS", "").lower() == "off":
        pytest.skip("SYMVI_DOCS_NOTEBOOKS=off: the notebooks are not executed in this build")
    return built_site(tmp_path_factory)


def check_page(browser: str, page: Path) -> dict:
    """The in-page checks' result for ``page`` (a copy with CHECK_JS beside the original)."""
    text = page.read_text(encoding="utf-8")
    assert "</body>" in text
    probe = page.with_name("_browser_check.html")
    probe.write_text(text.replace("</body>", CHECK_JS + "</body>", 1), encoding="utf-8")
    try:
        proc = run_chromium(browser, "--dump-dom", "--virtual-time-budget=10000", probe.as_uri())
    finally:
        probe.unlink()
    m = re.search(r'data-browser-check="([^"]*)"', proc.stdout)
    assert m, f"the page's check did not run (rc {proc.returncode}):\n{proc.stderr[-2000:]}"
    return json.loads(html.unescape(m.group(1)))


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_page_in_chromium(browser, site, nb):
    got = check_page(browser, site / "notebooks" / nb.stem / "index.html")
    assert got["mathml"], "this Chromium has no MathML support"
    assert got["decoded"] >= 1 and got["decoded"] == got["images"], got
    has_math = any(c["cell_type"] == "markdown" and "$" in "".join(c["source"]) for c in json.loads(nb.read_text())["cells"])
    assert (got["math"] > 0) == has_math, got
    assert got["sized"] == got["math"], got
    assert got["tall"] == got["scripted"], got
    assert not got["raw"], f"math left as text: {got['raw']}"


def test_screenshot(browser, site, tmp_path):
    """A picture of the first notebook page (every page into $SYMVI_BROWSER_SHOTS if set)."""
    out_dir = Path(os.environ.get("SYMVI_BROWSER_SHOTS") or tmp_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    for nb in NOTEBOOKS if os.environ.get("SYMVI_BROWSER_SHOTS") else NOTEBOOKS[:1]:
        shot = out_dir / f"{nb.stem}.png"
        page = (site / "notebooks" / nb.stem / "index.html").as_uri()
        proc = run_chromium(browser, f"--screenshot={shot}", "--window-size=1200,2400", "--virtual-time-budget=10000", page)
        assert shot.exists(), proc.stderr[-2000:]
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, len(data)  # not a blank page
