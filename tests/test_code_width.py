"""The code a reader sees fits the page's code column (78 characters at 1280 px).

Every line of every visible code cell (not tagged `remove-cell` / `remove-input`) is at most
`CODE_COLUMNS` characters long, and `ruff format --line-length 78` leaves the chapters as they
are, so a reformat never undoes a hand-made split.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
CODE_COLUMNS = 78                 # characters the code column shows at 1280 px
HIDDEN = {"remove-cell", "remove-input"}


def _long_lines(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    found = []
    for i, cell in enumerate(nb.get("cells", [])):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.get("cell_type") != "code" or tags & HIDDEN:
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        for n, line in enumerate(src.splitlines(), 1):
            if len(line) > CODE_COLUMNS:
                found.append(f"cell {i} ({cell.get('id')}), line {n}, {len(line)} chars: "
                             f"{line.strip()[:60]}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_visible_code_fits_the_column(path):
    long = _long_lines(path)
    assert not long, (f"{path.name}: {len(long)} visible code lines over {CODE_COLUMNS} "
                      "characters (split strings into adjacent literals, wrap comments):\n  "
                      + "\n  ".join(long[:10]))


def _ruff() -> list[str] | None:
    exe = Path(sys.executable).with_name("ruff")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("ruff")
    return [found] if found else None


def test_chapters_are_ruff_formatted_at_the_column_width():
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed (requirements.txt pins it)")
    proc = subprocess.run([*ruff, "format", "--line-length", str(CODE_COLUMNS), "--check",
                           *map(str, NOTEBOOKS)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, ("`ruff format --line-length 78 book/*.ipynb` would change:\n"
                                  + proc.stdout + proc.stderr)


# Modules whose shown functions may exceed the column (the page would wrap them): none.
WRAPPED_MODULES: set[str] = set()


def _show_source_calls():
    """Every `cb.show_source(...)` call of the chapters, as (notebook, source of the call,
    source of the tuple of objects it shows)."""
    import ast
    calls = []
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else src
            if cell.get("cell_type") != "code" or "show_source" not in src:
                continue
            src = "\n".join("pass" if line.startswith(("%", "!")) else line
                            for line in src.splitlines())
            for node in ast.walk(ast.parse(src)):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "show_source":
                    objs = ast.Tuple(elts=node.args, ctx=ast.Load())
                    calls.append((path.stem, ast.unparse(node), ast.unparse(objs)))
    return calls


def test_library_code_shown_in_the_chapters_fits_the_column():
    pytest.importorskip("IPython")
    import cnnbook as cb
    import cnnbook.distributed as dist_cb
    calls = _show_source_calls()
    assert calls, "no chapter calls cb.show_source"
    namespace = {"cb": cb, "dist_cb": dist_cb}
    long = []
    for stem, call, objs in calls:
        if {o.__module__ for o in eval(objs, namespace)} <= WRAPPED_MODULES:
            continue
        block = eval(call, namespace).data.splitlines()[1:-1]
        long += [f"{stem}: {call[:50]}: {len(line)} chars: {line.strip()[:50]}"
                 for line in block if len(line) > CODE_COLUMNS]
    assert not long, (f"{len(long)} lines over {CODE_COLUMNS} characters in library code the "
                      "chapters show:\n  " + "\n  ".join(long[:20]))
