"""Mixed-family approximations: a block-structured Gaussian made of :class:`Group` s.

PyMC's OPVI lets one approximation use different families for different variables, e.g. full
rank for a few global parameters and mean field for many local ones::

    approx = pm.Approximation([pm.Group([a, b], vfam="fr"), pm.Group(None, vfam="mf")])
    pm.KLqp(approx).fit(...)

Here that is one more parameterisation of q over the model's flat unconstrained vector: a
Gaussian whose covariance is block-diagonal, one block per group, each block of its group's
family (``"mf"``/``"meanfield"``/``"mean_field"``, ``"fr"``/``"full_rank"``/``"fullrank"``,
``"lowrank"``/``"low_rank"`` with ``rank=k``).  q's mean is one vector ``mu`` over all
coordinates; each group adds its family's parameters (``g0_L_tril``, ``g1_rho``, ...), and
its draws, entropy and log density are those of its family on its coordinates (the family
classes' own formulas, applied to the block).  The entropy and ``logq`` of q are the sums
over the blocks.  ``approx.random`` draws one standard normal per coordinate (plus ``k`` per
low-rank group), so the fit runs in the same compiled K-step loop as every approximation.

A group takes model variables (random variables, value variables or their names) or ``None``
for the variables no other group names (at most one such group).  A variable named by two
groups, or left out with no ``None`` group, raises ``ValueError`` naming the variables.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model():
...     a = pm.Normal("a", 0, 1)
...     b = pm.Normal("b", a, 1)
...     u = pm.Normal("u", 0, 1, shape=3)
...     approx = pm.Approximation([pm.Group([a, b], vfam="fr"), pm.Group(None, vfam="mf")])
>>> sorted(approx.shared_params)
['g0_L_tril', 'g1_rho', 'mu']
>>> [(g.vfam, g.vars, g.size) for g in approx.groups]
[('full_rank', ['a', 'b'], 2), ('mean_field', ['u'], 3)]
"""

from __future__ import annotations

import numbers

import numpy as np
import pytensor
import pytensor.tensor as pt

from symvi.pytensorf import seed_sequence
from symvi.variational.approximations import Approximation, FullRank, MeanField
from symvi.variational.checkpoint import checkpointable

__all__ = ["Group", "GroupApproximation", "VFAMS"]

#: accepted ``vfam`` spellings -> canonical family name
VFAMS = {
    "mf": "mean_field",
    "meanfield": "mean_field",
    "mean_field": "mean_field",
    "fr": "full_rank",
    "fullrank": "full_rank",
    "full_rank": "full_rank",
    "lowrank": "low_rank",
    "low_rank": "low_rank",
}
#: parameter names of each family (besides the shared mean ``mu``)
FAMILY_PARAMS = {"mean_field": ("rho",), "full_rank": ("L_tril",), "low_rank": ("rho", "W")}


def _canonical_vfam(vfam, params) -> str:
    if vfam is None:
        if not params:
            raise TypeError("Group needs a family: vfam='mf', 'fr' or 'lowrank' (or params= naming a family's parameters)")
        keys = set(params) - {"mu"}
        for fam, names in FAMILY_PARAMS.items():
            if keys == set(names):
                return fam
        raise TypeError(f"Group: params {sorted(params)} match no family; expected mu plus one of {FAMILY_PARAMS}")
    if not isinstance(vfam, str) or vfam.lower() not in VFAMS:
        raise ValueError(f"Group: vfam={vfam!r} is not a known family; expected one of {sorted(VFAMS)}")
    return VFAMS[vfam.lower()]


