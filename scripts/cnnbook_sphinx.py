"""A small Sphinx extension, loaded by _config.yml, that keeps every page self-contained.

Jupyter Book 1 always loads sphinx-thebe, whose inline configuration names a CDN and, under
Sphinx 7.4, is added to each page twice (a `const` declared twice is a JavaScript error).
Thebe's launch button is off in this book, so its scripts are dropped from every page, and
any other script registered twice is kept once.
"""
from __future__ import annotations

THEBE_MARKERS = ("THEBE_JS_URL", "sphinx-thebe.js", "thebe@")


def _is_thebe(script) -> bool:
    text = str(getattr(script, "filename", "") or "") + str(
        (getattr(script, "attributes", {}) or {}).get("body", ""))
    return any(marker in text for marker in THEBE_MARKERS)


def _script_key(script):
    attributes = getattr(script, "attributes", {}) or {}
    return (str(getattr(script, "filename", script)),
            tuple(sorted((k, str(v)) for k, v in attributes.items())))


def clean_page_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    kept, seen = [], set()
    for script in scripts:
        key = _script_key(script)
        if _is_thebe(script) or key in seen:
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept


def setup(app):
    app.connect("html-page-context", clean_page_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
