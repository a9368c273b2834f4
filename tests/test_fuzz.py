"""Property-based fuzzing with hypothesis.

* every distribution, random batch shapes and parameters: draws are in the support (finite
  log density), the log density is finite on the support and -inf outside it, invalid
  symbolic parameters give -inf, invalid constant parameters raise ``ValueError`` naming the
  distribution and the parameter, and garbage input never raises anything but the documented
  ``ValueError`` / ``TypeError``;
* random models of 1-5 variables: finite initial point, log density and gradient there and
  nearby, and a few fitting steps without a crash.

Everything is evaluated with ``ONE_SHOT_MODE`` (Python linker, compiled in milliseconds),
except the fits, which compile a Numba loop per model (seconds when cold).  The default run
uses the small derandomized profile ``symvi-fuzz`` (fixed examples, so Numba's disk cache
makes the three fits cheap after the first run); the ``slow`` variants use ``symvi-fuzz-slow``
with 2000 examples, 300 for the fits (``pytest -m slow tests/test_fuzz.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytensor.tensor as pt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symvi as pm
from symvi.distributions import dist_info
from symvi.logprob import compile_dlogp, compile_logp, point_logps
from symvi.pytensorf import ONE_SHOT_MODE, compile_fn, find_rngs, reseed_rngs

settings.register_profile(
    "symvi-fuzz",
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "symvi-fuzz-slow",
    max_examples=2000,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FAST = settings(settings.get_profile("symvi-fuzz"))
MODELS_FAST = settings(settings.get_profile("symvi-fuzz"), max_examples=10)
GARBAGE_FAST = settings(settings.get_profile("symvi-fuzz"), max_examples=150)
SLOW = settings(settings.get_profile("symvi-fuzz-slow"))
FIT_FAST = settings(settings.get_profile("symvi-fuzz"), max_examples=3)
# each random model compiles its own Numba loop (5-15 s cold): 300 fits take about an hour
FIT_SLOW = settings(settings.get_profile("symvi-fuzz-slow"), max_examples=300)

DOCUMENTED = (ValueError, TypeError)


# ---------------------------------------------------------------------- distribution specs
def U(rng, lo, hi, size):
    return rng.uniform(lo, hi, size=size)


@dataclass(frozen=True)
class Spec:
    """How to fuzz one distribution.

    ``params(rng, n)``: valid parameters (numpy) for a batch of n; ``inside(rng, p, n)``:
    values in the support; ``outside(rng, p, n)``: values outside it (None: the support is
    everything); ``invalid(p)``: (parameter name, parameters violating a check).
    ``symbolic=False``: the distribution takes its parameters as numbers only (e.g.
    Interpolated's points), so every example compiles with constants and the invalid
    parameters are only checked to raise at build time.  ``sized=True``: ``build`` reads the
    batch size ``p["_n"]`` (e.g. ``size=``) although there are parameters, so the compiled
    functions are cached per batch size too.
    """

    name: str
    build: Callable  # (params dict of tensors or arrays) -> unregistered random variable
    params: Callable
    inside: Callable
    outside: Callable | None
    invalid: Callable | None
    symbolic: bool = True
    sized: bool = False


def neg(name, how=lambda v: -np.abs(v) - 0.5):
    def make(p):
        q = dict(p)
        q[name] = how(np.asarray(p[name])).astype(np.asarray(p[name]).dtype)
        return name, q

    return make


def pos_inside(rng, p, n):
    return U(rng, 1e-3, 30, n)


def pos_outside(rng, p, n):
    return -U(rng, 1e-3, 10, n)


def real_inside(rng, p, n):
    return U(rng, -50, 50, n)


def ints(rng, lo, hi, n):
    return rng.integers(lo, hi, size=n, endpoint=True).astype("int64")


def simplex(rng, shape):
    x = rng.uniform(0.05, 1.0, size=shape)
    return x / x.sum(-1, keepdims=True)


def chol_of(rng, k):
    a = np.tril(rng.normal(size=(k, k)) * 0.5)
    a[np.diag_indices(k)] = rng.uniform(0.3, 2.0, size=k)
    return a


def trunc_params(rng, n):
    mu, sigma = U(rng, -5, 5, n), U(rng, 0.5, 5, n)
    lower = mu + U(rng, -3, 1, n)
    upper = lower + U(rng, 0.5, 5, n)
    return {"mu": mu, "sigma": sigma, "lower": np.where(rng.random(n) < 0.3, -np.inf, lower),
            "upper": np.where(rng.random(n) < 0.3, np.inf, upper)}


def trunc_inside(rng, p, n):
    lo = np.where(np.isinf(p["lower"]), p["mu"] - 10, p["lower"])
    up = np.where(np.isinf(p["upper"]), p["mu"] + 10, p["upper"])
    lo, up = np.maximum(lo, np.minimum(up - 0.5, lo)), up
    return lo + U(rng, 0.01, 0.99, n) * (up - lo)


def trunc_outside(rng, p, n):
    above = p["upper"] + U(rng, 0.01, 5, n)
    below = p["lower"] - U(rng, 0.01, 5, n)
    return np.where(np.isfinite(p["upper"]), above, np.where(np.isfinite(p["lower"]), below, np.nan))


def multinomial_inside(rng, p, n):
    return np.stack([rng.multinomial(int(m), q) for m, q in zip(p["n"], p["p"])]).astype("int64")


def bump_first(v):
    v = np.array(v)
    v[..., 0] += 1
    return v


def custom_normal_logp(value, mu, sigma):
    return -0.5 * ((value - mu) / sigma) ** 2 - pt.log(sigma) - 0.5 * np.log(2 * np.pi)


def custom_normal_random(mu, sigma, rng=None, size=None):
    return rng.normal(mu, sigma, size=size)


_REGISTER: dict = {}  # set by check_garbage: build registered model variables instead


def _ou(x, k):
    """Ornstein-Uhlenbeck drift and diffusion for the EulerMaruyama spec."""
    return -k * x, 0.5


def D(cls, *args, **kwargs):
    """``cls.dist(...)``, or ``cls("x", ..., observed=...)`` inside check_garbage."""
    if _REGISTER:
        return cls(_REGISTER["name"], *args, observed=_REGISTER["observed"], **kwargs)
    return cls.dist(*args, **kwargs)


SPECS = [
    Spec("Flat", lambda p: D(pm.Flat, size=p["_n"]), lambda rng, n: {}, real_inside, None, None),
    Spec("HalfFlat", lambda p: D(pm.HalfFlat, size=p["_n"]), lambda rng, n: {}, pos_inside, pos_outside, None),
    Spec("Normal", lambda p: D(pm.Normal, p["mu"], p["sigma"]), lambda rng, n: {"mu": U(rng, -10, 10, n), "sigma": U(rng, 0.1, 10, n)}, real_inside, None, neg("sigma")),
    Spec("HalfNormal", lambda p: D(pm.HalfNormal, p["sigma"]), lambda rng, n: {"sigma": U(rng, 0.1, 10, n)}, pos_inside, pos_outside, neg("sigma")),
    Spec("Exponential", lambda p: D(pm.Exponential, p["lam"]), lambda rng, n: {"lam": U(rng, 0.1, 10, n)}, pos_inside, pos_outside, neg("lam")),
    Spec("Gamma", lambda p: D(pm.Gamma, p["alpha"], p["beta"]), lambda rng, n: {"alpha": U(rng, 0.5, 10, n), "beta": U(rng, 0.1, 10, n)}, pos_inside, pos_outside, neg("alpha")),
    Spec("Uniform", lambda p: D(pm.Uniform, p["lower"], p["upper"]),
         lambda rng, n: (lambda lo: {"lower": lo, "upper": lo + U(rng, 0.1, 10, n)})(U(rng, -10, 0, n)),
         lambda rng, p, n: p["lower"] + U(rng, 0.01, 0.99, n) * (p["upper"] - p["lower"]),
         lambda rng, p, n: p["upper"] + U(rng, 0.01, 5, n),
         lambda p: ("upper", dict(p, upper=p["lower"] - 1.0))),
    Spec("TruncatedNormal", lambda p: D(pm.TruncatedNormal, p["mu"], p["sigma"], lower=p["lower"], upper=p["upper"]),
         trunc_params, trunc_inside, trunc_outside, neg("sigma")),
    Spec("InverseGamma", lambda p: D(pm.InverseGamma, p["alpha"], p["beta"]), lambda rng, n: {"alpha": U(rng, 0.5, 10, n), "beta": U(rng, 0.1, 10, n)}, pos_inside, pos_outside, neg("beta")),
    Spec("Beta", lambda p: D(pm.Beta, p["alpha"], p["beta"]), lambda rng, n: {"alpha": U(rng, 0.5, 10, n), "beta": U(rng, 0.5, 10, n)},
         lambda rng, p, n: U(rng, 0.01, 0.99, n), lambda rng, p, n: 1 + U(rng, 0.01, 1, n), neg("alpha")),
    Spec("LogNormal", lambda p: D(pm.LogNormal, p["mu"], p["sigma"]), lambda rng, n: {"mu": U(rng, -2, 2, n), "sigma": U(rng, 0.1, 2, n)}, pos_inside, pos_outside, neg("sigma")),
    Spec("StudentT", lambda p: D(pm.StudentT, p["nu"], p["mu"], p["sigma"]), lambda rng, n: {"nu": U(rng, 0.5, 30, n), "mu": U(rng, -10, 10, n), "sigma": U(rng, 0.1, 10, n)}, real_inside, None, neg("nu")),
    Spec("HalfStudentT", lambda p: D(pm.HalfStudentT, p["nu"], p["sigma"]), lambda rng, n: {"nu": U(rng, 0.5, 30, n), "sigma": U(rng, 0.1, 10, n)}, pos_inside, pos_outside, neg("sigma")),
    Spec("Cauchy", lambda p: D(pm.Cauchy, p["alpha"], p["beta"]), lambda rng, n: {"alpha": U(rng, -10, 10, n), "beta": U(rng, 0.1, 10, n)}, real_inside, None, neg("beta")),
    Spec("HalfCauchy", lambda p: D(pm.HalfCauchy, p["beta"]), lambda rng, n: {"beta": U(rng, 0.1, 10, n)}, pos_inside, pos_outside, neg("beta")),
    Spec("Laplace", lambda p: D(pm.Laplace, p["mu"], p["b"]), lambda rng, n: {"mu": U(rng, -10, 10, n), "b": U(rng, 0.1, 10, n)}, real_inside, None, neg("b")),
    Spec("Logistic", lambda p: D(pm.Logistic, p["mu"], p["s"]), lambda rng, n: {"mu": U(rng, -10, 10, n), "s": U(rng, 0.1, 10, n)}, real_inside, None, neg("s")),
    Spec("Weibull", lambda p: D(pm.Weibull, p["alpha"], p["beta"]), lambda rng, n: {"alpha": U(rng, 0.5, 5, n), "beta": U(rng, 0.1, 10, n)},
         lambda rng, p, n: U(rng, 1e-3, 20, n), pos_outside, neg("alpha")),
    Spec("Pareto", lambda p: D(pm.Pareto, p["alpha"], p["m"]), lambda rng, n: {"alpha": U(rng, 0.5, 5, n), "m": U(rng, 0.1, 5, n)},
         lambda rng, p, n: p["m"] + U(rng, 0, 20, n), lambda rng, p, n: p["m"] * U(rng, 0.1, 0.9, n), neg("m")),
    Spec("ChiSquared", lambda p: D(pm.ChiSquared, p["nu"]), lambda rng, n: {"nu": U(rng, 0.5, 20, n)}, pos_inside, pos_outside, neg("nu")),
    Spec("Wald", lambda p: D(pm.Wald, p["mu"], p["lam"], alpha=p["alpha"]), lambda rng, n: {"mu": U(rng, 0.1, 5, n), "lam": U(rng, 0.1, 10, n), "alpha": U(rng, -2, 2, n)},
         lambda rng, p, n: p["alpha"] + U(rng, 0.01, 20, n), lambda rng, p, n: p["alpha"] - U(rng, 0.01, 2, n), neg("lam")),
    Spec("Bernoulli", lambda p: D(pm.Bernoulli, p["p"]), lambda rng, n: {"p": U(rng, 0.01, 0.99, n)},
         lambda rng, p, n: ints(rng, 0, 1, n), lambda rng, p, n: np.where(rng.random(n) < 0.5, -1, 2).astype("int64"),
         lambda p: ("p", dict(p, p=p["p"] + 1.0))),
    Spec("Binomial", lambda p: D(pm.Binomial, p["n"], p["p"]), lambda rng, n: {"n": ints(rng, 0, 30, n), "p": U(rng, 0.01, 0.99, n)},
         lambda rng, p, n: np.minimum(ints(rng, 0, 30, n), p["n"]), lambda rng, p, n: p["n"] + ints(rng, 1, 5, n),
         lambda p: ("p", dict(p, p=-p["p"]))),
    Spec("Poisson", lambda p: D(pm.Poisson, p["mu"]), lambda rng, n: {"mu": U(rng, 0.01, 50, n)}, lambda rng, p, n: ints(rng, 0, 100, n),
         lambda rng, p, n: -ints(rng, 1, 10, n), neg("mu")),
    Spec("NegativeBinomial", lambda p: D(pm.NegativeBinomial, p["mu"], p["alpha"]), lambda rng, n: {"mu": U(rng, 0.01, 50, n), "alpha": U(rng, 0.1, 10, n)},
         lambda rng, p, n: ints(rng, 0, 100, n), lambda rng, p, n: -ints(rng, 1, 10, n), neg("alpha")),
    Spec("Geometric", lambda p: D(pm.Geometric, p["p"]), lambda rng, n: {"p": U(rng, 0.05, 1.0, n)}, lambda rng, p, n: ints(rng, 1, 50, n),
         lambda rng, p, n: -ints(rng, 0, 10, n), neg("p")),
    Spec("Categorical", lambda p: D(pm.Categorical, p["p"]), lambda rng, n: {"p": simplex(rng, (n, int(rng.integers(2, 5))))},
         lambda rng, p, n: rng.integers(0, p["p"].shape[-1], size=n).astype("int64"), lambda rng, p, n: np.full(n, p["p"].shape[-1], dtype="int64"),
         lambda p: ("p", dict(p, p=p["p"] - 2.0))),
    Spec("DiscreteUniform", lambda p: D(pm.DiscreteUniform, p["lower"], p["upper"]),
         lambda rng, n: (lambda lo: {"lower": lo, "upper": lo + ints(rng, 0, 10, n)})(ints(rng, -10, 0, n)),
         lambda rng, p, n: p["lower"] + np.floor(rng.random(n) * (p["upper"] - p["lower"] + 1)).astype("int64"),
         lambda rng, p, n: p["upper"] + ints(rng, 1, 5, n), lambda p: ("upper", dict(p, upper=p["lower"] - 1))),
    Spec("BetaBinomial", lambda p: D(pm.BetaBinomial, p["alpha"], p["beta"], p["n"]),
         lambda rng, n: {"alpha": U(rng, 0.5, 10, n), "beta": U(rng, 0.5, 10, n), "n": ints(rng, 0, 30, n)},
         lambda rng, p, n: np.minimum(ints(rng, 0, 30, n), p["n"]), lambda rng, p, n: p["n"] + 1, neg("beta")),
    Spec("ZeroInflatedPoisson", lambda p: D(pm.ZeroInflatedPoisson, p["psi"], p["mu"]), lambda rng, n: {"psi": U(rng, 0.01, 0.99, n), "mu": U(rng, 0.01, 20, n)},
         lambda rng, p, n: ints(rng, 0, 60, n), lambda rng, p, n: -ints(rng, 1, 10, n), lambda p: ("psi", dict(p, psi=p["psi"] + 1.0))),
    Spec("MvNormal", lambda p: D(pm.MvNormal, p["mu"], chol=p["chol"]),
         lambda rng, n: (lambda k: {"mu": U(rng, -5, 5, (n, k)), "chol": chol_of(rng, k)})(int(rng.integers(1, 4))),
         lambda rng, p, n: U(rng, -20, 20, (n, p["chol"].shape[-1])), None,
         lambda p: ("chol", dict(p, chol=p["chol"] * np.where(np.eye(len(p["chol"])) > 0, -1.0, 1.0)))),
    Spec("Dirichlet", lambda p: D(pm.Dirichlet, p["a"]), lambda rng, n: {"a": U(rng, 0.5, 5, (n, int(rng.integers(2, 5))))},
         lambda rng, p, n: simplex(rng, p["a"].shape), lambda rng, p, n: 1.5 * simplex(rng, p["a"].shape), neg("a")),
    Spec("Multinomial", lambda p: D(pm.Multinomial, p["n"], p["p"]),
         lambda rng, n: {"n": ints(rng, 0, 20, n), "p": simplex(rng, (n, int(rng.integers(2, 5))))},
         multinomial_inside, lambda rng, p, n: bump_first(multinomial_inside(rng, p, n)), lambda p: ("p", dict(p, p=p["p"] - 2.0))),
    Spec("NormalMixture", lambda p: D(pm.NormalMixture, p["w"], p["mu"], p["sigma"]),
         lambda rng, n: (lambda k: {"w": simplex(rng, (n, k)), "mu": U(rng, -5, 5, (n, k)), "sigma": U(rng, 0.1, 3, (n, k))})(int(rng.integers(1, 4))),
         real_inside, None, lambda p: ("w", dict(p, w=p["w"] * 2.0))),
    Spec("Lognormal", lambda p: D(pm.Lognormal, p["mu"], p["sigma"]), lambda rng, n: {"mu": U(rng, -2, 2, n), "sigma": U(rng, 0.1, 2, n)}, pos_inside, pos_outside, None),  # PyMC's alias
    Spec("Truncated", lambda p: D(pm.Truncated, pm.Normal.dist(p["mu"], p["sigma"]), lower=p["lower"], upper=p["upper"]),
         trunc_params, trunc_inside, trunc_outside, None),
    Spec("Censored", lambda p: D(pm.Censored, pm.Normal.dist(p["mu"], p["sigma"]), lower=p["lower"], upper=p["upper"]),
         trunc_params, trunc_inside, trunc_outside, None),
    Spec("CustomDist", lambda p: D(pm.CustomDist, p["mu"], p["sigma"], logp=custom_normal_logp, random=custom_normal_random),
         lambda rng, n: {"mu": U(rng, -10, 10, n), "sigma": U(rng, 0.1, 10, n)}, real_inside, None, None),
    Spec("Mixture[Gamma,Exponential]", lambda p: D(pm.Mixture, p["w"], [pm.Gamma.dist(p["alpha"], p["beta"]), pm.Exponential.dist(p["lam"])]),
         lambda rng, n: {"w": simplex(rng, (n, 2)), "alpha": U(rng, 0.5, 10, n), "beta": U(rng, 0.1, 10, n), "lam": U(rng, 0.1, 10, n)},
         pos_inside, pos_outside, lambda p: ("w", dict(p, w=-p["w"]))),
]


# ---------------------------------------------------------------------- specs added in session 6
def with_zeros(rng, values, n):
    """Some exact zeros among positive values (the hurdle distributions' point mass)."""
    return np.where(rng.random(n) < 0.3, 0.0, values)


def spd(rng, k, batch=()):
    a = rng.normal(size=(*batch, k, k))
    return a @ np.swapaxes(a, -1, -2) + k * np.eye(k)


def packed_corr(rng, n, k):
    """n random k x k correlation matrices, their upper triangles packed (np.triu_indices(k, 1))."""
    c = spd(rng, k, (n,))
    s = np.sqrt(np.einsum("...ii->...i", c))
    c = c / s[..., :, None] / s[..., None, :]
    return c[(slice(None), *np.triu_indices(k, 1))]


def packed_chol(rng, n, k):
    """n random lower Cholesky factors (positive diagonal), packed row by row."""
    return np.stack([chol_of(rng, k)[np.tril_indices(k)] for _ in range(n)])


def ring(rng, k):
    """A symmetric 0/1 adjacency matrix: a ring of k nodes (connected) plus a random chord."""
    w = np.zeros((k, k), dtype="int64")
    i = np.arange(k)
    w[i, (i + 1) % k] = w[(i + 1) % k, i] = 1
    a, b = rng.choice(k, size=2, replace=False)
    w[a, b] = w[b, a] = int(abs(int(a) - int(b)) not in (1, k - 1))
    return w


def cuts(rng, n, lo=2, hi=4):
    return np.sort(U(rng, -4, 4, (n, int(rng.integers(lo, hi + 1)))), axis=-1)


def unsorted_cuts(p):
    q = dict(p)
    c = np.array(p["cutpoints"])
    c[..., 0] = c[..., -1] + 1.0
    q["cutpoints"] = c
    return "cutpoints", q


def counts_inside(rng, p, n, k):
    return np.stack([rng.multinomial(int(m), simplex(rng, k)) for m in np.broadcast_to(p["n"], (n,))]).astype("int64")


def hypergeom_params(rng, n):
    N = ints(rng, 1, 30, n)
    return {"N": N, "k": np.floor(rng.random(n) * (N + 1)).astype("int64"), "n": np.floor(rng.random(n) * (N + 1)).astype("int64")}


def hypergeom_bounds(p):
    return np.maximum(0, p["n"] - p["N"] + p["k"]), np.minimum(p["k"], p["n"])


def series(rng, n, length):
    return U(rng, -20, 20, (n, length))


ZSN_K = 3  # ZeroSumNormal's zero-sum axis length, LKJ's n, StickBreakingWeights' K: constants
STEPS = 4  # innovations of the time series (constant)

SPECS += [
    Spec("AsymmetricLaplace", lambda p: D(pm.AsymmetricLaplace, kappa=p["kappa"], mu=p["mu"], b=p["b"]),
         lambda rng, n: {"b": U(rng, 0.1, 10, n), "kappa": U(rng, 0.2, 5, n), "mu": U(rng, -10, 10, n)}, real_inside, None, neg("kappa")),
    Spec("ExGaussian", lambda p: D(pm.ExGaussian, p["mu"], p["sigma"], p["nu"]),
         lambda rng, n: {"mu": U(rng, -10, 10, n), "sigma": U(rng, 0.1, 10, n), "nu": U(rng, 0.1, 10, n)}, real_inside, None, neg("nu")),
    Spec("SkewNormal", lambda p: D(pm.SkewNormal, mu=p["mu"], sigma=p["sigma"], alpha=p["alpha"]),
         lambda rng, n: {"mu": U(rng, -10, 10, n), "sigma": U(rng, 0.5, 10, n), "alpha": U(rng, -5, 5, n)}, real_inside, None, neg("sigma")),
    Spec("SkewStudentT", lambda p: D(pm.SkewStudentT, a=p["a"], b=p["b"], mu=p["mu"], sigma=p["sigma"]),
         lambda rng, n: {"a": U(rng, 0.5, 10, n), "b": U(rng, 0.5, 10, n), "mu": U(rng, -10, 10, n), "sigma": U(rng, 0.1, 10, n)},
         real_inside, None, neg("b")),
    Spec("Gumbel", lambda p: D(pm.Gumbel, p["mu"], p["beta"]), lambda rng, n: {"mu": U(rng, -10, 10, n), "beta": U(rng, 0.5, 10, n)},
         real_inside, None, neg("beta")),
    Spec("Moyal", lambda p: D(pm.Moyal, p["mu"], p["sigma"]), lambda rng, n: {"mu": U(rng, -10, 10, n), "sigma": U(rng, 0.5, 10, n)},
         real_inside, None, neg("sigma")),
    Spec("Kumaraswamy", lambda p: D(pm.Kumaraswamy, p["a"], p["b"]), lambda rng, n: {"a": U(rng, 0.3, 5, n), "b": U(rng, 0.3, 5, n)},
         lambda rng, p, n: U(rng, 0.01, 0.99, n), lambda rng, p, n: 1 + U(rng, 0.01, 1, n), neg("a")),
    Spec("LogitNormal", lambda p: D(pm.LogitNormal, p["mu"], p["sigma"]), lambda rng, n: {"mu": U(rng, -2, 2, n), "sigma": U(rng, 0.2, 3, n)},
         lambda rng, p, n: U(rng, 0.01, 0.99, n), lambda rng, p, n: -U(rng, 0.01, 1, n), neg("sigma")),
    Spec("VonMises", lambda p: D(pm.VonMises, p["mu"], p["kappa"]), lambda rng, n: {"mu": U(rng, -np.pi, np.pi, n), "kappa": U(rng, 0.1, 50, n)},
         lambda rng, p, n: U(rng, -np.pi, np.pi, n), lambda rng, p, n: np.pi + U(rng, 0.01, 3, n), neg("kappa")),
    Spec("Rice", lambda p: D(pm.Rice, nu=p["nu"], sigma=p["sigma"]), lambda rng, n: {"nu": U(rng, 0, 10, n), "sigma": U(rng, 0.2, 5, n)},
         lambda rng, p, n: U(rng, 1e-3, 30, n), pos_outside, neg("sigma")),
    Spec("Triangular", lambda p: D(pm.Triangular, lower=p["lower"], c=p["c"], upper=p["upper"]),
         lambda rng, n: (lambda lo, w: {"lower": lo, "c": lo + U(rng, 0, 1, n) * w, "upper": lo + w})(U(rng, -10, 5, n), U(rng, 0.1, 10, n)),
         lambda rng, p, n: p["lower"] + U(rng, 0.01, 0.99, n) * (p["upper"] - p["lower"]),
         lambda rng, p, n: np.where(rng.random(n) < 0.5, p["upper"] + U(rng, 0.01, 5, n), p["lower"] - U(rng, 0.01, 5, n)),
         lambda p: ("c", dict(p, c=p["upper"] + 1.0))),
    # Interpolated takes numbers only (as in PyMC): compiled with constants
    Spec("Interpolated", lambda p: D(pm.Interpolated, p["x_points"], p["pdf_points"], size=p["_n"]),
         lambda rng, n: (lambda k: {"x_points": np.cumsum(U(rng, 0.1, 3, k)) - 5, "pdf_points": U(rng, 0.1, 2, k)})(int(rng.integers(2, 6))),
         lambda rng, p, n: p["x_points"][0] + U(rng, 0.01, 0.99, n) * (p["x_points"][-1] - p["x_points"][0]),
         lambda rng, p, n: np.where(rng.random(n) < 0.5, p["x_points"][-1] + U(rng, 0.01, 5, n), p["x_points"][0] - U(rng, 0.01, 5, n)),
         lambda p: ("x_points", dict(p, x_points=p["x_points"][::-1].copy())), symbolic=False),
    Spec("DiracDelta", lambda p: D(pm.DiracDelta, p["c"]), lambda rng, n: {"c": ints(rng, -10, 10, n)},
         lambda rng, p, n: p["c"], lambda rng, p, n: p["c"] + np.where(rng.random(n) < 0.5, -1, 1), None),
    Spec("DiscreteWeibull", lambda p: D(pm.DiscreteWeibull, p["q"], p["beta"]), lambda rng, n: {"q": U(rng, 0.05, 0.95, n), "beta": U(rng, 0.3, 3, n)},
         lambda rng, p, n: ints(rng, 0, 5, n), lambda rng, p, n: -ints(rng, 1, 10, n), lambda p: ("q", dict(p, q=p["q"] + 1.0))),
    Spec("HyperGeometric", lambda p: D(pm.HyperGeometric, p["N"], p["k"], p["n"]), hypergeom_params,
         lambda rng, p, n: (lambda lo, up: lo + np.floor(rng.random(n) * (up - lo + 1)).astype("int64"))(*hypergeom_bounds(p)),
         lambda rng, p, n: hypergeom_bounds(p)[1] + ints(rng, 1, 5, n), lambda p: ("k", dict(p, k=p["N"] + 1))),
    Spec("ZeroInflatedBinomial", lambda p: D(pm.ZeroInflatedBinomial, p["psi"], p["n"], p["p"]),
         lambda rng, n: {"psi": U(rng, 0.01, 0.99, n), "n": ints(rng, 0, 30, n), "p": U(rng, 0.01, 0.99, n)},
         lambda rng, p, n: np.minimum(ints(rng, 0, 30, n), p["n"]), lambda rng, p, n: p["n"] + ints(rng, 1, 5, n), lambda p: ("p", dict(p, p=p["p"] + 1.0))),
    Spec("ZeroInflatedNegativeBinomial", lambda p: D(pm.ZeroInflatedNegativeBinomial, p["psi"], p["mu"], p["alpha"]),
         lambda rng, n: {"psi": U(rng, 0.01, 0.99, n), "mu": U(rng, 0.01, 50, n), "alpha": U(rng, 0.1, 10, n)},
         lambda rng, p, n: ints(rng, 0, 100, n), lambda rng, p, n: -ints(rng, 1, 10, n), neg("alpha")),
    Spec("HurdlePoisson", lambda p: D(pm.HurdlePoisson, p["psi"], p["mu"]), lambda rng, n: {"psi": U(rng, 0.01, 0.99, n), "mu": U(rng, 0.01, 50, n)},
         lambda rng, p, n: ints(rng, 0, 100, n), lambda rng, p, n: -ints(rng, 1, 10, n), neg("mu")),
    Spec("HurdleNegativeBinomial", lambda p: D(pm.HurdleNegativeBinomial, p["psi"], p["mu"], p["alpha"]),
         lambda rng, n: {"psi": U(rng, 0.01, 0.99, n), "mu": U(rng, 0.01, 50, n), "alpha": U(rng, 0.1, 10, n)},
         lambda rng, p, n: ints(rng, 0, 100, n), lambda rng, p, n: -ints(rng, 1, 10, n), lambda p: ("psi", dict(p, psi=p["psi"] + 1.0))),
    Spec("HurdleGamma", lambda p: D(pm.HurdleGamma, p["psi"], alpha=p["alpha"], beta=p["beta"]),
         lambda rng, n: {"psi": U(rng, 0.01, 0.99, n), "alpha": U(rng, 0.5, 10, n), "beta": U(rng, 0.1, 10, n)},
         lambda rng, p, n: with_zeros(rng, pos_inside(rng, p, n), n), pos_outside, neg("beta")),
    Spec("HurdleLogNormal", lambda p: D(pm.HurdleLogNormal, p["psi"], mu=p["mu"], sigma=p["sigma"]),
         lambda rng, n: {"psi": U(rng, 0.01, 0.99, n), "mu": U(rng, -2, 2, n), "sigma": U(rng, 0.1, 2, n)},
         lambda rng, p, n: with_zeros(rng, pos_inside(rng, p, n), n), pos_outside, neg("sigma")),
    Spec("OrderedLogistic", lambda p: D(pm.OrderedLogistic, p["eta"], p["cutpoints"]),
         lambda rng, n: {"eta": U(rng, -5, 5, n), "cutpoints": cuts(rng, n)},
         lambda rng, p, n: rng.integers(0, p["cutpoints"].shape[-1] + 1, size=n).astype("int64"),
         lambda rng, p, n: np.where(rng.random(n) < 0.5, -1, p["cutpoints"].shape[-1] + 1).astype("int64"), unsorted_cuts),
    Spec("OrderedProbit", lambda p: D(pm.OrderedProbit, p["eta"], p["cutpoints"], p["sigma"]),
         lambda rng, n: {"eta": U(rng, -5, 5, n), "cutpoints": cuts(rng, n), "sigma": U(rng, 0.2, 5, n)},
         lambda rng, p, n: rng.integers(0, p["cutpoints"].shape[-1] + 1, size=n).astype("int64"),
         lambda rng, p, n: np.where(rng.random(n) < 0.5, -1, p["cutpoints"].shape[-1] + 1).astype("int64"), neg("sigma")),
    Spec("OrderedMultinomial", lambda p: D(pm.OrderedMultinomial, p["eta"], p["cutpoints"], p["n"]),
         lambda rng, n: {"eta": U(rng, -5, 5, n), "cutpoints": cuts(rng, n, 1, 3), "n": ints(rng, 0, 20, n)},
         lambda rng, p, n: counts_inside(rng, p, n, p["cutpoints"].shape[-1] + 1),
         lambda rng, p, n: bump_first(counts_inside(rng, p, n, p["cutpoints"].shape[-1] + 1)), None),
    Spec("DirichletMultinomial", lambda p: D(pm.DirichletMultinomial, p["n"], p["a"]),
         lambda rng, n: {"n": ints(rng, 0, 20, n), "a": U(rng, 0.2, 5, (n, int(rng.integers(2, 5))))},
         lambda rng, p, n: counts_inside(rng, p, n, p["a"].shape[-1]),
         lambda rng, p, n: bump_first(counts_inside(rng, p, n, p["a"].shape[-1])), neg("a")),
    Spec("ZeroSumNormal", lambda p: D(pm.ZeroSumNormal, sigma=p["sigma"][:, None], support_shape=(ZSN_K,)),
         lambda rng, n: {"sigma": U(rng, 0.1, 10, n)},
         lambda rng, p, n: (lambda x: x - x.mean(-1, keepdims=True))(U(rng, -20, 20, (n, ZSN_K))),
         lambda rng, p, n: U(rng, 1, 5, (n, ZSN_K)), neg("sigma")),
    Spec("LKJCorr", lambda p: D(pm.LKJCorr, n=ZSN_K, eta=p["eta"], size=p["_n"]), lambda rng, n: {"eta": U(rng, 0.2, 10, None)},
         lambda rng, p, n: packed_corr(rng, n, ZSN_K), lambda rng, p, n: packed_corr(rng, n, ZSN_K) + 1.5, neg("eta"), sized=True),
    Spec("LKJCholeskyCov", lambda p: D(pm.LKJCholeskyCov, eta=p["eta"], n=ZSN_K, sd_dist=pm.Exponential.dist(1.0), compute_corr=False, size=p["_n"]),
         lambda rng, n: {"eta": U(rng, 0.2, 10, None)},
         lambda rng, p, n: packed_chol(rng, n, ZSN_K), lambda rng, p, n: -packed_chol(rng, n, ZSN_K), neg("eta"), sized=True),
    Spec("StickBreakingWeights", lambda p: D(pm.StickBreakingWeights, p["alpha"], ZSN_K), lambda rng, n: {"alpha": U(rng, 0.2, 10, n)},
         lambda rng, p, n: simplex(rng, (n, ZSN_K + 1)), lambda rng, p, n: 1.5 * simplex(rng, (n, ZSN_K + 1)), neg("alpha")),
    Spec("CAR", lambda p: D(pm.CAR, p["mu"], p["W"], p["alpha"], p["tau"]),
         lambda rng, n: (lambda k: {"mu": U(rng, -5, 5, (n, k)), "W": ring(rng, k), "alpha": U(rng, -0.9, 0.9, None), "tau": U(rng, 0.1, 5, None)})(int(rng.integers(3, 6))),
         lambda rng, p, n: U(rng, -20, 20, p["mu"].shape), None, lambda p: ("alpha", dict(p, alpha=np.float64(1.5)))),
    Spec("ICAR", lambda p: D(pm.ICAR, p["W"], p["sigma"], size=p["_n"]),
         lambda rng, n: {"W": ring(rng, int(rng.integers(3, 6))), "sigma": U(rng, 0.2, 5, None)},
         lambda rng, p, n: U(rng, -20, 20, (n, len(p["W"]))), None, neg("sigma"), sized=True),
    Spec("MatrixNormal", lambda p: D(pm.MatrixNormal, p["mu"], rowchol=p["rowchol"], colchol=p["colchol"]),
         lambda rng, n: (lambda r, c: {"mu": U(rng, -5, 5, (n, r, c)), "rowchol": chol_of(rng, r), "colchol": chol_of(rng, c)})(int(rng.integers(1, 4)), int(rng.integers(1, 4))),
         lambda rng, p, n: U(rng, -20, 20, p["mu"].shape), None,
         lambda p: ("colchol", dict(p, colchol=p["colchol"] * np.where(np.eye(len(p["colchol"])) > 0, -1.0, 1.0)))),
    Spec("KroneckerNormal", lambda p: D(pm.KroneckerNormal, p["mu"], covs=[p["cov_a"], p["cov_b"]], sigma=p["sigma"]),
         lambda rng, n: (lambda a, b: {"mu": U(rng, -5, 5, (n, a * b)), "cov_a": spd(rng, a), "cov_b": spd(rng, b), "sigma": U(rng, 0, 2, None)})(int(rng.integers(1, 4)), int(rng.integers(1, 4))),
         lambda rng, p, n: U(rng, -20, 20, p["mu"].shape), None, neg("sigma")),
    Spec("Wishart", lambda p: D(pm.Wishart, p["nu"], p["V"]),
         lambda rng, n: (lambda k: {"nu": k - 1 + U(rng, 0.5, 10, n), "V": spd(rng, k)})(int(rng.integers(1, 4))),
         lambda rng, p, n: spd(rng, len(p["V"]), (n,)), lambda rng, p, n: -spd(rng, len(p["V"]), (n,)),
         lambda p: ("nu", dict(p, nu=np.full_like(p["nu"], len(p["V"]) - 1.5)))),
    Spec("MvStudentT", lambda p: D(pm.MvStudentT, nu=p["nu"], mu=p["mu"], chol=p["chol"]),
         lambda rng, n: (lambda k: {"nu": U(rng, 0.5, 30, n), "mu": U(rng, -5, 5, (n, k)), "chol": chol_of(rng, k)})(int(rng.integers(1, 4))),
         lambda rng, p, n: U(rng, -20, 20, (n, p["chol"].shape[-1])), None, neg("nu")),
    Spec("RandomWalk", lambda p: D(pm.RandomWalk, init_dist=pm.Normal.dist(p["mu0"], 1.0), innovation_dist=pm.Normal.dist(p["mu"], p["sigma"]), steps=STEPS),
         lambda rng, n: {"mu0": U(rng, -5, 5, n), "mu": U(rng, -1, 1, n), "sigma": U(rng, 0.5, 5, n)},
         lambda rng, p, n: series(rng, n, STEPS + 1), None, None),
    Spec("GaussianRandomWalk", lambda p: D(pm.GaussianRandomWalk, p["mu"], p["sigma"], init_dist=pm.Normal.dist(0.0, 10.0), steps=STEPS),
         lambda rng, n: {"mu": U(rng, -1, 1, n), "sigma": U(rng, 0.5, 5, n)}, lambda rng, p, n: series(rng, n, STEPS + 1), None, neg("sigma")),
    Spec("MvGaussianRandomWalk", lambda p: D(pm.MvGaussianRandomWalk, p["mu"], chol=p["chol"], init_dist=pm.MvNormal.dist(np.zeros(2), cov=np.eye(2) * 10.0), steps=STEPS),
         lambda rng, n: {"mu": U(rng, -1, 1, (n, 2)), "chol": chol_of(rng, 2)},
         lambda rng, p, n: U(rng, -20, 20, (n, STEPS + 1, 2)), None,
         lambda p: ("chol", dict(p, chol=p["chol"] * np.where(np.eye(2) > 0, -1.0, 1.0)))),
    Spec("MvStudentTRandomWalk", lambda p: D(pm.MvStudentTRandomWalk, p["nu"], p["mu"], chol=p["chol"], init_dist=pm.MvNormal.dist(np.zeros(2), cov=np.eye(2) * 10.0), steps=STEPS),
         lambda rng, n: {"nu": U(rng, 1, 30, n), "mu": U(rng, -1, 1, (n, 2)), "chol": chol_of(rng, 2)},
         lambda rng, p, n: U(rng, -20, 20, (n, STEPS + 1, 2)), None, neg("nu")),
    Spec("EulerMaruyama", lambda p: D(pm.EulerMaruyama, p["dt"], _ou, (p["k"],), init_dist=pm.Normal.dist(0.0, 10.0), steps=STEPS),
         lambda rng, n: {"dt": U(rng, 0.01, 1, None), "k": U(rng, 0.1, 3, n)}, lambda rng, p, n: series(rng, n, STEPS + 1), None, neg("dt")),
    Spec("AR", lambda p: D(pm.AR, p["rho"], p["sigma"], init_dist=pm.Normal.dist(0.0, 10.0), steps=STEPS, ar_order=2),
         lambda rng, n: {"rho": U(rng, -0.6, 0.6, (n, 2)), "sigma": U(rng, 0.5, 5, n)}, lambda rng, p, n: series(rng, n, STEPS + 2), None, neg("sigma")),
    Spec("GARCH11", lambda p: D(pm.GARCH11, p["omega"], p["alpha_1"], p["beta_1"], p["initial_vol"], steps=STEPS),
         lambda rng, n: {"omega": U(rng, 0.05, 2, n), "alpha_1": U(rng, 0, 0.5, n), "beta_1": U(rng, 0, 0.5, n), "initial_vol": U(rng, 0.2, 3, n)},
         lambda rng, p, n: series(rng, n, STEPS + 1), None, neg("omega")),
]
SPEC_BY_NAME = {s.name: s for s in SPECS}


def test_every_distribution_has_a_spec():
    import symvi.distributions as d

    # by class name: an alias (DensityDist = CustomDist) is the same class
    public = {getattr(d, n).__name__ for n in dir(d) if isinstance(getattr(d, n), type) and issubclass(getattr(d, n), d.Distribution)}
    public -= {"Distribution", "Continuous", "Discrete", "Mixture"}
    covered = {s.name for s in SPECS} | {"Mixture[Gamma,Exponential]"}
    assert public <= covered, f"no fuzz spec for {sorted(public - covered)}"


_compiled: dict = {}


def compiled(spec: Spec, params: dict, n: int):
    """(draw_fn, logp_fn, rngs) for symbolic parameters of these ranks and dtypes (cached)."""
    key = (spec.name, tuple((k, np.ndim(v), np.asarray(v).dtype.str) for k, v in sorted(params.items())), n if not params or spec.sized else None)
    if not spec.symbolic:  # constants: one compile per example (key by value)
        key = (spec.name, n, tuple((k, np.asarray(v).tobytes()) for k, v in sorted(params.items())))
    if key not in _compiled:
        if spec.symbolic:
            sym = {k: pt.tensor(k, dtype=np.asarray(v).dtype, shape=(None,) * np.ndim(v)) for k, v in params.items()}
        else:
            sym = {}
        rv = spec.build({**params, **sym, "_n": n})
        info = dist_info(rv)
        value = pt.tensor("value", dtype=rv.dtype, shape=(None,) * rv.ndim)
        inputs = [sym[k] for k in sorted(sym)]
        draw_fn = compile_fn(inputs, [rv, info.logp(rv)], mode=ONE_SHOT_MODE)
        logp_fn = compile_fn(inputs + [value], info.logp(value), mode=ONE_SHOT_MODE)
        _compiled[key] = (draw_fn, logp_fn, find_rngs([rv]))
    return _compiled[key]


@st.composite
def dist_examples(draw):
    spec = draw(st.sampled_from(SPECS))
    n = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    return spec, n, seed


def check_distribution(spec: Spec, n: int, seed: int):
    rng = np.random.default_rng(seed)
    params = spec.params(rng, n)
    draw_fn, logp_fn, rngs = compiled(spec, params, n)
    args = [params[k] for k in sorted(params)] if spec.symbolic else []
    reseed_rngs(rngs, seed)
    x, lp_x = draw_fn(*args)
    assert x.shape[:1] == (n,), f"{spec.name}: draw shape {x.shape} for a batch of {n}"
    assert np.all(np.isfinite(lp_x)), f"{spec.name}{params}: draw {x} has logp {lp_x}"
    inside = spec.inside(rng, params, n)
    lp_in = logp_fn(*args, np.asarray(inside, dtype=x.dtype))
    assert np.shape(lp_in) == (n,) and np.all(np.isfinite(lp_in)), f"{spec.name}{params}: logp({inside}) = {lp_in}"
    if spec.outside is not None:
        outside = spec.outside(rng, params, n)
        mask = ~np.isnan(outside) if outside.dtype.kind == "f" and outside.ndim == 1 else np.ones(n, bool)
        lp_out = logp_fn(*args, np.nan_to_num(np.asarray(outside)).astype(x.dtype))
        assert np.all(lp_out[mask] == -np.inf), f"{spec.name}{params}: logp({outside}) = {lp_out}, expected -inf"
    if spec.invalid is not None:
        name, bad = spec.invalid(params)
        if spec.symbolic:  # symbolic parameters: the log density is -inf everywhere
            lp_bad = logp_fn(*[bad[k] for k in sorted(bad)], np.asarray(inside, dtype=x.dtype))
            assert np.all(lp_bad == -np.inf), f"{spec.name}: invalid {name}={bad[name]} gave logp {lp_bad}"
        # constant parameters: ValueError at build time, naming the parameter
        # (the name as a word: a component's error reads "MvNormal MvGaussianRandomWalk.dist ...")
        with pytest.raises(ValueError, match=rf"{spec.name.split('[')[0]}\b.*parameter .*{name}"):
            spec.build({**bad, "_n": n})
    # constant valid parameters build fine
    assert dist_info(spec.build({**params, "_n": n})) is not None


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
@settings(settings.get_profile("symvi-fuzz"), max_examples=6)
@given(n=st.integers(1, 4), seed=st.integers(0, 2**32 - 1))
def test_fuzz_distributions(spec, n, seed):
    check_distribution(spec, n, seed)


@pytest.mark.slow
@SLOW
@given(dist_examples())
def test_fuzz_distributions_slow(example):
    check_distribution(*example)


# ---------------------------------------------------------------------- garbage parameters
GARBAGE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-10, 10),
    st.lists(st.floats(-5, 5), min_size=0, max_size=3),
    st.lists(st.lists(st.floats(-5, 5), min_size=1, max_size=2), min_size=1, max_size=2),
    st.sampled_from([None, "abc", {"a": 1}, object(), np.array([1.0, np.nan]), np.zeros((2, 3)), True]),
)


