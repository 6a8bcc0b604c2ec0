# Two commands on a fresh machine: `make demo` runs the nightly review on sample_data/,
# `make test` runs every check. Both create the virtualenv when it is missing.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHECKOV_VENV ?= .venv-checkov
DB ?= demo.duckdb

.PHONY: demo test lint bench clean system-deps

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $@

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(BIN)/uv venv --quiet --python $(PYTHON) $(CHECKOV_VENV)
	$(BIN)/uv pip install --quiet --python $(CHECKOV_VENV)/bin/python 'checkov>=3.2'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/nightshift demo --db $(DB)

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two workers that steal work from each other: the suite waits on servers and subprocesses as much
# as it computes (three workers measured slower on two cores).
# The report's browser test drives Debian's Chromium; installed only when it is missing.
system-deps:
	@command -v chromium >/dev/null || { \
		SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		$$SUDO apt-get install -y --no-install-recommends chromium; }

test: $(BIN)/.installed $(CHECKOV_VENV)/.installed system-deps lint
	$(BIN)/pytest -n 2 --dist worksteal

bench: $(BIN)/.installed
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache $(DB)
