# Revline: `make run` starts the demo, `make test` runs every check. Both set up what they need.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export REFLEX_USE_SYSTEM_BUN := 1
export REFLEX_TELEMETRY_ENABLED := false
export REFLEX_CHECK_LATEST_VERSION := false
export NPM_CONFIG_REGISTRY ?= https://registry.npmjs.org/
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test setup bun chromium postgres lint test-unit test-slow bench bench-engine bench-crm bench-webhooks bench-lead-to-cash bench-reconcile bench-console screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) bun

# Reflex builds the console with bun; it comes from the npm registry (Reflex's own download needs the internet).
bun:
	@command -v bun >/dev/null 2>&1 || npm install -g --no-fund --no-audit bun@1.4.5
	@bun --version >/dev/null

# The console's browser tests drive Debian's Chromium; Playwright's own browser download is not used.
chromium:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; pg_isready -h 127.0.0.1 -p 5432

run: setup
	$(BIN)/revline migrate
	$(BIN)/revline demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup chromium postgres lint
	$(BIN)/pytest -m "not slow" -q

test-unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

test-slow: setup chromium postgres
	$(BIN)/pytest -m slow -q

bench: bench-engine bench-crm bench-webhooks bench-lead-to-cash bench-reconcile bench-console

bench-engine: setup postgres
	$(BIN)/python -m bench.engine

bench-crm: setup
	$(BIN)/python -m bench.crm

bench-webhooks: setup
	$(BIN)/python -m bench.webhooks

bench-lead-to-cash: setup
	$(BIN)/python -m bench.lead_to_cash

bench-reconcile: setup
	$(BIN)/python -m bench.reconcile

# A million-op PostgreSQL ledger, each page's data load timed server-side and its first render in Chromium.
bench-console: setup chromium postgres
	$(BIN)/python -m bench.console

# README images (docs/img): a demo on the sandboxes, signed in as its admin, in headless Chromium.
screenshots: setup chromium
	$(BIN)/python -m bench.screenshots

clean:
	rm -rf $(VENV) .web .states *.db
