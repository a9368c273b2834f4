// MathJax 3 settings for the whole site.  pymdownx.arithmatex (generic mode) wraps the math of
// the markdown pages and docstrings, and docs/_hooks/notebooks.py wraps the notebooks' math the
// same way, as <span class="arithmatex">\(...\)</span> / <div class="arithmatex">\[...\]</div>;
// only those elements are typeset, so a "$" anywhere else (code, outputs) is left alone.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

// mkdocs-material replaces the page content without a reload when instant navigation is on:
// typeset each new page (the first one is typeset by MathJax's own start-up).
if (typeof document$ !== "undefined") {
  let first = true;
  document$.subscribe(() => {
    if (first) {
      first = false;
      return;
    }
    if (window.MathJax && MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
