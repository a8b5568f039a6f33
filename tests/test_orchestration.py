"""Dagster orchestration: the asset graph, runs that publish only good builds, and readers that
never see a half-built or locked serving file."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from core.settings import REPO_ROOT as REPO
from ingestion.pipeline import SOURCES
from orchestration.dbt_runner import DBT_PROJECT, prepare_manifest_if_stale
from tests.conftest import END, O2C, o2c

WORLD = ["--customers", "50", "--days", "100", "--end-date", END.isoformat()]


def serving_tables(path: Path) -> tuple[str, dict[str, pl.DataFrame]]:
    """The build id and every published mart, sorted, from a serving (or warehouse) file; without
    when its rows were built."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        build_id = (
            con.sql("select build_id from _meta").fetchall()[0][0]
            if con.sql("select count(*) from information_schema.tables where table_name = '_meta'").fetchall()[0][0]
            else ""
        )
        names = [
            r[0]
            for r in con.sql(
                "select table_name from information_schema.tables where table_schema = 'marts' and table_type = 'BASE TABLE' order by 1"
            ).fetchall()
        ]
        tables = {n: pl.from_arrow(con.sql(f'select * from marts."{n}" order by all').to_arrow_table()) for n in names}
        # when a row was built (a model incremental by loads) differs between two builds of the same sources
        return build_id, {n: t.drop("built_at", strict=False) for n, t in tables.items()}
    finally:
        con.close()


