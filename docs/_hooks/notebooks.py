"""mkdocs hook: render the notebooks in ``<repo>/notebooks`` (outside ``docs_dir``), executed.

mkdocs only reads ``docs_dir``, so this hook adds every ``notebooks/*.ipynb`` to the build and
appends an "Examples" section to the nav listing whichever of them exist: the known notebooks
first, in reading order, then any others alphabetically.  A missing notebook is left out.

The notebooks are stored without outputs (``tests/nbrun.py`` insists on it, and the repository
stays small), so the site would show code and no figures.  This hook therefore executes each
notebook at build time, in its fast mode (``SYMVI_NOTEBOOK_FAST=1``, the settings the tests
use), with figures as PNG of modest resolution, and hands mkdocs-jupyter (``execute: false``)
the executed copy.  Executed copies are cached outside the checkout, keyed by the notebook's
text and symvi's source, so a rebuild (``mkdocs serve``, a second build in the test suite)
re-executes only what changed.  The test suite's notebook runner (``tests/nbrun.py``) executes
the notebooks through :func:`execute_for_docs` and stores their copies in this cache, so a test
session that builds the site executes each notebook once.

Math: markdown cells hold ``$...$`` / ``$$...$$``, which nbconvert passes through unchanged.
In the rendered notebook pages the hook wraps them as ``pymdownx.arithmatex`` does for the
markdown pages (``<span class="arithmatex">\\(...\\)</span>``, ``<div class="arithmatex">
\\[...\\]</div>``), so ``docs/_hooks/mathml.py`` turns every page's math into MathML at
build time; the MathJax 2 loader (from a CDN) that nbconvert's template adds is dropped.

Environment:
``SYMVI_DOCS_NOTEBOOKS``: ``fast`` (default), ``full`` (the notebooks' full settings) or
``off`` (render without executing, as before: quick local builds).
``SYMVI_DOCS_CACHE``: where executed copies are kept (default: ``<tmp>/symvi-docs-notebooks``).
``SYMVI_DOCS_JOBS``: notebooks executed at once, each in its own process (default: the number
of CPUs, at most 4).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

try:
    from mkdocs.plugins import event_priority
except ImportError:  # imported without mkdocs by the tests' notebook runner (tests/nbrun.py)
    def event_priority(priority):
        return lambda func: func

log = logging.getLogger("mkdocs.hooks.notebooks")

ORDER = [
    "variational_api_quickstart",
    "bayesian_regression_meanfield_vs_fullrank",
    "autobatched_logistic_regression",
    "poisson_gamma_digits",
    "bayesian_neural_network",
]

#: changes whenever what an executed copy holds changes (invalidates the cache)
_VERSION = "1"
#: the first cell of every executed copy (removed again afterwards): inline PNG figures at 90 dpi
_SETUP = (
    "%matplotlib inline\n"
    "%config InlineBackend.figure_formats = ['png']\n"
    "%config InlineBackend.print_figure_kwargs = {'bbox_inches': 'tight', 'dpi': 90}"
)
_CELL_TIMEOUT = 900  # seconds per cell
_STATE: dict = {}  # the symvi source digest of this build


def _root(config) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def _notebooks(config) -> list[Path]:
    root = _root(config) / "notebooks"
    found = sorted(root.glob("*.ipynb")) if root.is_dir() else []
    rank = {name: i for i, name in enumerate(ORDER)}
    return sorted(found, key=lambda p: (rank.get(p.stem, len(ORDER)), p.stem))


def _mode() -> str:
    mode = os.environ.get("SYMVI_DOCS_NOTEBOOKS", "fast").strip().lower()
    if mode not in ("fast", "full", "off"):
        raise ValueError(f"SYMVI_DOCS_NOTEBOOKS must be 'fast', 'full' or 'off', got {mode!r}")
    return mode


def _source_digest(root: Path) -> str:
    """Hash of symvi's Python sources: outputs are redone when the code they show changes."""
    h = hashlib.sha256()
    for p in sorted((root / "symvi").rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def execute_for_docs(src: Path, root: Path, fast: bool = True, extra_cells=(), timeout: int = _CELL_TIMEOUT):
    """Run notebook ``src`` as the docs show it and return the executed notebook (nbformat).

    A fresh kernel (cwd: the notebook's folder) imports symvi from ``root``; the setup cell
    (inline PNG figures) runs first and ``extra_cells`` (source strings) after the notebook's
    own cells.  :func:`docs_copy` turns the result into what the site shows.  The tests'
    notebook runner (``tests/nbrun.py``) executes through this function too, appending a cell
    that prints the notebook's ``results``, and stores the docs copy where the build finds it
    (:func:`cached_copy_path`), so a test session executes each notebook once.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(src, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(_SETUP))
    nb.cells.extend(nbformat.v4.new_code_cell(text) for text in extra_cells)
    saved = {k: os.environ.get(k) for k in ("SYMVI_NOTEBOOK_FAST", "MPLBACKEND", "PYTHONPATH")}
    os.environ.pop("MPLBACKEND", None)  # a non-interactive backend would swallow the figures
    if fast:
        os.environ["SYMVI_NOTEBOOK_FAST"] = "1"
    else:
        os.environ.pop("SYMVI_NOTEBOOK_FAST", None)
    # the kernel imports symvi from this checkout, whatever is installed
    os.environ["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [saved["PYTHONPATH"]])])
    try:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", allow_errors=False,
            resources={"metadata": {"path": str(src.parent)}},
        )
        client.execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def docs_copy(nb, n_extra: int = 0):
    """The executed notebook ``nb`` of :func:`execute_for_docs` without the setup cell and the
    last ``n_extra`` cells, numbered as if they had not been there (changes ``nb``)."""
    del nb.cells[0]
    if n_extra:
        del nb.cells[-n_extra:]
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("execution_count"):
            cell.execution_count -= 1
            for out in cell.get("outputs", []):
                if out.get("execution_count"):
                    out["execution_count"] -= 1
    return nb


def write_copy(nb, dest: Path) -> None:
    """Store the docs copy ``nb`` at ``dest`` (whole or not at all) and drop older copies of it."""
    import nbformat

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    nbformat.write(nb, tmp)
    tmp.replace(dest)
    _drop_older(dest, dest.stem)


def _execute(src: Path, dest: Path, root: Path, fast: bool) -> None:
    """Run ``src`` in a fresh kernel (cwd: its folder) and write the executed copy to ``dest``."""
    write_copy(docs_copy(execute_for_docs(src, root, fast)), dest)


def cached_copy_path(src: Path, root: Path, mode: str = "fast") -> Path:
    """Where a build of the docs of checkout ``root`` looks for the executed copy of ``src``."""
    return _cached_path(src, mode, source_digest=_source_digest(root))


def _cached_path(src: Path, mode: str, source_digest: str | None = None) -> Path:
    """Where the executed copy of ``src`` lives: keyed by its text, symvi's source
    (``source_digest``, default: this build's) and the mode."""
    cache = Path(os.environ.get("SYMVI_DOCS_CACHE") or Path(tempfile.gettempdir()) / "symvi-docs-notebooks")
    digest = hashlib.sha256()
    for part in (_VERSION, mode, src.read_bytes(), _STATE["digest"] if source_digest is None else source_digest):
        digest.update(part if isinstance(part, bytes) else part.encode())
    return cache / f"{src.stem}-{digest.hexdigest()[:16]}" / "notebooks" / src.name  # mkdocs wants notebooks/<name>


def _drop_older(dest: Path, stem: str) -> None:
    """Remove cached copies of notebook ``stem`` other than ``dest``'s."""
    keep = dest.parent.parent
    for old in keep.parent.glob(f"{stem}-*"):
        if old != keep and old.is_dir():
            for f in sorted(old.rglob("*"), reverse=True):
                f.unlink() if f.is_file() else f.rmdir()
            old.rmdir()


def _jobs() -> int:
    raw = os.environ.get("SYMVI_DOCS_JOBS")
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"SYMVI_DOCS_JOBS must be a positive integer, got {raw!r}")
        return int(raw)
    return max(1, min(4, os.cpu_count() or 1))


def _execute_all(todo: list[tuple[Path, Path]], root: Path, mode: str) -> None:
    """Execute the notebooks of ``todo`` [(source, executed copy)], ``_jobs()`` at a time, each
    in a child process (a notebook spends its time compiling on one core)."""
    import subprocess
    import sys
    import time

    pending, running = list(todo), []
    while pending or running:
        while pending and len(running) < _jobs():
            src, dest = pending.pop(0)
            log.info("notebook %s: executing (%s mode)", src.name, mode)
            err = tempfile.TemporaryFile()
            cmd = [sys.executable, str(Path(__file__).resolve()), str(src), str(dest), str(root), mode]
            running.append((src, dest, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err), err, time.monotonic()))
        time.sleep(0.2)
        for job in list(running):
            src, dest, proc, err, started = job
            if proc.poll() is None:
                continue
            running.remove(job)
            err.seek(0)
            message = err.read().decode(errors="replace")[-6000:]
            err.close()
            if proc.returncode != 0 or not dest.is_file():
                for _, _, other, _, _ in running:
                    other.kill()
                raise RuntimeError(f"executing notebooks/{src.name} for the docs failed (exit {proc.returncode}):\n{message}")
            log.info("notebook %s: executed in %.0f s", src.name, time.monotonic() - started)


