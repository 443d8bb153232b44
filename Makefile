# Ledgerbridge: `make demo` runs the portal, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(PY) manage.py rundemo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks print figures (no assertions); set DATABASE_URL for PostgreSQL figures (the portal's need it).
bench: $(STAMP)
	$(PY) -m tests.bench.xero
	$(PY) -m tests.bench.backfill
	$(PY) -m tests.bench.reconcile
ifneq ($(filter postgres%,$(DATABASE_URL)),)
	$(PY) -m tests.bench.portal
	$(PY) -m tests.bench.timeline
else
	@echo "tests.bench.portal and tests.bench.timeline need PostgreSQL: set DATABASE_URL=postgres://... to run them."
endif

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-wal db.sqlite3-shm .pytest_cache