def assert_same(actual: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    assert actual.keys() == expected.keys()
    for name, table in expected.items():
        assert actual[name].equals(table), name


def test_definitions_hold_the_whole_asset_graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prepare_manifest_if_stale()  # `make setup` parsed it; again only if a project file changed since
    from dagster import AssetKey

    from ingestion.contract import ENTITIES, ERP_ENTITIES
    from orchestration.definitions import defs as load_definitions

    # No source configured at all: the graph still holds every source the contract knows.
    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    defs = load_definitions()
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    raw = (
        {AssetKey(["erp", e]) for e in ERP_ENTITIES}
        | {AssetKey(["files", e]) for e in ENTITIES}
        | {
            AssetKey(["processor", "payments"]),
            AssetKey(["bank", "payments"]),
            AssetKey(["fx", "fx_rates"]),
            AssetKey(["ops", "collection_actions"]),
        }
    )
    assert raw <= keys
    assert list(tmp_path.iterdir()) == []  # loading the definitions wrote nothing
    manifest = json.loads((DBT_PROJECT / "target" / "manifest.json").read_text())
    models = {n["name"]: n for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert len(models) >= 35
    for name, node in models.items():
        # dagster-dbt keys a model by its configured schema (the semantic folder builds into marts).
        assert AssetKey([node["config"]["schema"] or node["fqn"][1], name]) in keys, name
    # dbt's data tests run inside dbt build and are recorded in quality.dq_results, not made
    # Dagster checks; Dagster's checks are the GX suites and dbt's source freshness.
    assert {k.name for k in graph.asset_check_keys} == {"gx_suite", "source_freshness"}
    # Freshness: dbt's source freshness, one check per source table the YAML gives a bound (the raw
    # tables; the forecasts, dbt sources too, are written by the build and have none).
    sources = {
        n["source_name"] + "." + n["name"]
        for n in manifest["sources"].values()
        if n["freshness"]["error_after"]["count"] is not None
    }
    assert {s.split(".")[0] for s in sources} == set(SOURCES)
    freshness = {".".join(k.asset_key.path) for k in graph.asset_check_keys if k.name == "source_freshness"}
    assert freshness == sources
    assert AssetKey(["serving", "warehouse"]) in keys
    # Publish waits for every mart and every forecast; forecasts follow the marts they read.
    marts = {AssetKey(["marts", n]) for n, node in models.items() if node["fqn"][1] == "marts"}
    forecasts = {
        AssetKey(["forecasts", n])
        for n in ("customer_clv", "backtests", "pay_date_predictions", "revenue_forecast", "cash_forecast")
    }
    scoring = {AssetKey(["forecasts", f"{n}_forecast_vs_actual"]) for n in ("cash", "revenue")}
    assert marts | forecasts | scoring <= set(graph.get(AssetKey(["serving", "warehouse"])).parent_keys)
    # The scoring models are in the one dbt step: they read the histories earlier runs left, not
    # this run's forecasting steps (which come after that step).
    assert graph.get(AssetKey(["forecasts", "cash_forecast_vs_actual"])).parent_keys == {
        AssetKey(["forecasts", "cash_forecast_history"]),
        AssetKey(["intermediate", "int_data_as_of"]),
        AssetKey(["marts", "fct_receipts_weekly"]),
    }
    assert AssetKey(["marts", "fct_ar_aging"]) in graph.get(AssetKey(["forecasts", "backtests"])).parent_keys
    assert {AssetKey(["forecasts", "pay_date_predictions"]), AssetKey(["forecasts", "revenue_forecast"])} <= set(
        graph.get(AssetKey(["forecasts", "cash_forecast"])).parent_keys
    )
    assert {j.name for j in defs.jobs} >= {"full_build", "ingest_only", "dbt_only", "publish_only"}
    assert {s.name for s in defs.schedules} == {
        "daily_build",
        "source_freshness",
        "collector_reports_daily",
        "cfo_digest_weekly",
        "dunning_daily",
    }
    assert {s.name for s in defs.sensors} >= {"new_payment_files"}
    # Every step that writes the warehouse is in the single-writer pool.
    pools = {a.op.pool for a in defs.assets if hasattr(a, "op") and a.op.pool}
    assert pools == {"warehouse"}
    # Every run that writes the warehouse holds its lock from first step to last (a Dagster run in
    # one process inside it); the alert jobs, which read the serving file only, do not wait for it.
    from dagster import in_process_executor

    from orchestration.defs.execution import warehouse_executor

    for name in ("full_build", "ingest_only", "dbt_only", "publish_only", "source_freshness_checks"):
        assert defs.resolve_job_def(name).executor_def is warehouse_executor, name
    for name in ("collector_reports", "cfo_digest", "dunning", "after_publish"):
        assert defs.resolve_job_def(name).executor_def is in_process_executor, name


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root: size and modification time."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file() and ".venv" not in path.parts
    }


def test_a_fresh_clone_loads_the_definitions_after_make_setup(tmp_path: Path) -> None:
    """A clone has no manifest and no data; importing the definitions reads and writes nothing,
    `make setup` parses dbt, and then Dagster loads the code location with no O2C_* set."""
    clone = tmp_path / "clone"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True)
    for name in tracked.stdout.split("\0"):
        if name and (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    (clone / ".venv").symlink_to(REPO / ".venv")  # `make setup`'s environment, already synced
    assert not (clone / "dbt_project" / "target").exists()
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(clone),  # the clone's code, not this checkout's
        "PYTHONDONTWRITEBYTECODE": "1",  # Python's own cache is not the code's doing
        "DAGSTER_HOME": str(home),
    }
    bin_dir = Path(sys.executable).parent

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=clone, env=env, capture_output=True, text=True, timeout=600)

    before = _files(clone)
    imported = run(
        sys.executable,
        "-c",
        "import sys, orchestration.definitions as d; print(d.__file__); "
        "print(sorted(m for m in sys.modules if m.startswith(('orchestration', 'dagster_dbt', 'dlt'))))",
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
    module_file, modules = imported.stdout.splitlines()[-2:]
    assert module_file == str(clone / "orchestration" / "definitions.py")
    # Nothing that reads the settings, the manifest or dlt's state was even imported.
    assert modules == "['orchestration', 'orchestration.definitions']"
    assert _files(clone) == before

    # make setup (the environment is there already: only the manifest is made).
    made = run("make", "-o", ".venv/.synced", "setup", f"BIN={bin_dir}")
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert (clone / "dbt_project" / "target" / "manifest.json").is_file()

    before = _files(clone)
    validated = run(str(bin_dir / "dagster"), "definitions", "validate", "-m", "orchestration.definitions")
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-3000:]
    assert "Validation successful for code location orchestration.definitions" in validated.stdout + validated.stderr
    assert _files(clone) == before  # loading wrote nothing either (no data/, no dlt state)


