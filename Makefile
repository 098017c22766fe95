# The two commands of the README: `make gallery` and `make test`.
# Both set everything up first; setup is idempotent and quick when done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup gallery test lint format bench local-model clean

setup: $(STAMP)
	@$(BIN)/python -m gallery.browser

# Reinstall only when the package metadata changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

gallery: setup
	$(BIN)/gallery run

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -q

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf site .pytest_cache .ruff_cache
