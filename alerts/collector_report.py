"""The collector's daily email, one per collector with only their accounts: short enough for a
morning — the daily target's top worklist items (fct_worklist_items' order and reasons), totals,
what changed since yesterday and a link to the worklist — with every exception in a CSV.
Every figure goes through core.formatting; a missing value never shows as "None"."""

import io
from dataclasses import dataclass

import polars as pl

from alerts import data, recipients, render
from alerts.config import AlertConfig
from alerts.mail import Attachment, Email
from core import formatting

CSV_COLUMNS = (
    "section",
    "customer_id",
    "customer_name",
    "invoice_id",
    "due_date",
    "days_past_due",
    "currency",
    "open_balance",
    "open_balance_rc",
    "detail",
)


def exceptions(snapshot: data.Snapshot, config: AlertConfig) -> pl.DataFrame:
    """Every exception of every collector, one row each, in the CSV's columns plus collector_id."""
    items = snapshot.frame(data.OPEN_ITEMS)
    item_columns = ["collector_id", *CSV_COLUMNS[1:-1]]
    past_due = items.filter(pl.col("days_past_due") > config.past_due_days).with_columns(
        pl.lit("past_due").alias("section"), pl.format("{} days past due", "days_past_due").alias("detail")
    )
    due_soon = items.filter(
        pl.col("days_past_due").is_between(-7, 0) & (pl.col("open_balance_rc") >= config.large_item_rc)
    ).with_columns(pl.lit("large_due_this_week").alias("section"), pl.format("due {}", "due_date").alias("detail"))
    broken = (
        snapshot.frame(data.BROKEN_PROMISES)
        .join(items, on=["invoice_id", "customer_id"], how="inner")
        .with_columns(
            pl.lit("broken_promise").alias("section"),
            pl.format("promised {} for {}", "promised_date", "promised_amount").alias("detail"),
        )
    )
    disputes = (
        snapshot.frame(data.NEW_DISPUTES, days=config.new_dispute_days)
        .join(items.drop("currency"), on=["invoice_id", "customer_id"], how="inner")
        .with_columns(
            pl.lit("new_dispute").alias("section"),
            pl.format("{} dispute opened {}", "reason", "opened_date").alias("detail"),
        )
    )
    over_limit = snapshot.frame(data.OVER_LIMIT).select(
        "collector_id",
        pl.lit("over_credit_limit").alias("section"),
        "customer_id",
        "customer_name",
        pl.lit(None, pl.String).alias("invoice_id"),
        pl.lit(None, pl.Date).alias("due_date"),
        pl.lit(None, pl.Int64).alias("days_past_due"),
        "currency",
        pl.col("exposure").alias("open_balance"),
        pl.lit(None, pl.Float64).alias("open_balance_rc"),
        pl.format("exposure {} over a limit of {} ({}%)", "exposure", "credit_limit", "credit_utilisation_pct").alias(
            "detail"
        ),
    )
    parts = [
        frame.select(["collector_id", "section", *item_columns[1:], "detail"])
        for frame in (past_due, due_soon, broken, disputes)
    ]
    return pl.concat([*(p.cast(over_limit.schema) for p in parts), over_limit]).sort(
        "collector_id", "section", "customer_id", "invoice_id", nulls_last=True
    )


@dataclass(frozen=True)
class Item:
    """One of today's top items, formatted for the email."""

    rank: int
    customer: str
    invoice: str
    why: str
    new: str
    open_balance: str
    due_date: str


def top_items(rows: pl.DataFrame) -> list[Item]:
    return [
        Item(
            rank=row["priority_rank"],
            customer=row["customer_name"] or row["invoice_id"],
            invoice=row["invoice_id"],
            why=row["priority_reason"],
            new=row["new_since_yesterday"] or "",
            open_balance=formatting.money(row["open_balance"], row["currency"], 2),
            due_date=formatting.date(row["due_date"]),
        )
        for row in rows.iter_rows(named=True)
    ]


def changes(totals: dict[str, object]) -> list[str]:
    """What changed since the previous data day (fct_worklist_items), in words; empty when nothing did."""
    kinds = (
        ("new_invoices", "new invoice", ""),
        ("became_past_due", "item", " became past due"),
        ("newly_broken_promises", "promise", " broken"),
        ("new_disputes", "new dispute", ""),
        ("now_due_within_a_week", "item", " now due within a week"),
    )
    return [
        formatting.count(int(totals.get(key) or 0), noun) + tail
        for key, noun, tail in kinds
        if int(totals.get(key) or 0)
    ]


def emails(
    snapshot: data.Snapshot,
    config: AlertConfig,
    dashboard_url: str,
    reporting_currency: str,
    daily_items: int = 25,
    skipped: list[str] | None = None,
) -> list[Email]:
    """One email per collector with something to report. A collector whose email is not exactly
    one address (alerts/recipients) gets none: one line in `skipped` says why; the others go."""
    rows = exceptions(snapshot, config)
    collectors = snapshot.frame(data.COLLECTORS)
    top = snapshot.frame(data.WORKLIST_TOP, top=daily_items)
    totals = {row["collector_id"]: row for row in snapshot.frame(data.COLLECTOR_TOTALS).iter_rows(named=True)}
    out = []
    for collector_id, name, email_address in collectors.iter_rows():
        mine = rows.filter(pl.col("collector_id") == collector_id)
        my_top = top.filter(pl.col("collector_id") == collector_id)
        key = f"collector_report/{collector_id}/{snapshot.as_of}"
        try:
            to = (recipients.header(name, recipients.one(email_address)),)
        except recipients.BadAddress as bad:
            if skipped is not None and (config.collector_all_clear or not (mine.is_empty() and my_top.is_empty())):
                who = f"collector_reports: collector {collector_id!r}"
                skipped.append(recipients.report(who, "email", email_address, str(bad), "no report sent"))
            continue
        context = {"collector_name": name, "as_of": formatting.date(snapshot.as_of), "build_id": snapshot.build_id}
        if mine.is_empty() and my_top.is_empty():
            if config.collector_all_clear:
                text = render.text("all_clear", **context)
                out.append(Email(key, to, f"All clear — {snapshot.as_of}", f"<p>{text}</p>", text))
            continue
        mine_totals = totals.get(collector_id, {})
        worklist_items = int(mine_totals.get("worklist_items") or 0)
        broken = int(mine_totals.get("broken_promises") or 0)
        context |= {
            "items": top_items(my_top),
            "daily_items": daily_items,
            "worklist_items": formatting.count(worklist_items, "item"),
            "open_ar": formatting.money(mine_totals.get("open_rc") or 0, reporting_currency),
            "past_due": formatting.money(mine_totals.get("past_due_rc") or 0, reporting_currency),
            "broken_promises": formatting.count(broken, "broken promise"),
            "broken_promises_rc": formatting.money(mine_totals.get("broken_promises_rc") or 0, reporting_currency),
            "changes": changes(mine_totals),
            "exceptions": formatting.count(mine.height, "exception"),
            "worklist_url": f"{dashboard_url.rstrip('/')}/worklist",
        }
        buffer = io.BytesIO()
        formatting.spreadsheet_safe(mine.select(CSV_COLUMNS)).write_csv(buffer)  # no formula runs
        out.append(
            Email(
                key=key,
                to=to,
                subject=f"Your collections day {snapshot.as_of}: top {my_top.height} of {worklist_items} items",
                html=render.html("collector_report", **context),
                text=render.text("collector_report", **context),
                attachments=(
                    Attachment(f"exceptions_{collector_id}_{snapshot.as_of}.csv", buffer.getvalue(), "text", "csv"),
                ),
            )
        )
    return out
