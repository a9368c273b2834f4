"""Run a notebook from ``notebooks/`` in a fresh kernel and return its ``results`` dict.

Notebooks read ``SYMVI_NOTEBOOK_FAST=1`` (set here) to use small step counts, and build a
dict named ``results`` of their key numbers; the tests assert on those numbers.

Notebooks spend most of their time compiling, single-threaded.  So that the suite uses both
cores of a CI machine, ``conftest.py`` starts :func:`start_background` when the session
collects notebook tests: one child process (``python tests/nbrun.py OUTDIR NAME...``) runs
those notebooks one after another while pytest runs the other tests, and
:func:`run_notebook` waits for the child's result file instead of executing again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
_MARK = "SYMVI_RESULTS_JSON:"


_BACKGROUND: dict = {}  # {"proc": Popen, "outdir": Path, "names": set}


def start_background(names, outdir) -> None:
    """Run notebooks ``names`` in a child process writing ``outdir/<name>.json``."""
    import subprocess
    import sys

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    names = sorted(set(names))
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), str(outdir), *names],
        stdout=subprocess.DEVNULL,
        stderr=open(outdir / "stderr.txt", "w"),  # noqa: SIM115 - the child owns it
    )
    _BACKGROUND.update(proc=proc, outdir=outdir, names=set(names))


def stop_background() -> None:
    proc = _BACKGROUND.get("proc")
    if proc is not None and proc.poll() is None:
        proc.kill()


def _wait_background(name: str, timeout: int) -> dict:
    import time

    path = _BACKGROUND["outdir"] / f"{name}.json"
    proc = _BACKGROUND["proc"]
    deadline = time.monotonic() + timeout * len(_BACKGROUND["names"])
    while not path.exists():
        if proc.poll() is not None and not path.exists():
            err = (_BACKGROUND["outdir"] / "stderr.txt").read_text()[-3000:]
            raise AssertionError(f"the notebook runner stopped (exit {proc.returncode}) before {name}: {err}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{name}: no result from the notebook runner in time")
        time.sleep(0.5)
    out = json.loads(path.read_text())
    if "error" in out:
        raise AssertionError(f"{name}.ipynb failed:\n{out['error']}")
    return out["results"]


def run_notebook(name: str, timeout: int = 600) -> dict:
    """``results`` of ``notebooks/<name>.ipynb`` run with fast settings (from the background
    runner when one was started for it, else executed here)."""
    if name in _BACKGROUND.get("names", ()):
        return _wait_background(name, timeout)
    return execute_notebook(name, timeout)


def execute_notebook(name: str, timeout: int = 600) -> dict:
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


def _main(argv) -> None:
    import traceback

    outdir, names = Path(argv[0]), argv[1:]
    for name in names:
        try:
            out = {"results": execute_notebook(name)}
        except BaseException:  # noqa: BLE001 - reported to the test that waits for it
            out = {"error": traceback.format_exc()[-5000:]}
        tmp = outdir / f"{name}.json.tmp"
        tmp.write_text(json.dumps(out))
        tmp.replace(outdir / f"{name}.json")


if __name__ == "__main__":
    import sys

    _main(sys.argv[1:])
