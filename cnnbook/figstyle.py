"""How the book's static figures are drawn and shown, in one place for every chapter.

Every chapter starts with ``import cnnbook as cb``; in a Jupyter kernel (the book build, nbval,
JupyterLab) that import calls `install()`, so every kernel gets the same figures:

- matplotlib's defaults for the book (`RC`): figures `COLUMN_IN` inches wide at `DPI` dots per
  inch, which is the 688 CSS px of the rendered book's text column, and no default text smaller
  than `MIN_TEXT_PT` points (11 CSS px at natural size);
- each figure a cell shows is saved as PNG at `PIXEL_RATIO` (2) image pixels per CSS pixel and
  displayed at half its pixel size (IPython's "retina" output), so it stays sharp on high-DPI
  screens;
- the output's metadata records what the figure draws: ``"cnnbook": {"min_text_pt", "dpi",
  "css_width", "min_text_px"}`` — the smallest text drawn (in points, and in CSS px at the
  figure's natural size) and the width it is displayed at. ``scripts/check_figures.py`` reads
  it and fails the build when a figure's smallest text would show under `MIN_TEXT_PX` CSS px
  in the column (`min_text_css`).

The explorers (``cb.widgets``) follow the same column width, pixel ratio and text rule.
"""
from __future__ import annotations

import base64
import io
import sys

__all__ = ["install", "figure_png", "min_text_css", "COLUMN_PX", "COLUMN_IN", "DPI",
           "PIXEL_RATIO", "MIN_TEXT_PX", "MIN_TEXT_PT", "RC"]

COLUMN_PX = 688          # the book's text column in a 1280 px window, CSS px
DPI = 100                # CSS px per inch of a figure shown at its natural size
COLUMN_IN = COLUMN_PX / DPI
PIXEL_RATIO = 2          # image pixels per CSS pixel
MIN_TEXT_PX = 11         # smallest legible text, CSS px
MIN_TEXT_PT = 8          # 8 pt at DPI = 11.1 CSS px at natural size

RC = {
    "figure.dpi": DPI,
    "figure.figsize": (COLUMN_IN, 3.6),
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
}


def min_text_css(min_text_px: float, css_width: float, column_px: float = COLUMN_PX) -> float:
    """CSS px of text `min_text_px` high in a figure `css_width` CSS px wide, shown in a
    column `column_px` wide (scaled down to fit, never up)."""
    return min_text_px * min(1.0, column_px / css_width)


def _png_size(data: bytes) -> tuple[int, int]:
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def figure_png(fig) -> tuple[bytes, dict]:
    """(PNG bytes, metadata) for `fig`: cropped to its tight bounding box, `PIXEL_RATIO` image
    pixels per CSS pixel, with the display size and the smallest text drawn."""
    from matplotlib.text import Text
    sizes: list[float] = []
    original = Text.draw

    def draw(self, renderer, *args, **kwargs):        # record every text actually drawn
        if self.get_visible() and self.get_text().strip():
            sizes.append(float(self.get_fontsize()))
        return original(self, renderer, *args, **kwargs)

    # A figure wider than the column is shown scaled down to it: save it at that size, so it
    # carries PIXEL_RATIO image pixels per CSS pixel there and no more.
    box = fig.get_tightbbox(fig.canvas.get_renderer()).padded(0.1)
    scale = min(1.0, COLUMN_PX / (box.width * fig.dpi))
    buf = io.BytesIO()
    Text.draw = draw
    try:
        fig.canvas.print_figure(buf, format="png", dpi=fig.dpi * PIXEL_RATIO * scale,
                                bbox_inches="tight", facecolor=fig.get_facecolor(),
                                edgecolor=fig.get_edgecolor())
    finally:
        Text.draw = original
    data = buf.getvalue()
    w, h = _png_size(data)
    css_w, css_h = w / PIXEL_RATIO, h / PIXEL_RATIO
    info = {"dpi": float(fig.dpi), "scale": round(scale, 4), "css_width": css_w,
            "min_text_pt": min(sizes) if sizes else None}
    # CSS px of the smallest text as shown at css_width (the figure's width in the column)
    info["min_text_px"] = (round(min(sizes) * fig.dpi * scale / 72, 2) if sizes else None)
    return data, {"width": int(round(css_w)), "height": int(round(css_h)), "cnnbook": info}


def _format(fig):
    if not (fig.axes or fig.lines or fig.images or fig.texts or fig.patches):
        return None                                   # as IPython: an empty figure shows nothing
    data, meta = figure_png(fig)
    return base64.b64encode(data).decode("ascii"), meta


def _kernel_shell():
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython
    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "kernel") else None


def install(shell=None) -> bool:
    """Apply `RC` and show figures through `figure_png` in the running Jupyter kernel (or in
    `shell`). Returns False, changing nothing, outside a kernel (plain Python, pytest)."""
    shell = shell or _kernel_shell()
    if shell is None:
        return False
    import matplotlib
    import matplotlib.pyplot  # noqa: F401  (loads the inline backend, which sets its formats)
    if "inline" in str(matplotlib.get_backend()):
        import matplotlib_inline.backend_inline  # noqa: F401
    from matplotlib.figure import Figure
    matplotlib.rcParams.update(RC)
    formatters = shell.display_formatter.formatters
    formatters["image/png"].for_type(Figure, _format)
    for mime in ("image/svg+xml", "image/jpeg", "application/pdf"):
        formatters[mime].pop(Figure, None)
    return True
