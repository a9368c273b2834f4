"""Four posteriordb posteriors as models, and the accuracy metrics against their references.

Shared by ``benchmarks/accuracy.py`` (symvi and, through its worker, PyMC 5.28) and the tests.
Only numpy and the standard library are imported at module level, so the PyMC interpreter
can use it too: every builder takes the modelling module (``symvi`` or ``pymc``) as ``pm``.

Data and references live in ``shared/posteriordb`` beside the repository (or
``$SYMVI_POSTERIORDB``); see its README for each model written out in math.

Example
-------
>>> import symvi
>>> data, ref = load("kidiq")                          # doctest: +SKIP
>>> model = build("kidiq", data, symvi)                 # doctest: +SKIP
>>> errors = accuracy({"beta": draws_beta, "sigma": draws_sigma}, ref)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

__all__ = ["POSTERIORS", "default_root", "load", "build", "param_draws", "accuracy"]

#: short name -> posteriordb folder
POSTERIORS = {
    "eight_schools": "eight_schools-eight_schools_noncentered",
    "kidiq": "kidiq-kidscore_momiq",
    "low_dim_gauss_mix": "low_dim_gauss_mix-low_dim_gauss_mix",
    "sblrc": "sblrc-blr",
}


def default_root() -> Path:
    """``$SYMVI_POSTERIORDB``, else ``shared/posteriordb`` beside the repository."""
    env = os.environ.get("SYMVI_POSTERIORDB")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "posteriordb"


def load(name: str, root: Path | str | None = None) -> tuple[dict, dict]:
    """(data, reference parameters ``{"theta[1]": {"mean", "sd", "q05", "q95"}, ...}``)."""
    folder = Path(root or default_root()) / POSTERIORS.get(name, name)
    data = json.loads((folder / "data.json").read_text())
    ref = json.loads((folder / "reference.json").read_text())["parameters"]
    return data, ref


def _ordered(pm):
    """The ordered-vector transform of ``pm`` (symvi or pymc)."""
    transforms = getattr(pm, "transforms", None)
    if transforms is None or not hasattr(transforms, "ordered"):
        from pymc.distributions import transforms  # noqa: PLC0415 - only in the PyMC interpreter
    return transforms.ordered


def build(name: str, data: dict, pm):
    """The posterior ``name`` (a key of :data:`POSTERIORS`) as a ``pm.Model`` (symvi or pymc).

    Free variables and Deterministics carry the reference's parameter names (without the
    ``[i]`` index): ``theta``/``mu``/``tau``, ``beta``/``sigma``, ``mu``/``sigma``/``theta``.
    """
    name = {v: k for k, v in POSTERIORS.items()}.get(name, name)
    with pm.Model() as model:
        if name == "eight_schools":
            J = int(data["J"])
            theta_trans = pm.Normal("theta_trans", 0.0, 1.0, shape=J)
            mu = pm.Normal("mu", 0.0, 5.0)
            tau = pm.HalfCauchy("tau", 5.0)
            theta = pm.Deterministic("theta", mu + tau * theta_trans)
            pm.Normal("y", theta, np.asarray(data["sigma"], dtype="float64"), observed=np.asarray(data["y"], dtype="float64"))
        elif name == "kidiq":
            beta = pm.Flat("beta", shape=2)
            sigma = pm.HalfCauchy("sigma", 2.5)
            mom_iq = np.asarray(data["mom_iq"], dtype="float64")
            pm.Normal("kid_score", beta[0] + beta[1] * mom_iq, sigma, observed=np.asarray(data["kid_score"], dtype="float64"))
        elif name == "sblrc":
            X = np.asarray(data["X"], dtype="float64")
            beta = pm.Normal("beta", 0.0, 10.0, shape=X.shape[1])
            sigma = pm.HalfNormal("sigma", 10.0)
            pm.Normal("y", pm.math.dot(X, beta), sigma, observed=np.asarray(data["y"], dtype="float64"))
        elif name == "low_dim_gauss_mix":
            mu = pm.Normal("mu", 0.0, 2.0, shape=2, transform=_ordered(pm), initval=np.array([-1.0, 1.0]))
            sigma = pm.HalfNormal("sigma", 2.0, shape=2)
            theta = pm.Beta("theta", 5.0, 5.0)
            w = pm.math.stack([theta, 1.0 - theta])
            pm.NormalMixture("y", w=w, mu=mu, sigma=sigma, observed=np.asarray(data["y"], dtype="float64"))
        else:
            raise KeyError(f"unknown posterior {name!r}; choose one of {sorted(POSTERIORS)}")
    return model


_INDEXED = re.compile(r"^(\w+)\[(\d+)\]$")


def param_draws(draws: dict, ref: dict) -> dict[str, np.ndarray]:
    """``{"beta[1]": 1-d draws, ...}`` for every reference parameter, from ``{"beta": (n, ...)}``."""
    out = {}
    for key in ref:
        m = _INDEXED.match(key)
        if m:
            out[key] = np.asarray(draws[m.group(1)])[:, int(m.group(2)) - 1]
        else:
            out[key] = np.asarray(draws[key]).reshape(-1)
    return out


def accuracy(draws: dict, ref: dict) -> dict:
    """Per-parameter standardised mean error and sd ratio, with their max and median.

    ``draws``: ``{variable name: (n_draws, ...) array}`` of the approximation.  Returns
    ``{"params": {name: {"mean", "sd", "mean_err", "sd_ratio"}}, "max_mean_err",
    "median_mean_err", "median_sd_ratio", "min_sd_ratio", "max_sd_ratio"}``, where ``mean_err = |mean - ref mean| / ref sd`` and
    ``sd_ratio = sd / ref sd``.

    >>> ref = {"x": {"mean": 0.0, "sd": 1.0}}
    >>> a = accuracy({"x": np.array([-1.0, 1.0])}, ref)
    >>> a["max_mean_err"], a["median_sd_ratio"]
    (0.0, 1.0)
    """
    per = {}
    for key, x in param_draws(draws, ref).items():
        r = ref[key]
        m, s = float(np.mean(x)), float(np.std(x))
        per[key] = {"mean": m, "sd": s, "mean_err": abs(m - r["mean"]) / r["sd"], "sd_ratio": s / r["sd"]}
    errs = np.array([p["mean_err"] for p in per.values()])
    ratios = np.array([p["sd_ratio"] for p in per.values()])
    return {
        "params": per,
        "max_mean_err": float(errs.max()),
        "median_mean_err": float(np.median(errs)),
        "median_sd_ratio": float(np.median(ratios)),
        "min_sd_ratio": float(ratios.min()),
        "max_sd_ratio": float(ratios.max()),
    }
