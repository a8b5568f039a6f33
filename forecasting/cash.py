"""The 13-week cash collection forecast.

Expected collections in a week = what the open items are predicted to pay that week (their open
balance × the share of such items that history says gets collected at all) + what next weeks'
forecast invoicing will pay, spread by the historical collection curve (share of an invoice's
amount collected 0, 1, 2 … weeks after it is issued). Both only see cash applied to invoices, so
the receipts that stay unapplied (unidentified transfers, payments on account) are added back at
their recent share of all receipts. The naive benchmark is the average weekly
receipts of the last 13 weeks, flat.
"""

import datetime as dt
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from core.db import query_frame

HORIZON_WEEKS = 13
CURVE_WEEKS = 26  # collections later than half a year after invoicing are not expected
CURVE_COHORT_DAYS = 365  # invoices of the year before the curve is measured
SHORT_HISTORY_MIN_AGE_DAYS = 56


def weekly_receipts(con: duckdb.DuckDBPyConnection, origin: dt.date, weeks: int) -> pl.DataFrame:
    """Customer receipts (refunds excluded) in reporting currency for the `weeks` weeks after
    `origin` (positive week numbers) or before it (week ≤ 0: week 0 ends on the origin), read
    from fct_receipts_weekly (week k is its row ending 7·k days after the origin)."""
    sql = """
    select
        (week_end_date - $origin::date) // 7 as week,
        receipts_rc::double as receipts_rc
    from marts.fct_receipts_weekly
    where (week_end_date - $origin::date) % 7 = 0
    """
    frame = query_frame(con, sql, {"origin": origin})
    wanted = pl.DataFrame({"week": list(range(1, weeks + 1)) if weeks > 0 else list(range(weeks + 1, 1))})
    return wanted.join(frame, on="week", how="left").with_columns(pl.col("receipts_rc").fill_null(0.0))


def naive_forecast(con: duckdb.DuckDBPyConnection, origin: dt.date) -> float:
    """Average weekly receipts over the 13 weeks up to the origin."""
    return float(weekly_receipts(con, origin, -HORIZON_WEEKS)["receipts_rc"].mean())


def unapplied_share(con: duckdb.DuckDBPyConnection, origin: dt.date) -> float:
    """Share of the receipts of the 13 weeks up to the origin not applied to any invoice."""
    sql = f"""
    select coalesce(sum(unapplied_amount_rc) / nullif(sum(amount_rc), 0), 0)::double
    from marts.fct_payments
    where not is_refund and payment_date > $origin::date - {HORIZON_WEEKS * 7} and payment_date <= $origin
    """
    share = con.execute(sql, {"origin": origin}).fetchall()[0][0]
    return min(max(share, 0.0), 0.5)  # never let a data problem more than double the forecast


def rates_window(origin: dt.date) -> tuple[dt.date, dt.date]:
    """The origins collection rates are measured on, first and last: those of the year before
    `origin` whose 13 weeks had passed by it."""
    return origin - dt.timedelta(days=365), origin - dt.timedelta(days=HORIZON_WEEKS * 7)


def collection_rates(con: duckdb.DuckDBPyConnection, origin: dt.date) -> pl.DataFrame:
    """Per aging bucket (fct_ar_aging's aging_bucket_order, so the bucket rule stays in dbt): the
    share of open balance at earlier origins collected within 13 weeks
    (only origins of the last year whose 13 weeks had passed by `origin`). None at all when nothing
    was collected: that is a missing payment history (an AR export without payments), not evidence
    that nobody pays, and with_collection_rates then assumes full collection.

    Read from the marts, not from the pay-date history: the rates need an item's bucket, balance and
    paid date only, and staging the features of every item of a year's month-ends for them was
    most of a day's forecasting at scale l."""
    sql = f"""
    select
        aging.aging_bucket_order,
        sum(aging.open_balance_rc)::double as open_rc,
        coalesce(
            sum(aging.open_balance_rc) filter (where invoices.paid_date <= aging.as_of_date + {HORIZON_WEEKS * 7}), 0
        )::double as collected_rc
    from marts.fct_ar_aging as aging
    inner join marts.fct_invoices as invoices on aging.invoice_id = invoices.invoice_id
    where aging.as_of_date between $first and $last
    group by aging.aging_bucket_order
    """
    first, last = rates_window(origin)
    rows = query_frame(con, sql, {"first": first, "last": last})
    if not rows.is_empty() and rows["collected_rc"].sum() == 0:
        rows = rows.clear()
    return rows.select("aging_bucket_order", (pl.col("collected_rc") / pl.col("open_rc")).alias("collection_rate"))


def with_collection_rates(items: pl.DataFrame, rates: pl.DataFrame) -> pl.DataFrame:
    """`expected_collection_rate` of each item: its aging bucket's rate (1 where history is silent)."""
    return (
        items.join(rates, on="aging_bucket_order", how="left")
        .with_columns(pl.col("collection_rate").fill_null(1.0).alias("expected_collection_rate"))
        .drop("collection_rate")
    )


