"""Build the documentation site once per test session and share it between test modules.

``mkdocs build --strict`` executes the notebooks (``docs/_hooks/notebooks.py``, fast mode),
so a build is slow the first time; :func:`built_site` builds into a session temporary folder
on first use and returns the same folder afterwards.  The executed notebooks are cached
(``SYMVI_DOCS_CACHE``: ``conftest.py`` gives the session a fresh folder unless it is set).

The notebook tests' runner (``tests/nbrun.py``) executes the notebooks the way the docs hook
does and stores each executed copy in that cache; :func:`built_site` first waits for the
runner, so in a session with both kinds of test each notebook executes once.  ``conftest.py``
also moves the tests that use the site after the others, so that waiting costs nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_BUILT: dict = {}


def built_site(tmp_path_factory, timeout: int = 1800) -> Path:
    """The site folder of ``mkdocs build --strict`` (built on the first call of the session)."""
    if "site" in _BUILT:
        return _BUILT["site"]
    import nbrun

    nbrun.wait_all()
    out = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    env.setdefault("SYMVI_DOCS_CACHE", str(tmp_path_factory.mktemp("executed-notebooks")))
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-5000:]}\n{proc.stderr[-5000:]}"
    _BUILT["site"] = out
    _BUILT["log"] = proc.stderr + proc.stdout
    return out


def build_log() -> str:
    """What the session's ``mkdocs build`` printed (its log lines), once :func:`built_site` ran."""
    return _BUILT.get("log", "")
