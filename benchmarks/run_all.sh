#!/usr/bin/env bash
# Runs every benchmark and writes benchmarks/RESULTS.md (each script prints its own Markdown
# section with the command, the date and the machine). Run on an otherwise idle machine:
#   bash benchmarks/run_all.sh
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
  for b in bench_conv bench_pool bench_lenet bench_epoch; do
    "$py" "benchmarks/$b.py"
    echo
  done
} > "$tmp"
mv "$tmp" "$out"
echo "wrote $out"
