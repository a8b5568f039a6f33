"""Runs that never interleave, children that die with their run, files that earlier runs left
cleaned, errors that name their cause, and the recovery of a corrupt warehouse (issue 19, points
4 and 6). Real processes, a real refused port, real corrupt files and real dbt builds."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dagster import DagsterEventType, DagsterInstance, Failure, RetryPolicy, execute_job, job, op, reconstructable

from tests.conftest import O2C, o2c
from tests.test_orchestration import assert_same, serving_tables

# A process that holds the warehouse lock the way `o2c run` does, until it is killed.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from orchestration.warehouse_lock import warehouse_lock
    with warehouse_lock(Path(sys.argv[1]), "o2c run --select test"):
        print("held", flush=True)
        time.sleep(600)
    """
)
HELD_BY = re.compile(
    r"in use by pid (\d+) \(o2c run --select test\) on (\S+) since (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC"
)


def _hold(warehouse: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(warehouse)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    process = _hold(tmp_path / "data" / "warehouse" / "warehouse.duckdb")
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _since_is_now(found: re.Match[str]) -> None:
    since = dt.datetime.strptime(found[3], "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - since).total_seconds()) < 120


def test_a_second_writer_refuses_naming_the_holder_or_waits_and_a_killed_holder_leaves_no_lock(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    data = tmp_path / "data"
    warehouse = data / "warehouse" / "warehouse.duckdb"
    refused = o2c(data, "run", check=False, env={"O2C_LOCK_WAIT_SECONDS": "0"}, process=True)
    assert refused.returncode == 75, refused.stdout + refused.stderr
    [line] = refused.stderr.splitlines()
    found = HELD_BY.search(line)
    assert found is not None and int(found[1]) == holder.pid and found[2] == socket.gethostname()
    _since_is_now(found)
    assert line == (
        f"error: the warehouse {warehouse} is in use by pid {holder.pid} (o2c run --select test) on "
        f"{found[2]} since {found[3]} UTC: one writer at a time; run again when it has finished, "
        "or set O2C_LOCK_WAIT_SECONDS to wait for it"
    )
    assert "Running the pipeline" not in refused.stdout and not warehouse.exists()  # nothing started

    # A load that may wait says so, and goes on once the holder is gone: killed -9, it leaves no
    # lock behind (the kernel releases it with the process).
    env = {**os.environ, "O2C_DATA_DIR": str(data), "O2C_LOCK_WAIT_SECONDS": "300", "COLUMNS": "200"}
    waiting = subprocess.Popen([*O2C, "ingest"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert waiting.stderr is not None
    said = next(line for line in waiting.stderr if line.startswith("waiting for the warehouse"))
    assert said.startswith(f"waiting for the warehouse {warehouse}: in use by pid {holder.pid} (o2c run --select test)")
    assert said.rstrip().endswith("(O2C_LOCK_WAIT_SECONDS)")
    holder.kill()
    holder.wait()
    out, err = waiting.communicate(timeout=300)
    assert waiting.returncode == 0, out + err
    assert f"Warehouse: {warehouse}" in out
    assert (data / "warehouse" / "warehouse.duckdb.lock").read_text() == ""  # released: nobody holds it


@op
def write_the_warehouse() -> str:
    from core.settings import get_settings
    from orchestration.warehouse_lock import holder

    return holder(get_settings().warehouse)


@job
def locked_job() -> None:
    write_the_warehouse()


def _locked_job():
    """locked_job with the executor every pipeline job gets from the Definitions."""
    from orchestration.defs.execution import warehouse_executor

    return locked_job.with_executor_def(warehouse_executor)


def test_a_dagster_run_holds_the_warehouse_lock_from_first_step_to_last(
    tmp_path: Path, holder: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("O2C_LOCK_WAIT_SECONDS", "0")
    with DagsterInstance.ephemeral() as instance:
        busy = execute_job(reconstructable(_locked_job), instance=instance)
        assert not busy.success
        failure = busy.get_run_failure_event().event_specific_data.error.message
        found = HELD_BY.search(failure)
        assert found is not None and int(found[1]) == holder.pid, failure
        assert busy.get_step_success_events() == []  # no step ran
        # The run-failure notice (email, webhook) says the same line, not "an exception was thrown".
        from dagster import build_run_status_sensor_context

        from orchestration.defs.automation import failed_run

        notice = failed_run(
            build_run_status_sensor_context(
                sensor_name="run_failure_notice",
                dagster_instance=instance,
                dagster_run=busy.dagster_run,
                dagster_event=busy.get_run_failure_event(),
            ).for_run_failure()
        )
        assert notice.step is None and notice.error == failure.strip().removeprefix(
            "orchestration.warehouse_lock.WarehouseBusy: "
        )

        holder.kill()
        holder.wait()
        with execute_job(reconstructable(_locked_job), instance=instance) as result:
            assert result.success
            # Inside its step the run is the holder, under its run id.
            seen = result.output_for_node("write_the_warehouse")
        assert re.fullmatch(rf"pid {os.getpid()} \(dagster run {result.run_id}\) on \S+ since .* UTC", seen), seen


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_run_summaries_name_a_refused_port_a_corrupt_file_and_a_missing_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source that cannot be read: one line with the cause, at once (not after 3 retries with
    back-off, 35 s: no retry cures these), and no file made at a mistyped path. A corrupt SQLite
    ERP through `o2c run`'s summary (run_pipeline, in this process); the same connection check
    (ingestion's connect_sql, which loads and `o2c doctor` use) on a refused port and a typo."""
    from core.settings import get_settings
    from ingestion.pipeline import SourceUnavailable, connect_sql
    from orchestration.resources import ensure_dagster_home
    from orchestration.runner import run_pipeline

    port = _closed_port()
    with pytest.raises(SourceUnavailable) as refused:
        connect_sql("erp", f"postgresql+psycopg://postgres@127.0.0.1:{port}/erp")
    assert str(refused.value) == (
        f"erp: cannot connect to postgresql at 127.0.0.1:{port}/erp (O2C_ERP_URL): connection refused to 127.0.0.1:{port}"
    )
    missing = tmp_path / "typo" / "erp.sqlite"
    with pytest.raises(SourceUnavailable) as mistyped:
        connect_sql("erp", f"sqlite:///{missing}")
    assert str(mistyped.value) == f"erp: O2C_ERP_URL points at the SQLite file {missing}, which does not exist"
    assert not missing.parent.exists()

    corrupt = tmp_path / "erp.sqlite"
    corrupt.write_bytes(random.Random(19).randbytes(50_000))
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("O2C_ERP_URL", f"sqlite:///{corrupt}")
    settings = get_settings()
    monkeypatch.setenv("DAGSTER_HOME", str(settings.dagster_home))
    ensure_dagster_home(settings)
    summary = run_pipeline(settings, select="key:erp/*", log_level="CRITICAL")
    assert not summary.success
    assert summary.failures == [
        f"raw_erp: erp: corrupt database file at {corrupt} (O2C_ERP_URL): file is not a database"
    ]
    assert [(s.step, s.status) for s in summary.steps] == [("raw_erp", "failed")]
    retries = DagsterInstance.get().get_records_for_run(summary.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
    assert retries.records == []


@pytest.mark.check
def test_a_retried_step_is_summarised_by_its_cause_not_by_its_retries(tmp_path: Path) -> None:
    """Dagster words a step that exhausted its retries "Exceeded max_retries of N"; the summary
    (and the run-failure notice) names what failed underneath, from a real error chain."""
    from orchestration.runner import error_messages, failure_reason

    garbage = tmp_path / "warehouse.duckdb"
    garbage.write_bytes(random.Random(4).randbytes(300_000))
    missing = tmp_path / "landing" / "bank.csv"

    @op(retry_policy=RetryPolicy(max_retries=1))
    def open_warehouse() -> None:
        duckdb.connect(str(garbage)).close()

    @op(retry_policy=RetryPolicy(max_retries=1))
    def read_statement() -> None:
        missing.read_text()

    @op
    def refuse() -> None:
        raise Failure(description="erp: O2C_ERP_URL points at the SQLite file /srv/erp.sqlite, which does not exist")

    @job
    def failing() -> None:
        open_warehouse()
        read_statement()
        refuse()

    result = failing.execute_in_process(raise_on_error=False)
    reasons = {
        event.step_key: failure_reason(event.step_key, error_messages(event.event_specific_data.error))
        for event in result.all_events
        if event.is_step_failure
    }
    assert "Exceeded max_retries of 1" in error_messages(
        next(
            e for e in result.all_events if e.is_step_failure and e.step_key == "open_warehouse"
        ).event_specific_data.error
    )
    assert reasons == {
        "open_warehouse": f"open_warehouse: corrupt database file at {garbage}",
        "read_statement": f"read_statement: missing file at {missing}",
        "refuse": "refuse: erp: O2C_ERP_URL points at the SQLite file /srv/erp.sqlite, which does not exist",
    }


def _small_warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema marts; create table marts.fct_invoices as select range as invoice_id from range(1000)")
    con.close()


@pytest.mark.check
def test_a_publish_checks_free_space_first_and_clears_what_failed_publishes_left(tmp_path: Path) -> None:
    from orchestration.serving import SPACE_FLOOR_BYTES, NoSpace, publish

    serving = tmp_path / "serving" / "serving.duckdb"
    serving.parent.mkdir()
    # Left by a publish killed half-way (or one that filled the disk): the next one needs no hand.
    left = [
        serving.with_name(".serving.duckdb.run-killed.building"),
        serving.with_name(".serving.duckdb.run-killed.building.wal"),
    ]
    for path in left:
        path.write_bytes(b"half a file")

    # A warehouse as big as the disk's free space (sparse: it takes no room itself); its serving
    # file would need more.
    huge = tmp_path / "huge.duckdb"
    size = shutil.disk_usage(tmp_path).free
    with huge.open("wb") as file:
        file.truncate(size)
    with pytest.raises(NoSpace) as refused:
        publish(huge, serving, build_id="run-2", checks=[])
    needed = int(size * 1.25) + SPACE_FLOOR_BYTES
    message = str(refused.value)
    free = int(re.search(r", ([\d,]+) free under ", message)[1].replace(",", ""))
    assert message == (
        f"not enough free disk to publish {serving}: needs {needed:,} bytes, {free:,} free under {serving.parent}; "
        "the previous serving file stays"
    )
    assert abs(free - shutil.disk_usage(serving.parent).free) < 2**30
    assert not serving.exists() and not any(p.exists() for p in left)

    warehouse = tmp_path / "warehouse.duckdb"
    _small_warehouse(warehouse)
    published = publish(warehouse, serving, build_id="run-3", checks=[])
    assert published.tables["marts.fct_invoices"] == 1000
    assert sorted(p.name for p in serving.parent.iterdir()) == ["serving.duckdb"]


KEYS = {"marts.fct_ledger": "invoice_id", "marts.fct_aging": "as_of_date"}


def _describe(warehouse: Path) -> None:
    """Descriptions as dbt's persist_docs leaves them on the models, one with a quote in it."""
    con = duckdb.connect(str(warehouse))
    con.execute("comment on table marts.fct_ledger is 'Every event of an invoice''s life'")
    con.execute("comment on column marts.fct_ledger.amount is 'Signed, in the invoice''s currency'")
    con.execute("comment on column marts.dim_customers.customer_id is 'The customer'")
    con.close()


def _marts_comments(path: Path) -> list[tuple[str, str | None, str]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select table_name, null, comment from duckdb_tables() where schema_name = 'marts' and comment <> '' "
            "union all select table_name, column_name, comment from duckdb_columns() "
            "where schema_name = 'marts' and comment is not null order by all"
        ).fetchall()
    finally:
        con.close()


def _warehouse_of_a_day(path: Path, day: int, *, rewritten: list[str], all_new: bool = False) -> None:
    """A warehouse as a run leaves it: two tables that runs replace part of (their rows keep
    built_at: a ledger by invoice, an aging by as-of date), a table rebuilt whole, a forecast. On
    `day`, the invoices `rewritten` (and, with `all_new`, every row) were written again, with
    other amounts; the invoices are I0..I199 less those ever settled and gone."""
    con = duckdb.connect(str(path))
    for statement in (
        "create schema if not exists marts",
        "create schema if not exists forecasts",
        "create table if not exists marts.fct_ledger (event_id varchar, invoice_id varchar, amount decimal(18, 2), "
        "built_at timestamp)",
        "create table if not exists marts.fct_aging (as_of_date date, invoice_id varchar, open_balance decimal(18, 2), "
        "built_at timestamp)",
    ):
        con.execute(statement)
    built_at = dt.datetime(2026, 1, 1) + dt.timedelta(days=day)
    if day == 0 or all_new:
        con.execute("delete from marts.fct_ledger")
        con.execute(
            "insert into marts.fct_ledger select 'E' || i || '-' || j, 'I' || i, i + j, ? "
            "from range(200) as a(i), range(3) as b(j)",
            [built_at],
        )
    else:
        con.execute("delete from marts.fct_ledger where list_contains(?, invoice_id)", [rewritten])
        con.execute(
            "insert into marts.fct_ledger select 'E' || invoice_id || '-' || j, invoice_id, 1000 * ? + j, ? "
            "from unnest(?) as r(invoice_id), range(2) as b(j) where invoice_id <> 'I7'",
            [day, built_at, rewritten],
        )
    # the aging: every month-end so far, and today's date (yesterday's gone); today's rewritten
    con.execute("delete from marts.fct_aging where as_of_date > date '2026-01-31' or ?", [all_new])
    for as_of in ["2026-01-31"] * (day == 0 or all_new) + [str(dt.date(2026, 2, 1) + dt.timedelta(days=day))]:
        con.execute(
            "insert into marts.fct_aging select ?::date, invoice_id, sum(amount), ? from marts.fct_ledger group by all",
            [as_of, built_at],
        )
    con.execute(
        "create or replace table marts.dim_customers as select 'C' || range as customer_id, ? as day from range(5)",
        [day],
    )
    con.execute("create or replace table forecasts.cash_forecast as select ? as day, 1.5 as amount", [day])
    con.close()


def _differing_tables(serving: Path, warehouse: Path) -> list[str]:
    """The published tables whose rows differ between the serving file and the warehouse (except
    all, both ways), and those only one of the two has."""
    con = duckdb.connect(str(serving), read_only=True)
    try:
        con.execute("attach ? as warehouse (read_only)", [str(warehouse)])
        here = con.execute("select current_database()").fetchone()[0]
        tables = {
            catalog: set(
                con.execute(
                    "select schema_name, table_name from duckdb_tables() where database_name = ? "
                    "and schema_name in ('marts', 'forecasts')",
                    [catalog],
                ).fetchall()
            )
            for catalog in (here, "warehouse")
        }
        differ = {f"{schema}.{table}" for schema, table in tables[here] ^ tables["warehouse"]}
        for schema, table in tables[here] & tables["warehouse"]:
            ours, theirs = f'"{schema}"."{table}"', f'warehouse."{schema}"."{table}"'
            for a, b in ((ours, theirs), (theirs, ours)):
                if con.execute(f"select count(*) from (select * from {a} except all select * from {b})").fetchone()[0]:
                    differ.add(f"{schema}.{table}")
        return sorted(differ)
    finally:
        con.close()


@pytest.mark.check
def test_a_publish_takes_only_the_changed_keys_of_the_tables_a_run_replaces_part_of(tmp_path: Path) -> None:
    """The tables a run replaces part of (dbt's incremental models) are brought up to date in a
    copy of the last serving file, key by key; everything else is copied whole; the result is the
    warehouse's every time. A mark on a row the warehouse did not rewrite shows which way each
    went: it stays where only changed keys were taken, and goes with a full refresh, a warehouse
    older than the serving file, or a table whose columns changed."""
    from orchestration.serving import publish

    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving" / "serving.duckdb"
    marked = "update marts.fct_ledger set amount = -1 where invoice_id = 'I100'"

    def mark_survives() -> bool:
        con = duckdb.connect(str(serving))
        try:
            return con.execute("select count(*) from marts.fct_ledger where amount = -1").fetchone()[0] == 3
        finally:
            con.close()

    def published(build: str) -> dict[str, int]:
        tables = publish(warehouse, serving, build, [], replaced_by_key=KEYS).tables
        assert sorted(p.name for p in serving.parent.iterdir()) == ["serving.duckdb"]
        return tables

    _warehouse_of_a_day(warehouse, 0, rewritten=[])
    assert published("day-0")["marts.fct_ledger"] == 600
    assert _differing_tables(serving, warehouse) == []

    def mark_the_last_serving_file() -> None:
        con = duckdb.connect(str(serving))
        con.execute(marked)
        con.close()

    # Day 1: three invoices rewritten (one, I7, now without rows), the aging's today replaced;
    # the models' descriptions (dbt's persist_docs) reworded, one with a quote in it.
    mark_the_last_serving_file()
    _warehouse_of_a_day(warehouse, 1, rewritten=["I3", "I7", "I150"])
    _describe(warehouse)
    tables = published("day-1")
    assert (
        _marts_comments(serving)
        == _marts_comments(warehouse)
        == [  # a table taken by key, one whole
            ("dim_customers", "customer_id", "The customer"),
            ("fct_ledger", "amount", "Signed, in the invoice's currency"),
            ("fct_ledger", None, "Every event of an invoice's life"),  # the table's own, last
        ]
    )
    assert _differing_tables(serving, warehouse) == ["marts.fct_ledger"]  # the mark: not copied again
    assert mark_survives()
    assert tables["marts.fct_ledger"] == 600 - 3 * 3 + 2 * 2 and tables["marts.fct_aging"] == 200 + 199
    con = duckdb.connect(str(warehouse))
    con.execute(marked)  # (the warehouse has it too: the files are equal but for it)
    con.close()
    assert _differing_tables(serving, warehouse) == []

    # Day 2: every row written again (a full refresh): copied whole, the mark goes with the rest.
    mark_the_last_serving_file()
    _warehouse_of_a_day(warehouse, 2, rewritten=[], all_new=True)
    published("day-2")
    assert not mark_survives() and _differing_tables(serving, warehouse) == []

    # A warehouse restored from before the last publish: copied whole.
    restored = tmp_path / "restored.duckdb"
    shutil.copy(warehouse, restored)
    _warehouse_of_a_day(warehouse, 3, rewritten=["I5"])
    published("day-3")
    mark_the_last_serving_file()
    warehouse, restored = restored, warehouse
    published("restored")
    assert not mark_survives() and _differing_tables(serving, warehouse) == []

    # A column added to a table (an upgrade): copied whole.
    mark_the_last_serving_file()
    con = duckdb.connect(str(warehouse))
    con.execute("alter table marts.fct_ledger add column note varchar")
    con.close()
    published("upgraded")
    assert not mark_survives() and _differing_tables(serving, warehouse) == []


@pytest.mark.check
def test_the_publish_step_takes_the_changed_keys_of_every_incremental_mart() -> None:
    """The publish step names the published tables dbt replaces part of, with the key dbt replaces
    them by, from the manifest: the models' own config is their one home."""
    from orchestration.defs.transform import dbt_project
    from orchestration.serving import replaced_by_key

    assert replaced_by_key(dbt_project.manifest_path) == {
        "marts.fct_ar_aging": "as_of_date",
        "marts.fct_cash_applications": "invoice_id",
        "marts.fct_invoice_accuracy": "invoice_id",
        "marts.fct_invoices": "invoice_id",
        "marts.fct_o2c_cycle_times": "cycle_id",
        "marts.fct_open_item_balances": "invoice_id",
        "marts.fct_open_item_events": "invoice_id",
        "marts.fct_order_fulfilment": "order_id",
        "marts.fct_orders": "order_id",
        "marts.fct_payments": "payment_id",
    }


@pytest.fixture
def world(dashboard_world: Path, tmp_path: Path) -> Path:
    """A copy of the session's published world (tests/conftest.py), which this test breaks."""
    data = tmp_path / "data"
    shutil.copytree(dashboard_world, data)
    return data


def dbt_processes(warehouse: Path) -> set[int]:
    """dbt processes building `warehouse` (their environment names it). Public: the kill test of
    tests/test_orchestration_runs.py asserts with it that dbt died with its run."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            environment = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if (
            any(part.endswith(b"/dbt") for part in command)
            and f"O2C_WAREHOUSE_PATH={warehouse}".encode() in environment
        ):
            found.add(int(entry.name))
    return found


def test_a_corrupt_warehouse_is_named_then_rebuilt_from_the_sources_while_the_last_build_stays_served(
    world: Path,
) -> None:
    warehouse = world / "warehouse" / "warehouse.duckdb"
    serving = world / "warehouse" / "serving.duckdb"
    good_build, good_tables = serving_tables(serving)
    garbage = random.Random(6).randbytes(300_000)
    warehouse.write_bytes(garbage)

    failed = o2c(world, "run", check=False)
    assert failed.returncode == 1
    assert failed.stderr.splitlines() == [
        f"error: corrupt database file at {warehouse}: `o2c rebuild` moves it aside and rebuilds it from the sources"
    ]
    assert serving_tables(serving)[0] == good_build  # still served
    # What a killed run left: dbt's output, a half-built serving file. No hand cleans up first.
    killed_output = world / "dbt_runs" / "o2c_dbt_assets-0badc0de"
    (killed_output / "compiled").mkdir(parents=True)
    leftover = serving.with_name(".serving.duckdb.0badc0de.building")
    leftover.write_bytes(b"half a file")

    rebuilt = o2c(world, "rebuild")
    [aside] = sorted(warehouse.parent.glob("warehouse.duckdb.before-rebuild-*"))
    assert aside.read_bytes() == garbage  # the corrupt file is kept, not deleted
    assert f"Moved {warehouse} aside to {aside}" in rebuilt.stdout
    assert len(list(world.glob("dlt.before-rebuild-*"))) == 1
    build, tables = serving_tables(serving)
    assert build != good_build
    assert_same(tables, good_tables)  # the same sources give the same marts
    assert not leftover.exists() and not killed_output.exists()
    assert {p.name.rsplit("-", 1)[1] for p in (world / "dbt_runs").iterdir()} == {build[:8]}


@pytest.mark.check
def test_a_run_clears_what_earlier_runs_dbt_left_and_nothing_it_needs(tmp_path: Path) -> None:
    from orchestration.dbt_runner import LEFTOVER_SECONDS, MANIFEST, clean_run_output, run_output_dir

    data = tmp_path / "data"
    killed = run_output_dir(data) / "o2c_dbt_assets-1a2b3c4d"
    (killed / "compiled").mkdir(parents=True)
    (killed / "run_results.json").write_text("{}")
    target = MANIFEST.parent  # shared by every installation of this project: only old leftovers go
    old, young = target / f".parse-{os.getpid()}-old", target / f".parse-{os.getpid()}-young"
    for folder in (old, young):
        (folder / "target").mkdir(parents=True)
    hours_ago = time.time() - LEFTOVER_SECONDS - 3600
    os.utime(old, (hours_ago, hours_ago))
    try:
        removed = clean_run_output(data)
        assert {killed, old} <= set(removed) and young not in removed
        assert not run_output_dir(data).exists() and not old.exists() and young.exists()
        assert MANIFEST.exists() and (target / "semantic_manifest.json").exists()
    finally:
        shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(young, ignore_errors=True)
