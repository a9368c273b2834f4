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


def digits_data():
    """Seed 003: 178 8x8 count images of a "zero" (synthetic: sklearn is not a dependency)
    and the domain-knowledge image x0; prior Gamma(2 * x0, 2) on the 64 pixel rates."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:8, 0:8]
    ring = np.exp(-((np.hypot(yy - 3.5, xx - 3.5) - 2.5) ** 2)).ravel()
    X = rng.poisson(0.3 + 14 * ring, size=(178, 64)).astype("int64")
    x0 = 0.5 + 12 * ring
    return X, 2.0 * x0, 2.0


MIX_W = np.array([0.2, 0.8])
MIX_MU = np.array([-0.3, 0.5])
MIX_SD = np.array([0.1, 0.1])

# (workload, method) pairs; every worker implements the ones it can
CASES = [
    ("gamma", "advi"),
    ("mixture", "advi"),
    ("logreg", "advi"),
    ("logreg", "fullrank_advi"),
    ("digits", "advi"),
]


def build(pm, workload):
    """The workload's model, written once for any PyMC-compatible module ``pm``
    (``import symvi as pm`` and ``import pymc as pm`` build the same model)."""
    with pm.Model() as model:
        if workload == "gamma":
            alpha = pm.Exponential("alpha", 0.1)
            beta = pm.Exponential("beta", 0.1)
            pm.Gamma("y", alpha, beta, observed=gamma_data())
        elif workload == "mixture":
            pm.NormalMixture("x", w=MIX_W, mu=MIX_MU, sigma=MIX_SD)
        elif workload == "digits":
            X, a, b = digits_data()
            theta = pm.Gamma("theta", a, b, shape=64)
            pm.Poisson("x", theta, observed=X)
        elif workload == "logreg":
            X, y = logreg_data()
            b = pm.Normal("b", 0, 10, shape=10)
            pm.Bernoulli("y", logit_p=pm.math.dot(X, b), observed=y)
    return model
