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

## run the whole test suite: on the embedded store and, side by side, on PostgreSQL when it is
## installed (a throwaway cluster, see tests/pgcluster.py; CI always has it). Each pass keeps about
## one core busy, so on two cores both take about as long as the longer one; the PostgreSQL pass's
## output goes to $(PG_LOG) and is printed when both are done. KBP_TEST_SERIAL=1 runs them one
## after the other.
PG_LOG := test-artifacts/pytest-postgres.log
PG_AVAILABLE = $(BIN)/python -c "import sys; sys.path.insert(0, '.'); from tests import pgcluster; sys.exit(not pgcluster.available())"
PG_PASS = KBP_TEST_BACKEND=postgres $(BIN)/python -m pytest -m "not embedded_only" $(PYTEST_ARGS)
test: $(TEST_STAMP) i18n-compile $(NODE_STAMP)
	@if ! $(PG_AVAILABLE); then \
	  $(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	  echo "--- PostgreSQL is not installed here: the PostgreSQL run was skipped (apt-get install postgresql)"; \
	  exit $$status; \
	elif [ -n "$$KBP_TEST_SERIAL" ]; then \
	  $(BIN)/python -m pytest $(PYTEST_ARGS) && echo "--- the same suite on PostgreSQL (KBP_TEST_BACKEND=postgres)" && \
	  $(PG_PASS); \
	else \
	  mkdir -p $(dir $(PG_LOG)); \
	  echo "--- the suite on the embedded store, and at the same time on PostgreSQL (output below when done)"; \
	  $(PG_PASS) -p no:cacheprovider > $(PG_LOG) 2>&1 & pg=$$!; \
	  trap 'kill $$pg 2>/dev/null' INT TERM; \
	  $(BIN)/python -m pytest $(PYTEST_ARGS); embedded=$$?; \
	  wait $$pg; postgres=$$?; \
	  echo "--- the same suite on PostgreSQL (KBP_TEST_BACKEND=postgres), run alongside"; cat $(PG_LOG); \
	  echo "--- embedded store: exit $$embedded; PostgreSQL: exit $$postgres"; \
	  [ $$embedded -eq 0 ] && [ $$postgres -eq 0 ]; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache
	find . -name '*.mo' -path '*LC_MESSAGES*' -delete
