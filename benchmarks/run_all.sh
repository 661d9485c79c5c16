#!/usr/bin/env bash
# Runs every benchmark and writes benchmarks/RESULTS.md (each script prints its own Markdown
# section with the command, the date and the machine). Run on an otherwise idle machine:
#   OMP_NUM_THREADS=2 bash benchmarks/run_all.sh   (2 threads for the main sections; the
#   section "One thread each" sets 1)
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
out=benchmarks/RESULTS.md
tmp=$(mktemp)
{
  echo "# Benchmark results"
  echo
  echo "Ratios are cnnbook time / PyTorch CPU time, measured in one process as medians of"
  echo "interleaved rounds with a pause between the libraries (\`benchmarks/timing.py\`)."
  echo "They are measurements, not tests: nothing in CI times anything."
  echo
  for b in bench_conv bench_pool bench_lenet bench_epoch bench_models bench_threads; do
    "$py" "benchmarks/$b.py"
    echo
  done
  "$py" benchmarks/profile_steps.py --resnet
  echo
  echo "## One thread each"
  echo
  echo "The four goal benchmarks again with \`OMP_NUM_THREADS=1\`: NumPy's BLAS and torch on one"
  echo "thread each. torch runs every kernel on all its threads, where cnnbook's copies and"
  echo "element-wise passes run on one whatever the setting, so this compares the two libraries'"
  echo "work core for core; the sections above compare them as a reader with two cores runs them."
  echo
  for b in bench_conv bench_lenet bench_epoch bench_models; do
    OMP_NUM_THREADS=1 "$py" "benchmarks/$b.py" | sed 's/^## /### /'
    echo
  done
  echo "## Verification against PyTorch"
  echo
  echo "- command: \`python -m cnnbook.verify --markdown FILE\`"
  echo "- date: $(date -u +%Y-%m-%d)"
  "$py" -c "import torch; print('- CUDA: ' + ('present, rows for cuda below' if torch.cuda.is_available() else 'no CUDA device on this machine; CPU rows only'))"
  echo
  vtmp=$(mktemp)
  "$py" -m cnnbook.verify --markdown "$vtmp" > /dev/null
  tail -n +2 "$vtmp"
  rm -f "$vtmp"
  # Kept by hand, carried over from the old file: the history of the book's build time and
  # the "Record" sections (before/after comparisons of a change).
  if [[ -f "$out" ]]; then
    echo
    awk '/^## /{keep = /^## (Book build time|Record)/} keep' "$out"
  fi
} > "$tmp"
mv "$tmp" "$out"
echo "wrote $out"
