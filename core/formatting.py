"""How figures read wherever they are shown: the pages, the emails and the letters alike.

One vocabulary, so that a CFO sees a figure written the same way on the overview and in the Monday
digest: money with its currency and a fixed number of decimals, percentages and percentage points
labelled as such, day counts with their unit, human labels instead of column names, and one colour
scale for aging buckets on which older is worse. Numbers and dates follow a locale through Babel
(the reporting locale on the pages, the customer's in a dunning letter). Nothing here computes a
figure; it only writes one down.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import Decimal
from functools import cache

import polars as pl
from babel import Locale, numbers
from babel.dates import format_date

DEFAULT_LOCALE = "en_US"
MISSING = "–"  # a figure the data does not have: never "None" or "nan"

Number = int | float | Decimal | None


@cache
def _pattern(locale: str, kind: str, decimals: int) -> numbers.NumberPattern:
    """The locale's own pattern for money or percentages (where the symbol goes, the spacing),
    with our number of decimals."""
    formats = Locale.parse(locale)
    pattern = copy.copy(formats.currency_formats["standard"] if kind == "currency" else formats.percent_formats[None])
    pattern.frac_prec = (decimals, decimals)
    return pattern


def money(value: Number, currency: str, decimals: int = 0, locale: str = DEFAULT_LOCALE) -> str:
    """An amount with its currency where the locale puts it: "$163,922", "163.922,30 €".

    Tiles and headlines use whole units (decimals=0); tables, letters and whatever a customer
    reconciles use cents (decimals=2).
    """
    if value is None:
        return MISSING
    return _pattern(locale, "currency", decimals).apply(value, locale, currency=currency, currency_digits=False)


def signed_money(value: Number, currency: str, decimals: int = 0, locale: str = DEFAULT_LOCALE) -> str:
    """A change of an amount, signed: "+$1,500", "−$300", "$0" when it rounds to nothing."""
    if value is None:
        return MISSING
    text = money(abs(value), currency, decimals, locale)
    shown = round(float(value), decimals)
    if shown > 0:
        return "+" + text
    if shown < 0:
        return "−" + text  # a true minus sign, as in print
    return text


def number(value: Number, decimals: int = 0, locale: str = DEFAULT_LOCALE) -> str:
    """A plain number with the locale's separators: "1,234" or "1.234,5"."""
    if value is None:
        return MISSING
    fraction = "." + "0" * decimals if decimals else ""
    return numbers.format_decimal(value, format=f"#,##0{fraction}", locale=locale)


def count(value: Number, noun: str | None = None, locale: str = DEFAULT_LOCALE) -> str:
    """A count of things, whole: "610 items" (an item count is never a trend arrow)."""
    if value is None:
        return MISSING
    text = number(value, 0, locale)
    if noun is None:
        return text
    return f"{text} {noun if value == 1 else plural(noun)}"


def plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"


def percent(value: Number, decimals: int = 1, locale: str = DEFAULT_LOCALE) -> str:
    """A percentage given in percent (5.8 → "5.8%"), as the marts store them."""
    if value is None:
        return MISSING
    return _pattern(locale, "percent", decimals).apply(float(value) / 100, locale)


def points(value: Number, decimals: int = 1, locale: str = DEFAULT_LOCALE) -> str:
    """A change between two percentages, signed, in percentage points: "+1.2 pp"."""
    if value is None:
        return MISSING
    return f"{_signed(value, decimals, locale)} pp"


def days(value: Number, decimals: int = 1, locale: str = DEFAULT_LOCALE) -> str:
    """A number of days: "45.2 days", "1 day"."""
    if value is None:
        return MISSING
    unit = "day" if decimals == 0 and abs(float(value)) == 1 else "days"
    return f"{number(value, decimals, locale)} {unit}"


def change(value: Number, unit: str = "", decimals: int = 1, locale: str = DEFAULT_LOCALE) -> str:
    """A signed change with its unit: "+3.4 days", "−1,200"."""
    if value is None:
        return MISSING
    return f"{_signed(value, decimals, locale)}{' ' + unit if unit else ''}"


