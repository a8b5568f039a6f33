"""The simulator: deterministic, scales linearly, and its worlds are internally consistent."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

import simulator
from ingestion.contract import ENTITIES
from simulator import snapshot, writers
from simulator import world as world_module
from simulator.world import WorldSpec, build
from tests.conftest import END, simulate_world


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_sources(tmp_path: Path) -> None:
    first, _ = simulate_world(tmp_path / "a")
    second, _ = simulate_world(tmp_path / "b")
    other, _ = simulate_world(tmp_path / "c", seed=8)
    a, b = _digests(first), _digests(second)
    assert len(a) > 100 and "erp.sqlite" in a
    assert a == b
    assert _digests(other)["erp.sqlite"] != a["erp.sqlite"]


def _invoice_count(customers: int, days: int) -> int:
    spec = WorldSpec(seed=3, customers=customers, start=dt.date(2025, 1, 6), initial_days=days)
    return snapshot.erp_tables(build(spec, days), days - 1)["invoices"].height


def test_row_counts_scale_linearly_with_customers_times_days() -> None:
    base = _invoice_count(150, 120)
    assert base > 1000
    assert 1.8 <= _invoice_count(300, 120) / base <= 2.2
    assert 1.8 <= _invoice_count(150, 240) / base <= 2.25
    assert 3.5 <= _invoice_count(300, 240) / base <= 4.5


@pytest.fixture(scope="module")
def erp(small_world: tuple[Path, str]) -> dict[str, pl.DataFrame]:
    _, url = small_world
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tables = {
            name: pl.DataFrame(
                [dict(r._mapping) for r in conn.execute(sa.text(f"select * from {name}"))], infer_schema_length=None
            )
            for name in ("customers", "sales_orders", "invoices", "invoice_lines", "payment_applications")
        }
    engine.dispose()
    return tables


def test_every_invoice_belongs_to_an_order_and_its_customer(erp: dict[str, pl.DataFrame]) -> None:
    invoices = erp["invoices"].join(erp["sales_orders"], on="order_id", how="left", suffix="_order")
    assert invoices["customer_id_order"].null_count() == 0
    assert (invoices["customer_id"] == invoices["customer_id_order"]).all()
    assert invoices["customer_id"].is_in(erp["customers"]["customer_id"].implode()).all()


def _exact(column: str) -> pl.Expr:
    """SQLite hands NUMERIC back as float; its shortest repr is the exact cents value."""
    return pl.col(column).cast(pl.String).cast(pl.Decimal(18, 2))


def test_invoice_lines_sum_to_the_invoice_total(erp: dict[str, pl.DataFrame]) -> None:
    totals = erp["invoice_lines"].group_by("invoice_id").agg(_exact("line_amount").sum().alias("lines"))
    joined = erp["invoices"].join(totals, on="invoice_id", how="left")
    assert joined.height > 500
    assert joined["lines"].null_count() == 0
    assert joined.filter(_exact("invoice_amount") != pl.col("lines")).height == 0


def test_applications_never_exceed_the_payment(small_world: tuple[Path, str], erp: dict[str, pl.DataFrame]) -> None:
    sources, _ = small_world
    charges = pl.concat(
        [
            pl.read_ndjson(p, infer_schema_length=None).select("id", "amount", "object")
            for p in (sources / "landing" / "processor").glob("*.jsonl")
        ]
    ).filter(pl.col("object") == "charge")
    applied = erp["payment_applications"].group_by("payment_id").agg(_exact("applied_amount").sum())
    joined = applied.join(charges.with_columns(_exact("amount")), left_on="payment_id", right_on="id")
    assert joined.height == applied.height > 0
    assert (joined["applied_amount"] <= joined["amount"]).all()


def test_ground_truth_allocations_add_up_to_each_payment(small_world: tuple[Path, str]) -> None:
    sources, _ = small_world
    truth = simulator.read_ground_truth(sources, "payment_allocations")
    bank = pl.concat([pl.read_csv(p, infer_schema=False) for p in (sources / "landing" / "bank").glob("*.csv")])
    per_payment = truth.group_by("payment_id").agg(pl.col("amount").sum())
    joined = bank.select("bank_transaction_id", pl.col("amount").cast(pl.Decimal(18, 2))).join(
        per_payment, left_on="bank_transaction_id", right_on="payment_id", how="left"
    )
    assert joined.height > 100
    assert (joined["amount"] == joined["amount_right"]).all()
    # Messy reality is present: unapplied cash, several invoices per transfer, missing references.
    assert truth["invoice_id"].null_count() > 0
    assert (truth.group_by("payment_id").len()["len"] > 1).any()
    assert bank["remittance_information"].null_count() > 0


def test_behaviour_makes_metrics_interesting(small_world: tuple[Path, str]) -> None:
    sources, _ = small_world
    behaviour = simulator.read_ground_truth(sources, "customer_behaviour")
    assert behaviour["is_chronic_late"].sum() >= 1
    assert behaviour["mean_delay_days"].std() > 5


def test_advance_moves_the_world_forward_without_rewriting_history(tmp_path: Path) -> None:
    sources, url = simulate_world(tmp_path)
    bank_before = _digests(sources / "landing" / "bank")
    result = simulator.advance(sources, url, 3)
    assert result.as_of == END + dt.timedelta(days=3)
    assert result.erp_rows["sales_orders"] > 0 and result.erp_rows["invoices"] > 0
    bank_after = _digests(sources / "landing" / "bank")
    assert {k: bank_after[k] for k in bank_before} == bank_before  # past statements untouched
    assert len(bank_after) > len(bank_before)
    # The advanced ERP equals the same world built straight to the new day, updates included.
    spec, last_day, _ = simulator.load_state(sources)
    expected = snapshot.erp_tables(build(spec, last_day + 1), last_day)["invoices"]
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("select invoice_id, invoice_status, updated_at from invoices order by invoice_id")
        ).fetchall()
    engine.dispose()
    assert [r[0] for r in rows] == expected["invoice_id"].to_list()
    assert [r[1] for r in rows] == expected["invoice_status"].to_list()
    assert [dt.datetime.fromisoformat(str(r[2])) for r in rows] == expected["updated_at"].to_list()
    assert len({r[1] for r in rows}) >= 3  # statuses really change over time


def test_a_bulk_written_sqlite_erp_stores_what_row_inserts_store(tmp_path: Path) -> None:
    """A new SQLite ERP is filled through ADBC; every value and its storage class (text dates,
    REAL amounts, 0/1 booleans) must equal what SQLAlchemy's row inserts store."""
    spec = WorldSpec(seed=3, customers=60, start=dt.date(2024, 7, 1), initial_days=90)
    tables = snapshot.erp_tables(build(spec, 90), 89)
    bulk, rows = tmp_path / "bulk.sqlite", tmp_path / "rows.sqlite"
    writers.write_erp(f"sqlite:///{bulk}", tables, changed_since=None)
    engine = sa.create_engine(f"sqlite:///{rows}")
    with engine.begin() as conn:
        writers.erp_metadata().create_all(conn)
    engine.dispose()
    # An upsert of everything changed since 1900 into empty tables: SQLAlchemy inserts, row by row.
    writers.write_erp(f"sqlite:///{rows}", tables, changed_since=dt.datetime(1900, 1, 1))
    for name in writers.SIMULATED_ERP_ENTITIES:
        columns = ", ".join(f'"{c}", typeof("{c}")' for c in writers.erp_columns(name))
        query = f'select {columns} from "{name}" order by {", ".join(ENTITIES[name].primary_key)}'
        written = [sqlite3.connect(path).execute(query).fetchall() for path in (bulk, rows)]
        assert len(written[0]) == tables[name].height, name
        assert written[0] == written[1], name
    assert min(tables[name].height for name in ("invoices", "invoice_lines", "payment_applications")) > 0


