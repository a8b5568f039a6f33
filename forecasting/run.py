"""Each forecasting step on a warehouse connection: read the marts, compute, write `forecasts.*`.

One function per Dagster asset (orchestration/defs/forecasting.py); `o2c backtest` calls
`backtests`. Each returns a few numbers for the asset's metadata.
"""

import datetime as dt

import duckdb
import polars as pl

from forecasting import backtest, cash, clv, pay_dates, revenue, tables
from ingestion.warehouse import query_frame, table_exists

CLV_HORIZON_WEEKS = 52
# The daily build refreshes the backtests once the data is this many days newer; `o2c backtest`
# runs them at any time.
BACKTEST_EVERY_DAYS = 7


def data_as_of(con: duckdb.DuckDBPyConnection) -> dt.date:
    return con.execute("select as_of_date from intermediate.int_data_as_of").fetchall()[0][0]


def _aging_dates(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    return [r[0] for r in con.execute("select distinct as_of_date from marts.fct_ar_aging order by 1").fetchall()]


def customer_clv(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    origin = data_as_of(con)
    orders = query_frame(
        con,
        "select customer_id, order_date as purchase_date, order_amount_rc::double as amount "
        "from marts.fct_orders where not is_cancelled and order_amount_rc > 0",
    )
    rfm = clv.rfm_summary(orders, origin)
    purchases = clv.fit_bgnbd(rfm)
    spend = clv.fit_gamma_gamma(rfm)
    margins = query_frame(con, "select customer_id, gross_margin_pct from marts.fct_customer_lifetime_value")
    predicted = (
        rfm.join(clv.predict(rfm, purchases, spend, CLV_HORIZON_WEEKS), on="customer_id")
        .join(margins, on="customer_id", how="left")
        .with_columns(
            pl.lit(origin).alias("origin_date"),
            pl.lit(CLV_HORIZON_WEEKS).alias("horizon_weeks"),
            (pl.col("predicted_revenue") * pl.col("gross_margin_pct") / 100).alias("predicted_margin"),
            pl.col("predicted_revenue").rank("ordinal", descending=True).cast(pl.Int64).alias("value_rank"),
        )
        .select(list(tables.TABLES["customer_clv"][1]))
        .sort("value_rank")
    )
    parameters = pl.DataFrame(
        [
            {
                "origin_date": origin,
                "model": fitted.name,
                "parameter": name,
                "value": value,
                "at_boundary": value < clv.BOUNDARY_LOW or value > clv.BOUNDARY_HIGH,
                "log_likelihood": fitted.log_likelihood,
                "n_customers": fitted.n_customers,
            }
            for fitted in (purchases, spend)
            for name, value in fitted.parameters.items()
        ]
    )
    tables.replace(con, "customer_clv", predicted)
    tables.replace(con, "clv_model_parameters", parameters)
    return {
        "customers": predicted.height,
        "predicted_revenue_rc": round(float(predicted["predicted_revenue"].sum()), 2),
        **{f"bg_nbd_{k}": round(v, 4) for k, v in purchases.parameters.items()},
        **{f"gamma_gamma_{k}": round(v, 4) for k, v in spend.parameters.items()},
    }


def _last_backtest(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The data's as-of date of the stored backtests; None if there are none (or from before
    the date was kept)."""
    if not table_exists(con, tables.SCHEMA, "backtest_summary"):
        return None
    columns = {r[0] for r in con.execute(f"describe {tables.SCHEMA}.backtest_summary").fetchall()}
    if "data_as_of" not in columns:
        return None
    return con.execute(f"select max(data_as_of) from {tables.SCHEMA}.backtest_summary").fetchall()[0][0]


def backtests(con: duckdb.DuckDBPyConnection, *, force: bool = False) -> dict[str, object]:
    """Rolling-origin backtests, when the stored ones are BACKTEST_EVERY_DAYS older than the data
    (or `force`): they re-fit the pay-date model at every past month-end, the costliest forecasting
    step, and their verdict moves slowly."""
    as_of = data_as_of(con)
    last = _last_backtest(con)
    if not force and last is not None and (as_of - last).days < BACKTEST_EVERY_DAYS:
        return {"skipped": f"backtests from data as of {last} are under {BACKTEST_EVERY_DAYS} days old"}
    result = backtest.run(con, pay_dates.History(con, _aging_dates(con)), as_of)
    tables.replace(con, "backtest_pay_date", result.pay_date)
    tables.replace(con, "backtest_cash_weekly", result.cash_weekly)
    tables.replace(con, "backtest_summary", result.summary.with_columns(pl.lit(as_of).alias("data_as_of")))
    return {
        f"{row['evaluation']}_{row['method']}_{row['metric']}": round(row["value"], 2)
        for row in result.summary.iter_rows(named=True)
    }


def pay_date_predictions(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    origin = data_as_of(con)
    history = pay_dates.History(con, _aging_dates(con))
    training = history.training_set(origin)
    model = pay_dates.train(training) if training.height >= 200 else None
    methods = (
        pay_dates.choose_methods(query_frame(con, "select * from forecasts.backtest_pay_date"))
        if table_exists(con, tables.SCHEMA, "backtest_pay_date") and model is not None
        else dict.fromkeys(pay_dates.SEGMENTS, "baseline")
    )
    rates = cash.collection_rates(history, origin)
    open_now = pay_dates.with_model_prediction(history.at(origin), model)
    predictions = cash.with_collection_rates(pay_dates.predict(open_now, methods), rates).select(
        list(tables.TABLES["pay_date_predictions"][1])
    )
    tables.replace(con, "pay_date_predictions", predictions)
    return {"open_items": predictions.height, "training_rows": training.height, **methods}


def revenue_forecast(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    origin = data_as_of(con)
    forecast, accuracy = revenue.forecast(revenue.weekly_series(con, origin))
    forecast = forecast.with_columns(pl.lit(origin).alias("origin_date")).select(
        list(tables.TABLES["revenue_forecast"][1])
    )
    accuracy = accuracy.with_columns(pl.lit(origin).alias("origin_date")).select(
        list(tables.TABLES["revenue_forecast_accuracy"][1])
    )
    tables.replace(con, "revenue_forecast", forecast)
    tables.replace(con, "revenue_forecast_accuracy", accuracy)
    tables.replace_origin(con, "revenue_forecast_history", forecast)
    con.execute(
        f"""
        create or replace table {tables.SCHEMA}.revenue_forecast_vs_actual as
        with
        daily as (
            select 'invoiced_revenue_rc' as series, invoice_date as day, sum(invoice_amount_rc)::double as y
            from marts.fct_invoices group by all
            union all
            select 'order_intake_rc', order_date, sum(order_amount_rc)::double
            from marts.fct_orders where not is_cancelled group by all
            union all
            select 'orders', order_date, count(*)::double
            from marts.fct_orders where not is_cancelled group by all
        ),
        actuals as (
            select history.origin_date, history.series, history.week, coalesce(sum(daily.y), 0) as actual
            from {tables.SCHEMA}.revenue_forecast_history as history
            left join daily
                on daily.series = history.series and daily.day between history.week_end - 6 and history.week_end
            where history.week_end <= $as_of
            group by all
        )
        select
            history.origin_date,
            history.series,
            history.week,
            history.week_end,
            history.model,
            history.forecast,
            actuals.actual,
            history.forecast - actuals.actual as error,
            100 * abs(history.forecast - actuals.actual) / nullif(actuals.actual, 0) as abs_pct_error
        from {tables.SCHEMA}.revenue_forecast_history as history
        inner join actuals using (origin_date, series, week)
        order by all
        """,
        {"as_of": origin},
    )
    tables.describe(con, "revenue_forecast_vs_actual")
    chosen = accuracy.filter("is_chosen")
    return {f"{s}_model": m for s, m in chosen.select("series", "model").iter_rows()}


def cash_forecast(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    origin = data_as_of(con)
    items = query_frame(con, "select * from forecasts.pay_date_predictions")
    new_invoicing = query_frame(
        con,
        "select forecast from forecasts.revenue_forecast where series = 'invoiced_revenue_rc' order by week",
    )["forecast"].to_numpy()
    weekly = cash.forecast(
        origin,
        items,
        new_invoicing,
        cash.collection_curve(con, origin),
        cash.naive_forecast(con, origin),
        cash.unapplied_share(con, origin),
    )
    tables.replace(con, "cash_forecast", weekly)
    tables.replace_origin(con, "cash_forecast_history", weekly)
    con.execute(
        f"""
        create or replace table {tables.SCHEMA}.cash_forecast_vs_actual as
        with actuals as (
            select history.origin_date, history.week, coalesce(sum(payments.amount_rc), 0)::double as actual_rc
            from {tables.SCHEMA}.cash_forecast_history as history
            left join marts.fct_payments as payments
                on not payments.is_refund and payments.payment_date between history.week_start and history.week_end
            where history.week_end <= $as_of
            group by all
        )
        select
            history.origin_date,
            history.week,
            history.week_start,
            history.week_end,
            history.expected_collections_rc,
            history.naive_rc,
            actuals.actual_rc,
            history.expected_collections_rc - actuals.actual_rc as error_rc,
            100 * abs(history.expected_collections_rc - actuals.actual_rc) / nullif(actuals.actual_rc, 0) as abs_pct_error
        from {tables.SCHEMA}.cash_forecast_history as history
        inner join actuals using (origin_date, week)
        order by history.origin_date, history.week
        """,
        {"as_of": origin},
    )
    tables.describe(con, "cash_forecast_vs_actual")
    return {
        "expected_13w_rc": round(float(weekly["expected_collections_rc"].sum()), 2),
        "naive_13w_rc": round(float(weekly["naive_rc"].sum()), 2),
    }


# In dependency order: pay-date predictions use the backtests' method choice; the cash forecast
# uses the pay-date predictions and the revenue forecast.
STEPS = (customer_clv, backtests, pay_date_predictions, revenue_forecast, cash_forecast)