def on_config(config):
    pages = [f"notebooks/{p.name}" for p in _notebooks(config)]
    if pages and config["nav"] is not None:
        config["nav"].append({"Examples": pages})
    _STATE["digest"] = _source_digest(_root(config)) if _mode() != "off" else ""
    return config


@event_priority(100)  # before mkdocs-jupyter wraps the .ipynb files
def on_files(files, config):
    from mkdocs.structure.files import File

    mode = _mode()
    notebooks = _notebooks(config)
    executed = {p: (None if mode == "off" else _cached_path(p, mode)) for p in notebooks}
    todo = [(p, dest) for p, dest in executed.items() if dest is not None and not dest.is_file()]
    for p, dest in executed.items():
        if dest is not None and dest.is_file():
            log.info("notebook %s: executed copy from the cache (%s)", p.name, dest.parent.parent)
    if todo:
        _execute_all(todo, _root(config), mode)
    for p in notebooks:
        dest = executed[p]
        files.append(
            File(
                f"notebooks/{p.name}",
                src_dir=str(p.parent.parent if dest is None else dest.parent.parent),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    return files


# ---------------------------------------------------------------------- math in notebook pages
_MATHJAX2 = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)
_MARKDOWN_CELL = '<div class="jp-RenderedHTMLCommon jp-RenderedMarkdown jp-MarkdownOutput" data-mime-type="text/markdown">'
_TAG = re.compile(r"(<[^>]*>)")
# $$...$$ (display) first, then $...$ (inline: no space just inside the dollars, as TeX's
# convention in Jupyter, so "costs $5 and $6" is left alone); \$ is a literal dollar
_DISPLAY = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.S)
_INLINE = re.compile(r"(?<![\\$])\$(?!\s)((?:[^$\\]|\\.)+?)(?<!\s)(?<!\\)\$(?!\$)", re.S)


