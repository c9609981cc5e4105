# pingtree: `make demo` to see it, `make test` to prove it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install tools test lint typecheck suite format clean demo docs screenshots bench bench-tools bench-ab soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# System tools the suite uses, installed when missing (the README names each: keep it in step).
# curl: the curl examples of the README and docs/getting-started.md are run as written.
# redis-server: the Redis store's tests start their own on a free loopback port.
# postgresql: the ledger's tests start their own PostgreSQL (initdb, postgres) the same way.
# chromium: the console's tests drive Debian's Chromium with Playwright (nothing downloaded).
tools:
	@command -v curl >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl; }
	@command -v redis-server >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

lint: $(STAMP)
	$(BIN)/ruff check pingtree tests
	$(BIN)/ruff format --check pingtree tests

typecheck: $(STAMP)
	$(BIN)/mypy pingtree

# On every core: each test starts its own servers on free ports and its own temp folders, so two
# workers never share one (the session's redis-server, PostgreSQL and Chromium are per worker).
suite: $(STAMP)
	$(BIN)/pytest -q -n auto

test: tools lint typecheck suite

format: $(STAMP)
	$(BIN)/ruff format pingtree tests
	$(BIN)/ruff check --fix pingtree tests

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis site

# The documentation site (mkdocs.yml, docs/) into site/: open site/index.html. The suite builds it
# the same way (tests/test_docs.py), so a broken link fails `make test`.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict

demo: $(STAMP)
	$(BIN)/pingtree demo --config buyers.yaml --sim sim.yaml --samples samples

# A PNG of each console page into docs/console/ (docs/console.md shows them), from a live demo
# driven by Playwright on Debian's Chromium (`make tools` installs it).
screenshots: $(STAMP)
	$(BIN)/python docs/screenshots.py

# The benchmark rig's system tools: nginx with the echo module (the buyers), wrk (the sellers),
# redis-server (scenario 8 starts its own) and golang-go (Go 1.19: scenario 1 builds the Go
# yardstick, benchmarks/yardstick_go/, offline from the standard library; tests/benchmarks/ too,
# and skips without it: `make test` does not install it).
BENCH_PACKAGES := nginx libnginx-mod-http-echo wrk redis-server golang-go
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

bench-tools:
	@missing=""; \
	for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; }

# Ten scenarios, about 12 minutes; BENCH_ARGS="--scenario 1 --quick" runs less (docs/benchmarks.md).
bench: $(STAMP) bench-tools
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# Two versions on one market in alternating rounds: AB_ARGS="6d9d874" (against the working tree),
# AB_ARGS="main~3 HEAD --rate 400" (docs/benchmarks.md).
bench-ab: $(STAMP) bench-tools
	$(BIN)/python benchmarks/ab.py $(AB_ARGS)

# A bounded soak (3 minutes; SOAK_ARGS="--minutes 5 --rate 200"): a real pingtree serve, 10 buyers
# of which one misbehaves in turns, memory and file descriptors flat, no 5xx (docs/benchmarks.md).
soak: $(STAMP)
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)