def test_full_graph_in_process_publishes_the_warehouse_marts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import get_settings
    from orchestration.definitions import defs as load_definitions
    from orchestration.resources import ensure_dagster_home
    from orchestration.runner import run_pipeline

    # The definitions imported and loaded while the settings point elsewhere (no sources, another
    # warehouse): a run reads the settings when its steps run, so it builds the world set below.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("O2C_DATA_DIR", str(elsewhere))
    prepare_manifest_if_stale()  # `make setup` parsed it; again only if a project file changed since
    load_definitions()
    world = tmp_path / "world"
    monkeypatch.setenv("O2C_DATA_DIR", str(world))
    monkeypatch.setenv("DAGSTER_HOME", str(world / "dagster"))
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")  # dbt logs "Partial parsing enabled" at debug
    o2c(world, "simulate", *WORLD)
    settings = get_settings()
    ensure_dagster_home(settings)  # sets DAGSTER_HOME, restored by monkeypatch
    summary = run_pipeline(settings)
    assert summary.success, summary.failures
    assert ("serving__warehouse", "succeeded") in [(s.step, s.status) for s in summary.steps]
    # No contract folder is configured: its step succeeds and loads nothing.
    assert ("raw_files", "succeeded") in [(s.step, s.status) for s in summary.steps]
    assert list(elsewhere.iterdir()) == []
    build_id, published = serving_tables(settings.serving)
    assert build_id == summary.run_id
    _, warehouse = serving_tables(settings.warehouse)
    assert len(published) >= 11 and published["fct_invoices"].height > 100
    assert_same(published, warehouse)
    con = duckdb.connect(str(settings.serving), read_only=True)
    checks = json.loads(con.sql("select check_results from _meta").fetchall()[0][0])
    watermarks = json.loads(con.sql("select source_watermarks from _meta").fetchall()[0][0])
    schemas = {r[0] for r in con.sql("select schema_name from information_schema.schemata").fetchall()}
    con.close()
    assert len(checks) > 100 and all(c["passed"] for c in checks)
    assert {c["asset"] for c in checks if c["check"] == "gx_suite"} >= {"erp/invoices", "bank/payments"}
    # The marts are checked by dbt tests, recorded under their model with the test and its column.
    assert {c["check"] for c in checks if c["asset"] == "marts/fct_invoices"} >= {
        "not_before(due_date)",
        "unique(invoice_id)",
    }
    con = duckdb.connect(str(settings.serving), read_only=True)
    dq = con.sql("select suite, bool_and(success), count(*) from quality.dq_results group by 1").fetchall()
    con.close()
    assert {suite for suite, _, _ in dq} >= {"raw_invoices", "raw_payments", "dbt_fct_invoices", "dbt_fct_ar_aging"}
    assert all(passed for _, passed, _ in dq)
    docs = (world / "gx" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").read_text()
    assert "raw_invoices" in docs
    assert {w["source"] for w in watermarks} == {"erp", "processor", "bank", "fx", "ops"}
    assert not schemas & {"raw_erp", "staging", "intermediate"}  # marts only
    assert_the_dbt_step_builds_data_from_a_saved_parse(world, summary.run_id)
    assert_dagster_reads_the_run_from_its_own_event_log(settings.dagster_home, summary.run_id)
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    raw_schemas = {r[0] for r in con.sql("select schema_name from information_schema.schemata").fetchall()}
    con.close()
    assert {"raw_erp", "raw_processor", "raw_bank", "raw_fx", "raw_ops"} <= raw_schemas
    assert "raw_files" not in raw_schemas


def assert_dagster_reads_the_run_from_its_own_event_log(home: Path, run_id: str) -> None:
    """o2c writes the event log through PooledSqliteEventLogStorage (its databases kept connected:
    orchestration/dagster_events.py), and what it writes is Dagster's own: Dagster's plain SQLite
    storage, as a Dagster UI with the default configuration would, finds every asset the run
    materialised both in the run's log and in the cross-run index."""
    from dagster import AssetKey, DagsterEventType, DagsterInstance
    from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

    from orchestration.dagster_events import PooledSqliteEventLogStorage

    assert isinstance(DagsterInstance.get().event_log_storage, PooledSqliteEventLogStorage)
    plain = SqliteEventLogStorage(str(home / "history" / "runs"))
    logged = {
        event.dagster_event.asset_key
        for event in plain.get_logs_for_run(run_id)
        if event.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION
    }
    assert {
        AssetKey(["erp", "invoices"]),
        AssetKey(["marts", "fct_invoices"]),
        AssetKey(["serving", "warehouse"]),
    } <= logged
    latest = plain.get_latest_materialization_events(list(logged))
    assert {key for key, event in latest.items() if event is not None and event.run_id == run_id} == logged


def assert_the_dbt_step_builds_data_from_a_saved_parse(data_dir: Path, run_id: str) -> None:
    """The pipeline's dbt builds models and their data tests, no unit tests (logic on fixed rows,
    run by make test), the forecasts' scoring models with the marts, in one dbt step; it starts
    from a saved parse instead of parsing the whole project again, and leaves its own in the data
    directory for the next."""
    runs = data_dir / "dbt_runs"
    assert sorted(p.name for p in runs.iterdir()) == [f"o2c_dbt_assets-{run_id[:8]}"]  # one dbt step
    built = json.loads((runs / f"o2c_dbt_assets-{run_id[:8]}" / "run_results.json").read_text())
    # models, data tests and the on-run-start hook (macros/lake.sql; nothing to do on DuckDB)
    assert {r["unique_id"].split(".")[0] for r in built["results"]} == {"model", "test", "operation"}
    assert {"model.o2c.cash_forecast_vs_actual", "model.o2c.revenue_forecast_vs_actual"} <= {
        r["unique_id"] for r in built["results"]
    }
    assert (data_dir / "dbt_parse" / "partial_parse.msgpack").is_file()
    # dbt's log of a whole build passes the 10 MB at which dbt rolls it over to dbt.log.1
    log = "".join(path.read_text() for path in (runs / f"o2c_dbt_assets-{run_id[:8]}").glob("dbt.log*"))
    assert "Partial parsing enabled" in log and "Unable to do partial parsing" not in log
    # As lines of text, as `o2c build` writes it, though dagster-dbt reads dbt's output as JSON.
    assert "[info ] [MainThread]: Running with dbt=" in log and not log.lstrip().startswith("{")


def _start(data_dir: Path, *args: str) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    env = {**os.environ, "O2C_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    process = subprocess.Popen(
        [*O2C, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    return process, lines


def test_the_dagster_ui_serves_the_pipeline(tmp_path: Path) -> None:
    """`make dagster` (o2c ui): the web UI comes up and its code location loads every job."""
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process, _ = _start(tmp_path, "ui", "--port", str(port))
    query = b'{"query": "{ repositoriesOrError { ... on RepositoryConnection { nodes { jobs { name } schedules { name } sensors { name } } } } }"}'
    try:
        deadline, body = time.monotonic() + 180, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql", data=query, headers={"Content-Type": "application/json"}
                )
                body = json.loads(urllib.request.urlopen(request, timeout=5).read())
                if body["data"]["repositoriesOrError"].get("nodes"):
                    break
            except OSError:
                pass
            time.sleep(2)
        assert body is not None, "the UI never answered"
        (repository,) = body["data"]["repositoriesOrError"]["nodes"]
        assert {j["name"] for j in repository["jobs"]} >= {
            "full_build",
            "ingest_only",
            "dbt_only",
            "publish_only",
            "collector_reports",
            "cfo_digest",
            "dunning",
            "after_publish",
        }
        assert {s["name"] for s in repository["schedules"]} == {
            "daily_build",
            "source_freshness",
            "collector_reports_daily",
            "cfo_digest_weekly",
            "dunning_daily",
        }
        assert {s["name"] for s in repository["sensors"]} == {
            "new_payment_files",
            "alerts_after_publish",
            "run_failure_notice",
        }
        assert (tmp_path / "dagster" / "dagster.yaml").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
