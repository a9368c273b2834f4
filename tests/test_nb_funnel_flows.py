"""notebooks/funnel_flows.ipynb: MeanField, FullRank, an IAF flow and Pathfinder on Neal's funnel.

The exact posterior is the prior (no data): sd(v) = 3 and log evidence 0, so the ELBO is minus
KL(q || p).  In fast mode (4 000 steps) the numbers are loose: the Gaussians shrink v, and the
flow is already clearly wider and closer in KL than both.
"""

import numpy as np
import pytest
from nbrun import run_notebook


@pytest.fixture(scope="module")
def results():
    return run_notebook("funnel_flows")


def test_exact_draws(results):
    assert results["exact_sd_v"] == pytest.approx(3.0, rel=0.05)


def test_gaussians_shrink_v(results):
    for label in ("MeanField", "FullRank"):
        assert results["sd_v"][label] < 2.2, (label, results["sd_v"])


def test_flow_is_wider_and_closer(results):
    sd, elbo = results["sd_v"], results["elbo"]
    assert sd["flow (iaf*4)"] > max(sd["MeanField"], sd["FullRank"]) + 0.2, sd
    assert elbo["flow (iaf*4)"] > max(elbo["MeanField"], elbo["FullRank"]) + 0.1, elbo
    assert all(np.isfinite(v) and v < 0.05 for v in elbo.values()), elbo  # an ELBO is below log evidence 0
