"""DEMetropolisZ / DEMetropolis / Metropolis(PoissonProposal) in symvi vs PyMC 5.28.5, same script.

Run once per library as separate processes and compare the JSON lines:
    PYTHONPATH=$PWD python3 benchmarks/bench_de_steps.py symvi
    /tmp/venv-pymc/bin/python benchmarks/bench_de_steps.py pymc
A 5-D correlated Gaussian, draws=2000, tune=2000 (DEMetropolisZ: 4 chains, DEMetropolis: 10),
seeds 0-2: wall time, min/mean ESS, largest mean and covariance errors, acceptance rate."""
import sys, time, json
import numpy as np
if sys.argv[1] == "symvi":
    import symvi as pm
else:
    import pymc as pm
import arviz as az
D = 5
rng = np.random.default_rng(0)
A = rng.normal(size=(D, D))
cov = A @ A.T / D + 0.5 * np.eye(D)
mu = np.arange(D, dtype=float)
out = {}
for name, mk, chains in [("DEMetropolisZ", lambda: pm.DEMetropolisZ(), 4), ("DEMetropolis", lambda: pm.DEMetropolis(), 10)]:
    res = []
    for seed in range(3):
        t = time.perf_counter()
        with pm.Model():
            pm.MvNormal("x", mu, cov)
            kw = {"cores": 1} if sys.argv[1] == "pymc" else {}
            idata = pm.sample(step=mk(), draws=2000, tune=2000, chains=chains, random_seed=seed, progressbar=False, **kw)
        wall = time.perf_counter() - t
        x = idata.posterior["x"].values.reshape(-1, D)
        ess = az.ess(idata)["x"].values
        res.append({"wall": wall, "ess_min": float(ess.min()), "ess_mean": float(ess.mean()),
                    "max_mean_err": float(np.max(np.abs(x.mean(0) - mu))),
                    "max_cov_err": float(np.max(np.abs(np.cov(x.T) - cov))),
                    "accept": float(idata.sample_stats["accepted"].mean()) if "accepted" in idata.sample_stats else float(idata.sample_stats["accept"].mean())})
    out[name] = res
with pm.Model():
    pm.Poisson("k", 4.0)
    kw = {"cores": 1} if sys.argv[1] == "pymc" else {}
    idata = pm.sample(draws=3000, tune=300, chains=2, step=pm.Metropolis(proposal_dist=pm.PoissonProposal), random_seed=6, progressbar=False, **kw)
out["poisson_mean"] = float(idata.posterior["k"].values.mean())
print(json.dumps(out))
