"""A reference calculation for the hand-written export folders, in plain Python: what a controller
would work out with a calculator from the files, independently of o2c's SQL.

Open balance of an invoice as of D = its amount − what was applied to it on or before D; it is
paid on the day the applications reach its amount. An invoice's due date is in the file, or its
date plus the days its terms name.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

FIXTURES = Path(__file__).parent / "fixtures" / "byod"


@dataclass
class Invoice:
    invoice_id: str
    customer_id: str
    invoice_date: dt.date
    due_date: dt.date
    amount: Decimal
    applications: list[tuple[dt.date, Decimal]] = field(default_factory=list)

    def open_as_of(self, day: dt.date) -> Decimal:
        if self.invoice_date > day:
            return Decimal(0)
        return self.amount - sum((a for d, a in self.applications if d <= day), Decimal(0))

    @property
    def paid_date(self) -> dt.date | None:
        total = Decimal(0)
        for day, amount in sorted(self.applications):
            total += amount
            if total >= self.amount:
                return day
        return None

    @property
    def days_to_pay(self) -> int | None:
        return (self.paid_date - self.invoice_date).days if self.paid_date else None


@dataclass
class Ledger:
    invoices: dict[str, Invoice]
    activity: list[dt.date]  # every dated event: its maximum is the data's as-of date

    @property
    def as_of(self) -> dt.date:
        return max(self.activity)

    def month_ends(self) -> list[dt.date]:
        """Every month-end from the first invoice's month up to the as-of date, and the as-of date."""
        first = min(i.invoice_date for i in self.invoices.values())
        days, month = [], dt.date(first.year, first.month, 1)
        while month <= self.as_of:
            following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
            days.append(min(following - dt.timedelta(days=1), self.as_of))
            month = following
        return days

    def open_ar(self, day: dt.date) -> Decimal:
        return sum((i.open_as_of(day) for i in self.invoices.values()), Decimal(0))

    def simple_dso(self, month_end: dt.date, window_months: int = 3) -> float:
        """Ending AR ÷ credit sales of the trailing months (those with data) × their days."""
        ends = [d for d in self.month_ends() if d <= month_end][-window_months:]
        start = ends[0].replace(day=1)
        sales = sum((i.amount for i in self.invoices.values() if start <= i.invoice_date <= month_end), Decimal(0))
        days = sum(d.day for d in ends)
        return round(float(self.open_ar(month_end) / sales * days), 2)


def rows(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> list[dict[str, str]]:
    with path.open(newline="", encoding=encoding) as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


def ledger_rows(path: Path) -> list[dict[str, str]]:
    """The AR ledger's files: semicolons and Windows-1252, as its accounting package writes them."""
    return rows(path, ";", "cp1252")


def day_first(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%d/%m/%Y").date()


def month_first(text: str) -> dt.date:
    return dt.datetime.strptime(text, "%m/%d/%Y").date()


def iso(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def european(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


def us(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def terms_days(code: str) -> int:
    return int(re.findall(r"\d+", code)[-1])


def ar_ledger() -> Ledger:
    """(a) invoices, receipts and settlements under their own column names, day-first dates."""
    folder = FIXTURES / "ar_ledger"
    invoices: dict[str, Invoice] = {}
    for r in ledger_rows(folder / "AR_Invoices_2026.csv"):
        try:
            date = day_first(r["Posting Date"])
        except ValueError:
            continue  # 31/02/2026: no such day, quarantined by the load
        due = day_first(r["Due Date"]) if r["Due Date"] else date + dt.timedelta(days=terms_days(r["Terms"]))
        invoices[r["Document No"]] = Invoice(r["Document No"], r["Customer No"], date, due, european(r["Amount"]))
    for r in ledger_rows(folder / "Settlements.csv"):
        invoices[r["Document No"]].applications.append((day_first(r["Date"]), european(r["Applied"])))
    receipts = [day_first(r["Receipt Date"]) for r in ledger_rows(folder / "Receipts.csv")]
    return Ledger(invoices, [i.invoice_date for i in invoices.values()] + receipts)


def orders_no_disputes() -> Ledger:
    """(b) orders, shipments and lines in contract form; receipts name the invoice they pay."""
    folder = FIXTURES / "orders_no_disputes"
    invoices = {
        r["invoice_id"]: Invoice(
            r["invoice_id"], r["customer_id"], iso(r["invoice_date"]), iso(r["due_date"]), Decimal(r["invoice_amount"])
        )
        for r in rows(folder / "invoices.csv")
    }
    payments = rows(folder / "payments.csv")
    for r in payments:
        invoices[r["invoice_id"]].applications.append((iso(r["payment_date"]), Decimal(r["amount"])))
    orders = [iso(r["order_date"]) for r in rows(folder / "sales_orders.csv")]
    return Ledger(
        invoices, [i.invoice_date for i in invoices.values()] + orders + [iso(r["payment_date"]) for r in payments]
    )


def open_invoices_only() -> Ledger:
    """(c) a register of open invoices, month-first dates, terms instead of due dates, no payments."""
    folder = FIXTURES / "open_invoices_only"
    customers = {r["Account"] for r in rows(folder / "accounts.csv")}
    invoices = {
        r["Invoice #"]: Invoice(
            r["Invoice #"],
            r["Account"],
            month_first(r["Invoice Date"]),
            month_first(r["Invoice Date"]) + dt.timedelta(days=terms_days(r["Terms"])),
            us(r["Total"]),
        )
        for r in rows(folder / "register.csv")
        if r["Account"] in customers  # an unknown account is quarantined by the load
    }
    return Ledger(invoices, [i.invoice_date for i in invoices.values()])


def query(database: Path, sql: str) -> pl.DataFrame:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return pl.from_arrow(con.sql(sql).to_arrow_table())
    finally:
        con.close()


def serving_query(data: Path, sql: str) -> pl.DataFrame:
    return query(data / "warehouse" / "serving.duckdb", sql)


def warehouse_query(data: Path, sql: str) -> pl.DataFrame:
    return query(data / "warehouse" / "warehouse.duckdb", sql)


def published_open_ar(data: Path, where: str = "true") -> dict[dt.date, Decimal]:
    frame = serving_query(
        data,
        "select a.as_of_date, sum(a.open_balance) as open_ar from marts.fct_ar_aging a "
        f"join marts.fct_invoices i using (invoice_id) where {where} group by 1 order by 1",
    )
    return dict(zip(frame["as_of_date"], frame["open_ar"], strict=True))


def published_days_to_pay(data: Path, where: str = "true") -> dict[str, int | None]:
    frame = serving_query(data, f"select invoice_id, days_to_pay from marts.fct_invoices where {where}")
    return dict(zip(frame["invoice_id"], frame["days_to_pay"], strict=True))


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    """A hand-made export file: a header from the first row's keys, then the rows."""
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def publish_export(root: Path, export: Path, currency: str) -> tuple[Path, dict[str, str]]:
    """An export folder run through `o2c run` and published under root/data, as a company runs it:
    the data directory and the environment it was run with."""
    from tests.conftest import o2c

    env = {"O2C_CONTRACT_DIR": str(export), "O2C_REPORTING_CURRENCY": currency}
    data = root / "data"
    result = o2c(data, "run", env=env, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    return data, env
