"""Runs of `o2c run` on a small world: only good builds are published, a killed run leaves the
last good serving file, readers never see a half-built or locked file, and reruns on unchanged
sources publish the same content. (Apart from tests/test_orchestration.py, the asset graph and
the UI, so the two halves can run on different test workers.)"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import END, o2c
from tests.test_orchestration import _start, assert_same, serving_tables
from tests.test_run_safety import dbt_processes


@pytest.fixture
def world(dashboard_world: Path, tmp_path: Path) -> Path:
    """A copy of the session's published world (tests/conftest.py dashboard_world), which these
    tests change: advance, break and run again."""
    data = tmp_path / "data"
    shutil.copytree(dashboard_world, data)
    return data


def test_a_run_killed_during_dbt_leaves_the_last_good_serving_file_and_the_next_run_the_same_content(
    world: Path,
) -> None:
    """The sources do not change between the runs: the run after the killed one publishes a new
    build with the same content, so neither the killed run nor running again changes a figure."""
    serving = world / "warehouse" / "serving.duckdb"
    good_build, good_tables = serving_tables(serving)
    process, lines = _start(world, "run")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert process.poll() is None, "the run ended before its dbt step"
            continue
        if "started o2c_dbt_assets" in line:  # `o2c run`'s progress line
            break
    else:
        pytest.fail("the dbt step never started")
    time.sleep(1.0)  # well inside dbt's models now
    assert process.poll() is None, "the run finished before it could be killed"
    warehouse = world / "warehouse" / "warehouse.duckdb"
    assert dbt_processes(warehouse), "no dbt process of the run found"
    os.kill(process.pid, signal.SIGKILL)  # the o2c process only (no handler runs), not its group
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while dbt_processes(warehouse) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert dbt_processes(warehouse) == set(), "dbt outlived its run"  # o2c-dbt: it dies with its parent
    build, tables = serving_tables(serving)  # still opens, read-only
    assert build == good_build
    assert_same(tables, good_tables)
    assert not list(serving.parent.glob(".serving.duckdb.*"))
    o2c(world, "run")  # the next run recovers and completes
    new_build, new_tables = serving_tables(serving)
    assert new_build != good_build
    assert_same(new_tables, good_tables)


READER = textwrap.dedent(
    """
    import json, os, sys, time
    import duckdb
    path, stop, out = sys.argv[1:4]
    seen, errors, queries = [], [], 0
    # Until the stop file names a build this reader has seen (or is empty: the run failed);
    # the deadline is only a safety net, far beyond a run on a loaded machine.
    deadline = time.monotonic() + 3600
    def stopped():
        if not os.path.exists(stop):
            return False
        wanted = open(stop).read().strip()
        return not wanted or wanted in seen
    while not stopped() and time.monotonic() < deadline:
        try:
            con = duckdb.connect(path, read_only=True)
            build = con.sql("select build_id from _meta").fetchall()[0][0]
            con.sql("select count(*), sum(open_balance) from marts.fct_invoices").fetchall()
            con.close()
            queries += 1
            if not seen or seen[-1] != build:
                seen.append(build)
        except Exception as error:
            errors.append(repr(error))
        time.sleep(0.02)
    json.dump({"seen": seen, "errors": errors, "queries": queries}, open(out, "w"))
    """
)


def test_readers_query_the_serving_file_throughout_a_run_without_a_lock_error(world: Path, tmp_path: Path) -> None:
    serving = world / "warehouse" / "serving.duckdb"
    old_build, _ = serving_tables(serving)
    o2c(world, "simulate", "--advance", "2")
    script, stop, out = tmp_path / "reader.py", tmp_path / "stop", tmp_path / "reader.json"
    script.write_text(READER)
    reader = subprocess.Popen([sys.executable, str(script), str(serving), str(stop), str(out)])
    new_build = ""
    try:
        time.sleep(0.5)
        o2c(world, "run")
        new_build, _ = serving_tables(serving)
    finally:
        stop.write_text(new_build)  # the reader goes on until it has queried the new build too
        reader.wait(timeout=300)
    report = json.loads(out.read_text())
    assert report["errors"] == []
    assert report["seen"] == [old_build, new_build]
    assert report["queries"] > 50


def test_a_failing_blocking_check_stops_the_publish(world: Path) -> None:
    serving = world / "warehouse" / "serving.duckdb"
    good_build, good_tables = serving_tables(serving)
    # A line the contract accepts but that breaks "invoice total = sum of its lines".
    erp = sqlite3.connect(world / "sources" / "erp.sqlite")
    erp.execute(
        "insert into invoice_lines select invoice_line_id || '-EXTRA', invoice_id, order_line_id, product_id, 1, "
        "unit_price, unit_price, '2099-01-01 00:00:00.000000' from invoice_lines order by invoice_line_id limit 1"
    )
    erp.commit()
    erp.close()
    result = o2c(world, "run", check=False)
    assert result.returncode == 1
    assert "assert_invoice_lines_sum_to_invoice_total" in result.stdout
    # named among the failed checks too, read back from quality.dq_results
    assert "failed check assert_invoice_lines_sum_to_invoice_total on dbt/" in " ".join(result.stdout.split())
    assert "was not replaced" in result.stdout.replace("\n", " ")
    build, tables = serving_tables(serving)
    assert build == good_build
    assert_same(tables, good_tables)
    # Recorded for the data-health page although dbt failed the step: the one invoice with the line.
    con = duckdb.connect(str(world / "warehouse" / "warehouse.duckdb"), read_only=True)
    failed = con.sql(
        "select entity, severity, unexpected_count from quality.dq_results where not success and suite like 'dbt\\_%' escape '\\'"
    ).fetchall()
    con.close()
    assert ("assert_invoice_lines_sum_to_invoice_total", "error", 1) in failed


def test_a_failing_data_quality_suite_blocks_the_publish(world: Path) -> None:
    serving = world / "warehouse" / "serving.duckdb"
    good_build, good_tables = serving_tables(serving)
    # Valid for the contract, wrong for the business: due ten days before the invoice date.
    erp = sqlite3.connect(world / "sources" / "erp.sqlite")
    invoice_id = erp.execute("select min(invoice_id) from invoices").fetchone()[0]
    erp.execute(
        "update invoices set due_date = date(invoice_date, '-10 day'), updated_at = ? where invoice_id = ?",
        (f"{END.isoformat()} 23:59:59.000000", invoice_id),
    )
    erp.commit()
    erp.close()
    result = o2c(world, "run", check=False)
    assert result.returncode == 1
    output = result.stdout.replace("\n", " ")
    assert "gx_suite on erp/invoices" in output
    assert "was not replaced" in output
    build, tables = serving_tables(serving)
    assert build == good_build
    assert_same(tables, good_tables)
    con = duckdb.connect(str(world / "warehouse" / "warehouse.duckdb"), read_only=True)
    (row,) = con.sql(
        "select column_name, severity, unexpected_count, sample_unexpected from quality.dq_results "
        "where not success and entity = 'invoices'"
    ).fetchall()
    con.close()
    assert row[:3] == ("due_date", "error", 1)
    assert " vs " in row[3]  # the offending due date shown beside its invoice date
