# Neo Service Layer — set-up, run, test, bench.
# `make run` starts the platform; `make test` runs the whole check (lint, types, tests, coverage).

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin

# Find a Python 3.13 by itself: PATH first, then pyenv's versions, then the usual system places.
PYTHON ?= $(shell for p in python3.13 $$(ls -d $$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)/versions/3.13.*/bin/python3 2>/dev/null | sort -V -r) /usr/local/bin/python3.13 /usr/bin/python3.13; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then command -v $$p; break; fi; done)

.PHONY: setup run test check lint typecheck pytest bench lock clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found; install it or pass PYTHON=/path/to/python3.13" >&2; exit 1; }
	@echo "using $(PYTHON)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

# The EVM toolchain (anvil, solc-js) pinned by package-lock.json; tests never touch the network.
# --ignore-scripts: anvil's binary arrives as a platform optionalDependency, its postinstall only checks it.
node_modules/.installed: package-lock.json package.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

run: setup
	$(BIN)/nsl serve

lint: setup
	$(BIN)/ruff check neo_service_layer tests bench
	$(BIN)/ruff format --check neo_service_layer tests bench
	$(BIN)/lint-imports --no-logo --no-cache

typecheck: setup
	$(BIN)/mypy neo_service_layer tests bench

pytest: setup
	$(BIN)/python -m pytest --cov --cov-report=term --cov-fail-under=90 --durations=30

test: lint typecheck pytest

check: test

bench: setup
	$(BIN)/python bench/api.py
	$(BIN)/python bench/randomness.py
	$(BIN)/python bench/oracle.py
	$(BIN)/python bench/functions.py
	$(BIN)/python bench/pricefeed.py
	$(BIN)/python bench/fulfilment.py

# Re-pin every dependency after changing pyproject.toml (run in a fresh venv with network access).
lock: setup
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^neo-service-layer' > requirements.lock

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
