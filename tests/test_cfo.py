"""What a CFO sees, on a hand-made world small enough to work out with a pencil: the month-to-date
comparison when the data's as-of date is the 2nd of a month, the trend over complete months only,
and the CFO digest saying the same.

The world (USD only): two customers, six invoices and four receipts, the last activity on
2026-03-02.

    invoice  customer  date        due         amount   paid
    I1       C1        2026-01-05  2026-01-31  1,000    1,000 on Feb 1 (P1)
    I2       C2        2026-01-20  2026-02-01  2,000    1,000 on Feb 15 (P4), 1,000 on Mar 2 (P2)
    I3       C1        2026-02-01  2026-03-03    500    500 on Mar 1 (P3)
    I4       C2        2026-02-02  2026-03-01    300    –
    I5       C1        2026-03-01  2026-03-31    400    –
    I6       C2        2026-03-02  2026-04-01    250    –
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.conftest import o2c

CUSTOMERS = [
    {"customer_id": "C1", "customer_name": "Alpha Inc", "currency": "USD", "payment_terms_days": "30"},
    {"customer_id": "C2", "customer_name": "Beta LLC", "currency": "USD", "payment_terms_days": "30"},
]
INVOICES = [  # id, customer, date, due, amount
    ("I1", "C1", "2026-01-05", "2026-01-31", "1000.00"),
    ("I2", "C2", "2026-01-20", "2026-02-01", "2000.00"),
    ("I3", "C1", "2026-02-01", "2026-03-03", "500.00"),
    ("I4", "C2", "2026-02-02", "2026-03-01", "300.00"),
    ("I5", "C1", "2026-03-01", "2026-03-31", "400.00"),
    ("I6", "C2", "2026-03-02", "2026-04-01", "250.00"),
]
PAYMENTS = [  # id, customer, date, amount, invoice it pays
    ("P1", "C1", "2026-02-01", "1000.00", "I1"),
    ("P4", "C2", "2026-02-15", "1000.00", "I2"),
    ("P3", "C1", "2026-03-01", "500.00", "I3"),
    ("P2", "C2", "2026-03-02", "1000.00", "I2"),
]


def write(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def hand_made_world(folder: Path) -> Path:
    folder.mkdir(parents=True)
    write(folder / "customers.csv", CUSTOMERS)
    write(
        folder / "invoices.csv",
        [
            {
                "invoice_id": i,
                "invoice_number": i,
                "customer_id": c,
                "invoice_date": d,
                "due_date": due,
                "currency": "USD",
                "invoice_amount": a,
            }
            for i, c, d, due, a in INVOICES
        ],
    )
    write(
        folder / "payments.csv",
        [
            {
                "payment_id": p,
                "customer_id": c,
                "payment_date": d,
                "amount": a,
                "currency": "USD",
                "payment_type": "payment",
            }
            for p, c, d, a, _ in PAYMENTS
        ],
    )
    write(
        folder / "payment_applications.csv",
        [
            {"application_id": f"{p}-{i}", "payment_id": p, "invoice_id": i, "applied_amount": a, "applied_date": d}
            for p, _, d, a, i in PAYMENTS
        ],
    )
    return folder


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The hand-made world run through `o2c run` and published; its data dir and environment."""
    root = tmp_path_factory.mktemp("cfo")
    env = {"O2C_CONTRACT_DIR": str(hand_made_world(root / "export")), "O2C_REPORTING_CURRENCY": "USD"}
    data = root / "data"
    result = o2c(data, "run", env=env, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return data, env


def serving_query(data: Path, sql: str) -> pl.DataFrame:
    con = duckdb.connect(str(data / "warehouse" / "serving.duckdb"), read_only=True)
    try:
        return pl.from_arrow(con.sql(sql).to_arrow_table())
    finally:
        con.close()


def test_month_to_date_is_compared_with_the_same_days_of_the_previous_month(world) -> None:
    data, _ = world
    rows = {
        r["period"]: r for r in serving_query(data, "select * from marts.fct_ar_month_to_date").iter_rows(named=True)
    }
    mtd, before = rows["month_to_date"], rows["previous_month_same_days"]
    # Mar 1–2 against Feb 1–2, not against the whole of February.
    assert (mtd["period_start"], mtd["period_end"], mtd["days_in_period"]) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 2),
        2,
    )
    assert (before["period_start"], before["period_end"], before["days_in_period"]) == (
        dt.date(2026, 2, 1),
        dt.date(2026, 2, 2),
        2,
    )
    # Mar 1–2: opening AR at Feb 28 = I2's remaining 1,000 + I3 500 + I4 300; sales I5 + I6;
    # cash P3 + P2; closing AR I4 + I5 + I6, of which I4 (due Mar 1) is past due.
    assert float(mtd["beginning_ar_rc"]) == 1000 + 500 + 300
    assert float(mtd["credit_sales_rc"]) == 400 + 250
    assert float(mtd["cash_collected_rc"]) == 500 + 1000
    assert float(mtd["ending_ar_rc"]) == 300 + 400 + 250
    assert float(mtd["ending_current_ar_rc"]) == 400 + 250
    assert mtd["cei"] == round(100 * (1800 + 650 - 950) / (1800 + 650 - 650), 2)  # 83.33
    # Feb 1–2: opening AR at Jan 31 = I1 + I2; sales I3 + I4; cash P1; closing AR I2 + I3 + I4,
    # of which I2 (due Feb 1) is past due.
    assert float(before["beginning_ar_rc"]) == 1000 + 2000
    assert float(before["credit_sales_rc"]) == 500 + 300
    assert float(before["cash_collected_rc"]) == 1000
    assert float(before["ending_ar_rc"]) == 2000 + 500 + 300
    assert float(before["ending_current_ar_rc"]) == 500 + 300
    assert before["cei"] == round(100 * (3000 + 800 - 2800) / (3000 + 800 - 800), 2)  # 33.33
    # The month-to-date row is the running month of the monthly KPIs: one CEI formula.
    march = serving_query(data, "select * from marts.fct_ar_kpis_monthly where month_start = '2026-03-01'")
    assert march["cei"][0] == mtd["cei"]
    assert float(march["cash_collected_rc"][0]) == float(mtd["cash_collected_rc"])


def test_trends_show_complete_months_only(world) -> None:
    data, _ = world
    from dashboards import db

    trend = serving_query(data, db.sql("kpis_trend"))
    # January and February are complete; March runs only to the 2nd.
    assert trend["month_start"].to_list() == [dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
    # February as a whole: opening 3,000 + sales 800 − closing 1,800 over 3,000 + 800 − current 800.
    assert trend["cei"][-1] == round(100 * (3000 + 800 - 1800) / (3000 + 800 - 800), 2)  # 66.67
