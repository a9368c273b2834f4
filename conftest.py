"""Shared pytest setup: seeded randomness and quiet PyTensor warnings."""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("SYMVI_NOTEBOOK_STEPS", "small")
# fits in tests run one compiled path (Numba) unless a test asks for the JAX tier
# (tests/test_jax_tier.py): the tier's switch to Numba lands at a time-dependent step
os.environ.setdefault("SYMVI_JAX_TIER", "0")
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


def pytest_configure(config):
    """One docs cache per session (unless ``SYMVI_DOCS_CACHE`` is set): the notebook runner
    writes the executed notebooks there and the docs build (tests/docsite.py) reads them."""
    if not os.environ.get("SYMVI_DOCS_CACHE"):
        import tempfile

        os.environ["SYMVI_DOCS_CACHE"] = _SESSION_CACHE["path"] = tempfile.mkdtemp(prefix="symvi-docs-cache-")


_SESSION_CACHE: dict = {}


@pytest.hookimpl(trylast=True)  # after -k/-m deselection
def pytest_collection_modifyitems(session, config, items):
    """Start the notebook runner (tests/nbrun.py) for the collected notebook tests, so the
    notebooks execute in a second process while the other tests run; and run the tests that
    use the built docs site (fixture ``site``) last: the build waits for that runner, whose
    executed notebooks it reuses (tests/docsite.py)."""
    names = {item.path.stem[len("test_nb_"):] for item in items if item.path.stem.startswith("test_nb_")}
    if not names:
        return
    items[:] = [i for i in items if "site" not in getattr(i, "fixturenames", ())] + [
        i for i in items if "site" in getattr(i, "fixturenames", ())
    ]
    if os.environ.get("SYMVI_NOTEBOOKS_INLINE"):
        return  # the notebook tests execute them in this process, before the site is built
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
    if "path" in _SESSION_CACHE:
        import shutil

        shutil.rmtree(_SESSION_CACHE.pop("path"), ignore_errors=True)