def _wrap_math(text: str) -> str:
    """Math in one text run of a markdown cell, wrapped as pymdownx.arithmatex (generic) does."""
    text = _DISPLAY.sub(lambda m: f'<div class="arithmatex">\\[{m.group(1)}\\]</div>', text)
    return _INLINE.sub(lambda m: f'<span class="arithmatex">\\({m.group(1)}\\)</span>', text)


def _cell_end(page: str, start: int) -> int:
    """Index just past the ``</div>`` closing the div whose content starts at ``start``."""
    depth = 1
    for m in re.compile(r"<div\b|</div>").finditer(page, start):
        depth += 1 if m.group(0) == "<div" else -1
        if depth == 0:
            return m.start()
    return len(page)


def _wrap_cell(body: str) -> str:
    """Wrap the math in a rendered markdown cell, leaving code, pre and existing arithmatex alone."""
    parts = _TAG.split(body)
    out, text, skip = [], [], 0

    def flush():
        if text:
            run = "".join(text)
            out.append(run if skip else _wrap_math(run))
            text.clear()

    for part in parts:
        if not part.startswith("<"):
            text.append(part)
            continue
        name = re.match(r"</?\s*([a-zA-Z0-9]+)", part)
        name = name.group(1).lower() if name else ""
        if name in ("code", "pre", "script", "style"):
            flush()
            skip += -1 if part.startswith("</") else 1
            out.append(part)
        elif name in ("em", "strong", "i", "b", "sub", "sup", "span") and not skip:
            # markdown may have read "_" or "*" inside math as emphasis: keep the run whole
            text.append(part)
        else:
            flush()
            out.append(part)
    flush()
    return "".join(out)


def notebook_math(page_html: str) -> str:
    """The rendered notebook page with its markdown cells' math wrapped as arithmatex does."""
    page_html = _MATHJAX2.sub("", page_html)
    out, pos = [], 0
    while True:
        i = page_html.find(_MARKDOWN_CELL, pos)
        if i < 0:
            break
        start = i + len(_MARKDOWN_CELL)
        end = _cell_end(page_html, start)
        out += [page_html[pos:start], _wrap_cell(page_html[start:end])]
        pos = end
    out.append(page_html[pos:])
    return "".join(out)


def on_page_content(html_text, page, config, files):
    if page.file.src_uri.startswith("notebooks/") and page.file.src_uri.endswith(".ipynb"):
        return notebook_math(html_text)
    return html_text


if __name__ == "__main__":  # the child process of _execute_all: SRC DEST ROOT MODE
    import sys

    _execute(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), fast=(sys.argv[4] == "fast"))
