"""Tests of the slider mechanism (cnnbook.widgets) and the figure helpers (cnnbook.plot)."""
import io
import json

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

widgets = pytest.importorskip("ipywidgets")

from cnnbook import plot as cplot  # noqa: E402
from cnnbook import widgets as cw  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class Recorder:
    """A render function that draws a tiny figure and records each call."""

    def __init__(self):
        self.calls = []

    def __call__(self, **params):
        self.calls.append(dict(params))
        fig, ax = plt.subplots(figsize=(1, 1), dpi=20)
        ax.set_title(repr(sorted(params.items())))
        return fig


@pytest.fixture(autouse=True)
def _no_open_figures():
    plt.close("all")
    yield
    leaked = plt.get_fignums()
    plt.close("all")
    assert leaked == [], f"figures left open: {leaked}"


WEBP = (b"RIFF", b"WEBP")


def _is_webp(data: bytes) -> bool:
    return data[:4] == WEBP[0] and data[8:12] == WEBP[1]


def _parse(html: str) -> dict:
    """The parts of a static explorer's HTML that a reader's browser uses."""
    import re
    inputs = re.findall(r'<input type="range" id="([^"]+)" min="0" max="(\d+)" step="1" '
                        r'value="(\d+)" aria-valuetext="([^"]*)" data-labels=\'([^\']*)\'>', html)
    imgs = re.findall(r'<img class="cnnbook-frame" src="data:([^;]+);base64,[^"]+" width="(\d+)" '
                      r'height="(\d+)" alt="([^"]*)"( hidden)?>', html)
    return {"inputs": inputs, "imgs": imgs,
            "labels": re.findall(r'<label for="[^"]+">([^<]*)</label>', html),
            "outputs": re.findall(r'<output for="[^"]+">([^<]*)</output>', html)}


def test_frame_count_is_the_product():
    assert cw.frame_count({"a": [1, 2, 3], "b": [0, 1], "c": ["x", "y", "z", "w"]}) == 24
    assert cw.frame_count({"a": [5]}) == 1


def test_static_precomputes_every_frame_once():
    r = Recorder()
    box = cw.explorer(r, {"a": [1, 2, 3], "b": [10, 20]}, static=True)
    assert len(r.calls) == 6 and len(box.frames) == 6
    assert {(c["a"], c["b"]) for c in r.calls} == {(a, b) for a in (1, 2, 3) for b in (10, 20)}
    assert all(f.kind == "image" and _is_webp(f.data) for f in box.frames.values())


def test_static_html_structure():
    r = Recorder()
    controls = {"a": [1, 2, 3], "b": [10, 20], "c": ["x", "y"]}
    box = cw.explorer(r, controls, static=True, title="<b>T</b>", initial={"b": 20})
    html = box._repr_html_()
    assert html.startswith('<div class="cnnbook-explorer" role="group" aria-label="T"')
    parts = _parse(html)
    assert parts["labels"] == ["a", "b", "c"]
    assert [(m, v, t) for _, m, v, t, _ in parts["inputs"]] == [("2", "0", "1"), ("1", "1", "20"),
                                                               ("1", "0", "x")]
    assert [json.loads(lab.replace("&quot;", '"')) for *_, lab in parts["inputs"]] == [
        ["1", "2", "3"], ["10", "20"], ["x", "y"]]
    assert parts["outputs"] == ["1", "20", "x"]
    imgs = parts["imgs"]
    assert len(imgs) == 12 and all(mime == "image/webp" for mime, *_ in imgs)
    # row-major over the sliders: only the starting frame (a=1, b=20, c=x) is visible
    visible = [k for k, img in enumerate(imgs) if not img[4]]
    assert visible == [list(np.ndindex(3, 2, 2)).index((0, 1, 0))]
    assert imgs[visible[0]][3] == "T: a = 1, b = 20, c = x"        # alt text names the values
    assert len({(w, h) for _, w, h, _, _ in imgs}) == 1 and imgs[0][1] == str(cw.COLUMN_PX)
    assert "<script>" in html and "aria-valuetext" in html


def test_static_frames_share_one_size_and_are_sharp():
    def render(n):
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.set_title("x" * n, fontsize=12)      # the tight box grows with n
        ax.plot([0, 1], [0, n])
        return fig

    box = cw.explorer(render, {"n": [1, 20, 40]}, static=True)
    sizes = {f.size for f in box.frames.values()}
    assert len(sizes) == 1
    (w, h), = sizes
    assert w == cw.COLUMN_PX * cw.PIXEL_RATIO
    assert box.min_text_px >= cw.MIN_TEXT_PX


