"""MkDocs hook: typeset the site's math at build time, as MathML (no JavaScript, no CDN).

``pymdownx.arithmatex`` (generic mode) wraps the math of the markdown pages and docstrings, and
``docs/_hooks/notebooks.py`` wraps the notebooks' math the same way, as
``<span class="arithmatex">\\(...\\)</span>`` and ``<div class="arithmatex">\\[...\\]</div>``.
This hook replaces each of them by the MathML that ``latex2mathml`` writes, which every current
browser draws natively (Chromium since 109, Firefox, Safari).  So the pages show their math
offline and with nothing to load; the TeX source stays in the element's ``alttext`` and
``<annotation>`` for copying and for screen readers.

Markdown reads ``_`` inside ``$...$`` as emphasis before the notebook hook sees it; the ``<em>``
tags it left are turned back into the underscores they were.  A formula latex2mathml cannot
read stops the build with the page and the formula named (the build is ``--strict``).
"""

from __future__ import annotations

import html
import re

from latex2mathml.converter import convert

_MATH = re.compile(
    r'<span class="arithmatex">\\\((?P<inline>.*?)\\\)</span>|<div class="arithmatex">\\\[(?P<display>.*?)\\\]</div>',
    re.S,
)
_EMPHASIS = re.compile(r"</?(em|i)>")


def tex_of(fragment: str) -> str:
    """The TeX source of an arithmatex element's content (entities decoded, emphasis undone).

    >>> tex_of(r"a &lt; b_<em>i</em>")
    'a < b__i_'
    """
    return html.unescape(_EMPHASIS.sub("_", fragment))


# MathML Core (what Chromium draws) ignores mathvariant="script": use the Unicode letters
_SCRIPT_HOLES = {"B": "\u212c", "E": "\u2130", "F": "\u2131", "H": "\u210b", "I": "\u2110", "L": "\u2112",
                 "M": "\u2133", "R": "\u211b", "e": "\u212f", "g": "\u210a", "o": "\u2134"}
_SCRIPT = re.compile(r'<mi mathvariant="script">([A-Za-z])</mi>')


def _script_letter(m: re.Match) -> str:
    c = m.group(1)
    if c in _SCRIPT_HOLES:
        return f"<mi>{_SCRIPT_HOLES[c]}</mi>"
    base = 0x1D49C + (ord(c) - ord("A")) if c.isupper() else 0x1D4B6 + (ord(c) - ord("a"))
    return f"<mi>{chr(base)}</mi>"


def to_mathml(tex: str, display: bool) -> str:
    """MathML for ``tex``, with the source kept as its annotation."""
    mathml = _SCRIPT.sub(_script_letter, convert(tex, display="block" if display else "inline"))
    alt = html.escape(tex, quote=True)
    mathml = mathml.replace("<math ", f'<math alttext="{alt}" ', 1)
    # keep the source in the semantics for copy/paste (browsers do not draw annotations)
    inner = mathml[mathml.index(">") + 1 : mathml.rindex("</math>")]
    head = mathml[: mathml.index(">") + 1]
    return f'{head}<semantics>{inner}<annotation encoding="application/x-tex">{alt}</annotation></semantics></math>'


def render_math(page_html: str, where: str = "page") -> str:
    """Every arithmatex element of ``page_html`` replaced by MathML.

    >>> out = render_math('<p><span class="arithmatex">\\\\(x^2\\\\)</span></p>')
    >>> out.startswith('<p><span class="arithmatex"><math alttext="x^2"'), out.count("<msup>")
    (True, 1)
    """

    def one(m: re.Match) -> str:
        display = m.group("display") is not None
        tex = tex_of(m.group("display") if display else m.group("inline"))
        try:
            mathml = to_mathml(tex, display)
        except Exception as err:  # latex2mathml raises its own exception types
            raise ValueError(f"{where}: latex2mathml cannot read the formula {tex!r}: {err}") from err
        tag = "div" if display else "span"
        return f'<{tag} class="arithmatex">{mathml}</{tag}>'

    return _MATH.sub(one, page_html)


def on_post_page(output, page, config):
    return render_math(output, where=page.file.src_uri)
