"""The simulated world up to a day: every entity with event days, ids and ground truth.

Days are integers counted from the world's start date; `snapshot` turns them into the dated
source systems as seen on a given day.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from simulator import master_data, orders
from simulator import params as P


@dataclass(frozen=True)
class WorldSpec:
    seed: int
    customers: int
    start: dt.date
    initial_days: int
    reporting_currency: str = "USD"


# Customers per shard. A large world is built and written one shard of customers at a time,
# so the simulator's memory stays near what one shard needs (9 GiB at scale l) at any scale.
SHARD_CUSTOMERS = 35_000


def shard_count(spec: WorldSpec) -> int:
    return math.ceil(spec.customers / SHARD_CUSTOMERS)


@dataclass(frozen=True)
class Numbering:
    """Per-day counters (day -> ids used) of the shards built so far, so the next shard's
    order, invoice, credit memo, charge and transfer numbers carry on where they stopped."""

    orders: dict[int, int] = field(default_factory=dict)
    invoices: dict[int, int] = field(default_factory=dict)
    credit_memos: dict[int, int] = field(default_factory=dict)
    charges: dict[int, int] = field(default_factory=dict)
    transfers: dict[int, int] = field(default_factory=dict)

    def after(self, world: World) -> Numbering:
        def add(counts: dict[int, int], frame: pl.DataFrame, day: str) -> dict[int, int]:
            merged = dict(counts)
            for d, n in frame.group_by(day).len().iter_rows():
                merged[d] = merged.get(d, 0) + n
            return merged

        return Numbering(
            orders=add(self.orders, world.orders, "order_day"),
            invoices=add(self.invoices, world.invoices, "invoice_day"),
            credit_memos=add(self.credit_memos, world.credit_memos, "day"),
            charges=add(self.charges, world.processor.filter(pl.col("object") == "charge"), "day"),
            transfers=add(self.transfers, world.bank, "day"),
        )


def _carried_on(day: str, counts: dict[int, int]) -> pl.Expr:
    """The ids earlier shards used on the row's day: added to the row's own running number."""
    if not counts:
        return pl.lit(0, pl.Int64)
    return pl.col(day).replace_strict(counts, default=0, return_dtype=pl.Int64)


def _per_day_number(day: str, counts: dict[int, int], width: int) -> pl.Expr:
    number = pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(day) + _carried_on(day, counts)
    return number.cast(pl.String).str.zfill(width)


@dataclass(frozen=True)
class World:
    """One shard of customers (the whole world when it has no more than SHARD_CUSTOMERS)."""

    spec: WorldSpec
    shard: int
    collectors: pl.DataFrame
    customers: pl.DataFrame
    products: pl.DataFrame
    orders: pl.DataFrame
    lines: pl.DataFrame
    invoices: pl.DataFrame
    credit_memos: pl.DataFrame
    processor: pl.DataFrame  # charges and refunds
    bank: pl.DataFrame  # incoming bank transfers
    allocations: pl.DataFrame  # ground truth: what each payment was meant to pay
    fx_rates: pl.DataFrame


def day_to_date(column: str, start: dt.date) -> pl.Expr:
    epoch_days = (start - dt.date(1970, 1, 1)).days
    return (pl.col(column) + epoch_days).cast(pl.Int32).cast(pl.Date)


def yyyymmdd(day: str, start: dt.date) -> pl.Expr:
    return day_to_date(day, start).dt.strftime("%Y%m%d")


def build(spec: WorldSpec, n_days: int, shard: int = 0, numbering: Numbering | None = None) -> World:
    """Shard `shard` of the world over its first `n_days` days; `numbering` holds the ids the
    shards before it used (see `simulator.worlds`, which builds them in turn)."""
    numbering = numbering or Numbering()
    start = spec.start
    collector_frame = master_data.collectors(spec.customers)
    customers = master_data.customers(spec.seed, spec.customers, spec.initial_days, collector_frame).slice(
        shard * SHARD_CUSTOMERS, SHARD_CUSTOMERS
    )
    products = master_data.products(spec.seed)
    life = orders.generate(spec.seed, customers, products, np.datetime64(start, "D"), n_days, shard)

    def order_id() -> pl.Expr:
        seq = (pl.col("seq") + _carried_on("order_day", numbering.orders)).cast(pl.String).str.zfill(5)
        return pl.concat_str(pl.lit("SO-"), yyyymmdd("order_day", start), pl.lit("-"), seq)

    cust_cols = customers.select(
        pl.int_range(pl.len()).alias("cust"),
        "customer_id",
        "customer_name",
        "currency",
        "payment_terms_code",
        "bank_account",
        "segment",
        "b_uses_processor",
        "b_batch_payer",
        "b_pay_weekday",
    )
    order_frame = life.orders.join(cust_cols, on="cust").with_columns(order_id().alias("order_id"))
    lines = life.lines.with_columns(order_id().alias("order_id")).join(
        products.select(pl.int_range(pl.len()).alias("product"), "product_id"), on="product"
    )
    invoices = (
        life.invoices.join(cust_cols, on="cust")
        .with_columns(order_id().alias("order_id"))
        .with_columns(
            pl.concat_str(
                pl.lit("IV-"), pl.col("order_id").str.slice(3), pl.lit("-"), pl.col("shipment_number").cast(pl.String)
            ).alias("invoice_id"),
            pl.concat_str(
                pl.lit("SH-"), pl.col("order_id").str.slice(3), pl.lit("-"), pl.col("shipment_number").cast(pl.String)
            ).alias("shipment_id"),
        )
        .sort("invoice_day", "order_day", "seq", "shipment_number")
        .with_columns(
            pl.concat_str(
                pl.lit("INV"), yyyymmdd("invoice_day", start), _per_day_number("invoice_day", numbering.invoices, 5)
            ).alias("invoice_number")
        )
    )
    intents = (
        life.intents.with_columns(order_id().alias("order_id"))
        .join(
            invoices.select("order_id", "shipment_number", "invoice_id", "invoice_number"),
            on=["order_id", "shipment_number"],
        )
        .join(cust_cols, on="cust")
    )
    del life  # the lifecycles live on in the frames above; payments are the peak of memory
    processor, processor_truth = _processor_payments(intents, start, numbering.charges)
    # Payers nobody knows arrive once per world, with the first shard.
    unknown = _unknown_payers(spec, n_days) if shard == 0 else None
    bank, bank_truth = _bank_transfers(intents, start, unknown, numbering.transfers)
    return World(
        spec=spec,
        shard=shard,
        collectors=collector_frame,
        customers=customers,
        products=products,
        orders=order_frame,
        lines=lines,
        invoices=invoices,
        credit_memos=_credit_memos(invoices, start, numbering.credit_memos),
        processor=processor,
        bank=bank,
        allocations=pl.concat([processor_truth, bank_truth]),
        fx_rates=_fx_rates(spec, n_days),
    )


def _credit_memos(invoices: pl.DataFrame, start: dt.date, used: dict[int, int]) -> pl.DataFrame:
    common = ["invoice_id", "customer_id", "currency"]
    memos = pl.concat(
        [
            invoices.filter(pl.col("credit_minor") > 0).select(
                *common,
                pl.col("resolved_day").alias("day"),
                pl.col("credit_minor").alias("amount_minor"),
                pl.lit("dispute_credit").alias("reason"),
            ),
            invoices.filter(pl.col("discount_minor") > 0).select(
                *common,
                pl.col("discount_day").alias("day"),
                pl.col("discount_minor").alias("amount_minor"),
                pl.lit("early_payment_discount").alias("reason"),
            ),
            invoices.filter(pl.col("bad_debt")).select(
                *common,
                pl.col("writeoff_day").alias("day"),
                pl.col("amount_minor"),
                pl.lit("bad_debt_write_off").alias("reason"),
            ),
        ]
    ).sort("day", "invoice_id", "reason")
    number = pl.concat_str(pl.lit("CM"), yyyymmdd("day", start), _per_day_number("day", used, 5))
    return memos.with_columns(number.alias("credit_memo_id"))


def _processor_payments(
    intents: pl.DataFrame, start: dt.date, used: dict[int, int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Card/ACH charges made in the customer portal against one invoice; rare duplicate
    charges are refunded a few days later."""
    charges = intents.filter(pl.col("b_uses_processor")).with_columns(pl.lit(False).alias("is_duplicate"))
    duplicates = charges.filter(pl.col("u_duplicate") < 0.01).with_columns(
        pl.lit(True).alias("is_duplicate"), (pl.col("pay_minute") + 3).clip(0, 1439).alias("pay_minute")
    )
    charges = (
        pl.concat([charges, duplicates])
        .rename({"intent_day": "day"})
        .sort("day", "pay_minute", "invoice_id", "instalment", "is_duplicate")
        .with_columns(
            pl.concat_str(pl.lit("ch_"), yyyymmdd("day", start), pl.lit("_"), _per_day_number("day", used, 6)).alias(
                "payment_id"
            ),
            pl.when(pl.col("segment") == "smb").then(pl.lit("card")).otherwise(pl.lit("ach_debit")).alias("method"),
        )
    )
    charge_rows = charges.select(
        "payment_id",
        pl.lit("charge").alias("object"),
        "day",
        "pay_minute",
        "amount_minor",
        "currency",
        "customer_id",
        "method",
        pl.concat_str(pl.lit("Invoice "), pl.col("invoice_number")).alias("description"),
        pl.lit(None, pl.String).alias("charge"),
        "invoice_id",
        "is_duplicate",
    )
    refunds = (
        charge_rows.filter(pl.col("is_duplicate"))
        .join(charges.select("payment_id", "refund_delay"), on="payment_id")
        .select(
            pl.col("payment_id").str.replace("^ch_", "re_").alias("payment_id"),
            pl.lit("refund").alias("object"),
            (pl.col("day") + pl.col("refund_delay")).alias("day"),
            pl.lit(600, pl.Int64).alias("pay_minute"),
            "amount_minor",
            "currency",
            "customer_id",
            "method",
            pl.lit("Refund of duplicate charge").alias("description"),
            pl.col("payment_id").alias("charge"),
            pl.lit(None, pl.String).alias("invoice_id"),
            "is_duplicate",
        )
    )
    processor = pl.concat([charge_rows, refunds], how="vertical_relaxed").sort("day", "pay_minute", "payment_id")
    truth = charge_rows.select(
        "payment_id",
        pl.when(pl.col("is_duplicate")).then(None).otherwise(pl.col("invoice_id")).alias("invoice_id"),
        "amount_minor",
        "day",
        pl.lit("processor").alias("channel"),
    )
    return processor, truth


