"""Weekly revenue and order forecasts with statsforecast.

Weeks end on the origin date (week 0 = the 7 days up to and including it), so the newest week is
always complete. Each series gets the model with the lowest WAPE in rolling cross-validation;
80 % intervals are conformal (from the same rolling windows).
"""

import datetime as dt

import duckdb
import polars as pl

from core.db import query_frame

HORIZON_WEEKS = 13
HISTORY_WEEKS = 156
CV_WINDOWS = 3
SEASON_WEEKS = 52
MIN_TRAINING_WEEKS = 13  # below this + the horizon, the forecast is the history's mean
_ACCURACY_SCHEMA = {"series": pl.String, "model": pl.String, "wape_pct": pl.Float64, "is_chosen": pl.Boolean}


def weekly_series(con: duckdb.DuckDBPyConnection, origin: dt.date) -> pl.DataFrame:
    """unique_id, ds (week end), y: invoiced revenue, order intake and order count per week up to `origin`,
    summed from their daily series (marts.fct_revenue_daily)."""
    sql = f"""
    with
    daily as (
        select series as unique_id, activity_date as day, activity_value as y
        from marts.fct_revenue_daily where activity_date <= $origin
    ),
    weeks as (select range as week from range(0, {HISTORY_WEEKS})),
    first_day as (select min(day) as day from daily),
    weekly as (select unique_id, ($origin - day) // 7 as week, sum(y) as y from daily group by all),
    series as (select unnest(['invoiced_revenue_rc', 'order_intake_rc', 'orders']) as unique_id)
    select
        series.unique_id,
        ($origin::date - (7 * weeks.week)::integer) as ds,
        coalesce(weekly.y, 0) as y
    from series
    cross join weeks
    cross join first_day
    left join weekly on weekly.unique_id = series.unique_id and weekly.week = weeks.week
    -- only whole weeks after the first activity
    where $origin::date - (7 * weeks.week)::integer - 6 >= first_day.day
    order by series.unique_id, ds
    """
    return query_frame(con, sql, {"origin": origin})


