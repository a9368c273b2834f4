"""PyTensor's C backend linked to scipy's OpenBLAS (symvi.blas): no "could not link to a BLAS"
warning because a BLAS is there, the C BLAS ops in the compiled graph, correct products in
float64 and float32; a user's own ``blas__ldflags`` and ``SYMVI_BLAS=0`` are left alone.

Each case runs in a fresh interpreter: the flags are decided once per process, at import.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from symvi import blas

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import numpy as np, pytensor, pytensor.tensor as pt
    import symvi
    from pytensor.compile.mode import Mode
    out = {"ldflags": pytensor.config.blas__ldflags, "ops": [], "ok": []}
    for dtype in DTYPES:
        A, B, v = pt.matrix(dtype=dtype), pt.matrix(dtype=dtype), pt.vector(dtype=dtype)
        f = pytensor.function([A, B, v], [A @ B, A @ v, v @ v, pt.outer(v, v) + A], mode=Mode(linker="cvm", optimizer="fast_run"))
        out["ops"] += sorted({type(n.op).__name__ for n in f.maker.fgraph.apply_nodes})
        rng = np.random.default_rng(0)
        a, b, x = (rng.normal(size=s).astype(dtype) for s in ((30, 30), (30, 20), (30,)))
        got = f(a, b, x)
        tol = 1e-10 if dtype == "float64" else 1e-4
        want = [a @ b, a @ x, x @ x, np.outer(x, x) + a]
        out["ok"].append(all(np.allclose(g, w, rtol=tol, atol=tol) for g, w in zip(got, want)))
out["warnings"] = [str(w.message)[:80] for w in caught if "BLAS" in str(w.message)]
print(json.dumps(out))
"""


def probe(dtypes=("float64", "float32"), **env):
    """Import symvi in a fresh interpreter with ``env``; compile and run products in ``dtypes``."""
    full = {k: v for k, v in os.environ.items() if k not in ("PYTENSOR_FLAGS", "SYMVI_BLAS")}
    full.update(env, PYTHONPATH=str(ROOT))
    code = f"DTYPES = {tuple(dtypes)!r}\n" + PROBE
    res = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


needs_scipy_openblas = pytest.mark.skipif(blas.scipy_openblas() is None, reason="this scipy ships no OpenBLAS library")


@needs_scipy_openblas
def test_c_backend_links_scipy_openblas():
    out = probe()
    lib = blas.scipy_openblas()
    assert str(lib.parent) in out["ldflags"] and "-Ddgemm_=scipy_dgemm_" in out["ldflags"]
    assert out["warnings"] == []
    assert {"CGemv", "CGer", "Dot22"} <= set(out["ops"])  # C BLAS ops are used only with a BLAS
    assert out["ok"] == [True, True]


def test_flags_cover_every_routine_and_the_library():
    flags = blas.ldflags(Path("/opt/x y/scipy.libs/libscipy_openblas-abc123.so"))
    assert '-L"/opt/x y/scipy.libs"' in flags and "-lscipy_openblas-abc123" in flags
    assert '-Wl,-rpath,"/opt/x y/scipy.libs"' in flags
    for r in ("sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger", "sdot", "ddot"):
        assert f"-D{r}_=scipy_{r}_" in flags


def test_user_choice_and_opt_out_are_respected():
    mine = probe(dtypes=("float64",), PYTENSOR_FLAGS="blas__ldflags=")  # the user asked for no BLAS
    assert mine["ldflags"] == "" and "CGemv" not in mine["ops"] and mine["ok"] == [True]
    off = probe(dtypes=(), SYMVI_BLAS="0")  # PyTensor's own search decides (none in a pip install here)
    assert "scipy_dgemm_" not in off["ldflags"]
