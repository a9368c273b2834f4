"""Shared pytest setup: seeded randomness and quiet PyTensor warnings."""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("SYMVI_NOTEBOOK_STEPS", "small")
warnings.filterwarnings("ignore", category=DeprecationWarning, module="pytensor")


@pytest.fixture
def rng():
    """A seeded numpy Generator for test data."""
    return np.random.default_rng(20261123)


@pytest.fixture(scope="module")
def one_compiled_path():
    """Pin ``SYMVI_BACKEND=numba`` for a module whose tests compare fits bit for bit: a tiered
    fit (``backend='auto'``) may move from the quick tier to Numba at a time-dependent step
    (equal to 1e-10 then: test_tiers.py).  Used as ``pytestmark = pytest.mark.usefixtures(...)``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SYMVI_BACKEND", "numba")
        yield


@pytest.hookimpl(trylast=True)  # after -k/-m deselection
def pytest_collection_modifyitems(session, config, items):
    """Start the notebook runner (tests/nbrun.py) for the collected notebook tests, so the
    notebooks execute in a second process while the other tests run."""
    names = {item.path.stem[len("test_nb_"):] for item in items if item.path.stem.startswith("test_nb_")}
    if not names or os.environ.get("SYMVI_NOTEBOOKS_INLINE"):
        return
    import sys
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
    import nbrun

    nbrun.start_background(names, tempfile.mkdtemp(prefix="symvi-notebooks-"))


def pytest_sessionfinish(session, exitstatus):
    nbrun = __import__("sys").modules.get("nbrun")
    if nbrun is not None:
        nbrun.stop_background()