@st.composite
def garbage_examples(draw):
    spec = draw(st.sampled_from([s for s in SPECS if s.invalid is not None]))
    params = spec.params(np.random.default_rng(draw(st.integers(0, 1000))), draw(st.integers(1, 3)))
    names = sorted(params)
    bad = dict(params)
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True)):
        bad[name] = draw(GARBAGE)
    observed = draw(st.one_of(st.none(), GARBAGE))
    return spec, bad, observed


def check_garbage(spec: Spec, bad: dict, observed):
    """A model variable built from garbage raises a documented error, or works end to end."""
    try:
        with pm.Model() as model:
            _REGISTER.update(name="x", observed=observed)
            try:
                with np.errstate(all="ignore"):
                    spec.build({**bad, "_n": 2})
            finally:
                _REGISTER.clear()
            model.logp()
            point_logps(model, model.initial_point(), mode=ONE_SHOT_MODE)
    except DOCUMENTED:
        return


@GARBAGE_FAST
@given(garbage_examples())
def test_fuzz_garbage_parameters_raise_only_documented_errors(example):
    check_garbage(*example)


@pytest.mark.slow
@SLOW
@given(garbage_examples())
def test_fuzz_garbage_parameters_slow(example):
    check_garbage(*example)


# ---------------------------------------------------------------------- random models
LATENTS = [
    ("Normal", lambda name, parent, shape: pm.Normal(name, parent, 2.0, shape=shape)),
    ("HalfNormal", lambda name, parent, shape: pm.HalfNormal(name, 1.0 + pm.math.abs(parent), shape=shape)),
    ("Gamma", lambda name, parent, shape: pm.Gamma(name, 2.0, 1.0 + pm.math.exp(-pm.math.abs(parent)), shape=shape)),
    ("Beta", lambda name, parent, shape: pm.Beta(name, 2.0, 3.0, shape=shape)),
    ("Uniform", lambda name, parent, shape: pm.Uniform(name, -1.0, 2.0, shape=shape)),
    ("LogNormal", lambda name, parent, shape: pm.LogNormal(name, 0.1 * parent, 0.5, shape=shape)),
    ("StudentT", lambda name, parent, shape: pm.StudentT(name, 4.0, parent, 1.0, shape=shape)),
    ("Exponential", lambda name, parent, shape: pm.Exponential(name, 1.0, shape=shape)),
    ("TruncatedNormal", lambda name, parent, shape: pm.TruncatedNormal(name, parent, 1.0, lower=-1.0, upper=3.0, shape=shape)),
    ("Dirichlet", lambda name, parent, shape: pm.Dirichlet(name, np.ones(3), shape=(*shape, 3))),
    ("MvNormal", lambda name, parent, shape: pm.MvNormal(name, np.zeros(2), cov=np.eye(2) * 2.0, shape=(*shape, 2))),
]


