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

.PHONY: help setup system-deps demo dashboards dagster check test bench lint format contract-docs clean docs

help:
	@echo "make demo   - install, simulate demo sources, build the warehouse, serve the dashboards on :8501"
	@echo "make check  - the fast tier (under 3 minutes): unit tests, the dbt project on hand-checked seeds"
	@echo "make test   - the full test suite (installs what it needs); includes everything make check runs"
	@echo "make dashboards - the dashboards on the last build (http://localhost:8501)"
	@echo "make dagster - the Dagster UI on the pipeline"
	@echo "make docs   - dbt docs of the published marts (http://localhost:8580)"
	@echo "make lint   - ruff (lint and format check) on all Python, sqlfluff on the dbt SQL; no warehouse needed"

# uv itself (if missing), then the locked Python environment, compiled to bytecode: uv does not
# compile by default, and where PYTHONDONTWRITEBYTECODE is set (as on our CI machine) every o2c,
# dbt and Streamlit process would compile its 4,000 imported modules again (8 of the 20 s it took
# to load the Dagster definitions).
$(VENV)/.synced: pyproject.toml uv.lock
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	touch $@

# The dbt manifest the Dagster definitions load, parsed ahead as dagster-dbt recommends (its
# `prepare-and-package` at build time) so that `dagster dev -m orchestration.definitions` works
# on a fresh clone; parsed again when a model, macro or YAML file changes.
MANIFEST := dbt_project/target/manifest.json
$(MANIFEST): $(VENV)/.synced $(shell find dbt_project \( -name target -o -name logs \) -prune -o \( -name '*.sql' -o -name '*.yml' \) -print)
	$(BIN)/python -m orchestration.dbt_runner

setup: $(VENV)/.synced $(MANIFEST)

# Debian packages the tests use: PostgreSQL server binaries (a real ERP database), Chromium
# (the dashboards' browser tests; Playwright cannot download its own browser here) and Node.js
# (the OpenID Connect provider of the sign-in tests), Java (the local Spark of O2C_ENGINE=spark).
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		echo "Installing Chromium (Debian package chromium)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi
	@if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		echo "Installing PostgreSQL server binaries (Debian package postgresql)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; \
	fi
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "Installing Node.js and npm (Debian packages nodejs npm: the OpenID Connect provider of the sign-in tests)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; \
	fi
	@if ! command -v java >/dev/null 2>&1; then \
		echo "Installing Java (Debian package default-jre-headless: the local Spark of O2C_ENGINE=spark and its test)"; \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends default-jre-headless; \
	fi

# The tests' OpenID Connect provider (tests/oidc_provider: the certified `oidc-provider` package),
# installed exactly as locked; again when the lock file changes.
OIDC_PROVIDER := tests/oidc_provider/node_modules/.package-lock.json
$(OIDC_PROVIDER): tests/oidc_provider/package-lock.json | system-deps
	cd tests/oidc_provider && npm ci --no-audit --no-fund

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

# pytest's workers, one more than the cores (see `test` below).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

# The fast inner loop: tests that need no world built into a warehouse, no server and no browser
# (marked `check` in tests/conftest.py), incl. the seeded dbt project (every dbt unit test and
# marts checked by hand). `make test` runs the same tests and all the rest.
check: setup
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m check

# The 30 slowest set-ups and tests are listed at the end: where the suite's time goes. Modules go
# to the workers slowest first (tests/conftest.py SLOWEST_FIRST), not by xdist's test count.
# One worker more than the cores: on two cores on 2026-12-06, three workers took about 4 %
# less time per CPU-second of tests than two (0.633 s in two runs against 0.657–0.663 s in
# three; a minute of a 26-minute suite), filling what two leave idle (vmstat: 2.6 % idle with
# two, 0.4 % with three; docs/performance.md, "The suite against its 30 minutes").
# Until 2026-12-02, when a pipeline run cost about twice the CPU it does now, a third worker had
# made the suite slower (3,716 s against 3,385 s). TEST_WORKERS=N overrides it.
test: setup system-deps $(OIDC_PROVIDER)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=30

# Benchmarks: make bench SCALE=s|m|l-half|l (results in benchmarks/results/ and docs/performance.md).
# SPARK=1 also builds the world on Apache Spark (local, in-process), beside DuckDB.
SCALE ?= s
SPARK ?=
bench: setup
	$(BIN)/python benchmarks/run.py --scale $(SCALE) $(if $(SPARK),--spark)

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
	rm -rf data/sources data/warehouse data/dlt dbt_project/target dbt_project/logs tests/oidc_provider/node_modules

# dbt docs of the published marts (read-only on the serving file, so it runs beside the
# dashboards), served on O2C_DOCS_PORT (default http://localhost:8580); Ctrl-C stops them.
docs: setup
	$(BIN)/o2c docs
