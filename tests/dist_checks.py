"""Shared checks for univariate distribution test files (tests/test_dist_<family>.py).

A case is ``(id, make, ref, support)``: ``make(**kw)`` builds ``Dist.dist(..., **kw)``, ``ref``
is a scipy frozen distribution or an object with the same methods (``logpdf``, ``cdf``,
``ppf``, ``logcdf``, ``mean``, ``var``), ``support`` the closed interval ``(lo, hi)``.
Everything is evaluated in one compiled function per call with a cheap compile mode.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import scipy.stats as st

from symvi.distributions import dist_info
from symvi.pytensorf import compile_fn

INF = np.inf
FAST = "FAST_COMPILE"  # small graphs: compiling dominates, so skip most rewrites
QS = np.array([1e-6, 0.001, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999, 1 - 1e-6])


def graph(rv, fn: str, values):
    """``logp`` (with the parameter checks), ``logcdf`` or ``icdf`` of ``rv`` at ``values``."""
    info = dist_info(rv)
    v = pt.as_tensor(np.asarray(values, dtype="float64"))
    if fn == "logp":
        return info.logp(v)
    return getattr(info.cls, fn)(v, **info.params)


def evaluate(requests):
    """``[(rv, fn, values), ...]`` -> list of arrays, from one compiled function."""
    return pytensor.function([], [graph(rv, fn, vals) for rv, fn, vals in requests], mode=FAST)()


def grid(ref, support, extra=()):
    """Quantile points, ``extra``, and for each finite end: the end, 1e-3 and 2 outside."""
    lo, hi = support
    pts = list(ref.ppf([0.001, 0.05, 0.3, 0.5, 0.7, 0.95, 0.999])) + list(extra)
    for edge, out in ((lo, -1.0), (hi, 1.0)):
        if np.isfinite(edge):
            pts += [edge, edge + out * 1e-3, edge + out * 2.0]
    return np.array(sorted(set(pts)), dtype="float64")


def check_logp(cases, extra=None, rtol=1e-7, atol=1e-10):
    """Every case's log density on its grid: -inf outside the support, equal to the reference inside."""
    extra = extra or {}
    grids = [grid(ref, sup, extra.get(name, ())) for name, _, ref, sup in cases]
    got = evaluate([(make(), "logp", g) for (_, make, _, _), g in zip(cases, grids)])
    for (name, _, ref, (lo, hi)), g, out in zip(cases, grids, got):
        outside = (g < lo) | (g > hi)
        assert np.all(out[outside] == -INF), (name, g[outside], out[outside])
        assert not np.any(np.isnan(out)), (name, g, out)
        with np.errstate(all="ignore"):
            want = np.asarray(ref.logpdf(g[~outside]), dtype="float64")
        np.testing.assert_allclose(out[~outside], want, rtol=rtol, atol=atol, err_msg=name)


def check_logcdf_icdf(cases, extra=None, rtol=1e-7, atol=1e-10, icdf=True):
    """logcdf on the grid (0 / -inf beyond the ends) and icdf at ``QS`` against the reference."""
    extra = extra or {}
    grids = [grid(ref, sup, extra.get(name, ())) for name, _, ref, sup in cases]
    reqs = [(make(), "logcdf", g) for (_, make, _, _), g in zip(cases, grids)]
    if icdf:
        reqs += [(make(), "icdf", QS) for _, make, _, _ in cases]
    got = evaluate(reqs)
    for (name, _, ref, _), g, out in zip(cases, grids, got[: len(cases)]):
        with np.errstate(all="ignore"):
            want = np.asarray(ref.logcdf(g), dtype="float64")
        np.testing.assert_allclose(out, want, rtol=rtol, atol=atol, err_msg=f"{name} logcdf")
    for (name, _, ref, _), out in zip(cases, got[len(cases) :]):
        np.testing.assert_allclose(out, ref.ppf(QS), rtol=max(rtol, 1e-9), atol=atol, err_msg=f"{name} icdf")


def check_icdf_outside_unit_is_nan(cases):
    got = evaluate([(make(), "icdf", np.array([-0.1, 1.1])) for _, make, _, _ in cases])
    for (name, *_), out in zip(cases, got):
        assert np.all(np.isnan(out)), name


def check_draws(cases, n=4000, seed=1, no_moments=()):
    """Seeded draws: in the support, KS test against the reference CDF, mean and variance.

    The moment tolerances are 5 standard errors (the variance's from the sample fourth
    moment); cases named in ``no_moments`` (no finite fourth moment) skip the moments.
    """
    xs = compile_fn([], [make(size=n) for _, make, _, _ in cases], random_seed=seed, mode=FAST)()
    for (name, _, ref, (lo, hi)), x in zip(cases, xs):
        assert x.shape == (n,), name
        assert np.all((x >= lo) & (x <= hi)), name
        assert st.kstest(x, ref.cdf).pvalue > 1e-3, name
        if name not in no_moments:
            mean, var = float(ref.mean()), float(ref.var())
            assert abs(x.mean() - mean) < 5 * np.sqrt(var / n), (name, x.mean(), mean)
            se_var = np.sqrt(np.var((x - x.mean()) ** 2) / n)
            assert abs(x.var() - var) < 5 * se_var, (name, x.var(), var)


def check_support_points(cases):
    """Support points lie strictly inside the support, with a finite log density there."""
    rvs = [make() for _, make, _, _ in cases]
    sps = [dist_info(rv).cls.support_point(rv, **dist_info(rv).params) for rv in rvs]
    outs = pytensor.function([], sps + [dist_info(rv).logp(sp) for rv, sp in zip(rvs, sps)], mode=FAST)()
    for (name, _, _, (lo, hi)), sp, lp in zip(cases, outs[: len(cases)], outs[len(cases) :]):
        assert lo < sp < hi, (name, sp)
        assert np.isfinite(lp), name


def check_transform(rv, expected_type, lo, hi):
    """The default transform has the expected type and maps the real line into (lo, hi)."""
    info = dist_info(rv)
    tr = info.cls.default_transform(info.params)
    assert isinstance(tr, expected_type), (type(tr), expected_type)
    y = np.array([-30.0, -1.0, 0.0, 2.0, 30.0])
    x = tr.backward(pt.as_tensor(y)).eval()
    assert np.all((x >= lo) & (x <= hi)), x


def check_batched_draws(makers, n=4):
    """Parameters of length ``n`` and no ``size``: ``n`` draws, one per parameter set, all distinct."""
    xs = compile_fn([], [make() for make in makers], random_seed=3, mode=FAST)()
    for make, x in zip(makers, xs):
        assert x.shape == (n,) and len(np.unique(x)) == n, (make, x)


def check_value_gradient(cases, qs=(0.05, 0.35, 0.6, 0.9)):
    """d logp / d value at interior quantiles (off the cases' kinks) equals a central finite difference."""
    vals = [np.asarray(ref.ppf(np.array(qs)), dtype="float64") for _, _, ref, _ in cases]
    v = pt.dvector("v")
    outs = []
    for _, make, _, _ in cases:
        lp = dist_info(make()).logp(v)
        outs += [lp, pytensor.grad(lp.sum(), v)]
    f = pytensor.function([v], outs, mode=FAST)
    for i, ((name, *_), x) in enumerate(zip(cases, vals)):
        h = 1e-6 * np.maximum(1.0, np.abs(x))
        grad = f(x)[2 * i + 1]
        fd = (f(x + h)[2 * i] - f(x - h)[2 * i]) / (2 * h)
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6, err_msg=name)