class Group:
    """Variables that share one family of q inside a :class:`GroupApproximation`.

    After the approximation is built a group has ``vars`` (value-variable names), ``size``,
    ``params`` (its shared variables) and the symbolic ``mean``, ``std`` and ``cov`` of its block.

    Parameters
    ----------
    group : list of model variables (random variables, value variables or names), or None
        for every variable no other group names.
    vfam : "mf"/"meanfield"/"mean_field", "fr"/"full_rank"/"fullrank", "lowrank"/"low_rank".
    params : optional start values ``{name: array}`` of this group's parameters (``mu`` and
        the family's: ``rho``, ``L_tril`` or ``rho`` + ``W``), each over the group's coordinates;
        with ``vfam=None`` their names pick the family (as in PyMC).
    rank : columns of ``W`` for a low-rank group (default 1; also ``options={"rank": k}``).
    random_seed : seeds a low-rank group's random start of ``W``.

    Examples
    --------
    >>> import symvi as pm
    >>> g = pm.Group(None, vfam="fullrank")
    >>> g.vfam, g.group
    ('full_rank', None)
    """

    def __init__(self, group=None, vfam=None, params=None, random_seed=None, model=None, options=None, rank=None, **kwargs):
        if kwargs:
            raise TypeError(f"Group got unknown keyword argument(s) {sorted(kwargs)}")
        if group is not None and (isinstance(group, str) or not hasattr(group, "__iter__")):
            group = [group]
        self.group = None if group is None else list(group)
        if self.group is not None and not self.group:
            raise ValueError("Group: the list of variables is empty (pass None for 'all the other variables')")
        self.vfam = _canonical_vfam(vfam, params)
        options = dict(options or {})
        rank = options.pop("rank", rank)
        if options:
            raise TypeError(f"Group got unknown option(s) {sorted(options)}")
        if self.vfam == "low_rank":
            rank = 1 if rank is None else rank
            if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or rank < 1:
                raise ValueError(f"Group: rank must be a positive integer, got {rank!r}")
            self.rank = int(rank)
        elif rank is not None:
            raise TypeError(f"Group: rank= is for vfam='lowrank', not {self.vfam!r}")
        else:
            self.rank = 0
        self.user_params = dict(params or {})
        self.random_seed = random_seed
        self.model = model
        # set when an approximation binds the group
        self.approx = None
        self.vars: list[str] = []
        self.size = 0
        self.params: dict = {}
        self._pieces: list[slice] = []  # layout slices of the group's coordinates, in group order
        self._view = None

    def __repr__(self) -> str:
        what = "rest" if self.group is None else ", ".join(self.vars or [getattr(v, "name", str(v)) for v in self.group])
        return f"Group({what}, vfam={self.vfam!r})"

    # ---- the block over a flat (..., D) vector
    def take(self, flat):
        """This group's coordinates of ``flat`` (..., D), in group order."""
        parts = [flat[..., sl] for sl in self._pieces]
        return parts[0] if len(parts) == 1 else pt.concatenate(parts, axis=-1)

    @property
    def mean(self):
        return self.take(self.approx.mean)

    @property
    def std(self):
        return self._view.std

    @property
    def cov(self):
        return self._view.cov


class _Size:
    """What the family formulas read of a layout: its size."""

    def __init__(self, size: int):
        self.size = size


def _family_view(cls, size: int, dtype: str, params: dict, **attrs):
    """An object of family ``cls`` over ``size`` coordinates with mean 0 and the given
    parameters: its ``draw_from_noise``, ``entropy``, ``logq``, ``std`` and ``cov`` are the
    family's formulas for one block (nothing of the model is needed for them)."""
    view = object.__new__(cls)
    view.layout = _Size(size)
    view.dtype = dtype
    view.shared_params = {"mu": pt.zeros((size,), dtype=dtype), **params}
    view.__dict__.update(attrs)
    return view


def _resolve_names(model, group: Group) -> list[str]:
    """Value-variable names of a group's variables (random variables, value variables or names)."""
    by_rv = {rv.name: model.rvs_to_values[rv].name for rv in model.free_RVs}
    values = set(by_rv.values())
    out = []
    for var in group.group:
        name = var if isinstance(var, str) else getattr(var, "name", None)
        if name in values:
            out.append(name)
        elif name in by_rv and (isinstance(var, str) or var in model.free_RVs):
            out.append(by_rv[name])
        else:
            raise ValueError(f"Group: {name or var!r} is not a free random variable of the model; free variables: {sorted(by_rv)}")
    return out


