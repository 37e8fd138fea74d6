# Memory Console: the commands that must work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: run test ci contract lint format install collectstatic memory-eval

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

## make run: install, migrate, demo admin, web console + background worker on SQLite.
run: $(VENV)/.installed
	@bash scripts/run.sh

## make test: ruff, lint-imports (the layer contracts), the whole suite; PostgreSQL and browser tests run when available, else skip with a reason.
test: $(VENV)/.installed
	$(PY) scripts/run_tests.py

## make ci: lint, SQLite pass, PostgreSQL pass and browser tests; nothing may be skipped.
ci: $(VENV)/.installed
	bash scripts/ci_prepare.sh
	$(PY) scripts/run_tests.py --strict

## make contract: the API contract alone: the OpenAPI document's error statuses, then schemathesis against a
## live server on PostgreSQL at TEST_POSTGRES_URL (make test and make ci run it in their PostgreSQL pass).
contract: $(VENV)/.installed
	DATABASE_URL=$${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/memory_console} \
		$(PY) -m pytest -q tests/test_api_contract.py

## make memory-eval: precision and recall of the built-in memory extractor on tests/data/memory_eval (no database).
memory-eval: $(VENV)/.installed
	$(PY) bench/memory_eval.py --split all

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

collectstatic: $(VENV)/.installed
	$(PY) manage.py collectstatic --noinput
