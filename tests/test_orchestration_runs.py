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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from tests.conftest import END, o2c
from tests.test_orchestration import _start, assert_same, serving_tables
from tests.test_run_safety import dbt_processes


@pytest.fixture
def world(dashboard_world: Path, tmp_path: Path) -> Path:
    """A copy of the session's published world (tests/conftest.py dashboard_world), which these
    tests change: break and run again."""
    data = tmp_path / "data"
    shutil.copytree(dashboard_world, data)
    return data


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
        # Opening the file and querying costs the reader ~80 ms of CPU: every 0.3 s keeps it to a
        # quarter of a core beside the run it watches (hundreds of queries over a run, not 10 a second).
        time.sleep(0.3)
    json.dump({"seen": seen, "errors": errors, "queries": queries}, open(out, "w"))
    """
)


@dataclass
class KilledThenRerun:
    """What the two tests below assert on: one copy of the published world, one `o2c run` killed
    during its dbt step, then the next `o2c run` (the same sources) with a reader querying the
    serving file from before it started until it had seen the build it published."""

    good_build: str
    good_tables: dict[str, pl.DataFrame]
    ended_before_dbt: bool  # the killed run finished before its dbt step could be killed
    dbt_of_the_run: set[int]  # dbt processes building the warehouse just before the kill
    dbt_after_kill: set[int]  # ... and once the killed run had gone
    build_after_kill: str
    tables_after_kill: dict[str, pl.DataFrame]
    building_files_after_kill: list[Path]
    new_build: str
    new_tables: dict[str, pl.DataFrame]
    reader: dict[str, Any]  # the reader's report: builds seen, errors, queries


@pytest.fixture(scope="module")
def killed_then_rerun(dashboard_world: Path, tmp_path_factory: pytest.TempPathFactory) -> KilledThenRerun:
    """One run for both tests (a full `o2c run` is most of their time): the run after the killed
    one is the run the reader queries the serving file throughout."""
    root = tmp_path_factory.mktemp("killed_then_rerun")
    world = root / "data"
    shutil.copytree(dashboard_world, world)
    serving = world / "warehouse" / "serving.duckdb"
    warehouse = world / "warehouse" / "warehouse.duckdb"
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
    # dagster-dbt starts `dbt build` a few seconds into the step (it loads dbt's adapter first):
    # wait for that process, then a moment more to be well inside its models.
    deadline = time.monotonic() + 120
    dbt_of_the_run = dbt_processes(warehouse)
    while not dbt_of_the_run and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
        dbt_of_the_run = dbt_processes(warehouse)
    time.sleep(1.0)
    ended_before_dbt = process.poll() is not None
    if not ended_before_dbt:
        os.kill(process.pid, signal.SIGKILL)  # the o2c process only (no handler runs), not its group
    process.wait(timeout=30)
    deadline = time.monotonic() + 10
    while dbt_processes(warehouse) and time.monotonic() < deadline:
        time.sleep(0.1)
    dbt_after_kill = dbt_processes(warehouse)
    build_after_kill, tables_after_kill = serving_tables(serving)  # still opens, read-only
    building_files_after_kill = list(serving.parent.glob(".serving.duckdb.*"))

    script, stop, out = root / "reader.py", root / "stop", root / "reader.json"
    script.write_text(READER)
    reader = subprocess.Popen([sys.executable, str(script), str(serving), str(stop), str(out)])
    new_build, new_tables = "", {}
    try:
        time.sleep(0.5)
        o2c(world, "run")  # the next run recovers and completes
        new_build, new_tables = serving_tables(serving)
    finally:
        stop.write_text(new_build)  # the reader goes on until it has queried the new build too
        reader.wait(timeout=300)
    return KilledThenRerun(
        good_build,
        good_tables,
        ended_before_dbt,
        dbt_of_the_run,
        dbt_after_kill,
        build_after_kill,
        tables_after_kill,
        building_files_after_kill,
        new_build,
        new_tables,
        json.loads(out.read_text()),
    )


def test_a_run_killed_during_dbt_leaves_the_last_good_serving_file_and_the_next_run_the_same_content(
    killed_then_rerun: KilledThenRerun,
) -> None:
    """The sources do not change between the runs: the run after the killed one publishes a new
    build with the same content, so neither the killed run nor running again changes a figure."""
    run = killed_then_rerun
    assert not run.ended_before_dbt, "the run finished before it could be killed"
    assert run.dbt_of_the_run, "no dbt process of the run found"
    assert run.dbt_after_kill == set(), "dbt outlived its run"  # o2c-dbt: it dies with its parent
    assert run.build_after_kill == run.good_build
    assert_same(run.tables_after_kill, run.good_tables)
    assert not run.building_files_after_kill
    assert run.new_build != run.good_build  # the next run recovered and completed
    assert_same(run.new_tables, run.good_tables)


def test_readers_query_the_serving_file_throughout_a_run_without_a_lock_error(
    killed_then_rerun: KilledThenRerun,
) -> None:
    """The reader queried the serving file from before the run after the killed one started until
    it had seen the build that run published."""
    report = killed_then_rerun.reader
    assert report["errors"] == []
    assert report["seen"] == [killed_then_rerun.good_build, killed_then_rerun.new_build]
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
    for attempt in ("the run that loads it", "a rerun with nothing new"):
        result = o2c(world, "run", check=False)
        assert result.returncode == 1, attempt
        output = result.stdout.replace("\n", " ")
        assert "gx_suite on erp/invoices" in output, attempt
        assert "was not replaced" in output, attempt
        build, tables = serving_tables(serving)
        assert build == good_build, attempt
        assert_same(tables, good_tables)
    con = duckdb.connect(str(world / "warehouse" / "warehouse.duckdb"), read_only=True)
    # Each run checked the failing invoices again (a failure always stands on this run's own
    # check); in the rerun, with nothing new, every other check stood on its recorded pass
    # (quality/checked_loads.py).
    (rerun, rerun_entities), (_, first_entities) = con.sql(
        "select run_id, list(distinct entity order by entity) from quality.dq_results where suite like 'raw\\_%' "
        "escape '\\' group by run_id order by max(validated_at) desc limit 2"
    ).fetchall()
    assert rerun_entities == ["invoices"] and "invoices" in first_entities
    row = con.execute(
        "select column_name, severity, unexpected_count, sample_unexpected from quality.dq_results "
        "where not success and entity = 'invoices' and run_id = ?",
        [rerun],
    ).fetchone()
    con.close()
    assert row[:3] == ("due_date", "error", 1)
    assert " vs " in row[3]  # the offending due date shown beside its invoice date
