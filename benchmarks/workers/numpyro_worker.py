"""NumPyro 0.22 side of bench_vi.py (run in its own virtual environment)."""

import resource
import sys
import time

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.infer import SVI, Trace_ELBO  # noqa: E402
from numpyro.infer.autoguide import AutoMultivariateNormal, AutoNormal  # noqa: E402
from timing import emit, median_time  # noqa: E402
from workloads import digits_data, gamma_data, logreg_data  # noqa: E402

jax.config.update("jax_enable_x64", True)


def gamma_model(y):
    alpha = numpyro.sample("alpha", dist.Exponential(0.1))
    beta = numpyro.sample("beta", dist.Exponential(0.1))
    numpyro.sample("y", dist.Gamma(alpha, beta), obs=y)


def logreg_model(X, y):
    b = numpyro.sample("b", dist.Normal(jnp.zeros(10), 10.0).to_event(1))
    numpyro.sample("y", dist.Bernoulli(logits=X @ b), obs=y)


def digits_model(X, a, b):
    theta = numpyro.sample("theta", dist.Gamma(a, b).to_event(1))
    numpyro.sample("x", dist.Poisson(theta).to_event(1), obs=X)


CASES = {
    ("gamma", "advi"): (gamma_model, AutoNormal, lambda: (jnp.asarray(gamma_data()),)),
    ("logreg", "advi"): (logreg_model, AutoNormal, lambda: tuple(map(jnp.asarray, logreg_data()))),
    ("logreg", "fullrank_advi"): (logreg_model, AutoMultivariateNormal, lambda: tuple(map(jnp.asarray, logreg_data()))),
    ("digits", "advi"): (digits_model, AutoNormal, lambda: tuple(map(jnp.asarray, digits_data()))),
}


def run_case(key, n_first, n_long, repeats):
    model, guide_cls, data = CASES[key]
    args = data()

    def fresh_run(n):
        svi = SVI(model, guide_cls(model), numpyro.optim.Adam(0.01), Trace_ELBO())
        return svi.run(jax.random.PRNGKey(1), n, *args, progress_bar=False)

    t0 = time.perf_counter()
    res = fresh_run(n_first)
    res.losses.block_until_ready()
    first = time.perf_counter() - t0
    # svi.run compiles on every call (3-4 s, varying by a few 0.1 s): the difference of a
    # long and a short run is the per-step time once the long run dwarfs that variation
    long = 10 * n_long
    t_long = median_time(lambda: fresh_run(long).losses.block_until_ready(), repeats)
    t_short = median_time(lambda: fresh_run(long // 10).losses.block_until_ready(), repeats)
    steady = (t_long - t_short) / (long - long // 10)
    final = float(np.mean(np.asarray(res.losses)[n_first - 1000 : n_first]))
    return {"framework": "numpyro", "workload": key[0], "method": key[1], "us_per_step": steady * 1e6,
            "first_fit_s": first, "refine10_s": None, "final_loss": final}


def main():
    n_first, n_long, repeats = (int(a) for a in sys.argv[1:4])
    rows = [run_case(k, n_first, n_long, repeats) for k in CASES]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit([dict(r, peak_mb=peak) for r in rows])


if __name__ == "__main__":
    main()