def test_static_refuses_text_too_small_to_read():
    def render(v):
        fig, ax = plt.subplots(figsize=(12, 3))
        ax.set_title(f"v = {v}", fontsize=6)
        ax.tick_params(labelsize=6)
        return fig

    with pytest.raises(ValueError, match=r"explorer: the frame for v=1 draws text at 6 pt .* "
                                         r"shows at [\d.]+ px .* use fontsize >= [\d.]+"):
        cw.explorer(render, {"v": [1, 2]}, static=True)
    assert cw.explorer(render, {"v": [1, 2]}, static=False).static is False  # live: no column


def test_static_limit_raises_with_the_numbers():
    r = Recorder()
    with pytest.raises(ValueError, match=r"7 x 7 = 49 frames.*max_frames=48"):
        cw.explorer(r, {"a": list(range(7)), "b": list(range(7))}, static=True)
    assert r.calls == []
    # the same controls are fine live: frames are drawn on demand
    box = cw.explorer(r, {"a": list(range(7)), "b": list(range(7))}, static=False)
    assert len(r.calls) == 1 and not box.static


def test_static_from_environment(monkeypatch):
    monkeypatch.setenv("CNNBOOK_STATIC", "1")
    assert cw.explorer(Recorder(), {"a": [1, 2]}).static
    monkeypatch.setenv("CNNBOOK_STATIC", "0")
    assert not cw.explorer(Recorder(), {"a": [1, 2]}).static


def test_live_rerenders_on_slider_change_and_caches():
    r = Recorder()
    box = cw.explorer(r, {"a": [1, 2, 3], "b": ["p", "q"]}, static=False)
    assert "cnnbook-explorer" in box._dom_classes
    image = box.holder.children[0]
    first = bytes(image.value)
    assert _is_webp(first) and image.format == "webp"
    assert r.calls == [{"a": 1, "b": "p"}]
    box.sliders[0].value = 3
    assert r.calls[-1] == {"a": 3, "b": "p"} and bytes(image.value) != first
    box.sliders[1].value = "q"
    assert r.calls[-1] == {"a": 3, "b": "q"}
    box.sliders[0].value = 1
    box.sliders[1].value = "p"  # back to the first frame: served from the cache
    assert len(r.calls) == 4 and bytes(image.value) == bytes(first)


def test_render_returning_arrays_and_html():
    def arr(v):
        return np.full((4, 5), float(v))

    def rgb(v):
        return np.random.default_rng(v).random((4, 5, 3))

    box = cw.explorer(arr, {"v": [0, 1]}, static=True)
    assert all(_is_webp(f.data) for f in box.frames.values())
    from PIL import Image
    decoded = Image.open(io.BytesIO(box.frames[(0,)].data))
    assert decoded.size == (5, 4)
    box = cw.explorer(rgb, {"v": [0, 1]}, static=False)
    assert _is_webp(bytes(box.holder.children[0].value))

    def html(v):
        return f"<p>value {v}</p>"

    box = cw.explorer(html, {"v": [1, 2]}, static=True)
    assert '<div class="cnnbook-frame"><p>value 1</p></div>' in box.html
    assert '<div class="cnnbook-frame" hidden><p>value 2</p></div>' in box.html
    live = cw.explorer(html, {"v": [1, 2]}, static=False)
    live.sliders[0].value = 2
    assert live.holder.children[0].value == "<p>value 2</p>"


def test_bad_arguments():
    with pytest.raises(TypeError, match="explorer: render"):
        cw.explorer(None, {"a": [1]})
    with pytest.raises(TypeError, match="controls"):
        cw.explorer(Recorder(), [("a", [1])])
    with pytest.raises(ValueError, match="'a' has no values"):
        cw.explorer(Recorder(), {"a": []})
    with pytest.raises(ValueError, match="initial a=5"):
        cw.explorer(Recorder(), {"a": [1, 2]}, initial={"a": 5})
    with pytest.raises(TypeError, match="returned int"):
        cw.explorer(lambda a: 3, {"a": [1]}, static=True)


def test_render_does_not_modify_controls():
    values = [3, 1, 2]
    controls = {"a": values}
    cw.explorer(Recorder(), controls, static=True)
    assert controls == {"a": [3, 1, 2]} and values == [3, 1, 2]


# ---- plot -----------------------------------------------------------------------------------

def _close(fig):
    plt.close(fig)


