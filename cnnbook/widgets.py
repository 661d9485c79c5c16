"""Explorers: a figure driven by sliders, live in Jupyter and static in the rendered book.

One mechanism serves every explorer in the book::

    cb.widgets.explorer(render, {"stride": [1, 2, 3], "padding": [0, 1, 2]}, title="...")

`render(**params)` draws one frame for one choice of the slider values and returns a matplotlib
Figure, an image array (H, W) / (H, W, 3|4), or an HTML string.

Live mode (a normal Jupyter kernel): moving a slider calls `render` for the new values and puts
the result in a single `ipywidgets.Image`; frames already drawn are cached.

Static mode (`static=True`, or the environment variable ``CNNBOOK_STATIC=1`` that the book build
sets): every frame is drawn in advance and the page needs no kernel. The frames sit in nested
`ipywidgets.Stack` containers, one nesting level per slider, and each slider's `index` is tied to
the `selected_index` of the Stacks at its level by `ipywidgets.jslink`. A jslink lives in the
browser, so it survives in the widget state that the build embeds in the HTML page; an `observe`
callback would need the kernel. With sliders of sizes (n1, n2, n3) there are n1*n2*n3 images,
1 + n1 + n1*n2 Stacks and as many links.
"""
from __future__ import annotations

import io
import itertools
import math
import os

import numpy as np

__all__ = ["explorer", "is_static", "render_frame", "frame_count"]

_STATIC_ENV = "CNNBOOK_STATIC"
_IMAGE_WIDTH = "100%"


def is_static() -> bool:
    """True when the environment asks for precomputed frames (``CNNBOOK_STATIC=1``)."""
    return os.environ.get(_STATIC_ENV, "").strip().lower() in ("1", "true", "yes", "on")


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


def _figure_png(fig, fmt: str, dpi) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=fmt, dpi=dpi if dpi is not None else "figure", bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()


def _array_png(a: np.ndarray) -> bytes:
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
    return buf.getvalue()


def render_frame(render, params: dict, fmt: str = "png", dpi=None):
    """Call `render(**params)` and return ("image", bytes) or ("html", str).

    A returned Figure is saved and closed, so no figure stays open.
    """
    result = render(**params)
    if isinstance(result, str):
        return "html", result
    if hasattr(result, "savefig"):
        return "image", _figure_png(result, fmt, dpi)
    if isinstance(result, np.ndarray):
        return "image", _array_png(result)
    raise TypeError(f"explorer: render({', '.join(f'{k}={v!r}' for k, v in params.items())}) "
                    f"returned {type(result).__name__}; it must return a matplotlib Figure, an "
                    f"image array (H, W) or (H, W, 3), or an HTML string.")


def _frame_widget(kind: str, value, fmt: str):
    import ipywidgets as widgets
    if kind == "html":
        return widgets.HTML(value=value)
    return widgets.Image(value=value, format=fmt, layout=widgets.Layout(max_width=_IMAGE_WIDTH))


def _slider(name: str, values: list, start: int, live: bool):
    import ipywidgets as widgets
    return widgets.SelectionSlider(
        options=[(str(v), v) for v in values], index=start, description=name,
        continuous_update=not live,  # live: draw once the slider is released
        style={"description_width": "initial"}, layout=widgets.Layout(width="420px"))


def explorer(render, controls, *, title=None, static=None, max_frames=48, fmt="png", dpi=None,
             initial=None):
    """A figure with one slider per control; see the module docstring.

    Parameters
    ----------
    render : callable
        ``render(**params)`` -> matplotlib Figure, image array, or HTML string.
    controls : dict
        name -> sequence of values; one `SelectionSlider` per entry, in order, each showing the
        values' ``str``.
    title : str, optional
        HTML shown above the sliders.
    static : bool, optional
        Precompute every frame (for the static book). ``None`` reads ``CNNBOOK_STATIC``.
    max_frames : int
        Static mode refuses more frames than this (the product of the option counts).
    fmt, dpi :
        Image format and resolution passed to ``Figure.savefig``.
    initial : dict, optional
        name -> starting value; otherwise each slider starts at its first value.

    Returns
    -------
    ipywidgets.VBox
        With CSS class ``cnnbook-explorer``, and the attributes ``sliders`` (list), ``frames``
        (dict: index tuple -> frame bytes/HTML), ``static`` (bool), ``links`` (the jslinks, static
        mode) and ``stack`` (the outer Stack, static mode) or ``holder`` (the Box showing the frame, live mode).
    """
    import ipywidgets as widgets

    if not callable(render):
        raise TypeError(f"explorer: render must be a function render(**params) -> Figure, got "
                        f"{type(render).__name__}.")
    controls = _check_controls("explorer", controls)
    names = list(controls)
    initial = dict(initial or {})
    unknown = set(initial) - set(names)
    if unknown:
        raise ValueError(f"explorer: initial names {sorted(unknown)} are not controls; the controls "
                         f"are {names}.")
    start = []
    for name in names:
        values = controls[name]
        if name in initial:
            if initial[name] not in values:
                raise ValueError(f"explorer: initial {name}={initial[name]!r} is not among its "
                                 f"values {values}; pick one of them.")
            start.append(values.index(initial[name]))
        else:
            start.append(0)
    static = is_static() if static is None else bool(static)
    sizes = [len(controls[n]) for n in names]
    total = math.prod(sizes)
    if static and total > max_frames:
        raise ValueError(f"explorer: {' x '.join(map(str, sizes))} = {total} frames exceed the limit "
                         f"max_frames={max_frames} of a static explorer; drop values from a control "
                         f"or split it into two explorers.")

    def params_at(idx):
        return {n: controls[n][i] for n, i in zip(names, idx)}

    sliders = [_slider(n, controls[n], s, live=not static) for n, s in zip(names, start)]
    frames: dict = {}
    header = [widgets.HTML(value=f"<b>{title}</b>")] if title else []

    if static:
        for idx in itertools.product(*(range(n) for n in sizes)):
            frames[idx] = render_frame(render, params_at(idx), fmt, dpi)
        links = []
        level_stacks: list[list] = [[] for _ in names]

        def build(prefix):
            depth = len(prefix)
            if depth == len(names):
                kind, value = frames[prefix]
                return _frame_widget(kind, value, fmt)
            children = [build(prefix + (i,)) for i in range(sizes[depth])]
            stack = widgets.Stack(children=children, selected_index=start[depth])
            level_stacks[depth].append(stack)
            return stack

        outer = build(())
        for slider, stacks in zip(sliders, level_stacks):
            for stack in stacks:
                links.append(widgets.jslink((slider, "index"), (stack, "selected_index")))
        box = widgets.VBox(header + sliders + [outer])
        box.stack, box.links = outer, links
    else:
        kind0, value0 = render_frame(render, params_at(tuple(start)), fmt, dpi)
        frames[tuple(start)] = (kind0, value0)
        holder = widgets.Box([_frame_widget(kind0, value0, fmt)])

        def update(_change=None):
            idx = tuple(s.index for s in sliders)
            if idx not in frames:
                frames[idx] = render_frame(render, params_at(idx), fmt, dpi)
            kind, value = frames[idx]
            shown = holder.children[0]
            if (kind == "html") == isinstance(shown, widgets.HTML):
                shown.value = value
            else:
                holder.children = [_frame_widget(kind, value, fmt)]

        for slider in sliders:
            slider.observe(update, names="index")
        box = widgets.VBox(header + sliders + [holder])
        box.holder = holder
        box.update = update
    box.add_class("cnnbook-explorer")
    box.sliders, box.frames, box.static = sliders, frames, static
    return box
