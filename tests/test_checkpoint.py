"""approx.save / symvi.load: exact resume, what is and is not resumable, bad input."""

import numpy as np
import pytest

import symvi as pm


pytestmark = pytest.mark.usefixtures("one_compiled_path")  # conftest: bit-identity needs one compiled path


def _model(n_obs=30, seed=0):
    y = np.random.default_rng(seed).normal(1.0, 2.0, size=n_obs)
    with pm.Model() as m:
        mu = pm.Normal("mu", 0, 10)
        s = pm.HalfNormal("s", 2)
        pm.Normal("y", mu, s, observed=y)
    return m


@pytest.mark.parametrize("method", ["advi", "fullrank_advi", "lowrank_advi", "svgd", "asvgd"])
def test_fit_save_load_refine_equals_one_uninterrupted_fit(method, tmp_path):
    opt = pm.adam(learning_rate=0.02)
    whole = pm.fit(120, method=method, model=_model(), random_seed=7, progressbar=False, obj_optimizer=opt)
    first = pm.fit(70, method=method, model=_model(), random_seed=7, progressbar=False, obj_optimizer=opt)
    path = first.save(tmp_path / "ck")
    assert path.name == "ck.npz"
    resumed = pm.load(path, _model())  # a freshly built model, as in a new process
    assert resumed.resumable
    resumed.inference.refine(50, progressbar=False)
    for k, v in whole.get_params().items():
        np.testing.assert_array_equal(resumed.get_params()[k], v)
    np.testing.assert_array_equal(resumed.hist, whole.hist)


def test_default_optimizer_and_fit_settings_are_restored(tmp_path):
    m = _model()
    inference = pm.FullRankADVI(model=m, random_seed=3)
    inference.fit(60, progressbar=False, obj_n_mc=3, total_grad_norm_constraint=5.0)
    path = inference.approx.save(tmp_path / "fr.npz")
    whole = pm.FullRankADVI(model=_model(), random_seed=3)
    whole.fit(100, progressbar=False, obj_n_mc=3, total_grad_norm_constraint=5.0)
    loaded = pm.load(path, _model())
    loaded.inference.refine(40, progressbar=False)
    np.testing.assert_array_equal(loaded.get_params()["L_tril"], whole.approx.get_params()["L_tril"])


def test_load_uses_model_context_and_keeps_sampling_stream(tmp_path):
    m = _model()
    approx = pm.fit(50, model=m, random_seed=1, progressbar=False)
    path = approx.save(tmp_path / "a.npz")
    with _model():
        loaded = pm.load(path)
    a = approx.sample(20, random_seed=5).posterior["mu"].values
    b = loaded.sample(20, random_seed=5).posterior["mu"].values
    np.testing.assert_array_equal(a, b)


def test_graph_settings_are_saved_but_not_resumable(tmp_path):
    m = _model()
    approx = pm.fit(20, model=m, random_seed=0, progressbar=False, more_replacements={})
    loaded = pm.load(approx.save(tmp_path / "ok.npz"), _model())
    assert loaded.resumable  # an empty mapping is no setting
    approx = pm.fit(20, model=m, random_seed=0, progressbar=False, more_updates={})
    assert pm.load(approx.save(tmp_path / "ok2.npz"), _model()).resumable
    custom = lambda grads, params: pm.sgd(grads, params, learning_rate=1e-3)  # noqa: E731
    approx = pm.fit(20, model=m, random_seed=0, progressbar=False, obj_optimizer=custom)
    loaded = pm.load(approx.save(tmp_path / "custom.npz"), _model())
    assert not loaded.resumable
    assert "not one of symvi's" in loaded.not_resumable_reason
    np.testing.assert_array_equal(loaded.get_params()["mu"], approx.get_params()["mu"])
    import pytensor

    counter = pytensor.shared(0.0, name="counter")
    approx = pm.fit(20, model=m, random_seed=0, progressbar=False, more_updates={counter: counter + 1})
    loaded = pm.load(approx.save(tmp_path / "graph.npz"), _model())
    assert not loaded.resumable and "more_updates" in loaded.not_resumable_reason


def test_bare_approximation_round_trip(tmp_path):
    with _model() as m:
        q = pm.MeanField()
    q.set_params({"mu": np.array([0.5, -0.2])})
    assert not hasattr(q, "inference")
    loaded = pm.load(q.save(tmp_path / "bare.npz"), m)
    np.testing.assert_array_equal(loaded.get_params()["mu"], [0.5, -0.2])
    assert not loaded.resumable


