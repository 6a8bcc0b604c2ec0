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

# System packages the tests drive, installed only when missing, with sudo only when not root:
# PostgreSQL (Prefect's production setting), Chromium (the report's browser test) and
# Tesseract with English and orientation data (OCR).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
OCR_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd
SYSTEM_PACKAGES := $(shell ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || echo postgresql) \
	$(shell command -v chromium >/dev/null || echo chromium) \
	$(shell [ "$$(tesseract --list-langs 2>/dev/null | grep -cxE 'eng|osd')" = 2 ] || echo $(OCR_PACKAGES))
system-deps:
	$(if $(strip $(SYSTEM_PACKAGES)),$(SUDO) apt-get update -q && \
		$(SUDO) apt-get install -y --no-install-recommends $(SYSTEM_PACKAGES),@true)

# Two workers that steal work from each other: the suite waits on servers and subprocesses as much
# as it computes (three workers measured slower on two cores).
test: system-deps $(BIN)/.installed $(CHECKOV_VENV)/.installed lint
	$(BIN)/pytest -n 2 --dist worksteal

bench: $(BIN)/.installed
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache $(DB)
