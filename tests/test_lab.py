"""A chapter opened in JupyterLab as a new reader opens it (`jupyter lab book/`, Run All):
no cell fails, the MyST markup is rendered (no raw `{cite}` or `{admonition}` text: the
pinned jupyterlab-myst extension is active), the hidden check cells are collapsed, and the
explorer's slider makes the kernel redraw the figure.

Runs a real JupyterLab server on 127.0.0.1 and Debian's Chromium through playwright, like
tests/test_browser.py; skipped when either is missing, unless CNNBOOK_REQUIRE_BROWSER=1.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHAPTER = "book/08_pooling.ipynb"
RUN_TIMEOUT_S = 300


def _skip_reason():
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
        import jupyterlab  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    reason = _skip_reason()
    if reason and os.environ.get("CNNBOOK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CNNBOOK_REQUIRE_BROWSER=1 but the JupyterLab test cannot run: {reason}")
    if reason:
        pytest.skip(reason)
    settings = tmp_path_factory.mktemp("lab-settings")
    # Render every cell (no windowing), so the whole notebook is in the page to inspect.
    tracker = settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"windowingMode": "none"}))
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("CNNBOOK_STATIC", "MPLBACKEND")}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path_factory.mktemp("jupyter-config"))
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
           "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=", "--allow-root",
           "--LabApp.extension_manager=readonly", "--LabApp.news_url=",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={ROOT}",
           "--LabApp.expose_app_in_browser=True", f"--LabApp.user_settings_dir={settings}",
           f"--LabApp.workspaces_dir={tmp_path_factory.mktemp('lab-workspaces')}"]
    log = open(tmp_path_factory.mktemp("lab-log") / "lab.log", "w+")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "api/status", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            pass
        if proc.poll() is not None:
            log.seek(0)
            pytest.fail(f"JupyterLab exited: {log.read()[-2000:]}")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


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
