"""A small Sphinx extension, loaded by _config.yml, that keeps every page self-contained, light
and readable.

- Jupyter Book 1 always loads sphinx-thebe, whose inline configuration names a CDN and, under
  Sphinx 7.4, is added to each page twice (a `const` declared twice is a JavaScript error).
  Thebe's launch button is off in this book, so its scripts are dropped from every page, and
  any other script registered twice is kept once.
- MathJax (1.2 MB) is loaded only by pages that have mathematics. myst-nb asks for it on every
  page, in case a cell prints LaTeX; the math domain knows which pages really have equations.
- The theme's `fontawesome.js` (1.5 MB) is not loaded: it only turns icon elements into inline
  SVG, and the theme's style sheet already draws the same icons from Font Awesome's web fonts.
- `cnnbook.css` (from `scripts/static/`): long code and output lines wrap instead of scrolling
  sideways, figures never overflow the column.
- Every image gets alternative text: a numbered figure's caption, else the first sentence of
  the paragraph that follows the cell that drew it (the book's prose describes each figure right
  after it).
- Explorer frames leave the page: a static explorer's HTML carries its frames as data URIs (so
  that a notebook output stands alone); in the book each frame becomes a file under
  `_images/explorers/` (named by its hash), and all but the frame on show load lazily, so a
  cold load fetches one frame per explorer and the rest arrive once the reader moves a slider.
- Live explorers (`cnnbook.live`) do not repeat their engine and data in every page: the engine
  is copied once to `_static/cnnbook_live.js` (versioned by its hash), and each explorer's output
  goes through `cnnbook.live.externalize`: a small loader fetches the engine when the explorer
  nears the screen, and arrays of 1 kB or more (a network's weights, the sample images) move to
  one binary file under `_images/live/` (named by its hash) that the explorer fetches then. A
  cold load of a page whose explorer is below the fold fetches neither.
- Images load lazily (`loading="lazy"`): the browser fetches a figure when it comes near the
  screen, not every figure of a long chapter on the first load.
- An author–year bibliography style (`authoryear`), so the labels in the reference list match
  the author–year citations in the text.
"""
from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes

THEBE_MARKERS = ("THEBE_JS_URL", "sphinx-thebe.js", "thebe@")
MATHJAX_MARKERS = ("mathjax", "window.MathJax")
FONTAWESOME_SCRIPT = re.compile(r'<script[^>]*src="[^"]*_static/scripts/fontawesome\.js[^"]*"[^>]*>\s*</script>\s*')
STATIC = Path(__file__).resolve().parent / "static"


def _script_text(script) -> str:
    return str(getattr(script, "filename", "") or "") + str(
        (getattr(script, "attributes", {}) or {}).get("body", ""))


def _is_thebe(script) -> bool:
    return any(marker in _script_text(script) for marker in THEBE_MARKERS)


def _is_mathjax(script) -> bool:
    return any(marker in _script_text(script) for marker in MATHJAX_MARKERS)


def _script_key(script):
    attributes = getattr(script, "attributes", {}) or {}
    return (str(getattr(script, "filename", script)),
            tuple(sorted((k, str(v)) for k, v in attributes.items())))


def clean_page_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    has_math = app.env.get_domain("math").has_equations(pagename)
    kept, seen = [], set()
    for script in scripts:
        key = _script_key(script)
        if _is_thebe(script) or key in seen or (not has_math and _is_mathjax(script)):
            continue
        seen.add(key)
        kept.append(script)
    scripts[:] = kept


def _first_sentence(text: str, limit: int = 220) -> str:
    text = " ".join(text.split())
    m = re.match(r"(.+?[.!?])(\s|$)", text)
    sentence = m.group(1) if m else text
    return sentence if len(sentence) <= limit else sentence[:limit].rsplit(" ", 1)[0] + "…"


def _cell_container(node):
    while node is not None and not (isinstance(node, nodes.container)
                                    and "cell" in node.get("classes", [])):
        node = node.parent
    return node


def add_alt_text(app, doctree, docname):
    for image in doctree.findall(nodes.image):
        if image.get("alt"):
            continue
        figure = image.parent if isinstance(image.parent, nodes.figure) else None
        caption = next(iter(figure.findall(nodes.caption)), None) if figure else None
        if caption is not None:
            image["alt"] = _first_sentence(caption.astext())
            continue
        cell = _cell_container(image)
        alt = ""
        if cell is not None:
            sibling = cell.next_node(nodes.paragraph, siblings=True, descend=False, ascend=True)
            if sibling is not None:
                alt = _first_sentence(sibling.astext())
        image["alt"] = alt or "A figure drawn by the code above."


