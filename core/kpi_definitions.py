"""The headline KPIs as the CFO reads them: what each one means, its formula, its unit, which way
is better, and what it is compared with. The one home of these words: the overview's tile help and
its "Definitions" expander, and the CFO digest, all read them here.

The formulas themselves live in dbt (the marts named below); this module only says them in words
(as docs/metrics.md and the dbt metrics' descriptions in dbt_project/models/semantic/ do, and a
test keeps the three in agreement) and writes a comparison down with core/formatting.

Comparisons are like for like (docs/metrics.md, Like-for-like comparisons):
- a **flow** (invoiced, cash collected, CEI) over the month to date is compared with the same days
  of the previous month (fct_ar_month_to_date), never with a whole month;
- a **stock** (a balance, or a ratio of a balance such as DSO) at the as-of date is compared with
  the previous month-end (fct_ar_kpis_monthly).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from core import formatting

Unit = Literal["money", "days", "percent"]
Kind = Literal["stock", "flow"]
Better = Literal["higher", "lower"] | None
Tone = Literal["good", "bad", "neutral"]
Arrow = Literal["up", "down", "off"]


@dataclass(frozen=True)
class Kpi:
    column: str  # the mart column the figure is read from
    label: str
    unit: Unit
    kind: Kind
    better: Better  # which direction of change is good; None: neither
    definition: str
    formula: str
    metric: str | None = None  # the dbt (MetricFlow) metric of the same figure
    target_setting: str | None = None  # the Settings field holding its target, if any
    decimals: int | None = None  # None: the unit's default (money 0, days 1, percent 1)


KPIS: dict[str, Kpi] = {
    kpi.column: kpi
    for kpi in (
        Kpi(
            "open_ar_rc",
            "Open AR (gross)",
            "money",
            "stock",
            "lower",
            "What customers owe on open invoices.",
            "Σ invoice amounts − credit memos − write-offs − payment applications dated on or before the date",
            metric="open_ar",
        ),
        Kpi(
            "open_ar_net_rc",
            "Net AR",
            "money",
            "stock",
            "lower",
            "Gross AR less cash received from known customers and not yet applied to an invoice.",
            "gross AR − unapplied cash on account",
            metric="net_ar",
        ),
        Kpi(
            "pct_current",
            "% current",
            "percent",
            "stock",
            "higher",
            "The share of open AR not yet due.",
            "current AR ÷ open AR × 100 (current: not yet due)",
            metric="pct_current",
            target_setting="target_pct_current",
        ),
        Kpi(
            "dso_simple",
            "DSO (simple)",
            "days",
            "stock",
            "lower",
            "Days of sales outstanding: how many days of credit sales are still unpaid.",
            "open AR ÷ credit sales of the trailing 3 calendar months × their days",
            metric="dso_simple",
            target_setting="target_dso_days",
        ),
        Kpi(
            "dso_countback",
            "DSO (countback)",
            "days",
            "stock",
            "lower",
            "DSO by the exhaustion method: open AR is used up by the newest months' sales first.",
            "walk back month by month from the newest, subtracting each month's credit sales and adding its "
            "days; in the month where the AR left is smaller than its sales, add AR left ÷ that month's sales "
            "× its days",
            metric="dso_countback",
        ),
        Kpi(
            "bpdso",
            "Best possible DSO",
            "days",
            "stock",
            "lower",
            "The DSO if every customer paid exactly on time: what the payment terms alone allow.",
            "current AR ÷ the simple DSO's credit sales × its days (current: not yet due)",
            metric="bpdso",
        ),
        Kpi(
            "add_days",
            "Average days delinquent",
            "days",
            "stock",
            "lower",
            "The part of DSO caused by late payment.",
            "simple DSO − best possible DSO",
            metric="add_days",
        ),
        Kpi(
            "cei",
            "CEI",
            "percent",
            "flow",
            "higher",
            "Collection effectiveness index: what was collected of what could have been collected in the period "
            "(N = 1: one period, a month, the month to date or a week).",
            "(beginning AR + credit sales − ending AR) ÷ (beginning AR + credit sales − ending current AR) × 100",
            metric="cei",
            target_setting="target_cei_pct",
        ),
        Kpi(
            "cash_collected_rc",
            "Cash collected",
            "money",
            "flow",
            "higher",
            "Money received from customers in the period, less refunds paid out.",
            "Σ receipts − refunds dated in the period",
            metric="cash_collected",
        ),
        Kpi(
            "credit_sales_rc",
            "Invoiced (credit sales)",
            "money",
            "flow",
            None,
            "Invoices dated in the period: the credit sales every DSO divides by.",
            "Σ invoice amounts dated in the period",
            metric="invoiced",
        ),
        Kpi(
            "disputes_opened_rc",
            "Disputed amount (opened)",
            "money",
            "flow",
            "lower",
            "Amounts customers contested in the period: cash that will come late, if at all.",
            "Σ disputed amounts of the disputes opened in the period",
            metric="disputed_amount",
        ),
        Kpi(
            "expected_credit_loss_rc",
            "Expected credit loss",
            "money",
            "stock",
            "lower",
            "The allowance for bad debt: what of today's open AR history says will be written off.",
            "Σ over aging buckets of open balance × the bucket's historical loss rate (write-offs within 12 "
            "months of a month-end ÷ the bucket's balance then)",
            metric="expected_credit_loss",
        ),
        Kpi(
            "bad_debt_ratio",
            "Bad-debt ratio (12 months)",
            "percent",
            "stock",
            "lower",
            "How much of what was sold had to be written off.",
            "write-offs ÷ credit sales over the trailing 12 months × 100",
            metric="bad_debt_ratio",
            decimals=2,
        ),
    )
}


def targets(settings: object) -> dict[str, float | None]:
    """Each KPI column's target from the settings (Settings.target_*); None where none is set."""
    return {
        column: getattr(settings, kpi.target_setting) if kpi.target_setting else None for column, kpi in KPIS.items()
    }


