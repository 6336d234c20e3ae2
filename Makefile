# The two set-up commands: `make run` and `make test`. Both install what they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUN_VERSION := 1.4.5
TOOLS := .tools
BUN := $(TOOLS)/node_modules/.bin/bun
# axe-core, injected into pages by the accessibility browser tests.
AXE_CORE_VERSION := 4.14.1
AXE_CORE := $(TOOLS)/.axe-core-$(AXE_CORE_VERSION).installed
PORT ?= 3000
# Reflex uses the bun installed here from the npm registry; it must never download its own.
REFLEX_ENV := PATH="$(CURDIR)/$(TOOLS)/node_modules/.bin:$$PATH" REFLEX_USE_SYSTEM_BUN=1

.PHONY: install install-test run run-scaled test test-sqlite test-postgresql system-deps migrate seed lint clean

# `make run` needs only what the app needs; `make test` adds the test-only packages.
install: $(VENV)/.installed $(BUN)

install-test: install $(VENV)/.installed-test $(AXE_CORE)

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

$(BUN):
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) bun@$(BUN_VERSION)
	$(BUN) --version

$(AXE_CORE):
	npm install --silent --no-audit --no-fund --save-exact --prefix $(TOOLS) axe-core@$(AXE_CORE_VERSION)
	grep -q '"version": "$(AXE_CORE_VERSION)"' $(TOOLS)/node_modules/axe-core/package.json
	touch $@

migrate: install
	$(PY) -m alembic upgrade head

seed: migrate
	$(PY) -m dashboard_app seed-demo

run: seed
	@echo "Starting the dashboard on http://localhost:$(PORT) (production build; first start takes a minute)"
	$(REFLEX_ENV) $(VENV)/bin/reflex run --env prod --single-port --frontend-port $(PORT) --backend-port $(PORT)

# The production topology on this machine: PostgreSQL and Redis (kept in data/scaled/), BACKENDS
# backend processes behind HAProxy on PORT, WORKERS job workers. Ctrl-C stops them all.
BACKENDS ?= 2
WORKERS ?= 2
run-scaled: install
	scripts/install-system-deps --servers
	$(REFLEX_ENV) PORT=$(PORT) BACKENDS=$(BACKENDS) WORKERS=$(WORKERS) $(PY) scripts/run-scaled

system-deps:
	scripts/install-system-deps

test: install-test system-deps
	scripts/test

test-sqlite: install-test system-deps
	$(REFLEX_ENV) TEST_DATABASE=sqlite $(PY) -m pytest

test-postgresql: install-test system-deps
	$(REFLEX_ENV) TEST_DATABASE=postgresql $(PY) -m pytest

lint: install-test
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf .web .states .pytest_cache