FRAME_SRC = re.compile(r'<img class="cnnbook-frame" src="data:image/(webp|png);base64,([^"]+)"([^>]*)>')


def externalize_explorer_frames(app, doctree, docname):
    import base64
    import hashlib
    if app.builder.format != "html":
        return
    folder = Path(app.outdir) / "_images" / "explorers"
    prefix = "../" * docname.count("/") + "_images/explorers/"
    for raw in list(doctree.findall(nodes.raw)):
        text = raw.astext()
        if "cnnbook-explorer" not in text or "data:image/" not in text:
            continue

        def to_file(m):
            ext, data, rest = m.group(1), base64.b64decode(m.group(2)), m.group(3)
            name = hashlib.sha1(data).hexdigest()[:20] + "." + ext
            folder.mkdir(parents=True, exist_ok=True)
            if not (folder / name).exists():
                (folder / name).write_bytes(data)
            lazy = ' loading="lazy"' if " hidden" in rest else ""
            return f'<img class="cnnbook-frame" src="{prefix}{name}"{lazy}{rest}>'

        raw.replace_self(nodes.raw("", FRAME_SRC.sub(to_file, text), **raw.attributes))


def _engine_path() -> Path:
    from cnnbook.live import ENGINE
    return ENGINE


def externalize_live_explorers(app, doctree, docname):
    import hashlib
    from cnnbook.live import externalize
    if app.builder.format != "html":
        return
    engine = _engine_path()
    prefix = "../" * docname.count("/")
    version = hashlib.sha1(engine.read_bytes()).hexdigest()[:10]
    engine_src = f"{prefix}_static/{engine.name}?v={version}"
    folder = Path(app.outdir) / "_images" / "live"

    def save(data: bytes) -> str:
        name = hashlib.sha1(data).hexdigest()[:20] + ".bin"
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / name).exists():
            (folder / name).write_bytes(data)
        return f"{prefix}_images/live/{name}"

    for raw in list(doctree.findall(nodes.raw)):
        text = raw.astext()
        if "cnnbook-live-engine" not in text:
            continue
        raw.replace_self(nodes.raw("", externalize(text, engine_src, save), **raw.attributes))


def _add_static_paths(app, config):
    config.html_static_path.append(str(STATIC))
    # the live explorers' engine, served as _static/cnnbook_live.js (the folder holds only it)
    config.html_static_path.append(str(_engine_path().parent))


EAGER_IMG = re.compile(r"<img (?![^>]*\bloading=)")


def lazy_images(text: str) -> str:
    """`text` with ``loading="lazy"`` on every <img> that does not say how it loads."""
    return EAGER_IMG.sub('<img loading="lazy" ', text)


def drop_fontawesome(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = lazy_images(FONTAWESOME_SCRIPT.sub("", text))
        if cleaned != text:
            page.write_text(cleaned, encoding="utf-8")


def _register_authoryear_style():
    from pybtex.plugin import register_plugin
    from pybtex.richtext import Text
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle

    class AuthorYearLabels(BaseLabelStyle):
        """'LeCun et al. 1998', 'Dumoulin and Visin 2016', with a, b, ... for clashes."""

        def format_labels(self, sorted_entries):
            labels = []
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                last = [Text.from_latex(" ".join(p.last_names)).render_as("text") for p in people]
                if not last:
                    who = re.sub(r"[{}\\]", "", entry.fields.get("title", entry.key))[:24]
                elif len(last) == 1:
                    who = last[0]
                elif len(last) == 2:
                    who = f"{last[0]} and {last[1]}"
                else:
                    who = f"{last[0]} et al."
                labels.append(f"{who} {entry.fields.get('year', 'n.d.')}")
            counts: dict[str, int] = {}
            for label in labels:
                counts[label] = counts.get(label, 0) + 1
            seen: dict[str, int] = {}
            for label in labels:
                if counts[label] > 1:
                    seen[label] = seen.get(label, 0) + 1
                    yield label + "abcdefghijklmnopqrstuvwxyz"[seen[label] - 1]
                else:
                    yield label

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = "author_year_title"

    try:
        register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)
    except Exception:  # already registered (Sphinx reloads extensions in one process)
        pass


def setup(app):
    _register_authoryear_style()
    app.connect("config-inited", _add_static_paths)
    app.add_css_file("cnnbook.css")
    app.add_css_file("figures.css")      # static figures: tap to open at full size
    app.add_js_file("figures.js", defer="defer")
    app.connect("html-page-context", clean_page_scripts, priority=900)
    app.connect("doctree-resolved", add_alt_text)
    app.connect("doctree-resolved", externalize_explorer_frames)
    app.connect("doctree-resolved", externalize_live_explorers)
    app.connect("build-finished", drop_fontawesome)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
