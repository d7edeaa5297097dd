# The two set-up commands of the README: `make demo` runs the pilot, `make test` runs the tests.
# Both create a virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test test-all test-prerequisites bench install lint

# The pilot with its server and the test tools (pyproject.toml: a voter's or an
# auditor's machine needs only the base install, `pip install .`).
$(BIN)/voting: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,test]'
	touch $@

# The browser's cryptography: @noble/curves and @noble/hashes from the npm registry
# (pinned by package-lock.json), bundled by esbuild into the one ES module the pages
# load (docs/web.md). Needs Node.js 20+ with npm.
WEB_BUNDLE := voting/web/static/vendor/noble.js

$(WEB_BUNDLE): package.json package-lock.json voting/web/vendor-entry.js
	npm ci --no-audit --no-fund --loglevel=error
	npm run --silent build

install: $(BIN)/voting $(WEB_BUNDLE)

demo: install
	$(BIN)/voting demo

# `make test`: everything but the tests marked slow. `make test-all` (what CI runs): everything.
# Both first install the system packages the tests drive (chromium, nginx, SoftHSM2, ...).
test-prerequisites:
	scripts/test-prerequisites

# One pytest process per core (pytest-xdist); each module's tests run in one of them, in order.
PYTEST := $(BIN)/python -m pytest -n auto --dist loadfile

test: test-prerequisites install
	$(PYTEST) -m "not slow" $(PYTEST_ARGS)

test-all: test-prerequisites install
	$(PYTEST) $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m crypto.bench

# Lint rules, types (strict for crypto/) and the import contracts, all configured in pyproject.toml.
lint: $(BIN)/voting
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
