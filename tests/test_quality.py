"""Data-quality suites: a clean world passes them all; every fault the simulator injects is
caught, by the source contract (quarantine) or by a suite (the run is blocked), with a message
that names the entity, the column and a sample value, and no good row is lost."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

import simulator
from ingestion.contract import ENTITIES, Entity
from ingestion.pipeline import SOURCES, ingest, ingest_source, source_entities
from orchestration.dbt_runner import run_dbt
from quality import checked_loads, suites
from quality.dbt_results import dbt_test_results, record_dbt_results
from quality.results import ERROR, SCHEMA_DRIFT, WARN, CheckResult, data_docs_index
from quality.suites import check_warehouse
from tests.conftest import ingest_config, raw_tables

BUILT_IN = [s for s in SOURCES if s != "files"]


def test_a_clean_world_passes_every_suite(tmp_path: Path, small_world: tuple[Path, str]) -> None:
    sources, url = small_world
    config = ingest_config(tmp_path, sources, url)
    ingest(config)
    everything = check_warehouse(config.warehouse, BUILT_IN, source_entities, run_id="full", full=True)
    latest = check_warehouse(config.warehouse, BUILT_IN, source_entities, run_id="latest")
    assert len(everything) > 200 and len(latest) > 200
    assert [r.message for r in everything + latest if not r.success] == []
    assert {r.entity for r in everything} >= {"invoices", "payments", "customers", "fx_rates", "payment_applications"}
    con = duckdb.connect(str(config.warehouse), read_only=True)
    recorded = con.sql("select run_id, count(*) from quality.dq_results group by 1 order by 1").fetchall()
    con.close()
    assert recorded == [("full", len(everything)), ("latest", len(latest))]


def test_every_injected_fault_is_caught_and_named(tmp_path: Path, faulty_world: tuple[Path, str]) -> None:
    sources, url = faulty_world
    _, _, faults = simulator.load_state(sources)
    config = ingest_config(tmp_path, sources, url)
    ingest(config)
    results = check_warehouse(config.warehouse, BUILT_IN, source_entities, run_id="faults", full=True)
    tables = raw_tables(config.warehouse)
    quarantine = pl.concat([tables[f"raw_{s}.quarantine"] for s in BUILT_IN])
    caught_by: dict[str, str] = {}
    for fault in faults:
        failed = [
            r for r in results
            if not r.success and r.source == fault["source"] and r.entity == fault["entity"]
        ]  # fmt: skip
        if fault["expect"] == "blocked":
            # Valid under the contract, so loaded (nothing lost), and caught by an error-severity suite.
            hits = [
                r
                for r in failed
                if r.severity == ERROR and r.expectation == fault["reason"] and fault["column"] in (r.column or "")
            ]
            assert hits, fault
            message = hits[0].message
            assert f"{fault['source']}.{fault['entity']}.{fault['column']}" in message
            assert fault["value"] in message, (fault, message)
            caught_by[fault["fault"]] = hits[0].expectation
        elif fault["expect"] == "warning":
            # Kept and named as a warning: the check passes, so nothing fails or blocks.
            hits = [
                r
                for r in results
                if r.source == fault["source"] and r.entity == fault["entity"] and r.warning
                and r.expectation == SCHEMA_DRIFT and fault["column"] in r.sample
            ]  # fmt: skip
            assert hits and hits[0].severity == WARN and hits[0].success, fault
            caught_by[fault["fault"]] = hits[0].expectation
        else:
            # Quarantined by the contract before loading: the row is kept with its reason...
            kept = quarantine.filter(
                (pl.col("file") == fault["file"]) & pl.col("reason").str.contains(fault["reason"], literal=True)
            )
            assert kept.height >= 1, fault
            caught_by[fault["fault"]] = f"contract: {kept['reason'][0]}"
            # ...and never reaches the raw table: no suite finds its value there.
            assert not [r for r in failed if fault["value"] and fault["value"] in r.sample], fault
    # The two blocked faults are the only errors: nothing else in the faulty world breaks a suite.
    blocked = {(f["entity"], f["column"]) for f in faults if f["expect"] == "blocked"}
    errors = {(r.entity, r.column) for r in results if not r.success and r.severity == ERROR}
    assert errors == blocked
    assert set(caught_by) == {f["fault"] for f in faults}
    # No good row lost: the payment in CHF is loaded, merely blocked from publishing.
    chf = next(f for f in faults if f["fault"] == "currency_without_fx_rate")
    payments = tables["raw_processor.payments"]
    assert payments.filter((pl.col("_source_file") == chf["file"]) & (pl.col("currency") == "CHF")).height == 1


def _raw_with_faults(path: Path, entities: dict[str, Entity]) -> None:
    """Two small raw tables whose faults fall in different chunks of 7 rows: a payment key in
    duplicate at the first and the last row, negative amounts in two chunks, and an FX rate whose
    three-column key is in duplicate at rows 2 and 40."""
    con = duckdb.connect(str(path))
    _raw_table(
        con,
        "raw_files",
        entities["payments"],
        [
            {"payment_id": "P001" if i == 99 else f"P{i:03d}", "payment_date": dt.date(2026, 2, 1),
             "amount": Decimal("-1.50") if i in (3, 60) else Decimal("10.25"), "currency": "EUR"}
            for i in range(100)
        ],
        columns=sorted(MINIMAL_REQUIRED["payments"]),
    )  # fmt: skip
    _raw_table(
        con,
        "raw_files",
        entities["fx_rates"],
        [
            {"rate_date": dt.date(2026, 1, 1) + dt.timedelta(days=2 if i == 40 else i), "from_currency": "EUR",
             "to_currency": "USD", "rate": Decimal("1.1")}
            for i in range(50)
        ],
    )  # fmt: skip
    con.close()


def test_chunked_validation_adds_up_to_the_whole_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, minimal_contract: dict[str, Entity]
) -> None:
    path = tmp_path / "warehouse.duckdb"
    _raw_with_faults(path, minimal_contract)

    def check(run_id: str) -> dict[tuple[str, str, str | None], CheckResult]:
        results = check_warehouse(path, ["files"], lambda _: ["payments", "fx_rates"], run_id=run_id, full=True)
        return {(r.entity, r.expectation, r.column): r for r in results}

    whole = check("whole")
    monkeypatch.setattr(suites, "CHUNK_ROWS", 7)
    chunked = check("chunked")
    assert whole.keys() == chunked.keys()
    for key, r in whole.items():
        c = chunked[key]
        assert (c.success, c.unexpected_count, c.rows_checked, c.severity) == (
            r.success,
            r.unexpected_count,
            r.rows_checked,
            r.severity,
        ), key
        assert sorted(c.sample) == sorted(r.sample), key
    # The key in duplicate at rows 1 and 99 is found (both rows, as GX's uniqueness counts), so is
    # the three-column key at rows 2 and 40.
    duplicate = chunked[("payments", "expect_column_values_to_be_unique", "payment_id")]
    assert (duplicate.success, duplicate.unexpected_count, duplicate.sample) == (False, 2, ["P001", "P001"])
    assert duplicate.rows_checked == 100
    pair = chunked[("fx_rates", "expect_compound_columns_to_be_unique", "rate_date,from_currency,to_currency")]
    assert (pair.success, pair.unexpected_count) == (False, 2)
    assert pair.sample == [f"{dt.date(2026, 1, 3).isoformat()} vs EUR vs USD"] * 2
    assert (
        "files.fx_rates.rate_date,from_currency,to_currency: expect_compound_columns_to_be_unique failed for 2 of 50"
        in pair.message
    )
    negative = chunked[("payments", "expect_column_values_to_be_between", "amount")]
    assert (negative.success, negative.unexpected_count, negative.sample) == (False, 2, ["-1.50", "-1.50"])


def test_data_docs_keep_the_newest_results_of_each_suite(
    tmp_path: Path, small_world: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sources, url = small_world
    config = ingest_config(tmp_path, sources, url)
    ingest(config)
    monkeypatch.setattr(suites, "KEPT_RESULTS", 2)
    docs = tmp_path / "gx"
    for run in range(3):
        check_warehouse(config.warehouse, ["erp"], source_entities, run_id=f"run-{run}", docs_dir=docs)
    stored = docs / "gx" / "uncommitted" / "validations"
    suite_dirs = [d for d in stored.iterdir() if d.is_dir()]
    assert {d.name for d in suite_dirs} >= {"raw_invoices", "raw_customers"}
    for suite in suite_dirs:
        assert len(list(suite.glob("*/*/*.json"))) == 2, suite.name
    pages = docs / "gx" / "uncommitted" / "data_docs" / "local_site" / "validations" / "raw_invoices"
    assert len(list(pages.glob("*/*/*.html"))) == 2
    # Each check renders only its own results, and the index links every kept one: the two runs
    # kept, not the pruned first.
    index = data_docs_index(docs).read_text()
    kept = {p.relative_to(pages).parts[1] for p in pages.glob("*/*/*.html")}
    linked = set(re.findall(r"validations/raw_invoices/[^/]+/([^/]+)/", index))
    assert len(kept) == 2 and linked == kept, (kept, linked)
    # Every run is still in the results table: only the rendered history is bounded.
    con = duckdb.connect(str(config.warehouse), read_only=True)
    runs = con.sql("select distinct run_id from quality.dq_results order by 1").fetchall()
    con.close()
    assert runs == [("run-0",), ("run-1",), ("run-2",)]


# --- A check runs again only when what it reads changed ----------------------------------------

CONTRACT_FOLDER = Path(__file__).parent / "fixtures" / "contract_folder"


def _execute(path: Path, sql: str) -> None:
    con = duckdb.connect(str(path))
    con.execute(sql)
    con.close()


def _checked_export(tmp_path: Path):
    """The export folder of the contract loaded (and the FX rates of another source, whose
    currencies the currency rules accept), and a check of its main entities as a run's check step
    makes it: (folder, config, check), `check(run_id)` giving the messages by entity and the
    entities checked anew (their results recorded by this run)."""
    folder = tmp_path / "export"
    shutil.copytree(CONTRACT_FOLDER, folder)
    config = ingest_config(tmp_path, tmp_path / "no_erp", "", contract_dir=folder)
    chosen = {"files": ["customers", "invoices", "payments", "fx_rates"]}
    _execute(
        config.warehouse,
        "create schema raw_fx; create table raw_fx.fx_rates as select date '2026-03-31' as rate_date, "
        "'EUR' as from_currency, 'USD' as to_currency, 1.08 as rate",
    )
    ingest_source("files", config, "first")

    def check(run_id: str) -> tuple[dict[str, list[str]], set[str]]:
        results, carried = checked_loads.check_changed(config.warehouse, chosen, run_id=run_id)
        by_entity: dict[str, list[str]] = {}
        for r in results:
            by_entity.setdefault(r.entity, []).append(r.message)
        checked = {row[0] for row in _dq_rows(config.warehouse, run_id)}
        assert {e for _, e in carried} == set(chosen["files"]) - checked, run_id
        return {e: sorted(m) for e, m in by_entity.items()}, checked

    return folder, config, check


def test_a_check_runs_again_only_when_what_it_reads_changed(tmp_path: Path) -> None:
    """A check whose entity, referenced entities, currencies and code are unchanged, and which
    passed, carries its recorded results forward (nothing recorded again); a change to what it
    reads, committed through the load log or not, checks it again."""
    folder, config, check = _checked_export(tmp_path)
    path = config.warehouse
    # An inputs table an earlier version kept, of another shape: replaced, every check run.
    _execute(path, "create schema quality_state; create table quality_state.gx_checked_inputs (source varchar)")
    first, checked = check("r1")
    assert checked == {"customers", "invoices", "payments", "fx_rates"}
    assert not [m for messages in first.values() for m in messages if "failed" in m]
    # Nothing new: every result stands, from r1, and nothing is recorded again.
    again, checked = check("r2")
    assert checked == set() and again == first
    # Results taken out of the results table by hand: that check runs again rather than pass empty.
    _execute(path, "delete from quality.dq_results where entity = 'fx_rates' and expectation like '%between'")
    _, checked = check("r2-pruned")
    assert checked == {"fx_rates"}
    # A new customer: the customers' check, and those of the invoices and payments that refer to
    # customers, run again; the FX rates read no customer.
    with (folder / "customers.csv").open("a") as out:
        out.write("INITECH-3,Initech,smb,NA,US,USD,NET30,30,1000.00,,US555,2026-04-01 09:00:00,2026-04-01 09:00:00\n")
    ingest_source("files", config, "second")
    _, checked = check("r3")
    assert checked == {"customers", "invoices", "payments"}
    # A write the load log never recorded (a load stopped between dlt's commit and its record):
    # the rows' newest dlt load id tells.
    _execute(
        path,
        "update raw_files.customers set customer_name = 'Initech Ltd', _dlt_load_id = '9999999999.0' "
        "where customer_id = 'INITECH-3'",
    )
    _, checked = check("r4")
    assert checked == {"customers", "invoices", "payments"}
    # A new day's rate in known currencies changes no check; a new currency changes every check
    # with a currency rule (the FX rates' own too).
    _execute(path, "insert into raw_fx.fx_rates values (date '2026-04-01', 'EUR', 'USD', 1.09)")
    _, checked = check("r5")
    assert checked == set()
    _execute(path, "insert into raw_fx.fx_rates values (date '2026-04-01', 'GBP', 'USD', 1.27)")
    _, checked = check("r6")
    assert checked == {"customers", "invoices", "payments", "fx_rates"}
    # The inputs are recorded per entity, as of the run that last checked it.
    con = duckdb.connect(str(path), read_only=True)
    recorded = con.sql("select entity, run_id from quality_state.gx_checked_inputs order by 1").fetchall()
    con.close()
    assert recorded == [("customers", "r6"), ("fx_rates", "r6"), ("invoices", "r6"), ("payments", "r6")]


def test_a_failing_check_runs_again_every_time(tmp_path: Path) -> None:
    """An invoice due before it was issued: its check fails, and runs again while it fails with
    nothing changed (its verdict always this run's own); the passing checks stand."""
    folder, config, check = _checked_export(tmp_path)
    check("r1")
    with (folder / "invoices.csv").open("a") as out:
        out.write("INV-X1,X-0001,GLOBEX-2,,,2026-04-01,2026-03-01,USD,NET30,50.00,open,2026-04-01 17:00:00\n")
    ingest_source("files", config, "second")
    failing, checked = check("r2")
    assert checked == {"invoices"}
    failed = [m for m in failing["invoices"] if "failed" in m]
    assert failed == [
        "files.invoices.due_date: expect_column_pair_values_a_to_be_greater_than_b failed for 1 of 1 rows "
        "(e.g. 2026-03-01 vs 2026-04-01)"
    ]
    still, checked = check("r3")
    assert checked == {"invoices"} and still["invoices"] == failing["invoices"]


# --- Optional data never blocks: hand-built warehouses under the minimal contract ---------------

DUCKDB_TYPES = {
    "string": "varchar",
    "int": "bigint",
    "money": "decimal(18, 2)",
    "rate": "decimal(18, 8)",
    "date": "date",
    "timestamp": "timestamp",
    "bool": "boolean",
}
# What an AR export must have: every other column of these entities is optional.
MINIMAL_REQUIRED = {
    "customers": {"customer_id", "customer_name"},
    "invoices": {
        "invoice_id", "invoice_number", "customer_id", "invoice_date", "due_date", "currency", "invoice_amount",
    },
    "payments": {"payment_id", "payment_date", "amount", "currency"},
}  # fmt: skip


@pytest.fixture
def minimal_contract(monkeypatch: pytest.MonkeyPatch) -> dict[str, Entity]:
    """The contract as it is becoming: in customers, invoices and payments only what an AR export
    has is required, and `updated_at` is optional everywhere."""
    entities = {}
    for name, entity in ENTITIES.items():
        required = MINIMAL_REQUIRED.get(name, {c.name for c in entity.columns if c.required} - {"updated_at"})
        columns = tuple(replace(c, required=c.name in required) for c in entity.columns)
        entities[name] = replace(entity, columns=columns)
    monkeypatch.setattr(suites, "ENTITIES", entities)
    return entities


def _raw_table(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    entity: Entity,
    rows: list[dict[str, object]],
    *,
    columns: list[str] | None = None,
    extra: dict[str, str] | None = None,
) -> None:
    """A raw table as a connector lands it: the contract's `columns` (all by default) typed from
    the contract, `extra` columns (name: type) beyond it, the lineage columns, then `rows`."""
    names = entity.column_names if columns is None else columns
    typed = {**{c: DUCKDB_TYPES[entity.column(c).type] for c in names}, **(extra or {})}
    typed |= {"_source_file": "varchar", "_dlt_load_id": "varchar"}
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create table {schema}.{entity.name} ({', '.join(f'{c} {t}' for c, t in typed.items())})")
    for row in rows:
        values = {"_source_file": "export.csv", "_dlt_load_id": "1", **row}
        con.execute(
            f"insert into {schema}.{entity.name} ({', '.join(typed)}) values ({', '.join('?' * len(typed))})",
            [values.get(c) for c in typed],
        )


def _dq_rows(path: Path, run_id: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(
            "select entity, expectation, column_name, severity, success, rows_checked, unexpected_count, "
            "sample_unexpected from quality.dq_results where run_id = ? order by all",
            [run_id],
        ).fetchall()
    finally:
        con.close()


def _minimal_export(path: Path, entities: dict[str, Entity]) -> None:
    """An AR export with only what the minimal contract requires, and more: a column beyond the
    contract on customers, an optional column present but empty, no payer on payments, an
    optional entity (disputes) present with no rows, and one with no rows nor columns."""
    con = duckdb.connect(str(path))
    _raw_table(
        con,
        "raw_files",
        entities["customers"],
        [
            {"customer_id": "C1", "customer_name": "Acme", "sales_rep": "Ann"},
            {"customer_id": "C2", "customer_name": "Beta", "sales_rep": None},
        ],
        columns=["customer_id", "customer_name"],
        extra={"sales_rep": "varchar"},
    )
    _raw_table(
        con,
        "raw_files",
        entities["invoices"],
        [
            {"invoice_id": "I1", "invoice_number": "1001", "customer_id": "C1", "invoice_date": dt.date(2026, 1, 10),
             "due_date": dt.date(2026, 2, 9), "currency": "EUR", "invoice_amount": Decimal("100.00")},
            {"invoice_id": "I2", "invoice_number": "1002", "customer_id": "C2", "invoice_date": dt.date(2026, 1, 20),
             "due_date": dt.date(2026, 2, 19), "currency": "EUR", "invoice_amount": Decimal("50.00")},
        ],
        columns=[*sorted(MINIMAL_REQUIRED["invoices"]), "payment_terms_code"],  # terms present, all null
    )  # fmt: skip
    _raw_table(
        con,
        "raw_files",
        entities["payments"],
        [{"payment_id": "P1", "payment_date": dt.date(2026, 2, 1), "amount": Decimal("60.00"), "currency": "EUR"}],
        columns=sorted(MINIMAL_REQUIRED["payments"]),
    )
    _raw_table(con, "raw_files", entities["disputes"], [])
    _raw_table(con, "raw_files", entities["collection_actions"], [], columns=["action_id"])
    con.close()


EXPORT_ENTITIES = ["customers", "invoices", "payments", "disputes", "collection_actions"]


def test_absent_or_empty_optional_data_passes_and_extra_columns_are_a_warning(
    tmp_path: Path, minimal_contract: dict[str, Entity]
) -> None:
    path = tmp_path / "warehouse.duckdb"
    _minimal_export(path, minimal_contract)
    results = check_warehouse(path, ["files"], lambda _: EXPORT_ENTITIES, run_id="minimal", full=True)
    assert [r.message for r in results if not r.success] == []
    assert {r.entity for r in results} == set(EXPORT_ENTITIES)
    # The column beyond the contract: a warning naming it, and a passed check.
    (drift,) = [r for r in results if r.warning]
    assert (drift.entity, drift.expectation, drift.severity, drift.success) == (
        "customers",
        "expect_table_columns_to_match_set",
        WARN,
        True,
    )
    assert (drift.sample, drift.unexpected_count) == (["sales_rep"], 1)
    assert drift.message == "files.customers: columns beyond the contract kept (warning): sales_rep"
    # Required columns are still checked, blocking; optional ones absent or empty are not checked.
    for name in ("customers", "invoices", "payments"):
        not_null = {r.column for r in results if r.entity == name and r.expectation.endswith("to_not_be_null")}
        assert not_null == MINIMAL_REQUIRED[name], name
        assert all(r.severity == ERROR for r in results if r.entity == name and r.expectation.endswith("null"))
    checked = {(r.entity, r.column) for r in results}
    assert not checked & {
        ("payments", "customer_id"),
        ("payments", "payment_type"),
        ("invoices", "payment_terms_code"),
        ("invoices", "order_id"),
    }
    # The reference an invoice has is checked; so are amounts and dates.
    assert ("invoices", "customer_id") in {
        (r.entity, r.column) for r in results if r.expectation == "expect_column_values_to_reference_a_known_key"
    }
    assert ("payments", "amount") in {(r.entity, r.column) for r in results if r.expectation.endswith("be_between")}
    # Empty tables pass on their zero rows, with or without the contract's columns.
    for name in ("disputes", "collection_actions"):
        empty = [r for r in results if r.entity == name]
        assert empty and all(r.success and r.rows_checked == 0 for r in empty), name
    disputes = {r.expectation for r in results if r.entity == "disputes"}
    # GX ran its value expectations on the empty frame (keys, fill, references) rather than skipping.
    assert {
        "expect_column_values_to_be_unique",
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_reference_a_known_key",
    } <= disputes
    # Recorded as they were found: every result, and the warning with its column.
    recorded = _dq_rows(path, "minimal")
    assert len(recorded) == len(results) and all(row[4] for row in recorded)
    assert [row for row in recorded if row[1] == "expect_table_columns_to_match_set" and row[6]] == [
        ("customers", "expect_table_columns_to_match_set", None, "warn", True, 2, 1, '["sales_rep"]')
    ]


def test_required_columns_and_present_optional_values_are_still_checked(
    tmp_path: Path, minimal_contract: dict[str, Entity]
) -> None:
    path = tmp_path / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    _raw_table(con, "raw_files", minimal_contract["customers"], [{"customer_id": "C1"}], columns=["customer_id"])
    _raw_table(
        con,
        "raw_files",
        minimal_contract["invoices"],
        [
            {"invoice_id": "I1", "invoice_number": "1001", "customer_id": "C1", "invoice_date": None,
             "due_date": dt.date(2026, 2, 9), "currency": "EUR", "invoice_amount": Decimal("100.00")},
        ],
        columns=sorted(MINIMAL_REQUIRED["invoices"]),
    )  # fmt: skip
    _raw_table(
        con,
        "raw_files",
        minimal_contract["payments"],
        [
            {"payment_id": "P1", "customer_id": "C9", "payment_date": dt.date(2026, 2, 1),
             "amount": Decimal("60.00"), "currency": "EUR", "payment_type": "gift"},
        ],
        columns=[*sorted(MINIMAL_REQUIRED["payments"]), "customer_id", "payment_type"],
    )  # fmt: skip
    con.close()
    results = check_warehouse(path, ["files"], lambda _: ["customers", "invoices", "payments"], run_id="bad")
    assert results == []  # no load log: nothing of the latest load to check
    results = check_warehouse(path, ["files"], lambda _: ["customers", "invoices", "payments"], run_id="b", full=True)
    failed = {(r.entity, r.column, r.expectation, r.severity) for r in results if not r.success}
    assert failed == {
        ("customers", "customer_name", "expect_column_to_exist", ERROR),
        ("invoices", "invoice_date", "expect_column_values_to_not_be_null", ERROR),
        ("payments", "customer_id", "expect_column_values_to_reference_a_known_key", ERROR),
        ("payments", "payment_type", "expect_column_values_to_be_in_set", ERROR),
    }
    missing = next(r for r in results if r.expectation == "expect_column_to_exist" and not r.success)
    assert (
        missing.message == "files.customers.customer_name: expect_column_to_exist failed: a required column is missing"
    )
    unknown = next(r for r in results if r.column == "customer_id" and r.entity == "payments" and not r.success)
    assert (unknown.unexpected_count, unknown.sample) == (1, ["C9"])


def _key_marts(path: Path, *, payments: int, open_balances: list[str]) -> None:
    """The key marts of two invoices with the given open balances (one aging row per open one),
    two customers, one KPI month and `payments` payments."""
    con = duckdb.connect(str(path))
    con.execute("create schema if not exists marts")
    con.execute(
        "create or replace table marts.fct_invoices as select * from (values "
        f"('I1', date '2026-01-10', date '2026-02-09', {open_balances[0]}::decimal(18, 2), 100.00::decimal(18, 2)), "
        f"('I2', date '2026-01-20', date '2026-02-19', {open_balances[1]}::decimal(18, 2), 50.00::decimal(18, 2))"
        ") t(invoice_id, invoice_date, due_date, open_balance, invoice_amount_rc)"
    )
    con.execute(
        "create or replace table marts.fct_ar_aging as select date '2026-02-28' as as_of_date, invoice_id, "
        "'1-30' as aging_bucket, open_balance from marts.fct_invoices where open_balance > 0"
    )
    con.execute("create or replace table marts.dim_customers as select * from (values ('C1'), ('C2')) t(customer_id)")
    con.execute(
        "create or replace table marts.fct_ar_kpis_monthly as select date '2026-01-01' as month_start, "
        "80.0::double as pct_current"
    )
    con.execute(
        "create or replace table marts.fct_payments as select printf('P%d', i) as payment_id, "
        "0::decimal(18, 2) as unapplied_amount, 60.00::decimal(18, 2) as amount_rc, 'C1' as customer_id "
        f"from range({payments}) t(i)"
    )
    con.close()


# The dbt tests that replaced the GX suite on the key marts (dbt_project/macros/test_mart_rules.sql).
MART_RULES = ["has_rows_when_built_from_has_rows", "not_before", "not_null_mostly", "within_range"]


def _mart_rules(
    path: Path, work: Path, run_id: str, *, build: bool = False, rules: list[str] = MART_RULES
) -> dict[tuple[str, str], CheckResult]:
    """The `rules`' dbt tests run on the warehouse's marts as they are (hand-built here), and
    recorded as `o2c run` records them; with `build`, the staging views and int_payments_unioned
    (what the marts are built from) are rebuilt first from the raw tables."""
    if build:
        built = run_dbt(["run", "--select", "+int_payments_unioned"], path, work, capture=True)
        assert built.returncode == 0, built.stdout[-3000:]
    # `dbt test`, not `build`: a rule failing on one mart must not skip the rules of the marts
    # downstream of it (here the marts this warehouse lacks are upstream of fct_ar_aging).
    tests = " ".join(f"test_name:{name}" for name in rules)
    result = run_dbt(["test", "--select", tests, "--indirect-selection", "empty"], path, work, capture=True)
    recorded = record_dbt_results(path, work / "target", run_id)
    assert recorded, result.stdout[-3000:]
    return {(r.entity, r.expectation): r for r in recorded if r.expectation in rules}


def _failed(results: dict[tuple[str, str], CheckResult]) -> set[tuple[str, str, str]]:
    return {(entity, rule, r.severity) for (entity, rule), r in results.items() if not r.success}


# The marts _key_marts builds by hand; the other marts carrying the rule are absent from its
# warehouse (so their rule fails there) and are covered on real builds.
BUILT_KEY_MARTS = {"fct_invoices", "fct_payments", "fct_ar_aging", "dim_customers", "fct_ar_kpis_monthly"}


def _failed_among_built(results: dict[tuple[str, str], CheckResult]) -> set[tuple[str, str, str]]:
    return {failure for failure in _failed(results) if failure[0] in BUILT_KEY_MARTS}


def test_a_key_mart_may_be_empty_only_when_what_it_is_built_from_is(
    tmp_path: Path, minimal_contract: dict[str, Entity]
) -> None:
    path, work = tmp_path / "warehouse.duckdb", tmp_path / "dbt"
    con = duckdb.connect(str(path))
    invoices = [{"invoice_id": "I1"}, {"invoice_id": "I2"}]
    _raw_table(con, "raw_files", minimal_contract["invoices"], invoices, columns=["invoice_id"])
    _raw_table(con, "raw_files", minimal_contract["customers"], [{"customer_id": "C1"}], columns=["customer_id"])
    con.close()
    # Only open invoices, no payments anywhere: fct_payments is rightly empty.
    _key_marts(path, payments=0, open_balances=["40.00", "50.00"])
    results = _mart_rules(path, work, "no-payments", build=True)
    has_rows = "has_rows_when_built_from_has_rows"
    assert {entity for entity, rule in results if rule == has_rows} == {
        "fct_invoices", "fct_payments", "fct_ar_aging", "dim_customers", "fct_ar_kpis_monthly",
        "fct_ar_kpis_weekly", "fct_ar_month_to_date", "fct_collector_daily", "fct_open_item_balances",
    }  # fmt: skip
    assert _failed_among_built(results) == set()
    assert ("fct_payments", has_rows, None, "error", True, None, 0, "[]") in _dq_rows(path, "no-payments")
    # Every invoice settled: nothing is open, so the aging may be empty too.
    _key_marts(path, payments=2, open_balances=["0.00", "0.00"])
    assert _failed_among_built(_mart_rules(path, work, "settled")) == set()
    # The rule still bites: a source with payments and an empty fct_payments, raw invoices and an
    # empty fct_invoices, an open invoice and an empty aging are broken builds.
    con = duckdb.connect(str(path))
    _raw_table(con, "raw_bank", minimal_contract["payments"], [{"payment_id": "B1"}], columns=["payment_id"])
    con.close()
    _key_marts(path, payments=0, open_balances=["40.00", "0.00"])
    con = duckdb.connect(str(path))
    con.execute("delete from marts.fct_ar_aging")
    con.close()
    broken = _mart_rules(path, work, "broken", build=True)
    assert _failed_among_built(broken) == {("fct_payments", has_rows, ERROR), ("fct_ar_aging", has_rows, ERROR)}
    assert (
        broken[("fct_payments", has_rows)].message
        == "marts.fct_payments: has_rows_when_built_from_has_rows failed for 1 rows"
    )
    con = duckdb.connect(str(path))
    con.execute("delete from marts.fct_invoices")
    con.close()
    failed = _failed_among_built(_mart_rules(path, work, "no-invoices"))
    assert {entity for entity, _, _ in failed} == {"fct_invoices", "fct_payments"}  # aging: nothing open any more


def test_the_mart_value_rules_fail_on_the_rows_that_break_them(tmp_path: Path) -> None:
    path, work = tmp_path / "warehouse.duckdb", tmp_path / "dbt"
    _key_marts(path, payments=10, open_balances=["40.00", "50.00"])
    rules = ["not_before", "not_null_mostly", "within_range"]  # on the marts alone: no build needed
    results = _mart_rules(path, work, "clean", rules=rules)
    assert {rule for _, rule in results} == set(rules) and _failed(results) == set()
    # One payment in ten without a customer is the 90 % `mostly` allows; two is a warning.
    con = duckdb.connect(str(path))
    con.execute("update marts.fct_payments set customer_id = null where payment_id = 'P0'")
    con.close()
    assert _failed(_mart_rules(path, work, "one-unknown", rules=rules)) == set()
    con = duckdb.connect(str(path))
    con.execute("update marts.fct_payments set customer_id = null where payment_id = 'P1'")
    con.execute("update marts.fct_invoices set due_date = invoice_date - 10 where invoice_id = 'I2'")
    con.execute("update marts.fct_ar_kpis_monthly set pct_current = 100.5")
    rows = {
        "not_before": con.sql("select count(*) from marts.fct_invoices where due_date < invoice_date").fetchall()[0][0],
        "within_range": con.sql(
            "select count(*) from marts.fct_ar_kpis_monthly where pct_current not between 0 and 100"
        ).fetchall()[0][0],
    }
    con.close()
    results = _mart_rules(path, work, "faults", rules=rules)
    assert _failed(results) == {
        ("fct_invoices", "not_before", ERROR),
        ("fct_ar_kpis_monthly", "within_range", ERROR),
        ("fct_payments", "not_null_mostly", WARN),  # recorded; blocks nothing
    }
    assert results[("fct_invoices", "not_before")].unexpected_count == rows["not_before"] == 1
    assert results[("fct_ar_kpis_monthly", "within_range")].unexpected_count == rows["within_range"] == 1
    assert results[("fct_invoices", "not_before")].column == "due_date"
    recorded = [r for r in _dq_rows(path, "faults") if not r[4]]
    assert {(r[0], r[1], r[3]) for r in recorded} >= _failed(results)


def test_a_models_required_columns_are_one_dbt_test_recorded_as_each_columns_not_null(tmp_path: Path) -> None:
    """not_null_columns (one dbt test for a model's required columns) on a hand-made fct_payments:
    recorded per column, a failure naming the columns with nulls and how many."""
    path, work = tmp_path / "warehouse.duckdb", tmp_path / "dbt"
    required = ["payment_id", "payment_type", "amount", "unapplied_amount", "amount_rc"]
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_payments as select printf('P%d', i) as payment_id, 'payment' as payment_type, "
        "100.00::decimal(18, 2) as amount, 0::decimal(18, 2) as unapplied_amount, "
        "100.00::decimal(18, 2) as amount_rc, null::varchar as customer_id from range(6) t(i)"
    )  # customer_id is not required: its nulls fail nothing
    con.close()

    def run(run_id: str) -> tuple[dict[str, CheckResult], dict]:
        run_dbt(
            ["test", "--select", "test_name:not_null_columns", "--indirect-selection", "empty"],
            path,
            work,
            capture=True,
        )
        recorded = record_dbt_results(path, work / "target", run_id)  # the tests of absent marts error
        outcomes = json.loads((work / "target" / "run_results.json").read_text())["results"]
        (outcome,) = [o for o in outcomes if o["unique_id"].startswith("test.o2c.not_null_columns_fct_payments")]
        return {r.column: r for r in recorded if r.entity == "fct_payments"}, outcome

    clean, outcome = run("clean")
    assert outcome["status"] == "pass"
    assert set(clean) == set(required)
    assert all(r.expectation == "not_null" and r.success and r.unexpected_count == 0 for r in clean.values())

    con = duckdb.connect(str(path))
    con.execute("update marts.fct_payments set amount = null where payment_id in ('P1', 'P4')")
    con.execute("update marts.fct_payments set payment_type = null where payment_id = 'P2'")
    nulls = dict(
        zip(
            required,
            con.execute(
                f"select {', '.join(f'count(*) - count({c})' for c in required)} from marts.fct_payments"
            ).fetchall()[0],
            strict=True,
        )
    )
    con.close()
    faults, outcome = run("faults")
    assert nulls == {"payment_id": 0, "payment_type": 1, "amount": 2, "unapplied_amount": 0, "amount_rc": 0}
    assert outcome["status"] == "fail" and outcome["failures"] == 3  # dbt counts the rows with nulls
    assert {c: r.unexpected_count for c, r in faults.items() if not r.success} == {"payment_type": 1, "amount": 2}
    assert {c for c, r in faults.items() if r.success} == {"payment_id", "unapplied_amount", "amount_rc"}
    assert faults["amount"].message.startswith("marts.fct_payments.amount")
    stored = {(r[2], r[4], r[6]) for r in _dq_rows(path, "faults") if r[0] == "fct_payments"}
    assert ("amount", False, 2) in stored and ("payment_id", True, 0) in stored


def test_a_failed_not_null_columns_test_whose_model_cannot_be_read_names_every_column_checked() -> None:
    """Built on Spark and not brought back, a model's nulls cannot be counted by column: the one
    failure says the columns it covers and dbt's count."""
    manifest = {
        "nodes": {
            "model.o2c.int_x": {"schema": "intermediate", "name": "int_x", "alias": "int_x"},
            "test.o2c.nn": {
                "name": "not_null_columns_int_x_a__b",
                "attached_node": "model.o2c.int_x",
                "column_name": None,
                "config": {"severity": "ERROR"},
                "test_metadata": {"name": "not_null_columns", "kwargs": {"column_names": ["a", "b"]}},
            },
        }
    }
    failed = {"results": [{"unique_id": "test.o2c.nn", "status": "fail", "failures": 4, "message": "Got 4 results"}]}
    (result,) = dbt_test_results(failed, manifest, null_counts=lambda schema, name, columns: None)
    assert (result.expectation, result.column, result.success, result.unexpected_count) == (
        "not_null",
        "a, b",
        False,
        4,
    )
    passed = {"results": [{"unique_id": "test.o2c.nn", "status": "pass", "failures": 0}]}
    assert [(r.column, r.success) for r in dbt_test_results(passed, manifest)] == [("a", True), ("b", True)]


def test_invoice_lines_sum_to_the_total_only_for_invoices_that_have_lines(tmp_path: Path) -> None:
    """The dbt test on a real dbt build of the two staging views it reads."""
    path = tmp_path / "warehouse.duckdb"
    amounts = {"I1": Decimal("100.00"), "I2": Decimal("50.00"), "I3": Decimal("80.00")}
    lines = {"I1": [Decimal("60.00"), Decimal("40.00")], "I3": [Decimal("30.00"), Decimal("30.00")]}  # I2: none
    con = duckdb.connect(str(path))
    _raw_table(
        con,
        "raw_erp",
        ENTITIES["invoices"],
        [
            {"invoice_id": i, "invoice_number": i, "customer_id": "C1", "invoice_date": dt.date(2026, 1, 10),
             "due_date": dt.date(2026, 2, 9), "currency": "EUR", "invoice_amount": amount}
            for i, amount in amounts.items()
        ],
    )  # fmt: skip
    _raw_table(
        con,
        "raw_erp",
        ENTITIES["invoice_lines"],
        [
            {"invoice_line_id": f"{i}-{n}", "invoice_id": i, "quantity": 1, "unit_price": a, "line_amount": a}
            for i, amounts_of_lines in lines.items()
            for n, a in enumerate(amounts_of_lines)
        ],
    )
    con.close()
    test = "assert_invoice_lines_sum_to_invoice_total"
    select = ["--select", f"stg_erp__invoices stg_erp__invoice_lines {test}", "--indirect-selection", "empty"]
    result = run_dbt(["build", *select, "--store-failures"], path, tmp_path / "dbt", capture=True)
    run = json.loads((tmp_path / "dbt" / "target" / "run_results.json").read_text())["results"]
    (outcome,) = [r for r in run if r["unique_id"].startswith(f"test.o2c.{test}")]
    # The invoices whose lines exist and do not add up to the total, computed here.
    wrong = sorted(i for i, of_lines in lines.items() if sum(of_lines) != amounts[i])
    assert wrong == ["I3"]
    assert (result.returncode, outcome["status"], outcome["failures"]) == (1, "fail", len(wrong)), result.stdout[-2000:]
    con = duckdb.connect(str(path), read_only=True)
    (schema,) = con.execute(
        "select table_schema from information_schema.tables where table_name = ?", [test]
    ).fetchall()
    stored = con.execute(f'select invoice_id from "{schema[0]}".{test} order by 1').fetchall()
    con.close()
    assert [r[0] for r in stored] == wrong


def test_an_incremental_run_checks_references_after_every_load_of_the_run(
    dashboard_world: Path, tmp_path: Path
) -> None:
    """The false warning of issue 18: on an incremental run, new ERP payment applications refer to
    processor payments that arrive in the same run's processor file. The ERP's suite compares them
    with every source's payments, so it must run after the processor's load; checked in between,
    the references read as unknown (`check warning gx_suite on erp/payment_applications`)."""
    import shutil
    import sqlite3

    from tests.conftest import o2c

    # The world of 60 customers over 240 days to 2026-06-30 (seed 5), every source loaded by its
    # first run: a copy of the session's published world (tests/conftest.py PUBLISHED_WORLD).
    data = tmp_path / "data"
    shutil.copytree(dashboard_world, data)
    warehouse = data / "warehouse" / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        known = {k for (k,) in con.execute("select payment_id from raw_processor.payments").fetchall()}
        applied = {k for (k,) in con.execute("select application_id from raw_erp.payment_applications").fetchall()}
    o2c(data, "simulate", "--advance", "6")
    with sqlite3.connect(data / "sources" / "erp.sqlite") as con:
        new = {
            (application, payment)
            for application, payment in con.execute("select application_id, payment_id from payment_applications")
            if application not in applied
        }
    # The case itself: applications whose payments the warehouse does not have before this run.
    late = {payment for _, payment in new if payment not in known}
    assert new and late

    result = o2c(data, "run", "--select", "group:sources")
    assert "check warning" not in result.stdout and "failed check" not in result.stdout, result.stdout
    with duckdb.connect(str(warehouse), read_only=True) as con:
        # they are real payments, loaded from the processor's file in this same run ...
        loaded = {k for (k,) in con.execute("select payment_id from raw_processor.payments").fetchall()}
        assert late <= loaded
        # ... and the ERP's suite checked exactly those applications' references, all known
        [(run_id,)] = con.execute("select run_id from quality.dq_results order by validated_at desc limit 1").fetchall()
        # the rows of the ERP's latest load of applications: what its suite validated
        latest = dict(
            con.execute(
                "select application_id, payment_id from raw_erp.payment_applications where _dlt_load_id = "
                "(select max(_dlt_load_id) from raw_erp.payment_applications)"
            ).fetchall()
        )
        assert new <= set(latest.items())
        reference = con.execute(
            "select rows_checked, unexpected_count, success from quality.dq_results "
            "where run_id = ? and suite = 'raw_payment_applications' and source = 'erp' "
            "and column_name = 'payment_id' and expectation like '%reference%'",
            [run_id],
        ).fetchall()
    assert reference == [(len(latest), 0, True)]
