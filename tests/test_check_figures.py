"""The build's figure check (scripts/check_figures.py): which cells draw, and that a kernel with
MPLBACKEND set in its environment (the old build) fails the check while a clean one passes."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import check_figures as cf  # noqa: E402


def _nb(*cells):
    return {"cells": [{"cell_type": "code", "source": src, "outputs": outs, "metadata": {}}
                      for src, outs in cells], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


PNG_OUT = {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}


@pytest.mark.parametrize("code, draws", [
    ("fig, ax = plt.subplots()\nax.plot([1, 2])\nplt.show()", True),
    ("plt.imshow(a)", True),
    ("cb.plot.show_matrix(a)", True),
    ("for k in range(3):\n    plt.figure()", True),
    ("def render(a):\n    fig, ax = plt.subplots()\n    return fig", False),   # defines only
    ("x = np.zeros(3)\nprint(x)", False),
    ("%matplotlib inline\nplt.show()", True),                             # magics are skipped
])
def test_cell_draws(code, draws):
    assert cf.cell_draws(code) is draws


def test_explorer_cells_are_counted_by_their_frames():
    code = "def render(a):\n    return plt.figure()\ncb.widgets.explorer(render, {'a': [1, 2]})"
    html = {"output_type": "display_data",
            "data": {"text/html": '<div class="cnnbook-explorer"><img src="a"><img src="b"></div>'}}
    c = cf.count(_nb((code, [html])))
    assert (c.explorers, c.frames, c.drawing_cells, c.missing) == (1, 2, 0, [])
    assert cf.count(_nb((code, []))).missing == [(0, "def render(a):")]


def test_missing_image_is_reported(tmp_path, capsys):
    nb = _nb(("plt.plot([1, 2])\nplt.show()", []), ("plt.plot([3])\nplt.show()", [PNG_OUT]))
    c = cf.count(nb)
    assert (c.drawing_cells, c.images, c.missing) == (2, 1, [(0, "plt.plot([1, 2])")])
    executed = tmp_path / "jupyter_execute" / "book"
    executed.mkdir(parents=True)
    (executed / "ch.ipynb").write_text(json.dumps(nb))
    assert cf.main([str(tmp_path), str(tmp_path / "book")]) == 1
    assert "cell 0 draws but shows no image" in capsys.readouterr().err
    recorded = _figure_output(10, 4)          # drawn through cnnbook.figstyle, legible
    (executed / "ch.ipynb").write_text(json.dumps(_nb(("plt.plot([3])\nplt.show()", [recorded]))))
    assert cf.main([str(tmp_path), str(tmp_path / "book")]) == 0
    assert cf.main([str(tmp_path / "empty")]) == 1          # no executed notebook at all


def _execute(env_extra: dict, code: str = "import matplotlib.pyplot as plt\n"
             "plt.plot([1, 3, 2])\nplt.show()") -> dict:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(code)]
    saved = {k: os.environ.get(k) for k in ("MPLBACKEND",)}
    os.environ.pop("MPLBACKEND", None)
    os.environ.update(env_extra)
    try:
        nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return json.loads(nbformat.writes(nb))


def test_a_kernel_with_mplbackend_set_fails_the_check():
    """The old build exported MPLBACKEND=Agg, which the kernels inherited: plt.show() then
    produced nothing. The check catches exactly that, and passes once it is unset."""
    bad = cf.count(_execute({"MPLBACKEND": "Agg"}))
    good = cf.count(_execute({}))
    assert bad.drawing_cells == 1 and bad.images == 0 and len(bad.missing) == 1
    assert good.drawing_cells == 1 and good.images == 1 and good.missing == []


def _figure_output(fontsize: float, width_in: float, dpi: float = 100):
    """An image output as cnnbook.figstyle writes it, for a small synthetic figure."""
    import base64
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cnnbook import figstyle
    fig, ax = plt.subplots(figsize=(width_in, 2), dpi=dpi)
    ax.plot([1, 3, 2])
    ax.tick_params(labelsize=fontsize)
    ax.set_title("a title", fontsize=12)
    data, meta = figstyle.figure_png(fig)
    plt.close(fig)
    return {"output_type": "display_data",
            "data": {"image/png": base64.b64encode(data).decode(), "text/plain": "<Figure>"},
            "metadata": {"image/png": meta}}


def test_small_text_fails_and_legible_text_passes():
    """6-pt tick labels at 72 dpi show at 6 CSS px: the check fails; 10 pt at 100 dpi is
    13.9 px and passes. Both carry 2 image pixels per CSS pixel."""
    small = cf.figure_of(0, "plt.plot", _figure_output(6, 4, dpi=72))
    good = cf.figure_of(0, "plt.plot", _figure_output(10, 4, dpi=100))
    assert small.min_text_px == pytest.approx(6.0, abs=0.01)
    assert good.min_text_px == pytest.approx(10 * 100 / 72, abs=0.01)
    assert small.pixel_ratio == pytest.approx(2, abs=0.02)
    assert good.pixel_ratio == pytest.approx(2, abs=0.02)
    assert any("under 11 px" in p for p in cf.figure_problems(small))
    assert cf.figure_problems(good) == []
    # on a phone the 688-px column is 358 px: the same figure's text shrinks with it
    width = _figure_output(10, 4)["metadata"]["image/png"]["width"]
    assert 358 < width < 688
    assert good.phone_text_px == pytest.approx(good.min_text_px * 358 / width, abs=0.05)


def test_a_figure_wider_than_the_column_is_drawn_for_it():
    """A 12-inch figure is scaled to the 688-px column: 10-pt text there is 10*100/72*688/1200
    CSS px (under 11, fails), and the image still carries 2 pixels per CSS pixel, not more."""
    fig = cf.figure_of(0, "wide", _figure_output(10, 12))
    meta = _figure_output(10, 12)["metadata"]["image/png"]
    assert meta["width"] <= 688
    assert fig.pixel_ratio == pytest.approx(2, abs=0.02)
    assert fig.min_text_px < 11 and cf.figure_problems(fig)


def test_the_build_fails_on_an_unrecorded_or_small_figure(tmp_path, capsys):
    executed = tmp_path / "jupyter_execute" / "book"
    executed.mkdir(parents=True)
    code = "plt.plot([3])\nplt.show()"
    (executed / "ch.ipynb").write_text(json.dumps(_nb((code, [_figure_output(6, 4, dpi=72)]))))
    assert cf.main([str(tmp_path), str(tmp_path / "book")]) == 1
    assert "1 of 1 static figures fail" in capsys.readouterr().err
    (executed / "ch.ipynb").write_text(json.dumps(_nb((code, [PNG_OUT]))))   # no record
    assert cf.main([str(tmp_path), str(tmp_path / "book")]) == 1
    (executed / "ch.ipynb").write_text(json.dumps(_nb((code, [_figure_output(10, 4)]))))
    assert cf.main([str(tmp_path), str(tmp_path / "book")]) == 0


@pytest.mark.parametrize("first", ["import cnnbook as cb\nimport matplotlib.pyplot as plt",
                                   "import matplotlib.pyplot as plt\nimport cnnbook as cb"])
def test_import_cnnbook_in_a_kernel_records_every_figure(first):
    """In a kernel, `import cnnbook` (before or after pyplot) shows figures at 2 image pixels
    per CSS pixel, with their text size recorded; the check reads it."""
    code = (first + "\nfig, ax = plt.subplots(figsize=(4, 2))\nax.plot([1, 3, 2])\n"
            "ax.set_title('t', fontsize=6)\nplt.show()\n_ = cb.plot.show_matrix([[1, 2]])")
    c = cf.count(_execute({}, code))
    assert c.images == 2 and all(f.recorded for f in c.figures)
    assert c.figures[0].min_text_px == pytest.approx(6 * 100 / 72, abs=0.01)
    assert all(f.pixel_ratio == pytest.approx(2, abs=0.02) for f in c.figures)


def test_a_shrunk_figure_opens_at_natural_size_on_a_tap(tmp_path):
    """At 390 px a column-wide figure shrinks to about half its size (11-px text shows at ~6 px);
    a tap opens it at its natural 688 CSS px, where that text is 11 px again. At 1280 px the
    figure is already at natural size and a click does nothing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("Debian's chromium is not installed")
    from PIL import Image
    static = ROOT / "scripts" / "static"
    Image.new("RGB", (1376, 400), "white").save(tmp_path / "fig.png")
    (tmp_path / "page.html").write_text(
        f'<html><head><meta name="viewport" content="width=device-width">'
        f'<link rel="stylesheet" href="{(static / "cnnbook.css").as_uri()}">'
        f'<link rel="stylesheet" href="{(static / "figures.css").as_uri()}">'
        f'<script defer src="{(static / "figures.js").as_uri()}"></script></head>'
        f'<body><main style="max-width: 688px; margin: 0 auto; padding: 0 16px">'
        f'<div class="cell_output"><img src="fig.png" style="width: 688px; height: 200px;">'
        f'</div>'
        f'</main></body></html>')
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            sizes = {}
            for width in (390, 1280):
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.goto((tmp_path / "page.html").as_uri(), wait_until="load")
                img = page.locator("div.cell_output img")
                shown = img.evaluate("e => e.clientWidth")
                high = img.evaluate("e => e.clientHeight")
                assert abs(high - shown * 200 / 688) <= 1           # the shape is kept
                img.click()
                boxes = page.locator(".cnnbook-lightbox img")
                big = boxes.evaluate("e => e.clientWidth") if boxes.count() else None
                sizes[width] = (shown, big)
                if boxes.count():
                    page.keyboard.press("Escape")
                    assert page.locator(".cnnbook-lightbox").count() == 0
                page.close()
        finally:
            browser.close()
    assert sizes[390][0] <= 360 and sizes[390][1] == 688     # 11 px text: ~5.7 px, then 11 px
    assert sizes[1280] == (688, None)


def test_plot_helpers_draw_for_the_column():
    """cb.plot's default sizes never exceed the column (a wider figure would be shown shrunk,
    its text with it): ten images in a row, a 20-column matrix."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from cnnbook import figstyle, plot
    for fig in (plot.show_images([np.zeros((8, 8))] * 10, ncols=10),
                plot.show_matrix(np.arange(40).reshape(2, 20)),
                plot.show_feature_maps(np.zeros((16, 5, 5)))):
        assert fig.get_figwidth() <= figstyle.COLUMN_IN + 1e-9
        plt.close(fig)
