"""Execute the book's notebooks two at a time and store them in Jupyter Book's execution cache.

    python scripts/execute_parallel.py BOOK_DIR [--jobs 2]

Jupyter Book 1 executes notebooks one after the other. Most of a chapter's time is
single-threaded Python and NumPy element-wise work, so on a 2-core machine two notebooks at
once, each with one BLAS thread, finish sooner than one notebook with two. This script runs
every notebook listed in ``_toc.yml`` that the cache does not hold yet, exactly as myst-nb
would (``jupyter_cache``'s ``single_nb_execution``, in the notebook's folder, the same timeout)
and adds each executed notebook to ``_build/.jupyter_cache``; the build that follows then takes
them from the cache. A notebook that fails is left out of the cache: the build runs it again
and reports its error as usual. The longest notebooks start first (times of the previous run,
kept in ``_build/.execution_times.json``; without them, chapters that train go first).

With ``--executed DIR`` (``make test`` passes the notebooks its nbval stage executed, see
``scripts/nbval_record.py``), a notebook that DIR holds fully executed, in static mode and with
the same code cells as the one in the book, goes into the cache as it is, without running
again; every other notebook runs here as usual, and the script says which and why.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml


def toc_notebooks(book: Path) -> list[Path]:
    """The ``.ipynb`` files that ``_toc.yml`` lists, in order."""
    toc = yaml.safe_load((book / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    files.append(toc["root"])
    walk(toc.get("parts", toc.get("chapters", [])))
    out = []
    for f in files:
        p = book / (f if f.endswith(".ipynb") else f + ".ipynb")
        if p.exists() and p not in out:
            out.append(p)
    return out


def execute(path: str, timeout: int) -> tuple:
    """Run one notebook in its own folder; returns (path, notebook JSON or None, seconds, error)."""
    os.environ["OMP_NUM_THREADS"] = "1"          # the kernel inherits it: one BLAS thread each
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout,
                                 allow_errors=False, meta_override=True)
    if result.err is not None:
        return path, None, result.time, f"{type(result.err).__name__}: {result.err}"[:2000]
    return path, nbformat.writes(nb), result.time, None


def recorded(folder: Path, source: Path, cache):
    """``(notebook, seconds)`` from `folder` for `source`, or ``(None, why not)``: a notebook
    nbval executed to the end (`scripts/nbval_record.py` writes no other), with
    CNNBOOK_STATIC set as in this build, and with code cells identical to `source`'s (the
    execution cache's own hash, which covers the code cells and the kernel)."""
    path = folder / source.name
    if not path.exists():
        return None, "not executed by nbval"
    nb = nbformat.read(path, as_version=4)
    info = nb.metadata.get("cnnbook_nbval", {})
    if info.get("static", "") != os.environ.get("CNNBOOK_STATIC", ""):
        return None, (f"nbval ran it with CNNBOOK_STATIC={info.get('static', '')!r}, "
                      f"the build sets {os.environ.get('CNNBOOK_STATIC', '')!r}")
    _, want = cache.create_hashed_notebook(nbformat.read(source, as_version=4))
    _, have = cache.create_hashed_notebook(nb)
    if want != have:
        return None, "its code cells changed since nbval ran it"
    if any(c.cell_type == "code" and c.execution_count is None for c in nb.cells):
        return None, "a code cell has no execution count"
    del nb.metadata["cnnbook_nbval"]
    return nb, float(info.get("seconds", 0.0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("book", type=Path)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--executed", type=Path, default=None, metavar="DIR",
                    help="take the notebooks nbval executed from DIR instead of running them")
    args = ap.parse_args(argv)
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    book = args.book.resolve()
    cache = get_cache(str(book / "_build" / ".jupyter_cache"))
    times_file = book / "_build" / ".execution_times.json"
    times = json.loads(times_file.read_text()) if times_file.exists() else {}
    todo = []
    for p in toc_notebooks(book):
        try:
            cache.match_cache_notebook(nbformat.read(p, as_version=4))
        except KeyError:
            todo.append(p)
    if args.executed is not None:           # executed once already, by the nbval stage
        run_here = []
        for p in todo:
            nb, seconds_or_why = recorded(args.executed, p, cache)
            if nb is None:
                print(f"  {p.name}: runs here: {seconds_or_why}", flush=True)
                run_here.append(p)
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nb, str(p), data={"execution_seconds": seconds_or_why}),
                check_validity=False, overwrite=True)
            times[p.name] = round(seconds_or_why, 1)
            print(f"  {p.name}: {seconds_or_why:.0f} s (executed by nbval)", flush=True)
        print(f"execute_parallel: {len(todo) - len(run_here)} notebook(s) taken from "
              f"{args.executed} (sum of their times "
              f"{sum(times[p.name] for p in todo if p not in run_here):.0f} s)", flush=True)
        todo = run_here
    def guess(p):  # no previous time: chapters that train a network run longest
        text = p.read_text()
        return 150.0 if ("fit(" in text or "train_step" in text) else 30.0
    todo.sort(key=lambda p: -times.get(p.name, guess(p)))
    print(f"execute_parallel: {len(todo)} notebook(s) to run, {args.jobs} at a time", flush=True)
    start, failed = time.perf_counter(), []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(execute, str(p), args.timeout) for p in todo]
        for fut in as_completed(futures):
            path, text, seconds, err = fut.result()
            name = Path(path).name
            times[name] = round(seconds, 1)
            if err:
                failed.append(name)
                print(f"  {name}: failed after {seconds:.0f} s ({err.splitlines()[0]}); "
                      f"the build will run it again", flush=True)
                continue
            cache.cache_notebook_bundle(
                CacheBundleIn(nbformat.reads(text, as_version=4), path,
                              data={"execution_seconds": seconds}),
                check_validity=False, overwrite=True)
            print(f"  {name}: {seconds:.0f} s", flush=True)
    times_file.write_text(json.dumps(times, indent=1, sort_keys=True))
    print(f"execute_parallel: {len(todo) - len(failed)} cached in "
          f"{time.perf_counter() - start:.0f} s; sum of notebook times {sum(times[p.name] for p in todo):.0f} s",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
