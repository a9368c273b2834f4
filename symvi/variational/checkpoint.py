"""Checkpoints: save a fitted approximation with its optimizer state, load it, keep fitting.

A checkpoint is one ``.npz`` file: the approximation's parameters, the loss history and, when
the fit can be resumed, every value the compiled step carries (parameters, optimizer state,
random generators) with the settings that rebuild that step.  ``refine`` after :func:`load`
therefore continues exactly where the fit stopped: with the same seed, ``fit(n1)`` + save +
load + ``refine(n2)`` gives the same parameters as one ``fit(n1 + n2)``.

A fit is resumable when its optimizer is one of symvi's (``pm.adam(...)`` etc., or the
default of :mod:`symvi.variational.adapt`, stored with its searched rate) and it used
no ``more_obj_params`` / ``more_updates`` / ``more_replacements`` (those are graphs, which
a file cannot hold); otherwise the checkpoint keeps the parameters and history only.

Examples
--------
>>> import symvi as pm
>>> with pm.Model() as m:
...     x = pm.Normal("x", 1.0, 0.5)
...     approx = pm.fit(200, random_seed=1, progressbar=False)
>>> path = approx.save("/tmp/symvi-doctest-ckpt.npz")
>>> again = pm.load(path, m)
>>> bool((again.mean.eval() == approx.mean.eval()).all()), len(again.hist)
(True, 200)

Layering: this module sits *below* the approximations and Inference classes.  It imports
none of them; each class that a checkpoint can rebuild registers itself with
:func:`checkpointable` (by class name) and says how to rebuild it with
``_checkpoint_kwargs()`` (the keyword arguments of a blank instance, or None when its
settings cannot be stored), so ``approx.save`` can import this module without a circle.
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
import zlib
from pathlib import Path

import numpy as np

from symvi.model import modelcontext

__all__ = ["save", "load", "model_signature", "checkpointable"]

FORMAT = "symvi-checkpoint-1"
_RESUMABLE_KWARGS = {"obj_optimizer", "obj_n_mc", "total_grad_norm_constraint"}

#: class name -> approximation or Inference class that load() can rebuild (see checkpointable)
_KINDS: dict[str, type] = {}


def checkpointable(cls: type) -> type:
    """Class decorator: let :func:`load` rebuild ``cls`` from the name a checkpoint stores.

    The class's instances give ``_checkpoint_kwargs()``: the keyword arguments (besides
    ``model``) of a blank instance whose parameters a checkpoint then overwrites, or None when
    this instance's settings cannot be written to a file.  An ``approx_class`` entry names
    another registered class; it is built on the same model (with ``approx_kwargs``) and
    passed as ``approx``.  A class whose constructor does not take those keyword arguments
    gives a classmethod ``_from_checkpoint(model=, **kwargs)`` instead.

    Examples
    --------
    >>> @checkpointable
    ... class Toy:
    ...     def _checkpoint_kwargs(self):
    ...         return {}
    >>> _KINDS["Toy"] is Toy
    True
    >>> del _KINDS["Toy"]
    """
    name = cls.__name__
    old = _KINDS.get(name, cls)
    same = (old.__module__, old.__qualname__) == (cls.__module__, cls.__qualname__)  # a reloaded module
    if not same:
        raise ValueError(f"checkpointable: another class named {name!r} is already registered ({_KINDS[name]!r})")
    _KINDS[name] = cls
    return cls


def _instance_kwargs(obj) -> dict | None:
    """``obj._checkpoint_kwargs()`` for a registered class, else None (cannot be rebuilt)."""
    if _KINDS.get(type(obj).__name__) is not type(obj):
        return None
    hook = getattr(obj, "_checkpoint_kwargs", None)
    return hook() if hook is not None else {}


def _construct(name: str, kwargs: dict, model):
    cls = _KINDS.get(name)
    if cls is None:
        raise ValueError(f"checkpoint holds a {name}, which load() cannot rebuild (known: {sorted(_KINDS)})")
    kwargs = dict(kwargs)
    if "approx_class" in kwargs:
        kwargs["approx"] = _construct(kwargs.pop("approx_class"), kwargs.pop("approx_kwargs", {}), model)
    build = getattr(cls, "_from_checkpoint", None)  # classes not built by cls(model=, **kwargs)
    return build(model=model, **kwargs) if build is not None else cls(model=model, **kwargs)


def model_signature(model) -> list:
    """``[[value variable, shape, transform], ...] + [["observed", name], ...]`` of a model."""
    point = model.initial_point()
    sig = []
    for rv in model.free_RVs:
        name = model.rvs_to_values[rv].name
        tr = model.rvs_to_transforms.get(rv)
        sig.append([name, list(np.shape(point[name])), type(tr).__name__ if tr is not None else None])
    sig += [["observed", rv.name] for rv in model.observed_RVs]
    return sig


def _optimizer_spec(opt):
    """``{"name", "kwargs"}`` of a symvi optimizer partial, or None for anything else."""
    import functools

    from symvi.variational import optimizers

    if opt is None:
        return {"name": "adagrad_window", "kwargs": {}}
    if not isinstance(opt, functools.partial) or opt.args:
        return None
    name = getattr(opt.func, "__name__", None)
    if getattr(optimizers, name or "", None) is not opt.func:
        return None
    kwargs = {k: _encode(v) for k, v in opt.keywords.items()}
    try:
        json.dumps(kwargs)
    except TypeError:
        return None
    return {"name": name, "kwargs": kwargs}


def _encode(v):
    from symvi.variational.optimizers import ExponentialDecay

    if isinstance(v, ExponentialDecay):
        return {"exponential_decay": [v.init, v.end, v.steps]}
    return float(v) if isinstance(v, np.floating) else v


def _decode(v):
    from symvi.variational.optimizers import exponential_decay

    if isinstance(v, dict) and set(v) == {"exponential_decay"}:
        return exponential_decay(*v["exponential_decay"])
    return v


def _inference_spec(inference):
    """(class name, constructor kwargs) that rebuild ``inference``, or None."""
    kwargs = _instance_kwargs(inference)
    return None if kwargs is None else (type(inference).__name__, kwargs)


def _empty(v) -> bool:
    return isinstance(v, dict | list | tuple) and len(v) == 0


def _fit_spec(inference):
    """Settings of the last fit that rebuild its compiled step, or (None, why not)."""
    kwargs = getattr(inference, "_fit_kwargs", None)
    if kwargs is None:
        return None, "it was never fitted"
    extra = sorted(k for k, v in kwargs.items() if k not in _RESUMABLE_KWARGS and v is not None and not _empty(v))
    if extra:
        return None, f"the fit used {', '.join(extra)} (graphs cannot be stored)"
    if kwargs.get("obj_optimizer") is None and getattr(inference, "adaptive_default", False):
        state = inference.adaptive_state()
        if state is None:
            return None, "its step-size search has not run"
        opt = {"name": "adaptive", "kwargs": state}
    else:
        opt = _optimizer_spec(kwargs.get("obj_optimizer"))
    if opt is None:
        return None, f"its optimizer {kwargs.get('obj_optimizer')!r} is not one of symvi's"
    spec = {"optimizer": opt}
    for k in ("obj_n_mc", "total_grad_norm_constraint"):
        if kwargs.get(k) is not None:
            spec[k] = kwargs[k]
    return spec, None


def _rng_state(gen) -> dict:
    return {"bit_generator": type(gen.bit_generator).__name__, "state": gen.bit_generator.state}


def _make_rng(spec) -> np.random.Generator:
    bitgen = getattr(np.random, spec["bit_generator"])()
    bitgen.state = spec["state"]
    return np.random.Generator(bitgen)


def save(approx, path) -> Path:
    """Write ``approx`` (and the optimizer state of its last fit) to ``path`` (``.npz``).

    Returns the path written.  See the module docstring for what can be resumed.
    """
    from symvi.variational.step import _is_rng

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    inference = getattr(approx, "inference", None)
    arrays = {f"param/{k}": v for k, v in approx.get_params().items()}
    arrays["hist"] = np.asarray(approx.hist, dtype="float64")
    meta = {
        "format": FORMAT,
        "approx": type(approx).__name__,
        "model": model_signature(approx.model),
        "rng": _rng_state(approx.rng.get_value(borrow=True)),
        "inference": None,
        "fit": None,
        "not_resumable": None,
    }
    if isinstance(getattr(approx, "rank", None), int | np.integer):
        meta["rank"] = int(approx.rank)
    meta["approx_kwargs"] = _instance_kwargs(approx)
    spec = _inference_spec(inference) if inference is not None else None
    if spec is None:
        meta["not_resumable"] = "no Inference of a known kind is attached" if inference is None else (
            f"{type(inference).__name__} with these settings cannot be rebuilt from a file"
        )
    else:
        meta["inference"] = {"class": spec[0], "kwargs": spec[1]}
        fit, why = _fit_spec(inference)
        if fit is None:
            meta["not_resumable"] = why
        else:
            step = inference._state[0]
            state = []
            for i, s in enumerate(step.state):
                value = s.get_value(borrow=True)
                if _is_rng(s):
                    state.append({"name": s.name, "rng": _rng_state(value)})
                else:
                    arrays[f"state/{i}"] = np.asarray(value)
                    state.append({"name": s.name, "shape": list(np.shape(value))})
            fit["state"] = state
            meta["fit"] = fit
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    # written under a name of this process and thread, then renamed over ``path`` in one step:
    # a reader never sees a half-written checkpoint, and two savers never share a file
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, __meta__=np.array(json.dumps(meta)), **arrays)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)  # an error or Ctrl-C while writing leaves nothing behind
    return path


def _remove_stale_temporaries(path: Path) -> None:
    """Delete ``.NAME.PID-THREAD.tmp`` files of ``path`` left by a save whose process was killed.

    A temporary of a process that still runs may be a save in progress and is left alone.
    """
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2 :].split("-", 1)[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        tmp.unlink(missing_ok=True)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else, or no way to tell: keep its file
        return True
    return True


def _read(path):
    path = Path(path)
    if not path.exists() and path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    damaged = f"{str(path)!r} is not a complete symvi checkpoint"
    if path.stat().st_size == 0:
        raise ValueError(f"{damaged}: the file is empty")
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["__meta__"])) if "__meta__" in f.files else None
            arrays = {k: f[k] for k in f.files if k != "__meta__"}
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:  # cut short (a full disk, a copy stopped midway)
        raise ValueError(f"{damaged}: it is truncated or corrupted ({_one_line(err)})") from None
    except (ValueError, KeyError, OSError) as err:
        raise ValueError(f"{str(path)!r} is not a symvi checkpoint ({_one_line(err)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a symvi checkpoint of format {FORMAT!r}")
    missing = [] if "hist" in arrays else ["hist"]
    for i, rec in enumerate((meta.get("fit") or {}).get("state", [])):
        if "rng" not in rec and f"state/{i}" not in arrays:
            missing.append(f"state/{i}")
    if missing:
        raise ValueError(f"{damaged}: the array(s) {', '.join(missing)} are missing")
    return meta, arrays


def _one_line(err) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _build(meta, model):
    """A fresh Inference (or bare approximation) of the saved kind on ``model``."""
    inf = meta["inference"]
    if inf is not None:
        return _construct(inf["class"], inf["kwargs"], model)
    kwargs = meta.get("approx_kwargs")
    if kwargs is None:  # files written before approx_kwargs was stored
        kwargs = {"rank": meta["rank"]} if "rank" in meta else {}
    return _construct(meta["approx"], kwargs, model)


def load(path, model=None):
    """Read a checkpoint written by ``approx.save(path)`` for ``model`` (default: the context).

    Returns the approximation; ``approx.inference.refine(n)`` continues the saved fit
    exactly where it stopped when the checkpoint is resumable (``approx.resumable``).

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model() as m:
    ...     x = pm.Normal("x", 0, 1)
    ...     path = pm.fit(50, random_seed=0, progressbar=False).save("/tmp/symvi-doctest-load")
    >>> pm.load(path, m).inference.refine(50, progressbar=False).hist.shape
    (100,)
    """
    model = modelcontext(model, who="load()")
    meta, arrays = _read(path)
    sig = model_signature(model)
    if sig != meta["model"]:
        saved = ", ".join(f"{s[0]}{tuple(s[1])}" if s[0] != "observed" else f"observed {s[1]}" for s in meta["model"])
        here = ", ".join(f"{s[0]}{tuple(s[1])}" if s[0] != "observed" else f"observed {s[1]}" for s in sig)
        raise ValueError(f"checkpoint {str(path)!r} was written for another model: it has [{saved}], this model has [{here}]")
    built = _build(meta, model)
    inference = built if hasattr(built, "approx") else None  # an Inference holds its approximation
    approx = built if inference is None else inference.approx
    params = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("param/")}
    missing = sorted(set(approx.shared_params) - set(params))
    if missing:
        names = ", ".join(f"param/{k}" for k in missing)
        raise ValueError(f"{str(path)!r} is not a complete symvi checkpoint: the array(s) {names} are missing")
    for key in getattr(approx, "resizable_params", ("histogram",)):  # particles: the count may differ
        if key in params:
            approx.shared_params[key].set_value(np.ascontiguousarray(params.pop(key)))
    approx.set_params(params)
    approx.rng.set_value(_make_rng(meta["rng"]))
    hist = np.asarray(arrays["hist"], dtype="float64")
    approx.hist = hist
    approx.resumable = meta["fit"] is not None
    approx.not_resumable_reason = meta["not_resumable"]
    if inference is not None:
        inference.hist = hist
        approx.inference = inference
        if meta["fit"] is not None:
            _restore_step(inference, meta["fit"], arrays, path)
    return approx


def _restore_step(inference, fit, arrays, path):
    from symvi.variational import optimizers
    from symvi.variational.step import _is_rng

    kwargs = {k: fit[k] for k in ("obj_n_mc", "total_grad_norm_constraint") if k in fit}
    if fit["optimizer"]["name"] == "adaptive":  # the default optimizer, its rate already searched
        inference.set_adaptive_state(**fit["optimizer"]["kwargs"])
        opt = None
    else:
        opt = getattr(optimizers, fit["optimizer"]["name"])(**{k: _decode(v) for k, v in fit["optimizer"]["kwargs"].items()})
    inference._fit_kwargs = dict(kwargs, obj_optimizer=opt)
    step = inference.step_function(obj_optimizer=opt, **kwargs)
    saved = fit["state"]
    if len(saved) != len(step.state):
        raise ValueError(f"checkpoint {str(path)!r}: the rebuilt step carries {len(step.state)} values, the file {len(saved)}")
    for i, (s, rec) in enumerate(zip(step.state, saved)):
        if "rng" in rec:
            if not _is_rng(s):
                raise ValueError(f"checkpoint {str(path)!r}: state {i} ({rec['name']}) should be a random generator")
            s.set_value(_make_rng(rec["rng"]))
        else:
            value = arrays[f"state/{i}"]
            old = s.get_value(borrow=True)
            if _is_rng(s) or np.shape(old) != value.shape or s.name != rec["name"]:
                raise ValueError(f"checkpoint {str(path)!r}: state {i} is {rec['name']}{tuple(rec['shape'])}, the rebuilt step has {s.name}")
            s.set_value(value.astype(np.asarray(old).dtype))
    step.adaptive = inference._adaptive if opt is None else None
    inference._state = (step, [], None)
    inference._start_checked = True
