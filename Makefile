# The two commands: `make demo` and `make test`. Everything else is a step of theirs.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PYTHON ?= python3

.PHONY: setup demo run test lint bench soak clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv>=0.5"

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --python $(PYTHON) --quiet
	@touch $@

setup: $(VENV)/.installed

## the whole job on the sandbox, then the app on http://localhost:8501
demo: setup
	$(BIN)/ledgerlake demo

## the whole job, headless; prints the run summary
run: setup
	$(BIN)/ledgerlake run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## every test: lint, dbt on DuckDB and PostgreSQL, pytest incl. browser
test: setup
	@bash scripts/system-deps.sh
	$(MAKE) --no-print-directory lint
	$(BIN)/pytest -q -p no:cacheprovider

## the soak test at full length: 20 cycles of sandbox advance + run (make test runs 3)
soak: setup
	@bash scripts/system-deps.sh
	LEDGERLAKE_SOAK_CYCLES=20 $(BIN)/pytest -q -p no:cacheprovider tests/e2e/test_soak.py

## benchmarks; prints a table and writes bench/results/*.json
bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf data $(VENV) $(TOOLS) dbt_project/target dbt_project/logs
