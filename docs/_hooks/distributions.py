"""mkdocs hook: generate the distributions page from the package.

``docs/distributions.md`` holds the hand-written introduction and the marker
``<!-- symvi:distributions -->``; at build time the marker becomes

* a table of every distribution class exported by :mod:`symvi.distributions` (found by
  walking its modules, so a new module or class needs no edit here): name, family (its
  module), support (the class's ``support`` text), default transform (asked of the class
  itself with placeholder parameters), and whether ``logcdf`` / ``icdf`` exist;
* the entries of ``pm.logp``, ``pm.logcdf`` and ``pm.icdf``;
* one section per module with the mkdocstrings entry of each class.
"""

from __future__ import annotations

import importlib
import pkgutil

MARKER = "<!-- symvi:distributions -->"
PAGE = "distributions.md"
# modules of symvi.distributions without distribution classes of their own
HELPERS = {"base", "dist_math", "functions"}
ORDER = ["unbounded", "positive", "bounded", "discrete", "multivariate", "mixture"]
ENTRY_OPTIONS = """    options:
      heading_level: 3
      show_root_full_path: false
      members: false
      show_bases: false
      merge_init_into_class: false
      show_signature: false
"""
FUNCTION_OPTIONS = """    options:
      heading_level: 3
      show_root_full_path: false
"""


def family_modules() -> list:
    """The modules of symvi.distributions that define distribution classes, known ones first."""
    import symvi.distributions as dists

    names = [m.name for m in pkgutil.iter_modules(dists.__path__) if m.name not in HELPERS and not m.name.startswith("_")]
    rank = {n: i for i, n in enumerate(ORDER)}
    names.sort(key=lambda n: (rank.get(n, len(ORDER)), n))
    mods = [importlib.import_module(f"symvi.distributions.{n}") for n in names]
    return [m for m in mods if distribution_classes(m)]


def distribution_classes(module) -> list:
    """The public distribution classes ``module`` defines and symvi.distributions exports
    (aliases such as ``Lognormal`` are left out: they are the same class)."""
    import symvi.distributions as dists
    from symvi.distributions.base import Distribution

    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    out = []
    for name in names:
        cls = getattr(module, name, None)
        if not (isinstance(cls, type) and issubclass(cls, Distribution)):
            continue
        if cls.__module__ != module.__name__ or cls.__name__ != name or getattr(dists, name, None) is not cls:
            continue
        out.append(cls)
    return out


def aliases(module) -> list[tuple[str, str]]:
    """``(alias, class name)`` for exported names that are another name of a class here."""
    out = []
    for name in getattr(module, "__all__", ()):
        cls = getattr(module, name, None)
        if isinstance(cls, type) and cls.__module__ == module.__name__ and cls.__name__ != name:
            out.append((name, cls.__name__))
    return out


def _describe(value) -> str:
    name = getattr(value, "name", None)
    if name:
        return str(name)
    data = getattr(value, "data", None)
    if data is not None:
        return str(data.tolist())
    return "..."


def default_transform(cls) -> str:
    """The class's default transform, asked with symbolic placeholders for its parameters."""
    import pytensor.tensor as pt

    if cls.discrete:
        return "none (discrete)"
    try:
        params = {p: pt.dscalar(p) for p in cls.params}
        tr = cls.default_transform(params)
    except Exception:  # noqa: BLE001 - transforms that read component distributions
        return "depends on the parameters"
    if tr is None:
        return "none"
    parts = [_describe(getattr(tr, a)) for a in ("lower", "upper") if getattr(tr, a, None) is not None]
    kind = type(tr).__name__
    label = getattr(tr, "name", kind) if not parts else kind
    return f"{label}({', '.join(parts)})" if parts else str(label)


def _anchor(module, cls) -> str:
    return f"#{module.__name__}.{cls.__name__}"


def _family_title(module) -> str:
    return module.__name__.rsplit(".", 1)[1].replace("_", " ").capitalize()


def _summary(module) -> str:
    doc = (module.__doc__ or "").strip().split("\n\n")[0]
    return " ".join(doc.split())


def render() -> str:
    mods = family_modules()
    rows = [
        "| Distribution | Family | Support | Default transform | logcdf | icdf |",
        "| --- | --- | --- | --- | :---: | :---: |",
    ]
    for mod in mods:
        for cls in distribution_classes(mod):
            support = (cls.support or "").replace("|", "\\|") or "-"
            has = ["yes" if getattr(cls, f, None) is not None else "-" for f in ("logcdf", "icdf")]
            rows.append(
                f"| [{cls.__name__}]({_anchor(mod, cls)}) | {_family_title(mod)} | `{support}` | "
                f"{default_transform(cls)} | {has[0]} | {has[1]} |"
            )
    out = ["## Overview", "", *rows, ""]
    out += ["## Functions", "", _summary(importlib.import_module("symvi.distributions.functions")), ""]
    for fn in ("logp", "logcdf", "icdf"):
        out += [f"::: symvi.distributions.functions.{fn}", FUNCTION_OPTIONS]
    for mod in mods:
        out += [f"## {_family_title(mod)}", "", _summary(mod), ""]
        names = aliases(mod)
        if names:
            out += ["Aliases: " + ", ".join(f"`{a}` = `{c}`" for a, c in names) + ".", ""]
        for cls in distribution_classes(mod):
            out += [f"::: {mod.__name__}.{cls.__name__}", ENTRY_OPTIONS]
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"{PAGE}: the marker {MARKER} for the generated part is missing")
    return markdown.replace(MARKER, render())
