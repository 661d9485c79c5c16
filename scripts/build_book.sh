#!/usr/bin/env bash
# Build the rendered book into _build/html, executing every chapter.
#
#   scripts/build_book.sh [--force] [--executed DIR] [BOOK_DIR]
#
# --force          drop the execution cache first, so every notebook runs again (CI uses it);
#                  without it, notebooks unchanged since the last build are taken from the cache.
# --executed DIR   take the notebooks that nbval has just executed from DIR (written by
#                  scripts/nbval_record.py; `make test` passes _build/nbval) instead of running
#                  them again: each one that nbval ran to the end, in static mode, with the
#                  current code cells, goes into the cache as it is; any other still runs here.
# BOOK_DIR         the folder holding _config.yml and _toc.yml (default: the repository root).
#
# Fails (non-zero exit) on any Sphinx warning, any cell that raises, any figure drawn but not
# shown (scripts/check_figures.py), and any page that would load a script, style sheet, image
# or font from another site.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"

force=0
executed=()
while [[ "${1:-}" == --* ]]; do
    case "$1" in
        --force) force=1; shift ;;
        --executed) executed=(--executed "$(realpath -m "$2")"); shift 2 ;;
        *) echo "build_book: unknown option $1" >&2; exit 2 ;;
    esac
done
book="$(cd "${1:-$repo}" && pwd)"

# Self-hosted JavaScript (MathJax, RequireJS, ipywidgets' HTML manager).
bash "$repo/scripts/fetch_assets.sh"
if [[ "$book" != "$repo" && ! -e "$book/assets" ]]; then ln -s "$repo/assets" "$book/assets"; fi

# Explorers precompute every slider frame when CNNBOOK_STATIC is set, so the static pages
# can switch frames without a kernel.
export CNNBOOK_STATIC=1
# Left unset on purpose: the kernels inherit it, and ipykernel installs its inline backend
# (which turns plt.show() into an image output) only when MPLBACKEND is unset.
unset MPLBACKEND
export PYDEVD_DISABLE_FILE_VALIDATION=1
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

mkdir -p "$book/_build"
if (( force )); then rm -rf "$book/_build/.jupyter_cache"; fi
rm -rf "$book/_build/html" "$book/_build/jupyter_execute"

log="$book/_build/build.log"
start=$SECONDS
# Two notebooks at a time into the execution cache (or, with --executed, the ones nbval ran);
# the build below then only renders them (and runs again, one at a time, any notebook that
# failed here, reporting its error).
python "$repo/scripts/execute_parallel.py" "$book" --jobs "${CNNBOOK_JOBS:-2}" "${executed[@]}"
set +e
jupyter-book build "$book" --all -W -n --keep-going 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# Jupyter Book can report a failed notebook and still exit 0: read the log as well.
if grep -E -n "(WARNING|ERROR|CRITICAL)[:]|Traceback \(most recent call last\)|CellExecutionError|Executing notebook failed|build finished with problems|There was an error in building your book" "$log" >&2; then
    echo "build_book: the log above reports warnings or errors" >&2
    status=1
fi
if [[ ! -f "$book/_build/html/index.html" ]]; then
    echo "build_book: no _build/html/index.html was written" >&2
    status=1
fi

# Every figure a chapter draws must be in its executed notebook (and so on its page).
if [[ -d "$book/_build/html" ]]; then
    python "$repo/scripts/check_figures.py" "$book/_build" "$book/book" || status=1
fi

# Offline check: no tag may load anything (src=, or href= of a <link>) from another host.
if [[ -d "$book/_build/html" ]]; then
    external=$(grep -r -n -o -E --include='*.html' \
        '<(script|img|iframe|source|video|audio|embed)[^>]* src="(https?:)?//[^"]*"|<link[^>]* href="(https?:)?//[^"]*"' \
        "$book/_build/html" | grep -v -E 'rel="(canonical|author|license)"' || true)
    if [[ -n "$external" ]]; then
        echo "build_book: pages load resources from other sites:" >&2
        echo "$external" | head -20 >&2
        status=1
    fi
fi

if (( status == 0 )); then
    echo "build_book: OK in $((SECONDS - start)) s; _build/html is $(du -sh "$book/_build/html" | cut -f1)"
fi
exit "$status"
