"""Command line: ``symvi demo`` fits the seed gamma model end to end.

Example
-------
.. code-block:: console

    $ symvi demo --steps 10000 --out symvi-demo
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
    """Fit the seed gamma model with ADVI, print an ArviZ summary, write plots.

    Returns a dict with the approximation, the posterior ``InferenceData`` and plot paths.

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
    t0 = time.perf_counter()
    with gamma_model:
        approx = pm.fit(steps, obj_optimizer=pm.adagrad_window(learning_rate=1e-2), random_seed=seed, progressbar=progressbar)
    elapsed = time.perf_counter() - t0
    idata = approx.sample(2000, random_seed=seed)
    summary = az.summary(idata, kind="stats", round_to=3)
    print(summary.to_string())
    print(f"fit wall time {elapsed:.2f} s (compile included)")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(approx.hist, lw=0.5)
    ax.set_xlabel("step")
    ax.set_ylabel("negative ELBO")
    ax.set_yscale("symlog")
    ax.set_title("ADVI loss history")
    fig.tight_layout()
    hist_path = out / "elbo_history.png"
    fig.savefig(hist_path, dpi=100)
    plt.close(fig)
    axes = az.plot_posterior(idata, var_names=["alpha", "beta"])
    post_path = out / "posterior.png"
    np.ravel(axes)[0].figure.savefig(post_path, dpi=100)
    plt.close("all")
    print(f"wrote {hist_path} and {post_path}")
    return {"approx": approx, "idata": idata, "summary": summary, "plots": [hist_path, post_path]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="symvi", description="Variational inference with symvi")
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="fit the seed gamma model with ADVI, print a summary, write plots")
    p_demo.add_argument("-n", "--steps", type=int, default=int(os.environ.get("SYMVI_DEMO_STEPS", 10000)))
    p_demo.add_argument("--out", default="symvi-demo", help="folder for the plots (default: symvi-demo)")
    p_demo.add_argument("--seed", type=int, default=42)
    p_demo.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.steps < 1:
            print("symvi demo: --steps must be a positive integer", file=sys.stderr)
            return 2
        demo(steps=args.steps, out=args.out, seed=args.seed, progressbar=not args.no_progress)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
