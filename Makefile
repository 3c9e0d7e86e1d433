# Firstline: `make run` installs and starts the product; `make test` installs and runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

# `make run HOST=0.0.0.0 PORT=8080` (default: FIRSTLINE_HOST / FIRSTLINE_PORT, else 127.0.0.1:8000).
HOST ?=
PORT ?=

.PHONY: install install-test run lint test bench eval clean

install: $(VENV)/.installed

# torch first, pinned: the CPU build on local disk. Anything unpinned would pull a multi-GB CUDA build.
# The product alone; the test tools come with `make test` (install-test).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e .
	touch $@

install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: install
	$(BIN)/firstline serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

# Lint, format and types (the import shape: docs/architecture.md), then every test.
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -q

bench: install
	$(BIN)/firstline bench

eval: install
	$(BIN)/firstline eval --kb ../shared/eval/stackfaq/kb --queries ../shared/eval/stackfaq/queries.dev.jsonl --out var/eval-dev.jsonl

clean:
	rm -rf $(VENV) var
