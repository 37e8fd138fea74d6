# Memory Console: the commands that must work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: run test ci lint format install collectstatic

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

install: $(VENV)/.installed

## make run: install, migrate, demo admin, web console + background worker on SQLite.
run: $(VENV)/.installed
	@bash scripts/run.sh

## make test: the whole suite; PostgreSQL and browser tests run when available, else skip with a reason.
test: $(VENV)/.installed
	$(PY) scripts/run_tests.py

## make ci: lint, SQLite pass, PostgreSQL pass and browser tests; nothing may be skipped.
ci: $(VENV)/.installed
	bash scripts/ci_prepare.sh
	$(PY) scripts/run_tests.py --strict

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

collectstatic: $(VENV)/.installed
	$(PY) manage.py collectstatic --noinput
