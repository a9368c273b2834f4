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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
_MARK = "SYMVI_RESULTS_JSON:"


_BACKGROUND: dict = {}  # {"proc": Popen, "outdir": Path, "names": set}
_HOOK: dict = {}


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


def wait_all(timeout: int = 600) -> None:
    """Wait until the background runner (if one was started) has finished every notebook, done
    or failed: the docs build then finds their executed copies in its cache instead of
    executing them again (a failed notebook fails its own test, and the build re-executes it)."""
    import time

    proc = _BACKGROUND.get("proc")
    if proc is None:
        return
    deadline = time.monotonic() + timeout * len(_BACKGROUND["names"])
    outdir = _BACKGROUND["outdir"]
    while not all((outdir / f"{n}.json").exists() for n in _BACKGROUND["names"]):
        if proc.poll() is not None or time.monotonic() > deadline:
            return  # stopped early or too slow: the build executes what is missing itself
        time.sleep(0.5)


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


def _docs_hook():
    """``docs/_hooks/notebooks.py`` as a module: the one way notebooks execute for the docs."""
    import importlib.util

    if "hook" not in _HOOK:
        spec = importlib.util.spec_from_file_location("symvi_docs_notebooks_hook", ROOT / "docs" / "_hooks" / "notebooks.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        _HOOK["hook"] = mod
    return _HOOK["hook"]


def execute_notebook(name: str, timeout: int = 600, root: Path = ROOT) -> dict:
    """Execute ``notebooks/<name>.ipynb`` with fast settings; returns its ``results``.

    It runs as the docs build runs it (``execute_for_docs`` of the docs hook: inline PNG
    figures, ``SYMVI_NOTEBOOK_FAST=1``) plus a last cell printing ``results``; the executed
    copy, without that cell, goes where the docs build looks for it (``SYMVI_DOCS_CACHE``), so
    a session that also builds the site does not execute the notebook again.
    """
    import nbformat

    path = root / "notebooks" / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name} is stored with outputs; strip them"
    hook = _docs_hook()
    printer = (
        "import json as _json, numpy as _np\n"
        f"print({_MARK!r} + _json.dumps(results, default=lambda v: _np.asarray(v).tolist()))"
    )
    executed = hook.execute_for_docs(path, root, fast=True, extra_cells=[printer], timeout=timeout)
    for out in executed.cells[-1].get("outputs", []):
        text = out.get("text", "")
        if _MARK in text:
            results = json.loads(text.split(_MARK, 1)[1])
            break
    else:
        raise AssertionError(f"{path.name} printed no results")
    hook.write_copy(hook.docs_copy(executed, n_extra=1), hook.cached_copy_path(path, root, "fast"))
    return results


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
