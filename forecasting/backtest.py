"""Rolling-origin backtests: forecast from past month-ends as if it were then, compare with what happened.

Origins are month-end aging dates with at least 13 weeks of actuals after them and half a year of
history before. At each origin the pay-date model is trained only on what was known then; the
pay-date methods are scored on the items open at the origin that have been paid since (MAE in
days), and the weekly cash forecast on the receipts of the next 13 weeks (MAPE, WAPE) against the
naive trailing-average forecast.
"""

import datetime as dt
from dataclasses import dataclass

import duckdb
import polars as pl

from forecasting import cash, pay_dates, revenue

MAX_ORIGINS = 6
MIN_HISTORY_DAYS = 180


@dataclass(frozen=True)
class Backtest:
    pay_date: pl.DataFrame  # origin_date, segment, method, n_invoices, n_unpaid, mae_days, bias_days
    cash_weekly: pl.DataFrame  # origin_date, week, week_end, method, forecast_rc, actual_rc
    summary: pl.DataFrame  # evaluation, method, metric, value, n_origins
    reasons: list[str]  # why parts were skipped or fell back (forecast_status); empty when all ran


def origins(aging_dates: list[dt.date], as_of: dt.date) -> list[dt.date]:
    if not aging_dates:
        return []
    first = min(aging_dates)
    usable = [
        d
        for d in aging_dates
        if d <= as_of - dt.timedelta(weeks=cash.HORIZON_WEEKS) and d >= first + dt.timedelta(days=MIN_HISTORY_DAYS)
    ]
    return sorted(usable)[-MAX_ORIGINS:]


def _pay_date_errors(scored: pl.DataFrame) -> pl.DataFrame:
    """MAE and bias of every method, per segment and over all segments."""
    paid = scored.filter(pl.col("paid_date").is_not_null())
    long = paid.unpivot(
        index=["origin_date", "segment", "paid_date"],
        on=[f"{m}_date" for m in pay_dates.METHODS],
        variable_name="method",
        value_name="predicted_date",
    ).with_columns(
        pl.col("method").str.strip_suffix("_date"),
        (pl.col("predicted_date") - pl.col("paid_date")).dt.total_days().alias("error"),
    )
    metrics = [
        pl.len().alias("n_invoices"),
        pl.col("error").abs().mean().alias("mae_days"),
        pl.col("error").mean().alias("bias_days"),
    ]
    by_segment = long.group_by("origin_date", "segment", "method").agg(metrics)
    overall = long.group_by("origin_date", "method").agg(metrics).with_columns(pl.lit("all").alias("segment"))
    unpaid = scored.group_by("origin_date").agg(pl.col("paid_date").is_null().sum().alias("n_unpaid"))
    return (
        pl.concat([by_segment, overall.select(by_segment.columns)])
        .join(unpaid, on="origin_date")
        .select("origin_date", "segment", "method", "n_invoices", "n_unpaid", "mae_days", "bias_days")
        .sort("origin_date", "segment", "method")
    )


# What scoring and the cash forecast need of each scored item; the features are dropped.
_SCORED = (
    "origin_date",
    "segment",
    "paid_date",
    "days_past_due",
    "aging_bucket_order",
    "open_balance_rc",
    *(f"{method}_date" for method in pay_dates.METHODS),
)


def run(con: duckdb.DuckDBPyConnection, aging_dates: list[dt.date], as_of: dt.date) -> Backtest:
    """`aging_dates`: every date fct_ar_aging holds. Only the items open at the tested origins and
    in their training windows are staged."""
    tested = origins(aging_dates, as_of)
    history = pay_dates.History(con, pay_dates.history_dates(aging_dates, tested, training=True))
    # The training sets are read first (from DuckDB, one at a time), then fitted side by side.
    models = pay_dates.train_each([history.training_set(origin) for origin in tested])
    scored_all, cash_rows, untrained = [], [], 0
    for origin, model in zip(tested, models, strict=True):
        untrained += model is None
        scored = pay_dates.with_model_prediction(history.at(origin), model).select(_SCORED)
        scored_all.append(scored)
        cash_rows.append(_cash_at(con, scored, origin))
    pay_date = _pay_date_errors(pl.concat(scored_all)) if scored_all else _empty_pay_date()
    # The cash backtest uses, per segment, the pay-date method the pay-date backtest chose.
    methods = pay_dates.choose_methods(pay_date)
    cash_weekly = pl.concat([rows(methods) for rows in cash_rows]) if cash_rows else pl.DataFrame(schema=_CASH_SCHEMA)
    summary = _summary(pay_date, cash_weekly)
    return Backtest(pay_date, cash_weekly, summary, _reasons(aging_dates, as_of, len(tested), untrained, summary))