@dataclass(frozen=True)
class CollectionCurve:
    """Share of invoiced amount paid k weeks after the invoice date (k = 0 … CURVE_WEEKS − 1)."""

    shares: np.ndarray
    # history: invoices of the year ending half a year before the origin; short_history: every
    # invoice at least 8 weeks old (a curve cut short); terms: no payment known, the contractual
    # curve (each invoice paid on its due date); none: no invoice at all in the last year.
    source: str


def collection_curve(con: duckdb.DuckDBPyConnection, origin: dt.date) -> CollectionCurve:
    """From the invoices of the year ending half a year before the origin, with payments known at
    the origin. On a shorter history, from every invoice at least 8 weeks old: a curve cut short,
    better than none. Without any payment in those, from the invoices' terms: what is contractually
    due is the best there is."""
    cohorts = (
        ("history", CURVE_COHORT_DAYS + CURVE_WEEKS * 7, CURVE_WEEKS * 7),
        ("short_history", CURVE_COHORT_DAYS + CURVE_WEEKS * 7, SHORT_HISTORY_MIN_AGE_DAYS),
    )
    for source, oldest, youngest in cohorts:
        cohort = f"invoice_date > $origin::date - {oldest} and invoice_date <= $origin::date - {youngest}"
        curve = _curve(con, origin, cohort, "paid_date <= $origin", "paid_date - invoice_date")
        if curve.any():
            return CollectionCurve(curve, source)
    cohort = f"invoice_date > $origin::date - {CURVE_COHORT_DAYS} and invoice_date <= $origin"
    curve = _curve(con, origin, cohort, "true", "due_date - invoice_date")
    return CollectionCurve(curve, "terms" if curve.any() else "none")


def _curve(con: duckdb.DuckDBPyConnection, origin: dt.date, cohort: str, paid: str, days: str) -> np.ndarray:
    """Share of the cohort's invoiced amount with `days` (from the invoice date) in week k."""
    total = con.execute(
        f"select coalesce(sum(invoice_amount_rc), 0)::double from marts.fct_invoices where {cohort}",
        {"origin": origin},
    ).fetchall()[0][0]
    curve = np.zeros(CURVE_WEEKS)
    if not total:
        return curve
    sql = f"""
    select ({days}) // 7 as week, sum(invoice_amount_rc)::double as paid_rc
    from marts.fct_invoices
    where {cohort} and {paid}
    group by all
    """
    for week, amount in query_frame(con, sql, {"origin": origin}).iter_rows():
        if week is not None and 0 <= week < CURVE_WEEKS:
            curve[week] = amount / total
    return curve


def forecast(
    origin: dt.date,
    predicted_items: pl.DataFrame,
    new_invoicing: np.ndarray,
    curve: np.ndarray,
    naive_weekly: float,
    unapplied: float,
) -> pl.DataFrame:
    """The 13 weekly rows: expected collections from open items and from new invoicing.

    `predicted_items` has open_balance_rc, predicted_date and expected_collection_rate per open item;
    `new_invoicing` the forecast invoiced amount of weeks 1 … 13.
    """
    weeks = pl.DataFrame({"week": list(range(1, HORIZON_WEEKS + 1))})
    items = (
        predicted_items.with_columns(
            (((pl.col("predicted_date") - pl.lit(origin)).dt.total_days() - 1) // 7 + 1).alias("week"),
        )
        .group_by("week")
        .agg((pl.col("open_balance_rc") * pl.col("expected_collection_rate")).sum().alias("from_open_items_rc"))
    )
    # Invoices issued in week j pay curve[k] of their amount in week j + k; mid-week issue, so
    # week j's own share is what the curve says for week 0. No invoicing forecast: nothing new.
    invoicing = np.zeros(HORIZON_WEEKS)
    given = np.asarray(new_invoicing, dtype=float)[:HORIZON_WEEKS]
    invoicing[: len(given)] = given
    from_new = np.convolve(invoicing, np.asarray(curve, dtype=float))[:HORIZON_WEEKS]
    return (
        weeks.join(items, on="week", how="left")
        .with_columns(
            pl.lit(origin).alias("origin_date"),
            (pl.lit(origin) + pl.duration(days=7 * pl.col("week") - 6)).alias("week_start"),
            (pl.lit(origin) + pl.duration(days=7 * pl.col("week"))).alias("week_end"),
            pl.col("from_open_items_rc").fill_null(0.0),
            pl.Series("from_new_invoices_rc", from_new),
            pl.lit(naive_weekly).alias("naive_rc"),
        )
        .with_columns(
            ((pl.col("from_open_items_rc") + pl.col("from_new_invoices_rc")) * unapplied / (1 - unapplied)).alias(
                "unapplied_receipts_rc"
            )
        )
        .with_columns(
            (pl.col("from_open_items_rc") + pl.col("from_new_invoices_rc") + pl.col("unapplied_receipts_rc")).alias(
                "expected_collections_rc"
            )
        )
        .select(
            "origin_date",
            "week",
            "week_start",
            "week_end",
            "from_open_items_rc",
            "from_new_invoices_rc",
            "unapplied_receipts_rc",
            "expected_collections_rc",
            "naive_rc",
        )
    )