def _history_mean(series: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Too little history to choose a model: every week forecast at the mean of the weeks so far."""
    means = series.group_by("unique_id").agg(pl.col("y").mean().alias("forecast"), pl.col("ds").max().alias("last"))
    weeks = pl.DataFrame({"week": list(range(1, horizon + 1))})
    return (
        means.join(weeks, how="cross")
        .select(
            pl.col("unique_id").alias("series"),
            (pl.col("last") + pl.duration(days=7 * pl.col("week"))).cast(pl.Date).alias("week_end"),
            pl.lit("history_mean").alias("model"),
            pl.col("forecast"),
            pl.lit(None, pl.Float64).alias("lo_80"),
            pl.lit(None, pl.Float64).alias("hi_80"),
            pl.col("week"),
        )
        .sort("series", "week")
    )


def _models(n_weeks: int, windows: int):
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive, WindowAverage

    models = [
        AutoETS(season_length=1, alias="ets"),
        AutoTheta(season_length=1, alias="theta"),
        WindowAverage(window_size=13, alias="moving_average_13w"),
    ]
    # Last year's same week, once a year is left before every cross-validation window.
    if n_weeks >= SEASON_WEEKS + HORIZON_WEEKS * windows:
        models.append(SeasonalNaive(season_length=SEASON_WEEKS, alias="seasonal_naive"))
    return models


SERIES_LABELS = {"invoiced_revenue_rc": "invoices", "order_intake_rc": "orders", "orders": "orders"}


def _weeks(series: pl.DataFrame) -> int:
    """Weeks of history (every series covers the same weeks)."""
    return series.group_by("unique_id").len()["len"].min() or 0


def _idle(series: pl.DataFrame) -> list[str]:
    """Series that never moved (e.g. order intake from an AR export without orders): nothing to fit."""
    moved = series.group_by("unique_id").agg((pl.col("y") != 0).any().alias("moved"))
    return sorted(moved.filter(~pl.col("moved"))["unique_id"])


def fallback_reasons(series: pl.DataFrame, horizon: int = HORIZON_WEEKS) -> list[str]:
    """Why forecast() uses the history's mean instead of a fitted model (none when it does not)."""
    if series.is_empty():
        return ["no invoices or orders up to the origin: nothing to forecast"]
    n_weeks = _weeks(series)
    if n_weeks < MIN_TRAINING_WEEKS + horizon:
        return [f"{n_weeks} weeks of history ({MIN_TRAINING_WEEKS + horizon} needed to choose a model): weekly mean"]
    idle = _idle(series)
    if idle:
        labels = sorted({SERIES_LABELS.get(s, s) for s in idle})
        return [f"no {' or '.join(labels)} in the history: {', '.join(idle)} forecast at 0"]
    return []


def forecast(series: pl.DataFrame, horizon: int = HORIZON_WEEKS) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(forecast, accuracy): the chosen model's weekly forecast with 80 % intervals per series,
    and every candidate model's cross-validated WAPE (up to 3 rolling windows, fewer on a short
    history; on less than half a year, the history's mean and no accuracy). A series that never
    moved gets its mean, 0, without accuracy: its WAPE would be 0 / 0."""
    from statsforecast import StatsForecast
    from statsforecast.utils import ConformalIntervals

    n_weeks = _weeks(series)
    if n_weeks < MIN_TRAINING_WEEKS + horizon:
        return _history_mean(series, horizon), pl.DataFrame(schema=_ACCURACY_SCHEMA)
    idle = _idle(series)
    flat = _history_mean(series.filter(pl.col("unique_id").is_in(idle)), horizon)
    series = series.filter(~pl.col("unique_id").is_in(idle))
    if series.is_empty():
        return flat, pl.DataFrame(schema=_ACCURACY_SCHEMA)
    windows = min(CV_WINDOWS, (n_weeks - MIN_TRAINING_WEEKS) // horizon)
    models = _models(n_weeks, windows)
    names = [str(m) for m in models]
    sf = StatsForecast(models=models, freq="7d", n_jobs=1)
    cv = pl.from_pandas(sf.cross_validation(df=series.to_pandas(), h=horizon, n_windows=windows, step_size=horizon))
    accuracy = (
        cv.unpivot(index=["unique_id", "ds", "cutoff", "y"], on=names, variable_name="model", value_name="yhat")
        .group_by("unique_id", "model")
        .agg(((pl.col("yhat") - pl.col("y")).abs().sum() / pl.col("y").abs().sum() * 100).alias("wape_pct"))
        .with_columns((pl.col("wape_pct") == pl.col("wape_pct").min().over("unique_id")).alias("is_chosen"))
        .sort("unique_id", "wape_pct")
    )
    chosen = dict(accuracy.filter("is_chosen").unique("unique_id").select("unique_id", "model").iter_rows())
    # Conformal intervals need two rolling windows at least; with one, the forecast has none.
    intervals = (
        {"level": [80], "prediction_intervals": ConformalIntervals(h=horizon, n_windows=windows)}
        if windows >= 2
        else {}
    )
    predicted = pl.from_pandas(sf.forecast(df=series.to_pandas(), h=horizon, **intervals))
    rows = []
    for unique_id, model in chosen.items():
        rows.append(
            predicted.filter(pl.col("unique_id") == unique_id).select(
                pl.col("unique_id").alias("series"),
                pl.col("ds").cast(pl.Date).alias("week_end"),
                pl.lit(model).alias("model"),
                pl.col(model).clip(0).alias("forecast"),
                (pl.col(f"{model}-lo-80").clip(0) if intervals else pl.lit(None, pl.Float64)).alias("lo_80"),
                (pl.col(f"{model}-hi-80").clip(0) if intervals else pl.lit(None, pl.Float64)).alias("hi_80"),
            )
        )
    out = pl.concat(rows).sort("series", "week_end")
    out = out.with_columns(pl.int_range(1, pl.len() + 1).over("series").alias("week"))
    return pl.concat([out, flat.select(out.columns)]).sort("series", "week"), accuracy.rename({"unique_id": "series"})
