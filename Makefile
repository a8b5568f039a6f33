# o2c — two commands from a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# uv runs as a Python module, so it works wherever pip put it.
UV := python3 -m uv
# Demo scale (override: make demo CUSTOMERS=2000 DAYS=1095)
CUSTOMERS ?= 500
DAYS ?= 730
SEED ?= 42

.PHONY: help setup system-deps demo dashboards dagster test bench lint format contract-docs clean

help:
	@echo "make demo   - install, simulate demo sources, build the warehouse, serve the dashboards on :8501"
	@echo "make test   - the full test suite (installs what it needs)"
	@echo "make dashboards - the dashboards on the last build (http://localhost:8501)"
	@echo "make dagster - the Dagster UI on the pipeline"
	@echo "make lint   - ruff (lint and format check) on all Python, sqlfluff on the dbt SQL; no warehouse needed"

# uv itself (if missing), then the locked Python environment.
$(VENV)/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	touch $@

setup: $(VENV)/.synced

# Debian packages the tests use: PostgreSQL server binaries (a real ERP database) and Chromium
# (the dashboards' browser tests; Playwright cannot download its own browser here).
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "Installing Chromium (Debian package chromium)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "Installing PostgreSQL server binaries (Debian package postgresql)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; \
	fi

demo: setup
	$(BIN)/o2c simulate --customers $(CUSTOMERS) --days $(DAYS) --seed $(SEED)
	$(BIN)/o2c run
	$(BIN)/o2c status
	$(BIN)/o2c dashboard

# The dashboards on the last published build (http://localhost:8501).
dashboards: setup
	$(BIN)/o2c dashboard

# The Dagster UI on the pipeline, with DAGSTER_HOME under data/.
dagster: setup
	$(BIN)/o2c ui

test: setup system-deps
	$(BIN)/pytest -n 2 --dist loadfile

# Benchmarks: make bench SCALE=s|m|l-half|l (results in benchmarks/results/ and docs/performance.md).
SCALE ?= s
bench: setup
	$(BIN)/python benchmarks/run.py --scale $(SCALE)

# sqlfluff's dbt templater compiles each model against the profile's `lint` target (an in-memory
# DuckDB), with its own target path so it never touches the pipeline's manifest or partial parse.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd dbt_project && DBT_SEND_ANONYMOUS_USAGE_STATS=false DBT_TARGET_PATH=target/sqlfluff \
		$(CURDIR)/$(BIN)/sqlfluff lint .

contract-docs: setup
	$(BIN)/o2c contract --write docs/sources.md --write-dbt dbt_project/macros/contract_columns.sql

clean:
	rm -rf data/sources data/warehouse data/dlt dbt_project/target dbt_project/logs
