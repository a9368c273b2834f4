"""Griffe extension: read symvi's numpydoc-style docstrings as Markdown.

The docstrings are written for ``help()`` and doctest (reST flavour); mkdocstrings renders
them as Markdown.  Before parsing, this extension

* turns reST roles such as ``:func:`~symvi.fit``` into inline code (`` `fit` ``),
* gives a docstring whose doctest has no section header an ``Examples`` header (numpydoc's
  section name; ``Example`` is renamed), so the doctest renders as a code block and not as
  text after the last section.

The source docstrings are not changed; a docstring already in that form passes through.
"""

from __future__ import annotations

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:func|class|mod|meth|attr|data|obj|exc|const):`(~?)([^`]+)`")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def normalise(text: str) -> str:
    text = _ROLE.sub(_role, text)
    lines = text.split("\n")
    for i in range(len(lines) - 1):
        if lines[i].strip() == "Example" and set(lines[i + 1].strip()) == {"-"}:
            lines[i], lines[i + 1] = "Examples", "--------"
    if "Examples" not in (line.strip() for line in lines):
        for i, line in enumerate(lines):
            if line.lstrip().startswith(">>>"):
                header = ["Examples", "--------"]
                lines[i:i] = header if i == 0 or not lines[i - 1].strip() else ["", *header]
                break
    return "\n".join(lines)


class MarkdownDocstrings(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = normalise(obj.docstring.value)
