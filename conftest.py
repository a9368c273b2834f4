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
