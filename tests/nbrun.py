"""Run a notebook from ``notebooks/`` in a fresh kernel and return its ``results`` dict.

Notebooks read ``SYMVI_NOTEBOOK_FAST=1`` (set here) to use small step counts, and build a
dict named ``results`` of their key numbers; the tests assert on those numbers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_MARK = "SYMVI_RESULTS_JSON:"


def run_notebook(name: str, timeout: int = 600) -> dict:
    """Execute ``notebooks/<name>.ipynb`` with fast settings; returns its ``results``."""
    import nbformat
    from nbclient import NotebookClient

    path = NOTEBOOKS / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name} is stored with outputs; strip them"
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import json as _json, numpy as _np\n"
            f"print({_MARK!r} + _json.dumps(results, default=lambda v: _np.asarray(v).tolist()))"
        )
    )
    env_before = {k: os.environ.get(k) for k in ("SYMVI_NOTEBOOK_FAST", "MPLBACKEND")}
    os.environ["SYMVI_NOTEBOOK_FAST"] = "1"
    os.environ["MPLBACKEND"] = "Agg"
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        for k, v in env_before.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    for out in nb.cells[-1].get("outputs", []):
        text = out.get("text", "")
        if _MARK in text:
            return json.loads(text.split(_MARK, 1)[1])
    raise AssertionError(f"{path.name} printed no results")
