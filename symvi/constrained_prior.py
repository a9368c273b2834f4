"""``pm.find_constrained_prior``: the parameters of a distribution that put a given share of
its mass between two bounds (PyMC's ``pm.find_constrained_prior``).

Two conditions fix two free parameters: ``cdf(upper) - cdf(lower) = mass`` (an equality
constraint) and ``cdf(lower) = mass_below_lower`` (the objective, squared, that is
minimised).  Both come from the distribution's symbolic ``logcdf``, with their gradients;
``scipy.optimize.minimize`` (SLSQP by default) solves them.

Examples
--------
>>> import symvi as pm
>>> params = pm.find_constrained_prior(pm.Normal, lower=-1.0, upper=1.0, init_guess={"mu": 0.5, "sigma": 2.0})
>>> round(params["mu"], 4) + 0.0, round(params["sigma"], 4)
(0.0, 0.5102)
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["find_constrained_prior"]


def _objective_and_constraint(distribution, names: list, fixed: dict, lower: float, upper: float, below: float):
    """One compiled function of the free parameters: (objective, constraint, their gradients
    or None where PyTensor cannot differentiate the cdf)."""
    import pytensor.tensor as pt
    from pytensor.gradient import NullTypeGradError

    from symvi.distributions import logcdf
    from symvi.pytensor_helpers import compile, gradient
    from symvi.pytensorf import ONE_SHOT_MODE

    theta = pt.vector("theta", dtype="float64")
    dist = distribution.dist(**{n: theta[i] for i, n in enumerate(names)}, **fixed)
    try:
        lcdf_lo, lcdf_hi = logcdf(dist, lower), logcdf(dist, upper)
    except TypeError as err:
        raise TypeError(f"find_constrained_prior: {err}") from None
    if lcdf_lo.ndim != 0:
        raise ValueError(
            f"find_constrained_prior: {distribution.__name__} with these parameters is not a scalar distribution "
            f"(its cdf has {lcdf_lo.ndim} dimensions); only scalar parameters are supported"
        )
    cdf_lo = pt.exp(lcdf_lo)
    objective = (cdf_lo - below) ** 2
    constraint = pt.exp(lcdf_hi) - cdf_lo
    try:
        grads = [gradient(objective, [theta]), gradient(constraint, [theta])]
    except (NotImplementedError, NullTypeGradError):  # a logcdf without a symbolic gradient
        grads = []  # scipy then differentiates numerically
    # evaluated a few dozen times: the Python linker without rewrites takes 1.3 s for the Gamma
    # example where a Numba compile of the cdf's gradient took 16 s
    fn = compile([theta], [objective, constraint, *grads], mode=ONE_SHOT_MODE)
    return fn, bool(grads)


def find_constrained_prior(
    distribution,
    lower: float,
    upper: float,
    init_guess: dict[str, float],
    mass: float = 0.95,
    fixed_params: dict[str, float] | None = None,
    mass_below_lower: float | None = None,
    **kwargs,
) -> dict[str, float]:
    """Parameters of ``distribution`` with ``mass`` of its probability between ``lower`` and
    ``upper``, and ``mass_below_lower`` (default: half of the rest) below ``lower``.

    Parameters
    ----------
    distribution : a symvi distribution class with a ``logcdf`` (``pm.Gamma``, ``pm.Normal``...).
    lower, upper : the bounds.
    init_guess : ``{parameter name: starting value}`` of the (at most two) parameters solved for.
    mass : the share of probability between the bounds, in [0.01, 0.99].
    fixed_params : further parameters held at the given values (e.g. StudentT's ``nu``).
    mass_below_lower : probability below ``lower``; default ``(1 - mass) / 2``.
    kwargs : passed to ``scipy.optimize.minimize`` (``method``, ``tol``, ``options``...).

    Returns
    -------
    dict of the solved parameters (floats), with ``fixed_params`` added.

    Examples
    --------
    >>> import symvi as pm
    >>> opt = pm.find_constrained_prior(pm.Gamma, lower=0.1, upper=0.4, mass=0.75, init_guess={"alpha": 1, "beta": 10})
    >>> sorted(opt)
    ['alpha', 'beta']
    """
    from scipy import optimize

    if not isinstance(init_guess, dict) or not init_guess:
        raise TypeError(f"find_constrained_prior: init_guess must be a non-empty dict {{parameter: value}}, got {init_guess!r}")
    fixed = dict(fixed_params or {})
    both = sorted(set(init_guess) & set(fixed))
    if both:
        raise ValueError(f"find_constrained_prior: {both} are both in init_guess and fixed_params")
    for name, value in (("lower", lower), ("upper", upper), ("mass", mass)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise TypeError(f"find_constrained_prior: {name} must be a finite number, got {value!r}")
    if not lower < upper:
        raise ValueError(f"find_constrained_prior: lower ({lower}) must be below upper ({upper})")
    if not 0.01 <= mass <= 0.99:
        raise ValueError(f"find_constrained_prior: mass must lie in [0.01, 0.99], got {mass}")
    below = (1 - mass) / 2 if mass_below_lower is None else float(mass_below_lower)
    if not 0 <= below <= 1 - mass:
        raise ValueError(f"find_constrained_prior: mass_below_lower must lie in [0, 1 - mass] = [0, {1 - mass:g}], got {below}")
    names = list(init_guess)
    fn, has_grad = _objective_and_constraint(distribution, names, fixed, float(lower), float(upper), below)
    cache: dict = {}

    def evaluate(x):
        key = tuple(np.asarray(x, dtype="float64"))
        if key not in cache:
            cache.clear()
            cache[key] = [np.asarray(v, dtype="float64") for v in fn(np.asarray(key, dtype="float64"))]
        return cache[key]

    jac = (lambda x: evaluate(x)[2]) if has_grad else "2-point"
    constraint_jac = (lambda x: evaluate(x)[3][None, :]) if has_grad else "2-point"
    constraint = optimize.NonlinearConstraint(lambda x: evaluate(x)[1], lb=mass, ub=mass, jac=constraint_jac)
    x0 = np.array([float(init_guess[n]) for n in names])
    result = optimize.minimize(lambda x: float(evaluate(x)[0]), x0=x0, jac=jac, constraints=constraint, **kwargs)
    if not result.success:
        raise ValueError(f"find_constrained_prior: the optimisation failed ({result.message}); try another init_guess\n{result}")
    found = {n: float(v) for n, v in zip(names, result.x)}
    found.update(fixed)
    return found
