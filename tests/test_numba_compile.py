"""symvi.numba_compile: fewer LLVM passes per compiled loop, same code, same cache.

Each check runs in a fresh interpreter (the changes are process-wide once installed) with its
own PyTensor compile directory, so it compiles from scratch and cannot hit another test's cache.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from symvi.numba_compile import is_glue

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SCAN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import symvi  # installs symvi.numba_compile unless SYMVI_NUMBA_GLUE=0
    import pytensor, pytensor.tensor as pt
    from numba.core import dispatcher

    compiled = []
    original = dispatcher._FunctionCompiler._compile_core
    def counting(self, args, return_type):
        compiled.append(self.py_func.__name__)
        return original(self, args, return_type)
    dispatcher._FunctionCompiler._compile_core = counting

    x = pt.vector("x")
    w = pytensor.shared(np.linspace(-1.0, 1.0, 7), name="w")
    def step(w_prev, x):
        g = pt.grad(pt.sum(pt.log1p(pt.exp(w_prev * x)) - 0.5 * w_prev ** 2), w_prev)
        return w_prev + 0.01 * g
    ws = pytensor.scan(step, outputs_info=[w], non_sequences=[x], n_steps=50, return_updates=False)
    f = pytensor.function([x], [ws[-1], pt.sum(ws ** 2)], mode="NUMBA")
    out = f(np.arange(7.0) / 3.0)
    print(json.dumps({"out": [np.asarray(o).tolist() for o in out],
                      "hex": [float(v).hex() for v in np.ravel(out[0])] + [float(out[1]).hex()],
                      "compiled": compiled}))
    """
)

