"""Run folders: fit a script's model, refine it later, summarise it (``symvi fit/refine/summary``).

A run folder holds

* ``run.json``: the script, the model's name in it, the method, seed, steps so far and the
  diagnostics of the latest fit;
* ``checkpoint.npz``: the approximation with its optimizer state (:mod:`symvi.variational.checkpoint`);
* ``posterior.nc``: draws from q as ArviZ ``InferenceData``;
* ``loss.csv``: the loss history, one row per step; ``loss.png`` and ``posterior.png``: plots.

Mistakes a user can make (a missing script, a script with no model or several, a folder that
is not a run, a checkpoint of another model) raise :class:`RunError` with a one-line message.

Examples
--------
>>> from symvi.runs import fit_script, refine_run, summarize_run  # doctest: +SKIP
>>> fit_script("model.py", out="run", steps=2000, seed=1)  # doctest: +SKIP
>>> refine_run("run", steps=1000)  # doctest: +SKIP
>>> print(summarize_run("run"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import runpy
import traceback
from pathlib import Path

import numpy as np

__all__ = ["RunError", "METHODS", "load_script_model", "fit_script", "refine_run", "summarize_run"]

METHODS = ("advi", "fullrank_advi", "lowrank_advi", "svgd", "asvgd")


class RunError(Exception):
    """A user mistake in a ``symvi fit/refine/summary`` call; the message is one line."""


def load_script_model(script, model_name: str | None = None):
    """Run ``script`` (not as ``__main__``) and return ``(name, Model)`` defined at its top level."""
    from symvi.model import Model

    script = Path(script)
    if not script.is_file():
        raise RunError(f"model script {str(script)!r} does not exist")
    try:
        names = runpy.run_path(str(script), run_name="__symvi_script__")
    except SystemExit as err:
        raise RunError(f"{script.name} called sys.exit({err.code}) while defining its model") from None
    except Exception as err:
        tb = traceback.extract_tb(err.__traceback__)
        line = next((f.lineno for f in reversed(tb) if Path(f.filename).resolve() == script.resolve()), None)
        where = f" at line {line}" if line is not None else ""
        raise RunError(f"{script.name} raised {type(err).__name__}{where}: {err}") from None
    models = {}
    for k, v in names.items():
        if isinstance(v, Model) and not k.startswith("_") and id(v) not in {id(m) for m in models.values()}:
            models[k] = v
    if model_name is not None:
        if model_name not in models:
            raise RunError(f"{script.name} defines no Model named {model_name!r}; it defines {sorted(models) or 'none'}")
        return model_name, models[model_name]
    if not models:
        raise RunError(f"{script.name} defines no symvi Model at its top level (write `with symvi.Model() as model:`)")
    if len(models) > 1:
        raise RunError(f"{script.name} defines several models ({', '.join(sorted(models))}); pick one with --model NAME")
    return next(iter(models.items()))


def _read_run(run):
    run = Path(run)
    meta_path = run / "run.json"
    if not meta_path.is_file():
        raise RunError(f"{str(run)!r} is not a symvi run folder (no run.json); create one with `symvi fit model.py --out {run}`")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as err:
        raise RunError(f"{meta_path} is damaged: {err}") from None


def _diagnostics(approx, seed) -> dict:
    from symvi.variational.diagnostics import check_diagnosable

    try:
        check_diagnosable(approx)
    except TypeError as err:
        return {"khat": None, "reading": "not available", "why": str(err)}
    d = approx.diagnose(draws=1000, random_seed=seed)
    return {
        "khat": float(d.khat),
        "reading": d.reading,
        "elbo": float(d.elbo),
        "elbo_mcse": float(d.elbo_mcse),
        "ess": float(d.ess),
        "text": str(d),
    }


def _loss_axis(ax, hist: np.ndarray, smooth: np.ndarray) -> None:
    """A y-axis the loss can be read off: log scale when the (positive) running mean spans two
    decades or more, else linear over the 1st-99th percentile of the running mean (the first
    steps' huge losses would otherwise squash the part of the curve that matters)."""
    finite = smooth[np.isfinite(smooth)]
    if finite.size == 0:
        return
    lo, hi = np.percentile(finite, [1, 99])
    if lo > 0 and hi / lo >= 100:
        ax.set_yscale("log")
        ax.set_ylim(lo / 1.5, hi * 1.5)
        return
    last = hist[np.isfinite(hist)][-max(1, len(hist) // 10) :]
    lo = min(lo, float(np.min(last))) if last.size else lo  # keep the noisy end of the curve in view
    hi = max(hi, float(np.max(last))) if last.size else hi
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1.0) * 0.05
    ax.set_ylim(lo - pad, hi + pad)


def loss_figure(hist, ylabel: str = "loss"):
    """The figure ``symvi fit`` saves as ``loss.png``: the loss per step and its running mean,
    on a y-axis with numbered ticks (see :func:`_loss_axis`).

    >>> import numpy as np
    >>> fig = loss_figure(100 + 1e4 * np.exp(-np.arange(500) / 20))
    >>> fig.axes[0].get_yscale()
    'log'
    """
    import matplotlib.pyplot as plt

    hist = np.asarray(hist, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    steps = np.arange(1, len(hist) + 1)
    ax.plot(steps, hist, lw=0.5, alpha=0.35, color="C0", label="loss per step")
    width = max(1, len(hist) // 50)
    smooth = hist
    if len(hist) >= 2 * width > 1:  # the running mean is what shows whether the fit has levelled off
        smooth = np.convolve(hist, np.ones(width) / width, mode="valid")
        ax.plot(steps[width - 1 :], smooth, lw=1.5, color="C1", label=f"running mean of {width} steps")
    ax.legend(loc="upper right", fontsize="small")
    ax.set(xlabel="step", ylabel=ylabel)
    _loss_axis(ax, hist, smooth)
    ax.grid(True, which="major", alpha=0.3)
    fig.tight_layout()
    return fig


def _write_outputs(approx, out: Path, meta: dict, draws: int, seed: int | None) -> None:
    """Checkpoint, posterior, loss history, plots and run.json (each file replaced whole)."""
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    approx.save(out / "checkpoint.npz")  # first: the fitted state is safe before anything else
    idata = approx.sample(draws, random_seed=seed)
    tmp = out / "posterior.nc.tmp"
    idata.to_netcdf(str(tmp))
    tmp.replace(out / "posterior.nc")
    hist = np.asarray(approx.hist)
    np.savetxt(out / "loss.csv", np.column_stack([np.arange(1, len(hist) + 1), hist]), delimiter=",", header="step,loss", comments="", fmt=["%d", "%.10g"])
    label = approx.inference.loss_label if getattr(approx, "inference", None) else "loss"
    fig = loss_figure(hist, label)
    fig.savefig(out / "loss.png", dpi=100)
    plt.close(fig)
    names = [v for v in idata.posterior.data_vars][:6]
    axes = az.plot_posterior(idata, var_names=names)
    np.ravel(axes)[0].figure.savefig(out / "posterior.png", dpi=100)
    plt.close("all")
    meta["steps"] = int(len(hist))
    meta["final_average_loss"] = float(np.mean(hist[-max(1, len(hist) // 10) :])) if len(hist) else None
    meta["diagnostics"] = _diagnostics(approx, seed)
    (out / "run.json").write_text(json.dumps(meta, indent=2))


def fit_script(
    script,
    out="run",
    method: str = "advi",
    steps: int = 10000,
    seed: int | None = None,
    draws: int = 1000,
    model_name: str | None = None,
    progressbar: bool = True,
    inf_kwargs: dict | None = None,
    optimizer: str | None = None,
    learning_rate: float | None = None,
    obj_n_mc: int | None = None,
    tol: float | None = None,
):
    """Fit the model defined in ``script`` and write a run folder ``out``; returns the approximation.

    ``steps=None`` runs until the stopping rule holds (``tol``: its relative tolerance).
    ``optimizer`` (a name of :mod:`symvi.variational.optimizers`) and ``learning_rate`` replace
    the default adaptive optimizer (a learning rate alone means Adam at that rate); they are
    kept in the checkpoint, ``tol`` in ``run.json``, so ``refine_run`` goes on with them.

    Examples
    --------
    >>> fit_script("model.py", out="run", method="fullrank_advi", steps=5000, seed=3)  # doctest: +SKIP
    >>> fit_script("model.py", optimizer="adam", learning_rate=0.01, steps=None)  # doctest: +SKIP
    """
    import symvi as pm

    if method not in METHODS:
        raise RunError(f"--method {method!r} is not known; choose one of {', '.join(METHODS)}")
    if steps is not None and steps < 1:
        raise RunError(f"-n/--steps must be a positive integer or 'auto', got {steps}")
    fit_kwargs = _fit_options(optimizer, learning_rate, obj_n_mc, tol)
    name, model = load_script_model(script, model_name)
    try:
        approx = pm.fit(steps, method=method, model=model, random_seed=seed, progressbar=progressbar, inf_kwargs=inf_kwargs, **fit_kwargs)
    except (TypeError, ValueError) as err:
        raise RunError(f"fitting {name!r} from {Path(script).name} failed: {err}") from None
    meta = {
        "script": str(Path(script).resolve()),
        "model": name,
        "method": method,
        "seed": seed,
        "draws": draws,
        "optimizer": optimizer or ("adam" if learning_rate is not None else None),
        "learning_rate": learning_rate,
        "obj_n_mc": obj_n_mc,
        "tol": tol,
        "fits": [{"command": "fit", "steps": "until converged" if steps is None else steps, "done": len(approx.hist)}],
    }
    _write_outputs(approx, Path(out), meta, draws, seed)
    return approx


def _fit_options(optimizer, learning_rate, obj_n_mc, tol) -> dict:
    """``fit`` keyword arguments from the command line's optimizer settings (checked here)."""
    from symvi.variational import optimizers

    names = ("sgd", "momentum", "nesterov_momentum", "adagrad", "adagrad_window", "rmsprop", "adadelta", "adam", "adamax")
    out = {}
    if optimizer is not None and optimizer not in names:
        raise RunError(f"--optimizer {optimizer!r} is not known; choose one of {', '.join(names)}")
    if learning_rate is not None and not (np.isfinite(learning_rate) and learning_rate > 0):
        raise RunError(f"--learning-rate must be a positive number, got {learning_rate}")
    if optimizer is not None or learning_rate is not None:
        make = getattr(optimizers, optimizer or "adam")
        out["obj_optimizer"] = make(learning_rate=learning_rate) if learning_rate is not None else make()
    if obj_n_mc is not None:
        if obj_n_mc < 1:
            raise RunError(f"--obj-n-mc must be a positive integer, got {obj_n_mc}")
        out["obj_n_mc"] = int(obj_n_mc)
    if tol is not None:
        if not (np.isfinite(tol) and tol > 0):
            raise RunError(f"--tol must be a positive number, got {tol}")
        out["tol_rel_obj"] = float(tol)
    return out


def refine_run(run, steps: int | None = 5000, progressbar: bool = True):
    """Resume the fit in run folder ``run`` for ``steps`` more steps; rewrite its outputs.

    Examples
    --------
    >>> refine_run("run", steps=5000)  # doctest: +SKIP
    """
    from symvi.variational.checkpoint import load

    if steps is not None and steps < 1:
        raise RunError(f"-n/--steps must be a positive integer or 'auto', got {steps}")
    run = Path(run)
    meta = _read_run(run)
    _, model = load_script_model(meta["script"], meta["model"])
    try:
        approx = load(run / "checkpoint.npz", model)
    except FileNotFoundError:
        raise RunError(f"{str(run)!r} has no checkpoint.npz to resume from") from None
    except ValueError as err:
        raise RunError(str(err)) from None
    if not approx.resumable:
        raise RunError(f"the checkpoint in {str(run)!r} cannot be resumed: {approx.not_resumable_reason}")
    before = len(approx.hist)
    approx.inference.refine(steps, progressbar=progressbar, tol_rel_obj=meta.get("tol"))
    meta["fits"].append({"command": "refine", "steps": "until converged" if steps is None else steps, "done": len(approx.hist) - before})
    _write_outputs(approx, run, meta, meta.get("draws", 1000), meta.get("seed"))
    return approx


def summarize_run(run) -> str:
    """ArviZ summary of the run's posterior and the diagnostics of its latest fit, as text.

    Examples
    --------
    >>> print(summarize_run("run"))  # doctest: +SKIP
    """
    import arviz as az

    run = Path(run)
    meta = _read_run(run)
    post = run / "posterior.nc"
    if not post.is_file():
        raise RunError(f"{str(run)!r} has no posterior.nc")
    idata = az.from_netcdf(str(post))
    summary = az.summary(idata, kind="stats", round_to=4)
    diag = meta.get("diagnostics") or {}
    lines = [
        f"run {run}: {meta['method']} on {meta['model']!r} from {meta['script']}",
        f"steps {meta['steps']} (" + ", ".join(f"{f['command']} {f.get('done', f['steps'])}" for f in meta["fits"]) + f"), seed {meta['seed']}",
        f"final average loss {meta['final_average_loss']:.6g}" if meta.get("final_average_loss") is not None else "no steps recorded",
        summary.to_string(),
        diag.get("text") or f"diagnostics: {diag.get('reading', 'not available')} ({diag.get('why', '')})",
    ]
    return "\n".join(lines)
