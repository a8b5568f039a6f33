"""`make demo`'s pipeline at the default scale: finishes well inside 5 minutes, says where the
warehouse is. The bound is twenty times the measured time, so it guards the promise, not speed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb


def test_default_scale_demo_builds_and_prints_the_warehouse(tmp_path: Path) -> None:
    env = {**os.environ, "O2C_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    o2c = [sys.executable, "-m", "orchestration.cli"]
    started = time.monotonic()
    subprocess.run([*o2c, "simulate"], env=env, check=True, capture_output=True, text=True)
    ingest = subprocess.run([*o2c, "ingest"], env=env, check=True, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    warehouse = tmp_path / "warehouse" / "warehouse.duckdb"
    assert f"Warehouse: {warehouse}" in ingest.stdout.replace("\n", "")
    assert elapsed < 300
    con = duckdb.connect(str(warehouse), read_only=True)
    invoices = con.sql("select count(*) from raw_erp.invoices").fetchall()[0][0]
    con.close()
    assert 20_000 < invoices < 60_000  # the default world: 500 customers, two years
