"""Data for the VI benchmark workloads, identical for every framework (numpy only)."""

import numpy as np


def logreg_data():
    rng = np.random.default_rng(10009)
    X = rng.normal(size=(100, 10))
    beta = rng.normal(size=10)
    y = (rng.random(100) < 1 / (1 + np.exp(-X @ beta))).astype("int64")
    return X, y


def gamma_data():
    return np.random.default_rng(42).gamma(2, 0.5, size=200)


MIX_W = np.array([0.2, 0.8])
MIX_MU = np.array([-0.3, 0.5])
MIX_SD = np.array([0.1, 0.1])

# (workload, method) pairs; every worker implements the ones it can
CASES = [
    ("gamma", "advi"),
    ("mixture", "advi"),
    ("logreg", "advi"),
    ("logreg", "fullrank_advi"),
]
