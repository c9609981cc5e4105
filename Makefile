# pingtree: `make demo` to see it, `make test` to prove it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install tools test lint typecheck suite format clean demo bench bench-tools bench-ab soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# System tools the suite uses (the README's curl example is run as written).
# redis-server: the Redis store's tests start their own on a free loopback port.
tools:
	@command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

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

# The benchmark rig's system tools: nginx with the echo module (the buyers), wrk (the sellers) and
# redis-server (scenario 8 starts its own).
BENCH_PACKAGES := nginx libnginx-mod-http-echo wrk redis-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench-tools:
	@missing=""; \
	for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }

# Nine scenarios, about 11 minutes; BENCH_ARGS="--scenario 1 --quick" runs less (benchmarks/README.md).
bench: $(STAMP) bench-tools
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# Two versions on one market in alternating rounds: AB_ARGS="6d9d874" (against the working tree),
# AB_ARGS="main~3 HEAD --rate 400" (benchmarks/README.md).
bench-ab: $(STAMP) bench-tools
	$(BIN)/python benchmarks/ab.py $(AB_ARGS)

# A bounded soak (3 minutes; SOAK_ARGS="--minutes 5 --rate 200"): a real pingtree serve, 10 buyers
# of which one misbehaves in turns, memory and file descriptors flat, no 5xx (benchmarks/README.md).
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)
