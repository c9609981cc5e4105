# pingtree: `make demo` to see it, `make test` to prove it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install tools test lint typecheck suite format clean demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# System tools the suite uses (the README's curl example is run as written).
tools:
	@command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }

lint: $(STAMP)
	$(BIN)/ruff check pingtree tests
	$(BIN)/ruff format --check pingtree tests

typecheck: $(STAMP)
	$(BIN)/mypy pingtree

suite: $(STAMP)
	$(BIN)/pytest -q

test: tools lint typecheck suite

format: $(STAMP)
	$(BIN)/ruff format pingtree tests
	$(BIN)/ruff check --fix pingtree tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

demo: $(STAMP)
	$(BIN)/pingtree demo --config buyers.yaml --sim sim.yaml --samples samples
