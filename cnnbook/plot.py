"""Small figure helpers for the book: matrices with their numbers, image grids, feature maps,
the sliding windows of a convolution, one step of a cross-correlation, training curves and
class probabilities.

Each helper returns the matplotlib Figure it drew on; those that draw a single panel also take
`ax=` to draw into an existing Axes. The window picture follows Dumoulin & Visin, "A guide to
convolution arithmetic for deep learning" (2016): the input in blue, zero padding hatched, the
kernel's footprint outlined.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import matplotlib.pyplot as plt
from matplotlib.patches import Rectangle

__all__ = ["show_matrix", "show_images", "show_feature_maps", "draw_windows", "conv_step",
           "plot_curves", "bar_probs"]

_WINDOW_COLORS = plt.get_cmap("tab10").colors


def _fit(figsize):
    """`figsize` scaled down, keeping its shape, to the width of the book's text column:
    a figure drawn wider would be shown shrunk, and its text with it."""
    from .figstyle import COLUMN_IN
    w, h = figsize
    return (w, h) if w <= COLUMN_IN else (COLUMN_IN, h * COLUMN_IN / w)


def _new_ax(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _as_2d(fn: str, a) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2:
        raise ValueError(f"{fn}: expected a 1-D or 2-D array, got shape {a.shape}; "
                         f"pass one channel, e.g. a[0, 0] for an (N, C, H, W) batch.")
    return a


def show_matrix(a, ax=None, annotate=True, cmap="Greys", fmt="{:g}", highlight=None, title=None,
                vmin=None, vmax=None, fontsize=None, cell=0.45):
    """Draw a small 2-D array (or a 1-D one as a row) as a grid with its values in the cells.

    highlight : (r0, c0, h, w) or a list of them
        Rectangles drawn around those cells (e.g. the window under the kernel).
    cell : float
        Inches per cell when a new figure is made.
    """
    a = _as_2d("show_matrix", a)
    H, W = a.shape

    if ax is None:            # at most the column's width: cells shrink for a wide array
        from .figstyle import COLUMN_IN
        cell = min(cell, (COLUMN_IN - 0.4) / W)
    fig, ax = _new_ax(ax, (max(1.2, cell * W + 0.4), max(1.0, cell * H + 0.4)))
    vals = a.astype(float)
    finite = vals[np.isfinite(vals)]
    lo = (finite.min() if finite.size else 0.0) if vmin is None else vmin
    hi = (finite.max() if finite.size else 1.0) if vmax is None else vmax
    if hi == lo:
        hi = lo + 1.0
    im = ax.imshow(vals, cmap=cmap, vmin=lo, vmax=hi)
    if annotate:
        fs = fontsize or (10 if max(H, W) <= 8 else 8)
        for r in range(H):
            for c in range(W):
                if np.isnan(vals[r, c]):  # NaN cells stay blank
                    continue
                # dark text on light cells, light text on dark cells
                shade = np.mean(im.cmap(im.norm(vals[r, c]))[:3])
                ax.text(c, r, fmt.format(a[r, c]), ha="center", va="center", fontsize=fs,
                        color="black" if shade > 0.5 else "white")
    ax.set_xticks(np.arange(-0.5, W, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, H, 1), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.6)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if highlight is not None:
        boxes = [highlight] if np.ndim(highlight[0]) == 0 else highlight
        for k, (r0, c0, h, w) in enumerate(boxes):
            ax.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), w, h, fill=False, linewidth=2.5,
                                   edgecolor=_WINDOW_COLORS[(k + 3) % 10]))
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def show_images(images, titles=None, ncols=None, cmap="gray", figsize=None, diverging=False,
                axis_off=True):
    """Show images (H, W) or (H, W, 3|4) in a grid, each auto-scaled to its own range.

    diverging : bool
        For signed maps: a red-blue colormap centred on zero, so positive and negative
        responses of the same size look equally strong.
    """
    images = [np.asarray(im) for im in images]
    n = len(images)
    if n == 0:
        raise ValueError("show_images: got no images; pass a list of (H, W) or (H, W, 3) arrays.")
    for k, im in enumerate(images):
        if not (im.ndim == 2 or (im.ndim == 3 and im.shape[2] in (3, 4))):
            raise ValueError(f"show_images: image {k} has shape {im.shape}; expected (H, W) or "
                             f"(H, W, 3); move channels last with im.transpose(1, 2, 0).")
    ncols = min(n, ncols or 6)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize or _fit((2.0 * ncols, 2.0 * nrows + 0.2)),
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        im = images[k]
        if im.ndim == 3 and im.shape[2] in (3, 4):
            if np.issubdtype(im.dtype, np.floating):
                lo, hi = float(im.min()), float(im.max())
                im = (im - lo) / (hi - lo) if hi > lo else np.zeros_like(im)
            ax.imshow(im)
        elif diverging:
            m = float(np.abs(im).max()) or 1.0
            ax.imshow(im, cmap="RdBu_r", vmin=-m, vmax=m)
        else:
            ax.imshow(im, cmap=cmap)
        if titles is not None:
            ax.set_title(str(titles[k]), fontsize=9)
        if axis_off:
            ax.axis("off")
    fig.tight_layout()
    return fig


def show_feature_maps(maps, ncols=8, titles=None, diverging=True, figsize=None):
    """Show C feature maps (C, H, W) — or the first example of (N, C, H, W) — in a grid."""
    maps = np.asarray(maps)
    if maps.ndim == 4:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"show_feature_maps: expected maps of shape (C, H, W), got {maps.shape}.")
    C = maps.shape[0]
    if titles is None:
        titles = [f"map {c}" for c in range(C)]
    ncols = min(C, ncols)
    size = figsize or _fit((1.5 * ncols, 1.5 * (-(-C // ncols)) + 0.2))
    return show_images(list(maps), titles=titles, ncols=ncols, diverging=diverging, figsize=size)


class _Windows(NamedTuple):
    """The geometry ``draw_windows`` draws: input, kernel, stride, padding, dilation and output
    sizes per axis (a 1-D input is one row: H = 1, no padding or stride along it)."""
    two_d: bool
    H: int
    W: int
    KH: int
    KW: int
    SH: int
    SW: int
    PH: int
    PW: int
    DH: int
    DW: int
    H_out: int
    W_out: int


def _windows(n_in, kernel_size, stride, padding, dilation) -> _Windows:
    from .arithmetic import conv_output_size
    two_d = np.ndim(n_in) > 0
    if two_d:
        as2 = lambda v: tuple(v) if np.ndim(v) else (v, v)      # noqa: E731
        (H, W), (KH, KW), (SH, SW), (PH, PW), (DH, DW) = map(
            as2, (n_in, kernel_size, stride, padding, dilation))
    else:
        H, W, KH, KW, SH, SW, PH, PW, DH, DW = 1, n_in, 1, kernel_size, 1, stride, 0, padding, 1, dilation
    H_out = conv_output_size(H, KH, SH, PH, DH) if two_d else 1
    W_out = conv_output_size(W, KW, SW, PW, DW)
    return _Windows(two_d, H, W, KH, KW, SH, SW, PH, PW, DH, DW, H_out, W_out)


def _window_positions(g: _Windows, positions) -> list:
    """The output positions to outline, as (i, j) pairs, checked to lie in the output."""
    if positions is None:
        positions = (sorted({(0, 0), (0, g.W_out - 1), (g.H_out - 1, g.W_out - 1)}) if g.two_d
                     else list(range(g.W_out)))
    positions = [tuple(p) if g.two_d else (0, p) for p in positions]
    for i, j in positions:
        if not (0 <= i < g.H_out and 0 <= j < g.W_out):
            where, size = ((f"({i}, {j})", f"{g.H_out}x{g.W_out}") if g.two_d
                           else (str(j), f"{g.W_out}-long"))
            raise ValueError(f"draw_windows: window position {where} is outside the {size} "
                             f"output; positions must index the output.")
    return positions


def _draw_padded_input(ax, g: _Windows):
    """Input cells blue, padding hatched grey, a red dot on every cell no window reads."""
    from .arithmetic import window_coverage
    if g.two_d:
        read = window_coverage((g.H, g.W), (g.KH, g.KW), (g.SH, g.SW), (g.PH, g.PW),
                               (g.DH, g.DW), padded=True) > 0
    else:
        read = window_coverage(g.W, g.KW, g.SW, g.PW, g.DW, padded=True)[None] > 0
    for r in range(g.H + 2 * g.PH):
        for c in range(g.W + 2 * g.PW):
            inside = g.PH <= r < g.PH + g.H and g.PW <= c < g.PW + g.W
            ax.add_patch(Rectangle((c, -r - 1), 1, 1, facecolor="#9ecae1" if inside else "0.92",
                                   edgecolor="0.45", linewidth=0.6, hatch=None if inside else "///"))
            if not read[r, c]:
                ax.plot(c + 0.5, -r - 0.5, "o", color="crimson", markersize=3)


def _draw_window_outlines(ax, g: _Windows, positions):
    """Outline the cells each window reads: on the input in 2-D, one row per window in 1-D."""
    HP = g.H + 2 * g.PH
    for k, (i, j) in enumerate(positions):
        color = _WINDOW_COLORS[k % 10]
        r0, c0 = i * g.SH, j * g.SW
        base = -(HP + 1 + k) if not g.two_d else 0
        for a in range(g.KH):
            for b in range(g.KW):
                r, c = r0 + a * g.DH, c0 + b * g.DW
                y = (-r - 1) if g.two_d else base
                inset = 0.08 + 0.04 * (k % 3) if g.two_d else 0.0
                ax.add_patch(Rectangle((c + inset, y + inset), 1 - 2 * inset, 1 - 2 * inset,
                                       fill=not g.two_d, facecolor=color,
                                       alpha=0.9 if not g.two_d else 1, edgecolor=color,
                                       linewidth=2.0))
        if not g.two_d:
            ax.text(-0.4, base + 0.5, f"out[{j}]", ha="right", va="center", fontsize=9)


def draw_windows(n_in, kernel_size, stride=1, padding=0, dilation=1, ax=None, positions=None,
                 title=True, cell=0.32):
    """Draw an input with its zero padding and the windows a kernel visits.

    `n_in`, `kernel_size`, `stride`, `padding`, `dilation` are ints (a 1-D input drawn as one
    row) or pairs (H, W) for a 2-D input. Input cells are blue, padding cells hatched grey, and
    the cells each drawn window reads are outlined (dilated kernels read every `dilation`-th
    cell). Cells of the padded input that no window reads are marked with a red dot
    (``cb.arithmetic.window_coverage`` counts the windows that read each cell).

    positions : list of output indices (ints in 1-D, (i, j) pairs in 2-D) to outline; by default
        every window in 1-D, and in 2-D the first and last windows of the first row and the last.
    """
    g = _windows(n_in, kernel_size, stride, padding, dilation)
    positions = _window_positions(g, positions)
    HP, WP = g.H + 2 * g.PH, g.W + 2 * g.PW
    rows = HP if g.two_d else HP + len(positions)   # in 1-D each window gets its own row
    fig, ax = _new_ax(ax, (max(2.0, cell * WP + 0.6), max(1.2, cell * rows + 0.8)))
    _draw_padded_input(ax, g)
    _draw_window_outlines(ax, g, positions)
    ax.set_xlim(-0.2 if g.two_d else -2.6, WP + 0.2)
    ax.set_ylim(-rows - 0.2 - (0 if g.two_d else 1), 0.2)
    ax.set_aspect("equal")
    ax.axis("off")
    if title and g.two_d:
        ax.set_title(f"{g.H}x{g.W} input, k={g.KH}x{g.KW}, s={g.SH},{g.SW}, p={g.PH},{g.PW}, "
                     f"d={g.DH},{g.DW} -> {g.H_out}x{g.W_out}", fontsize=9)
    elif title:
        ax.set_title(f"n={g.W}, k={g.KW}, s={g.SW}, p={g.PW}, d={g.DW} -> {g.W_out} outputs",
                     fontsize=9)
    return fig


def conv_step(x, w, i, j, stride=1, padding=0, cmap="Blues", fmt="{:g}"):
    """One step of a 2-D cross-correlation of a single-channel `x` with `w`, as three panels.

    Left: the (padded) input with the window for output (i, j) outlined. Middle: the kernel.
    Right: the output, with the entries up to (i, j) in row-major order filled in and the
    others blank. Returns the Figure; the value out[i, j] is written under the panels.
    """
    from .arithmetic import conv_output_size
    x = _as_2d("conv_step", x).astype(float)
    w = _as_2d("conv_step", w).astype(float)
    KH, KW = w.shape
    xp = np.pad(x, padding)
    H_out = conv_output_size(x.shape[0], KH, stride, padding)
    W_out = conv_output_size(x.shape[1], KW, stride, padding)
    if not (0 <= i < H_out and 0 <= j < W_out):
        raise ValueError(f"conv_step: output position (i, j)=({i}, {j}) is outside the "
                         f"{H_out}x{W_out} output; use 0 <= i < {H_out} and 0 <= j < {W_out}.")
    out = np.full((H_out, W_out), np.nan)
    for r in range(H_out):
        for c in range(W_out):
            if (r, c) <= (i, j):
                win = xp[r * stride:r * stride + KH, c * stride:c * stride + KW]
                out[r, c] = np.sum(win * w)
    widths = [xp.shape[1], KW, W_out]
    fig, axes = plt.subplots(1, 3, figsize=(0.42 * sum(widths) + 1.5, 0.42 * xp.shape[0] + 1.0),
                             gridspec_kw={"width_ratios": widths})
    show_matrix(xp, ax=axes[0], cmap=cmap, fmt=fmt, title="input" + (" (padded)" if padding else ""),
                highlight=(i * stride, j * stride, KH, KW))
    show_matrix(w, ax=axes[1], cmap="Oranges", fmt=fmt, title="kernel")
    # entries not computed yet are NaN: drawn blank
    show_matrix(out, ax=axes[2], cmap="Greens", fmt=fmt, title="output", highlight=(i, j, 1, 1))
    terms = " + ".join(f"{a:g}*{b:g}" for a, b in zip(
        xp[i * stride:i * stride + KH, j * stride:j * stride + KW].ravel(), w.ravel()))
    if len(terms) > 90:
        terms = "sum of window * kernel"
    fig.suptitle(f"out[{i}, {j}] = {terms} = {out[i, j]:g}", fontsize=9, y=0.02, va="bottom")
    return fig


def plot_curves(curves, xlabel="epoch", ylabel=None, title=None, ax=None, logy=False):
    """Plot named curves: `curves` maps a label to a sequence of values (or to (x, y))."""
    fig, ax = _new_ax(ax, (5, 3))
    for label, values in curves.items():
        if isinstance(values, tuple) and len(values) == 2:
            ax.plot(values[0], values[1], label=label, marker="o", markersize=3)
        else:
            ax.plot(np.arange(1, len(values) + 1), values, label=label, marker="o", markersize=3)
    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    return fig


def bar_probs(probs, class_names=None, ax=None, true_class=None, title=None):
    """Horizontal bars of class probabilities; the top class in a darker colour, and the true
    class (if given) labelled in bold."""
    probs = np.asarray(probs, dtype=float).ravel()
    names = [str(c) for c in (class_names if class_names is not None else range(len(probs)))]
    if len(names) != len(probs):
        raise ValueError(f"bar_probs: {len(probs)} probabilities but {len(names)} class names; "
                         f"give one name per class.")
    fig, ax = _new_ax(ax, (4, 0.28 * len(probs) + 0.8))
    colors = ["#3182bd" if k == int(np.argmax(probs)) else "#9ecae1" for k in range(len(probs))]
    y = np.arange(len(probs))[::-1]
    ax.barh(y, probs, color=colors)
    ax.set_yticks(y)
    ax.set_yticklabels(names, fontsize=9)
    if true_class is not None:
        ax.get_yticklabels()[int(true_class)].set_fontweight("bold")
    for yy, p in zip(y, probs):
        ax.text(p + 0.01, yy, f"{p:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("probability")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def architecture(model, input_shape, two_streams=False, ax=None, title=None, figsize=(6.8, 4.4)):
    """Draw a network as a row of volumes: one box per convolution (height ~ its map side,
    width ~ its channel count) and one bar per fully connected layer, labelled with the output
    shape, the kernel and the stride, all read from the model (``cb.arithmetic.summary``).

    With ``two_streams=True`` every volume is split into two halves, as in the figure of the
    two-GPU AlexNet: a layer with ``groups=2`` connects each half only to its own half (arrows
    stay in their row), a layer with ``groups=1`` or a fully connected one reads both halves
    (crossing arrows, marked "across GPUs"). Pooling and normalisation layers are listed under the
    next box, marked "<" (they come before it). Returns the Figure.
    """
    from .arithmetic import summary
    rows = summary(model, input_shape).rows
    mods = dict(model.named_modules()) if hasattr(model, "named_modules") else {}
    cols, pending = [("input", tuple(input_shape[1:]), None, "")], []
    for r in rows:
        layer = mods.get(r.name)
        if r.layer == "Conv2d":
            k, s = layer.kernel_size, layer.stride
            note = f"{k[0]}x{k[1]} /{s[0]}" + ("".join("\n< " + p for p in pending))
            cols.append((f"conv{sum(c[0].startswith('conv') for c in cols) + 1}",
                         r.output_shape[1:], layer, note))
            pending = []
        elif r.layer == "Linear":
            cols.append((f"fc{len(cols)}", r.output_shape[1:], layer,
                         "\n".join("< " + p for p in pending)))
            pending = []
        elif r.layer == "MaxPool2d":
            pending.append(f"pool {layer.kernel_size[0]}/{layer.stride[0]}")
        elif r.layer == "LocalResponseNorm":
            pending.append("LRN")
    fig, ax = _new_ax(ax, figsize)
    x, prev, max_side = 0.0, None, max(c[1][-1] for c in cols if len(c[1]) == 3)
    for name, shape, layer, note in cols:
        conv_like = len(shape) == 3
        h = 0.6 + 2.4 * np.sqrt(shape[-1] / max_side) if conv_like else 3.0
        w = 0.15 + 0.1 * np.log2(shape[0]) if conv_like else 0.18
        halves = [(0.15, h / 2 - 0.05), (-h / 2 + 0.05 - 0.15, h / 2 - 0.05)] if two_streams \
            else [(-h / 2, h)]
        color = "#9ecae1" if conv_like else "#fdae6b"
        if name == "input":
            halves, color = [(-h / 2, h)], "#d9d9d9"
        for y0, hh in halves:
            ax.add_patch(Rectangle((x, y0), w, hh, facecolor=color, edgecolor="k", lw=0.8))
        c = shape[0]
        label = (f"{c // 2}\n+{c // 2}" if two_streams and name != "input" and not conv_like
                 else f"{c // 2}+{c // 2}" if two_streams and name != "input" else f"{c}")
        label += f"\n@{shape[1]}x{shape[2]}" if conv_like else ""
        ax.text(x + w / 2, -2.0, label, ha="center", va="top", fontsize=8)
        ax.text(x + w / 2, 1.75, name, ha="center", va="bottom", fontsize=8, weight="bold")
        if note:
            ax.text(x + w / 2, -2.75, note, ha="center", va="top", fontsize=8, color="0.3")
        if prev is not None:
            px, pw, phalves = prev
            cross = not (isinstance(layer, type(None)) or getattr(layer, "groups", 1) == 2)
            if two_streams and len(phalves) == 2 and len(halves) == 2:
                for i, (py, ph) in enumerate(phalves):
                    for j, (y0, hh) in enumerate(halves):
                        if i == j or cross:
                            ax.annotate("", (x, y0 + hh / 2), (px + pw, py + ph / 2),
                                        arrowprops=dict(arrowstyle="->", lw=0.8,
                                                        color="C3" if i != j else "0.3"))
            else:
                for (py, ph) in phalves:
                    for (y0, hh) in halves:
                        ax.annotate("", (x, y0 + hh / 2), (px + pw, py + ph / 2),
                                    arrowprops=dict(arrowstyle="->", lw=0.8, color="0.3"))
        prev = (x, w, halves)
        x += w + (0.8 if name == "input" else 0.55 if conv_like else 0.75)
    if two_streams:
        ax.text(-0.1, 0.9, "GPU 1", ha="right", fontsize=10)
        ax.text(-0.1, -0.9, "GPU 2", ha="right", fontsize=10)
        ax.plot([], [], color="C3", label="reads both halves (across GPUs)")
        ax.plot([], [], color="0.3", label="reads its own half")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=9,
                  frameon=False)
    ax.set_xlim(-0.9 if two_streams else -0.3, x - 0.3)
    ax.set_ylim(-4.6, 2.3)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=11)
    return fig


__all__ += ["architecture"]
