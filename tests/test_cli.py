"""symvi fit -> refine -> summary on a small model in a temp directory, and user mistakes."""

import json
import textwrap

import arviz as az
import numpy as np
import pytest

from symvi.cli import main

MODEL = """
import numpy as np
import symvi as pm

y = np.random.default_rng(0).normal(1.0, 2.0, size=40)
with pm.Model(coords={{"obs": np.arange(40)}}) as model:
    mu = pm.Normal("mu", 0, 10)
    sigma = pm.HalfNormal("sigma", 5)
    pm.Normal("y", mu, sigma, observed=y, dims="obs")
{extra}
"""


def _script(tmp_path, name="model.py", extra=""):
    path = tmp_path / name
    path.write_text(textwrap.dedent(MODEL.format(extra=extra)))
    return path


def test_fit_refine_summary(tmp_path, capsys):
    script = _script(tmp_path)
    run = tmp_path / "run"
    args = ["fit", str(script), "-n", "300", "--seed", "4", "--out", str(run), "--draws", "200", "--no-progress"]
    assert main(args) == 0
    files = {p.name for p in run.iterdir()}
    assert {"posterior.nc", "loss.csv", "loss.png", "posterior.png", "checkpoint.npz", "run.json"} <= files
    idata = az.from_netcdf(str(run / "posterior.nc"))
    assert idata.posterior["mu"].shape == (1, 200)
    assert np.loadtxt(run / "loss.csv", delimiter=",", skiprows=1).shape == (300, 2)
    meta = json.loads((run / "run.json").read_text())
    assert meta["steps"] == 300 and meta["method"] == "advi" and meta["diagnostics"]["reading"] in {"good", "ok", "inaccurate", "untrustworthy", "not converged"}
    capsys.readouterr()

    assert main(["refine", str(run), "-n", "200", "--no-progress"]) == 0
    hist = np.loadtxt(run / "loss.csv", delimiter=",", skiprows=1)
    assert hist.shape == (500, 2)
    capsys.readouterr()

    assert main(["summary", str(run)]) == 0
    text = capsys.readouterr().out
    assert "steps 500 (fit 300, refine 200), seed 4" in text
    assert "mu" in text and "sigma" in text and "PSIS k-hat" in text

    # refine continued exactly: the history equals one uninterrupted 500-step fit
    whole = tmp_path / "whole"
    assert main(["fit", str(script), "-n", "500", "--seed", "4", "--out", str(whole), "--draws", "200", "--no-progress"]) == 0
    np.testing.assert_array_equal(np.loadtxt(whole / "loss.csv", delimiter=",", skiprows=1), hist)


def test_fullrank_method_and_model_choice(tmp_path, capsys):
    script = _script(tmp_path, extra="with pm.Model() as other:\n    pm.Normal('z', 0, 1)\n")
    run = tmp_path / "fr"
    code = main(["fit", str(script), "--method", "fullrank_advi", "-n", "100", "--model", "other", "--out", str(run), "--no-progress"])
    assert code == 0
    meta = json.loads((run / "run.json").read_text())
    assert meta["model"] == "other" and meta["method"] == "fullrank_advi"
    assert "z" in az.from_netcdf(str(run / "posterior.nc")).posterior


def _error(capsys, args, match):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert err.count("\n") == 1, err  # one line
    assert match in err, err


def test_user_mistakes_give_one_line_errors(tmp_path, capsys):
    _error(capsys, ["fit", str(tmp_path / "missing.py")], "does not exist")
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    _error(capsys, ["fit", str(empty)], "defines no symvi Model")
    several = _script(tmp_path, "several.py", extra="with pm.Model() as other:\n    pm.Normal('z', 0, 1)\n")
    _error(capsys, ["fit", str(several)], "defines several models (model, other)")
    _error(capsys, ["fit", str(several), "--model", "third"], "no Model named 'third'")
    broken = tmp_path / "broken.py"
    broken.write_text("import symvi as pm\n\nraise ValueError('bad data file')\n")
    _error(capsys, ["fit", str(broken)], "broken.py raised ValueError at line 3: bad data file")
    _error(capsys, ["fit", str(_script(tmp_path)), "--method", "nuts"], "--method 'nuts' is not known")
    _error(capsys, ["fit", str(_script(tmp_path)), "-n", "0"], "positive integer")
    _error(capsys, ["summary", str(tmp_path)], "not a symvi run folder")
    _error(capsys, ["refine", str(tmp_path / "nowhere")], "not a symvi run folder")


