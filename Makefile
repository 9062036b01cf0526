# Two entry points: `make run` (set up and start the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run server test lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[app,test,redis]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/optiverse

server: $(STAMP)
	$(BIN)/optiverse-server

lint: $(STAMP)
	$(BIN)/ruff check optiverse server tests bench
	$(BIN)/ruff format --check optiverse server tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

test: $(STAMP) lint typecheck
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest

bench: $(STAMP)
	for f in bench/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