def _contiguous_per_day(ids: pl.Series, digits: int) -> bool:
    """Ids end in a per-day running number: each day must use exactly 1..n, once each."""
    parts = pl.DataFrame({"id": ids}).select(
        pl.col("id").str.slice(0, pl.col("id").str.len_chars() - digits).alias("day"),
        pl.col("id").str.slice(-digits).cast(pl.Int64).alias("n"),
    )
    per_day = parts.group_by("day").agg(pl.col("n").sort())
    return all(numbers.to_list() == list(range(1, len(numbers) + 1)) for numbers in per_day["n"])


def test_a_world_built_in_shards_is_one_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large worlds are built one shard of customers at a time to bound memory. The shards must
    add up to one world: ids carry on across shards, and advancing gives what a build does."""
    monkeypatch.setattr(world_module, "SHARD_CUSTOMERS", 30)
    sources, url = simulate_world(tmp_path, customers=80)
    simulator.advance(sources, url, 3)
    spec, last_day, _ = simulator.load_state(sources)
    assert world_module.shard_count(spec) == 3
    shards = [snapshot.erp_tables(world, last_day) for world in simulator.worlds(spec, last_day + 1)]
    expected = {name: pl.concat(s[name] for s in shards if name in s) for name in writers.SIMULATED_ERP_ENTITIES}
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        stored = {
            name: [row[0] for row in conn.execute(f"select {ENTITIES[name].primary_key[0]} from {name} order by 1")]
            for name in writers.SIMULATED_ERP_ENTITIES
        }
        statuses = conn.execute("select invoice_id, invoice_status from invoices order by 1").fetchall()
    for name in writers.SIMULATED_ERP_ENTITIES:
        assert stored[name] == sorted(expected[name][ENTITIES[name].primary_key[0]].to_list()), name
    assert stored["customers"] == [f"C{i:06d}" for i in range(1, 81)]
    assert len(stored["products"]) == 80 and len(stored["collectors"]) > 0
    invoices = expected["invoices"].sort("invoice_id")
    assert statuses == list(zip(invoices["invoice_id"], invoices["invoice_status"], strict=True))
    # Every shard has business on most days, so numbers only stay contiguous if they carry on.
    assert _contiguous_per_day(invoices["invoice_number"], 5)
    assert _contiguous_per_day(expected["sales_orders"]["order_id"], 5)
    assert _contiguous_per_day(expected["credit_memos"]["credit_memo_id"], 5)
    landing = sources / "landing"
    charges = pl.concat(
        [
            pl.read_ndjson(p, infer_schema_length=None).select("id", "object")
            for p in (landing / "processor").glob("*.jsonl")
        ]
    )
    bank = pl.concat([pl.read_csv(p, infer_schema=False) for p in (landing / "bank").glob("*.csv")])
    assert _contiguous_per_day(charges.filter(pl.col("object") == "charge")["id"], 6)
    assert _contiguous_per_day(bank["bank_transaction_id"], 6)
    # Ground truth covers every shard's payments, to the cent.
    truth = (
        simulator.read_ground_truth(sources, "payment_allocations").group_by("payment_id").agg(pl.col("amount").sum())
    )
    paid = bank.select(pl.col("bank_transaction_id").alias("payment_id"), pl.col("amount").cast(pl.Decimal(18, 2)))
    joined = paid.join(truth, on="payment_id", how="left")
    assert joined.height > 100 and (joined["amount"] == joined["amount_right"]).all()
    assert simulator.read_ground_truth(sources, "customer_behaviour").height == 80


def test_the_demo_world_keeps_the_cash_application_cases_that_make_it_hard() -> None:
    """Cash application must not pass by the simulator getting easier (issue 16): the `make demo`
    world keeps at least 8 % of receipts paying several invoices, 5.5 % bank transfers without a
    remittance reference among all receipts, and payers nobody knows."""
    world = build(WorldSpec(seed=42, customers=500, start=END - dt.timedelta(days=729), initial_days=730), 730)
    charges = world.processor.filter(pl.col("object") == "charge")
    receipts = charges.height + world.bank.height
    invoices_per_receipt = (
        world.allocations.filter(pl.col("invoice_id").is_not_null()).group_by("payment_id").agg(pl.len().alias("n"))
    )
    several = invoices_per_receipt.filter(pl.col("n") > 1).height / receipts
    no_reference = world.bank.filter(pl.col("reference").is_null()).height / receipts
    unknown = world.bank.filter(pl.col("customer_id").is_null()).height
    assert several >= 0.08, several
    assert no_reference >= 0.055, no_reference
    assert unknown / receipts >= 0.01, unknown