def _bank_transfers(
    intents: pl.DataFrame, start: dt.date, unknown: pl.DataFrame | None, used: dict[int, int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bank transfers: batch payers pay all invoices due in the week in one weekly transfer;
    remittance references are sometimes missing, wrong or generic; a few overpay."""
    epoch_days = (start - dt.date(1970, 1, 1)).days
    weekday = (pl.col("intent_day") + epoch_days - 4) % 7  # 0 = Monday
    to_monday = pl.when(weekday >= 5).then(7 - weekday).otherwise(0)
    to_run = (pl.col("b_pay_weekday") - weekday) % 7
    bank = intents.filter(~pl.col("b_uses_processor")).with_columns(
        (pl.col("intent_day") + pl.when(pl.col("b_batch_payer")).then(to_run).otherwise(to_monday)).alias("day")
    )
    group = (
        pl.when(pl.col("b_batch_payer"))
        .then(pl.lit(""))
        .otherwise(pl.col("invoice_id") + pl.col("instalment").cast(pl.String))
    )
    bank = bank.with_columns(group.alias("group_key")).sort(
        "day", "customer_id", "group_key", "invoice_id", "instalment"
    )
    transfers = (
        bank.group_by("day", "customer_id", "group_key", maintain_order=True)
        .agg(
            pl.col("amount_minor").sum(),
            pl.col("invoice_number").unique(maintain_order=True).alias("invoice_numbers"),
            pl.col("u_reference").first(),
            pl.col("u_overpay").first(),
            pl.col("overpay_share").first(),
            pl.col("customer_name").first(),
            pl.col("bank_account").first(),
            pl.col("currency").first(),
        )
        .with_columns(
            pl.when(pl.col("u_overpay") < 0.02)
            .then((pl.col("amount_minor") * pl.col("overpay_share")).round().cast(pl.Int64).clip(1))
            .otherwise(0)
            .alias("overpaid_minor")
        )
    )
    first_number = pl.col("invoice_numbers").list.first()
    # A mistyped reference: the last digit of the first invoice number is off by one.
    typo = first_number.str.slice(0, first_number.str.len_chars() - 1) + (
        (first_number.str.slice(-1).cast(pl.Int64) + 1) % 10
    ).cast(pl.String)
    reference = (
        pl.when(pl.col("u_reference") < 0.10)
        .then(pl.lit(None, pl.String))
        .when(pl.col("u_reference") < 0.15)
        .then(typo)
        .when(pl.col("u_reference") < 0.20)
        .then(pl.concat_str(pl.lit("PAYMENT "), pl.col("customer_name").str.to_uppercase()))
        .otherwise(pl.col("invoice_numbers").list.join(" "))
    )
    transfers = transfers.with_columns(
        reference.alias("reference"),
        (pl.col("amount_minor") + pl.col("overpaid_minor")).alias("amount_minor"),
        pl.col("customer_name").str.to_uppercase().alias("counterparty_name"),
        pl.col("bank_account").alias("counterparty_account"),
        pl.lit(0).alias("kind"),
    )
    columns = [
        "day",
        "kind",
        "customer_id",
        "group_key",
        "amount_minor",
        "currency",
        "counterparty_name",
        "counterparty_account",
        "reference",
    ]
    all_transfers = (
        pl.concat(
            [transfers.select(columns), *([] if unknown is None else [unknown.select(columns)])],
            how="vertical_relaxed",
        )
        .with_row_index("_order")
        .sort("day", "kind", "_order")
        .with_columns(
            pl.concat_str(pl.lit("BT"), yyyymmdd("day", start), _per_day_number("day", used, 6)).alias("payment_id")
        )
        .drop("_order")
    )
    ids = all_transfers.select("day", "customer_id", "group_key", "payment_id")
    truth = pl.concat(
        [
            bank.join(ids, on=["day", "customer_id", "group_key"]).select(
                "payment_id", "invoice_id", "amount_minor", "day"
            ),
            transfers.filter(pl.col("overpaid_minor") > 0)
            .join(ids, on=["day", "customer_id", "group_key"])
            .select(
                "payment_id",
                pl.lit(None, pl.String).alias("invoice_id"),
                pl.col("overpaid_minor").alias("amount_minor"),
                "day",
            ),
            all_transfers.filter(pl.col("kind") == 1).select(
                "payment_id", pl.lit(None, pl.String).alias("invoice_id"), "amount_minor", "day"
            ),
        ]
    ).with_columns(pl.lit("bank").alias("channel"))
    return all_transfers.drop("group_key"), truth


def _unknown_payers(spec: WorldSpec, n_days: int) -> pl.DataFrame:
    """Credits nobody can match: payers missing from the customer master, no reference."""
    rows: list[dict[str, object]] = []
    rate = 0.002 * spec.customers
    epoch_days = (spec.start - dt.date(1970, 1, 1)).days
    for d in range(n_days):
        if (d + epoch_days - 4) % 7 >= 5:  # banks book no credits at weekends
            continue
        rng = np.random.default_rng([spec.seed, 200, d])
        for k in range(rng.poisson(rate)):
            rows.append(
                {
                    "day": d,
                    "kind": 1,
                    "customer_id": None,
                    "group_key": f"U{k}",
                    "amount_minor": int(np.round(np.exp(rng.normal(8.5, 1.0)) * 100)),
                    "currency": "USD" if rng.random() < 0.6 else "EUR",
                    "counterparty_name": f"UNKNOWN PAYER {int(rng.integers(1000, 9999))}",
                    "counterparty_account": f"XX{int(rng.integers(10**9, 10**10))}",
                    "reference": f"REF {int(rng.integers(10**7, 10**8))}",
                }
            )
    schema = {
        "day": pl.Int64,
        "kind": pl.Int32,
        "customer_id": pl.String,
        "group_key": pl.String,
        "amount_minor": pl.Int64,
        "currency": pl.String,
        "counterparty_name": pl.String,
        "counterparty_account": pl.String,
        "reference": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def _fx_rates(spec: WorldSpec, n_days: int) -> pl.DataFrame:
    """Business-day rates: each currency follows its own random walk against USD."""
    shocks = np.stack(
        [np.random.default_rng([spec.seed, 300, d]).normal(0, 0.004, len(P.CURRENCIES)) for d in range(n_days)]
    )
    usd_per_unit = np.array(list(P.USD_PER_UNIT.values())) * np.exp(np.cumsum(shocks, axis=0))
    usd_per_unit[:, P.CURRENCIES.index("USD")] = 1.0
    rep = P.CURRENCIES.index(spec.reporting_currency) if spec.reporting_currency in P.CURRENCIES else None
    if rep is None:
        raise ValueError(
            f"reporting currency {spec.reporting_currency!r} is not simulated; choose one of {P.CURRENCIES}"
        )
    rates = usd_per_unit / usd_per_unit[:, [rep]]
    epoch_days = (spec.start - dt.date(1970, 1, 1)).days
    business = (np.arange(n_days) + epoch_days - 4) % 7 < 5
    frames = []
    for i, currency in enumerate(P.CURRENCIES):
        if i == rep:
            continue
        frames.append(
            pl.DataFrame(
                {"day": np.arange(n_days)[business], "from_currency": currency, "rate": np.round(rates[business, i], 8)}
            )
        )
    return (
        pl.concat(frames)
        .with_columns(pl.lit(spec.reporting_currency).alias("to_currency"))
        .sort("day", "from_currency")
    )
