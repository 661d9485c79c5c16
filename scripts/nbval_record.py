"""A pytest plugin that keeps the notebooks nbval executes, so the book build can render them
without executing them a second time.

    python -m pytest -p scripts.nbval_record --nbval-record=_build/nbval --nbval-lax book/

nbval runs every code cell of a notebook in one kernel and keeps each cell's outputs on its
test item (``IPyNbCell.test_outputs``), its streams merged; this plugin keeps them as the
kernel sent them, as the book build's own execution (nbclient) does. After each cell it stores
them, the cell's execution count and how long it took; at the end of the session it writes every notebook whose code cells *all* ran and passed, with its outputs, to
``DIR/<name>.ipynb``, in the form an executed notebook has (outputs, execution counts, the
kernel's ``language_info``). A notebook with a failed, skipped or missing cell is not written,
so the build executes it itself (``scripts/execute_parallel.py --executed DIR``).

Each written notebook records, under ``metadata.cnnbook_nbval``, the value of CNNBOOK_STATIC
the cells ran with and the notebook's total execution time; the build takes a notebook only
if it ran in static mode, the pages' mode, and if its code cells are the current ones.

Works with pytest-xdist's ``--dist loadscope`` (all cells of a notebook in one worker, which
writes that notebook).
"""
from __future__ import annotations

import copy
import os
import time
from pathlib import Path

import nbformat
import pytest

_records: dict = {}        # notebook path -> {"cells": {cell_num: record}, "language_info"}
_raw: dict = {"outputs": None}   # the outputs of the cell running now, as the kernel sent them


def _keep_raw_outputs(coalesce):
    """nbval merges a cell's stream outputs into one per stream name (``coalesce_streams``)
    before keeping them; the book build (nbclient) keeps them as the kernel sent them. Wrap
    nbval's function so that the first call of each cell, on the cell's own outputs, leaves a
    copy of them as they came."""
    def keep_then_coalesce(outputs):
        if _raw["outputs"] is None:
            _raw["outputs"] = copy.deepcopy(list(outputs))
        return coalesce(outputs)
    return keep_then_coalesce


def pytest_addoption(parser):
    parser.addoption("--nbval-record", metavar="DIR", default=None,
                     help="write each notebook nbval fully executed, with its outputs, to DIR")


def pytest_configure(config):
    if config.getoption("nbval_record"):
        import nbval.plugin
        nbval.plugin.coalesce_streams = _keep_raw_outputs(nbval.plugin.coalesce_streams)


def _is_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "test_outputs")


def _language_info(kernel) -> dict | None:
    """The kernel's ``language_info`` (what an executed notebook's metadata holds)."""
    try:
        reply = kernel.kc.kernel_info(reply=True, timeout=10)
        return dict(reply["content"]["language_info"])
    except Exception:                                           # noqa: BLE001
        return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    _raw["outputs"] = None
    start = time.perf_counter()
    yield
    if not _is_cell(item) or not item.config.getoption("nbval_record"):
        return
    path = str(item.parent.fspath)
    rec = _records.setdefault(path, {"file": item.parent, "cells": {}, "language_info": None})
    if rec["language_info"] is None and item.parent.kernel is not None \
            and item.parent.kernel.is_alive():
        rec["language_info"] = _language_info(item.parent.kernel)
    outputs = _raw["outputs"] if _raw["outputs"] is not None else item.test_outputs
    rec["cells"][item.cell_num] = {"outputs": copy.deepcopy(outputs),
                                   "seconds": time.perf_counter() - start}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when != "call" or not _is_cell(item) or not item.config.getoption("nbval_record"):
        return
    report = outcome.get_result()
    rec = _records.get(str(item.parent.fspath))
    if rec is not None and item.cell_num in rec["cells"]:
        rec["cells"][item.cell_num]["passed"] = report.passed and item.test_outputs is not None


def executed_notebook(source_path: str, cells: dict, language_info: dict | None):
    """The notebook at `source_path` with the recorded outputs, or None unless every code cell
    ran and passed."""
    nb = nbformat.read(source_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if len(cells) != len(code) or not all(cells.get(i, {}).get("passed") for i in range(len(code))):
        return None
    count = 0
    for i, cell in enumerate(code):
        count += 1                  # one kernel, each cell executed once, in order
        outputs = []
        for out in cells[i]["outputs"]:
            out = nbformat.from_dict(dict(out))
            if out.output_type == "execute_result":
                count = out.get("execution_count") or count
                out["execution_count"] = count
            outputs.append(out)
        cell.outputs = outputs
        cell.execution_count = count
    if language_info:
        nb.metadata["language_info"] = language_info
    nb.metadata["cnnbook_nbval"] = {
        "static": os.environ.get("CNNBOOK_STATIC", ""),
        "seconds": round(sum(c["seconds"] for c in cells.values()), 2),
    }
    nbformat.validate(nb)
    return nb


def pytest_sessionfinish(session):
    folder = session.config.getoption("nbval_record")
    if not folder:
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for path, rec in _records.items():
        target = folder / Path(path).name
        nb = executed_notebook(path, rec["cells"], rec["language_info"])
        if nb is None:
            target.unlink(missing_ok=True)
            continue
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(nb, str(tmp))
        tmp.replace(target)
