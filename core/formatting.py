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
from decimal import Decimal
from functools import cache

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


def label(column: str, currency: str = "") -> str:
    """A column's human label: a known one, else the name in words ("open_items" → "Open items");
    a trailing `_rc` (reporting currency) becomes the currency in brackets."""
    if column in LABELS:
        return LABELS[column].format(currency=currency).replace(" ()", "")
    words = column.removesuffix("_rc").replace("_", " ").strip()
    text = words[:1].upper() + words[1:]
    return f"{text} ({currency})" if column.endswith("_rc") and currency else text


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
