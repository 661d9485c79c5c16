"""Drive Chromium over the built book (`_build/html`) as a reader would: every page loads without
errors and without a single request to another host; every image on it has loaded and the page
shows exactly as many images as its executed notebook produced; every slider of every explorer
changes the figure, and explorer text is legible; every live explorer (computed in the page)
starts once scrolled to, with its engine and data fetched from files, never inline; MathJax renders; the page weighs at most
`MAX_PAGE_BYTES` on a cold load; at phone width (390 px) no code or output block scrolls
sideways, a table that scrolls inside its box fades at the edge where it goes on (and no other
table fades), and the explorer read-outs stay on screen.

Needs the built book (`make book`), Debian's `chromium` at /usr/bin/chromium and pip's
`playwright` (its own browser downloads are never used). Skipped, with the reason, when any
of these is missing, unless CNNBOOK_REQUIRE_BROWSER=1 (as in `make test`), which turns the
skip into a failure. CNNBOOK_HTML_DIR points the test at another built book.
"""
from __future__ import annotations

import functools
import http.server
import re
import sys
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("CNNBOOK_HTML_DIR", ROOT / "_build" / "html")).resolve()
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
LOCAL_HOST = "127.0.0.1"
# Schemes that never leave the page (inline images, blobs); everything else must be local.
INLINE_SCHEMES = {"data", "blob", "about"}
WIDGET_TIMEOUT_MS = 30_000
MAX_PAGE_BYTES = 4_000_000        # everything a page loads on a cold cache
PHONE_WIDTH = 390
COLUMN_PX = 688                   # cnnbook.widgets.COLUMN_PX: the text column at 1280 px
MIN_TEXT_PX = 11                  # cnnbook.widgets.MIN_TEXT_PX
sys.path.insert(0, str(ROOT / "scripts"))
from check_figures import IMAGE_MIMES, executed_notebooks  # noqa: E402
from conftest import CHROMIUM, browser_skip_reason, skip_unless_browser  # noqa: E402


def _book_pages() -> list[str]:
    """Every HTML page of the book, relative to the site root (not static assets)."""
    if not (HTML / "index.html").is_file():
        return []
    skip = {"_static", "_sources", "_images", "jupyter_execute", "_downloads"}
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if not skip & set(p.relative_to(HTML).parts[:-1]))


PAGES = _book_pages()