def test_refine_refuses_a_checkpoint_of_another_model(tmp_path, capsys):
    script = _script(tmp_path)
    run = tmp_path / "run"
    assert main(["fit", str(script), "-n", "50", "--out", str(run), "--draws", "50", "--no-progress"]) == 0
    capsys.readouterr()
    # the script changed since the fit: the model now has another variable
    script.write_text(script.read_text().replace('pm.HalfNormal("sigma", 5)', 'pm.HalfNormal("sigma", 5, shape=2)[0]'))
    _error(capsys, ["refine", str(run), "-n", "10"], "was written for another model")
    ck = run / "checkpoint.npz"
    ck.write_bytes(ck.read_bytes()[:-100])  # a copy cut short
    _error(capsys, ["refine", str(run), "-n", "10"], f"{str(ck)!r} is not a complete symvi checkpoint")
    ck.write_bytes(b"")
    _error(capsys, ["refine", str(run), "-n", "10"], "not a complete symvi checkpoint: the file is empty")
    (run / "checkpoint.npz").unlink()
    _error(capsys, ["refine", str(run), "-n", "10"], "no checkpoint.npz")


@pytest.mark.parametrize("argv", [["fit"], ["refine"], ["bogus"]])
def test_argument_errors_exit_nonzero(argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_demo_flags_mean_field_and_shows_full_rank(tmp_path, capsys):
    """README's main job: the seed gamma model.  alpha and beta are strongly correlated a
    posteriori, so mean-field ADVI underestimates their sds and the diagnostics say so; the
    demo then fits FullRankADVI, whose marginal sds match the exact (grid) posterior."""
    from scipy import special, stats

    from symvi.cli import demo

    result = demo(steps=10000, out=tmp_path / "demo", progressbar=False)
    text = capsys.readouterr().out
    assert all(p.exists() for p in result["plots"])
    assert result["diagnostics"].reading == "untrustworthy" and "untrustworthy" in text
    assert "FullRankADVI" in text and "fullrank" in result

    data = np.random.default_rng(42).gamma(2, 0.5, size=200)  # the demo's data
    a, b = np.meshgrid(np.linspace(1.2, 3.4, 400), np.linspace(1.1, 3.4, 400), indexing="ij")
    logp = stats.expon(scale=10).logpdf(a) + stats.expon(scale=10).logpdf(b)
    logp = logp + 200 * (a * np.log(b) - special.gammaln(a)) + (a - 1) * np.log(data).sum() - b * data.sum()
    w = np.exp(logp - logp.max())
    w /= w.sum()
    exact = {}
    for name, g in (("alpha", a), ("beta", b)):
        m = (w * g).sum()
        exact[name] = (m, np.sqrt((w * (g - m) ** 2).sum()))
    for name, (m, sd) in exact.items():
        full = result["fullrank"]["idata"].posterior[name].values
        assert abs(full.mean() - m) < 0.25 * sd
        assert 0.85 < full.std() / sd < 1.15
    mf = result["approx"].sample(2000, random_seed=1).posterior
    for name, (_, sd) in exact.items():
        assert mf[name].values.std() < 0.7 * sd  # mean field: too narrow, hence the flag


def test_optimizer_flags_are_used_and_kept_for_refine(tmp_path, capsys):
    """--optimizer/--learning-rate/--obj-n-mc give the same fit as the Python call; --tol and
    -n auto stop at convergence; refine goes on with the same optimizer state and tolerance."""
    import symvi as pm
    from symvi.runs import load_script_model

    script = _script(tmp_path)
    run = tmp_path / "run"
    flags = ["--optimizer", "sgd", "--learning-rate", "0.002", "--obj-n-mc", "2"]
    assert main(["fit", str(script), "-n", "150", "--seed", "5", "--out", str(run), "--draws", "50", "--no-progress", *flags]) == 0
    _, model = load_script_model(script, None)
    ref = pm.fit(150, model=model, random_seed=5, progressbar=False, obj_optimizer=pm.sgd(learning_rate=0.002), obj_n_mc=2)
    csv = lambda: np.loadtxt(run / "loss.csv", delimiter=",", skiprows=1)[:, 1]  # noqa: E731 - written with 10 digits
    np.testing.assert_allclose(csv(), ref.hist, rtol=1e-9)
    meta = json.loads((run / "run.json").read_text())
    assert (meta["optimizer"], meta["learning_rate"], meta["obj_n_mc"]) == ("sgd", 0.002, 2)
    ref.inference.refine(40, progressbar=False)
    assert main(["refine", str(run), "-n", "40", "--no-progress"]) == 0
    np.testing.assert_allclose(csv(), ref.hist, rtol=1e-9)

    auto = tmp_path / "auto"
    assert main(["fit", str(script), "-n", "auto", "--tol", "0.01", "--seed", "5", "--out", str(auto), "--draws", "50", "--no-progress"]) == 0
    meta = json.loads((auto / "run.json").read_text())
    assert meta["tol"] == 0.01 and meta["fits"][0]["steps"] == "until converged" and 1000 <= meta["steps"] < 50000
    capsys.readouterr()
    assert main(["fit", str(script), "--optimizer", "lbfgs", "--out", str(tmp_path / "bad"), "--no-progress"]) == 2
    assert "--optimizer 'lbfgs' is not known" in capsys.readouterr().err