NESTED_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import symvi  # noqa: F401
    import numba

    @numba.njit(no_cpython_wrapper=True)
    def scan(x):  # named like PyTensor's scan loop: its machine code is deferred
        if x.sum() < 0:
            raise ValueError("negative input of length", x.shape[0])
        return x * 2.0

    @numba.njit(no_cpython_wrapper=True)
    def numba_scan(x):
        with numba.objmode(y="float64[:]"):
            y = np.asarray(x) + 100.0
        return y

    @numba.njit(no_cpython_wrapper=True)
    def rec(n):
        if n <= 0:
            return 0
        return n + rec(n - 1)

    @numba.njit
    def numba_funcified_fgraph(x):
        return scan(x).sum() + numba_scan(x).sum() + rec(4)

    @numba.njit(cache=True)
    def cached(x):
        return scan(x).sum() + rec(3)

    print(numba_funcified_fgraph(np.ones(3)), cached(np.ones(2)))
    try:
        numba_funcified_fgraph(-np.ones(3))
    except ValueError as err:
        print("raised", err.args)
    """
)


def run(script, tmp_path, env_extra=None):
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={tmp_path / 'compiledir'}", NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    env.update(env_extra or {})
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "script.py"  # a file: numba caches functions defined in files only
    path.write_text(script)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_is_glue_marks_only_the_levels_around_a_scan_loop():
    assert is_glue("scan", ["numba_scan", "take_impl"], [False, False])
    assert not is_glue("scan", ["impl"], [False])  # a user's function that happens to be called scan
    assert is_glue("numba_funcified_fgraph", ["scan", "elemwise"], [True, False])
    assert is_glue("numba_funcified_fgraph", ["numba_funcified_fgraph"], [True])  # the caching wrapper
    assert not is_glue("numba_funcified_fgraph", ["elemwise", "fused_reduce"], [False, False])
    assert not is_glue("numba_scan", ["elemwise"], [False])  # the loop body is optimised as before


def test_scan_loop_bit_identical_and_cached_whole(tmp_path):
    plain = json.loads(run(SCAN_SCRIPT, tmp_path / "plain", {"SYMVI_NUMBA_GLUE": "0"}).splitlines()[-1])
    fast = json.loads(run(SCAN_SCRIPT, tmp_path / "fast").splitlines()[-1])
    assert fast["hex"] == plain["hex"]
    # the scan op has no caching wrapper of its own: one compile of "scan" instead of two
    assert plain["compiled"].count("scan") == 2 and fast["compiled"].count("scan") == 1
    # a second process finds the whole function in the disk cache: nothing of it recompiles
    again = json.loads(run(SCAN_SCRIPT, tmp_path / "fast").splitlines()[-1])
    assert again["hex"] == fast["hex"]
    assert not {"scan", "numba_scan", "numba_funcified_fgraph"} & set(again["compiled"])


def test_deferred_machine_code_keeps_exceptions_objmode_recursion_and_caching(tmp_path):
    first = run(NESTED_SCRIPT, tmp_path).splitlines()
    assert first == ["319.0 10.0", "raised ('negative input of length', 3)"]
    assert run(NESTED_SCRIPT, tmp_path).splitlines() == first  # `cached` loaded from disk


RERUN_SCRIPT = textwrap.dedent(
    """
    import gc, json, sys
    sys.path.insert(0, sys.argv[1])
    from bench_rerun_memory import cell, rss_mb  # a notebook cell: build the model, fit it
    from numba.core.registry import CPUDispatcher
    from symvi import numba_calls

    def dispatchers():
        n = 0
        for o in gc.get_objects():
            try:
                n += type(o) is CPUDispatcher
            except ReferenceError:
                pass
        return n

    for _ in range(3):
        cell(300)
    gc.collect()
    r0, d0, p0 = rss_mb(), dispatchers(), len(numba_calls._pointers)
    for _ in range(12):
        cell(300)
    gc.collect()
    print(json.dumps({"mb_per_rerun": (rss_mb() - r0) / 12, "new_dispatchers": dispatchers() - d0,
                      "new_generator_entries": len(numba_calls._pointers) - p0}))
    """
)


def test_notebook_reruns_keep_memory_flat(tmp_path):
    # measured before symvi.numba_compile: ~250 Numba dispatchers and 2.4-3.3 MB more per
    # re-run (PyTensor registered a new overload per elementwise kernel and graph, and each
    # re-run loaded the loop's machine code from the disk cache again)
    env = {"PYTENSOR_FLAGS": os.environ.get("PYTENSOR_FLAGS", "")}  # the session's warm caches
    script = tmp_path / "rerun.py"
    script.write_text(RERUN_SCRIPT)
    benchmarks = str(Path(__file__).resolve().parents[1] / "benchmarks")
    out = subprocess.run([sys.executable, str(script), benchmarks], capture_output=True, text=True, env=dict(os.environ, **env), timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    row = json.loads(out.stdout.splitlines()[-1])
    assert row["new_dispatchers"] == 0
    assert row["new_generator_entries"] == 0  # was 6 per re-run (symvi.numba_calls' pointers)
    assert row["mb_per_rerun"] < 0.6, row


SLICE_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import symvi  # installs symvi.numba_compile
    import numba
    from numba.core import dispatcher

    compiled = []
    original = dispatcher._FunctionCompiler._compile_core
    def counting(self, args, return_type):
        compiled.append(self.py_func.__qualname__)
        return original(self, args, return_type)
    dispatcher._FunctionCompiler._compile_core = counting

    @numba.njit
    def put(a, b):
        a[1:3] = b
        return a

    print(put(np.zeros(4), np.array([1.5, 2.5])).tolist())
    try:
        put(np.zeros(4), np.ones(3))
    except ValueError as e:
        print(repr(e.args[1:]))
    print(any("unicode" in name or "repr" in name for name in compiled))
    """
)


def test_slice_shape_error_keeps_shapes_without_compiling_string_formatting(tmp_path):
    lines = run(SLICE_SCRIPT, tmp_path).splitlines()
    assert lines[0] == "[0.0, 1.5, 2.5, 0.0]"
    assert lines[1] == "((3,), (2,))"  # Numba's order: slice shape, input shape
    assert lines[2] == "False"  # no unicode/repr machinery compiled for the message
    numba_message = run(SLICE_SCRIPT, tmp_path, env_extra={"SYMVI_NUMBA_SLICE_MESSAGE": "1"}).splitlines()
    assert numba_message[0] == lines[0] and numba_message[2] == "True"
