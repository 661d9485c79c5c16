# cnnbook: `make book` builds the rendered book, `make test` runs every test.
# Both set up what they need first (.venv, pinned Python packages, pinned npm assets).

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.cnnbook-installed
PYTEST  := $(BIN)/python -m pytest
JOBS    ?= 2
# The notebooks the nbval stage executed, kept for the build stage (scripts/nbval_record.py).
NB_EXECUTED := _build/nbval
# MPLBACKEND must stay unset: a Jupyter kernel installs its inline backend (the one that puts
# figures into the page) only when MPLBACKEND is unset, and kernels inherit our environment.
unexport MPLBACKEND
export OMP_NUM_THREADS ?= 2
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: book test assets venv system system-browser test-lib test-notebooks test-build test-browser clean

venv: $(STAMP)

# Debian packages (Fashion-MNIST, venv, node/npm; Chromium for the tests), installed only if
# missing: directly as root, with sudo otherwise.
system:
	bash scripts/system_packages.sh

system-browser:
	bash scripts/system_packages.sh --browser

$(STAMP): requirements.txt pyproject.toml
	bash scripts/system_packages.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet -e .
	touch $@

assets:
	bash scripts/fetch_assets.sh

# The rendered book in _build/html (warnings are errors; every chapter executes).
book: system $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/build_book.sh

# Everything, in four timed stages; stops at the first failing stage. Each notebook executes
# once: test-build renders the notebooks that test-notebooks has just executed and checked
# (EXECUTED=$(NB_EXECUTED)), running only those that nbval did not run to the end.
test: system-browser $(STAMP)
	@bash -c 'set -uo pipefail; total=$$SECONDS; \
	for stage in test-lib test-notebooks test-build test-browser; do \
	  echo "=== $$stage"; start=$$SECONDS; \
	  $(MAKE) --no-print-directory $$stage EXECUTED=$(NB_EXECUTED); rc=$$?; \
	  echo "=== $$stage: $$((SECONDS - start)) s (exit $$rc)"; \
	  if [ $$rc -ne 0 ]; then echo "=== FAILED at $$stage"; exit $$rc; fi; \
	done; echo "=== all stages passed in $$((SECONDS - total)) s"'

# 1. The library: unit, property and PyTorch-comparison tests (the browser test comes last).
test-lib: $(STAMP)
	$(BIN)/ruff check cnnbook tests scripts benchmarks
	$(PYTEST) -n $(JOBS) -m "not browser" tests/
	$(PYTEST) -q --doctest-modules cnnbook

# 2. Every chapter notebook runs top to bottom in this environment, as the book build runs it
# (CNNBOOK_STATIC=1: explorers precompute every frame, the pages' form). Live mode is checked by
# tests/test_widgets_plot.py, tests/test_training.py and, in JupyterLab, tests/test_lab.py.
# The notebooks run $(JOBS) at a time, so each kernel gets one BLAS/torch thread: with more,
# the thread pools of the parallel kernels oversubscribe the cores and slow down many times over.
# scripts/nbval_record.py writes each notebook that ran to the end, with its outputs, to
# $(NB_EXECUTED), for test-build (stale ones are removed first).
test-notebooks: $(STAMP)
	rm -rf $(NB_EXECUTED)
	CNNBOOK_STATIC=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	$(PYTEST) -n $(JOBS) --dist loadscope --nbval-lax --nbval-current-env \
	    --nbval-cell-timeout=600 -p scripts.nbval_record --nbval-record=$(NB_EXECUTED) book/

# 3. The rendered book, rebuilt from scratch (execution cache dropped), warnings as errors.
# On its own it executes every notebook; `make test` sets EXECUTED to the folder test-notebooks
# has just filled, and the build then renders those notebooks without running them again.
EXECUTED ?=
test-build: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/build_book.sh --force \
	    $(if $(EXECUTED),--executed $(EXECUTED))

# 4. Chromium over every built page as a reader sees it (no error, no request beyond the site,
# every image loaded and counted, sliders respond, page weight, phone width), then a chapter
# run in JupyterLab.
test-browser: $(STAMP)
	CNNBOOK_REQUIRE_BROWSER=1 $(PYTEST) -m browser -s -p no:cacheprovider tests/test_browser.py tests/test_lab.py

clean:
	rm -rf _build assets
