"""Catalogue of bad inputs: each case asserts the exception type and that the message names
the variable/argument and what was expected.

The same cases generate ``docs/errors.md`` (``python tests/test_errors.py`` rewrites it);
``test_docs_catalogue_is_current`` fails when a message changed and the docs were not
regenerated.  PyMC 5.28.5 silently accepts several of these inputs (total_size=0 or < 0,
Minibatch batch_size=0, a negative constant sigma, observed data contradicting shape=);
symvi rejects each of them before any compilation.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytensor
import pytest

import symvi as pm

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"


@dataclass(frozen=True)
class Case:
    id: str
    area: str
    what: str  # the bad input, in words (docs)
    call: Callable[[], object]
    exc: type
    match: str  # regex: names the variable/argument and what was expected
    stable: bool = True  # False: the message lists things that grow (registered methods)

    def message(self) -> str:
        with pytest.raises(self.exc) as info:
            self.call()
        return info.value.args[0] if info.value.args else str(info.value)


# ---------------------------------------------------------------------- helpers
def in_model(fn, coords=None):
    """Run ``fn`` inside a fresh model context."""

    def run():
        with pm.Model(coords=coords):
            return fn()

    return run


def one_var_model():
    with pm.Model() as m:
        pm.Normal("x", 0, 1)
    return m


def with_one_var(fn):
    def run():
        with one_var_model():
            return fn()

    return run


def fitted(method="advi"):
    with one_var_model():
        return pm.fit(0, method=method, progressbar=False)


def duplicate(kind):
    def run():
        with pm.Model():
            pm.Normal("x", 0, 1)
            if kind == "rv":
                pm.Normal("x", 0, 1)
            elif kind == "det":
                pm.Deterministic("x", pm.math.ones(2))
            else:
                pm.Data("x", np.ones(2))

    return run


def nan_data_container():
    with pm.Model():
        d = pm.Data("d", np.array([0.0, np.nan]))
        pm.Normal("y", 0, 1, observed=d)


def initval_shape():
    with pm.Model() as m:
        pm.Normal("w", 0, 1, shape=3, initval=np.zeros(4))
    m.initial_point()


def fit_discrete():
    with pm.Model():
        pm.Normal("x", 0, 1)
        pm.Poisson("k", 3.0)
        pm.fit(10, progressbar=False)


def fit_empty():
    with pm.Model():
        pm.Normal("y", 0, 1, observed=np.zeros(3))
        pm.fit(10, progressbar=False)


class EveryZero:
    every = 0

    def __call__(self, approx, losses, i):
        pass

    def __repr__(self):
        return "EveryZero()"


def sample_node_foreign():
    approx = fitted()
    with pm.Model():
        z = pm.Normal("z", 0, 1)
    approx.sample_node(2 * z)


def sample_node_replacement(value):
    def run():
        d = pytensor.shared(np.zeros(3), name="d")
        with pm.Model():
            x = pm.Normal("x", 0, 1)
            approx = pm.fit(0, progressbar=False)
        approx.sample_node(x + d, more_replacements={d: value})

    return run


def fit_replacement_mismatch():
    d = pytensor.shared(np.zeros(3), name="d")
    with pm.Model():
        x = pm.Normal("x", 0, 1)
        pm.Normal("y", x, 1, observed=d)
        pm.fit(10, progressbar=False, more_replacements={d: np.zeros((2, 2))})


def fit_minus_inf_start():
    with pm.Model():
        pm.Normal("x", 0, 1)
        pm.HalfNormal("y", 1.0, observed=np.array([-1.0, 0.5]))  # -1 is outside the support
        pm.fit(10, progressbar=False)


def fit_nan_potential_start():
    with pm.Model():
        x = pm.Normal("x", 0, 1)
        pm.Potential("pen", pm.math.log(x - 1.0))  # log of a negative number at x = 0
        pm.fit(10, method="fullrank_advi", progressbar=False)


def minibatch_total_size_too_small():
    X = pm.Minibatch(np.zeros(100), batch_size=20, random_seed=0)
    with pm.Model():
        pm.Normal("y", 0, 1, observed=X, total_size=10)


ZEROS_4x3 = np.zeros((4, 3))

CASES = [
    # ---- model context and names
    Case("duplicate-rv", "model", "two variables named 'x'", duplicate("rv"), ValueError, r"'x'.*already exists.*unique"),
    Case("duplicate-deterministic", "model", "a Deterministic reusing the name 'x'", duplicate("det"), ValueError, r"'x'.*already exists"),
    Case("duplicate-data", "model", "a Data container reusing the name 'x'", duplicate("data"), ValueError, r"'x'.*already exists"),
    Case("no-model-rv", "model", "a variable outside `with Model()`", lambda: pm.Normal("x", 0, 1), TypeError, r"Normal\('x'\) must be used inside a `with symvi\.Model\(\):` block"),
    Case("no-model-fit", "model", "`pm.fit` outside `with Model()`", lambda: pm.fit(10, progressbar=False), TypeError, r"No model on the context stack: fit\(\) must be used inside a `with symvi\.Model\(\):` block"),
    Case("no-model-potential", "model", "a Potential outside `with Model()`", lambda: pm.Potential("p", pm.math.ones(2)), TypeError, r"Potential\('p'\).*with symvi\.Model"),
    Case("name-not-str", "model", "a distribution called without a name", in_model(lambda: pm.Normal(0.0, 1.0)), TypeError, r"Normal.*first argument must be the variable's name.*got float"),
    Case("data-strings", "model", "`Data(\"d\", np.array([\"a\", \"b\"]))`", in_model(lambda: pm.Data("d", np.array(["a", "b"]))), TypeError, r"Data\('d'\): expected a numeric array \(bool, integer or float\), got dtype <U1"),
    # ---- observed data
    Case("observed-nan", "observed", "observed data containing NaN", in_model(lambda: pm.Normal("y", 0, 1, observed=np.array([0.0, np.nan]))), ValueError, r"'y'.*NaN or inf.*index \[\[1\]\]"),
    Case("observed-inf", "observed", "observed data containing inf", in_model(lambda: pm.Normal("y", 0, 1, observed=np.array([np.inf, 1.0]))), ValueError, r"'y'.*NaN or inf.*index \[\[0\]\]"),
    Case("observed-data-nan", "observed", "a Data container with NaN used as observed", nan_data_container, ValueError, r"'y'.*NaN or inf"),
    Case("observed-non-numeric", "observed", "observed strings", in_model(lambda: pm.Normal("y", 0, 1, observed=["a", "b"])), TypeError, r"'y'.*observed must be numeric.*dtype"),
    Case("observed-discrete-fraction", "observed", "`Poisson(observed=[1.5, 2.0])`", in_model(lambda: pm.Poisson("y", 2.0, observed=[1.5, 2.0])), ValueError, r"Poisson\('y'\): observed data must be whole numbers for a discrete distribution, got 1.5 at index 0"),
    # ---- shapes and dims
    Case("observed-vs-shape", "shape", "observed data of shape (4,) with shape=3", in_model(lambda: pm.Normal("y", 0, 1, shape=3, observed=np.zeros(4))), ValueError, r"Normal\('y'\).*observed data has shape \(4,\), incompatible with shape \(3,\)"),
    Case("observed-vs-dims", "shape", "observed data of shape (4,) with dims of length 3", in_model(lambda: pm.Normal("y", 0, 1, dims="obs", observed=np.zeros(4)), coords={"obs": range(3)}), ValueError, r"'y'.*observed data has shape \(4,\), incompatible with shape \(3,\)"),
    Case("observed-vs-size", "shape", "observed data of shape (4,) with size=3", in_model(lambda: pm.Normal("y", 0, 1, size=3, observed=np.zeros(4))), ValueError, r"'y'.*observed data has shape \(4,\), incompatible with size 3"),
    Case("shape-vs-dims", "shape", "shape=4 with dims of length 3", in_model(lambda: pm.Normal("y", 0, 1, dims="obs", shape=4), coords={"obs": range(3)}), ValueError, r"'y'.*shape=4 contradicts dims=\('obs',\) \(lengths \(3,\)\)"),
    Case("unknown-dim", "shape", "dims naming a dimension without coords", in_model(lambda: pm.Normal("y", 0, 1, dims=("city", "planet")), coords={"city": range(2)}), ValueError, r"'y'.*unknown dimension 'planet'; known coords: \['city'\]"),
    Case("deterministic-dims", "shape", "a Deterministic of length 5 on a dim of length 2", in_model(lambda: pm.Deterministic("d", pm.math.zeros(5), dims="city"), coords={"city": range(2)}), ValueError, r"'d'.*dimension 'city' has length 2 but the variable's has 5"),
    Case("shape-and-size", "shape", "both shape= and size=", in_model(lambda: pm.Normal("e", 0, 1, shape=3, size=3)), ValueError, r"'e'.*give shape= or size=, not both"),
    Case("initval-shape", "shape", "initval of the wrong shape", initval_shape, ValueError, r"'w': initval of shape \(4,\) does not fit the variable's shape \(3,\)"),
    Case("shape-negative", "shape", "`Normal(\"x\", 0, 1, shape=-1)`", in_model(lambda: pm.Normal("x", 0, 1, shape=-1)), ValueError, r"Normal\('x'\): shape=-1 holds a negative length; expected non-negative integers"),
    # ---- constant parameters
    Case("normal-sigma-negative", "parameters", "Normal with sigma=-1", in_model(lambda: pm.Normal("x", 0, -1.0)), ValueError, r"Normal 'x': parameter sigma must be > 0, got sigma=-1"),
    Case("normal-sigma-zero-entry", "parameters", "Normal with one zero entry in sigma", in_model(lambda: pm.Normal("x", 0, np.array([1.0, 0.0]))), ValueError, r"Normal 'x': parameter sigma must be > 0, got sigma=\[1\. 0\.\]"),
    Case("normal-tau-negative", "parameters", "Normal with tau=-2", in_model(lambda: pm.Normal("x", 0, tau=-2.0)), ValueError, r"Normal 'x': parameter tau must be > 0, got tau=-2"),
    Case("normal-mu-nan", "parameters", "Normal with mu=NaN", in_model(lambda: pm.Normal("x", np.nan, 1.0)), ValueError, r"Normal 'x': parameter mu must be finite, got mu=nan"),
    Case("halfnormal-sigma", "parameters", "HalfNormal with sigma=-2", in_model(lambda: pm.HalfNormal("h", -2.0)), ValueError, r"HalfNormal 'h': parameter sigma must be > 0"),
    Case("gamma-alpha", "parameters", "Gamma with alpha=-1", in_model(lambda: pm.Gamma("g", -1.0, 1.0)), ValueError, r"Gamma 'g': parameter alpha must be > 0, got alpha=-1"),
    Case("beta-alpha", "parameters", "Beta with alpha=0", in_model(lambda: pm.Beta("b", 0.0, 1.0)), ValueError, r"Beta 'b': parameter alpha must be > 0, got alpha=0"),
    Case("uniform-order", "parameters", "Uniform with lower > upper", in_model(lambda: pm.Uniform("u", 1.0, 0.0)), ValueError, r"Uniform 'u': parameter lower and upper must be ordered: upper > lower, got lower=1\., upper=0\."),
    Case("exponential-inf", "parameters", "Exponential with lam=inf", in_model(lambda: pm.Exponential("e", np.inf)), ValueError, r"Exponential 'e': parameter lam must be > 0 and finite"),
    Case("poisson-mu", "parameters", "Poisson with mu=-1", in_model(lambda: pm.Poisson("k", -1.0)), ValueError, r"Poisson 'k': parameter mu must be >= 0, got mu=-1"),
    Case("bernoulli-p", "parameters", "Bernoulli with p=1.5", in_model(lambda: pm.Bernoulli("b", 1.5)), ValueError, r"Bernoulli 'b': parameter p must be in \[0, 1\], got p=1\.5"),
    Case("dirichlet-a", "parameters", "Dirichlet with a negative concentration", in_model(lambda: pm.Dirichlet("d", np.array([1.0, -1.0]))), ValueError, r"Dirichlet 'd': parameter a must be > 0"),
    Case("mvnormal-cov", "parameters", "MvNormal with a covariance that is not positive definite", in_model(lambda: pm.MvNormal("m", np.zeros(2), cov=np.array([[1.0, 2.0], [2.0, 1.0]]))), ValueError, r"MvNormal 'm': parameter chol must be a Cholesky factor.*positive definite"),
    Case("mixture-weights", "parameters", "Mixture weights that do not sum to 1", in_model(lambda: pm.NormalMixture("nm", w=np.array([0.5, 0.6]), mu=np.zeros(2), sigma=np.ones(2))), ValueError, r"NormalMixture 'nm': parameter w must be non-negative and summing to 1"),
    Case("unknown-parameter", "parameters", "a misspelled parameter (sd=)", in_model(lambda: pm.Normal("x", 0, sd=1.0)), TypeError, r"Normal 'x': got an unexpected keyword argument 'sd'"),
    Case("sigma-and-tau", "parameters", "both sigma= and tau=", in_model(lambda: pm.Normal("x", 0, sigma=1.0, tau=1.0)), TypeError, r"Normal 'x': give sigma or tau, not both"),
    # ---- total_size
    Case("total-size-zero", "total_size", "total_size=0", in_model(lambda: pm.Normal("y", 0, 1, observed=ZEROS_4x3, total_size=0)), ValueError, r"'y': total_size entries must be positive integers, got 0$"),
    Case("total-size-negative", "total_size", "total_size=-3", in_model(lambda: pm.Normal("y", 0, 1, observed=ZEROS_4x3, total_size=-3)), ValueError, r"'y': total_size entries must be positive integers, got -3"),
    Case("total-size-rank", "total_size", "total_size naming 3 dims of a 2-d variable", in_model(lambda: pm.Normal("y", 0, 1, observed=ZEROS_4x3, total_size=(10, 5, 2))), ValueError, r"'y': total_size \(10, 5, 2\) names 3 dimensions but the variable has only 2"),
    Case("total-size-below-batch", "total_size", "total_size=2 for 4 observed rows", in_model(lambda: pm.Normal("y", 0, 1, observed=ZEROS_4x3, total_size=2)), ValueError, r"'y': total_size 2 is smaller than the batch: dimension 0 has length 4 > 2"),
    Case("total-size-below-minibatch", "total_size", "total_size=10 for a Minibatch of 20 rows", minibatch_total_size_too_small, ValueError, r"'y': total_size 10 is smaller than the batch: dimension 0 has length 20"),
    Case("total-size-float", "total_size", "total_size=2.5", in_model(lambda: pm.Normal("y", 0, 1, observed=ZEROS_4x3, total_size=2.5)), TypeError, r"'y': total_size must be an int or a tuple"),
    Case("total-size-two-ellipsis", "total_size", "two Ellipsis in total_size", in_model(lambda: pm.Normal("y", 0, 1, observed=ZEROS_4x3, total_size=(Ellipsis, 5, Ellipsis))), ValueError, r"'y': total_size may contain at most one Ellipsis"),
    # ---- Minibatch
    Case("minibatch-zero", "minibatch", "Minibatch batch_size=0", lambda: pm.Minibatch(np.zeros(10), batch_size=0), ValueError, r"Minibatch: batch_size must be a positive integer, got 0"),
    Case("minibatch-negative", "minibatch", "Minibatch batch_size=-5", lambda: pm.Minibatch(np.zeros(10), batch_size=-5), ValueError, r"Minibatch: batch_size must be a positive integer, got -5"),
    Case("minibatch-too-large", "minibatch", "Minibatch batch_size larger than the data", lambda: pm.Minibatch(np.zeros(10), batch_size=11), ValueError, r"Minibatch: batch_size 11 is larger than the number of rows 10"),
    Case("minibatch-rows", "minibatch", "Minibatch arrays with 10 and 9 rows", lambda: pm.Minibatch(np.zeros(10), np.zeros(9), batch_size=2), ValueError, r"Minibatch: arrays must have the same number of rows \(first axis\), got \[10, 9\]"),
    Case("minibatch-float", "minibatch", "Minibatch batch_size=2.0", lambda: pm.Minibatch(np.zeros(10), batch_size=2.0), TypeError, r"Minibatch: batch_size must be an integer, got 2\.0"),
    Case("minibatch-scalar", "minibatch", "Minibatch of a scalar", lambda: pm.Minibatch(np.float64(1.0), batch_size=1), ValueError, r"Minibatch: argument 0: a minibatch needs data with at least one \(row\) dimension"),
    # ---- fit: the model
    Case("fit-discrete-latent", "fit", "a discrete free variable with ADVI", fit_discrete, TypeError, r"Variational inference needs continuous latent variables, but \['k'\] are discrete"),
    Case("fit-empty-model", "fit", "`pm.fit` on a model without free variables", fit_empty, ValueError, r"model has no free random variables: there is nothing to approximate"),
    Case("fit-minus-inf-start", "fit", "observed data outside the support (logp = -inf at the start)", fit_minus_inf_start, ValueError, r"log density is -inf/NaN at the starting point: \{'y': -inf\}.*\{'x': -0\.92, 'y': -inf\}"),
    Case("fit-nan-start", "fit", "a Potential that is NaN at the start", fit_nan_potential_start, ValueError, r"log density is -inf/NaN at the starting point: \{'pen': nan\}"),
    # ---- fit: arguments
    Case("fit-n-negative", "fit", "`fit(n=-1)`", with_one_var(lambda: pm.fit(-1, progressbar=False)), ValueError, r"n \(number of steps\) must be >= 0, got -1"),
    Case("fit-n-float", "fit", "`fit(n=2.5)`", with_one_var(lambda: pm.fit(2.5, progressbar=False)), TypeError, r"n \(number of steps\) must be an integer, got 2\.5"),
    Case("fit-n-str", "fit", "`fit(n='100')`", with_one_var(lambda: pm.fit("100", progressbar=False)), TypeError, r"n \(number of steps\) must be an integer, got '100'"),
    Case("fit-unknown-method", "fit", "`fit(method='nuts')`", with_one_var(lambda: pm.fit(10, method="nuts")), KeyError, r"method 'nuts' is not known; choose one of \['advi', .*'fullrank_advi'.*\]", stable=False),
    Case("fit-method-type", "fit", "`fit(method=3)`", with_one_var(lambda: pm.fit(10, method=3)), TypeError, r"method must be one of \[.*\] or an Inference instance, got int", stable=False),
    Case("fit-optimizer-str", "fit", "`obj_optimizer='adam'`", with_one_var(lambda: pm.fit(10, obj_optimizer="adam", progressbar=False)), TypeError, r"obj_optimizer must be an optimizer such as symvi\.adam\(\.\.\.\), got str"),
    Case("fit-optimizer-returns", "fit", "an optimizer returning None", with_one_var(lambda: pm.fit(10, obj_optimizer=lambda grads, params: None, progressbar=False)), TypeError, r"obj_optimizer must return a dict of updates \{shared variable: expression\}, got NoneType"),
    Case("fit-callback-not-callable", "fit", "`callbacks=[3]`", with_one_var(lambda: pm.fit(10, callbacks=[3], progressbar=False)), TypeError, r"callbacks must be callables f\(approx, losses, i\), got 3"),
    Case("fit-callbacks-not-list", "fit", "`callbacks=print` (not a list)", with_one_var(lambda: pm.fit(10, callbacks=print, progressbar=False)), TypeError, r"callbacks must be a list of callables.*got <built-in function print>; wrap one in a list"),
    Case("fit-callback-every", "fit", "a callback with every=0", with_one_var(lambda: pm.fit(10, callbacks=[EveryZero()], progressbar=False)), ValueError, r"callback EveryZero\(\): 'every' must be a positive integer, got 0"),
    Case("fit-unknown-kwarg", "fit", "`fit(learning_rate=0.1)`", with_one_var(lambda: pm.fit(10, learning_rate=0.1, progressbar=False)), TypeError, r"fit\(\) got unknown keyword argument\(s\) \['learning_rate'\]"),
    Case("fit-obj-n-mc", "fit", "`obj_n_mc=0`", with_one_var(lambda: pm.fit(10, obj_n_mc=0, progressbar=False)), ValueError, r"obj_n_mc must be a positive integer, got 0"),
    Case("fit-backend", "fit", "`backend='cuda'`", with_one_var(lambda: pm.fit(10, backend="cuda", progressbar=False)), ValueError, r"backend must be one of \('numba', 'c', 'jax'\), got 'cuda'"),
    Case("refine-before-fit", "fit", "`refine` before any `fit`", with_one_var(lambda: pm.ADVI().refine(10)), TypeError, r"refine\(\) needs a previous fit\(\)"),
    Case("fit-replacement-shape", "fit", "more_replacements swapping a vector for a matrix", fit_replacement_mismatch, TypeError, r"more_replacements: 'd' is a 1-d .* but its replacement is a 2-d"),
    Case("random-seed-str", "fit", "`ADVI(random_seed=\"abc\")`", with_one_var(lambda: pm.ADVI(random_seed="abc")), TypeError, r"random_seed must be None, a non-negative integer or a sequence of them, got 'abc'"),
    Case("svgd-particles-zero", "fit", "`fit(method=\"svgd\", inf_kwargs={\"n_particles\": 0})`", with_one_var(lambda: pm.fit(10, method="svgd", inf_kwargs={"n_particles": 0}, progressbar=False)), ValueError, r"SVGD: n_particles must be a positive integer, got 0"),
    # ---- start / start_sigma
    Case("start-unknown", "start", "`start={'nope': 1.0}`", with_one_var(lambda: pm.fit(10, start={"nope": 1.0})), KeyError, r"start: 'nope' is not a free variable of the model; expected one of \['x'\]"),
    Case("start-shape", "start", "`start` of the wrong shape", with_one_var(lambda: pm.fit(10, start={"x": np.zeros(3)})), ValueError, r"start: 'x' has shape \(\), got an array of shape \(3,\)"),
    Case("start-nan", "start", "`start={'x': nan}`", with_one_var(lambda: pm.fit(10, start={"x": np.nan})), ValueError, r"start: 'x' must be finite"),
    Case("start-not-dict", "start", "`start=[1.0]`", with_one_var(lambda: pm.fit(10, start=[1.0])), TypeError, r"start must be a dict \{variable name: value\}, got list"),
    Case("start-sigma-zero", "start", "`start_sigma={'x': 0}` (ADVI)", with_one_var(lambda: pm.fit(10, start_sigma={"x": 0.0})), ValueError, r"start_sigma: 'x' must be positive and finite, got 0\.0"),
    Case("start-sigma-negative-fullrank", "start", "`start_sigma={'x': -1}` (FullRankADVI)", with_one_var(lambda: pm.fit(10, method="fullrank_advi", start_sigma={"x": -1.0})), ValueError, r"start_sigma: 'x' must be positive and finite, got -1\.0"),
    Case("start-sigma-shape", "start", "`start_sigma` of the wrong shape", with_one_var(lambda: pm.fit(10, start_sigma={"x": np.ones(3)})), ValueError, r"start_sigma: 'x' has shape \(\), got an array of shape \(3,\)"),
    Case("start-sigma-unknown", "start", "`start_sigma={'z': 1}`", with_one_var(lambda: pm.fit(10, start_sigma={"z": 1.0})), KeyError, r"start_sigma: 'z' is not a free variable of the model"),
    # ---- the approximation
    Case("sample-draws-zero", "approximation", "`approx.sample(draws=0)`", lambda: fitted().sample(draws=0), ValueError, r"sample: draws must be a positive integer, got 0"),
    Case("sample-draws-float", "approximation", "`approx.sample(draws=2.5)`", lambda: fitted().sample(draws=2.5), ValueError, r"sample: draws must be a positive integer, got 2\.5"),
    Case("set-params-unknown", "approximation", "`approx.set_params({'nope': ...})`", lambda: fitted().set_params({"nope": 1.0}), KeyError, r"set_params: 'nope' is not a parameter of MeanField; expected \['mu', 'rho'\]"),
    Case("set-params-shape", "approximation", "`approx.set_params` with the wrong shape", lambda: fitted().set_params({"mu": np.zeros(3)}), ValueError, r"set_params: 'mu' has shape \(1,\), got an array of shape \(3,\)"),
    Case("sample-node-foreign", "approximation", "`sample_node` of another model's variable", sample_node_foreign, ValueError, r"sample_node: the node depends on random variable\(s\) \['z'\] that are not in the approximation's model \(its variables: \['x'\]\)"),
    Case("sample-node-replacement-ndim", "approximation", "`sample_node(more_replacements=)` vector -> matrix", sample_node_replacement(np.zeros((2, 2))), TypeError, r"sample_node: more_replacements: 'd' is a 1-d .* but its replacement is a 2-d"),
    Case("sample-node-replacement-str", "approximation", "`sample_node(more_replacements=)` with a string", sample_node_replacement("abc"), TypeError, r"sample_node: more_replacements: the replacement of 'd' must be numeric, got str"),
    Case("sample-node-replacement-dtype", "approximation", "`sample_node(more_replacements=)` float data for an int variable", lambda: sample_node_int_key(), TypeError, r"sample_node: more_replacements: 'counts' has dtype int64, its replacement has dtype float64"),
    Case("empirical-size", "approximation", "`Empirical(size=0)`", lambda: pm.Empirical(size=0, model=one_var_model()), ValueError, r"Empirical: size \(number of particles\) must be a positive integer, got 0"),
    Case("tracker-not-callable", "approximation", "`Tracker(mean=3)`", lambda: pm.callbacks.Tracker(mean=3), TypeError, r"Tracker: 'mean' must be callable, got int"),
]


def sample_node_int_key():
    counts = pytensor.shared(np.zeros(3, dtype="int64"), name="counts")
    with pm.Model():
        x = pm.Normal("x", 0, 1)
        approx = pm.fit(0, progressbar=False)
    approx.sample_node(x + counts, more_replacements={counts: np.array([0.5, 1.0, 2.0])})


def test_catalogue_is_large_and_ids_unique():
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case):
    with pytest.raises(case.exc) as info:
        case.call()
    assert type(info.value) is case.exc, f"{case.id}: got {type(info.value).__name__}, expected exactly {case.exc.__name__}"
    assert re.search(case.match, str(info.value), flags=re.S), f"{case.id}: message {str(info.value)!r} does not match {case.match!r}"


# ---------------------------------------------------------------------- docs/errors.md
def render_markdown() -> str:
    lines = [
        "# Error catalogue",
        "",
        "What symvi raises for bad inputs: the exception type and the exact message. Generated from",
        "`tests/test_errors.py` (`python tests/test_errors.py` rewrites this file; a test checks that",
        "it is current). Every message names the variable or argument and what was expected; all of",
        "these are raised before the training loop is compiled.",
        "",
        "Compared with PyMC 5.28.5, symvi additionally rejects `total_size=0` or negative, Minibatch",
        "`batch_size=0`, constant parameters outside their domain (e.g. a negative `sigma`) or NaN,",
        "observed data that contradict `shape=`, and a model whose log density is -inf/NaN at the",
        "starting point (reported per variable, like `model.point_logps()`).",
        "",
        "Faults during `fit` (not bad inputs, see `tests/test_faults*.py`): a NaN/inf loss or parameter",
        "raises `FloatingPointError` naming the step and the non-finite parameters and keeps the last",
        "finite state; an exception in a callback propagates with a note `raised by callback ... at",
        "step i`; `KeyboardInterrupt` (Ctrl-C or from a callback) and `StopIteration` from a callback",
        "end the fit cleanly with `hist` matching the parameters.",
    ]
    area = None
    for case in CASES:
        if case.area != area:
            area = case.area
            lines += ["", f"## {area}", "", "| case | bad input | exception | message |", "| --- | --- | --- | --- |"]
        msg = case.message().replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{case.id}` | {case.what.replace('|', chr(92) + '|')} | `{case.exc.__name__}` | {msg} |")
    return "\n".join(lines) + "\n"


def test_docs_catalogue_is_current():
    text = DOCS.read_text()
    missing = []
    for case in CASES:
        msg = case.message().replace("|", "\\|").replace("\n", " ")
        if f"| `{case.id}` |" not in text or (case.stable and msg not in text):
            missing.append(case.id)
    assert not missing, f"docs/errors.md is out of date for {missing}; run `python tests/test_errors.py`"


if __name__ == "__main__":
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(render_markdown())
    print(f"wrote {DOCS} ({len(CASES)} cases)", file=sys.stderr)
