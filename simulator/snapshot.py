"""The source systems as they look at the end of a simulated day.

Rows appear when their first event has happened; status columns and `updated_at` reflect the
latest event on or before that day. Comparing two snapshots gives exactly the rows a source
system inserted or updated in between.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from simulator import params as P
from simulator.world import World, day_to_date

EVENT_MINUTE = 18 * 60  # status changes are booked at 18:00 UTC
SHIP_MINUTE = 17 * 60


def ts(day: pl.Expr, minute: pl.Expr | int, start: dt.date) -> pl.Expr:
    epoch_days = (start - dt.date(1970, 1, 1)).days
    minute = minute if isinstance(minute, pl.Expr) else pl.lit(minute)
    micros = ((day + epoch_days).cast(pl.Int64) * 1440 + minute.cast(pl.Int64)) * 60_000_000
    return micros.cast(pl.Datetime("us"))


def money(minor: str | pl.Expr) -> pl.Expr:
    """Integer minor units to DECIMAL(18,2) in the row's currency (JPY has no minor unit)."""
    m = pl.col(minor) if isinstance(minor, str) else minor
    two = pl.concat_str((m // 100).cast(pl.String), pl.lit("."), (m % 100).cast(pl.String).str.zfill(2))
    zero = m.cast(pl.String) + ".00"
    return pl.when(pl.col("currency") == "JPY").then(zero).otherwise(two).cast(pl.Decimal(18, 2))


def latest(*candidates: tuple[pl.Expr, pl.Expr]) -> pl.Expr:
    """The latest timestamp among (happened?, timestamp) pairs."""
    return pl.max_horizontal([pl.when(happened).then(stamp) for happened, stamp in candidates])


def erp_tables(world: World, t: int) -> dict[str, pl.DataFrame]:
    start = world.spec.start
    s = start
    tables: dict[str, pl.DataFrame] = {}
    if world.shard == 0:  # master data shared by every shard is written with the first
        tables["collectors"] = world.collectors.with_columns(ts(pl.lit(0), 0, s).alias("updated_at"))
        tables["products"] = world.products.select(
            "product_id",
            "product_name",
            "category",
            (pl.col("list_price_cents").cast(pl.Decimal(18, 2)) / 100).cast(pl.Decimal(18, 2)).alias("list_price_usd"),
            (pl.col("unit_cost_cents").cast(pl.Decimal(18, 2)) / 100).cast(pl.Decimal(18, 2)).alias("unit_cost_usd"),
            ts(pl.lit(0), 0, s).alias("updated_at"),
        )

    c = world.customers
    onboard = c["onboard_day"].to_numpy()
    review_day = onboard[:, None] + np.cumsum(c["review_gap"].to_numpy(), axis=1)
    done = review_day <= t
    factor = np.prod(np.where(done, c["review_factor"].to_numpy(), 1.0), axis=1)
    last_review = np.where(done, review_day, -1).max(axis=1)
    tables["customers"] = (
        c.with_columns(
            pl.Series("limit", np.round(c["credit_limit_base"].to_numpy() * factor / 1000) * 1000).cast(pl.Int64),
            pl.Series("last_review", last_review),
        )
        .filter(pl.col("onboard_day") <= t)
        .select(
            "customer_id",
            "customer_name",
            "segment",
            "region",
            "country",
            "currency",
            "payment_terms_code",
            "payment_terms_days",
            (pl.col("limit").cast(pl.String) + ".00").cast(pl.Decimal(18, 2)).alias("credit_limit"),
            "collector_id",
            "bank_account",
            pl.concat_str(pl.lit("ap."), pl.col("customer_id").str.to_lowercase(), pl.lit("@customers.example")).alias(
                "billing_email"
            ),
            pl.col("country").replace_strict(P.COUNTRY_LANGUAGE, default="en").alias("language"),
            ts(pl.col("onboard_day"), 9 * 60, s).alias("created_at"),
            ts(pl.max_horizontal("onboard_day", "last_review"), 9 * 60, s).alias("updated_at"),
        )
    )

    o = world.orders.filter(pl.col("order_day") <= t)
    shipped1 = ~pl.col("cancelled") & (pl.col("ship1_day") <= t)
    shipped2 = (pl.col("ship2_day") >= 0) & (pl.col("ship2_day") <= t)
    approved = ~pl.col("cancelled") & (pl.col("approve_day") <= t)
    status = (
        pl.when(pl.col("cancelled") & (pl.col("cancel_day") <= t))
        .then(pl.lit("cancelled"))
        .when(~approved)
        .then(pl.lit("pending_credit"))
        .when(~shipped1)
        .then(pl.lit("approved"))
        .when((pl.col("ship2_day") >= 0) & ~shipped2)
        .then(pl.lit("partially_shipped"))
        .otherwise(pl.lit("shipped"))
    )
    order_ts = ts(pl.col("order_day"), pl.col("order_minute"), s)
    approve_ts = ts(pl.col("approve_day"), pl.col("approve_minute"), s)
    order_updated = latest(
        (pl.lit(True), order_ts),
        (approved, approve_ts),
        (pl.col("cancelled") & (pl.col("cancel_day") <= t), ts(pl.col("cancel_day"), 10 * 60, s)),
        (shipped1, ts(pl.col("ship1_day"), SHIP_MINUTE, s)),
        (shipped2, ts(pl.col("ship2_day"), SHIP_MINUTE, s)),
    )
    tables["sales_orders"] = o.select(
        "order_id",
        "customer_id",
        day_to_date("order_day", s).alias("order_date"),
        "currency",
        money("amount_minor").alias("order_amount"),
        status.alias("order_status"),
        pl.when(approved).then(approve_ts).alias("credit_approved_at"),
        order_updated.alias("updated_at"),
    )
    lines = world.lines.join(
        o.select("order_id", "cancelled", "ship1_day", "ship2_day", "currency", "order_day", "order_minute"),
        on="order_id",
    )
    tables["sales_order_lines"] = lines.select(
        pl.concat_str(pl.col("order_id"), pl.lit("-"), pl.col("line_number").cast(pl.String).str.zfill(2)).alias(
            "order_line_id"
        ),
        "order_id",
        "line_number",
        "product_id",
        pl.col("qty").alias("quantity"),
        (
            pl.when(shipped1).then(pl.col("qty1")).otherwise(0) + pl.when(shipped2).then(pl.col("qty2")).otherwise(0)
        ).alias("quantity_shipped"),
        money("unit_minor").alias("unit_price"),
        money(pl.col("qty") * pl.col("unit_minor")).alias("line_amount"),
        latest(
            (pl.lit(True), order_ts),
            (shipped1 & (pl.col("qty1") > 0), ts(pl.col("ship1_day"), SHIP_MINUTE, s)),
            (shipped2 & (pl.col("qty2") > 0), ts(pl.col("ship2_day"), SHIP_MINUTE, s)),
        ).alias("updated_at"),
    )

    inv = world.invoices.filter(pl.col("invoice_day") <= t)
    invoice_ts = ts(pl.col("invoice_day"), SHIP_MINUTE + 30, s)
    tables["shipments"] = inv.select(
        "shipment_id",
        "order_id",
        "shipment_number",
        day_to_date("invoice_day", s).alias("shipment_date"),
        "carrier",
        ts(pl.col("invoice_day"), SHIP_MINUTE, s).alias("updated_at"),
    ).sort("shipment_id")
    paid = (
        world.allocations.filter((pl.col("day") <= t) & pl.col("invoice_id").is_not_null())
        .group_by("invoice_id")
        .agg(pl.col("amount_minor").sum().alias("paid_minor"), pl.col("day").max().alias("paid_day"))
    )
    memos = world.credit_memos.filter(pl.col("day") <= t)
    credited = memos.group_by("invoice_id").agg(
        pl.col("amount_minor").sum().alias("credited_minor"), pl.col("day").max().alias("credited_day")
    )
    inv = (
        inv.join(paid, on="invoice_id", how="left")
        .join(credited, on="invoice_id", how="left")
        .with_columns(pl.col("paid_minor").fill_null(0), pl.col("credited_minor").fill_null(0))
    )
    dispute_open = pl.col("disputed") & (pl.col("opened_day") <= t)
    dispute_resolved = pl.col("disputed") & (pl.col("resolved_day") <= t)
    invoice_status = (
        pl.when(pl.col("bad_debt") & (pl.col("writeoff_day") <= t))
        .then(pl.lit("written_off"))
        .when(pl.col("paid_minor") + pl.col("credited_minor") >= pl.col("amount_minor"))
        .then(pl.lit("paid"))
        .when(dispute_open & ~dispute_resolved)
        .then(pl.lit("disputed"))
        .when(pl.col("paid_minor") > 0)
        .then(pl.lit("partially_paid"))
        .otherwise(pl.lit("open"))
    )
    tables["invoices"] = inv.select(
        "invoice_id",
        "invoice_number",
        "customer_id",
        "order_id",
        "shipment_id",
        day_to_date("invoice_day", s).alias("invoice_date"),
        day_to_date("due_day", s).alias("due_date"),
        "currency",
        "payment_terms_code",
        money("amount_minor").alias("invoice_amount"),
        invoice_status.alias("invoice_status"),
        latest(
            (pl.lit(True), invoice_ts),
            (pl.col("paid_day").is_not_null(), ts(pl.col("paid_day"), EVENT_MINUTE, s)),
            (pl.col("credited_day").is_not_null(), ts(pl.col("credited_day"), EVENT_MINUTE, s)),
            (dispute_open, ts(pl.col("opened_day"), EVENT_MINUTE, s)),
            (dispute_resolved, ts(pl.col("resolved_day"), EVENT_MINUTE, s)),
        ).alias("updated_at"),
    ).sort("invoice_id")
    inv_lines = (
        inv.select("invoice_id", "order_id", "shipment_number", "currency", "invoice_day")
        .join(world.lines, on="order_id")
        .with_columns(
            pl.when(pl.col("shipment_number") == 1).then(pl.col("qty1")).otherwise(pl.col("qty2")).alias("quantity")
        )
        .filter(pl.col("quantity") > 0)
    )
    tables["invoice_lines"] = inv_lines.select(
        pl.concat_str(pl.col("invoice_id"), pl.lit("-"), pl.col("line_number").cast(pl.String).str.zfill(2)).alias(
            "invoice_line_id"
        ),
        "invoice_id",
        pl.concat_str(pl.col("order_id"), pl.lit("-"), pl.col("line_number").cast(pl.String).str.zfill(2)).alias(
            "order_line_id"
        ),
        "product_id",
        "quantity",
        money("unit_minor").alias("unit_price"),
        money(pl.col("quantity") * pl.col("unit_minor")).alias("line_amount"),
        invoice_ts.alias("updated_at"),
    ).sort("invoice_line_id")
    tables["credit_memos"] = memos.select(
        "credit_memo_id",
        pl.col("credit_memo_id").alias("credit_memo_number"),
        "customer_id",
        "invoice_id",
        day_to_date("day", s).alias("credit_memo_date"),
        "currency",
        money("amount_minor").alias("credit_amount"),
        "reason",
        ts(pl.col("day"), EVENT_MINUTE, s).alias("updated_at"),
    )
    disputes = inv.filter(dispute_open)
    tables["disputes"] = disputes.select(
        pl.concat_str(pl.lit("DSP-"), pl.col("invoice_id").str.slice(3)).alias("dispute_id"),
        "invoice_id",
        "customer_id",
        day_to_date("opened_day", s).alias("opened_date"),
        pl.col("dispute_reason").alias("reason"),
        money("disputed_minor").alias("disputed_amount"),
        pl.when(dispute_resolved).then(pl.lit("resolved")).otherwise(pl.lit("open")).alias("dispute_status"),
        pl.when(dispute_resolved).then(pl.col("resolution")).alias("resolution"),
        pl.when(dispute_resolved).then(day_to_date("resolved_day", s)).alias("resolved_date"),
        pl.when(dispute_resolved)
        .then(ts(pl.col("resolved_day"), EVENT_MINUTE, s))
        .otherwise(ts(pl.col("opened_day"), EVENT_MINUTE, s))
        .alias("updated_at"),
    ).sort("dispute_id")
    charges = world.processor.filter(
        (pl.col("day") <= t)
        & (pl.col("object") == "charge")
        & pl.col("invoice_id").is_not_null()
        & ~pl.col("is_duplicate")
    )
    tables["payment_applications"] = charges.select(
        pl.concat_str(pl.lit("PA-"), pl.col("payment_id")).alias("application_id"),
        "payment_id",
        "invoice_id",
        money("amount_minor").alias("applied_amount"),
        day_to_date("day", s).alias("applied_date"),
        ts(pl.col("day"), pl.col("pay_minute"), s).alias("updated_at"),
    ).sort("application_id")
    return tables


def processor_records(world: World, first_day: int, last_day: int) -> pl.DataFrame:
    """The processor's export rows (its own field names) for days in [first_day, last_day]."""
    s = world.spec.start
    rows = world.processor.filter(pl.col("day").is_between(first_day, last_day))
    return rows.select(
        "day",
        pl.col("payment_id").alias("id"),
        "object",
        ts(pl.col("day"), pl.col("pay_minute"), s).dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("created"),
        money("amount_minor").cast(pl.String).alias("amount"),
        pl.col("currency").str.to_lowercase().alias("currency"),
        pl.col("customer_id").alias("customer"),
        pl.col("method").alias("payment_method_type"),
        "description",
        "charge",
        pl.lit("succeeded").alias("status"),
    )


def bank_records(world: World, first_day: int, last_day: int) -> pl.DataFrame:
    s = world.spec.start
    rows = world.bank.filter(pl.col("day").is_between(first_day, last_day))
    return rows.select(
        "day",
        pl.concat_str(pl.lit("STMT-"), day_to_date("day", s).dt.strftime("%Y%m%d")).alias("statement_id"),
        pl.col("payment_id").alias("bank_transaction_id"),
        day_to_date("day", s).alias("booking_date"),
        day_to_date("day", s).alias("value_date"),
        money("amount_minor").cast(pl.String).alias("amount"),
        "currency",
        "counterparty_name",
        "counterparty_account",
        pl.col("reference").alias("remittance_information"),
        pl.lit("CREDIT_TRANSFER").alias("transaction_code"),
    )


def fx_records(world: World, first_day: int, last_day: int) -> pl.DataFrame:
    s = world.spec.start
    rows = world.fx_rates.filter(pl.col("day").is_between(first_day, last_day))
    return rows.select(
        "day",
        day_to_date("day", s).alias("rate_date"),
        "from_currency",
        "to_currency",
        pl.col("rate")
        .map_batches(lambda r: r.round(8).cast(pl.Decimal(18, 8)).cast(pl.String), return_dtype=pl.String)
        .alias("rate"),
        ts(pl.col("day"), 16 * 60, s).alias("updated_at"),
    )


def ground_truth(world: World, t: int) -> dict[str, pl.DataFrame]:
    s = world.spec.start
    allocations = world.allocations.filter(pl.col("day") <= t).join(
        pl.concat(
            [world.processor.select("payment_id", "currency"), world.bank.select("payment_id", "currency")]
        ).unique("payment_id"),
        on="payment_id",
    )
    behaviour = world.customers.select(
        "customer_id", *[pl.col(c).alias(c.removeprefix("b_")) for c in world.customers.columns if c.startswith("b_")]
    )
    return {
        "payment_allocations": allocations.select(
            "payment_id",
            "invoice_id",
            money("amount_minor").alias("amount"),
            "currency",
            day_to_date("day", s).alias("payment_date"),
            "channel",
        ).sort("payment_id", "invoice_id", nulls_last=True),
        "customer_behaviour": behaviour,
    }