def _signed(value: int | float | Decimal, decimals: int, locale: str) -> str:
    text = number(abs(value), decimals, locale)
    shown = round(float(value), decimals)  # what rounds to zero carries no sign
    if shown > 0:
        return "+" + text
    if shown < 0:
        return "−" + text  # a true minus sign, as in print
    return text


def date(value: dt.date | None, locale: str = DEFAULT_LOCALE, style: str = "medium") -> str:
    """A date the locale's way: "Nov 30, 2026", "30.11.2026"."""
    if value is None:
        return MISSING
    return format_date(value, format=style, locale=locale)


# ---- Labels --------------------------------------------------------------------------------

# Column names of the marts as people say them. `{currency}` is the reporting currency.
LABELS: dict[str, str] = {
    "open_ar_rc": "Open AR ({currency})",
    "past_due_rc": "Past due ({currency})",
    "amount_rc": "Amount ({currency})",
    "open_amount_rc": "Open amount ({currency})",
    "balance_rc": "Balance ({currency})",
    "invoiced_rc": "Invoiced ({currency})",
    "collected_rc": "Collected ({currency})",
    "cash_collected_rc": "Cash collected ({currency})",
    "credited_rc": "Credited ({currency})",
    "written_off_rc": "Written off ({currency})",
    "opening_ar_rc": "Opening AR ({currency})",
    "closing_ar_rc": "Closing AR ({currency})",
    "net_change_rc": "Change in AR ({currency})",
    "unapplied_rc": "Unapplied cash ({currency})",
    "from_open_items_rc": "From open items ({currency})",
    "expected_rc": "Expected ({currency})",
    "actual_rc": "Actual ({currency})",
    "dso_simple": "DSO, simple (days)",
    "dso_countback": "DSO, countback (days)",
    "bpdso": "Best possible DSO (days)",
    "add_days": "Average days delinquent",
    "cei_pct": "CEI (%)",
    "mape_pct": "MAPE (%)",
    "days_past_due": "Days past due",
    "aging_bucket": "Aging bucket",
    "customer_id": "Customer ID",
    "customer_name": "Customer",
    "invoice_id": "Invoice ID",
    "invoice_number": "Invoice",
    "invoice_date": "Invoice date",
    "due_date": "Due date",
    "collector_id": "Collector",
    "period_end": "Month end",
    "week_start": "Week of",
    # the collections worklist
    "priority_rank": "Rank",
    "priority_reason": "Why today",
    "promise_status": "Promise",
    "recovery_likelihood_pct": "Recovery likelihood (%)",
}


# More columns of the marts as people say them: cycle times, order quality, forecasts, customers
# and cash application (the pages' tables and charts).
LABELS |= {
    "order_month": "Order month",
    "invoice_month": "Invoice month",
    "month_start": "Month",
    "week_end": "Week ending",
    "n_orders": "Orders",
    "n_invoices": "Invoices",
    "n_orders_paid": "Orders paid",
    "n_otif_measured": "Orders measured for OTIF",
    "n_accurate_invoices": "Accurate invoices",
    "n_orders_first_shipment": "Orders, to first shipment",
    "n_orders_last_shipment": "Orders, to last shipment",
    "n_invoices_applied": "Invoices applied",
    "n_unpaid": "Invoices unpaid",
    "n_origins": "Backtest origins",
    "otif_pct": "OTIF (%)",
    "on_time_pct": "On time (%)",
    "in_full_pct": "In full (%)",
    "perfect_order_pct": "Perfect orders (%)",
    "invoice_accuracy_pct": "Invoice accuracy (%)",
    "days_to_ship_p50": "Order to ship, median (days)",
    "days_to_ship_p90": "Order to ship, p90 (days)",
    "days_to_ship_mean": "Order to ship, mean (days)",
    "days_to_last_ship_p50": "Order to last shipment, median (days)",
    "days_to_last_ship_p90": "Order to last shipment, p90 (days)",
    "median_days": "Median (days)",
    "p90_days": "90th percentile (days)",
    "mean_variance_days": "Mean variance (days)",
    "median_variance_days": "Median variance (days)",
    "p90_variance_days": "90th percentile variance (days)",
    "terms_variance_days": "Terms variance (days)",
    "terms_days": "Terms (days)",
    "weighted_days_to_pay": "Days to pay, weighted",
    "weighted_days_late": "Days late, weighted",
    "pct_paid_late": "Paid late (%)",
    "probability_alive": "Probability still buying",
    "predicted_revenue_12m_rc": "Predicted revenue, 12 months ({currency})",
    "is_over_credit_limit": "Over credit limit",
    "expected_collections_rc": "Expected receipts ({currency})",
    "naive_rc": "Naive forecast ({currency})",
    "receipts_rc": "Receipts ({currency})",
    "mae_days": "MAE (days)",
    "bias_days": "Bias (days)",
    "wape_pct": "WAPE (%)",
    "lo_80": "Low, 80% interval",
    "hi_80": "High, 80% interval",
    "match_confidence": "Match confidence",
    "customer_or_payer": "Customer or payer",
    "payment_id": "Payment ID",
    "order_id": "Order ID",
    "dispute_id": "Dispute ID",
}

