"""Re-fitting an ODE model: wall time of pm.fit on PyMC's freefall model, twice in one process.

Run it twice (the second run is "a new process" with warm disk caches):
    python benchmarks/bench_ode_refit.py [n_fits]
Prints one line per fit: seconds and the final ELBO history value (results must agree).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy.integrate import odeint

import symvi as pm


def freefall(y, t, p):
    return 2.0 * p[1] - p[0] * y[0]


def fit_once() -> tuple[float, float]:
    times = np.arange(0, 10, 0.5)
    y = odeint(freefall, t=times, y0=-2, args=((0.4, 9.8),))
    yobs = np.random.default_rng(20394).normal(y, 2)
    ode_model = pm.ode.DifferentialEquation(func=freefall, times=times, n_states=1, n_theta=2, t0=0)
    with pm.Model():
        sigma = pm.HalfCauchy("sigma", 1)
        gamma = pm.LogNormal("gamma", 0, 1)
        pm.Normal("Y", mu=ode_model(y0=[0], theta=[gamma, 9.8]), sigma=sigma, observed=yobs)
        t0 = time.perf_counter()
        approx = pm.fit(n=2000, method="advi", random_seed=1, progressbar=False)
        return time.perf_counter() - t0, float(approx.hist[-1])


if __name__ == "__main__":
    for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 2):
        sec, last = fit_once()
        print(f"fit {i + 1}: {sec:.2f} s  hist[-1]={last!r}", flush=True)
