"""Check that every figure a chapter draws reached its executed notebook, and so the page.

    python scripts/check_figures.py [BUILD_DIR [BOOK_DIR]]   (default: _build and book)

The executed notebooks are taken from the build's execution cache (BUILD_DIR/.jupyter_cache,
merged into the source notebooks as the build does), else from BUILD_DIR/jupyter_execute. The
build rewrites the latter only for the notebooks it executed, not for those it took from the
cache; this script writes those back, so BUILD_DIR/jupyter_execute always holds the outputs.

A code cell *draws* when one of its top-level statements (not the body of a `def` or `class`)
calls `plt.show`, `plt.subplots`, `plt.figure`, `plt.imshow`, `plt.plot` or a `cb.plot` helper.
Each such cell must carry at least one image output. A cell that calls `cb.widgets.explorer`
must carry the explorer's frames (`<img>` in its HTML output). A kernel that never installed
matplotlib's inline backend (for example because MPLBACKEND was set in its environment) turns
every `plt.show()` into nothing, and this check fails.

Every matplotlib figure a chapter shows must also be legible: ``cnnbook.figstyle`` (installed
in every kernel by ``import cnnbook``) records in each image output's metadata the smallest text
the figure draws and the width it is shown at. A figure fails when that text shows under
``MIN_TEXT_PX`` (11) CSS px in the book's 688-px column at 1280 px, or when it carries fewer than
2 image pixels per CSS pixel, or when its output has no such record (a kernel that never ran
``import cnnbook``, or an image drawn some other way).

Prints one row per chapter: drawing cells, images shown, explorers and their frames, static
figures, the smallest text at 1280 and 390 px and the image pixels per CSS pixel. Exits 1 with
the cells at fault when a drawing cell shows no image or a figure's text is too small.
"""
from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import NamedTuple

PLT_CALLS = {"show", "subplots", "figure", "imshow", "plot"}
COLUMN_PX = 688          # the text column at 1280 px (cnnbook.figstyle.COLUMN_PX)
PHONE_COLUMN_PX = 358    # the text column in a 390 px window
MIN_TEXT_PX = 11         # smallest legible text, CSS px (cnnbook.figstyle.MIN_TEXT_PX)
MIN_PIXEL_RATIO = 2      # image pixels per CSS pixel
IMAGE_MIMES = ("image/png", "image/webp", "image/jpeg", "image/svg+xml", "image/gif")


class Figure(NamedTuple):
    """One static image output: where, its text and its sharpness."""
    cell: int
    line: str
    min_text_px: float | None     # smallest text at 1280 px (None: no text, or not recorded)
    phone_text_px: float | None   # the same in a 390 px window, figure scaled to the column
    pixel_ratio: float            # image pixels per CSS pixel as displayed at 1280 px
    recorded: bool                # the output carries cnnbook.figstyle's record


class Counts(NamedTuple):
    drawing_cells: int
    images: int
    explorers: int
    frames: int
    missing: list  # (cell index, first line) of drawing cells without an image
    figures: list = []   # Figure per static image output


def _png_width(data) -> int | None:
    import base64
    raw = base64.b64decode("".join(data) if isinstance(data, list) else data)[:32]
    return int.from_bytes(raw[16:20], "big") if raw[:8] == b"\x89PNG\r\n\x1a\n" else None


def figure_of(cell_index: int, line: str, out: dict) -> Figure | None:
    """The Figure record of one output, or None when it shows no static image."""
    data = out.get("data", {})
    mime = next((m for m in IMAGE_MIMES if m in data), None)
    if mime is None:
        return None
    meta = out.get("metadata", {}).get(mime, {})
    info = meta.get("cnnbook")
    width_px = _png_width(data[mime]) if mime == "image/png" else None
    css_width = float(meta.get("width") or (width_px or 0)) or None
    shown = min(css_width, COLUMN_PX) if css_width else None
    ratio = (width_px / shown) if (width_px and shown) else float("inf")  # SVG: any ratio
    if info is None:
        return Figure(cell_index, line, None, None, ratio, False)
    px = info.get("min_text_px")
    if px is None:
        return Figure(cell_index, line, None, None, ratio, True)
    at_1280 = px * min(1.0, COLUMN_PX / css_width)
    at_390 = px * min(1.0, PHONE_COLUMN_PX / css_width)
    return Figure(cell_index, line, round(at_1280, 2), round(at_390, 2), ratio, True)


def figure_problems(fig: Figure) -> list[str]:
    """Why a static figure fails the check (empty when it passes)."""
    problems = []
    if not fig.recorded:
        problems.append("no record of its text size (was cnnbook imported in the kernel, and "
                        "is it a matplotlib figure?)")
    elif fig.min_text_px is not None and fig.min_text_px < MIN_TEXT_PX:
        problems.append(f"its smallest text shows at {fig.min_text_px:.1f} CSS px in the "
                        f"{COLUMN_PX}-px column, under {MIN_TEXT_PX} px; raise the font size "
                        f"or draw it narrower (fewer panels per row)")
    if fig.pixel_ratio < MIN_PIXEL_RATIO - 0.02:
        problems.append(f"{fig.pixel_ratio:.2f} image pixels per CSS pixel, under "
                        f"{MIN_PIXEL_RATIO}: blurry on a high-DPI screen")
    return problems


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _top_level_calls(code: str):
    """Dotted names of the calls made by top-level statements (function bodies skipped)."""
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names = []

    def visit(node):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            return
        if isinstance(node, ast.Call):
            parts, f = [], node.func
            while isinstance(f, ast.Attribute):
                parts.append(f.attr)
                f = f.value
            if isinstance(f, ast.Name):
                names.append(".".join([f.id] + parts[::-1]))
        for child in ast.iter_child_nodes(node):
            visit(child)

    for stmt in tree.body:
        visit(stmt)
    return names