def test_show_matrix_writes_every_value_and_highlight():
    a = np.arange(12).reshape(3, 4)
    fig = cplot.show_matrix(a, highlight=(1, 1, 2, 2), title="a")
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(str(v) for v in a.ravel())
    rects = [p for p in ax.patches if not p.get_fill()]
    assert len(rects) == 1 and rects[0].get_xy() == (0.5, 0.5) and rects[0].get_width() == 2
    _close(fig)
    nan = np.array([[1.0, np.nan]])
    fig = cplot.show_matrix(nan)
    assert [t.get_text() for t in fig.axes[0].texts] == ["1"]
    _close(fig)


def test_show_images_and_feature_maps():
    rng = np.random.default_rng(0)
    fig = cplot.show_images([rng.random((5, 5)), rng.random((5, 5, 3))], titles=["g", "c"])
    assert len([a for a in fig.axes if a.images]) == 2
    _close(fig)
    fig = cplot.show_feature_maps(rng.standard_normal((1, 5, 4, 4)), ncols=3)
    ims = [a.images[0] for a in fig.axes if a.images]
    assert len(ims) == 5
    lo, hi = ims[0].get_clim()
    assert lo == -hi  # diverging maps are centred on zero
    _close(fig)
    with pytest.raises(ValueError, match="show_images"):
        cplot.show_images([np.zeros((2, 2, 2, 2))])


@pytest.mark.parametrize("n,k,s,p,d,unread", [
    (7, 3, 1, 0, 1, 0), (7, 3, 3, 0, 1, 1), (7, 3, 2, 1, 1, 0), (9, 3, 1, 0, 2, 0), (8, 3, 3, 0, 1, 2),
])
def test_draw_windows_1d_marks_unread_cells(n, k, s, p, d, unread):
    from cnnbook.arithmetic import conv_output_size
    fig = cplot.draw_windows(n, k, stride=s, padding=p, dilation=d)
    ax = fig.axes[0]
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert len(dots) == unread
    labels = [t.get_text() for t in ax.texts if t.get_text().startswith("out[")]
    assert len(labels) == conv_output_size(n, k, s, p, d)
    _close(fig)


def test_draw_windows_2d():
    fig = cplot.draw_windows((7, 7), 3, stride=2, padding=1)
    assert "4x4" in fig.axes[0].get_title()
    _close(fig)


def test_conv_step_value_matches_cross_correlation():
    x = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]])
    w = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]])
    fig = cplot.conv_step(x, w, 1, 1)
    expected = np.sum(x[1:4, 1:4] * w)
    assert fig._suptitle.get_text().endswith(f"= {expected:g}")
    out_ax = fig.axes[2]
    assert len(out_ax.texts) == 5  # out[0, 0..2], out[1, 0..1] are filled, the rest blank
    _close(fig)
    with pytest.raises(ValueError, match="outside the 3x3 output"):
        cplot.conv_step(x, w, 3, 0)


def test_curves_and_probs():
    fig = cplot.plot_curves({"train": [1.0, 0.5, 0.3], "test": ([1, 2, 3], [1.1, 0.7, 0.6])})
    assert len(fig.axes[0].lines) == 2
    _close(fig)
    fig = cplot.bar_probs([0.1, 0.7, 0.2], ["cat", "dog", "boat"], true_class=1)
    assert len(fig.axes[0].patches) == 3
    _close(fig)
    with pytest.raises(ValueError, match="3 probabilities but 2"):
        cplot.bar_probs([0.1, 0.7, 0.2], ["cat", "dog"])


def test_draw_windows_rejects_positions_outside_the_output():
    with pytest.raises(ValueError, match="position 3 is outside the 3-long output"):
        cplot.draw_windows(7, 3, stride=2, positions=[0, 3])
    plt.close("all")


def test_show_source_reads_the_installed_code():
    import inspect

    import cnnbook as cb
    full = cb.show_source(cb.conv.conv2d_naive).data
    assert full.startswith("```python\ndef conv2d_naive(") and full.endswith("\n```")
    assert inspect.getsource(cb.conv.conv2d_naive).strip() in full
    part = cb.show_source(cb.optim.Adam.step, start="if wd != 0", stop="if not st").data
    assert part.splitlines()[1] == "if wd != 0:" and "if not st" not in part
    with pytest.raises(ValueError, match="show_source: no line of .*start='nowhere'"):
        cb.show_source(cb.conv.conv2d_naive, start="nowhere")
    with pytest.raises(TypeError, match="show_source: give at least one"):
        cb.show_source()
