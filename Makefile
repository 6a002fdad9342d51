# The commands a contributor and CI run. `make run` and `make test` work on a fresh machine.
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_WORKERS ?= 2
# node (npm) builds the widget and drives the browser tests; `make run` works without it
NPM    := $(shell command -v npm 2>/dev/null)
WIDGET := $(addprefix kibitz/static/min/,embed.js embed.css count.js)

.PHONY: setup browser wrk run test test-fast lint format docs bench bench-quick bench-import widget clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## with node, also the JS tools; without, the committed widget build is served as it is
setup: $(STAMP) $(if $(NPM),node_modules)

## the browser tests drive Debian's Chromium; the accessibility test injects axe-core;
## terser builds the widget
node_modules: package-lock.json
	npm ci --no-audit --no-fund
	touch node_modules

## the widget as served: kibitz/static/min/ from the readable sources (committed; a test
## fails when it is stale)
widget: $(STAMP) node_modules
	$(BIN)/python tools/build_widget.py

## for `make run`: rebuilt only when a source is newer than the build (and node is here)
kibitz/static/min/%: kibitz/static/% | $(STAMP) node_modules
	$(BIN)/python tools/build_widget.py

browser:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

## the benchmark's load generator, from Debian's packages
wrk:
	test -x /usr/bin/wrk || (apt-get update && apt-get install -y wrk)

## kibitz beside Isso and the machine's ceiling: bench/results/full.md (about 20 minutes)
bench: setup wrk
	$(BIN)/python -m bench $(BENCH_ARGS)

## the same harness in seconds on small data (CI keeps it working; its numbers mean little)
bench-quick: setup wrk
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

## serve the reference article, its discussion and its funding bar on http://127.0.0.1:8000
## from kibitz.db ("Support" leads to kibitz's donation page; set KIBITZ_SUPPORT_URL to change)
run: setup $(if $(NPM),$(WIDGET))
	KIBITZ_SITE_NAME="$${KIBITZ_SITE_NAME:-SouthFront}" $(BIN)/kibitz demo
	KIBITZ_SITE_NAME="$${KIBITZ_SITE_NAME:-SouthFront}" KIBITZ_LIVE_IDLE_SECONDS="$${KIBITZ_LIVE_IDLE_SECONDS:-999999999}" $(BIN)/kibitz serve

## the whole suite, on SQLite and PostgreSQL, in parallel
test: setup node_modules browser
	$(BIN)/pytest -n $(PYTEST_WORKERS) -p no:cacheprovider

test-fast: setup node_modules
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not slow and not browser"

lint: setup
	$(BIN)/ruff format --check kibitz tests bench tools
	$(BIN)/ruff check kibitz tests bench tools
	$(BIN)/mypy

format: setup
	$(BIN)/ruff format kibitz tests bench tools
	$(BIN)/ruff check --fix kibitz tests bench tools

## time importing a generated 100,000-comment Disqus export (goal: under a minute)
bench-import: setup
	$(BIN)/python -m bench.import_disqus

## regenerate the reference pages that are built from the code
docs: setup
	$(BIN)/python -m kibitz.docs

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
