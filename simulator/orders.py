"""Orders and their whole lifecycle, one simulated day at a time.

Each day draws from its own random stream (seed, day), and everything that will ever happen to
that day's orders (approval, shipments, invoices, disputes, payments) is decided when the order
is booked. The world as of any later date is then a filter on event dates, so advancing the
world never rewrites its past.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from simulator import params as P


@dataclass(frozen=True)
class Lifecycles:
    orders: pl.DataFrame
    lines: pl.DataFrame  # order lines with the quantity of each shipment
    invoices: pl.DataFrame  # one per shipment, with dispute, write-off and discount outcomes
    intents: pl.DataFrame  # one row per intended payment instalment of an invoice


def _customer_arrays(customers: pl.DataFrame) -> dict[str, np.ndarray]:
    usd = np.array([P.USD_PER_UNIT[c] for c in customers["currency"]])
    decimals = np.array([P.CURRENCY_DECIMALS[c] for c in customers["currency"]])
    return {
        "onboard_day": customers["onboard_day"].to_numpy(),
        "order_rate": customers["order_rate"].to_numpy(),
        "discount": np.array([P.SEGMENT_DISCOUNT[s] for s in customers["segment"]]),
        "minor_per_usd": 10.0**decimals / usd,
        "terms_days": customers["payment_terms_days"].to_numpy(),
        "is_2_10": (customers["payment_terms_code"] == "2/10NET30").to_numpy(),
        "mean_delay": customers["b_mean_delay_days"].to_numpy(),
        "delay_sd": customers["b_delay_sd_days"].to_numpy(),
        "p_dispute": customers["b_p_dispute"].to_numpy(),
        "p_partial": customers["b_p_partial"].to_numpy(),
        "p_bad_debt": customers["b_p_bad_debt"].to_numpy(),
        "p_discount": customers["b_p_takes_discount"].to_numpy(),
    }


def generate(
    seed: int, customers: pl.DataFrame, products: pl.DataFrame, start: np.datetime64, n_days: int, shard: int = 0
) -> Lifecycles:
    cust = _customer_arrays(customers)
    list_price_cents = products["list_price_cents"].to_numpy()
    days = start + np.arange(n_days).astype("timedelta64[D]")
    months = days.astype("datetime64[M]").astype(int) % 12
    weekdays = (days.astype("datetime64[D]").astype(np.int64) - 4) % 7  # 1970-01-01 was a Thursday
    day_factor = (
        np.array(P.MONTH_SEASONALITY)[months]
        * np.array(P.WEEKDAY_FACTOR)[weekdays]
        * (1 + P.ANNUAL_GROWTH) ** (np.arange(n_days) / 365)
    )
    frames: dict[str, list[pl.DataFrame]] = {"orders": [], "lines": [], "invoices": [], "intents": []}
    for d in range(n_days):
        day: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in frames}
        # Each shard of customers has its own streams; the first keeps the unsharded world's.
        stream = [seed, 100, d] if shard == 0 else [seed, 100, d, shard]
        _one_day(np.random.default_rng(stream), d, day_factor[d], cust, list_price_cents, day)
        # Each day's arrays become frames at once, so they are not held twice until the end.
        for name, parts in day.items():
            frames[name].extend(pl.DataFrame(part) for part in parts)
    return Lifecycles(**{name: pl.concat(parts) if parts else pl.DataFrame() for name, parts in frames.items()})


def _one_day(
    rng: np.random.Generator,
    d: int,
    factor: float,
    cust: dict[str, np.ndarray],
    list_price_cents: np.ndarray,
    parts: dict[str, list[dict[str, np.ndarray]]],
) -> None:
    active = np.flatnonzero(cust["onboard_day"] <= d)
    counts = rng.poisson(cust["order_rate"][active] * factor)
    c = np.repeat(active, counts)  # customer index of each order
    m = len(c)
    if m == 0:
        return
    seq = np.arange(1, m + 1)
    order_minute = rng.integers(7 * 60, 19 * 60, m)
    n_lines = rng.choice([1, 2, 3, 4], m, p=[0.45, 0.3, 0.15, 0.1])
    cancelled = rng.random(m) < 0.02
    cancel_day = d + rng.integers(1, 6, m)
    needs_review = rng.random(m) < 0.1
    approve_day = d + np.where(needs_review, rng.integers(1, 5, m), 0)
    approve_minute = np.where(
        needs_review, rng.integers(8 * 60, 18 * 60, m), np.minimum(order_minute + rng.integers(5, 240, m), 1439)
    )
    ship1 = approve_day + rng.integers(1, 7, m)
    partial = rng.random(m) < 0.15
    ship2 = ship1 + rng.integers(5, 26, m)

    # Order lines; partial orders ship part of each line first and backorder the rest.
    o = np.repeat(np.arange(m), n_lines)
    line_number = np.arange(len(o)) - np.repeat(np.cumsum(n_lines) - n_lines, n_lines) + 1
    product = rng.integers(0, len(list_price_cents), len(o))
    qty = np.minimum(rng.geometric(0.12, len(o)), 200)
    unit_minor = np.maximum(
        np.round(list_price_cents[product] / 100 * (1 - cust["discount"][c[o]]) * cust["minor_per_usd"][c[o]]), 1
    ).astype(np.int64)
    first_share = rng.uniform(0.3, 0.8, len(o))
    qty1 = np.where(partial[o], np.clip(np.floor(qty * first_share), 1, qty), qty).astype(np.int64)
    qty1 = np.where(cancelled[o], 0, qty1)
    qty2 = np.where(cancelled[o], 0, qty - qty1)
    has_ship2 = partial & ~cancelled & (np.bincount(o, qty2, minlength=m) > 0)
    amount1 = np.bincount(o, qty1 * unit_minor, minlength=m).astype(np.int64)
    amount2 = np.bincount(o, qty2 * unit_minor, minlength=m).astype(np.int64)

    parts["orders"].append(
        {
            "order_day": np.full(m, d),
            "seq": seq,
            "cust": c,
            "order_minute": order_minute,
            "cancelled": cancelled,
            "cancel_day": cancel_day,
            "approve_day": approve_day,
            "approve_minute": approve_minute,
            "ship1_day": ship1,
            "ship2_day": np.where(has_ship2, ship2, -1),
            "amount_minor": np.bincount(o, qty * unit_minor, minlength=m).astype(np.int64),
        }
    )
    parts["lines"].append(
        {
            "order_day": np.full(len(o), d),
            "seq": seq[o],
            "line_number": line_number,
            "product": product,
            "qty": qty,
            "qty1": qty1,
            "qty2": qty2,
            "unit_minor": unit_minor,
        }
    )

    _invoice_day(rng, d, cust, _DayOrders(seq, c, cancelled, has_ship2, ship1, ship2, amount1, amount2), parts)


@dataclass(frozen=True)
class _DayOrders:
    """One day's orders as the invoices of their shipments need them (arrays, one entry an order)."""

    seq: np.ndarray  # the order's number within the day
    cust: np.ndarray  # index of the customer
    cancelled: np.ndarray
    has_ship2: np.ndarray  # a backorder ships later
    ship1_day: np.ndarray
    ship2_day: np.ndarray
    amount1: np.ndarray  # minor units of the first shipment
    amount2: np.ndarray  # minor units of the second