def _reasons(
    aging_dates: list[dt.date], as_of: dt.date, n_tested: int, untrained: int, summary: pl.DataFrame
) -> list[str]:
    """Why the backtests are missing or partial: the history is too short, nothing was paid after
    the origins, or the model could not be trained at some of them."""
    if not aging_dates:
        return ["no aging history (no invoices): nothing to backtest"]
    if n_tested == 0:
        days = (as_of - min(aging_dates)).days
        return [
            f"{days} days of aging history: a backtest origin needs {MIN_HISTORY_DAYS} days of history before it "
            f"and {cash.HORIZON_WEEKS} weeks of actuals after it"
        ]
    reasons = []
    evaluated = set(summary["evaluation"])
    if "pay_date" not in evaluated:
        reasons.append(f"no item open at the {n_tested} origins has been paid since: pay dates not scored")
    if "cash_weekly" not in evaluated:
        reasons.append(f"no receipts in the {cash.HORIZON_WEEKS} weeks after any origin: cash forecast not scored")
    if untrained and "pay_date" in evaluated:
        reasons.append(
            f"pay-date model not trained at {untrained} of {n_tested} origins (under "
            f"{pay_dates.MIN_TRAINING_ROWS} items to train on then): its scores there are the baseline's"
        )
    return reasons


_CASH_SCHEMA = {
    "origin_date": pl.Date,
    "week": pl.Int64,
    "week_end": pl.Date,
    "method": pl.String,
    "forecast_rc": pl.Float64,
    "actual_rc": pl.Float64,
}


def _empty_pay_date() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "origin_date": pl.Date,
            "segment": pl.String,
            "method": pl.String,
            "n_invoices": pl.UInt32,
            "n_unpaid": pl.UInt32,
            "mae_days": pl.Float64,
            "bias_days": pl.Float64,
        }
    )


def _cash_at(con: duckdb.DuckDBPyConnection, scored: pl.DataFrame, origin: dt.date):
    """The cash forecast made at `origin`, completed once the pay-date methods are chosen."""
    series = revenue.weekly_series(con, origin).filter(pl.col("unique_id") == "invoiced_revenue_rc")
    invoicing, _ = revenue.forecast(series)
    new_invoicing = invoicing.sort("week")["forecast"].to_numpy()
    curve = cash.collection_curve(con, origin).shares
    rates = cash.collection_rates(con, origin)
    naive = cash.naive_forecast(con, origin)
    unapplied = cash.unapplied_share(con, origin)
    actual = cash.weekly_receipts(con, origin, cash.HORIZON_WEEKS)

    def rows(methods: dict[str, str]) -> pl.DataFrame:
        predicted = cash.with_collection_rates(pay_dates.predict(scored, methods), rates)
        weekly = cash.forecast(origin, predicted, new_invoicing, curve, naive, unapplied).join(actual, on="week")
        return pl.concat(
            [
                weekly.select(
                    "origin_date",
                    "week",
                    "week_end",
                    pl.lit(name).alias("method"),
                    pl.col(column).alias("forecast_rc"),
                    pl.col("receipts_rc").alias("actual_rc"),
                )
                for name, column in (("forecast", "expected_collections_rc"), ("naive", "naive_rc"))
            ]
        )

    return rows


def _summary(pay_date: pl.DataFrame, cash_weekly: pl.DataFrame) -> pl.DataFrame:
    """One row per evaluation, method and metric, pooled over all origins."""
    overall = pay_date.filter(pl.col("segment") == "all")
    pay = overall.group_by("method").agg(
        pl.lit("pay_date").alias("evaluation"),
        pl.lit("mae_days").alias("metric"),
        ((pl.col("mae_days") * pl.col("n_invoices")).sum() / pl.col("n_invoices").sum()).alias("value"),
        pl.col("origin_date").n_unique().alias("n_origins"),
    )
    error = (pl.col("forecast_rc") - pl.col("actual_rc")).abs()
    weekly = cash_weekly.filter(pl.col("actual_rc") > 0)
    wape = weekly.group_by("method").agg(
        pl.lit("cash_weekly").alias("evaluation"),
        pl.lit("wape_pct").alias("metric"),
        (error.sum() / pl.col("actual_rc").sum() * 100).alias("value"),
        pl.col("origin_date").n_unique().alias("n_origins"),
    )
    mape = weekly.group_by("method").agg(
        pl.lit("cash_weekly").alias("evaluation"),
        pl.lit("mape_pct").alias("metric"),
        ((error / pl.col("actual_rc")).mean() * 100).alias("value"),
        pl.col("origin_date").n_unique().alias("n_origins"),
    )
    columns = ["evaluation", "method", "metric", "value", "n_origins"]
    return pl.concat([pay.select(columns), wape.select(columns), mape.select(columns)]).sort(columns[:3])
