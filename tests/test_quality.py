"""Data-quality suites: a clean world passes them all; every fault the simulator injects is
caught, by the source contract (quarantine) or by a suite (the run is blocked), with a message
that names the entity, the column and a sample value, and no good row is lost."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion import quality, simulator
from ingestion.pipeline import SOURCES, ingest, source_entities
from ingestion.quality import ERROR, WARN, check_marts, check_warehouse
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
            hits = [r for r in failed if r.severity == WARN and r.expectation == "expect_table_columns_to_match_set"]
            assert hits, fault
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


def _marts_with_faults(path: Path) -> None:
    """Two small key marts whose faults fall in different chunks of 7 rows: a key in duplicate
    at the first and the last row, negative amounts in two chunks, and 8 % of customers missing,
    bunched so that one chunk alone has far more than the 10 % its `mostly` allows."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_payments as select "
        "case when i = 99 then 'P001' else printf('P%03d', i) end as payment_id, "
        "case when i in (3, 60) then -1.5 else 10.25 end::decimal(18, 2) as unapplied_amount, "
        "20.5::decimal(18, 2) as amount_rc, "
        "case when i between 14 and 21 then null else 'C1' end as customer_id "
        "from range(100) t(i) order by i"
    )
    con.execute(
        "create table marts.fct_ar_aging as select date '2026-06-30' as as_of_date, "
        "case when i = 40 then 'I002' else printf('I%03d', i) end as invoice_id, "
        "'current' as aging_bucket, 5.0::decimal(18, 2) as open_balance from range(50) t(i) order by i"
    )
    con.close()


def test_chunked_validation_adds_up_to_the_whole_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "warehouse.duckdb"
    _marts_with_faults(path)
    whole = {(r.entity, r.expectation, r.column): r for r in check_marts(path, run_id="whole")}
    monkeypatch.setattr(quality, "CHUNK_ROWS", 7)
    chunked = {(r.entity, r.expectation, r.column): r for r in check_marts(path, run_id="chunked")}
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
    # the pair at rows 2 and 40; the 8 % missing customers pass `mostly` over the whole table.
    duplicate = chunked[("fct_payments", "expect_column_values_to_be_unique", "payment_id")]
    assert (duplicate.success, duplicate.unexpected_count, duplicate.sample) == (False, 2, ["P001", "P001"])
    pair = chunked[("fct_ar_aging", "expect_compound_columns_to_be_unique", "as_of_date,invoice_id")]
    assert (pair.success, pair.unexpected_count) == (False, 2)
    assert pair.sample == ["2026-06-30 vs I002"] * 2
    assert "fct_ar_aging.as_of_date,invoice_id: expect_compound_columns_to_be_unique failed for 2 of 50" in pair.message
    negative = chunked[("fct_payments", "expect_column_values_to_be_between", "unapplied_amount")]
    assert (negative.success, negative.unexpected_count, negative.sample) == (False, 2, ["-1.50", "-1.50"])
    customers = chunked[("fct_payments", "expect_column_values_to_not_be_null", "customer_id")]
    assert (customers.success, customers.unexpected_count, customers.severity) == (True, 8, WARN)
    rows = chunked[("fct_payments", "expect_table_row_count_to_be_between", None)]
    assert (rows.success, rows.rows_checked) == (True, 100)


def test_data_docs_keep_the_newest_results_of_each_suite(
    tmp_path: Path, small_world: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sources, url = small_world
    config = ingest_config(tmp_path, sources, url)
    ingest(config)
    monkeypatch.setattr(quality, "KEPT_RESULTS", 2)
    docs = tmp_path / "gx"
    for run in range(3):
        check_warehouse(config.warehouse, ["erp"], source_entities, run_id=f"run-{run}", docs_dir=docs)
    stored = docs / "gx" / "uncommitted" / "validations"
    suites = [d for d in stored.iterdir() if d.is_dir()]
    assert {d.name for d in suites} >= {"raw_invoices", "raw_customers"}
    for suite in suites:
        assert len(list(suite.glob("*/*/*.json"))) == 2, suite.name
    pages = docs / "gx" / "uncommitted" / "data_docs" / "local_site" / "validations" / "raw_invoices"
    assert len(list(pages.glob("*/*/*.html"))) == 2
    assert quality.data_docs_index(docs).exists()
    # Every run is still in the results table: only the rendered history is bounded.
    con = duckdb.connect(str(config.warehouse), read_only=True)
    runs = con.sql("select distinct run_id from quality.dq_results order by 1").fetchall()
    con.close()
    assert runs == [("run-0",), ("run-1",), ("run-2",)]
