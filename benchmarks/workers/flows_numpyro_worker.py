"""NumPyro 0.22 side of bench_flows.py: AutoIAFNormal on Neal's 2-D funnel (own venv).

Usage: ``python flows_numpyro_worker.py STEPS REPEATS NUM_FLOWS HIDDEN SEED`` (HIDDEN 0: NumPyro's
default hidden layers).  Prints one JSON row: steady per-step microseconds (difference of a long
and a short ``svi.run``, each compiled afresh), the final ELBO (10 000 draws of the guide) and
the guide's sd of ``v`` (4 000 draws).
"""

import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import jax
import jax.numpy as jnp
import numpyro
import numpyro.distributions as dist
from numpyro.infer import SVI, Trace_ELBO
from numpyro.infer.autoguide import AutoIAFNormal
from timing import emit, median_time

jax.config.update("jax_enable_x64", True)


def funnel():
    v = numpyro.sample("v", dist.Normal(0.0, 3.0))
    numpyro.sample("x", dist.Normal(0.0, jnp.exp(v / 2)))


def main():
    steps, repeats, num_flows, hidden, seed = (int(a) for a in sys.argv[1:6])
    kw = {"num_flows": num_flows}
    if hidden:
        kw["hidden_dims"] = [hidden, hidden]

    def fresh(n):
        guide = AutoIAFNormal(funnel, **kw)
        svi = SVI(funnel, guide, numpyro.optim.Adam(0.01), Trace_ELBO())
        return guide, svi, svi.run(jax.random.PRNGKey(seed), n, progress_bar=False)

    t0 = time.perf_counter()
    guide, _, res = fresh(steps)
    res.losses.block_until_ready()
    first = time.perf_counter() - t0
    t_long = median_time(lambda: fresh(steps)[2].losses.block_until_ready(), repeats)
    t_short = median_time(lambda: fresh(steps // 10)[2].losses.block_until_ready(), repeats)
    per_step = (t_long - t_short) / (steps - steps // 10)
    elbo = Trace_ELBO(num_particles=10_000).loss(jax.random.PRNGKey(seed + 1), res.params, funnel, guide)
    draws = guide.sample_posterior(jax.random.PRNGKey(seed + 2), res.params, sample_shape=(4000,))
    emit([{"framework": "numpyro", "guide": f"AutoIAFNormal(num_flows={num_flows}, hidden_dims={kw.get('hidden_dims', 'default')})",
           "us_per_step": per_step * 1e6, "first_fit_s": first, "elbo": -float(elbo),
           "sd_v": float(np.std(np.asarray(draws["v"]))), "steps": steps}])


if __name__ == "__main__":
    main()
