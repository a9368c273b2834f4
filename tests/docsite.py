"""Build the documentation site once per test session and share it between test modules.

``mkdocs build --strict`` executes the notebooks (``docs/_hooks/notebooks.py``, fast mode),
so a build is slow the first time; :func:`built_site` builds into a session temporary folder
on first use and returns the same folder afterwards.  The executed notebooks are cached
(``SYMVI_DOCS_CACHE``; here a folder of the session) so a second build would also be cheap.
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
    return out
