"""Draws as PyMC's ``MultiTrace`` shows them, and the flattened covariance of a trace.

``approx.sample(n, return_inferencedata=False)`` returns a :class:`Draws`: a dict of
per-variable arrays with a leading draw axis (free variables on their constrained space and
Deterministics) that also answers PyMC's trace questions - ``len(draws)`` is the number of
draws, ``draws[i]`` / ``draws.point(i)`` the i-th draw as a point, ``draws.varnames`` every
name (unconstrained value variables first, as PyMC lists them), and ``draws["x_log__"]``
the unconstrained values.  :func:`trace_cov` is PyMC's ``trace_cov``.

Examples
--------
>>> import numpy as np
>>> d = Draws({"x": np.arange(6.0).reshape(3, 2)}, values={"x_log__": np.zeros((3, 2))})
>>> len(d), d[1]["x"].tolist(), d.varnames, sorted(d)
(3, [2.0, 3.0], ['x_log__', 'x'], ['x'])
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["Draws", "trace_cov"]


class Draws(dict):
    """``{name: (draws, ...) array}`` with PyMC ``MultiTrace``-style access (see the module docs)."""

    def __init__(self, arrays: dict, values: dict | None = None):
        super().__init__(arrays)
        self._values = {k: v for k, v in (values or {}).items() if k not in arrays}

    def __missing__(self, key):
        if key in self._values:
            return self._values[key]
        raise KeyError(f"{key!r} is not among the sampled variables; expected one of {self.varnames}")

    def __getitem__(self, key):
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            return self.point(int(key))
        return super().__getitem__(key)

    def __len__(self) -> int:
        arrays = [*self.values(), *self._values.values()]
        return int(np.shape(arrays[0])[0]) if arrays else 0

    @property
    def varnames(self) -> list[str]:
        return [*self._values, *self.keys()]

    @property
    def nchains(self) -> int:
        return 1

    def get_values(self, varname: str) -> np.ndarray:
        return self[varname]

    def point(self, idx: int) -> dict:
        """``{name: value}`` of draw ``idx`` (negative counts from the end)."""
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"draw {idx} is out of range: there are {n} draws")
        return {k: self[k][idx] for k in self.varnames}


def trace_cov(trace, vars=None, model=None) -> np.ndarray:
    """Covariance matrix of the flattened draws of ``vars`` (default: the model's free variables).

    ``trace``: InferenceData (chains pooled), an xarray Dataset, a :class:`Draws` or a dict of
    ``(draws, ...)`` arrays.  Variables are stacked in the order given, each flattened.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(4000, 2)) @ np.array([[1.0, 0.5], [0.0, 1.0]])
    >>> trace_cov({"x": x}, vars=["x"]).round(1).tolist()
    [[1.0, 0.5], [0.5, 1.2]]
    """
    if vars is None:
        from symvi.model import modelcontext

        model = modelcontext(model, who="trace_cov")
        vars = model.free_RVs
    names = [v if isinstance(v, str) else v.name for v in vars]
    posterior = getattr(trace, "posterior", trace)
    columns = []
    for name in names:
        try:
            arr = posterior[name]
        except KeyError:
            raise KeyError(f"trace_cov: the trace has no draws of {name!r}") from None
        if hasattr(arr, "dims"):  # xarray: pool chains and draws
            lead = [d for d in ("chain", "draw") if d in arr.dims]
            arr = arr.stack(sample=lead).transpose("sample", ...) if lead else arr
        arr = np.asarray(arr, dtype="float64")
        columns.append(arr.reshape(arr.shape[0], -1))
    return np.atleast_2d(np.cov(np.concatenate(columns, axis=1).T))
