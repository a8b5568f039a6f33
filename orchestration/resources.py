"""Wiring from settings to the objects the pipeline needs. The one warehouse path
(O2C_WAREHOUSE_PATH) reaches dlt, dbt and the publish step from here, read when a step runs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource

from core.settings import Settings, get_settings

# Every step that writes warehouse.duckdb holds a slot of this pool; its limit is 1.
WAREHOUSE_POOL = "warehouse"

DAGSTER_YAML = """\
# Written by o2c. One writer at a time on the DuckDB warehouse: the pool every writing step
# belongs to has a single slot, so runs and backfills queue instead of colliding on the lock.
concurrency:
  pools:
    default_limit: 1
telemetry:
  enabled: false
# Dagster's SQLite event log, its databases kept connected (orchestration/dagster_events.py).
event_log_storage:
  module: orchestration.dagster_events
  class: PooledSqliteEventLogStorage
"""


class WarehouseResource(ConfigurableResource):
    """The DuckDB warehouse the settings point at. The path is read from the settings each time a
    step opens it, not when the definitions load: a run sees O2C_* as they are when it runs."""

    def path(self) -> Path:
        return get_settings().warehouse

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # DuckDBResource's connect, which retries while another process holds the file's lock.
        with DuckDBResource(database=str(self.path())).get_connection() as con:
            yield con


def ensure_dagster_home(settings: Settings) -> Path:
    """DAGSTER_HOME under data/, with the single-writer pool configured."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