def _skip_reason() -> str | None:
    if not PAGES:
        return f"no built book at {HTML} (run `make book` first)"
    return browser_skip_reason()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def site():
    """Serve _build/html on 127.0.0.1 at a free port from a background thread."""
    skip_unless_browser(_skip_reason(), "the browser test")
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer((LOCAL_HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL_HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(site):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


class PageLog:
    """Everything that went wrong while a page loaded and was used."""

    def __init__(self):
        self.external: list[str] = []
        self.errors: list[str] = []
        self.responses: list = []

    def page_bytes(self) -> int:
        """Bytes of every response the page received (bodies, as transferred uncompressed)."""
        total = 0
        for resp in self.responses:
            try:
                total += len(resp.body())
            except Exception:  # redirects and aborted requests have no body
                pass
        return total

    def problems(self) -> list[str]:
        return ([f"request to another host: {u}" for u in self.external] + self.errors)


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in INLINE_SCHEMES or parts.hostname == LOCAL_HOST


def _open(browser, url: str, width: int = 1280):
    """A fresh page (cold cache) that blocks and records every request leaving 127.0.0.1."""
    log = PageLog()
    context = browser.new_context(viewport={"width": width, "height": 900},
                                  service_workers="block")

    def route(r):
        if _is_local(r.request.url):
            r.continue_()
        else:
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("request", lambda req: None if _is_local(req.url) else log.external.append(req.url))
    page.on("pageerror", lambda exc: log.errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: log.errors.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" else None)
    page.on("requestfailed", lambda req: log.errors.append(
        f"request failed: {req.url} ({req.failure})") if _is_local(req.url) else None)
    page.on("response", lambda resp: log.errors.append(f"HTTP {resp.status}: {resp.url}")
            if resp.status >= 400 else None)
    page.on("response", lambda resp: log.responses.append(resp))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return context, page, log


def _explorer_state(explorer) -> tuple:
    """The figure the reader sees: each visible image's `src` and pixels. The sliders are left
    out on purpose, since their handle and read-out move whether or not the figure follows."""
    return tuple((img.get_attribute("src") or "", img.screenshot())
                 for img in explorer.locator("img").all() if img.is_visible())


def _check_explorers(page, log: PageLog, html: str) -> None:
    """Every explorer on the page renders, each of its sliders changes the figure, and its
    smallest text shows at >= MIN_TEXT_PX px."""
    if "cnnbook-explorer" not in html:
        return
    explorers = page.locator(".cnnbook-explorer")
    try:
        explorers.first.wait_for(state="attached", timeout=WIDGET_TIMEOUT_MS)
    except Exception as exc:  # playwright's TimeoutError
        log.errors.append(f"the page holds an explorer but none rendered: {exc}")
        return
    for i in range(explorers.count()):
        explorer = explorers.nth(i)
        explorer.scroll_into_view_if_needed(timeout=WIDGET_TIMEOUT_MS)
        explorer.locator("img").first.wait_for(state="attached", timeout=WIDGET_TIMEOUT_MS)
        min_px = explorer.get_attribute("data-min-text-px")
        shown_width = explorer.locator(".cnnbook-frames").evaluate("e => e.clientWidth")
        if min_px and float(min_px) * shown_width / COLUMN_PX < MIN_TEXT_PX - 0.05:
            log.errors.append(f"explorer {i}: smallest text {float(min_px) * shown_width / COLUMN_PX:.1f} px "
                              f"(frames {shown_width} px wide); at least {MIN_TEXT_PX} px needed")
        sliders = explorer.locator("input[type=range]")
        for j in range(sliders.count()):
            slider = sliders.nth(j)
            if slider.get_attribute("max") == "0":
                continue
            if not slider.get_attribute("aria-valuetext"):
                log.errors.append(f"explorer {i}, slider {j}: no aria-valuetext (spoken value)")
            before = _explorer_state(explorer)
            slider.focus()
            for key in ("ArrowRight", "End", "Home"):
                page.keyboard.press(key)
                page.wait_for_timeout(100)
                if _explorer_state(explorer) != before:
                    break
            else:
                log.errors.append(f"explorer {i}: moving slider {j} did not change the figure")


def _start_live(page) -> None:
    """Scroll to every live explorer, so that its engine and data load, and wait until it starts."""
    roots = page.locator(".cnnbook-live")
    for i in range(roots.count()):
        roots.nth(i).scroll_into_view_if_needed(timeout=WIDGET_TIMEOUT_MS)
        try:
            roots.nth(i).locator(".cl-body").wait_for(state="attached", timeout=WIDGET_TIMEOUT_MS)
        except Exception:  # playwright's TimeoutError: the callers report what did not start
            pass


def _check_live(page, log: PageLog, html: str) -> None:
    """Every live explorer (`cnnbook.live`: computed in the page, no frames) starts once the
    reader scrolls to it (its engine and data load then): the engine built the controls, and
    none reported an error."""
    if "cnnbook-live" not in html:
        return
    _start_live(page)
    roots = page.locator(".cnnbook-live")
    for i in range(roots.count()):
        root = roots.nth(i)
        if root.locator(".cl-body").count() != 1 or not root.evaluate("e => !!e.cnnbookLive"):
            log.errors.append(f"live explorer {i} ({root.get_attribute('data-kind')}) did not start: "
                              f"{root.text_content()[:120]!r}")


@functools.lru_cache(maxsize=1)
def _executed() -> dict:
    return executed_notebooks(HTML.parent, ROOT / "book")


def _expected_images(path: str) -> int | None:
    """Images the executed notebook of page `path` shows: image outputs plus <img> tags in its
    HTML outputs (explorer frames), leaving out cells whose output the page removes."""
    nb = _executed().get(Path(path).stem)
    if nb is None:
        return None
    total = 0
    for cell in nb.get("cells", []):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.get("cell_type") != "code" or tags & {"remove-output", "remove-cell"}:
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if any(m in data for m in IMAGE_MIMES):
                total += 1
            elif "text/html" in data:
                html = data["text/html"]
                total += ("".join(html) if isinstance(html, list) else html).count("<img")
    return total


def _check_images(page, log: PageLog, path: str) -> None:
    """Every <img> has loaded (hidden explorer frames included), and the page's article shows as
    many images as its executed notebook produced."""
    # Explorer frames load lazily; fetch them all now, then every image must have decoded.
    page.evaluate("() => document.querySelectorAll('img').forEach(img => { img.loading = 'eager'; })")
    try:
        page.wait_for_function("() => [...document.images].every(img => img.complete)",
                               timeout=WIDGET_TIMEOUT_MS)
    except Exception:  # playwright's TimeoutError: reported below as images not loaded
        pass
    broken = page.evaluate("""() => [...document.images]
        .filter(img => !(img.complete && img.naturalWidth > 0))
        .map(img => (img.getAttribute('src') || '').slice(0, 80))""")
    for src in broken:
        log.errors.append(f"image did not load: {src}")
    expected = _expected_images(path)
    if expected is None:
        return
    shown = page.locator("article .cell_output img").count()
    if shown != expected:
        log.errors.append(f"the page shows {shown} images in cell outputs, its executed notebook "
                          f"has {expected}")


def _check_math(page, log: PageLog) -> None:
    if page.locator(".math").count() == 0:
        return
    try:
        page.wait_for_selector("mjx-container", state="attached", timeout=WIDGET_TIMEOUT_MS)
    except Exception as exc:  # playwright's TimeoutError
        log.errors.append(f"MathJax did not render the page's math: {exc}")


@pytest.mark.parametrize("path", PAGES or [None], ids=lambda p: p or "no-book")
def test_page_is_self_contained_and_works(browser, site, path):
    context, page, log = _open(browser, site + path)
    html = (HTML / path).read_text(encoding="utf-8", errors="replace")
    try:
        weight = log.page_bytes()            # the cold load, before the reader touches anything
        _check_math(page, log)
        _check_images(page, log, path)
        _check_explorers(page, log, html)
        _check_live(page, log, html)
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    if "application/vnd.jupyter.widget-state+json" in html:
        log.errors.append("the page embeds ipywidgets state, which loads the 3.5 MB widget "
                          "manager; explorers and progress bars must be plain HTML in the book")
    sizes = [float(v) for v in re.findall(r'data-min-text-px="([\d.]+)"',
                                          (HTML / path).read_text(encoding="utf-8", errors="replace"))]
    smallest = f", smallest explorer text {min(sizes):.1f} px" if sizes else ""
    print(f"page weight, cold load: {path}: {weight / 1e6:.2f} MB{smallest}")
    problems = log.problems()
    if weight > MAX_PAGE_BYTES:
        problems.append(f"the page loads {weight / 1e6:.2f} MB on a cold load; at most "
                        f"{MAX_PAGE_BYTES / 1e6:.1f} MB")
    assert not problems, f"{path}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", PAGES or [None], ids=lambda p: p or "no-book")
def test_page_reads_on_a_phone(browser, site, path):
    """At 390 px the page never pans sideways, nothing in the article scrolls sideways except
    tables (display equations fit, at no less than 75 % of their size), and every
    explorer's slider read-out is on screen (live explorers once scrolled to, when started)."""
    context, page, log = _open(browser, site + path, width=PHONE_WIDTH)
    try:
        _start_live(page)
        _check_math(page, log)
        page.wait_for_timeout(300)                    # cnnbook.js fits display equations
        pan = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        scrolling_math = page.evaluate("""() => [...document.querySelectorAll('mjx-container[display="true"]')]
            .filter(m => m.scrollWidth > m.clientWidth + 1).map(m => m.scrollWidth - m.clientWidth)""")
        shrunk = page.evaluate("""() => [...document.querySelectorAll('mjx-container[display="true"]')]
            .map(m => parseFloat(m.style.fontSize) || 100).filter(p => p < 75)""")
        wide = page.evaluate("""() => [...document.querySelectorAll('article pre')]
            .filter(p => p.scrollWidth > p.clientWidth + 1)
            .map(p => p.textContent.trim().split('\\n')[0].slice(0, 60))""")
        off = page.evaluate(f"""() => [...document.querySelectorAll('.cnnbook-explorer output, .cnnbook-live output')]
            .filter(o => o.getBoundingClientRect().right > {PHONE_WIDTH})
            .map(o => o.textContent)""")
        unmarked = [t for t in _table_boxes(page) if t["scrolls"] != t["fades"]]
    finally:
        context.close()
    assert pan <= 0, f"{path}: the page pans {pan} px sideways at {PHONE_WIDTH} px"
    assert not unmarked, (f"{path}: at {PHONE_WIDTH} px a table box fades at its edge where it "
                          f"does not scroll, or scrolls without fading: {unmarked[:3]}")
    assert not scrolling_math, (f"{path}: {len(scrolling_math)} display equations scroll at "
                                f"{PHONE_WIDTH} px even at 60 % size (by {scrolling_math} px): "
                                f"break them into lines (aligned, gathered)")
    assert not shrunk, (f"{path}: display equations shrunk to {shrunk} % to fit {PHONE_WIDTH} px "
                        f"(at least 75 % keeps them legible): break them into lines")
    assert not wide, f"{path}: {len(wide)} code/output blocks scroll sideways at {PHONE_WIDTH} px: {wide[:5]}"
    assert not off, f"{path}: explorer read-outs off screen at {PHONE_WIDTH} px: {off[:5]}"


_TABLE_BOXES_JS = """() => [...document.querySelectorAll('article table')].map(t => {
    let box = t.parentElement;
    while (box && box.tagName !== 'ARTICLE'
           && !['auto', 'scroll'].includes(getComputedStyle(box).overflowX)) box = box.parentElement;
    if (!box || box.tagName === 'ARTICLE') return null;
    const style = getComputedStyle(box), mask = style.maskImage || style.webkitMaskImage || 'none';
    return {table: (t.rows[0] || {innerText: ''}).innerText.replace(/\\s+/g, ' ').slice(0, 50),
            scrolls: box.scrollWidth - box.clientWidth > 1, fades: mask !== 'none',
            right: box.classList.contains('cnnbook-more-right'),
            left: box.classList.contains('cnnbook-more-left')};
}).filter(Boolean)"""


def _table_boxes(page) -> list[dict]:
    """Every table in the article that sits in a box of its own that can scroll sideways:
    whether it does scroll, and whether it fades at an edge (cnnbook.js and cnnbook.css)."""
    page.wait_for_timeout(200)          # cnnbook.js marks the boxes again once MathJax is done
    return page.evaluate(_TABLE_BOXES_JS)


def test_a_table_wider_than_a_phone_shows_that_it_scrolls(browser, site):
    """A table cut off by the phone's column fades out at its right edge; scrolled to its end,
    at its left edge only; on a wide screen, where it fits, it does not fade."""
    path = "book/07_activations.html"
    if path not in PAGES:
        pytest.fail(f"{path} is not in the built book: point this test at a page whose table "
                    f"is wider than {PHONE_WIDTH} px")
    context, page, log = _open(browser, site + path, width=PHONE_WIDTH)
    try:
        _check_math(page, log)
        first = _table_boxes(page)
        page.evaluate("""() => document.querySelectorAll('.cnnbook-more-right')
                                       .forEach(b => { b.scrollLeft = b.scrollWidth; })""")
        page.wait_for_timeout(200)
        after = _table_boxes(page)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.wait_for_timeout(500)                       # the resize handler waits 150 ms
        wide = _table_boxes(page)
    finally:
        context.close()
    cut = [t for t in first if t["scrolls"]]
    assert cut, f"{path}: no table scrolls at {PHONE_WIDTH} px; this test needs one that does"
    assert all(t["right"] and not t["left"] and t["fades"] for t in cut), cut
    assert all(t["left"] and not t["right"] and t["fades"] for t in after if t["scrolls"]), after
    assert all(not t["scrolls"] and not t["fades"] for t in wide), wide
    assert not log.problems(), log.problems()


def _pages_containing(marker: str) -> list[str]:
    return [p for p in PAGES if marker in (HTML / p).read_text(encoding="utf-8", errors="replace")]


def test_mathjax_is_self_hosted_and_renders(browser, site):
    """At least one page has math; MathJax comes from the book itself and typesets it."""
    pages = _pages_containing('class="math')
    assert pages, "no page of the book contains math; expected at least the conventions page"
    context, page, log = _open(browser, site + pages[0])
    try:
        page.wait_for_selector("mjx-container", state="attached", timeout=WIDGET_TIMEOUT_MS)
        count = page.locator("mjx-container").count()
        mathjax_src = page.locator("script[src*='tex-mml-chtml']").first.get_attribute("src")
    finally:
        context.close()
    assert count >= 1
    assert mathjax_src and "_static/mathjax/" in mathjax_src, mathjax_src
    assert not log.problems(), log.problems()


def test_widget_pages_load_self_hosted_manager(site):
    """Pages with embedded widget state (none, since explorers are plain HTML) load the HTML
    manager from _static, never a CDN."""
    for path in _pages_containing("application/vnd.jupyter.widget-state+json"):
        text = (HTML / path).read_text(encoding="utf-8")
        assert "_static/widgets/html-manager/dist/embed-amd.js" in text, path
        assert "_static/widgets/require.js" in text, path
        assert "cdn.jsdelivr" not in text and "cdnjs" not in text and "unpkg" not in text, path


# Base64 runs at least this long would be data that belongs in a file (the live explorers' arrays
# of 1 kB or more leave the page, `cnnbook.live.externalize`).
MAX_INLINE_BASE64 = 2_000


def test_live_explorer_pages_fetch_engine_and_data_from_files():
    """A page with a live explorer carries neither a copy of the engine nor its large arrays:
    its loader names _static/cnnbook_live.js, its config names one binary file under
    _images/live/, both exist, and no base64 run of MAX_INLINE_BASE64 characters is left."""
    if not PAGES:
        pytest.skip(f"no built book at {HTML} (run `make book` first)")
    pages = _pages_containing('class="cnnbook-live"')
    assert pages, "no page of the book holds a live explorer"
    for path in pages:
        page = HTML / path
        text = page.read_text(encoding="utf-8", errors="replace")
        assert "cnnbook-live-engine" not in text and "function conv2d" not in text, \
            f"{path}: the engine is inline"
        runs = [len(r) for r in re.findall(r"[A-Za-z0-9+/]{%d,}" % MAX_INLINE_BASE64, text)]
        assert not runs, f"{path}: base64 runs of {runs} characters inline"
        engines = re.findall(r'data-engine="([^"?]+)[^"]*"', text)
        assert engines and all((page.parent / e).resolve() == HTML / "_static" / "cnnbook_live.js"
                               for e in engines), (path, engines)
        assert (HTML / "_static" / "cnnbook_live.js").is_file()
        for binary in re.findall(r'"binary":"([^"]+)"', text):
            f = (page.parent / binary).resolve()
            assert f.is_file() and f.parent == HTML / "_images" / "live", (path, binary)


# ------------------------------------------------------------------ navigation, disk, search

NAV_PAGE = "book/05_receptive_field.html"


def _nav_page() -> str:
    if NAV_PAGE not in PAGES:
        pytest.skip(f"{NAV_PAGE} is not in the built book")
    return NAV_PAGE


@pytest.mark.parametrize("width", [PHONE_WIDTH, 900])
def test_menu_and_page_contents_open_on_narrow_screens(browser, site, width):
    """Below 992 px the sidebars are behind two buttons: the menu button opens the table of
    contents, whose links lead to other chapters, and the page-contents button opens the list
    of the page's sections; Escape closes it."""
    path = _nav_page()
    context, page, log = _open(browser, site + path, width=width)
    try:
        toggle = page.locator(".primary-toggle:visible")
        assert toggle.count() == 1, f"{toggle.count()} visible menu buttons at {width} px"
        toggle.click()
        dialog = page.locator("#pst-primary-sidebar-modal")
        page.wait_for_function("() => document.querySelector('#pst-primary-sidebar-modal').open",
                               timeout=5_000)
        links = dialog.locator("a.reference.internal:visible")
        assert links.count() >= 10, f"the open menu shows {links.count()} links"
        target = dialog.locator("a.reference.internal:visible[href*='03_kernels']").first
        href = target.get_attribute("href")
        target.click()
        page.wait_for_url(re.compile(r"03_kernels\.html"), timeout=10_000)
        assert "03_kernels" in href
        contents = page.locator(".secondary-toggle:visible")
        assert contents.count() == 1, f"{contents.count()} visible page-contents buttons at {width} px"
        contents.click()
        page.wait_for_function("() => document.querySelector('#pst-secondary-sidebar-modal').open",
                               timeout=5_000)
        sections = page.locator("#pst-secondary-sidebar-modal a:visible")
        assert sections.count() >= 3, f"the page contents show {sections.count()} links"
        page.keyboard.press("Escape")
        page.wait_for_function("() => !document.querySelector('#pst-secondary-sidebar-modal').open",
                               timeout=5_000)
    finally:
        context.close()
    assert not log.problems(), log.problems()


def test_menu_button_hides_and_shows_the_sidebar_on_a_wide_screen(browser, site):
    path = _nav_page()
    context, page, log = _open(browser, site + path, width=1280)
    try:
        sidebar = page.locator("#pst-primary-sidebar")
        assert sidebar.is_visible()
        toggle = page.locator(".primary-toggle:visible")
        assert toggle.count() == 1
        toggle.click()
        page.wait_for_timeout(300)
        hidden = not sidebar.is_visible()
        toggle.click()
        page.wait_for_timeout(300)
        shown_again = sidebar.is_visible()
    finally:
        context.close()
    assert hidden and shown_again, (hidden, shown_again)
    assert not log.problems(), log.problems()


def _open_file(browser, path: str, width: int = 1280):
    """A page opened from disk (file://), as a reader who double-clicks index.html does."""
    log = PageLog()
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda exc: log.errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: log.errors.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" else None)
    page.on("request", lambda req: None if urlsplit(req.url).scheme in INLINE_SCHEMES | {"file"}
            else log.external.append(req.url))
    page.goto((HTML / path).as_uri() if "?" not in path
              else (HTML / path.split("?")[0]).as_uri() + "?" + path.split("?", 1)[1],
              wait_until="load")
    return context, page, log


def test_live_explorers_work_from_disk(browser):
    """From file://, where fetch() is refused, every live explorer starts and computes: the
    engine and its data load by <script src>."""
    skip_unless_browser(_skip_reason(), "the browser test")
    pages = _pages_containing('class="cnnbook-live"')
    assert pages, "no page of the book holds a live explorer"
    started = 0
    for path in pages:
        context, page, log = _open_file(browser, path)
        try:
            _start_live(page)
            roots = page.locator(".cnnbook-live")
            for i in range(roots.count()):
                root = roots.nth(i)
                if root.locator(".cl-body").count() == 1 and root.evaluate("e => !!e.cnnbookLive"):
                    started += 1
                else:
                    log.errors.append(f"live explorer {i} did not start from disk: "
                                      f"{root.text_content()[:160]!r}")
        finally:
            context.close()
        assert not log.problems(), f"{path} from disk:\n  " + "\n  ".join(log.problems())
    print(f"live explorers started from file://: {started}")
    assert started >= 3


def _search(page, site_or_none, query: str):
    page.wait_for_function("() => document.querySelectorAll('#search-results li').length > 0 || "
                           "/did not match/.test(document.body.textContent)", timeout=WIDGET_TIMEOUT_MS)
    page.wait_for_timeout(500)
    return page.evaluate("""() => [...document.querySelectorAll('#search-results li')].map(li => ({
        href: li.querySelector('a').getAttribute('href'),
        snippet: (li.querySelector('p.context') || {textContent: ''}).textContent.trim()}))""")


def test_search_ranks_the_chapter_first_and_shows_real_snippets(browser, site):
    if "search.html" not in PAGES:
        pytest.skip("no search page")
    context, page, log = _open(browser, site + "search.html?q=receptive+field")
    try:
        results = _search(page, site, "receptive field")
        form = page.locator(".bd-search-container form.bd-search").first
        box = form.locator("input").first.bounding_box()
        icon = form.locator("i, svg").first.bounding_box()
        padding = form.locator("input").first.evaluate(
            "e => parseFloat(getComputedStyle(e).paddingLeft)")
    finally:
        context.close()
    assert results and "05_receptive_field" in results[0]["href"], [r["href"] for r in results[:5]]
    with_snippet = [r for r in results[:8] if r["snippet"]]
    assert with_snippet, "no result shows a snippet"
    assert not any(r["snippet"].startswith("…Contents") or r["snippet"].startswith("Contents")
                   for r in with_snippet), [r["snippet"][:60] for r in with_snippet]
    # the magnifier sits left of where the typed text starts
    assert box and icon and icon["x"] + icon["width"] <= box["x"] + padding + 1, (icon, box, padding)
    assert not log.problems(), log.problems()


def test_search_works_from_disk(browser):
    skip_unless_browser(_skip_reason(), "the browser test")
    if "search.html" not in PAGES:
        pytest.skip("no search page")
    context, page, log = _open_file(browser, "search.html?q=receptive+field")
    try:
        results = _search(page, None, "receptive field")
    finally:
        context.close()
    assert results and "05_receptive_field" in results[0]["href"], results[:3]
    assert not log.problems(), log.problems()


# ------------------------------------------------------------------ hidden checks, citations

def _hidden_cell_count(path: str) -> int:
    import json
    nb_path = ROOT / "book" / (Path(path).stem + ".ipynb")
    if not nb_path.is_file():
        return 0
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return sum(1 for c in nb["cells"] if c["cell_type"] == "code"
               and "".join(c["source"]).strip()
               and "remove-cell" in c.get("metadata", {}).get("tags", []))


def test_every_hidden_cell_is_listed_on_its_page():
    """Each chapter lists the source of all its hidden (remove-cell) cells at its end."""
    if not PAGES:
        pytest.skip(f"no built book at {HTML} (run `make book` first)")
    listed = 0
    for path in PAGES:
        expected = _hidden_cell_count(path) if path.startswith("book/") else 0
        text = (HTML / path).read_text(encoding="utf-8", errors="replace")
        shown = text.count('class="cnnbook-check"')
        assert shown == expected, f"{path}: {shown} hidden cells listed, the notebook has {expected}"
        assert text.count('class="cnnbook-checks"') == (1 if expected else 0), path
        listed += shown
    print(f"hidden cells listed: {listed}")
    assert listed > 50


def test_hidden_checks_open_on_a_click(browser, site):
    path = _nav_page()
    context, page, log = _open(browser, site + path)
    try:
        block = page.locator("details.cnnbook-checks")
        assert block.count() == 1 and not block.evaluate("d => d.open")
        assert not block.locator("pre").first.is_visible()
        block.locator("summary").click()
        assert block.evaluate("d => d.open")
        code = block.locator("pre").first
        assert code.is_visible() and "assert" in block.text_content()
    finally:
        context.close()
    assert not log.problems(), log.problems()


def test_mentions_of_a_hidden_check_link_to_the_block(browser, site):
    pages = [p for p in PAGES if p.startswith("book/04_")]
    if not pages:
        pytest.skip("no chapter 4")
    context, page, log = _open(browser, site + pages[0])
    try:
        links = page.locator("article a[href='#cnnbook-checks']")
        assert links.count() >= 1
        assert "hidden check" in links.first.text_content()
        links.first.click()
        page.wait_for_function("() => document.getElementById('cnnbook-checks').open", timeout=5_000)
    finally:
        context.close()
    assert not log.problems(), log.problems()


def test_citations_with_the_same_author_and_year_read_differently():
    """Where the reference list tells two works apart by a letter ("Li et al. 2020a", "2020b"),
    the citations in the text carry the same letter."""
    if "book/bibliography.html" not in PAGES:
        pytest.skip("no bibliography page")
    bib = (HTML / "book" / "bibliography.html").read_text(encoding="utf-8")
    lettered = sorted(set(re.findall(r"\b((?:19|20)\d\d[a-z])\]?<", bib)))
    assert lettered, "the reference list has no label with a letter"
    cited = set()
    for path in PAGES:
        if path == "book/bibliography.html":
            continue
        text = (HTML / path).read_text(encoding="utf-8", errors="replace")
        for link in re.findall(r'<a class="reference internal" href="bibliography\.html#[^"]+"[^>]*>(.*?)</a>', text):
            plain = re.sub(r"<[^>]+>", "", link)
            cited.update(y for y in lettered if plain.endswith(y))
    assert cited == set(lettered), (lettered, cited)


# ------------------------------------------------------------------ weight, scripts, layout

def test_math_free_pages_do_not_load_mathjax_and_search_scripts_are_deferred():
    if not PAGES:
        pytest.skip(f"no built book at {HTML} (run `make book` first)")
    assert "index.html" in PAGES or "book/intro.html" in PAGES
    for path in PAGES:
        text = (HTML / path).read_text(encoding="utf-8", errors="replace")
        if 'class="math' not in text and "tex-mml-chtml" in text:
            pytest.fail(f"{path} has no math but loads MathJax")
        for tag in re.findall(r"<script[^>]*(?:searchindex|searchtools|language_data)\.js[^>]*>", text):
            assert " defer" in tag or " async" in tag, f"{path}: {tag} blocks the page"
    intro = HTML / "book" / "intro.html"
    if intro.is_file():
        assert "tex-mml-chtml" not in intro.read_text(encoding="utf-8")


def test_wide_tables_fit_the_column_at_1280(browser, site):
    pages = [p for p in PAGES if "appendix" in p]
    if not pages:
        pytest.skip("no appendix page")
    context, page, log = _open(browser, site + pages[0], width=1280)
    try:
        tables = page.evaluate("""() => [...document.querySelectorAll('article table')].map(t => ({
            width: t.getBoundingClientRect().width,
            column: (a => a.clientWidth - parseFloat(getComputedStyle(a).paddingLeft)
                     - parseFloat(getComputedStyle(a).paddingRight))(t.closest('article')),
            head: (t.querySelector('th') || {textContent: ''}).textContent.trim().slice(0, 30)}))""")
    finally:
        context.close()
    assert tables, "the appendix shows no table"
    wide = [t for t in tables if t["width"] > t["column"] + 1]
    print("appendix tables at 1280 px: " + ", ".join(f"{t['width']:.0f} px" for t in tables)
          + f" in a {tables[0]['column']:.0f} px column")
    assert not wide, wide


@pytest.mark.parametrize("path", PAGES or [None], ids=lambda p: p or "no-book")
def test_code_fits_the_column_on_a_wide_screen(browser, site, path):
    """At 1280 px no code block (a cell's input, or library code a chapter shows) scrolls
    sideways: every line fits the code column, which shows 78 characters."""
    context, page, log = _open(browser, site + path, width=1280)
    try:
        wide = page.evaluate("""() => [...document.querySelectorAll(
                'article div.highlight pre, article div.cell_input pre')]
            .filter(p => p.scrollWidth > p.clientWidth + 1)
            .map(p => p.textContent.trim().split('\\n')[0].slice(0, 60))""")
    finally:
        context.close()
    assert not wide, f"{path}: {len(wide)} code blocks scroll sideways at 1280 px: {wide[:5]}"