def test_checkpoint_of_another_model_is_refused(tmp_path):
    path = pm.fit(10, model=_model(), random_seed=0, progressbar=False).save(tmp_path / "a.npz")
    with pm.Model() as other:
        pm.Normal("mu", 0, 10)
        pm.Normal("t", 0, 1, shape=3)
    with pytest.raises(ValueError, match=r"another model.*t\(3,\)"):
        pm.load(path, other)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        pm.load(tmp_path / "nothing.npz", _model())
    np.savez(tmp_path / "foreign.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a symvi checkpoint"):
        pm.load(tmp_path / "foreign.npz", _model())
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(ValueError, match="not a symvi checkpoint"):
        pm.load(tmp_path / "junk.npz", _model())


class _SaveAt:
    """A callback that writes a checkpoint at one step of a running fit."""

    def __init__(self, step, path):
        self.step, self.path, self.every = step, path, 1

    def __call__(self, approx, losses, i):
        if i == self.step:
            approx.save(self.path)


@pytest.mark.parametrize(
    "method, opt, n, at",
    [("advi", None, 1200, 1000), ("fullrank_advi", pm.adam(learning_rate=0.02), 500, 300)],
)
def test_checkpoint_saved_during_fit_holds_the_steps_done_so_far(method, opt, n, at, tmp_path):
    """Saved from a callback at step ``at`` of an ``n``-step fit: ``at`` losses, and a load +
    refine(n - at) equals the uninterrupted fit.  For ADVI's default optimizer the decay starts
    at the check of step 1000, the very step saved: the checkpoint must hold that decision."""
    kwargs = dict(method=method, random_seed=11, progressbar=False, obj_optimizer=opt)
    whole = pm.fit(n, model=_model(), callbacks=[_SaveAt(at, tmp_path / "mid.npz")], **kwargs)
    if opt is None:
        assert whole.inference.adaptive_state()["decay_step"] == at
    resumed = pm.load(tmp_path / "mid.npz", _model())
    assert len(resumed.hist) == at
    np.testing.assert_array_equal(resumed.hist, whole.hist[:at])
    resumed.inference.refine(n - at, progressbar=False)
    for k, v in whole.get_params().items():
        np.testing.assert_array_equal(resumed.get_params()[k], v)
    np.testing.assert_array_equal(resumed.hist, whole.hist)


def _without(src, dst, member):
    import zipfile

    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as w:
        for name in z.namelist():
            if name != member:
                w.writestr(name, z.read(name))
    return dst


def test_damaged_checkpoints_give_one_line_errors_naming_the_file(tmp_path):
    path = pm.fit(20, model=_model(), random_seed=0, progressbar=False).save(tmp_path / "ck.npz")
    data = path.read_bytes()
    cases = {
        "empty.npz": (b"", "the file is empty"),
        "half.npz": (data[: len(data) // 2], "truncated or corrupted"),
        "cut.npz": (data[:-1], "truncated or corrupted"),
        "flipped.npz": (data[:200] + bytes(b ^ 0xFF for b in data[200:210]) + data[210:], "truncated or corrupted"),
    }
    for name, (content, why) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError) as err:
            pm.load(tmp_path / name, _model())
        msg = str(err.value)
        assert msg.startswith(f"{str(tmp_path / name)!r} is not a complete symvi checkpoint"), msg
        assert why in msg and "\n" not in msg, msg
    for member, array in [("hist.npy", "hist"), ("param/mu.npy", "param/mu"), ("state/0.npy", "state/0")]:
        damaged = _without(path, tmp_path / "missing.npz", member)
        with pytest.raises(ValueError, match=f"not a complete symvi checkpoint: the array\\(s\\) {array} are missing"):
            pm.load(damaged, _model())


def test_save_leaves_no_temporary_and_removes_those_of_killed_saves(tmp_path, monkeypatch):
    approx = pm.fit(20, model=_model(), random_seed=0, progressbar=False)
    stale = tmp_path / ".ck.npz.99999999-1.tmp"  # no process has this id (above Linux's pid_max)
    stale.write_bytes(b"PK half written")
    running = tmp_path / ".ck.npz.1-1.tmp"  # pid 1 runs: maybe a save in progress, left alone
    running.write_bytes(b"PK")
    approx.save(tmp_path / "ck.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck.npz.1-1.tmp", "ck.npz"]
    assert len(pm.load(tmp_path / "ck.npz", _model()).hist) == 20

    def killed(*args, **kwargs):  # the write fails midway (disk full, Ctrl-C)
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        approx.save(tmp_path / "other.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ck.npz.1-1.tmp", "ck.npz"]