DEFAULT_DECIMALS: dict[Unit, int] = {"money": 0, "days": 1, "percent": 1}


def decimals(kpi: Kpi) -> int:
    return DEFAULT_DECIMALS[kpi.unit] if kpi.decimals is None else kpi.decimals


def value_text(kpi: Kpi, value: float | Decimal | None, currency: str, locale: str = formatting.DEFAULT_LOCALE) -> str:
    """The figure as shown: "$163,922", "45.2 days", "83.3%"."""
    if kpi.unit == "money":
        return formatting.money(value, currency, decimals(kpi), locale)
    if kpi.unit == "days":
        return formatting.days(value, decimals(kpi), locale)
    return formatting.percent(value, decimals(kpi), locale)


def change_text(kpi: Kpi, change: float | None, currency: str, locale: str = formatting.DEFAULT_LOCALE) -> str | None:
    """A change as shown: "+$500", "−14.9 days", "+50.0 pp" (a percentage changes by points)."""
    if change is None:
        return None
    if kpi.unit == "money":
        return formatting.signed_money(change, currency, decimals(kpi), locale)
    if kpi.unit == "days":
        return formatting.change(change, "days", decimals(kpi), locale)
    return formatting.points(change, decimals(kpi), locale)


def target_text(kpi: Kpi, target: float | None, locale: str = formatting.DEFAULT_LOCALE) -> str | None:
    """ "target 45 days", "target 80%"; None without a target."""
    if target is None:
        return None
    if kpi.unit == "days":
        return f"target {formatting.days(target, 0 if float(target).is_integer() else 1, locale)}"
    if kpi.unit == "percent":
        return f"target {formatting.percent(target, 0 if float(target).is_integer() else 1, locale)}"
    return f"target {formatting.number(target, 0, locale)}"


@dataclass(frozen=True)
class Comparison:
    """One KPI now against what it is compared with, written down."""

    kpi: Kpi
    now: float | None
    before: float | None
    change: float | None
    now_text: str
    before_text: str
    change_text: str | None
    arrow: Arrow  # the direction of the change as shown (rounded to zero: none)
    tone: Tone  # good or bad by the KPI's better direction; neutral when neither or no change
    compared_with: str  # "Feb 1–2, 2026" or "Feb 28, 2026"
    target_text: str | None


def compare(
    kpi: Kpi,
    now: float | Decimal | None,
    before: float | Decimal | None,
    compared_with: str,
    currency: str,
    target: float | None = None,
    locale: str = formatting.DEFAULT_LOCALE,
) -> Comparison:
    now_value = None if now is None else float(now)
    before_value = None if before is None else float(before)
    change = None if now_value is None or before_value is None else now_value - before_value
    # What reads as zero has no direction: a change of 0.04 days shows "0.0 days", no arrow.
    shown = 0.0 if change is None else round(change, decimals(kpi))
    arrow: Arrow = "off" if shown == 0 else ("up" if shown > 0 else "down")
    if arrow == "off" or kpi.better is None:
        tone: Tone = "neutral"
    else:
        tone = "good" if (arrow == "up") == (kpi.better == "higher") else "bad"
    return Comparison(
        kpi=kpi,
        now=now_value,
        before=before_value,
        change=change,
        now_text=value_text(kpi, now, currency, locale),
        before_text=value_text(kpi, before, currency, locale),
        change_text=change_text(kpi, change, currency, locale),
        arrow=arrow,
        tone=tone,
        compared_with=compared_with,
        target_text=target_text(kpi, target, locale),
    )


def period_text(start: dt.date, end: dt.date) -> str:
    """A period in words: "Feb 1–2, 2026", "Feb 1, 2026" for one day, "Feb 24 – Mar 2, 2026"."""
    if start == end:
        return formatting.date(end)
    if (start.year, start.month) == (end.year, end.month):
        return f"{start:%b} {start.day}–{end.day}, {end.year}"
    if start.year == end.year:
        return f"{start:%b} {start.day} – {end:%b} {end.day}, {end.year}"
    return f"{formatting.date(start)} – {formatting.date(end)}"


def help_text(kpi: Kpi, comparison: str | None = None, target: str | None = None) -> str:
    """A tile's help: the definition, the formula, what it is compared with, the target."""
    parts = [f"{kpi.definition}\n\n**Formula:** {kpi.formula}."]
    if comparison:
        parts.append(comparison)
    if target:
        parts.append(f"{target[0].upper()}{target[1:]} (set in the settings).")
    return "\n\n".join(parts)


# What each kind of figure is compared with, in the words of the tile help.
COMPARED_WITH: dict[Kind, str] = {
    "flow": "Month to date against the same days of the previous month (like for like, never a whole month).",
    "stock": "At the data's as-of date against the previous month-end.",
}
