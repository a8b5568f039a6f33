"""The lake Spark reads (O2C_ENGINE=spark): each table dbt reads as Parquet, written again only
when its rows or columns changed (orchestration/lake.py). No Spark needed: the files are read
back with DuckDB."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

from orchestration import lake

# A company's export may hold an entity with no rows yet (raw_ops.collection_actions here).
SOURCES = {
    ("raw_bank", "payments"),
    ("raw_erp", "invoices"),
    ("raw_ops", "collection_actions"),
    ("forecasts", "cash_forecast"),
}


def _warehouse(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute("create schema raw_bank; create schema raw_erp; create schema raw_ops; create schema forecasts")
    con.execute("create schema marts")
    con.execute("create table raw_bank.payments (payment_id varchar, amount decimal(18, 2), _dlt_load_id varchar)")
    con.execute("insert into raw_bank.payments values ('P1', 100.00, '1'), ('P2', 250.50, '1'), ('P3', 10.00, '2')")
    con.execute("create table raw_erp.invoices (invoice_id varchar, amount decimal(18, 2))")
    con.execute("insert into raw_erp.invoices values ('I1', 350.50), ('I2', 10.00)")
    con.execute("create table raw_ops.collection_actions (action_id varchar, customer_id varchar)")
    con.execute("create table forecasts.cash_forecast (week date, expected_rc double)")
    con.execute("insert into forecasts.cash_forecast values ('2026-07-06', 1200.5)")
    con.execute("create table marts.fct_payments (payment_id varchar)")  # built by dbt, never exported
    con.close()


def _in_lake(root: Path, table: str) -> list[tuple]:
    schema, name = table.split(".")
    files = root / schema / name / "*.parquet"
    return duckdb.sql(f"select * from read_parquet('{files}') order by all").fetchall()


def _modified(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("part-0.parquet")}


def test_a_table_goes_to_the_lake_again_only_when_its_rows_or_columns_change(tmp_path: Path) -> None:
    warehouse, root = tmp_path / "warehouse.duckdb", tmp_path / "lake"
    _warehouse(warehouse)

    everything = ["forecasts.cash_forecast", "raw_bank.payments", "raw_erp.invoices", "raw_ops.collection_actions"]
    assert lake.export_to_lake(warehouse, root, SOURCES) == everything
    assert lake.lake_tables(root) == everything
    assert _in_lake(root, "raw_ops.collection_actions") == []  # the empty table keeps its columns for Spark
    assert duckdb.sql(f"describe select * from '{root}/raw_ops/collection_actions/*.parquet'").fetchall()[0][0] == (
        "action_id"
    )
    assert _in_lake(root, "raw_erp.invoices") == [("I1", Decimal("350.50")), ("I2", Decimal("10.00"))]
    first = _modified(root)

    # Nothing changed, the empty table included: nothing written (the next dbt step of the run,
    # a day without new rows).
    assert lake.export_to_lake(warehouse, root, SOURCES) == []
    assert _modified(root) == first

    con = duckdb.connect(str(warehouse))
    con.execute("update raw_bank.payments set amount = 99.99 where payment_id = 'P2'")  # a row rewritten
    con.execute("alter table raw_erp.invoices add column currency varchar")  # a column added, no value yet
    con.close()
    assert lake.export_to_lake(warehouse, root, SOURCES) == ["raw_bank.payments", "raw_erp.invoices"]
    assert _in_lake(root, "raw_bank.payments") == [
        ("P1", Decimal("100.00"), "1"),
        ("P2", Decimal("99.99"), "1"),
        ("P3", Decimal("10.00"), "2"),
    ]
    assert _in_lake(root, "raw_erp.invoices") == [("I1", Decimal("350.50"), None), ("I2", Decimal("10.00"), None)]
    assert _modified(root)["forecasts/cash_forecast/part-0.parquet"] == first["forecasts/cash_forecast/part-0.parquet"]

    con = duckdb.connect(str(warehouse))
    con.execute("delete from raw_bank.payments where payment_id = 'P3'")  # a row removed
    con.execute("drop table forecasts.cash_forecast")  # a table the warehouse no longer has
    con.close()
    assert lake.export_to_lake(warehouse, root, SOURCES) == ["raw_bank.payments"]
    assert _in_lake(root, "raw_bank.payments") == [("P1", Decimal("100.00"), "1"), ("P2", Decimal("99.99"), "1")]
    assert lake.lake_tables(root) == ["raw_bank.payments", "raw_erp.invoices", "raw_ops.collection_actions"]
