"""Explorers: a figure driven by sliders, live in Jupyter and static in the rendered book.

One mechanism serves every explorer in the book::

    cb.widgets.explorer(render, {"stride": [1, 2, 3], "padding": [0, 1, 2]}, title="...")

`render(**params)` draws one frame for one choice of the slider values and returns a matplotlib
Figure, an image array (H, W) / (H, W, 3|4), or an HTML string.

Live mode (a normal Jupyter kernel): moving a slider calls `render` for the new values and puts
the result in a single `ipywidgets.Image`; frames already drawn are cached.

Static mode (`static=True`, or the environment variable ``CNNBOOK_STATIC=1`` that the book build
sets; ``""``, ``0``, ``false``, ``no`` and ``off`` mean live, see ``cnnbook._checks.is_static``): every frame is drawn in advance and the explorer becomes one self-contained piece of HTML:
a native ``<input type="range">`` per control, every frame as an ``<img>`` (WebP, data URI), and
a few lines of inline JavaScript that show the frame the sliders select. It needs no kernel, no
widget manager and no network, so the page stays light and works wherever HTML does.

Figures are drawn at one fixed size per explorer (no tight bounding box, which would change the
frame size as a slider moves), for the width of the book's text column (`COLUMN_PX`) at twice
that many pixels (`PIXEL_RATIO`), so they fill the column and stay sharp on high-DPI screens.
A static explorer refuses a figure whose smallest text would show smaller than `MIN_TEXT_PX`
CSS pixels in that column, with the size to use instead.
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
import math
import os
import re
from typing import NamedTuple

import numpy as np

from ._checks import is_static

__all__ = ["explorer", "is_static", "render_frame", "frame_count", "StaticExplorer",
           "COLUMN_PX", "PIXEL_RATIO", "MIN_TEXT_PX"]

COLUMN_PX = 688       # width of the rendered book's text column in a 1280 px window
PIXEL_RATIO = 2       # frames carry twice the pixels they are shown at
MIN_TEXT_PX = 11      # smallest legible text in a frame, in CSS pixels at COLUMN_PX


class Frame(NamedTuple):
    """One drawn frame: `kind` "image" (`data` bytes of `mime`) or "html" (`data` a str);
    `size` the image's (width, height) in pixels; `min_text_px` the smallest text drawn, in CSS
    pixels at `COLUMN_PX` (None when the frame draws no text or is not a figure)."""
    kind: str
    data: object
    mime: str = "text/html"
    size: tuple = (0, 0)
    min_text_px: float | None = None
    min_text_pt: float | None = None


def frame_count(controls) -> int:
    """The number of frames an explorer over `controls` draws: the product of the option counts."""
    return math.prod(len(v) for v in _check_controls("frame_count", controls).values())


def _check_controls(fn: str, controls) -> dict:
    if not isinstance(controls, dict) or not controls:
        raise TypeError(f"{fn}: controls must be a non-empty dict mapping a slider name to its "
                        f"values, got {type(controls).__name__}; e.g. controls={{'stride': [1, 2, 3]}}.")
    out = {}
    for name, values in controls.items():
        if not isinstance(name, str):
            raise TypeError(f"{fn}: control names must be strings, got {name!r}.")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise TypeError(f"{fn}: the values of control {name!r} must be a list or tuple, got "
                            f"{type(values).__name__}; e.g. {name}=[1, 2, 3].")
        values = list(values)
        if not values:
            raise ValueError(f"{fn}: control {name!r} has no values; give it at least one.")
        labels = [str(v) for v in values]
        if len(set(labels)) != len(labels):
            raise ValueError(f"{fn}: control {name!r} has values that print the same ({labels}); "
                             f"each slider position needs a distinct label.")
        out[name] = values
    return out


def _compact(png: bytes) -> tuple[bytes, str]:
    """The smaller of lossless WebP and high-quality lossy WebP (photos), as (bytes, mime).

    Lossless wins on plots (flat colours, text); lossy is taken only when it is clearly
    smaller, which happens for photographs."""
    from PIL import Image
    im = Image.open(io.BytesIO(png))
    im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
    lossless, lossy = io.BytesIO(), io.BytesIO()
    im.save(lossless, "WEBP", lossless=True, quality=80, method=4)
    im.save(lossy, "WEBP", quality=90, method=4)
    best = lossy if lossy.tell() < 0.6 * lossless.tell() else lossless
    return best.getvalue(), "image/webp"


def _figure_frames(figs: list) -> list[Frame]:
    """Save each figure cropped to one box, the union of all their tight bounding boxes, at twice
    the column width: every frame gets the same pixel size, with no margin to waste. Records the
    size of every text actually drawn; closes the figures."""
    import matplotlib.pyplot as plt
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox
    from PIL import Image
    try:
        boxes = [fig.get_tightbbox(fig.canvas.get_renderer()) for fig in figs]
        box = Bbox.union(boxes).padded(0.04)
        dpi = COLUMN_PX * PIXEL_RATIO / box.width
        frames = []
        for fig in figs:
            sizes: list[float] = []
            original = Text.draw

            def draw(self, renderer, _sizes=sizes, _original=original):  # texts actually drawn
                if self.get_visible() and self.get_text().strip():
                    _sizes.append(float(self.get_fontsize()))
                return _original(self, renderer)

            buf = io.BytesIO()
            Text.draw = draw
            try:
                fig.savefig(buf, format="png", dpi=dpi, bbox_inches=box)
            finally:
                Text.draw = original
            data, mime = _compact(buf.getvalue())
            pt = min(sizes) if sizes else None
            px = pt * COLUMN_PX / (box.width * 72) if pt is not None else None
            frames.append(Frame("image", data, mime, Image.open(io.BytesIO(data)).size, px, pt))
        return frames
    finally:
        for fig in figs:
            plt.close(fig)


def _array_frame(a: np.ndarray) -> Frame:
    import matplotlib.image as mpimg
    a = np.asarray(a)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        if not np.issubdtype(a.dtype, np.integer):
            a = np.clip(a.astype(np.float64), 0.0, 1.0)
        elif a.dtype != np.uint8:
            a = np.clip(a, 0, 255).astype(np.uint8)
    elif a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    elif a.ndim != 2:
        raise ValueError(f"explorer: render returned an array of shape {a.shape}; an image must be "
                         f"(H, W), (H, W, 1), (H, W, 3) or (H, W, 4).")
    buf = io.BytesIO()
    mpimg.imsave(buf, a, format="png", cmap="gray")
    data, mime = _compact(buf.getvalue())
    return Frame("image", data, mime, (a.shape[1], a.shape[0]))


def _call(render, params: dict):
    result = render(**params)
    if isinstance(result, str) or hasattr(result, "savefig") or isinstance(result, np.ndarray):
        return result
    raise TypeError(f"explorer: render({', '.join(f'{k}={v!r}' for k, v in params.items())}) "
                    f"returned {type(result).__name__}; it must return a matplotlib Figure, an "
                    f"image array (H, W) or (H, W, 3), or an HTML string.")


def _to_frames(results: list) -> list[Frame]:
    """Frames for what `render` returned; the figures among them share one crop box."""
    figs = [r for r in results if hasattr(r, "savefig")]
    drawn = iter(_figure_frames(figs) if figs else [])
    return [Frame("html", r) if isinstance(r, str) else
            next(drawn) if hasattr(r, "savefig") else _array_frame(r) for r in results]


def draw_frame(render, params: dict) -> Frame:
    """Call `render(**params)` and turn what it returns into a `Frame`.

    A returned Figure is saved (cropped to its tight bounding box) and closed."""
    return _to_frames([_call(render, params)])[0]


def render_frame(render, params: dict):
    """Call `render(**params)` and return ("image", bytes) or ("html", str)."""
    frame = draw_frame(render, params)
    return frame.kind, frame.data


def _check_text_size(frame: Frame, params: dict) -> None:
    if frame.min_text_px is None or frame.min_text_px >= MIN_TEXT_PX:
        return
    width_in = frame.min_text_pt * COLUMN_PX / (72 * frame.min_text_px)
    need_pt = MIN_TEXT_PX * width_in * 72 / COLUMN_PX
    shown = ", ".join(f"{k}={v!r}" for k, v in params.items())
    raise ValueError(
        f"explorer: the frame for {shown} draws text at {frame.min_text_pt:g} pt in a "
        f"{width_in:.2f}-inch-wide figure, which shows at {frame.min_text_px:.1f} px in the book's "
        f"{COLUMN_PX}-px column (at least {MIN_TEXT_PX} px are needed); use fontsize >= "
        f"{need_pt:.1f}, or draw the figure narrower than "
        f"{frame.min_text_pt * COLUMN_PX / (72 * MIN_TEXT_PX):.2f} inches.")


# --- the static explorer: plain HTML, a native range input per control, inline script -------

_STYLE = """<style>
.cnnbook-explorer{margin:0.5rem 0 1rem;max-width:%(col)dpx}
.cnnbook-explorer .cnnbook-title{font-weight:600;margin-bottom:0.25rem}
.cnnbook-explorer .cnnbook-control{display:flex;align-items:center;gap:0.6rem;max-width:32rem}
.cnnbook-explorer .cnnbook-control label{flex:0 0 auto;min-width:4.5rem}
.cnnbook-explorer .cnnbook-control input{flex:1 1 auto;min-width:0;width:100%%}
.cnnbook-explorer .cnnbook-control output{flex:0 0 auto;min-width:3rem;font-variant-numeric:tabular-nums}
.cnnbook-explorer .cnnbook-frames img{display:block;width:100%%;height:auto;max-width:100%%}
.cnnbook-explorer .cnnbook-frames img[hidden],.cnnbook-explorer .cnnbook-frames div[hidden]{display:none}
</style>""" % {"col": COLUMN_PX}

# Shows the frame the sliders select (row-major over the controls) and keeps each slider's
# read-out and spoken value (aria-valuetext) in step. Runs once per explorer. Frames that the
# book serves as lazily loaded files are all fetched once a slider is touched.
_SCRIPT = """<script>(function(root){
if(!root||root.getAttribute("data-ready"))return;root.setAttribute("data-ready","1");
var inputs=root.querySelectorAll("input[type=range]"),frames=root.querySelectorAll(".cnnbook-frame");
function show(){var k=0;for(var j=0;j<inputs.length;j++){var s=inputs[j],labels=JSON.parse(s.getAttribute("data-labels")),v=+s.value;
k=k*(+s.max+1)+v;s.setAttribute("aria-valuetext",labels[v]);root.querySelector("output[for='"+s.id+"']").textContent=labels[v];}
for(var f=0;f<frames.length;f++){frames[f].hidden=(f!==k);}}
function eager(){for(var f=0;f<frames.length;f++){frames[f].loading="eager";}}
for(var j=0;j<inputs.length;j++){inputs[j].addEventListener("input",show);inputs[j].addEventListener("focus",eager);inputs[j].addEventListener("pointerdown",eager);}show();
})(document.currentScript&&document.currentScript.parentNode);</script>"""

_ids = itertools.count()


def _plain(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text or "")).strip()


class StaticExplorer:
    """The static form of an explorer: one piece of HTML that a notebook and the rendered book
    display as is (see the module docstring). `frames` maps each index tuple to its `Frame`."""

    static = True

    def __init__(self, controls: dict, start: list, frames: dict, title=None, alt=None):
        self.controls, self.start, self.frames, self.title = controls, list(start), frames, title
        self.names = list(controls)
        texts = [f.min_text_px for f in frames.values() if f.min_text_px is not None]
        self.min_text_px = min(texts) if texts else None
        self.html = self._html(alt)
        self.nbytes = len(self.html.encode())

    def _alt(self, alt, idx) -> str:
        params = {n: self.controls[n][i] for n, i in zip(self.names, idx)}
        if callable(alt):
            return str(alt(**params))
        lead = alt if isinstance(alt, str) else _plain(self.title) or "Explorer frame"
        return f"{lead}: " + ", ".join(f"{n} = {v}" for n, v in params.items())

    def _html(self, alt) -> str:
        uid = f"cbx{next(_ids)}-{os.getpid() % 10000}"
        esc = html.escape
        min_px = f' data-min-text-px="{self.min_text_px:.2f}"' if self.min_text_px else ""
        parts = [f'<div class="cnnbook-explorer" role="group" '
                 f'aria-label="{esc(_plain(self.title) or "explorer")}"{min_px}>', _STYLE]
        if self.title:
            parts.append(f'<div class="cnnbook-title">{self.title}</div>')
        for j, name in enumerate(self.names):
            labels = [str(v) for v in self.controls[name]]
            sid, at = f"{uid}-{j}", self.start[j]
            parts.append(
                f'<div class="cnnbook-control"><label for="{sid}">{esc(name)}</label>'
                f'<input type="range" id="{sid}" min="0" max="{len(labels) - 1}" step="1" '
                f'value="{at}" aria-valuetext="{esc(labels[at])}" '
                f"data-labels='{esc(json.dumps(labels), quote=False)}'>"
                f'<output for="{sid}">{esc(labels[at])}</output></div>')
        parts.append('<div class="cnnbook-frames">')
        sizes = [len(self.controls[n]) for n in self.names]
        for idx in itertools.product(*(range(n) for n in sizes)):
            frame = self.frames[idx]
            hidden = "" if list(idx) == self.start else " hidden"
            if frame.kind == "html":
                parts.append(f'<div class="cnnbook-frame"{hidden}>{frame.data}</div>')
                continue
            w, h = frame.size
            css_h = round(COLUMN_PX * h / w) if w else 0
            src = f"data:{frame.mime};base64,{base64.b64encode(frame.data).decode()}"
            parts.append(f'<img class="cnnbook-frame" src="{src}" width="{COLUMN_PX}" '
                         f'height="{css_h}" alt="{esc(self._alt(alt, idx))}"{hidden}>')
        parts.append("</div>")
        parts.append(_SCRIPT)
        parts.append("</div>")
        return "".join(parts)

    def _repr_html_(self):
        return self.html

    def __repr__(self):
        return (f"StaticExplorer({' x '.join(map(str, (len(v) for v in self.controls.values())))} "
                f"frames, {self.nbytes / 1024:.0f} KiB)")


# --- the live explorer: ipywidgets, redrawn by the kernel ------------------------------------

def _frame_widget(frame: Frame):
    import ipywidgets as widgets
    if frame.kind == "html":
        return widgets.HTML(value=frame.data)
    return widgets.Image(value=frame.data, format=frame.mime.split("/")[1],
                         layout=widgets.Layout(width="100%", max_width=f"{COLUMN_PX}px"))


def _slider(name: str, values: list, start: int):
    import ipywidgets as widgets
    return widgets.SelectionSlider(
        options=[(str(v), v) for v in values], index=start, description=name,
        continuous_update=False,  # draw once the slider is released
        style={"description_width": "initial"},
        layout=widgets.Layout(width="100%", max_width="32rem"))


def _live(render, controls, names, start, params_at, title):
    import ipywidgets as widgets
    sliders = [_slider(n, controls[n], s) for n, s in zip(names, start)]
    frames = {tuple(start): draw_frame(render, params_at(tuple(start)))}
    holder = widgets.Box([_frame_widget(frames[tuple(start)])])

    def update(_change=None):
        idx = tuple(s.index for s in sliders)
        if idx not in frames:
            frames[idx] = draw_frame(render, params_at(idx))
        frame, shown = frames[idx], holder.children[0]
        if (frame.kind == "html") == isinstance(shown, widgets.HTML):
            shown.value = frame.data
        else:
            holder.children = [_frame_widget(frame)]

    for slider in sliders:
        slider.observe(update, names="index")
    header = [widgets.HTML(value=f"<b>{title}</b>")] if title else []
    box = widgets.VBox(header + sliders + [holder])
    box.add_class("cnnbook-explorer")
    box.holder, box.update, box.sliders, box.frames, box.static = holder, update, sliders, frames, False
    return box


def _start_indices(controls, initial) -> list:
    """The index each slider starts at: that of its value in `initial`, else 0."""
    names = list(controls)
    initial = dict(initial or {})
    unknown = set(initial) - set(names)
    if unknown:
        raise ValueError(f"explorer: initial names {sorted(unknown)} are not controls; the controls "
                         f"are {names}.")
    for name, value in initial.items():
        if value not in controls[name]:
            raise ValueError(f"explorer: initial {name}={value!r} is not among its "
                             f"values {controls[name]}; pick one of them.")
    return [controls[n].index(initial[n]) if n in initial else 0 for n in names]


def explorer(render, controls, *, title=None, static=None, max_frames=48, initial=None, alt=None):
    """A figure with one slider per control; see the module docstring.

    Parameters
    ----------
    render : callable
        ``render(**params)`` -> matplotlib Figure, image array, or HTML string. Draw every frame
        at the same figure size; text must show at >= `MIN_TEXT_PX` px in the book's column.
    controls : dict
        name -> sequence of values; one slider per entry, in order, each showing the values' ``str``.
    title : str, optional
        HTML shown above the sliders.
    static : bool, optional
        Precompute every frame (for the static book). ``None`` reads ``CNNBOOK_STATIC``.
    max_frames : int
        Static mode refuses more frames than this (the product of the option counts).
    initial : dict, optional
        name -> starting value; otherwise each slider starts at its first value.
    alt : str or callable, optional
        The frames' alternative text: a lead phrase (the slider values are appended), or
        ``alt(**params) -> str``. Defaults to the title followed by the slider values.

    Returns
    -------
    StaticExplorer (static mode) or ipywidgets.VBox (live mode)
        Both carry ``static``, ``frames`` (index tuple -> `Frame`); the live box also carries
        ``sliders`` and ``holder`` (the Box showing the frame), the static one ``html``,
        ``min_text_px`` and ``nbytes``.
    """
    if not callable(render):
        raise TypeError(f"explorer: render must be a function render(**params) -> Figure, got "
                        f"{type(render).__name__}.")
    controls = _check_controls("explorer", controls)
    names = list(controls)
    start = _start_indices(controls, initial)
    static = is_static() if static is None else bool(static)
    sizes = [len(controls[n]) for n in names]
    total = math.prod(sizes)
    if static and total > max_frames:
        raise ValueError(f"explorer: {' x '.join(map(str, sizes))} = {total} frames exceed the limit "
                         f"max_frames={max_frames} of a static explorer; drop values from a control "
                         f"or split it into two explorers.")

    def params_at(idx):
        return {n: controls[n][i] for n, i in zip(names, idx)}

    if not static:
        return _live(render, controls, names, start, params_at, title)
    import matplotlib as mpl
    order = list(itertools.product(*(range(n) for n in sizes)))
    with mpl.rc_context({"figure.max_open_warning": 0}):   # all frames are open until cropped
        drawn = _to_frames([_call(render, params_at(idx)) for idx in order])
    frames = dict(zip(order, drawn))
    for idx in order:
        _check_text_size(frames[idx], params_at(idx))
    return StaticExplorer(controls, start, frames, title=title, alt=alt)
