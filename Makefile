# Two entry points: `make demo` (distributed load test against the sandbox, ending in a report)
# and `make test` (the whole suite). Each builds its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck system-deps bench clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed; found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m runs demo

system-deps:
	@bash scripts/system-deps.sh

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# Every benchmark writes its JSON record into one directory; results.json merges them (exit 1 when a
# goal failed or a benchmark left no record). BENCH_ARGS=--quick for a short round.
BENCH_STAMP := $(shell date -u +%Y%m%dT%H%M%SZ)
BENCH_DIR ?= reports/bench-$(BENCH_STAMP)
bench: $(STAMP) system-deps
	@mkdir -p $(BENCH_DIR)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; \
	  $(BIN)/python $$b $(BENCH_ARGS) --json $(BENCH_DIR)/$$(basename $$b .py).json || echo "$$b exited $$?"; done
	@$(BIN)/python benchmarks/record.py collect $(BENCH_DIR) benchmarks/bench_*.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
