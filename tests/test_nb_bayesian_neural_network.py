"""notebooks/bayesian_neural_network.ipynb: minibatch ADVI on a one-hidden-layer BNN for the 8x8 digits.

Chance is 10 %; a working fit classifies the held-out digits well, and its predictive
uncertainty separates the right from the wrong predictions.
"""

import math

import pytest
from nbrun import run_notebook


@pytest.fixture(scope="module")
def results():
    return run_notebook("bayesian_neural_network")


def test_training_reduced_the_loss(results):
    assert results["loss_last_100"] < 0.4 * results["loss_first_100"]


def test_test_accuracy_well_above_chance(results):
    assert results["test_accuracy"] > 0.85
    assert results["point_estimate_accuracy"] > 0.8
    assert results["n_wrong"] >= 5  # enough wrong predictions for the entropy comparison to mean something
    assert results["mean_log_predictive_density"] > -0.7  # a uniform guess gives log(0.1) = -2.3


def test_wrong_predictions_are_less_certain(results):
    correct, wrong = results["mean_entropy_correct"], results["mean_entropy_wrong"]
    assert 0 < correct < wrong < math.log(10)
    assert wrong > 1.5 * correct
    assert results["accuracy_most_confident_half"] > 0.97
    assert results["accuracy_most_confident_half"] > results["accuracy_least_confident_half"] + 0.03
