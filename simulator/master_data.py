"""Customers (with their hidden payment behaviour), collectors and products."""

from __future__ import annotations

import numpy as np
import polars as pl

from simulator import params as P


def _pick(rng: np.random.Generator, options: list[str], weights: list[float], n: int) -> np.ndarray:
    return rng.choice(np.array(options, dtype=object), size=n, p=np.array(weights) / sum(weights))


def collectors(n_customers: int) -> pl.DataFrame:
    """Collectors per region, roughly one per 120 customers, at least one per region."""
    rows = []
    for region_index, region in enumerate(P.REGIONS):
        share = P.REGION_WEIGHTS[region_index]
        for k in range(max(1, round(n_customers * share / 120))):
            i = len(rows)
            first = P.PERSON_FIRST[(i * 7 + 3) % len(P.PERSON_FIRST)]
            last = P.PERSON_LAST[(i * 11 + 5) % len(P.PERSON_LAST)]
            rows.append(
                {
                    "collector_id": f"COL{i + 1:03d}",
                    "collector_name": f"{first} {last}",
                    "email": f"{first.lower()}.{last.lower()}{k + 1}@o2c.example",
                    "region": region,
                }
            )
    return pl.DataFrame(rows)


def products(seed: int, n: int = 80) -> pl.DataFrame:
    rng = np.random.default_rng([seed, 2])
    list_price = np.round(np.exp(rng.normal(4.5, 1.1, n)), 2).clip(5, 5000)
    cost_share = rng.uniform(0.35, 0.75, n)
    category = _pick(rng, P.PRODUCT_CATEGORIES, [0.25, 0.25, 0.2, 0.15, 0.15], n)
    return pl.DataFrame(
        {
            "product_id": [f"P{i + 1:05d}" for i in range(n)],
            "product_name": [f"{category[i].title()} item {i + 1:03d}" for i in range(n)],
            "category": category.astype(str),
            "list_price_cents": np.round(list_price * 100).astype(np.int64),
            "unit_cost_cents": np.round(list_price * cost_share * 100).astype(np.int64),
        }
    )


def customers(seed: int, n: int, initial_days: int, collector_frame: pl.DataFrame) -> pl.DataFrame:
    """Customers with master data and hidden behaviour (columns prefixed `b_`).

    Drawn from their own random stream and independent of how far the world is advanced, so
    a customer is the same customer in every run with the same seed.
    """
    rng = np.random.default_rng([seed, 1])
    segment = _pick(rng, P.SEGMENTS, P.SEGMENT_WEIGHTS, n)
    region = _pick(rng, P.REGIONS, P.REGION_WEIGHTS, n)
    country = np.empty(n, dtype=object)
    for r in P.REGIONS:
        mask = region == r
        options, weights = P.REGION_COUNTRIES[r]
        country[mask] = _pick(rng, options, weights, int(mask.sum()))
    currency = np.array([P.COUNTRY_CURRENCY[c] for c in country], dtype=object)
    terms = np.empty(n, dtype=object)
    for s in P.SEGMENTS:
        mask = segment == s
        terms[mask] = _pick(rng, P.TERMS, P.TERMS_WEIGHTS[s], int(mask.sum()))
    usd_per_unit = np.array([P.USD_PER_UNIT[c] for c in currency])
    credit_base_usd = np.array([P.SEGMENT_CREDIT_BASE[s] for s in segment]) * rng.lognormal(0, 0.5, n)
    credit_limit = np.round(credit_base_usd / usd_per_unit / 1000).clip(1) * 1000

    # Growth: 40 % of customers exist on day 0, the rest join evenly over the initial window.
    onboard_day = np.where(rng.random(n) < 0.4, 0, rng.integers(0, max(initial_days, 1), n))
    order_rate = np.array([P.SEGMENT_ORDER_RATE[s] for s in segment]) * rng.lognormal(0, 0.5, n)

    # Payment behaviour: most pay around the due date, some late, a few chronically late.
    kind = rng.random(n)
    chronic = kind < 0.06
    late = (kind >= 0.06) & (kind < 0.36)
    mean_delay = np.where(chronic, rng.uniform(35, 90, n), np.where(late, rng.gamma(2.0, 5.0, n), rng.normal(-2, 3, n)))
    delay_sd = np.where(chronic, rng.uniform(8, 20, n), rng.uniform(1.5, 8, n))
    p_dispute = rng.beta(1.2, 45, n)
    p_partial = rng.beta(1.0, 12, n)
    p_bad_debt = np.where(chronic, rng.uniform(0.02, 0.08, n), rng.uniform(0, 0.003, n))
    takes_discount = np.where(terms == "2/10NET30", rng.uniform(0.3, 0.9, n), 0.0)
    processor_share = np.array([P.SEGMENT_PROCESSOR_SHARE[s] for s in segment])
    uses_processor = rng.random(n) < processor_share
    batch_payer = (~uses_processor) & (segment != "smb") & (rng.random(n) < 0.5)
    pay_weekday = rng.integers(0, 5, n)  # weekly payment run of batch payers

    # Collectors are assigned within the customer's region, round robin.
    by_region = {r: collector_frame.filter(pl.col("region") == r)["collector_id"].to_list() for r in P.REGIONS}
    collector_id = np.array([by_region[r][i % len(by_region[r])] for i, r in enumerate(region)], dtype=object)
    names = [
        f"{P.NAME_FIRST[rng.integers(len(P.NAME_FIRST))]} {P.NAME_SECOND[rng.integers(len(P.NAME_SECOND))]} "
        f"{P.NAME_SUFFIX[rng.integers(len(P.NAME_SUFFIX))]}"
        for _ in range(n)
    ]
    # Credit reviews roughly twice a year move the limit up or down.
    review_gap = rng.integers(150, 210, (n, 12))
    review_factor = rng.choice([0.8, 1.0, 1.2, 1.5], size=(n, 12), p=[0.15, 0.35, 0.35, 0.15])
    return pl.DataFrame(
        {
            "customer_id": [f"C{i + 1:06d}" for i in range(n)],
            "customer_name": [f"{name} #{i + 1}" for i, name in enumerate(names)],
            "segment": segment.astype(str),
            "region": region.astype(str),
            "country": country.astype(str),
            "currency": currency.astype(str),
            "payment_terms_code": terms.astype(str),
            "payment_terms_days": np.array([P.TERMS_DAYS[t] for t in terms], dtype=np.int64),
            "credit_limit_base": credit_limit.astype(np.int64),
            "collector_id": collector_id.astype(str),
            "bank_account": [f"{country[i]}{(seed * 7919 + i * 104729) % 10**10:010d}{i:06d}" for i in range(n)],
            "onboard_day": onboard_day.astype(np.int64),
            "order_rate": order_rate,
            "review_gap": review_gap,
            "review_factor": review_factor,
            "b_mean_delay_days": np.round(mean_delay, 2),
            "b_delay_sd_days": np.round(delay_sd, 2),
            "b_p_dispute": np.round(p_dispute, 4),
            "b_p_partial": np.round(p_partial, 4),
            "b_p_bad_debt": np.round(p_bad_debt, 4),
            "b_p_takes_discount": np.round(takes_discount, 4),
            "b_uses_processor": uses_processor,
            "b_batch_payer": batch_payer,
            "b_pay_weekday": pay_weekday.astype(np.int64),
            "b_is_chronic_late": chronic,
        }
    )
