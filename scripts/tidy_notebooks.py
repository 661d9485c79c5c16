"""Give every chapter's hidden check cells (tag `remove-cell`) JupyterLab's collapsed-source
metadata, so a reader who opens the notebook in Lab sees the lesson, not the checks, and clear
outputs and execution counts.

    python scripts/tidy_notebooks.py [NOTEBOOK ...]     (default: book/*.ipynb)

tests/test_notebooks_committed.py fails on a notebook this script would change.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tidy(nb: dict) -> dict:
    for cell in nb.get("cells", []):
        meta = cell.setdefault("metadata", {})
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
            if "remove-cell" in meta.get("tags", []):
                meta.setdefault("jupyter", {})["source_hidden"] = True
    return nb


def main(argv=None) -> int:
    paths = [Path(p) for p in (sys.argv[1:] if argv is None else argv)] or sorted(
        (ROOT / "book").glob("*.ipynb"))
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        new = json.dumps(tidy(nb), indent=1, ensure_ascii=False) + "\n"
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"tidied {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
