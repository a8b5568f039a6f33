"""Bring your own data: hand-written exports that the simulator did not produce go through the
documented route only (`O2C_CONTRACT_DIR`, a mapping file, `o2c run`) to a published serving file.
Expected figures come from tests/own_data.py, a plain-Python calculation from the same files.

(a) an AR ledger: invoices, receipts and settlements, own column names, semicolons, Windows-1252
    text, day-first dates, decimal commas, an extra column and a row with an impossible date;
(c) a store's register of open invoices: no payments at all, month-first dates, terms instead of
    due dates, one invoice of an unknown account.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from tests import own_data
from tests.conftest import o2c
from tests.test_dashboards import PAGES, assert_clean, page
from tests.test_dbt import incremental_tables, sorted_rows


def run_own_data(data: Path, folder: str, currency: str) -> dict[str, str]:
    """`o2c run` on an export folder (a fixture's name, or a path), published."""
    env = {"O2C_CONTRACT_DIR": str(own_data.FIXTURES / folder), "O2C_REPORTING_CURRENCY": currency}
    result = o2c(data, "run", env=env, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "Published" in result.stdout
    return env


# The ledger's 31/02/2026: the reason names the date form the mapping file declares.
BAD_DATE = "invoice_date: cannot parse as a date (%d/%m/%Y, the mapping's date_format, or YYYY-MM-DD)"


@pytest.fixture(scope="module")
def ar_ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    data = tmp_path_factory.mktemp("ar_ledger")
    return data, run_own_data(data, "ar_ledger", "EUR")


@pytest.fixture(scope="module")
def open_invoices(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    data = tmp_path_factory.mktemp("open_invoices")
    return data, run_own_data(data, "open_invoices_only", "USD")


def assert_pages_render(
    data: Path, env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> dict[str, list[str]]:
    """Every page renders without an exception or error; returns each page's notes (st.info)."""
    monkeypatch.setenv("O2C_DATA_DIR", str(data))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    notes = {}
    for name in PAGES:
        at = page(name)
        assert_clean(at)
        notes[name] = [i.value for i in at.info]
    return notes


def test_ar_ledger_reaches_the_marts_with_the_right_figures(ar_ledger: tuple[Path, dict[str, str]]) -> None:
    data, _ = ar_ledger
    ledger = own_data.ar_ledger()
    # Month-end open AR, worked out by hand from the files as well as by the reference calculation.
    by_hand = {
        dt.date(2026, 1, 31): Decimal("3500.50"),  # INV-001 1,000.00 + INV-002 2,500.50
        dt.date(2026, 2, 28): Decimal("4100.50"),  # INV-001 paid 10/02; + INV-003 400 + INV-004 1,200
        dt.date(2026, 3, 31): Decimal("4450.00"),  # INV-004 700 left, INV-005 3,000, INV-006 750
    }
    assert {d: ledger.open_ar(d) for d in ledger.month_ends()} == by_hand
    assert own_data.published_open_ar(data) == by_hand
    # Days to pay per invoice: paid on the day the settlements reach the invoice amount.
    assert own_data.published_days_to_pay(data) == {i.invoice_id: i.days_to_pay for i in ledger.invoices.values()}
    assert own_data.published_days_to_pay(data)["INV-002"] == 70  # 20/01 → 31/03, in two settlements
    # DSO (simple, trailing three months): 4,450.00 ÷ 8,850.50 × 90 days.
    kpis = own_data.serving_query(data, "select month_start, dso_simple from marts.fct_ar_kpis_monthly")
    march = kpis.filter(kpis["month_start"] == dt.date(2026, 3, 1))["dso_simple"].item()
    assert march == ledger.simple_dso(dt.date(2026, 3, 31)) == 45.25
    # INV-006 had no due date: NET30 from 20/03 gives 19/04.
    due = own_data.serving_query(data, "select due_date from marts.fct_invoices where invoice_id = 'INV-006'")
    assert due.item() == dt.date(2026, 4, 19)
    # Every row keeps where it came from; the settlements applied the receipts, nothing guessed.
    sources = own_data.serving_query(data, "select distinct source_system from marts.fct_invoices")
    assert sources["source_system"].to_list() == ["files"]
    names = own_data.serving_query(data, "select customer_name from marts.dim_customers order by customer_id")
    assert names["customer_name"].to_list() == ["Alpha Müller GmbH", "Beta AG", "Gamma Bäckerei KG"]  # cp1252
    methods = own_data.serving_query(
        data, "select match_method, count(*) as n from marts.fct_cash_applications group by 1"
    )
    assert methods.rows() == [("source", 5)]


def append_rows(path: Path, *rows: str) -> None:
    """A snapshot file of the AR ledger written out whole again, its old rows with new ones."""
    text = path.read_text(encoding="cp1252").rstrip("\n")
    path.write_text("\n".join([text, *rows]) + "\n", encoding="cp1252")


def export_a_late_invoice(export: Path) -> None:
    """April's invoices in a file of their own, INV-009 among them though posted in February
    (before the last month-end the aging had built, 31/03), and two receipts that no settlement
    applies: R-06 and R-07, each for exactly the only open item of its customer then."""
    (export / "AR_Invoices_2026_04.csv").write_text(
        "Document No;Customer No;Posting Date;Due Date;Terms;Amount;Salesperson\n"
        "INV-008;C3;05/04/2026;05/05/2026;NET30;250,00;Anna\n"
        "INV-009;C2;28/02/2026;30/03/2026;NET30;300,00;Ben\n",
        encoding="cp1252",
    )
    append_rows(export / "Receipts.csv", "R-06;C3;10/04/2026;250,00", "R-07;C2;15/04/2026;300,00")


def export_a_corrected_posting_date(export: Path) -> None:
    """INV-001's posting date corrected from 15/01 to 01/02: it was open at the end of January,
    now it never was at a month-end (no balance of it holds on one; only its aged rows tell)."""
    invoices = export / "AR_Invoices_2026.csv"
    text = invoices.read_text(encoding="cp1252")
    invoices.write_text(text.replace("INV-001;C1;15/01/2026", "INV-001;C1;01/02/2026"), encoding="cp1252")


def export_an_early_payment(export: Path) -> None:
    """R-08 paid INV-002 in full on 10/02: its balance, open at the end of January and February,
    now ends before February's (the same balance, ending earlier; the later settlements of R-02
    and R-04 find nothing left to pay)."""
    append_rows(export / "Receipts.csv", "R-08;C2;10/02/2026;2.500,50")
    append_rows(export / "Settlements.csv", "R-08;INV-002;2.500,50;10/02/2026")


def export_credit_notes(export: Path) -> None:
    """Credit notes exported for the first time (the mapping file gains the entity): CM-01 credits
    INV-004 200.00 on 25/03; and R-09 of 10/04, settled against INV-004 for 700.00, finds only
    500.00 of it open (1,200.00 less R-05's 500.00 and the credit), so 200.00 of it stays unapplied."""
    with (export / "o2c-mapping.toml").open("a") as mapping:
        mapping.write(
            "\n[entities.credit_memos]\n"
            'files = ["Gutschriften.csv"]\n'
            "[entities.credit_memos.columns]\n"
            'credit_memo_id = "Beleg"\n'
            'customer_id = "Customer No"\n'
            'invoice_id = "Document No"\n'
            'credit_memo_date = "Date"\n'
            'credit_amount = "Amount"\n'
            'reason = "Reason"\n'
        )
    (export / "Gutschriften.csv").write_text(
        "Beleg;Customer No;Document No;Date;Amount;Reason\nCM-01;C3;INV-004;25/03/2026;200,00;return\n",
        encoding="cp1252",
    )
    append_rows(export / "Receipts.csv", "R-09;C3;10/04/2026;700,00")
    append_rows(export / "Settlements.csv", "R-09;INV-004;700,00;10/04/2026")


def export_a_credit_note_moved(export: Path) -> None:
    """CM-01 was booked against the wrong invoice: the credit notes' file, written out whole again,
    has it on INV-006. INV-004 is owed its 1,200.00 again, so R-09's 700.00 settles it in full on
    10/04; INV-006 is owed 550.00 from 25/03. Nothing in the load says CM-01 left INV-004: the
    cash application sees it by the credits R-09's pair read of INV-004, and by C3's months of
    quoted invoices built again (either is enough here: C3 has receipts)."""
    notes = export / "Gutschriften.csv"
    notes.write_text(notes.read_text(encoding="cp1252").replace("C3;INV-004", "C3;INV-006"), encoding="cp1252")


# Month-end open AR after each next export, by hand. After the late invoice: INV-009 (300.00) is
# open at the end of February and March; at the data's as-of date, 15/04, R-06 and R-07 have paid
# INV-008 and INV-009. After the corrected date: INV-001 (1,000.00) is no longer open at the end of
# January. After the early payment: INV-002 (2,500.50) is no longer open at the end of February.
# After the credit notes: INV-004 is open 500.00 at the end of March (1,200.00 − 500.00 − 200.00),
# nothing on 15/04; INV-005 3,000.00 and INV-006 750.00 are left then. After the credit
# note moved: INV-004 700.00 at the end of March, INV-006 550.00 from 25/03.
NEXT_EXPORTS = [
    (export_a_late_invoice, ["3500.50", "4400.50", "4750.00", "4450.00"]),
    (export_a_corrected_posting_date, ["2500.50", "4400.50", "4750.00", "4450.00"]),
    (export_an_early_payment, ["2500.50", "1900.00", "4750.00", "4450.00"]),
    (export_credit_notes, ["2500.50", "1900.00", "4550.00", "3750.00"]),
    (export_a_credit_note_moved, ["2500.50", "1900.00", "4550.00", "3550.00"]),
]
AS_OF_DATES = [dt.date(2026, 1, 31), dt.date(2026, 2, 28), dt.date(2026, 3, 31), dt.date(2026, 4, 15)]


def test_the_next_exports_build_incrementally_to_what_a_full_refresh_gives(tmp_path: Path) -> None:
    """(a) the AR ledger run once, then its next exports, each run again: each run builds the
    incremental models (the aging, the open-item ledger, the cash application's references and
    amount passes) from where their inputs changed, back before the last month-end the aging had
    built, with the figures worked by hand; at the end they equal a full refresh. Each export
    changes the aging in one way only its own part of the aging's comparison sees; the last two
    add an entity the first runs did not have, then move one of its rows to another invoice."""
    export = tmp_path / "export"
    shutil.copytree(own_data.FIXTURES / "ar_ledger", export)
    data = tmp_path / "data"
    run_own_data(data, str(export), "EUR")
    assert list(own_data.published_open_ar(data).values()) == [
        Decimal("3500.50"),
        Decimal("4100.50"),
        Decimal("4450.00"),
    ]
    for write_export, open_ar in NEXT_EXPORTS:
        write_export(export)
        env = run_own_data(data, str(export), "EUR")
        expected = dict(zip(AS_OF_DATES, map(Decimal, open_ar), strict=True))
        assert own_data.published_open_ar(data) == expected, write_export.__name__
    applied = own_data.serving_query(
        data,
        "select payment_id, invoice_id, match_method, applied_amount from marts.fct_cash_applications "
        "where payment_id > 'R-05'",
    )
    assert sorted(applied.rows()) == [
        ("R-06", "INV-008", "amount", Decimal("250.00")),
        ("R-07", "INV-009", "amount", Decimal("300.00")),
        ("R-08", "INV-002", "source", Decimal("2500.50")),
        ("R-09", "INV-004", "source", Decimal("700.00")),  # 500.00 while CM-01 was on INV-004
    ]
    warehouse = data / "warehouse" / "warehouse.duckdb"
    tables = incremental_tables()
    incremental = {name: sorted_rows(warehouse, sql) for name, sql in tables.items()}
    o2c(data, "build", "--full-refresh", env=env)
    for name, sql in tables.items():
        assert incremental[name].equals(sorted_rows(warehouse, sql)), name


def test_ar_ledger_bad_row_is_quarantined_with_its_reason_and_counts_add_up(
    ar_ledger: tuple[Path, dict[str, str]],
) -> None:
    data, _ = ar_ledger
    quarantine = own_data.warehouse_query(
        data, "select entity, file, row_number, column_name, value, reason from raw_files.quarantine"
    )
    assert quarantine.rows() == [
        (
            "invoices",
            "AR_Invoices_2026.csv",
            7,
            "invoice_date",
            "31/02/2026",
            BAD_DATE,
        )
    ]
    log = own_data.warehouse_query(
        data,
        "select entity, rows_in, rows_new, rows_quarantined from raw_files._o2c_load_log where entity = 'invoices'",
    )
    assert log.rows() == [("invoices", 7, 6, 1)]


def test_ar_ledger_every_page_renders(
    ar_ledger: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    notes = assert_pages_render(*ar_ledger, monkeypatch, tmp_path)
    # Receipts are there, orders and disputes are not: only what is missing is said to be.
    assert not any("has no payments" in n for page in notes.values() for n in page)
    assert any("Not available: your data has no sales orders" in n for n in notes["cycle_times"])


def test_open_invoices_only_publishes_and_degrades(open_invoices: tuple[Path, dict[str, str]]) -> None:
    data, _ = open_invoices
    ledger = own_data.open_invoices_only()
    by_hand = {
        dt.date(2026, 1, 31): Decimal("1250.00"),
        dt.date(2026, 2, 28): Decimal("2230.40"),  # + 980.40
        dt.date(2026, 3, 28): Decimal("4230.40"),  # + 2,000.00; the register's last day is the as-of date
    }
    assert {d: ledger.open_ar(d) for d in ledger.month_ends()} == by_hand
    assert own_data.published_open_ar(data) == by_hand
    assert own_data.published_days_to_pay(data) == {"1001": None, "1002": None, "1003": None}
    kpis = own_data.serving_query(data, "select month_start, dso_simple from marts.fct_ar_kpis_monthly")
    february = kpis.filter(kpis["month_start"] == dt.date(2026, 2, 1))["dso_simple"].item()
    assert february == ledger.simple_dso(dt.date(2026, 2, 28)) == 59.0  # all of it still open: 59 days
    # Due dates from "Net 30"/"Net 60"; the unknown account's invoice is quarantined, not dropped.
    due = own_data.serving_query(data, "select invoice_id, due_date from marts.fct_invoices order by 1")
    assert due.rows() == [
        (i.invoice_id, i.due_date) for i in sorted(ledger.invoices.values(), key=lambda i: i.invoice_id)
    ]
    reasons = own_data.warehouse_query(data, "select value, reason from raw_files.quarantine")
    assert reasons.rows() == [("A-9", "customer_id: unknown customer (not in customers)")]
    # Payment marts are empty, not missing; cycles start at the invoice.
    empty = own_data.serving_query(
        data,
        "select (select count(*) from marts.fct_payments) as payments, (select count(*) from marts.fct_orders) as orders",
    )
    assert empty.rows() == [(0, 0)]
    cycles = own_data.serving_query(data, "select cycle_id, cycle_start from marts.fct_o2c_cycle_times order by 1")
    assert cycles.rows() == [("1001", "invoice"), ("1002", "invoice"), ("1003", "invoice")]


def test_open_invoices_only_every_page_renders(
    open_invoices: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    notes = assert_pages_render(*open_invoices, monkeypatch, tmp_path)
    no_payments = "Not available: your data has no payments"
    no_orders = "Not available: your data has no sales orders"
    assert any(no_payments in n and "CEI and cash collected" in n for n in notes["overview"])
    assert any(no_orders in n for n in notes["cycle_times"])
    assert any(no_payments in n for n in notes["cycle_times"])


def test_contract_check_shows_what_would_load_before_loading(tmp_path: Path) -> None:
    result = o2c(tmp_path, "contract", "check", str(own_data.FIXTURES / "ar_ledger"))
    out = " ".join(result.stdout.split())
    assert "invoices │ 1 │ 7 │ 6 │ 1" in out
    assert f"would quarantine invoices: 1 row(s): {BAD_DATE}" in out
    assert "invoice_date ← Posting Date" in out
    assert "not available: your data has no disputes" in out
    assert not (tmp_path / "warehouse").exists()  # nothing was loaded
    missing = o2c(tmp_path, "contract", "check", str(tmp_path / "nowhere"), check=False)
    assert missing.returncode == 2
    assert f"files: O2C_CONTRACT_DIR points at {tmp_path / 'nowhere'}, which does not exist" in missing.stderr


def test_fx_rates_are_needed_only_for_another_currency_and_their_absence_is_named(tmp_path: Path) -> None:
    """The USD register reported in EUR: without rates the build stops on one named test; with an
    fx_rates file beside the export it publishes, converted at the rate."""
    folder = tmp_path / "export"
    shutil.copytree(own_data.FIXTURES / "open_invoices_only", folder)
    env = {"O2C_CONTRACT_DIR": str(folder), "O2C_REPORTING_CURRENCY": "EUR"}
    data = tmp_path / "data"
    blocked = o2c(data, "run", env=env, check=False)
    assert blocked.returncode != 0
    assert "failed o2c_dbt_assets: dbt failed on assert_every_currency_has_an_fx_rate" in " ".join(
        blocked.stdout.split()
    )
    # The mapping file's month-first dates apply to this file too.
    (folder / "fx_rates.csv").write_text("rate_date,from_currency,to_currency,rate\n01/01/2026,USD,EUR,0.9\n")
    run_own_data(data, str(folder), "EUR")
    open_ar_eur = own_data.serving_query(
        data, "select as_of_date, sum(open_balance_rc) as eur from marts.fct_ar_aging group by 1 order by 1"
    )
    assert open_ar_eur.rows() == [
        (dt.date(2026, 1, 31), Decimal("1125.00")),  # 1,250.00 × 0.9
        (dt.date(2026, 2, 28), Decimal("2007.36")),  # (1,250.00 + 980.40) × 0.9
        (dt.date(2026, 3, 28), Decimal("3807.36")),  # 4,230.40 × 0.9
    ]
