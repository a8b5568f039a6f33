"""Customer lifetime value: the BG/NBD purchase model and the Gamma-Gamma spend model.

Both are fitted by maximum likelihood on their closed-form likelihoods (SciPy's L-BFGS-B), which
reproduces the published estimates. Time is measured in weeks, as in Fader, Hardie & Lee (2005).
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

DAYS_PER_PERIOD = 7  # weeks
BGNBD_PARAMETERS = ("r", "alpha", "a", "b")
GAMMA_GAMMA_PARAMETERS = ("p", "q", "v")
# Estimates beyond these sit on the edge of the parameter space: the data support a simpler model
# (a → 0: nobody drops out; q, v → ∞ together: spend does not vary between customers). The
# predictions stay valid, the parameter itself is not interpretable.
BOUNDARY_LOW, BOUNDARY_HIGH = 1e-4, 1e5
# Gamma-Gamma learns spend from the customers who bought again, BG/NBD the repeat rate: below this
# many repeat customers the estimates run off to the edge of the parameter space (one customer gives
# r ≈ 1e9) and the predictions mean nothing, so no CLV is predicted.
MIN_REPEAT_CUSTOMERS = 10


@dataclass(frozen=True)
class FittedModel:
    """Point estimates of a fitted model and how well it fits."""

    name: str
    parameters: dict[str, float]
    log_likelihood: float
    n_customers: int


def rfm_summary(transactions: pl.DataFrame, observation_end: dt.date) -> pl.DataFrame:
    """Frequency, recency, T and mean repeat spend per customer, in weeks.

    `transactions` has customer_id, purchase_date (date) and amount. Purchases on the same day
    count as one (their amounts add up); only purchases up to `observation_end` are used.
    frequency = repeat purchase days; recency = first to last purchase; T = first purchase to
    the end of observation; monetary_value = mean spend of the repeat purchases (0 without any).
    """
    days = (
        transactions.filter(pl.col("purchase_date") <= observation_end)
        .group_by("customer_id", "purchase_date")
        .agg(pl.col("amount").sum().cast(pl.Float64))
        .sort("customer_id", "purchase_date")
    )
    first = pl.col("purchase_date").first()
    is_repeat = pl.col("purchase_date") > first
    return (
        days.group_by("customer_id", maintain_order=True)
        .agg(
            (pl.len() - 1).alias("frequency"),
            ((pl.col("purchase_date").last() - first).dt.total_days() / DAYS_PER_PERIOD).alias("recency"),
            ((pl.lit(observation_end) - first).dt.total_days() / DAYS_PER_PERIOD).alias("T"),
            pl.col("amount").filter(is_repeat).mean().fill_null(0.0).alias("monetary_value"),
            first.alias("first_purchase_date"),
            pl.col("purchase_date").last().alias("last_purchase_date"),
        )
        .with_columns(pl.col("frequency").cast(pl.Int64))
    )


def repeat_customers(rfm: pl.DataFrame) -> pl.DataFrame:
    """The customers Gamma-Gamma learns spend from: at least one repeat purchase, with spend."""
    return rfm.filter((pl.col("frequency") > 0) & (pl.col("monetary_value") > 0))


def why_not_fit(rfm: pl.DataFrame) -> str | None:
    """Why the models cannot be fitted on this RFM summary; None when they can."""
    if rfm.is_empty():
        return "no orders: the CLV models need each customer's purchase history"
    repeaters = repeat_customers(rfm).height
    if repeaters < MIN_REPEAT_CUSTOMERS:
        return (
            f"{repeaters} of {rfm.height} customers with orders bought again on a later day: BG/NBD and "
            f"Gamma-Gamma need repeat purchases of at least {MIN_REPEAT_CUSTOMERS} customers"
        )
    return None


def bgnbd_log_likelihood(parameters: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Each customer's BG/NBD log-likelihood (Fader, Hardie & Lee 2005, equation 6), in logs
    throughout: the two terms of the sum are added with logaddexp, as their powers overflow."""
    from scipy.special import betaln, gammaln

    r, alpha, a, b = parameters
    purchases = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
    still_alive = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore"):
        dropped_out = np.where(
            x > 0, np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x), -np.inf
        )
    return purchases + np.logaddexp(still_alive, dropped_out)


