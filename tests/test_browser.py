"""Drive Chromium over the built book (`_build/html`): every page loads without errors and
without a single request to another host, the slider explorers react, MathJax renders.

Needs the built book (`make book`), Debian's `chromium` at /usr/bin/chromium and pip's
`playwright` (its own browser downloads are never used). Skipped, with the reason, when any
of these is missing, unless CNNBOOK_REQUIRE_BROWSER=1 (as in `make test`), which turns the
skip into a failure. CNNBOOK_HTML_DIR points the test at another built book.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("CNNBOOK_HTML_DIR", ROOT / "_build" / "html")).resolve()
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
LOCAL_HOST = "127.0.0.1"
# Schemes that never leave the page (inline images, blobs); everything else must be local.
INLINE_SCHEMES = {"data", "blob", "about"}
WIDGET_TIMEOUT_MS = 30_000


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
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="module")
def site():
    """Serve _build/html on 127.0.0.1 at a free port from a background thread."""
    reason = _skip_reason()
    if reason and os.environ.get("CNNBOOK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CNNBOOK_REQUIRE_BROWSER=1 but the browser test cannot run: {reason}")
    if reason:
        pytest.skip(reason)
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

    def problems(self) -> list[str]:
        return ([f"request to another host: {u}" for u in self.external] + self.errors)


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in INLINE_SCHEMES or parts.hostname == LOCAL_HOST


def _open(browser, url: str):
    """A fresh page that blocks and records every request leaving 127.0.0.1."""
    log = PageLog()
    context = browser.new_context(viewport={"width": 1280, "height": 900},
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
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return context, page, log


def _explorer_state(explorer) -> tuple:
    """The figure the reader sees: each visible image's `src` and pixels. The sliders are left
    out on purpose, since their handle and read-out move whether or not the figure follows."""
    return tuple((img.get_attribute("src") or "", img.screenshot())
                 for img in explorer.locator("img").all() if img.is_visible())


def _check_explorers(page, log: PageLog, html: str) -> None:
    """Every page whose saved widget state holds an explorer must render it, and moving the
    explorer's first slider must change its figure."""
    if "cnnbook-explorer" not in html:
        return
    explorers = page.locator(".cnnbook-explorer")
    try:
        explorers.first.wait_for(state="attached", timeout=WIDGET_TIMEOUT_MS)
    except Exception as exc:  # playwright's TimeoutError
        log.errors.append(f"the page holds an explorer's widget state but none rendered: {exc}")
        return
    for i in range(explorers.count()):
        explorer = explorers.nth(i)
        explorer.scroll_into_view_if_needed(timeout=WIDGET_TIMEOUT_MS)
        handle = explorer.locator(".noUi-handle, input[type=range]").first
        handle.wait_for(state="visible", timeout=WIDGET_TIMEOUT_MS)
        explorer.locator("img").first.wait_for(state="visible", timeout=WIDGET_TIMEOUT_MS)
        before = _explorer_state(explorer)
        handle.focus()
        for key in ("ArrowRight", "End"):
            page.keyboard.press(key)
            page.wait_for_timeout(300)
            if _explorer_state(explorer) != before:
                break
        else:
            log.errors.append(f"explorer {i}: moving its first slider did not change the figure")


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
    try:
        _check_math(page, log)
        _check_explorers(page, log, (HTML / path).read_text(encoding="utf-8", errors="replace"))
        page.wait_for_load_state("networkidle")
    finally:
        context.close()
    problems = log.problems()
    assert not problems, f"{path}:\n  " + "\n  ".join(problems)


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
    """Pages with embedded widget state load the HTML manager from _static, never a CDN."""
    for path in _pages_containing("application/vnd.jupyter.widget-state+json"):
        text = (HTML / path).read_text(encoding="utf-8")
        assert "_static/widgets/html-manager/dist/embed-amd.js" in text, path
        assert "_static/widgets/require.js" in text, path
        assert "cdn.jsdelivr" not in text and "cdnjs" not in text and "unpkg" not in text, path