@st.composite
def model_examples(draw):
    n_vars = draw(st.integers(1, 5))
    latents = [draw(st.sampled_from(LATENTS)) for _ in range(n_vars)]
    shapes = [draw(st.sampled_from([(), (1,), (3,)])) for _ in range(n_vars)]
    parents = [draw(st.integers(-1, i - 1)) for i in range(n_vars)]
    obs = draw(st.sampled_from([None, "Normal", "Poisson"]))
    n_obs = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    return latents, shapes, parents, obs, n_obs, seed


def build_model(latents, shapes, parents, obs, n_obs, seed):
    rng = np.random.default_rng(seed)
    with pm.Model() as model:
        made = []
        for i, ((kind, make), shape, parent) in enumerate(zip(latents, shapes, parents)):
            par = pm.math.sum(made[parent]) if parent >= 0 else 0.0
            made.append(make(f"v{i}_{kind}", par, shape))
        total = sum(pm.math.sum(v) for v in made)
        if obs == "Normal":
            pm.Normal("y", 0.1 * total, 1.0, observed=rng.normal(size=n_obs))
        elif obs == "Poisson":
            pm.Poisson("y", pm.math.exp(pm.math.clip(0.1 * total, -5, 5)), observed=rng.poisson(2.0, size=n_obs))
    return model