# Words a label writes in capitals, wherever they come in a column's name.
ACRONYMS = frozenset({"ar", "cei", "clv", "dso", "id", "mae", "mape", "otif", "p50", "p90", "wape"})


def label(column: str, currency: str = "") -> str:
    """A column's human label: a known one (LABELS), else the name in words with its unit in
    brackets: a trailing `_rc` (reporting currency) the currency, `_pct` or `pct_` "%", `days_…_to_…` or
    `_days` "days" ("days_order_to_ship" → "Order to ship (days)", "open_items" → "Open items")."""
    if column in LABELS:
        return LABELS[column].format(currency=currency).replace(" ()", "")
    unit, stem = "", column
    if column.endswith("_rc"):
        unit, stem = currency, column.removesuffix("_rc")
    elif column.endswith("_pct") or column.startswith("pct_"):
        unit, stem = "%", column.removesuffix("_pct").removeprefix("pct_")
    elif column.endswith("_days") or (column.startswith("days_") and "_to_" in column):
        unit, stem = "days", column.removesuffix("_days").removeprefix("days_")
    words = [word.upper() if word in ACRONYMS else word for word in stem.split("_") if word]
    text = " ".join(words)
    text = text[:1].upper() + text[1:]
    return f"{text} ({unit})" if unit else text


# ---- Colours -------------------------------------------------------------------------------

# Green (not yet due) through amber to a deep red (oldest): the further right, the worse.
SEVERITY = ("#2e7d32", "#9ccc65", "#fdd835", "#fb8c00", "#e53935", "#8e0000")


def severity_colours(count_of_levels: int) -> list[str]:
    """`count_of_levels` colours from least to most severe, spread over the scale's ends."""
    if count_of_levels <= 1:
        return list(SEVERITY[:count_of_levels])
    last = len(SEVERITY) - 1
    return [SEVERITY[round(i * last / (count_of_levels - 1))] for i in range(count_of_levels)]


def aging_colours(labels_in_order: list[str]) -> dict[str, str]:
    """Each aging bucket's colour, given the buckets from current to oldest (their `order` in
    the marts), so that the oldest is always the darkest red whatever the buckets are called."""
    return dict(zip(labels_in_order, severity_colours(len(labels_in_order)), strict=True))


# ---- Cells of files people open in a spreadsheet ------------------------------------------

# What makes Excel, LibreOffice or Sheets read a cell as a formula (OWASP "CSV injection"): = + - @
# and a leading tab or carriage return, and the full-width forms some of them also accept.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_text(value: str | None) -> str | None:
    """A text cell as a spreadsheet must receive it: one starting with a formula character gets a
    leading single quote, so it shows as the text it is and is never run ("=HYPERLINK(…)" →
    "'=HYPERLINK(…)"). The one home of the rule: every CSV and Excel file o2c writes goes through
    it (spreadsheet_safe)."""
    if value and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every text cell made safe (spreadsheet_text). Only text columns: a negative
    amount typed as a number (-12.50) is a number, stays one and stays summable."""
    pattern = "^[" + "".join(re.escape(c) for c in FORMULA_STARTS) + "]"
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(pattern)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name in text_columns
    )