@checkpointable
class GroupApproximation(Approximation):
    """A Gaussian q with one block per :class:`Group` (``pm.Approximation([...groups])``).

    Its ``shared_params`` are ``mu`` (D,) and each group's ``g{i}_<name>``; ``mean``, ``std``
    and ``cov`` (block-diagonal) are over all D coordinates in the model's order, and
    ``groups`` holds the bound groups.  Fit it with ``pm.KLqp(approx).fit(...)``.

    Parameters
    ----------
    groups : list of :class:`Group`; at most one with ``group=None`` (all other variables).
    model, start, random_seed : as for :class:`~symvi.variational.approximations.MeanField`.
    start_sigma : initial standard deviations per variable (unconstrained space); default
        that of each group's family (mean field ``log 2``, full and low rank 1).

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model():
    ...     a = pm.Normal("a", 0, 1)
    ...     u = pm.Normal("u", a, 1, shape=2)
    ...     q = pm.Approximation([pm.Group(["u"], vfam="lowrank", rank=1), pm.Group(None, vfam="fr")])
    >>> q.cov.eval().shape, [g.vars for g in q.groups]
    ((3, 3), [['u'], ['a']])
    """

    builds_from_groups = True  # pm.Approximation([groups]) builds this class

    def __init__(self, groups, model=None, start=None, start_sigma=None, random_seed=None):
        if isinstance(groups, Group) or not isinstance(groups, list | tuple) or not all(isinstance(g, Group) for g in groups):
            raise TypeError(
                "Approximation takes a list of pm.Group(...) (for one family use pm.MeanField, pm.FullRank or "
                f"pm.LowRank), got {groups!r}"
            )
        if not groups:
            raise ValueError("Approximation: the list of groups is empty")
        super().__init__(model, start, random_seed)
        lay = self.layout
        named, rest = [], []
        for g in groups:
            (rest if g.group is None else named).append(g)
            if g.approx is not None:
                raise ValueError(f"Approximation: {g!r} already belongs to another approximation; make a new Group")
        if len(rest) > 1:
            raise ValueError("Approximation: more than one group is for the rest of the variables (group=None)")
        owner: dict[str, int] = {}
        twice = []
        for i, g in enumerate(named):
            for name in _resolve_names(self.model, g):
                if name in owner and name not in twice:
                    twice.append(name)
                owner.setdefault(name, i)
            g.vars = [n for n in lay.names if n in set(_resolve_names(self.model, g))]
        if twice:
            raise ValueError(f"Approximation: the variable(s) {twice} are in more than one group; each must be in exactly one")
        left = [n for n in lay.names if n not in owner]
        if left and not rest:
            raise ValueError(
                f"Approximation: the variable(s) {left} are in no group; add them to a group or add pm.Group(None, vfam=...) "
                "for the rest"
            )
        if rest:
            if not left:
                raise ValueError("Approximation: the group for the rest of the variables (group=None) would be empty")
            rest[0].vars = left
        self.groups = named + rest
        self._build(start_sigma)

    # ---- construction
    def _build(self, start_sigma):
        lay = self.layout
        where = {n: sl for n, sl in zip(lay.names, lay.slices)}
        default = {"mean_field": np.log(2.0), "full_rank": 1.0, "low_rank": 1.0}
        sigma = np.empty(self.ndim)
        for g in self.groups:
            for n in g.vars:
                sigma[where[n]] = default[g.vfam]
        self.given_start = self.given_start or bool(start_sigma)
        if start_sigma:
            for sl, val in self._start_sigmas(start_sigma):
                sigma[sl] = val
        self.shared_params = {"mu": pytensor.shared(self._start.copy(), name="mu")}
        runs = []  # (group index, start, stop in the group's vector, layout slice) in layout order
        extra = 0  # noise columns past D (low-rank groups)
        for i, g in enumerate(self.groups):
            g.approx = self
            pieces = []
            for n in g.vars:  # adjacent layout slices merge into one piece
                sl = where[n]
                if pieces and pieces[-1].stop == sl.start:
                    pieces[-1] = slice(pieces[-1].start, sl.stop)
                else:
                    pieces.append(sl)
            g._pieces = pieces
            g.size = sum(sl.stop - sl.start for sl in pieces)
            at = 0
            for sl in pieces:
                runs.append((i, at, at + sl.stop - sl.start, sl))
                at += sl.stop - sl.start
            sig = np.concatenate([sigma[sl] for sl in pieces])
            g.params = self._group_params(i, g, sig)
            self.shared_params.update({f"g{i}_{k}": v for k, v in g.params.items()})
            g._extra = slice(self.ndim + extra, self.ndim + extra + g.rank)
            extra += g.rank
            g._view = self._view(g)
            self._apply_user_params(i, g)
        self._runs = sorted(runs, key=lambda r: r[3].start)
        self._extra_width = extra

    def _group_params(self, i, g, sig) -> dict:
        d, dtype = g.size, self.dtype
        if g.vfam == "mean_field":
            return {"rho": pytensor.shared(np.log(np.expm1(sig)).astype(dtype), name=f"g{i}_rho")}
        if g.vfam == "full_rank":
            packed = np.zeros(d * (d + 1) // 2, dtype=dtype)
            rows = np.arange(d)
            packed[rows * (rows + 3) // 2] = sig  # diagonal entries of the row-major packed triangle
            return {"L_tril": pytensor.shared(packed, name=f"g{i}_L_tril")}
        seed = seed_sequence(g.random_seed).spawn(1)[0]
        w0 = 0.1 * sig[:, None] * np.random.default_rng(seed).standard_normal((d, g.rank)) / np.sqrt(g.rank)
        return {
            "rho": pytensor.shared(np.log(np.expm1(sig)).astype(dtype), name=f"g{i}_rho"),
            "W": pytensor.shared(w0.astype(dtype), name=f"g{i}_W"),
        }

    def _view(self, g):
        from symvi.variational.lowrank import LowRank

        if g.vfam == "mean_field":
            return _family_view(MeanField, g.size, self.dtype, g.params)
        if g.vfam == "full_rank":
            rows, cols = np.tril_indices(g.size)
            flat = pytensor.shared((rows * g.size + cols).astype(np.int64), name="L_tril_positions")
            return _family_view(FullRank, g.size, self.dtype, g.params, _tril_flat=flat)
        return _family_view(LowRank, g.size, self.dtype, g.params, rank=g.rank)

    def _apply_user_params(self, i, g):
        for key, value in g.user_params.items():
            if key == "mu":
                mu = self.shared_params["mu"].get_value()
                value = np.asarray(value, dtype=self.dtype)
                if value.shape != (g.size,):
                    raise ValueError(f"Group {g.vars}: params['mu'] has shape {value.shape}, expected ({g.size},)")
                at = 0
                for sl in g._pieces:
                    mu[sl] = value[at : at + sl.stop - sl.start]
                    at += sl.stop - sl.start
                self.shared_params["mu"].set_value(mu)
            elif key in g.params:
                self.set_params({f"g{i}_{key}": value})
            else:
                raise ValueError(f"Group {g.vars}: params has {key!r}; a {g.vfam} group has mu and {list(g.params)}")

    # ---- assembling the blocks
    def _assemble(self, blocks):
        """The per-group vectors ``blocks`` (..., d_g) as one (..., D) vector in layout order."""
        parts = [blocks[i][..., a:b] for i, a, b, _ in self._runs]
        return parts[0] if len(parts) == 1 else pt.concatenate(parts, axis=-1)

    # ---- the family interface
    @property
    def std(self):
        return self._assemble([g._view.std for g in self.groups])

    @property
    def cov(self):
        D = self.ndim
        out = pt.zeros((D, D), dtype=self.dtype)
        for g in self.groups:
            idx = np.concatenate([np.arange(sl.start, sl.stop) for sl in g._pieces])
            out = pt.set_subtensor(out[idx[:, None], idx[None, :]], g._view.cov)
        return out

    def random(self, size=None):
        """Symbolic draws from q: shape (D,) or (size, D); fresh on every compiled call."""
        width = self.ndim + self._extra_width
        shape = (width,) if size is None else (size, width)
        return self._draws(pt.random.normal(0.0, 1.0, size=shape, rng=self.rng, dtype=self.dtype), extra=True)

    def draw_from_noise(self, eps):
        """q draws from standard normal noise ``eps`` (..., D + k) (``k``: the low-rank groups'
        columns); noise of width D draws low-rank blocks through their covariance's Cholesky factor."""
        width = eps.type.shape[-1]
        if width not in (self.ndim, self.ndim + self._extra_width):
            raise ValueError(f"draw_from_noise: noise of width {width}; expected {self.ndim} or {self.ndim + self._extra_width}")
        return self._draws(eps, extra=width > self.ndim)

    def _draws(self, eps, extra: bool):
        blocks = []
        for g in self.groups:
            e, view = g.take(eps[..., : self.ndim]), g._view
            if not g.rank:
                blocks.append(view.draw_from_noise(e))
            elif extra:  # d * eps1 + W eps2, O(d k)
                blocks.append(view.diag_std * e + eps[..., g._extra] @ view.W.T)
            else:  # one normal per coordinate: through the Cholesky factor of the block's covariance
                blocks.append(e @ pt.linalg.cholesky(view.cov).T)
        return self.mean + self._assemble(blocks)

    def entropy(self):
        total = self.groups[0]._view.entropy()
        for g in self.groups[1:]:
            total = total + g._view.entropy()
        return total

    def logq(self, z):
        r = z - self.mean
        total = self.groups[0]._view.logq(self.groups[0].take(r))
        for g in self.groups[1:]:
            total = total + g._view.logq(g.take(r))
        return total

    # ---- checkpoints
    def group_spec(self) -> list[dict]:
        """``[{"vars": [...], "vfam": ..., "rank": k}, ...]``: what rebuilds this approximation's structure."""
        return [{"vars": list(g.vars), "vfam": g.vfam, "rank": g.rank or None} for g in self.groups]

    def _checkpoint_kwargs(self) -> dict:
        return {"groups": self.group_spec()}

    @classmethod
    def _from_checkpoint(cls, model=None, groups=()) -> GroupApproximation:
        return cls.from_spec(list(groups), model=model)

    @classmethod
    def from_spec(cls, spec: list[dict], model=None) -> GroupApproximation:
        """A fresh approximation of the structure :meth:`group_spec` described."""
        groups = [Group(s["vars"], vfam=s["vfam"], rank=s.get("rank")) for s in spec]
        return cls(groups, model=model)
