"""symvi.malloc: glibc's thresholds are set once at import, unless the user opted out."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tuning is Linux-only")

SCRIPT = "import resource, numpy as np, symvi.malloc as m, symvi\n" \
    "x = [np.ones(2**20) for _ in range(3)]; del x\n" \
    "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n" \
    "for _ in range(50):\n" \
    "    a = np.ones(3 * 2**20 // 8) ; b = np.ones(5 * 2**20 // 8); del a, b\n" \
    "print(m._done[0], resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)\n"


def run(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "SYMVI_MALLOC_TUNE"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=dict(base, **env), timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


def test_thresholds_set_at_import_and_temporaries_reuse_memory():
    applied, faults = run()
    assert applied
    # 50 x (3 MiB + 5 MiB) of temporaries: served from the heap kept by the process (0 page
    # faults measured), not mapped afresh (one fault per 4 KiB page; glibc's own adaptive
    # thresholds left ~950 faults here, and in a fit process that had loaded its loop from the
    # disk cache, faults on every step: 2.4 instead of 1.1 ms/step in bench_groups)
    assert faults < 100


def test_opt_out_and_user_settings_win():
    assert run(SYMVI_MALLOC_TUNE="0")[0] is False
    assert run(MALLOC_TRIM_THRESHOLD_="1000000")[0] is False
