"""Data-quality suites: a clean world passes them all; every fault the simulator injects is
caught, by the source contract (quarantine) or by a suite (the run is blocked), with a message
that names the entity, the column and a sample value, and no good row is lost."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from ingestion import simulator
from ingestion.pipeline import SOURCES, ingest, source_entities
from ingestion.quality import ERROR, WARN, check_warehouse
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
