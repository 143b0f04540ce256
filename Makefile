# The two commands a newcomer needs:  make run   and   make test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test install i18n-compile clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(STAMP) i18n-compile

## compile every translation catalog (.po -> .mo); .mo files are build output, not committed
i18n-compile: $(STAMP)
	$(BIN)/kbp i18n compile

## start KBP in demo mode on http://127.0.0.1:5000
run: install
	$(BIN)/kbp serve --demo --host 127.0.0.1 --port 5000

## the Node.js validators and peers the tests run (axe-core, oidc-provider, Redocly), exact versions of the lock file
NODE_STAMP := tests/node/node_modules/.package-lock.json
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/node --no-audit --no-fund --loglevel=error; \
	else echo "--- npm is not installed: tests that need axe-core, oidc-provider or Redocly are skipped (apt-get install nodejs npm)"; fi

## run the whole test suite: on the embedded store, then again on PostgreSQL when it is installed
## (a throwaway cluster, see tests/pgcluster.py; CI always has it)
test: $(TEST_STAMP) i18n-compile $(NODE_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if $(BIN)/python -c "import sys; sys.path.insert(0, '.'); from tests import pgcluster; sys.exit(not pgcluster.available())"; then \
	  echo "--- the same suite on PostgreSQL (KBP_TEST_BACKEND=postgres)"; \
	  KBP_TEST_BACKEND=postgres $(BIN)/python -m pytest -m "not embedded_only" $(PYTEST_ARGS); \
	else echo "--- PostgreSQL is not installed here: the PostgreSQL run was skipped (apt-get install postgresql)"; fi

clean:
	rm -rf $(VENV) .pytest_cache
	find . -name '*.mo' -path '*LC_MESSAGES*' -delete