def check_model(example):
    model = build_model(*example)
    rng = np.random.default_rng(example[-1])
    ip = model.initial_point()
    assert all(np.all(np.isfinite(v)) for v in ip.values())
    terms = compile_logp(model, sum=False, mode=ONE_SHOT_MODE)  # one value per variable
    dlogp = compile_dlogp(model, mode=ONE_SHOT_MODE)
    for scale in (0.0, 0.5):
        point = {k: v + scale * rng.normal(size=np.shape(v)) for k, v in ip.items()}
        values = terms(point)
        assert all(np.all(np.isfinite(v)) for v in values), (point, values)
        assert np.all(np.isfinite(dlogp(point))), point
    return model


@MODELS_FAST
@given(model_examples())
def test_fuzz_random_models_logp(example):
    check_model(example)


@pytest.mark.slow
@SLOW
@given(model_examples())
def test_fuzz_random_models_logp_slow(example):
    check_model(example)


def check_fit(example):
    model = build_model(*example)
    with model:
        approx = pm.fit(15, random_seed=example[-1], progressbar=False, obj_optimizer=pm.adam(learning_rate=0.01))
    assert len(approx.hist) == 15 and np.all(np.isfinite(approx.hist))
    draws = approx.sample(5, random_seed=1, return_inferencedata=False)
    assert all(np.all(np.isfinite(v)) for v in draws.values())


@FIT_FAST
@given(model_examples())
def test_fuzz_random_models_fit(example):
    check_fit(example)


@pytest.mark.slow
@FIT_SLOW
@given(model_examples())
def test_fuzz_random_models_fit_slow(example):
    check_fit(example)
