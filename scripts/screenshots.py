"""Screenshots of built pages as a reader sees them, for looking at: each page at 1280 px and at
390 px, full length, cut into tiles a screen high.

    python scripts/screenshots.py OUT_DIR [PAGE ...]    (pages relative to _build/html;
                                                         default: every chapter page)
Serves _build/html on 127.0.0.1 and drives Debian's Chromium (never a downloaded browser).
"""
from __future__ import annotations

import functools
import http.server
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(__import__("os").environ.get("CNNBOOK_HTML_DIR", ROOT / "_build" / "html"))


def main(argv=None) -> int:
    from PIL import Image
    from playwright.sync_api import sync_playwright
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    pages = argv[1:] or sorted(p.relative_to(HTML).as_posix() for p in (HTML / "book").glob("*.html"))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for width, tile in ((1280, 1400), (390, 1600)):
            ctx = browser.new_context(viewport={"width": width, "height": 900})
            page = ctx.new_page()
            for path in pages:
                page.goto(base + path, wait_until="networkidle")
                # scroll through the page, so that what loads when it nears the screen (live
                # explorers, lazy explorer frames) is there in the shot
                height = page.evaluate("() => document.body.scrollHeight")
                for y in range(0, height, 700):
                    page.evaluate(f"() => window.scrollTo(0, {y})")
                    page.wait_for_timeout(60)
                page.wait_for_load_state("networkidle")
                page.evaluate("() => window.scrollTo(0, 0)")
                page.wait_for_timeout(800)
                name = path.replace("/", "_").removesuffix(".html")
                full = out / f"{name}-{width}.png"
                page.screenshot(path=str(full), full_page=True)
                im = Image.open(full)
                for k, top in enumerate(range(0, im.height, tile)):
                    im.crop((0, top, im.width, min(im.height, top + tile))).save(
                        out / f"{name}-{width}-{k:02d}.png")
                full.unlink()
                print(f"{path} at {width}px: {-(-im.height // tile)} tiles")
            ctx.close()
        browser.close()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
