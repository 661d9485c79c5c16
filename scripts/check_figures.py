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

Prints one row per chapter: drawing cells, images shown, explorers and their frames. Exits 1
with the cells at fault when a drawing cell shows no image.
"""
from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path
from typing import NamedTuple

PLT_CALLS = {"show", "subplots", "figure", "imshow", "plot"}
IMAGE_MIMES = ("image/png", "image/webp", "image/jpeg", "image/svg+xml", "image/gif")


class Counts(NamedTuple):
    drawing_cells: int
    images: int
    explorers: int
    frames: int
    missing: list  # (cell index, first line) of drawing cells without an image


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
    missing = []
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        code = _source(cell)
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
    return Counts(drawing, images, explorers, frames, missing)


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
    print(f"{'chapter':32s} {'drawing cells':>13s} {'images':>7s} {'explorers':>9s} {'frames':>7s}")
    for name, nb in notebooks.items():
        c = count(nb)
        print(f"{name:32s} {c.drawing_cells:13d} {c.images:7d} {c.explorers:9d} {c.frames:7d}")
        for i, line in c.missing:
            failed = True
            print(f"check_figures: {name}.ipynb, cell {i} draws but shows no image: {line!r}",
                  file=sys.stderr)
    if failed:
        print("check_figures: figures were drawn and never shown; is MPLBACKEND set in the "
              "kernel's environment? (it must be unset for the inline backend)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
