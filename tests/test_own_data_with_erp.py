"""Bring your own data, continued: (b) an export with orders, shipments and lines but no disputes
or credit memos, alone and together with an ERP database (rows of an entity from both are
unioned and keep where they came from); configured sources that are missing fail at once.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest

from tests import own_data
from tests.conftest import o2c, simulate_world
from tests.test_own_data import assert_pages_render, run_own_data

FILES = "orders_no_disputes"


@pytest.fixture(scope="module")
def orders_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    data = tmp_path_factory.mktemp("orders_only")
    return data, run_own_data(data, FILES, "USD")


@pytest.fixture(scope="module")
def erp_and_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    data = tmp_path_factory.mktemp("erp_and_files")
    simulate_world(data)  # data/sources/erp.sqlite: the default ERP, so it is configured
    return data, run_own_data(data, FILES, "USD")


FILES_OPEN_AR = {
    dt.date(2026, 4, 30): Decimal("750.00"),  # B1 500 + B2 250
    dt.date(2026, 5, 31): Decimal("450.00"),  # B1 paid 04/05; B2 250 + B3 200
}


def test_orders_without_disputes_reach_the_marts(orders_only: tuple[Path, dict[str, str]]) -> None:
    data, _ = orders_only
    ledger = own_data.orders_no_disputes()
    published = own_data.published_open_ar(data)
    assert {d: ledger.open_ar(d) for d in ledger.month_ends()} == published
    assert {d: published[d] for d in FILES_OPEN_AR} == FILES_OPEN_AR
    assert published[dt.date(2026, 6, 1)] == Decimal("200.00")  # as of the last receipt
    assert own_data.published_days_to_pay(data) == {"B1": 28, "B2": 49, "B3": None}
    kpis = own_data.serving_query(data, "select month_start, dso_simple from marts.fct_ar_kpis_monthly")
    may = kpis.filter(kpis["month_start"] == dt.date(2026, 5, 1))["dso_simple"].item()
    assert may == ledger.simple_dso(dt.date(2026, 5, 31)) == 28.89  # 450 ÷ 950 × 61
    # The receipt without a customer pays B2, so it is Bolt's; both are applied as the source said.
    payments = own_data.serving_query(
        data, "select payment_id, customer_id, customer_match_method from marts.fct_payments order by 1"
    )
    assert payments.rows() == [("PAY1", "K1", "source"), ("PAY2", "K2", "invoice_reference")]
    # Cycle times from the order: O1 ordered 01/04, approved 02/04, shipped 05/04, invoiced 06/04,
    # paid 04/05; O2 ordered and approved 10/04, shipped 12/04, invoiced 13/04, paid 01/06.
    cycles = own_data.serving_query(
        data,
        "select cycle_id, days_order_to_approval, days_order_to_ship, days_ship_to_invoice, days_invoice_to_paid, "
        "days_order_to_cash from marts.fct_o2c_cycle_times where cycle_start = 'order' order by 1",
    )
    assert cycles.rows() == [
        ("O1", 1, 4, 1, 28, 33),
        ("O2", 0, 2, 1, 49, 52),
        ("O3", 1, 5, 1, None, None),
    ]
    empty = own_data.serving_query(
        data,
        "select (select count(*) from marts.fct_disputes) as d, (select sum(credited_amount) from marts.fct_invoices) as c",
    )
    assert empty.rows() == [(0, Decimal("0.00"))]


def test_orders_without_disputes_every_page_renders(
    orders_only: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert_pages_render(*orders_only, monkeypatch, tmp_path)


def test_erp_and_files_are_unioned_and_keep_their_source(erp_and_files: tuple[Path, dict[str, str]]) -> None:
    data, _ = erp_and_files
    with sqlite3.connect(data / "sources" / "erp.sqlite") as erp:
        (erp_invoices,) = erp.execute("select count(*) from invoices").fetchone()
    quarantined = own_data.warehouse_query(
        data, "select count(*) as n from raw_erp.quarantine where entity = 'invoices'"
    ).item()
    counts = own_data.serving_query(
        data, "select source_system, count(*) as n from marts.fct_invoices group by 1 order by 1"
    )
    assert counts.rows() == [("erp", erp_invoices - quarantined), ("files", 3)]
    # The files' invoices have the same figures as when loaded alone.
    files_only = own_data.published_open_ar(data, "i.source_system = 'files'")
    assert {d: files_only[d] for d in FILES_OPEN_AR} == FILES_OPEN_AR
    days = own_data.published_days_to_pay(data, "source_system = 'files'")
    assert days == {"B1": 28, "B2": 49, "B3": None}
    # The published total is the ERP's part plus the files' part at every month-end.
    total = own_data.published_open_ar(data)
    erp_part = own_data.published_open_ar(data, "i.source_system = 'erp'")
    assert all(total[d] == erp_part.get(d, 0) + files_only.get(d, 0) for d in total)
    customers = own_data.serving_query(
        data,
        "select source_system, count(*) as n from marts.dim_customers where customer_id in ('K1', 'K2') group by 1",
    )
    assert customers.rows() == [("files", 2)]


def test_a_configured_source_that_is_missing_fails_at_once_naming_the_setting(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "erp.sqlite"
    result = o2c(tmp_path, "ingest", env={"O2C_ERP_URL": f"sqlite:///{missing}"}, check=False)
    assert result.returncode == 2
    assert f"erp: O2C_ERP_URL points at the SQLite file {missing}, which does not exist" in " ".join(
        result.stderr.split()  # errors go to stderr, one line
    )
    unreachable = o2c(
        tmp_path,
        "ingest",
        "--source",
        "erp",
        env={"O2C_ERP_URL": "postgresql+psycopg://u@127.0.0.1:1/erp"},
        check=False,
    )
    assert unreachable.returncode == 2
    assert "erp: cannot connect to postgresql at 127.0.0.1:1/erp (O2C_ERP_URL)" in " ".join(unreachable.stderr.split())
    run = o2c(tmp_path, "run", env={"O2C_ERP_URL": f"sqlite:///{missing}"}, check=False)
    assert run.returncode != 0
    text = " ".join(run.stdout.split())
    assert f"raw_erp: erp: O2C_ERP_URL points at the SQLite file {missing}, which does not exist" in text
    assert "max_retries" not in text  # failed at once: no retries with back-off
    # Nothing configured at all: the ERP is skipped, not retried, and `o2c ingest` says so.
    nothing = o2c(tmp_path, "ingest", "--source", "erp", check=False)
    assert nothing.returncode == 2
    assert "erp: not configured here: set O2C_ERP_URL" in " ".join(nothing.stderr.split())
