# The two commands a newcomer needs: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# WORKERS and WORKER_CLASS override app/server/serving.py's defaults (gevent, 4; README, "Performance").

.PHONY: run demo test lint format bench clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Touchpoint needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

run: $(VENV)/.installed
	$(BIN)/touchpoint bootstrap --url http://$(HOST):$(PORT) $(if $(ADMIN_EMAIL),--admin-email $(ADMIN_EMAIL))
	TOUCHPOINT_PUBLIC_BASE_URL="$${TOUCHPOINT_PUBLIC_BASE_URL:-http://$(HOST):$(PORT)}" \
		exec $(BIN)/touchpoint serve --bind $(HOST):$(PORT) \
		$(if $(WORKERS),--workers $(WORKERS)) $(if $(WORKER_CLASS),--worker-class $(WORKER_CLASS))

# Fills an empty database (instance/touchpoint.db, or TOUCHPOINT_DATABASE) with a demo season.
demo: $(VENV)/.installed
	$(BIN)/touchpoint demo $(DEMO_ARGS)

# The edit-test loop: no real browser, no real servers, no slow end-to-end runs (markers in
# pyproject.toml). `make test` before pushing.
.PHONY: test-fast
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not slow and not browser" -n 2 $(PYTEST_ARGS)

# Everything, as CI runs it (.ci/run): the suite on SQLite, then again on PostgreSQL where its
# server binaries are installed (tests/backends.py starts a throwaway server; under CI a
# missing PostgreSQL fails instead of skipping).
PG_INITDB = $(firstword $(wildcard /usr/lib/postgresql/*/bin/initdb))
test: $(VENV)/.installed-test
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/ruff check .
	$(BIN)/cog --check --check-fail-msg 'run make docs' README.md
	@echo "== the suite on SQLite"
	$(BIN)/python -m pytest $(PYTEST_ARGS)
ifneq ($(PG_INITDB),)
	@echo "== the suite again on PostgreSQL (tests about SQLite itself, and those independent of the backend, skip)"
	TOUCHPOINT_TEST_BACKEND=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS)
else
	@if [ -n "$$CI" ]; then echo "CI: PostgreSQL is not installed (.ci/run installs it)"; exit 1; fi
	@echo "== PostgreSQL not installed (apt-get install postgresql): its run of the suite is skipped"
endif

# The edit-test loop on PostgreSQL: the fast markers, as test-fast.
.PHONY: test-postgres
test-postgres: $(VENV)/.installed-test
	TOUCHPOINT_TEST_BACKEND=postgresql $(BIN)/python -m pytest -m "not slow and not browser" -n 2 $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Pastes the commands' --help into README.md's "Command line" (make test fails while stale).
.PHONY: docs
docs: $(VENV)/.installed-test
	$(BIN)/cog -r README.md

bench: $(VENV)/.installed-test
	$(BIN)/python bench/redirect

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
