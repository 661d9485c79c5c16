"""Every chapter notebook is committed clean and follows the book's shape.

Outputs and execution counts stay out of git (the build and CI execute every chapter); each
chapter starts from the library, states its learning goals, ends with exercises, and checks
its own numbers in at least one hidden (`remove-cell`) cell with an `assert`.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _cells(nb: dict, kind: str) -> list[dict]:
    return [c for c in nb.get("cells", []) if c.get("cell_type") == kind]


def _has_heading(nb: dict, title: str) -> bool:
    """A Markdown heading (`## Exercises`) or a bold lead line (`**Learning goals**`)."""
    t = re.escape(title)
    pattern = re.compile(rf"^(#{{1,6}}\s+(\d+(\.\d+)*\.?\s+)?{t}\b|\*\*{t}\b)",
                         re.IGNORECASE | re.MULTILINE)
    return any(pattern.search(_source(c)) for c in _cells(nb, "markdown"))


def test_there_are_chapters():
    assert NOTEBOOKS, "no book/*.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path):
    nb = _load(path)
    dirty = [i for i, c in enumerate(nb["cells"]) if c.get("cell_type") == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} carry outputs or execution counts; "
                       "clear them (e.g. `jupyter nbconvert --clear-output --inplace`)")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_has_a_unique_id(path):
    nb = _load(path)
    ids = [c.get("id") for c in nb["cells"]]
    assert None not in ids, (f"{path.name}: cells {[i for i, v in enumerate(ids) if v is None]} have "
                             "no id (nbformat 4.5); run nbformat.validator.normalize on the notebook")
    assert len(set(ids)) == len(ids), f"{path.name}: repeated cell ids"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_first_code_cell_imports_cnnbook(path):
    code = _cells(_load(path), "code")
    assert code, f"{path.name} has no code cell"
    first = _source(code[0]).lstrip()
    assert first.startswith("import cnnbook as cb"), (
        f"{path.name}: the first code cell starts with {first.splitlines()[0]!r}"
        if first else f"{path.name}: the first code cell is empty")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
@pytest.mark.parametrize("title", ["Learning goals", "Exercises"])
def test_has_section(path, title):
    assert _has_heading(_load(path), title), f"{path.name} has no '{title}' heading"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_has_hidden_assert_cell(path):
    hidden = [c for c in _cells(_load(path), "code")
              if "remove-cell" in c.get("metadata", {}).get("tags", [])]
    assert any(re.search(r"^\s*assert\b", _source(c), re.MULTILINE) for c in hidden), (
        f"{path.name}: no code cell tagged remove-cell contains an assert")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_star_import(path):
    star = re.compile(r"^\s*from\s+\S+\s+import\s+\*", re.MULTILINE)
    bad = [i for i, c in enumerate(_load(path)["cells"])
           if c.get("cell_type") == "code" and star.search(_source(c))]
    assert not bad, f"{path.name}: cells {bad} use `import *`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_check_cells_open_collapsed_in_jupyterlab(path):
    """Cells the rendered book removes (tag remove-cell) open collapsed in JupyterLab, so a
    reader sees the lesson there too; `python scripts/tidy_notebooks.py` sets it."""
    open_checks = [i for i, c in enumerate(_load(path)["cells"])
                   if "remove-cell" in c.get("metadata", {}).get("tags", [])
                   and not c["metadata"].get("jupyter", {}).get("source_hidden")]
    assert not open_checks, (f"{path.name}: remove-cell cells {open_checks} lack "
                             "jupyter.source_hidden; run `python scripts/tidy_notebooks.py`")


def test_chapter_titles_carry_no_hand_written_number():
    """The table of contents numbers the chapters (numbered: 1); a number typed into a title
    would go stale whenever a chapter is added."""
    typed = [p.name for p in NOTEBOOKS
             if re.match(r"#\s+\d+\.", _source(_cells(_load(p), "markdown")[0]).lstrip())]
    assert not typed, f"titles with a typed chapter number: {typed}"