def gamma_gamma_log_likelihood(parameters: np.ndarray, x: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Each repeat customer's Gamma-Gamma log-likelihood of their mean spend m over x purchases
    (Fader & Hardie 2013, "The Gamma-Gamma model of monetary value")."""
    from scipy.special import gammaln

    p, q, v = parameters
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(x * m + v)
    )


def _maximum_likelihood(
    name: str, parameters: tuple[str, ...], log_likelihood: Callable[..., np.ndarray], *data: np.ndarray
) -> FittedModel:
    """The parameters that maximise the log-likelihood, searched over their logarithms (so they
    stay positive) from 1 each. The mean rather than the sum is minimised, so the tolerances mean
    the same at any number of customers; the bounds (e^±25) only keep a parameter running off
    to the edge of the space (a → 0) from overflowing, and such an estimate is flagged."""
    from scipy.optimize import minimize

    n = len(data[0])
    best = minimize(
        lambda logs: -log_likelihood(np.exp(logs), *data).sum() / n,
        np.zeros(len(parameters)),
        method="L-BFGS-B",
        bounds=[(-25.0, 25.0)] * len(parameters),
        options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 10_000},
    )
    estimates = dict(zip(parameters, (float(v) for v in np.exp(best.x)), strict=True))
    return FittedModel(name, estimates, float(-best.fun * n), n)


def fit_bgnbd(rfm: pl.DataFrame) -> FittedModel:
    """BG/NBD on frequency, recency and T of every customer."""
    x, t_x, T = (rfm[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    return _maximum_likelihood("bg_nbd", BGNBD_PARAMETERS, bgnbd_log_likelihood, x, t_x, T)


def fit_gamma_gamma(rfm: pl.DataFrame) -> FittedModel:
    """Gamma-Gamma on the mean repeat spend of customers with at least one repeat purchase."""
    repeaters = repeat_customers(rfm)
    x, m = (repeaters[c].to_numpy().astype(float) for c in ("frequency", "monetary_value"))
    return _maximum_likelihood("gamma_gamma", GAMMA_GAMMA_PARAMETERS, gamma_gamma_log_likelihood, x, m)


def probability_alive(bgnbd: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """P(alive | x, t_x, T) under BG/NBD (Fader, Hardie & Lee, "Computing P(alive) using the BG/NBD
    model", 2008): 1 for a customer without repeat purchases, who cannot have dropped out yet."""
    return 1 / (1 + _odds_dropped_out(bgnbd, x, t_x, T))


def expected_purchases(bgnbd: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray, t: float) -> np.ndarray:
    """E[purchases in the next t periods | x, t_x, T] under BG/NBD (Fader, Hardie & Lee 2005)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = (bgnbd[k] for k in BGNBD_PARAMETERS)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        unconditional = ((a + b + x - 1) / (a - 1)) * (
            1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        )
    return unconditional / (1 + _odds_dropped_out(bgnbd, x, t_x, T))


def _odds_dropped_out(bgnbd: dict[str, float], x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """a/(b+x-1) · ((alpha+T)/(alpha+t_x))^(r+x) for x > 0, 0 otherwise; in logs, since the power overflows
    for a long-silent frequent buyer (whose odds are then infinite: P(alive) 0)."""
    r, alpha, a, b = (bgnbd[k] for k in BGNBD_PARAMETERS)
    repeat = x > 0
    with np.errstate(over="ignore"):
        log_odds = (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)) + np.log(a) - np.log(b + np.maximum(x, 1) - 1)
        return np.where(repeat, np.exp(log_odds), 0.0)


def predict(
    rfm: pl.DataFrame, bgnbd: dict[str, float], gamma_gamma: dict[str, float], horizon_weeks: int
) -> pl.DataFrame:
    """Per customer: probability alive, expected purchases and revenue over the horizon, from the
    models' parameters (a fit's, or the stored ones of a recent fit).

    Expected spend per purchase is the Gamma-Gamma conditional mean for repeat customers and the
    population mean for the others; predicted revenue = expected purchases × expected spend.
    """
    x = rfm["frequency"].to_numpy().astype(float)
    t_x = rfm["recency"].to_numpy().astype(float)
    T = rfm["T"].to_numpy().astype(float)
    m = rfm["monetary_value"].to_numpy().astype(float)
    alive = probability_alive(bgnbd, x, t_x, T)
    expected = expected_purchases(bgnbd, x, t_x, T, horizon_weeks)
    p, q, v = (gamma_gamma[k] for k in GAMMA_GAMMA_PARAMETERS)
    population_spend = p * v / (q - 1) if q > 1 else float("nan")
    # Gamma-Gamma conditional expectation of a customer's mean spend (Fader & Hardie 2013): a weighted mean of the
    # population mean and the customer's observed mean, the weight growing with repeat purchases.
    conditional = ((q - 1) / (p * x + q - 1)) * population_spend + (p * x / (p * x + q - 1)) * m
    spend_per_purchase = np.where((x > 0) & (m > 0), conditional, population_spend)
    return rfm.select("customer_id").with_columns(
        pl.Series("probability_alive", alive),
        pl.Series("expected_purchases", expected),
        pl.Series("expected_spend_per_purchase", spend_per_purchase),
        pl.Series("predicted_revenue", expected * spend_per_purchase),
    )