def _invoice_day(
    rng: np.random.Generator,
    d: int,
    cust: dict[str, np.ndarray],
    orders: _DayOrders,
    parts: dict[str, list[dict[str, np.ndarray]]],
) -> None:
    """The invoices of one day's orders with their disputes, credits and write-offs, and the
    payment instalments that will settle them (drawn from `rng` after the orders)."""
    # Invoices: one per shipment, dated on the shipment day.
    cancelled, has_ship2 = orders.cancelled, orders.has_ship2
    inv_order = np.concatenate([np.flatnonzero(~cancelled), np.flatnonzero(has_ship2)])
    shipment_number = np.concatenate([np.ones((~cancelled).sum(), int), np.full(has_ship2.sum(), 2)])
    inv_day = np.where(shipment_number == 1, orders.ship1_day[inv_order], orders.ship2_day[inv_order])
    amount = np.where(shipment_number == 1, orders.amount1[inv_order], orders.amount2[inv_order])
    ic = orders.cust[inv_order]
    n = len(inv_order)
    due_day = inv_day + cust["terms_days"][ic]

    disputed = rng.random(n) < cust["p_dispute"][ic]
    opened_day = inv_day + rng.integers(3, 31, n)
    resolved_day = opened_day + rng.integers(7, 61, n)
    outcome = rng.random(n)
    disputed_minor = np.maximum(np.round(amount * rng.uniform(0.2, 1.0, n)), 1).astype(np.int64)
    credit_minor = np.where(
        outcome < 0.25, disputed_minor, np.where(outcome < 0.7, np.round(disputed_minor * rng.uniform(0.3, 0.7, n)), 0)
    ).astype(np.int64)
    credit_minor = np.where(disputed, credit_minor, 0)
    resolution = np.where(outcome < 0.25, "credited", np.where(outcome < 0.7, "partially_credited", "rejected"))
    resolution = np.where(credit_minor == 0, "rejected", resolution)

    bad_debt = (rng.random(n) < cust["p_bad_debt"][ic]) & ~disputed
    takes_discount = cust["is_2_10"][ic] & (rng.random(n) < cust["p_discount"][ic]) & ~disputed & ~bad_debt
    discount_minor = np.where(takes_discount, np.round(amount * P.EARLY_PAYMENT_DISCOUNT), 0).astype(np.int64)
    early_day = inv_day + rng.integers(2, P.EARLY_PAYMENT_DAYS + 1, n)
    delay = np.round(rng.normal(cust["mean_delay"][ic], cust["delay_sd"][ic])).astype(np.int64)
    pay_day = np.maximum(inv_day + 1, due_day + delay)
    pay_day = np.where(disputed, np.maximum(pay_day, resolved_day + rng.integers(1, 11, n)), pay_day)
    pay_day = np.where(takes_discount, early_day, pay_day)
    to_pay = amount - credit_minor - discount_minor
    pays = ~bad_debt & (to_pay > 0)
    split = pays & (rng.random(n) < cust["p_partial"][ic]) & ~takes_discount & (to_pay >= 2)
    first = np.clip(np.round(to_pay * rng.uniform(0.4, 0.8, n)), 1, to_pay - 1).astype(np.int64)
    second_day = pay_day + rng.integers(10, 41, n)

    parts["invoices"].append(
        {
            "order_day": np.full(n, d),
            "seq": orders.seq[inv_order],
            "shipment_number": shipment_number,
            "cust": ic,
            "invoice_day": inv_day,
            "due_day": due_day,
            "amount_minor": amount,
            "disputed": disputed,
            "opened_day": opened_day,
            "resolved_day": resolved_day,
            "disputed_minor": disputed_minor,
            "credit_minor": credit_minor,
            "resolution": resolution,
            "dispute_reason": rng.choice(P.DISPUTE_REASONS, n),
            "bad_debt": bad_debt,
            "writeoff_day": due_day + 180,
            "discount_minor": discount_minor,
            "discount_day": early_day,
            "carrier": rng.choice(P.CARRIERS, n),
        }
    )
    # Payment instalments, each with its own draws for how the money will arrive.
    k = np.concatenate([np.flatnonzero(pays), np.flatnonzero(split)])
    instalment = np.concatenate([np.ones(pays.sum(), int), np.full(split.sum(), 2)])
    first_amount = np.where(split, first, to_pay)
    intent_amount = np.where(instalment == 1, first_amount[k], (to_pay - first)[k])
    intent_day = np.where(instalment == 1, pay_day[k], second_day[k])
    j = len(k)
    parts["intents"].append(
        {
            "order_day": np.full(j, d),
            "seq": orders.seq[inv_order][k],
            "shipment_number": shipment_number[k],
            "instalment": instalment,
            "cust": ic[k],
            "intent_day": intent_day,
            "amount_minor": intent_amount,
            "u_reference": rng.random(j),
            "u_overpay": rng.random(j),
            "overpay_share": rng.uniform(0.01, 0.05, j),
            "u_duplicate": rng.random(j),
            "refund_delay": rng.integers(3, 21, j),
            "pay_minute": rng.integers(0, 1440, j),
        }
    )
