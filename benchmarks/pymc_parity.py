"""Model log densities of symvi and PyMC 5.28.5 side by side, one-variable models.

Usage::

    python benchmarks/pymc_parity.py [--pymc-python /tmp/venv-pymc/bin/python]

The same source builds each model under ``import symvi as pm`` and under ``import pymc as
pm``: ``with pm.Model() as m: <Dist>("y", <params>, observed=<value>)`` and evaluates
``m.compile_logp()(m.initial_point())``.  Values are fixed, parameters are float64 arrays
(PyMC turns python floats into float32 constants, which alone would move its answers by
~1e-7).  Prints one line per case and the count that agree to 1e-6 relative; cases that a
framework cannot build are listed with the error.  LKJCorr / LKJCholeskyCov are left out
on purpose: PyMC 5.28.5 adds the LKJ normalising constant with the wrong sign (its n = 2
density integrates to 4), symvi's integrates to 1 (tests/test_dist_lkj.py asserts the exact
relation between the two).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

F = "np.float64"
CASES = [
    ("Normal", f"pm.Normal('y', {F}(0.5), {F}(2.0), observed=np.array([0.1, -1.0, 3.0]))"),
    ("HalfNormal", f"pm.HalfNormal('y', {F}(2.0), observed=np.array([0.1, 3.0]))"),
    ("StudentT", f"pm.StudentT('y', nu={F}(3.0), mu={F}(0.5), sigma={F}(2.0), observed=np.array([0.1, -4.0]))"),
    ("Cauchy", f"pm.Cauchy('y', {F}(0.5), {F}(2.0), observed=np.array([0.1, -4.0]))"),
    ("Laplace", f"pm.Laplace('y', {F}(0.5), {F}(2.0), observed=np.array([0.1, -4.0]))"),
    ("Logistic", f"pm.Logistic('y', {F}(0.5), {F}(2.0), observed=np.array([0.1, -4.0]))"),
    ("Gamma", f"pm.Gamma('y', {F}(2.0), {F}(3.0), observed=np.array([0.1, 2.5]))"),
    ("InverseGamma", f"pm.InverseGamma('y', {F}(2.0), {F}(3.0), observed=np.array([0.1, 2.5]))"),
    ("Exponential", f"pm.Exponential('y', {F}(2.0), observed=np.array([0.1, 2.5]))"),
    ("LogNormal", f"pm.LogNormal('y', {F}(0.5), {F}(0.8), observed=np.array([0.1, 2.5]))"),
    ("Weibull", f"pm.Weibull('y', {F}(1.5), {F}(2.0), observed=np.array([0.1, 2.5]))"),
    ("Pareto", f"pm.Pareto('y', {F}(2.5), {F}(1.0), observed=np.array([1.1, 2.5]))"),
    ("ChiSquared", f"pm.ChiSquared('y', {F}(3.0), observed=np.array([0.1, 2.5]))"),
    ("Wald", f"pm.Wald('y', {F}(1.5), {F}(2.0), observed=np.array([0.1, 2.5]))"),
    ("HalfCauchy", f"pm.HalfCauchy('y', {F}(2.0), observed=np.array([0.1, 2.5]))"),
    ("HalfStudentT", f"pm.HalfStudentT('y', {F}(3.0), {F}(2.0), observed=np.array([0.1, 2.5]))"),
    ("Beta", f"pm.Beta('y', {F}(2.0), {F}(3.0), observed=np.array([0.1, 0.7]))"),
    ("Uniform", f"pm.Uniform('y', {F}(-1.0), {F}(2.0), observed=np.array([0.1, 1.7]))"),
    ("TruncatedNormal", f"pm.TruncatedNormal('y', {F}(0.5), {F}(2.0), lower={F}(-1.0), upper={F}(2.0), observed=np.array([0.1, 1.7]))"),
    ("AsymmetricLaplace", f"pm.AsymmetricLaplace('y', {F}(1.5), {F}(0.7), {F}(0.3), observed=np.array([0.1, -2.0]))"),
    ("ExGaussian", f"pm.ExGaussian('y', mu={F}(0.5), sigma={F}(1.0), nu={F}(2.0), observed=np.array([0.1, 4.0]))"),
    ("Gumbel", f"pm.Gumbel('y', {F}(0.5), {F}(2.0), observed=np.array([0.1, -3.0]))"),
    ("Kumaraswamy", f"pm.Kumaraswamy('y', {F}(2.0), {F}(3.0), observed=np.array([0.1, 0.7]))"),
    ("LogitNormal", f"pm.LogitNormal('y', {F}(0.3), {F}(1.2), observed=np.array([0.1, 0.7]))"),
    ("Moyal", f"pm.Moyal('y', {F}(0.5), {F}(2.0), observed=np.array([0.1, 4.0]))"),
    ("Rice", f"pm.Rice('y', {F}(1.5), {F}(2.0), observed=np.array([0.1, 4.0]))"),
    ("SkewNormal", f"pm.SkewNormal('y', {F}(0.5), {F}(2.0), {F}(3.0), observed=np.array([0.1, -1.0]))"),
    ("SkewStudentT", f"pm.SkewStudentT('y', a={F}(2.0), b={F}(3.0), mu={F}(0.5), sigma={F}(2.0), observed=np.array([0.1, -1.0]))"),
    ("Triangular", f"pm.Triangular('y', lower={F}(0.0), c={F}(0.4), upper={F}(2.0), observed=np.array([0.1, 1.7]))"),
    ("VonMises", f"pm.VonMises('y', {F}(0.5), {F}(2.0), observed=np.array([0.1, -2.0]))"),
    ("Interpolated", "pm.Interpolated('y', np.array([0.0, 1.0, 2.0, 4.0]), np.array([0.2, 1.0, 0.5, 0.1]), observed=np.array([0.5, 3.0]))"),
    ("Poisson", f"pm.Poisson('y', {F}(2.5), observed=np.array([0, 3, 7]))"),
    ("Binomial", f"pm.Binomial('y', 10, {F}(0.3), observed=np.array([0, 3, 10]))"),
    ("Bernoulli", f"pm.Bernoulli('y', {F}(0.3), observed=np.array([0, 1, 1]))"),
    ("NegativeBinomial", f"pm.NegativeBinomial('y', {F}(2.5), {F}(1.5), observed=np.array([0, 3, 7]))"),
    ("Geometric", f"pm.Geometric('y', {F}(0.3), observed=np.array([1, 3, 7]))"),
    ("BetaBinomial", f"pm.BetaBinomial('y', {F}(2.0), {F}(3.0), 10, observed=np.array([0, 3, 10]))"),
    ("DiscreteUniform", "pm.DiscreteUniform('y', 2, 9, observed=np.array([2, 5, 9]))"),
    ("Categorical", "pm.Categorical('y', np.array([0.2, 0.5, 0.3]), observed=np.array([0, 2, 1]))"),
    ("DiscreteWeibull", f"pm.DiscreteWeibull('y', {F}(0.6), {F}(1.5), observed=np.array([0, 3]))"),
    ("HyperGeometric", "pm.HyperGeometric('y', 20, 7, 9, observed=np.array([0, 3, 7]))"),
    ("ZeroInflatedPoisson", f"pm.ZeroInflatedPoisson('y', {F}(0.7), {F}(2.5), observed=np.array([0, 3, 7]))"),
    ("ZeroInflatedBinomial", f"pm.ZeroInflatedBinomial('y', {F}(0.7), 10, {F}(0.3), observed=np.array([0, 3, 10]))"),
    ("ZeroInflatedNegativeBinomial", f"pm.ZeroInflatedNegativeBinomial('y', {F}(0.7), {F}(2.5), {F}(1.5), observed=np.array([0, 3, 7]))"),
    ("HurdlePoisson", f"pm.HurdlePoisson('y', {F}(0.7), {F}(2.5), observed=np.array([0, 3, 7]))"),
    ("HurdleNegativeBinomial", f"pm.HurdleNegativeBinomial('y', {F}(0.7), {F}(2.5), {F}(1.5), observed=np.array([0, 3, 7]))"),
    ("HurdleGamma", f"pm.HurdleGamma('y', {F}(0.7), {F}(2.0), {F}(3.0), observed=np.array([0.0, 0.5, 2.0]))"),
    ("HurdleLogNormal", f"pm.HurdleLogNormal('y', {F}(0.7), {F}(0.5), {F}(0.8), observed=np.array([0.0, 0.5, 2.0]))"),
    ("OrderedLogistic", f"pm.OrderedLogistic('y', {F}(0.4), np.array([-1.0, 0.5, 2.0]), observed=np.array([0, 2, 3]))"),
    ("OrderedProbit", f"pm.OrderedProbit('y', {F}(0.4), np.array([-1.0, 0.5, 2.0]), {F}(1.5), observed=np.array([0, 2, 3]))"),
    ("MvNormal", "pm.MvNormal('y', np.array([0.5, -1.0]), cov=np.array([[2.0, 0.3], [0.3, 1.0]]), observed=np.array([[0.1, 0.2], [1.0, -2.0]]))"),
    ("MvStudentT", f"pm.MvStudentT('y', nu={F}(4.0), mu=np.array([0.5, -1.0]), scale=np.array([[2.0, 0.3], [0.3, 1.0]]), observed=np.array([[0.1, 0.2], [1.0, -2.0]]))"),
    ("Dirichlet", "pm.Dirichlet('y', np.array([2.0, 3.0, 1.5]), observed=np.array([0.2, 0.5, 0.3]))"),
    ("Multinomial", "pm.Multinomial('y', 10, np.array([0.2, 0.5, 0.3]), observed=np.array([2, 5, 3]))"),
    ("DirichletMultinomial", "pm.DirichletMultinomial('y', 10, np.array([2.0, 3.0, 1.5]), observed=np.array([2, 5, 3]))"),
    ("MatrixNormal", "pm.MatrixNormal('y', np.zeros((2, 3)), rowcov=np.array([[2.0, 0.3], [0.3, 1.0]]), colcov=np.eye(3) * 1.5, observed=np.arange(6.0).reshape(2, 3) / 5)"),
    ("Wishart", f"pm.Wishart('y', {F}(4.0), np.array([[2.0, 0.3], [0.3, 1.0]]), observed=np.array([[3.0, 0.5], [0.5, 2.0]]))"),
    ("ZeroSumNormal", f"pm.ZeroSumNormal('y', {F}(1.5), shape=3, observed=np.array([0.5, -0.2, -0.3]))"),
    ("CAR", f"pm.CAR('y', np.zeros(3), np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]), {F}(0.5), {F}(2.0), observed=np.array([0.5, -0.2, 0.3]))"),
    ("ICAR", "pm.ICAR('y', np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]]), observed=np.array([0.5, -0.2, -0.3]))"),
    ("StickBreakingWeights", f"pm.StickBreakingWeights('y', {F}(2.0), 3, observed=np.array([0.3, 0.3, 0.2, 0.2]))"),
    ("GaussianRandomWalk", f"pm.GaussianRandomWalk('y', {F}(0.1), {F}(0.5), init_dist=pm.Normal.dist({F}(0.0), {F}(1.0)), steps=3, observed=np.array([0.5, 0.2, 0.9, 1.0]))"),
    ("AR", f"pm.AR('y', np.array([0.5, -0.2]), {F}(0.7), init_dist=pm.Normal.dist({F}(0.0), {F}(1.0)), steps=3, observed=np.array([0.5, 0.2, 0.9, 1.0, -0.3]))"),
    ("GARCH11", f"pm.GARCH11('y', {F}(0.2), {F}(0.3), {F}(0.5), {F}(1.0), steps=3, observed=np.array([0.5, 0.2, -0.9, 1.0]))"),
    ("Truncated", f"pm.Truncated('y', pm.Normal.dist({F}(0.5), {F}(2.0)), lower={F}(-1.0), upper={F}(2.0), observed=np.array([0.1, 1.7]))"),
    ("Censored", f"pm.Censored('y', pm.Normal.dist({F}(0.5), {F}(2.0)), lower={F}(-1.0), upper={F}(2.0), observed=np.array([-1.0, 0.1, 2.0]))"),
    ("Mixture", f"pm.Mixture('y', np.array([0.3, 0.7]), [pm.Normal.dist({F}(0.0), {F}(1.0)), pm.Normal.dist({F}(2.0), {F}(0.5))], observed=np.array([0.1, 2.2]))"),
    ("NormalMixture", "pm.NormalMixture('y', np.array([0.3, 0.7]), np.array([0.0, 2.0]), np.array([1.0, 0.5]), observed=np.array([0.1, 2.2]))"),
]

WORKER = r'''
import json, sys, warnings
import numpy as np
warnings.simplefilter("ignore")
import {module} as pm
out = {{}}
for name, src in json.loads(sys.stdin.read()):
    try:
        with pm.Model() as m:
            eval(src)
        out[name] = float(m.compile_logp()(m.initial_point()))
    except Exception as err:  # noqa: BLE001 - reported per case
        out[name] = f"{{type(err).__name__}}: {{str(err).splitlines()[0][:100]}}"
print("PARITY" + json.dumps(out))
'''


def run(python: str, module: str) -> dict:
    res = subprocess.run([python, "-c", WORKER.format(module=module)], input=json.dumps(CASES), capture_output=True, text=True, check=False)
    for line in res.stdout.splitlines():
        if line.startswith("PARITY"):
            return json.loads(line[len("PARITY"):])
    raise RuntimeError(f"{module} worker failed:\n{res.stderr[-3000:]}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pymc-python", default="/tmp/venv-pymc/bin/python")
    a = p.parse_args(argv)
    ours, theirs = run(sys.executable, "symvi"), run(a.pymc_python, "pymc")
    agree = 0
    for name, _ in CASES:
        s, t = ours[name], theirs[name]
        if isinstance(s, float) and isinstance(t, float):
            ok = np.isclose(s, t, rtol=1e-6, atol=1e-9) or (np.isinf(s) and s == t)
            agree += bool(ok)
            print(f"{name:30s} symvi {s: .10g}  PyMC {t: .10g}  {'agree' if ok else 'DIFFER'}")
        else:
            print(f"{name:30s} symvi {s}  |  PyMC {t}")
    print(f"\n{agree} of {len(CASES)} one-variable models agree to 1e-6 relative")
    return 0


if __name__ == "__main__":
    import numpy as np

    sys.exit(main())
