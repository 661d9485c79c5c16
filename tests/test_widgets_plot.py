"""Tests of the slider mechanism (cnnbook.widgets) and the figure helpers (cnnbook.plot)."""
import io

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


def _leaves(w):
    """Frame widgets under a (nested) Stack, in order."""
    if isinstance(w, widgets.Stack):
        return [leaf for c in w.children for leaf in _leaves(c)]
    return [w]


def _stacks(w, depth=0, out=None):
    out = {} if out is None else out
    if isinstance(w, widgets.Stack):
        out.setdefault(depth, []).append(w)
        for c in w.children:
            _stacks(c, depth + 1, out)
    return out


def test_frame_count_is_the_product():
    assert cw.frame_count({"a": [1, 2, 3], "b": [0, 1], "c": ["x", "y", "z", "w"]}) == 24
    assert cw.frame_count({"a": [5]}) == 1


def test_static_precomputes_every_frame_once():
    r = Recorder()
    box = cw.explorer(r, {"a": [1, 2, 3], "b": [10, 20]}, static=True)
    assert len(r.calls) == 6 and len(box.frames) == 6
    assert {(c["a"], c["b"]) for c in r.calls} == {(a, b) for a in (1, 2, 3) for b in (10, 20)}
    assert all(kind == "image" and v.startswith(PNG_MAGIC) for kind, v in box.frames.values())


def test_static_structure_and_links():
    r = Recorder()
    controls = {"a": [1, 2, 3], "b": [10, 20], "c": ["x", "y"]}
    box = cw.explorer(r, controls, static=True, title="T", initial={"b": 20})
    assert "cnnbook-explorer" in box._dom_classes
    assert isinstance(box.children[0], widgets.HTML) and "T" in box.children[0].value
    sliders = box.children[1:4]
    assert list(sliders) == box.sliders
    assert [s.description for s in sliders] == ["a", "b", "c"]
    assert [list(s._options_labels) for s in sliders] == [["1", "2", "3"], ["10", "20"], ["x", "y"]]
    assert [s.value for s in sliders] == [1, 20, "x"]
    stack = box.children[4]
    assert stack is box.stack and isinstance(stack, widgets.Stack)
    levels = _stacks(stack)
    assert [len(levels[d]) for d in range(3)] == [1, 3, 6]
    assert all(len(s.children) == n for d, n in enumerate([3, 2, 2]) for s in levels[d])
    assert all(s.selected_index == i for d, i in enumerate([0, 1, 0]) for s in levels[d])
    leaves = _leaves(stack)
    assert len(leaves) == 12 and all(isinstance(w, widgets.Image) for w in leaves)
    # leaf order is row-major over the sliders, and each leaf holds its own frame
    for k, idx in enumerate(np.ndindex(3, 2, 2)):
        assert bytes(leaves[k].value) == box.frames[idx][1]
    # every Stack is driven by its level's slider through a browser-side link
    assert len(box.links) == 1 + 3 + 6
    for link in box.links:
        assert link._model_name == "LinkModel"  # jslink: runs in the browser, no kernel needed
        (src, src_attr), (dst, dst_attr) = link.source, link.target
        assert (src_attr, dst_attr) == ("index", "selected_index")
        depth = next(d for d, ss in levels.items() if dst in ss)
        assert src is sliders[depth]


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
    assert all(v.startswith(PNG_MAGIC) for _, v in box.frames.values())
    import matplotlib.image as mpimg
    decoded = mpimg.imread(io.BytesIO(box.frames[(0,)][1]))
    assert decoded.shape[:2] == (4, 5)
    box = cw.explorer(rgb, {"v": [0, 1]}, static=False)
    assert bytes(box.holder.children[0].value).startswith(PNG_MAGIC)

    def html(v):
        return f"<p>value {v}</p>"

    box = cw.explorer(html, {"v": [1, 2]}, static=True)
    leaves = _leaves(box.stack)
    assert [w.value for w in leaves] == ["<p>value 1</p>", "<p>value 2</p>"]
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
