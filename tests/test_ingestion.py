"""Ingestion into DuckDB: idempotent, incremental, every bad row accounted for, any SQL ERP."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
import sqlalchemy as sa

import simulator
from ingestion import sources
from ingestion.contract import ENTITIES, ERP_ENTITIES
from ingestion.pipeline import ingest, ingest_source
from simulator.writers import SIMULATED_ERP_ENTITIES
from tests.conftest import assert_same_tables, ingest_config, o2c, raw_tables, simulate_world

FIXTURES = Path(__file__).parent / "fixtures"


def test_ingest_twice_on_unchanged_sources_changes_nothing(tmp_path: Path, small_world: tuple[Path, str]) -> None:
    sources, url = small_world
    config = ingest_config(tmp_path, sources, url)
    first = ingest(config)
    before = raw_tables(config.warehouse, with_load_ids=True)
    assert before["raw_erp.invoices"].height > 500 and before["raw_bank.payments"].height > 100
    second = ingest(config)
    assert_same_tables(raw_tables(config.warehouse, with_load_ids=True), before)
    assert all(r.rows_loaded == 0 for report in second for r in report.entities)
    assert all(report.dlt_row_counts == {} for report in second)
    # The first run loaded every row it read.
    erp = next(r for r in first if r.source == "erp")
    assert {e.entity: e.rows_loaded for e in erp.entities}["invoices"] == before["raw_erp.invoices"].height


def _changed_in_erp(url: str, since: dt.datetime) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = {
            name: conn.execute(
                sa.text(f"select count(*) from {name} where updated_at >= :since"), {"since": since}
            ).scalar_one()
            for name in SIMULATED_ERP_ENTITIES
        }
    engine.dispose()
    return counts


def test_incremental_load_reads_only_changed_rows_and_equals_a_full_reload(tmp_path: Path) -> None:
    sources, url = simulate_world(tmp_path / "world")
    config = ingest_config(tmp_path / "incremental", sources, url, lookback_hours=0)
    first = next(r for r in ingest(config) if r.source == "erp")
    watermarks = {e.entity: e.watermark_to for e in first.entities}
    _, last_day, _ = simulator.load_state(sources)
    spec, _, _ = simulator.load_state(sources)
    simulator.advance(sources, url, 1)
    new_day = dt.datetime.combine(spec.start + dt.timedelta(days=last_day + 1), dt.time())
    expected = _changed_in_erp(url, new_day)
    assert expected["invoices"] > 0 and expected["sales_orders"] > 0

    at_or_after_watermark = {e: _changed_in_erp(url, w)[e] for e, w in watermarks.items() if w is not None}
    reports = {r.source: r for r in ingest(config)}
    erp = reports["erp"]
    assert {e.entity for e in erp.entities} - set(at_or_after_watermark) == {"payments"}  # no ERP table
    for entity in (e for e in erp.entities if e.entity in at_or_after_watermark):
        # Only rows at or after the watermark are read; exactly the changed ones are loaded.
        assert entity.rows_in == at_or_after_watermark[entity.entity], entity.entity
        assert erp.dlt_row_counts.get(entity.entity, 0) == expected[entity.entity], entity.entity
        assert entity.rows_loaded == expected[entity.entity], entity.entity
    assert sum(e.rows_in for e in erp.entities) < 0.1 * sum(e.rows_in for e in first.entities)
    # Files: only the new day's files are read (plus this month's FX file, which grew).
    assert reports["bank"].entities[0].files_read <= 1
    assert reports["processor"].entities[0].files_read <= 1
    assert reports["fx"].entities[0].files_read == 1

    full = ingest_config(tmp_path / "full", sources, url)
    ingest(full)
    assert_same_tables(raw_tables(config.warehouse), raw_tables(full.warehouse))


def _quarantine(warehouse: Path) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        schemas = [
            r[0]
            for r in con.sql(
                "select table_schema from information_schema.tables where table_name = 'quarantine' and table_schema not like '%staging'"
            ).fetchall()
        ]
        return pl.concat([pl.from_arrow(con.sql(f"select * from {s}.quarantine").to_arrow_table()) for s in schemas])
    finally:
        con.close()


def test_every_injected_fault_is_quarantined_or_reported_and_nothing_is_lost(
    tmp_path: Path, faulty_world: tuple[Path, str]
) -> None:
    sources, url = faulty_world
    _, _, faults = simulator.load_state(sources)
    assert {f["fault"] for f in faults} >= {
        "duplicate_rows",
        "negative_amount",
        "zero_amount",
        "unknown_currency",
        "orphan_payment",
        "malformed_date",
        "malformed_amount",
        "malformed_file",
        "malformed_json",
        "schema_drift_new_column",
        "schema_drift_missing_column",
        "orphan_application",
    }
    config = ingest_config(tmp_path, sources, url)
    reports = ingest(config)
    quarantine = _quarantine(config.warehouse)
    results = {(r.source, e.entity): e for r in reports for e in r.entities}
    for fault in faults:
        result = results[(fault["source"], fault["entity"])]
        if fault["expect"] == "blocked":
            continue  # valid under the contract: the data-quality suites catch it (tests/test_quality.py)
        if fault["expect"] == "warning":
            assert any(fault["file"] in w and fault["column"] in w for w in result.warnings), fault
            continue
        hits = quarantine.filter(
            (pl.col("source") == fault["source"])
            & (pl.col("entity") == fault["entity"])
            & (pl.col("file") == fault["file"])
            & pl.col("reason").str.contains(fault["reason"], literal=True)
        )
        assert hits.height >= 1, fault
        if fault["column"] is not None:
            assert (hits["column_name"] == fault["column"]).any(), fault
        if fault["value"] is not None:
            assert (hits["value"] == fault["value"]).any(), fault
        if fault["expect"] == "file_error":
            assert any(fault["file"] in e for e in result.errors), fault
    # Counts add up for every entity: rows in = rows loaded + rows quarantined (first load: nothing unchanged).
    for (source, entity), result in results.items():
        assert result.rows_in == result.rows_loaded + result.rows_unchanged + result.rows_quarantined, (source, entity)
    # Good rows of the same files still load: e.g. the rest of the file with the zero amount.
    zero = next(f for f in faults if f["fault"] == "zero_amount")
    rows = pl.read_csv(sources / "landing" / "bank" / zero["file"], infer_schema=False)
    loaded = raw_tables(config.warehouse)["raw_bank.payments"]
    good_ids = rows.filter(pl.col("amount") != "0.00")["bank_transaction_id"]
    assert good_ids.len() >= 1 and good_ids.is_in(loaded["payment_id"].implode()).all()
    # The column drift file loads, keeping the new column.
    drift = next(f for f in faults if f["fault"] == "schema_drift_new_column")
    assert loaded.filter(pl.col("_source_file") == drift["file"])["channel_code"].to_list()[0] == "SEPA"


def test_a_load_spilled_to_disk_in_buckets_equals_one_held_in_memory(
    tmp_path: Path, faulty_world: tuple[Path, str]
) -> None:
    """Large loads go to disk and are conformed in key buckets; duplicates split across files
    and chunks must still be found, and every count must match the load held in memory."""
    sources, url = faulty_world
    whole = ingest_config(tmp_path / "memory", sources, url)
    spilled = ingest_config(tmp_path / "disk", sources, url, spill_rows=300)
    reports = {config: ingest(config) for config in (whole, spilled)}
    counts = {
        config: {
            (r.source, e.entity): (e.rows_in, e.rows_new, e.rows_quarantined, e.watermark_to)
            for r in reports[config]
            for e in r.entities
        }
        for config in reports
    }
    assert counts[whole] == counts[spilled]
    assert counts[whole][("erp", "invoice_lines")][0] > 5 * 300  # really spilled, in several files
    tables = {config: raw_tables(config.warehouse) for config in reports}
    assert tables[whole]["raw_bank.quarantine"].filter(pl.col("reason").str.contains("duplicate primary key")).height
    assert_same_tables(tables[spilled], tables[whole])  # rows and quarantine records alike
    assert not any((spilled.dlt_dir / "spill").rglob("*.parquet"))  # cleaned up after the load


def test_quarantine_messages_name_source_entity_column_and_value(
    tmp_path: Path, faulty_world: tuple[Path, str]
) -> None:
    sources, url = faulty_world
    config = ingest_config(tmp_path, sources, url)
    ingest(config)
    row = _quarantine(config.warehouse).filter(pl.col("reason").str.contains("unknown currency")).row(0, named=True)
    assert (row["source"], row["entity"], row["column_name"], row["value"]) == (
        "processor",
        "payments",
        "currency",
        "XYZ",
    )
    assert row["file"].endswith(".jsonl") and row["row_number"] >= 1 and '"XYZ"' in row["record"]


@pytest.mark.postgres
def test_postgres_and_sqlite_erps_produce_the_same_raw_tables(
    tmp_path: Path, small_world: tuple[Path, str], postgres_url: str
) -> None:
    pg_sources, _ = simulate_world(tmp_path / "pg", erp_url=postgres_url)
    sqlite_sources, sqlite_url = small_world
    from_pg = ingest_config(tmp_path / "from_pg", pg_sources, postgres_url)
    from_sqlite = ingest_config(tmp_path / "from_sqlite", sqlite_sources, sqlite_url)
    ingest_source("erp", from_pg, "pg")
    ingest_source("erp", from_sqlite, "sqlite")
    pg_tables, sqlite_tables = raw_tables(from_pg.warehouse), raw_tables(from_sqlite.warehouse)
    assert set(pg_tables) == {f"raw_erp.{e}" for e in ERP_ENTITIES} | {"raw_erp.quarantine"}
    for name, table in sqlite_tables.items():
        # A clean world quarantines nothing; the simulated ERP keeps its receipts in files.
        assert table.height > 0 or name in ("raw_erp.quarantine", "raw_erp.payments"), name
        assert pg_tables[name].equals(table), name
    con = duckdb.connect(str(from_pg.warehouse), read_only=True)
    types = dict(
        con.sql(
            "select column_name, data_type from information_schema.columns where table_schema = 'raw_erp' and table_name = 'invoices'"
        ).fetchall()
    )
    con.close()
    assert (
        types["invoice_amount"] == "DECIMAL(18,2)"
        and types["invoice_date"] == "DATE"
        and types["updated_at"] == "TIMESTAMP"
    )


def test_a_database_without_an_adbc_driver_reads_the_same_values(tmp_path: Path) -> None:
    """SQLite and PostgreSQL are read through ADBC; any other database through dlt's `pyarrow`
    backend. An in-memory SQLite database has no ADBC route, so it stands for "any other"."""
    statements = [
        "create table invoices (invoice_id text, customer_id text, invoice_date date, "
        "invoice_amount numeric(18, 2), payment_terms_days integer, po_number text, updated_at timestamp)",
        "insert into invoices values ('I1', 'C1', '2026-01-10', 100.5, 30, null, '2026-01-10 09:00:00'), "
        "('I2', 'C2', '2026-01-20', 200, 45, 'PO-7', '2026-02-01 10:30:00')",
    ]
    in_memory = sa.create_engine("sqlite://", poolclass=sa.pool.StaticPool)
    on_disk = sa.create_engine(f"sqlite:///{tmp_path / 'erp.sqlite'}")
    for engine in (in_memory, on_disk):
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)

    def read(engine: sa.Engine, since: dt.datetime | None) -> pl.DataFrame:
        frame = pl.concat(sources.read_sql_table(engine, "erp", "invoices", since))
        # The two routes spell a timestamp differently (09:00:00 or 09:00:00.000000); conform parses both.
        return frame.with_columns(pl.col("updated_at").str.to_datetime())

    generic, adbc = read(in_memory, None), read(on_disk, None)
    assert generic.equals(adbc)
    assert generic.select("invoice_id", "invoice_date", "invoice_amount", "payment_terms_days", "po_number").rows() == [
        ("I1", "2026-01-10", "100.50", "30", None),
        ("I2", "2026-01-20", "200.00", "45", "PO-7"),
    ]
    assert generic["_source_row"].to_list() == [1, 2]
    since = dt.datetime(2026, 1, 15)
    assert read(in_memory, since)["invoice_id"].to_list() == read(on_disk, since)["invoice_id"].to_list() == ["I2"]


def test_a_hand_made_folder_in_the_contract_loads(tmp_path: Path, small_world: tuple[Path, str]) -> None:
    sources, url = small_world
    folder = tmp_path / "contract"
    shutil.copytree(FIXTURES / "contract_folder", folder)
    pl.read_csv(folder / "payments.csv", infer_schema=False).write_parquet(folder / "payments_2026.parquet")
    (folder / "payments.csv").unlink()
    config = ingest_config(tmp_path, sources, url, contract_dir=folder)
    report = ingest_source("files", config, "byod")
    results = {e.entity: e for e in report.entities}
    assert set(results) == {"customers", "invoices", "payments", "fx_rates"}
    tables = raw_tables(config.warehouse)
    assert tables["raw_files.customers"]["customer_id"].to_list() == ["ACME-1", "GLOBEX-2"]
    invoices = tables["raw_files.invoices"]
    assert invoices["invoice_amount"].cast(pl.String).to_list() == ["1200.00", "830.50"]
    assert str(invoices.schema["invoice_amount"]) == "Decimal(precision=18, scale=2)"
    # The one payment for an unknown customer is quarantined, the other loads.
    assert tables["raw_files.payments"]["payment_id"].to_list() == ["PMT-1"]
    assert results["payments"].rows_quarantined == 1
    assert tables["raw_files.quarantine"]["reason"].to_list() == ["customer_id: unknown customer (not in customers)"]


def test_contract_docs_are_generated_from_the_contract() -> None:
    from orchestration.cli import render_sources_doc

    doc = (Path(__file__).parents[1] / "docs" / "sources.md").read_text()
    assert render_sources_doc(doc) == doc, "docs/sources.md is stale: run `make contract-docs`"
    for entity in ENTITIES.values():
        assert f"### `{entity.name}`" in doc
    from ingestion.contract import dbt_macro

    macro = (Path(__file__).parents[1] / "dbt_project" / "macros" / "contract_columns.sql").read_text()
    assert macro == dbt_macro(), "the dbt contract macro is stale: run `make contract-docs`"


def test_every_entity_of_a_source_gets_a_raw_table_even_when_empty(tmp_path: Path) -> None:
    sources, url = simulate_world(tmp_path / "world", customers=3, days=5)
    # No processor folder: a source this installation does not have, skipped. An empty bank
    # folder: a source with no statements yet.
    shutil.rmtree(sources / "landing" / "processor")
    for statement in (sources / "landing" / "bank").iterdir():
        statement.unlink()
    config = ingest_config(tmp_path, sources, url)
    reports = ingest(config)
    assert [r.source for r in reports] == ["erp", "bank", "fx", "ops"]
    tables = raw_tables(config.warehouse)
    for entity in ERP_ENTITIES:  # payments too, which the simulated ERP has no table for
        assert f"raw_erp.{entity}" in tables, entity
    assert tables["raw_erp.payments"].height == 0
    assert not any(name.startswith("raw_processor.") for name in tables)
    assert tables["raw_bank.payments"].height == 0
    assert str(tables["raw_bank.payments"].schema["amount"]) == "Decimal(precision=18, scale=2)"
    # A statement arriving later merges into the empty table.
    (sources / "landing" / "bank" / "statement_late.csv").write_text(
        "statement_id,bank_transaction_id,booking_date,value_date,amount,currency,counterparty_name,"
        "counterparty_account,remittance_information,transaction_code\n"
        "S1,BT-LATE-1,2026-06-30,2026-06-30,125.40,EUR,ACME,DE01,INV1,CREDIT_TRANSFER\n"
    )
    (report,) = ingest(config, ["bank"])
    assert report.entities[0].rows_new == 1
    assert raw_tables(config.warehouse)["raw_bank.payments"]["amount"].cast(pl.String).to_list() == ["125.40"]


def test_memory_cap_holds_inside_the_step_only_and_takes_only_sizes(tmp_path: Path) -> None:
    from core.db import connect, memory_limited

    con = connect(tmp_path / "w.duckdb")
    setting = "select current_setting('memory_limit')"
    try:
        default = con.execute(setting).fetchall()[0][0]
        with memory_limited(con, "512MiB"):
            assert con.execute(setting).fetchall()[0][0] == "512.0 MiB"
        assert con.execute(setting).fetchall()[0][0] == default
        with pytest.raises(ValueError, match="not a size"), memory_limited(con, "1GB'; drop table x; --"):
            pass
    finally:
        con.close()


def test_an_erp_with_cash_receipts_and_no_updated_at_loads_them(tmp_path: Path) -> None:
    """A minimal accounting database: customers, invoices with no updated_at (a full snapshot),
    a receipts table; no orders, disputes or applications tables at all."""
    erp = tmp_path / "books.sqlite"
    with sa.create_engine(f"sqlite:///{erp}").begin() as conn:
        conn.exec_driver_sql("create table customers (customer_id text, customer_name text)")
        conn.exec_driver_sql("insert into customers values ('C1', 'Alpha'), ('C2', 'Beta')")
        conn.exec_driver_sql(
            "create table invoices (invoice_id text, invoice_number text, customer_id text, invoice_date text, "
            "payment_terms_days integer, currency text, invoice_amount numeric(18, 2))"
        )
        conn.exec_driver_sql(
            "insert into invoices values ('I1', 'N-1', 'C1', '2026-01-10', 30, 'USD', 100.5), "
            "('I2', 'N-2', 'C2', '2026-01-20', 45, 'USD', 200)"
        )
        conn.exec_driver_sql(
            "create table payments (payment_id text, customer_id text, invoice_id text, payment_date text, "
            "amount numeric(18, 2), currency text, updated_at text)"
        )
        conn.exec_driver_sql("insert into payments values ('P1', 'C1', 'I1', '2026-02-01', 100.5, 'USD', '2026-02-01')")
    config = ingest_config(tmp_path, tmp_path, f"sqlite:///{erp}")
    (report,) = ingest(config, ["erp"])
    results = {r.entity: r for r in report.entities}
    assert (results["customers"].rows_new, results["invoices"].rows_new, results["payments"].rows_new) == (2, 2, 1)
    assert all(not r.errors for r in report.entities)
    tables = raw_tables(config.warehouse)
    invoices = tables["raw_erp.invoices"]
    # Due dates from the terms days; the snapshot's rows are stamped with the load time.
    assert invoices["due_date"].to_list() == [dt.date(2026, 2, 9), dt.date(2026, 3, 6)]
    assert invoices["updated_at"].null_count() == 0
    payments = tables["raw_erp.payments"]
    assert payments.select("payment_id", "invoice_id", "payment_type").rows() == [("P1", "I1", "payment")]
    assert tables["raw_erp.disputes"].height == 0  # an absent optional table is an empty raw table
    # A database without the required invoices table says so, naming the table.
    with sa.create_engine(f"sqlite:///{erp}").begin() as conn:
        conn.exec_driver_sql("drop table invoices")
    (again,) = ingest(config, ["erp"])
    errors = [e for r in again.entities for e in r.errors]
    assert errors == [f"erp: the database (the SQLite file {erp}) has no table 'invoices', which the contract requires"]


def _usage_events_sent(data_dir: Path, env: dict[str, str]) -> list[str]:
    """The usage events dlt sends while `o2c ingest` loads a hand-made contract folder, caught by a
    local HTTP server standing in for dlthub's telemetry endpoint."""
    import http.server
    import json
    import threading

    events: list[str] = []

    class Endpoint(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            events.append(json.loads(body or b"{}").get("event"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        contract = str(FIXTURES / "contract_folder")
        o2c(data_dir, "ingest", "--source", "files",
            env={"O2C_CONTRACT_DIR": contract, "RUNTIME__DLTHUB_TELEMETRY_ENDPOINT": endpoint, **env})  # fmt: skip
    finally:
        server.shutdown()
    return events


def test_ingestion_sends_no_usage_events_unless_the_operator_turns_them_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNTIME__DLTHUB_TELEMETRY", raising=False)  # o2c's default, whatever this shell set
    # dlt reports every pipeline step to dlthub by default; a company's loads stay on its machine.
    assert _usage_events_sent(tmp_path / "default", {}) == []
    # The same load with dlt's own setting turned on does send them: the endpoint above is listening.
    sent = _usage_events_sent(tmp_path / "opted_in", {"RUNTIME__DLTHUB_TELEMETRY": "true"})
    assert {"pipeline_extract", "pipeline_load", "pipeline_run"} <= set(sent)
