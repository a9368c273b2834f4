"""Command line: ``symvi demo``, ``symvi fit``, ``symvi refine``, ``symvi summary``.

``demo`` fits the seed gamma model end to end; ``fit/refine/summary`` work on run folders
(:mod:`symvi.runs`).

Examples
--------
.. code-block:: console

    $ symvi demo --steps 10000 --out symvi-demo
    $ symvi fit model.py --method fullrank_advi -n 5000 --seed 1 --out run
    $ symvi refine run -n 2000
    $ symvi summary run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["main", "demo"]


def demo(steps: int = 10000, out: str | Path = "symvi-demo", seed: int = 42, progressbar: bool = True) -> dict:
    """Fit the seed gamma model with ADVI, print an ArviZ summary and diagnostics, write plots.

    When the diagnostics do not read "good" (alpha and beta are strongly correlated, which a
    mean-field q cannot represent) the demo also fits FullRankADVI and shows that it is.
    Returns a dict with the approximation(s), the posterior ``InferenceData``, the
    diagnostics and plot paths.

    Examples
    --------
    >>> result = demo(steps=200, out="/tmp/symvi-doctest-demo", progressbar=False)  # doctest: +SKIP
    """
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import symvi as pm

    rng = np.random.default_rng(seed)
    gamma_data = rng.gamma(2, 0.5, size=200)
    with pm.Model() as gamma_model:
        alpha = pm.Exponential("alpha", 0.1)
        beta = pm.Exponential("beta", 0.1)
        pm.Gamma("y", alpha, beta, observed=gamma_data)

    print(f"symvi demo: gamma model, 200 observations from Gamma(shape=2, rate=2); ADVI for {steps} steps")
    opt = pm.adagrad_window(learning_rate=1e-2)
    t0 = time.perf_counter()
    with gamma_model:
        approx = pm.fit(steps, obj_optimizer=opt, random_seed=seed, progressbar=progressbar)
    elapsed = time.perf_counter() - t0
    idata = approx.sample(2000, random_seed=seed)
    summary = az.summary(idata, kind="stats", round_to=3)
    print(summary.to_string())
    print(f"fit wall time {elapsed:.2f} s (compile included)")
    diagnostics = approx.diagnose(random_seed=seed)
    print(diagnostics)
    result = {"approx": approx, "idata": idata, "summary": summary, "diagnostics": diagnostics}
    fits = [("ADVI (mean field)", approx)]
    if diagnostics.reading != "good":
        # alpha and beta are strongly correlated a posteriori: a full-rank q can represent that
        print(f"symvi demo: mean field is not trusted here; FullRankADVI for {steps} steps")
        with gamma_model:
            full = pm.fit(steps, method="fullrank_advi", obj_optimizer=opt, random_seed=seed, progressbar=progressbar)
        idata = full.sample(2000, random_seed=seed)
        print(az.summary(idata, kind="stats", round_to=3).to_string())
        result["fullrank"] = {"approx": full, "idata": idata, "diagnostics": full.diagnose(random_seed=seed)}
        print(result["fullrank"]["diagnostics"])
        fits.append(("FullRankADVI", full))

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for label, fitted in fits:
        ax.plot(fitted.hist, lw=0.5, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("negative ELBO")
    ax.set_yscale("symlog")
    ax.set_title("loss history")
    ax.legend()
    fig.tight_layout()
    hist_path = out / "elbo_history.png"
    fig.savefig(hist_path, dpi=100)
    plt.close(fig)
    axes = az.plot_posterior(idata, var_names=["alpha", "beta"])  # the last (most trusted) fit
    post_path = out / "posterior.png"
    np.ravel(axes)[0].figure.savefig(post_path, dpi=100)
    plt.close("all")
    print(f"wrote {hist_path} and {post_path}")
    result["plots"] = [hist_path, post_path]
    return result


def _steps(text: str) -> int | None:
    """``-n``: a positive integer, or ``auto`` (None: until the stopping rule holds)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer or 'auto', got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="symvi", description="Variational inference with symvi")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="fit the seed gamma model with ADVI, print a summary, write plots")
    p_demo.add_argument("-n", "--steps", type=int, default=int(os.environ.get("SYMVI_DEMO_STEPS", 10000)))
    p_demo.add_argument("--out", default="symvi-demo", help="folder for the plots (default: symvi-demo)")
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p_fit = sub.add_parser("fit", help="fit the Model defined in a script; write a run folder")
    p_fit.add_argument("script", help="a Python file that defines one symvi Model at top level")
    p_fit.add_argument("--method", default="advi", help="advi (default), fullrank_advi, lowrank_advi, svgd or asvgd")
    p_fit.add_argument("-n", "--steps", type=_steps, default=10000, help="steps, or 'auto': until converged (cap 50 000)")
    p_fit.add_argument("--optimizer", default=None, help="sgd, momentum, nesterov_momentum, adagrad, adagrad_window, rmsprop, adadelta, adam or adamax (default: symvi's adaptive Adam)")
    p_fit.add_argument("--learning-rate", type=float, default=None, help="the optimizer's learning rate (alone: Adam at this rate)")
    p_fit.add_argument("--obj-n-mc", type=int, default=None, help="Monte Carlo draws per gradient step")
    p_fit.add_argument("--tol", type=float, default=None, help="relative tolerance of the stopping rule (stops the fit when it holds; kept for refine)")
    p_fit.add_argument("--seed", type=int, default=None)
    p_fit.add_argument("--out", default="run", help="run folder to write (default: run)")
    p_fit.add_argument("--draws", type=int, default=1000, help="posterior draws written to posterior.nc")
    p_fit.add_argument("--model", default=None, help="name of the model in the script, if it defines several")
    p_fit.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p_ref = sub.add_parser("refine", help="resume a run folder's fit from its checkpoint")
    p_ref.add_argument("run", help="run folder written by `symvi fit`")
    p_ref.add_argument("-n", "--steps", type=_steps, default=5000, help="steps, or 'auto': until converged")
    p_ref.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p_sum = sub.add_parser("summary", help="ArviZ summary and diagnostics of a run folder")
    p_sum.add_argument("run", help="run folder written by `symvi fit`")
    args = parser.parse_args(argv)
    from symvi.runs import RunError, fit_script, refine_run, summarize_run

    try:
        if args.command == "demo":
            if args.steps < 1:
                raise RunError("--steps must be a positive integer")
            demo(steps=args.steps, out=args.out, seed=args.seed, progressbar=not args.no_progress)
        elif args.command == "fit":
            fit_script(
                args.script,
                out=args.out,
                method=args.method,
                steps=args.steps,
                seed=args.seed,
                draws=args.draws,
                model_name=args.model,
                progressbar=not args.no_progress,
                optimizer=args.optimizer,
                learning_rate=args.learning_rate,
                obj_n_mc=args.obj_n_mc,
                tol=args.tol,
            )
            print(summarize_run(args.out))
            print(f"wrote {args.out}/ (posterior.nc, loss.csv, loss.png, posterior.png, checkpoint.npz, run.json)")
        elif args.command == "refine":
            refine_run(args.run, steps=args.steps, progressbar=not args.no_progress)
            print(summarize_run(args.run))
        elif args.command == "summary":
            print(summarize_run(args.run))
    except RunError as err:
        print(f"symvi {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"symvi {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
