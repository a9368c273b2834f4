"""NumPyro 0.22 side of bench_callbacks.py: ``svi.run`` and a Python loop over ``svi.update``."""

import sys

import numpy as np

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpyro  # noqa: E402
import numpyro.distributions as dist  # noqa: E402
from numpyro.infer import SVI, Trace_ELBO  # noqa: E402
from numpyro.infer.autoguide import AutoNormal  # noqa: E402
from timing import emit, median_time  # noqa: E402
from workloads import logreg_data  # noqa: E402

jax.config.update("jax_enable_x64", True)


def logreg_model(X, y):
    b = numpyro.sample("b", dist.Normal(jnp.zeros(10), 10.0).to_event(1))
    numpyro.sample("y", dist.Bernoulli(logits=X @ b), obs=y)


def main():
    repeats = int(sys.argv[1])
    quick = len(sys.argv) > 2 and sys.argv[2] == "quick"
    args = tuple(map(jnp.asarray, logreg_data()))
    guide = AutoNormal(logreg_model)
    svi = SVI(logreg_model, guide, numpyro.optim.Adam(0.01), Trace_ELBO())
    rows = []

    # no hook: svi.run compiles on every call; the difference of a long and a short run
    long = 20000 if quick else 200000
    run = lambda n: svi.run(jax.random.PRNGKey(1), n, *args, progress_bar=False).losses.block_until_ready()  # noqa: E731
    run(long // 10)
    per = (median_time(lambda: run(long), repeats) - median_time(lambda: run(long // 10), repeats)) / (long - long // 10)
    rows.append({"framework": "numpyro", "case": "none", "us_per_step": per * 1e6, "steps": long})

    # a per-step Python hook: a Python loop over the jitted svi.update
    update = jax.jit(svi.update)
    n = 1000 if quick else 5000
    tracked = []

    def track(state, loss, i):  # what a Tracker of the guide's mean and scale records
        params = svi.get_params(state)
        tracked.append((np.asarray(params["b_auto_loc"]), np.asarray(params["b_auto_scale"])))

    hooks = {"noop": lambda state, loss, i: None, "tracker": track}
    for case, hook in hooks.items():
        state = svi.init(jax.random.PRNGKey(1), *args)

        def loop(state=state, hook=hook):
            for i in range(n):
                state, loss = update(state, *args)
                hook(state, loss, i + 1)
            jax.block_until_ready(state)

        loop()  # compile
        per = median_time(loop, repeats) / n
        rows.append({"framework": "numpyro-loop", "case": case, "us_per_step": per * 1e6, "steps": n})
    emit(rows)


if __name__ == "__main__":
    main()
