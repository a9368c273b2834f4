"""A BLAS for PyTensor's C backend: the OpenBLAS that scipy's wheels ship.

PyTensor's C linker links its matrix products (``Dot22``, ``Gemm``, ``Gemv``, ``Ger``,
vector dots) against the library named by ``pytensor.config.blas__ldflags``.  With a pip
installation it usually finds none, prints "PyTensor could not link to a BLAS installation"
and runs those products as Python-level numpy calls inside the compiled loop.

scipy's Linux and macOS wheels carry a complete 32-bit-integer (LP64) OpenBLAS,
``scipy.libs/libscipy_openblas-<hash>.so``, whose Fortran BLAS symbols are prefixed
``scipy_`` (``scipy_dgemm_``).  :func:`link` points ``blas__ldflags`` at it: ``-L``/``-l``
for the library, an rpath so the compiled modules find it at run time, and ``-D`` defines
that rename the handful of routines PyTensor's C code calls (``dgemm_`` -> ``scipy_dgemm_``,
...).  numpy's own OpenBLAS is not used: it is the 64-bit-integer build, whose calling
convention differs from the ``int`` arguments PyTensor passes.

Nothing happens when the user has chosen ``blas__ldflags`` (``PYTENSOR_FLAGS``,
``.pytensorrc``, or set in ``pytensor.config`` before symvi is imported), when there is no C
compiler, when scipy's library is not found, or with ``SYMVI_BLAS=0``.

Examples
--------
>>> import pytensor, symvi
>>> flags = pytensor.config.blas__ldflags
>>> flags == "" or "openblas" in flags or "blas" in flags
True
"""

from __future__ import annotations

import glob
import importlib.util
import os
import sys
from pathlib import Path

__all__ = ["scipy_openblas", "ldflags", "link", "ROUTINES"]

#: the Fortran BLAS routines PyTensor's C code calls (pytensor/tensor/blas*.py)
ROUTINES = ("sgemm", "dgemm", "sgemv", "dgemv", "sger", "dger", "sdot", "ddot")
#: symbol prefix of scipy's bundled OpenBLAS (the scipy-openblas32 build)
PREFIX = "scipy_"


def scipy_openblas() -> Path | None:
    """The shared OpenBLAS library inside the installed scipy wheel, or None."""
    spec = importlib.util.find_spec("scipy")
    if spec is None or not spec.submodule_search_locations:
        return None
    pkg = Path(list(spec.submodule_search_locations)[0])
    patterns = [
        str(pkg.parent / "scipy.libs" / "libscipy_openblas*.so*"),  # manylinux (auditwheel)
        str(pkg / ".dylibs" / "libscipy_openblas*.dylib"),  # macOS (delocate)
    ]
    for pattern in patterns:
        found = sorted(p for p in glob.glob(pattern) if "64_" not in Path(p).name)  # not an ILP64 build
        if found:
            return Path(found[0])
    return None


def ldflags(library: Path) -> str:
    """``blas__ldflags`` that link PyTensor's C code to ``library`` (scipy's OpenBLAS)."""
    name = library.name
    stem = name[3:] if name.startswith("lib") else name
    for ext in (".dylib", ".so"):
        if ext in stem:
            stem = stem[: stem.index(ext)]
    folder = str(library.parent)
    renames = " ".join(f"-D{r}_={PREFIX}{r}_" for r in ROUTINES)
    return f'-L"{folder}" -l{stem} -Wl,-rpath,"{folder}" {renames}'


def _user_chose() -> bool:
    """Whether ``blas__ldflags`` already has a value (given by the user, or computed already)."""
    import pytensor

    config = pytensor.config
    param = type(config).__dict__.get("blas__ldflags")
    if param is None:
        return True  # an unexpected PyTensor: leave it alone
    if hasattr(param, "val"):
        return True
    try:
        config.fetch_val_for_key("blas__ldflags")
    except KeyError:
        return False
    return True


def link() -> str | None:
    """Point PyTensor's ``blas__ldflags`` at scipy's OpenBLAS unless the user chose a value;
    returns the flags set (None where nothing was changed)."""
    if os.environ.get("SYMVI_BLAS", "1") == "0" or sys.platform == "win32":
        return None
    if _user_chose():
        return None
    library = scipy_openblas()
    if library is None:
        return None
    import pytensor

    if not pytensor.config.cxx:  # no C compiler: PyTensor uses no C code at all
        return None
    flags = ldflags(library)
    pytensor.config.blas__ldflags = flags
    return flags
