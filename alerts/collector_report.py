"""The daily exception report: one email per collector, only their accounts, with a CSV."""

import io
from dataclasses import dataclass

import polars as pl

from alerts import data, render
from alerts.config import AlertConfig
from alerts.mail import Attachment, Email, address

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


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]
    total_rc: float | None


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


SECTION_TITLES = {
    "past_due": "Past due beyond the threshold",
    "broken_promise": "Broken promises to pay",
    "new_dispute": "New disputes",
    "over_credit_limit": "Customers over their credit limit",
    "large_due_this_week": "Large items coming due this week",
}


def _sections(rows: pl.DataFrame) -> list[Section]:
    sections = []
    for key, title in SECTION_TITLES.items():
        part = rows.filter(pl.col("section") == key)
        columns = ("customer_name", "invoice_id", "due_date", "days_past_due", "currency", "open_balance", "detail")
        total = part["open_balance_rc"].sum() if key != "over_credit_limit" else None
        sections.append(Section(key, title, columns, part.select(columns).rows(), total))
    return sections


def emails(snapshot: data.Snapshot, config: AlertConfig, dashboard_url: str, reporting_currency: str) -> list[Email]:
    rows = exceptions(snapshot, config)
    collectors = snapshot.frame(data.COLLECTORS)
    out = []
    for collector_id, name, email_address in collectors.iter_rows():
        mine = rows.filter(pl.col("collector_id") == collector_id)
        key = f"collector_report/{collector_id}/{snapshot.as_of}"
        context = {"collector_name": name, "as_of": snapshot.as_of, "build_id": snapshot.build_id}
        if mine.is_empty():
            if config.collector_all_clear:
                text = render.text("all_clear", **context)
                out.append(
                    Email(key, (address(name, email_address),), f"All clear — {snapshot.as_of}", f"<p>{text}</p>", text)
                )
            continue
        sections = _sections(mine)
        summary = (
            f"{mine.height} exceptions on {mine['customer_id'].n_unique()} customers; "
            f"{mine.filter(pl.col('section') == 'past_due')['open_balance_rc'].sum():,.2f} {reporting_currency} "
            f"past due beyond {config.past_due_days} days."
        )
        context |= {
            "sections": sections,
            "summary": summary,
            "worklist_url": f"{dashboard_url.rstrip('/')}/worklist",
            "reporting_currency": reporting_currency,
        }
        buffer = io.BytesIO()
        mine.select(CSV_COLUMNS).write_csv(buffer)
        out.append(
            Email(
                key=key,
                to=(address(name, email_address),),
                subject=f"Collections exceptions {snapshot.as_of}: {mine.height} items",
                html=render.html("collector_report", **context),
                text=render.text("collector_report", **context),
                attachments=(
                    Attachment(f"exceptions_{collector_id}_{snapshot.as_of}.csv", buffer.getvalue(), "text", "csv"),
                ),
            )
        )
    return out