def cell_draws(code: str) -> bool:
    for name in _top_level_calls(code):
        head, _, rest = name.partition(".")
        if head == "plt" and rest in PLT_CALLS:
            return True
        if name.startswith("cb.plot.") or name.startswith("cnnbook.plot."):
            return True
    return False


def cell_explores(code: str) -> bool:
    return any(n.endswith("widgets.explorer") for n in _top_level_calls(code))


def _images(outputs) -> tuple[int, int]:
    """(image outputs, <img> tags inside HTML outputs)."""
    images = tags = 0
    for out in outputs:
        data = out.get("data", {})
        if any(m in data for m in IMAGE_MIMES):
            images += 1
        html = data.get("text/html", "")
        html = "".join(html) if isinstance(html, list) else html
        tags += len(re.findall(r"<img\b", html))
    return images, tags


def count(nb: dict) -> Counts:
    drawing = images = explorers = frames = 0
    missing, figures = [], []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        code = _source(cell)
        first = code.strip().splitlines()[0] if code.strip() else ""
        for out in cell.get("outputs", []):
            fig = figure_of(i, first, out)
            if fig is not None:
                figures.append(fig)
        n_img, n_tags = _images(cell.get("outputs", []))
        images += n_img
        if cell_explores(code):
            explorers += 1
            frames += n_tags
            if not n_tags:
                missing.append((i, code.strip().splitlines()[0] if code.strip() else ""))
        elif cell_draws(code):
            drawing += 1
            if not n_img and not n_tags:
                missing.append((i, code.strip().splitlines()[0] if code.strip() else ""))
    return Counts(drawing, images, explorers, frames, missing, figures)


def executed_notebooks(build: Path, book: Path) -> dict:
    """name -> executed notebook (a dict) for every chapter of `book` the build executed."""
    found = {}
    cache_dir = build / ".jupyter_cache"
    if cache_dir.is_dir():
        import nbformat
        from jupyter_cache import get_cache
        cache = get_cache(str(cache_dir))
        for path in sorted(book.glob("*.ipynb")):
            try:
                _, merged = cache.merge_match_into_notebook(nbformat.read(path, as_version=4))
            except KeyError:  # never executed, or changed since
                continue
            found[path.stem] = json.loads(nbformat.writes(merged))
            # myst-nb rewrites jupyter_execute only for the notebooks it executed; bring the
            # ones it took from the cache up to date, so that folder always holds outputs.
            executed = build / "jupyter_execute" / path.parent.name / path.name
            if executed.parent.is_dir():
                executed.write_text(nbformat.writes(merged), encoding="utf-8")
    for path in sorted((build / "jupyter_execute").rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in path.parts and path.stem not in found:
            found[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return found


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    build = Path(argv[0] if argv else "_build")
    book = Path(argv[1] if len(argv) > 1 else "book")
    notebooks = executed_notebooks(build, book)
    if not notebooks:
        print(f"check_figures: no executed notebooks under {build}", file=sys.stderr)
        return 1
    failed = False
    small = 0
    print(f"{'chapter':32s} {'drawing cells':>13s} {'images':>7s} {'explorers':>9s} "
          f"{'frames':>7s} {'figures':>7s} {'<11px':>5s} {'text@1280':>9s} {'text@390':>8s} "
          f"{'px/css':>6s}")
    for name, nb in notebooks.items():
        c = count(nb)
        texts = [f.min_text_px for f in c.figures if f.min_text_px is not None]
        phone = [f.phone_text_px for f in c.figures if f.phone_text_px is not None]
        ratios = [f.pixel_ratio for f in c.figures]
        print(f"{name:32s} {c.drawing_cells:13d} {c.images:7d} {c.explorers:9d} {c.frames:7d} "
              f"{len(c.figures):7d} {sum(t < MIN_TEXT_PX for t in texts):5d} "
              f"{_fmt(min(texts) if texts else None):>9s} "
              f"{_fmt(min(phone) if phone else None):>8s} "
              f"{_fmt(min(ratios) if ratios else None):>6s}")
        for i, line in c.missing:
            failed = True
            print(f"check_figures: {name}.ipynb, cell {i} draws but shows no image: {line!r}",
                  file=sys.stderr)
        for fig in c.figures:
            problems = figure_problems(fig)
            small += bool(problems)
            for p in problems:
                failed = True
                print(f"check_figures: {name}.ipynb, cell {fig.cell} ({fig.line!r}): {p}",
                      file=sys.stderr)
    if small:
        total = sum(len(count(nb).figures) for nb in notebooks.values())
        print(f"check_figures: {small} of {total} static figures fail the legibility check",
              file=sys.stderr)
    if any(count(nb).missing for nb in notebooks.values()):
        print("check_figures: figures were drawn and never shown; is MPLBACKEND set in the "
              "kernel's environment? (it must be unset for the inline backend)", file=sys.stderr)
    return 1 if failed else 0


def _fmt(v) -> str:
    return "-" if v is None else ("inf" if v == float("inf") else f"{v:.1f}")


if __name__ == "__main__":
    sys.exit(main())
