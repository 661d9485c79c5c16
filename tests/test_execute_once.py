"""The book's notebooks execute once in `make test`: scripts/nbval_record.py writes a notebook
only if nbval ran every code cell and each passed, and scripts/execute_parallel.py takes a
written notebook only if it ran in the build's static mode and its code is the current code.
No kernel runs here: the records are made by hand."""
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

from scripts import nbval_record  # noqa: E402

import execute_parallel  # noqa: E402


def _notebook(path, sources):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# t")] + [
        nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, str(path))
    return path


def _cells(n, passed=True):
    out = nbformat.from_dict({"output_type": "stream", "name": "stdout", "text": "1\n"})
    res = nbformat.from_dict({"output_type": "execute_result", "execution_count": 2,
                              "metadata": {}, "data": {"text/plain": "2"}})
    cells = {i: {"outputs": [out], "seconds": 0.5, "passed": passed} for i in range(n)}
    cells[1]["outputs"] = [res]
    return cells


def test_every_cell_ran_and_passed_or_nothing(tmp_path, monkeypatch):
    src = _notebook(tmp_path / "a.ipynb", ["print(1)", "1 + 1", "x = 3"])
    monkeypatch.setenv("CNNBOOK_STATIC", "1")
    nb = nbval_record.executed_notebook(str(src), _cells(3), {"name": "python"})
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2, 3]
    assert code[0].outputs[0].text == "1\n" and code[1].outputs[0].data["text/plain"] == "2"
    assert nb.metadata["cnnbook_nbval"] == {"static": "1", "seconds": 1.5}
    assert nb.metadata["language_info"] == {"name": "python"}
    missing = _cells(3)
    del missing[2]
    assert nbval_record.executed_notebook(str(src), missing, None) is None
    failed = _cells(3)
    failed[1]["passed"] = False
    assert nbval_record.executed_notebook(str(src), failed, None) is None


@pytest.fixture
def book(tmp_path, monkeypatch):
    from jupyter_cache import get_cache
    monkeypatch.setenv("CNNBOOK_STATIC", "1")
    src = _notebook(tmp_path / "ch.ipynb", ["print(1)", "1 + 1"])
    folder = tmp_path / "nbval"
    folder.mkdir()
    nbformat.write(nbval_record.executed_notebook(str(src), _cells(2), None),
                   str(folder / "ch.ipynb"))
    return src, folder, get_cache(str(tmp_path / "cache"))


def test_build_takes_a_complete_static_current_notebook(book):
    src, folder, cache = book
    nb, seconds = execute_parallel.recorded(folder, src, cache)
    assert seconds == 1.0 and "cnnbook_nbval" not in nb.metadata
    assert [c.outputs for c in nb.cells if c.cell_type == "code"][1][0].data["text/plain"] == "2"


def test_build_runs_a_notebook_nbval_did_not_finish(book, tmp_path):
    src, folder, cache = book
    other = _notebook(tmp_path / "other.ipynb", ["pass"])
    assert execute_parallel.recorded(folder, other, cache) == (None, "not executed by nbval")


def test_build_runs_a_notebook_whose_code_changed(book):
    src, folder, cache = book
    _notebook(src, ["print(2)", "1 + 1"])
    nb, why = execute_parallel.recorded(folder, src, cache)
    assert nb is None and "code cells changed" in why


def test_build_runs_a_notebook_nbval_ran_live(book, monkeypatch):
    src, folder, cache = book
    monkeypatch.setenv("CNNBOOK_STATIC", "")
    nb, why = execute_parallel.recorded(folder, src, cache)
    assert nb is None and "CNNBOOK_STATIC" in why
