# The two set-up commands of the README: `make demo` runs the pilot, `make test` runs the tests.
# Both create a virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench install

$(BIN)/voting: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
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

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m crypto.bench
