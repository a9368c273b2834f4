"""NUTS with BlackJAX on the JAX backend (``pm.sample(nuts_sampler="blackjax")``).

The model's log density is compiled by PyTensor's JAX backend and differentiated by JAX;
BlackJAX's window adaptation (step size and mass matrix, Stan's schedule) runs for
``tune`` steps in every chain and the chains then run ``draws`` NUTS steps, all chains at
once (``jax.vmap``) in one ``lax.scan``.  A variational start (see :mod:`symvi.mcmc.init`)
gives BlackJAX the approximation's covariance as its initial inverse mass matrix (dense
for a full-rank fit, then adapted as a dense matrix; diagonal otherwise).

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model() as m:
...     x = pm.Normal("x", 0.0, 1.0)
>>> from symvi.mcmc.init import start_plan
>>> flat, stats, _ = run_blackjax(m, start_plan(m, "auto", seed=1), draws=20, tune=20, chains=2, seed=1)
>>> flat.shape
(2, 20, 1)
"""

from __future__ import annotations

import numpy as np

from symvi.mcmc.density import FlatDensity, Preconditioner

__all__ = ["run_blackjax"]


def run_blackjax(model, plan, draws: int, tune: int, chains: int, seed, target_accept: float = 0.8, **kwargs):
    """Sample with BlackJAX; returns ``(flat draws (chains, draws, D) on the model's
    unconstrained space, {PyMC stat name: (chains, draws)}, gradient evaluations of the
    warm-up (all chains))``."""
    import jax
    import pytensor

    if pytensor.config.floatX == "float64":
        jax.config.update("jax_enable_x64", True)
    import blackjax
    import jax.numpy as jnp
    from blackjax.adaptation.base import get_filter_adapt_info_fn

    if kwargs:
        raise TypeError(f"sample: nuts_sampler='blackjax' does not take {sorted(kwargs)}")
    density = FlatDensity.cached(model)
    density.set_precond(Preconditioner.identity(density.ndim))
    logdensity = density.jax_logp()
    rng = np.random.default_rng(seed)
    starts = plan.precond.to_x(plan.draw(rng, chains))
    L = plan.precond.L
    dense = L.ndim == 2
    imm = None if plan.precond.is_identity else (L @ L.T if dense else L**2)
    key = jax.random.key(int(rng.integers(2**31)))
    warm_key, sample_key = jax.random.split(key)

    if tune > 0:
        warmup = blackjax.window_adaptation(
            blackjax.nuts, logdensity, is_mass_matrix_diagonal=not dense, target_acceptance_rate=target_accept,
            initial_inverse_mass_matrix=None if imm is None else jnp.asarray(imm),
            adaptation_info_fn=get_filter_adapt_info_fn(info_keys={"num_integration_steps"}),
        )

        @jax.jit
        def adapt(keys, positions):
            return jax.vmap(lambda k, p: warmup.run(k, p, num_steps=tune))(keys, positions)

        adapted, info = adapt(jax.random.split(warm_key, chains), jnp.asarray(starts))
        states, params = adapted.state, adapted.parameters
        tune_grads = int(np.asarray(info.info.num_integration_steps).sum())
        step_sizes, inv_mass = params["step_size"], params["inverse_mass_matrix"]
    else:
        states = jax.vmap(blackjax.nuts.init, in_axes=(0, None))(jnp.asarray(starts), logdensity)
        step_sizes = jnp.full(chains, 0.1)
        base = jnp.ones(density.ndim) if imm is None else jnp.asarray(imm)
        inv_mass = jnp.broadcast_to(base, (chains,) + base.shape)
        tune_grads = 0

    @jax.jit
    def run(keys, states, step_sizes, inv_mass):
        def one_chain(k, state, eps, m):
            kernel = blackjax.nuts(logdensity, step_size=eps, inverse_mass_matrix=m)

            def step(state, k):
                state, info = kernel.step(k, state)
                stats = (
                    info.is_divergent, info.energy, info.num_trajectory_expansions, info.num_integration_steps,
                    info.acceptance_rate, state.logdensity,
                )
                return state, (state.position, stats)

            _, out = jax.lax.scan(step, state, jax.random.split(k, draws))
            return out

        return jax.vmap(one_chain)(keys, states, step_sizes, inv_mass)

    positions, (div, energy, depth, n_steps, accept, lp) = run(jax.random.split(sample_key, chains), states, step_sizes, inv_mass)
    stats = {
        "diverging": np.asarray(div),
        "energy": np.asarray(energy),
        "tree_depth": np.asarray(depth),
        "n_steps": np.asarray(n_steps),
        "acceptance_rate": np.asarray(accept),
        "lp": np.asarray(lp),
        "step_size": np.broadcast_to(np.asarray(step_sizes)[:, None], (chains, draws)).copy(),
    }
    return np.asarray(positions, dtype="float64"), stats, tune_grads
