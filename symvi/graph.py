"""A picture of a model: its variables, their distributions and shapes, and who depends on whom.

:func:`model_to_graphviz` (also ``model.to_graphviz()``) returns a ``graphviz.Digraph`` in
PyMC's visual language: free random variables are ellipses, observed ones filled ellipses,
Deterministics boxes, Potentials filled octagons and ``Data`` containers filled rounded
boxes; each node reads ``name ~ Distribution``.  Variables with the same dims (or, without
dims, the same shape) sit in one plate labelled ``obs (100)`` or ``3 x 2``; scalars have
none.  An edge ``a -> b`` means ``a`` appears in ``b``'s parameters (or expression, or
observed data).  Rendering an image needs the ``graphviz`` Python package (``pip install
'symvi[graph]'``) and Graphviz's ``dot`` program; the DOT text (``graph.source``) needs only
the package.  In a notebook the returned object displays as SVG.  The same graph comes as a
``networkx.DiGraph`` from :func:`model_to_networkx` and as Mermaid text (for Markdown
renderers such as GitHub's) from :func:`model_to_mermaid`.

Examples
--------
>>> import numpy as np, symvi as pm
>>> with pm.Model(coords={"obs": range(3)}) as m:
...     mu = pm.Normal("mu", 0, 1)
...     y = pm.Normal("y", mu, 1, observed=np.zeros(3), dims="obs")
>>> g = pm.model_to_graphviz(m)  # doctest: +SKIP
>>> print(g.source)  # doctest: +SKIP
digraph {
	mu [label="mu
~
Normal" shape=ellipse]
	subgraph "clusterobs (3)" {
		y [label="y
~
Normal" shape=ellipse style=filled]
		label="obs (3)" labeljust=r labelloc=b style=rounded
	}
	mu -> y
}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable

__all__ = ["model_to_graphviz", "model_graph_parts", "model_to_networkx", "model_to_mermaid"]

_INSTALL = "pip install 'symvi[graph]'"

#: node style per kind, in PyMC's visual language
_STYLE = {
    "free": {"shape": "ellipse"},
    "observed": {"shape": "ellipse", "style": "filled"},
    "deterministic": {"shape": "box"},
    "potential": {"shape": "octagon", "style": "filled"},
    "data": {"shape": "box", "style": "rounded, filled"},
}


def _import_graphviz():
    try:
        import graphviz
    except ImportError as err:
        raise ImportError(
            f"model_to_graphviz needs the graphviz Python package: {_INSTALL} "
            "(rendering to an image also needs Graphviz's 'dot' program)"
        ) from err
    return graphviz


def _kinds(model) -> dict:
    """``{variable: kind}`` for every named variable, in registration order."""
    kind = {}
    for rv in model.free_RVs:
        kind[rv] = "free"
    for rv in model.observed_RVs:
        kind[rv] = "observed"
    for v in model.deterministics:
        kind[v] = "deterministic"
    for v in model.potentials:
        kind[v] = "potential"
    for v in model.data_vars:
        kind[v] = "data"
    return {v: kind[v] for v in model.named_vars.values() if v in kind}


def _param_vars(params: dict) -> list:
    """The graph variables among a distribution's parameters (a mixture's list of components too)."""
    out = []
    for p in params.values():
        for q in p if isinstance(p, list | tuple) else (p,):
            if isinstance(q, Variable):
                out.append(q)
    return out


def _direct_inputs(model, var, kind: str) -> list:
    """Where to start looking for ``var``'s parents: its distribution's parameters (not its
    random generator or size), its observed data, or the inputs of its expression."""
    from symvi.distributions.base import dist_info

    if kind in ("free", "observed"):
        info = dist_info(var)
        starts = _param_vars(info.params)
        if kind == "observed":
            starts.append(model.rvs_to_values[var])
        return starts
    if kind in ("deterministic", "potential") and var.owner is not None:
        return list(var.owner.inputs)
    return []


def _parents(model, var, kind: str, named: set) -> list:
    """The nearest named model variables upstream of ``var`` (walking through unnamed ones)."""
    from symvi.distributions.base import dist_info

    found, seen = [], set()
    stack = list(reversed(_direct_inputs(model, var, kind)))
    while stack:
        v = stack.pop()
        if v is var or id(v) in seen:
            continue
        seen.add(id(v))
        if v in named:
            found.append(v)
            continue
        info = dist_info(v)
        if info is not None:  # an unnamed distribution inside a parameter (mixture components)
            stack.extend(reversed(_param_vars(info.params)))
        elif v.owner is not None:
            stack.extend(reversed(v.owner.inputs))
    return found


def _shapes(model, variables) -> list[tuple[int, ...]]:
    """Concrete shapes (one compiled call for the symbolic ones; random generators untouched)."""
    from symvi.pytensorf import ONE_SHOT_MODE, compile_fn, find_rngs

    shapes: list = [None] * len(variables)
    symbolic = []
    for i, v in enumerate(variables):
        if isinstance(v, SharedVariable):
            shapes[i] = tuple(np.shape(v.get_value(borrow=True)))
        elif None not in tuple(v.type.shape):
            shapes[i] = tuple(int(s) for s in v.type.shape)
        else:
            symbolic.append(i)
    if symbolic:
        outs = [variables[i].shape for i in symbolic]
        rngs = find_rngs(outs)
        saved = [r.get_value(borrow=False) for r in rngs]
        try:
            values = compile_fn([], outs, mode=ONE_SHOT_MODE)()
        finally:
            for r, s in zip(rngs, saved):
                r.set_value(s, borrow=True)
        for i, val in zip(symbolic, values):
            shapes[i] = tuple(int(s) for s in np.asarray(val))
    return shapes


def _plate_label(dims, shape, include_dim_lengths: bool) -> str:
    parts = []
    for i, n in enumerate(shape):
        d = dims[i] if dims is not None and i < len(dims) else None
        if d is None:
            parts.append(str(n))
        else:
            parts.append(f"{d} ({n})" if include_dim_lengths else str(d))
    return " x ".join(parts)


def _node_id(name: str) -> str:
    # graphviz reads ':' in an edge end as a port: a prefixed name "m::x" becomes "m/x"
    return name.replace("::", "/").replace(":", "/")


def model_graph_parts(
    model=None, var_names: Sequence[str] | None = None, include_dim_lengths: bool = True, who: str = "model_to_graphviz"
) -> dict:
    """The graph without graphviz: ``{"nodes": [(name, kind, label, plate)], "edges": [(parent, child)]}``.

    ``kind`` is free / observed / deterministic / potential / data; ``plate`` is the plate
    label ('' for scalars).  ``var_names`` keeps those variables and everything upstream.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model() as m:
    ...     s = pm.HalfNormal("s", 1)
    ...     x = pm.Normal("x", 0, s, shape=2)
    >>> parts = model_graph_parts(m)
    >>> [(n, k, p) for n, k, _, p in parts["nodes"]], parts["edges"]
    ([('s', 'free', ''), ('x', 'free', '2')], [('s', 'x')])
    """
    from symvi.distributions.base import dist_info
    from symvi.context import modelcontext

    model = modelcontext(model, who=who)
    kinds = _kinds(model)
    named = set(kinds)
    parents = {v: _parents(model, v, k, named) for v, k in kinds.items()}
    keep = list(kinds)
    if var_names is not None:
        names = [var_names] if isinstance(var_names, str) else list(var_names)
        wanted = []
        for n in names:
            try:
                wanted.append(model[n])
            except KeyError:
                raise KeyError(f"{who}: var_names entry {n!r} is not a variable of the model; known: {sorted(model.named_vars)}") from None
        chosen, stack = set(), wanted
        while stack:
            v = stack.pop()
            if v not in chosen:
                chosen.add(v)
                stack.extend(parents.get(v, ()))
        keep = [v for v in kinds if v in chosen]
    shapes = _shapes(model, keep)
    nodes = []
    for v, shape in zip(keep, shapes):
        kind = kinds[v]
        if kind in ("free", "observed"):
            what = dist_info(v).cls.__name__
        else:
            what = {"deterministic": "Deterministic", "potential": "Potential", "data": "Data"}[kind]
        plate = _plate_label(model.named_vars_to_dims.get(v.name), shape, include_dim_lengths) if shape else ""
        nodes.append((v.name, kind, f"{v.name}\n~\n{what}", plate))
    kept = set(keep)
    edges = [(p.name, v.name) for v in keep for p in parents[v] if p in kept]
    return {"nodes": nodes, "edges": edges}


def model_to_graphviz(
    model=None,
    *,
    var_names: Sequence[str] | None = None,
    formatting: str = "plain",
    save: str | None = None,
    figsize: tuple[float, float] | None = None,
    dpi: int = 300,
    include_dim_lengths: bool = True,
):
    """The model's variables and dependencies as a ``graphviz.Digraph`` (PyMC's ``pm.model_to_graphviz``).

    ``var_names``: draw only these variables and everything they depend on.  ``save``: also
    write the picture to this file (format from the extension, e.g. ``"model.png"``; needs
    Graphviz's ``dot`` program); ``figsize`` (inches) and ``dpi`` set that file's size.
    ``include_dim_lengths``: plate labels ``obs (100)`` rather than ``obs``.  ``formatting``
    other than ``"plain"`` is not supported.  Needs the graphviz Python package
    (``pip install 'symvi[graph]'``); without it this raises ``ImportError``.

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu", 0, 1)
    ...     y = pm.Normal("y", mu, 1, observed=np.zeros(3))
    >>> "mu -> y" in pm.model_to_graphviz(m).source
    True
    """
    if formatting != "plain":
        raise ValueError(f"model_to_graphviz: formatting={formatting!r} is not supported; use 'plain'")
    graphviz = _import_graphviz()
    parts = model_graph_parts(model, var_names=var_names, include_dim_lengths=include_dim_lengths)
    from symvi.context import modelcontext

    model = modelcontext(model, who="model_to_graphviz")
    graph = graphviz.Digraph(model.name or None)
    plates: dict[str, list] = {}
    for name, kind, label, plate in parts["nodes"]:
        plates.setdefault(plate, []).append((name, kind, label))
    for plate, members in plates.items():
        if plate == "":
            target = graph
            for name, kind, label in members:
                target.node(_node_id(name), label=label, **_STYLE[kind])
            continue
        with graph.subgraph(name=f"cluster{plate}") as sub:
            for name, kind, label in members:
                sub.node(_node_id(name), label=label, **_STYLE[kind])
            sub.attr(label=plate, labeljust="r", labelloc="b", style="rounded")
    for parent, child in parts["edges"]:
        graph.edge(_node_id(parent), _node_id(child))
    if save is not None:  # size and resolution apply to the saved picture only
        from pathlib import Path

        path = Path(save)
        fmt = path.suffix.lstrip(".") or "png"
        out = graph.copy()
        if figsize is not None:
            out.graph_attr.update(size=f"{figsize[0]},{figsize[1]}!")
        out.graph_attr.update(dpi=str(int(dpi)))
        written = Path(out.render(filename=str(path.with_suffix("")), format=fmt, cleanup=True))
        if written != path:
            written.replace(path)
    return graph


#: PyMC's node-type names, the keys of ``node_formatters``
NODE_TYPES = {
    "free": "Free Random Variable",
    "observed": "Observed Random Variable",
    "deterministic": "Deterministic",
    "potential": "Potential",
    "data": "Data",
}


def model_to_networkx(
    model=None,
    *,
    var_names: Sequence[str] | None = None,
    formatting: str = "plain",
    node_formatters: dict | None = None,
    include_dim_lengths: bool = True,
):
    """The model's graph as a ``networkx.DiGraph`` (PyMC's ``pm.model_to_networkx``).

    Nodes are variable names (``:`` written ``&``) with the attributes ``label``, ``shape``
    and ``style`` of :func:`model_to_graphviz`; a variable on a plate also has
    ``cluster="cluster<plate label>"``, ``labeljust``, ``labelloc`` and ``style="rounded"``
    (as PyMC).  An edge ``a -> b`` means ``b`` depends on ``a``.  ``node_formatters`` maps a
    node type ("Free Random Variable", "Observed Random Variable", "Deterministic",
    "Potential", "Data") to a function of the variable returning its attributes.  Needs the
    networkx package (``pip install 'symvi[graph]'``).

    Examples
    --------
    >>> import numpy as np, symvi as pm
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu", 0, 1)
    ...     y = pm.Normal("y", mu, 1, observed=np.zeros(3))
    >>> g = pm.model_to_networkx(m)
    >>> list(g.edges()), g.nodes["y"]["cluster"]
    ([('mu', 'y')], 'cluster3')
    """
    if formatting != "plain":
        raise ValueError(f"model_to_networkx: formatting={formatting!r} is not supported; use 'plain'")
    formatters = dict(node_formatters or {})
    unknown = sorted(set(formatters) - set(NODE_TYPES.values()))
    if unknown:
        raise ValueError(f"model_to_networkx: node_formatters keys {unknown} are not node types; use {sorted(NODE_TYPES.values())}")
    try:
        import networkx
    except ImportError as err:
        raise ImportError(f"model_to_networkx needs the networkx package: {_INSTALL}") from err
    from symvi.context import modelcontext

    model = modelcontext(model, who="model_to_networkx")
    parts = model_graph_parts(model, var_names=var_names, include_dim_lengths=include_dim_lengths, who="model_to_networkx")
    graph = networkx.DiGraph(name=model.name or "")
    for name, kind, label, plate in parts["nodes"]:
        fmt = formatters.get(NODE_TYPES[kind])
        attrs = dict(fmt(model[name])) if fmt is not None else {"label": label, "style": None, **_STYLE[kind]}
        if plate:
            attrs.update(cluster=f"cluster{plate}", labeljust="r", labelloc="b", style="rounded")
        graph.add_node(name.replace(":", "&"), **attrs)
    for parent, child in parts["edges"]:
        graph.add_edge(parent.replace(":", "&"), child.replace(":", "&"))
    return graph


def _mermaid_id(name: str) -> str:
    return name.replace(":", "_").replace(" ", "_")


def _mermaid_node(name: str, kind: str, what: str) -> list[str]:
    node = _mermaid_id(name)
    if kind == "data":
        return [f"{node}[{name} ~ Data]", f"{node}@{{ shape: db }}"]
    shape = {"free": "rounded", "observed": "rounded", "deterministic": "rect", "potential": "diam"}[kind]
    lines = [f"{node}([{name} ~ {what}])", f"{node}@{{ shape: {shape} }}"]
    if kind == "observed":
        lines.append(f"style {node} fill:#757575")
    elif kind == "potential":
        lines.append(f"style {node} fill:#f0f0f0")
    return lines


def model_to_mermaid(model=None, *, var_names: Sequence[str] | None = None, include_dim_lengths: bool = True) -> str:
    """The model's graph as Mermaid flowchart text (PyMC's ``pm.model_to_mermaid``).

    Nodes in name order (free variables rounded, observed ones filled grey, Deterministics
    rectangles, Potentials diamonds, Data cylinders), then edges ``parent --> child``, then
    one ``subgraph "plate label"`` per plate.  Paste it into a Markdown ```` ```mermaid ````
    block to draw it.  Needs no extra package.

    Examples
    --------
    >>> import symvi as pm
    >>> with pm.Model() as m:
    ...     mu = pm.Normal("mu", 0, 1)
    ...     y = pm.Normal("y", mu, 1, observed=[1.0, 2.0])
    >>> print(pm.model_to_mermaid(m))
    graph TD
    %% Nodes:
    mu([mu ~ Normal])
    mu@{ shape: rounded }
    y([y ~ Normal])
    y@{ shape: rounded }
    style y fill:#757575
    <BLANKLINE>
    %% Edges:
    mu --> y
    <BLANKLINE>
    %% Plates:
    subgraph "2"
        y
    end
    """
    parts = model_graph_parts(model, var_names=var_names, include_dim_lengths=include_dim_lengths, who="model_to_mermaid")
    lines = ["graph TD", "%% Nodes:"]
    plates: dict[str, list[str]] = {}
    for name, kind, label, plate in sorted(parts["nodes"]):
        lines += _mermaid_node(name, kind, label.rsplit("\n", 1)[-1])
        if plate:
            plates.setdefault(plate, []).append(name)
    lines += ["", "%% Edges:"]
    lines += [f"{_mermaid_id(p)} --> {_mermaid_id(c)}" for c, p in sorted((c, p) for p, c in parts["edges"])]
    lines += ["", "%% Plates:"]
    for plate in sorted(plates):
        lines += [f'subgraph "{plate}"'] + [f"    {_mermaid_id(n)}" for n in plates[plate]] + ["end"]
    return "\n".join(lines)
