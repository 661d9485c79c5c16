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
  goes through `cnnbook.live.externalize`: a small loader adds the engine when the explorer
  nears the screen, and arrays of 1 kB or more (a network's weights, the sample images) move to
  one data script under `_images/live/` (`cnnbook.live.data_script`, named by its hash) that the
  explorer adds then. Both load by <script src>, so the explorers also work from a copy of the
  book opened from disk (file://), where a browser refuses fetch(). A cold load of a page whose
  explorer is below the fold loads neither.
- `cnnbook.js` (from `scripts/static/`): the theme's menu and page-contents buttons work at
  every width (the theme binds its handlers to a hidden copy of each button only).
- Hidden check cells: the source of each chapter's `remove-cell` cells (the asserts that keep
  the prose's numbers true) is shown at the end of its page in a collapsed "What this page
  checks" block, so the reader can see what "a hidden check" verifies; each mention of a
  hidden check in the prose links to it.
- Search: the scripts of the inline search load with `defer` (searchindex.js no longer blocks
  the page), result snippets leave out the page's navigation (`Search.htmlToText`), the scorer
  (`static/search_scorer.js`) ranks a chapter whose title holds the query first, and from disk,
  where a snippet cannot be fetched, results show without one.
- Images load lazily (`loading="lazy"`): the browser fetches a figure when it comes near the
  screen, not every figure of a long chapter on the first load.
- An author–year bibliography style (`authoryear`), so the labels in the reference list match
  the author–year citations in the text, and a citation style (`author_year_labelled`) whose
  year carries the label's letter: two works by "Li et al." from 2020 read "2020a" and "2020b"
  in the text, as in the reference list.
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
    # the page's own equations: the math domain's has_equations(pagename) also counts every page
    # below it in the table of contents, so the root page (the intro) would load MathJax
    has_math = bool(app.env.get_domain("math").data.get("has_equations", {}).get(pagename))
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
    from cnnbook.live import data_script, externalize
    if app.builder.format != "html":
        return
    engine = _engine_path()
    prefix = "../" * docname.count("/")
    version = hashlib.sha1(engine.read_bytes()).hexdigest()[:10]
    engine_src = f"{prefix}_static/{engine.name}?v={version}"
    folder = Path(app.outdir) / "_images" / "live"

    def save(data: bytes) -> str:
        name = hashlib.sha1(data).hexdigest()[:20]
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / f"{name}.js").exists():
            (folder / f"{name}.js").write_text(data_script(data, name), encoding="utf-8")
        return f"{prefix}_images/live/{name}.js"

    for raw in list(doctree.findall(nodes.raw)):
        text = raw.astext()
        if "cnnbook-live-engine" not in text:
            continue
        raw.replace_self(nodes.raw("", externalize(text, engine_src, save), **raw.attributes))


def _add_static_paths(app, config):
    config.html_static_path.append(str(STATIC))
    # the live explorers' engine, served as _static/cnnbook_live.js (the folder holds only it)
    config.html_static_path.append(str(_engine_path().parent))
    if not config.html_search_scorer:
        config.html_search_scorer = str(STATIC / "search_scorer.js")


EAGER_IMG = re.compile(r"<img (?![^>]*\bloading=)")


def lazy_images(text: str) -> str:
    """`text` with ``loading="lazy"`` on every <img> that does not say how it loads."""
    return EAGER_IMG.sub('<img loading="lazy" ', text)


def drop_fontawesome(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        cleaned = defer_search_scripts(lazy_images(FONTAWESOME_SCRIPT.sub("", text)))
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


def _hidden_cells(path: Path) -> list[tuple[str, str]]:
    """``(section, source)`` of every code cell tagged `remove-cell` in the notebook at `path`,
    with the title of the last heading above it (or "" before the first heading)."""
    import json
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    section, found = "", []
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        if cell.get("cell_type") == "markdown":
            for line in source.splitlines():
                m = re.match(r"#{1,6}\s+(.+?)\s*#*\s*$", line)
                if m:
                    section = re.sub(r"[*_`]|\{[^}]*\}|\(#[^)]*\)", "", m.group(1)).strip()
        elif (cell.get("cell_type") == "code" and source.strip()
              and "remove-cell" in cell.get("metadata", {}).get("tags", [])):
            found.append((section, source.rstrip()))
    return found


def hidden_checks_html(cells: list[tuple[str, str]], highlight) -> str:
    """The collapsed block that lists a page's hidden cells; `highlight(source)` -> HTML."""
    import html as html_lib
    if not cells:
        return ""
    parts = ['<details class="cnnbook-checks" id="cnnbook-checks">',
             f"<summary>What this page checks: the code of its {len(cells)} hidden "
             f"cell{'s' if len(cells) != 1 else ''}</summary>",
             "<p>These cells run with the page when the book is built and are left out of the "
             "text above. Each <code>assert</code> stops the build if a number or claim in the "
             "prose stops being true.</p>"]
    for i, (section, source) in enumerate(cells, 1):
        where = f" (in “{html_lib.escape(section)}”)" if section else ""
        parts.append(f'<div class="cnnbook-check"><p class="cnnbook-check-title">Hidden cell '
                     f"{i}{where}</p>{highlight(source)}</div>")
    parts.append("</details>")
    return "\n".join(parts)


def add_hidden_checks(app, pagename, templatename, context, doctree):
    """Appends a page's hidden check cells (collapsed) to the end of its body."""
    if doctree is None or app.builder.format != "html" or "body" not in context:
        return
    path = Path(app.env.doc2path(pagename))
    if path.suffix != ".ipynb":
        return

    def highlight(source):
        try:
            return app.builder.highlighter.highlight_block(source, "python")
        except Exception:  # a cell Pygments cannot lex: shown as plain text
            import html as html_lib
            return f'<div class="highlight"><pre>{html_lib.escape(source)}</pre></div>'

    block = hidden_checks_html(_hidden_cells(path), highlight)
    if block:
        context["body"] += block


HIDDEN_CHECK = re.compile(r"(hidden (?:check|assert)s?(?: cells?)?)")


def link_hidden_checks(app, doctree, docname):
    """On a chapter with hidden cells, each mention of "hidden check(s)" in the prose links to
    the block at the end of the page that shows them."""
    if app.builder.format != "html":
        return
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb" or not _hidden_cells(path):
        return
    skip = (nodes.reference, nodes.literal, nodes.literal_block, nodes.title, nodes.raw)
    for text in list(doctree.findall(nodes.Text)):
        parent = text.parent
        if parent is None or "hidden " not in text or isinstance(parent, skip):
            continue
        parts = HIDDEN_CHECK.split(str(text))
        if len(parts) == 1:
            continue
        new = [nodes.reference("", part, refuri="#cnnbook-checks", internal=True)
               if HIDDEN_CHECK.fullmatch(part) else nodes.Text(part) for part in parts if part]
        parent.replace(text, new)


SEARCH_SCRIPT = re.compile(r'<script src="([^"]*(?:_static/searchtools\.js|_static/language_data\.js|'
                           r'searchindex\.js)[^"]*)"></script>')


def defer_search_scripts(text: str) -> str:
    """`text` with the search scripts (searchtools, language_data, searchindex.js) deferred, so
    the 1 MB index does not hold up the page; deferred scripts still run in document order."""
    return SEARCH_SCRIPT.sub(r'<script defer src="\1"></script>', text)


def _register_labelled_citation_style():
    """`author_year_labelled`: sphinxcontrib-bibtex's author_year with the year taken from the
    reference list's label, so that "Li et al. 2020a" and "Li et al. 2020b" differ in the
    text too."""
    from pybtex.richtext import Text
    from pybtex.style.template import node
    from sphinxcontrib.bibtex.plugin import register_plugin
    from sphinxcontrib.bibtex.style.referencing import author_year, basic_author_year
    from sphinxcontrib.bibtex.style.template import year as plain_year

    @node
    def labelled_year(children, data):
        assert not children
        label = getattr(data.get("formatted_entry"), "label", "") or ""
        m = re.search(r"(\d{4}[a-z])$", label)
        return Text(m.group(1)) if m else plain_year.format_data(data)

    def relabel(template):
        # the inner templates name `year`; swap it for the labelled one
        if template is plain_year:
            return labelled_year
        if hasattr(template, "children"):
            template.children = [relabel(c) for c in template.children]
        return template

    class Parenthetical(basic_author_year.BasicAuthorYearParentheticalReferenceStyle):
        def inner(self, role_name):
            return relabel(super().inner(role_name))

    class Textual(basic_author_year.BasicAuthorYearTextualReferenceStyle):
        def inner(self, role_name):
            return relabel(super().inner(role_name))

    class Labelled(author_year.AuthorYearReferenceStyle):
        def __post_init__(self):
            super().__post_init__()
            swap = {basic_author_year.BasicAuthorYearParentheticalReferenceStyle: Parenthetical,
                    basic_author_year.BasicAuthorYearTextualReferenceStyle: Textual}
            for i, style in enumerate(self.styles):
                if type(style) in swap:
                    self.styles[i] = swap[type(style)](**{
                        k: getattr(style, k) for k in style.__dataclass_fields__})
            # the role -> style table was filled from the original styles
            self.role_style.clear()
            self.role_style.update((role, style) for style in self.styles
                                   for role in style.role_names())

    register_plugin("sphinxcontrib.bibtex.style.referencing", "author_year_labelled", Labelled,
                    force=True)


def setup(app):
    _register_authoryear_style()
    _register_labelled_citation_style()
    app.connect("config-inited", _add_static_paths)
    app.add_css_file("cnnbook.css")
    app.add_js_file("cnnbook.js", loading_method="defer")
    app.connect("html-page-context", add_hidden_checks)
    app.connect("doctree-resolved", link_hidden_checks)
    app.add_css_file("figures.css")      # static figures: tap to open at full size
    app.add_js_file("figures.js", defer="defer")
    app.connect("html-page-context", clean_page_scripts, priority=900)
    app.connect("doctree-resolved", add_alt_text)
    app.connect("doctree-resolved", externalize_explorer_frames)
    app.connect("doctree-resolved", externalize_live_explorers)
    app.connect("build-finished", drop_fontawesome)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
