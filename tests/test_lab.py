"""A chapter opened in JupyterLab as a new reader opens it (`jupyter lab book/`, Run All):
no cell fails, the MyST markup is rendered (no raw `{cite}` or `{admonition}` text: the
pinned jupyterlab-myst extension is active), the hidden check cells are collapsed, and the
explorer's slider makes the kernel redraw the figure.

Runs a real JupyterLab server on 127.0.0.1 and Debian's Chromium through playwright, like
tests/test_browser.py; skipped when either is missing, unless CNNBOOK_REQUIRE_BROWSER=1.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import CHROMIUM, browser_skip_reason, skip_unless_browser, start_jupyterlab

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = "book/08_pooling.ipynb"
RUN_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    skip_unless_browser(browser_skip_reason(lab=True), "the JupyterLab test")
    # Render every cell (no windowing), so the whole notebook is in the page to inspect.
    url, stop = start_jupyterlab(ROOT, tmp_path_factory.mktemp("lab"), settings={
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"}})
    try:
        yield url
    finally:
        stop()


def test_chapter_runs_and_renders_in_jupyterlab(lab):
    from playwright.sync_api import sync_playwright
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", lambda r: r.continue_() if "127.0.0.1" in r.request.url
                          else r.abort())
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(lab + "lab/tree/" + CHAPTER, wait_until="load")
            page.wait_for_function(
                """() => window.jupyterapp && jupyterapp.shell.currentWidget &&
                   jupyterapp.shell.currentWidget.sessionContext &&
                   jupyterapp.shell.currentWidget.sessionContext.session &&
                   jupyterapp.shell.currentWidget.sessionContext.session.kernel &&
                   jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'""",
                timeout=120_000)
            page.evaluate("() => jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function(
                """() => { const cells = jupyterapp.shell.currentWidget.content.model.cells;
                    for (let i = 0; i < cells.length; i++) {
                      const c = cells.get(i);
                      if (c.type === 'code' && c.sharedModel.getSource().trim() &&
                          c.executionCount === null) return false; }
                    return jupyterapp.shell.currentWidget.sessionContext.session.kernel.status
                           === 'idle'; }""", timeout=RUN_TIMEOUT_S * 1000, polling=1000)
            state = page.evaluate("""() => {
                const nb = jupyterapp.shell.currentWidget.content;
                const out = {errors: [], hidden_checks: 0, checks: 0};
                nb.widgets.forEach(cell => {
                  const m = cell.model;
                  if (m.type !== 'code') return;
                  const tags = m.getMetadata('tags') || [];
                  if (tags.includes('remove-cell')) {
                    out.checks += 1;
                    if (cell.inputHidden) out.hidden_checks += 1;
                  }
                  for (const o of m.outputs.toJSON())
                    if (o.output_type === 'error') out.errors.push(o.ename + ': ' + o.evalue);
                });
                out.text = nb.node.innerText;
                return out; }""")
            assert not state["errors"], f"{CHAPTER}: cells raised: {state['errors']}"
            assert state["checks"] > 0 and state["hidden_checks"] == state["checks"], (
                f"{CHAPTER}: {state['hidden_checks']} of {state['checks']} check cells are collapsed")
            for raw in ("{cite}", "{admonition}", "{numref}", "{doc}"):
                assert raw not in state["text"], f"{CHAPTER}: raw MyST {raw!r} shown in JupyterLab"
            explorer = page.locator(".cnnbook-explorer").first
            explorer.scroll_into_view_if_needed()
            img = explorer.locator("img").first
            before = img.get_attribute("src")
            handle = explorer.locator(".noUi-handle, input[type=range]").first
            handle.focus()
            page.keyboard.press("End")
            page.wait_for_function("([el, src]) => el.getAttribute('src') !== src",
                                   arg=[img.element_handle(), before], timeout=60_000)
        finally:
            browser.close()
    assert not errors, errors
