"""Each forecasting step on a warehouse connection: read the marts, compute, write `forecasts.*`.

The forecast histories are scored against the actuals by dbt, after these steps
(dbt_project/models/forecasts/*_vs_actual.sql).

One function per Dagster asset (orchestration/defs/forecasting.py); `o2c backtest` calls
`backtests`. Each returns a few numbers for the asset's metadata.
"""

import datetime as dt

import duckdb
import polars as pl

from core.db import query_frame, table_exists
from forecasting import backtest, cash, clv, pay_dates, revenue, tables

CLV_HORIZON_WEEKS = 52
# The daily build refits the CLV and pay-date models, and reruns the backtests, once the data is
# this many days newer than their last fit: a day's data moves none of them much, and fitting is
# most of what forecasting costs. In between, the stored fits predict. `o2c forecast --refit`
# refits (and `o2c backtest` reruns the backtests) at any time.
REFIT_EVERY_DAYS = 7


def _due(last: dt.date | None, as_of: dt.date) -> bool:
    """A fit made on the data as of `last` is due for a refit on the data as of `as_of` (no fit yet,
    REFIT_EVERY_DAYS passed, or data older than the fit's: a restored or replaced warehouse)."""
    return last is None or not 0 <= (as_of - last).days < REFIT_EVERY_DAYS


def data_as_of(con: duckdb.DuckDBPyConnection) -> dt.date | None:
    """The data's "today" (the calendar day dim_date flags); None before any order or invoice exists."""
    rows = con.execute("select date_day from marts.dim_date where is_data_as_of_date").fetchall()
    return rows[0][0] if rows else None


def _aging_dates(con: duckdb.DuckDBPyConnection) -> list[dt.date]:
    return [r[0] for r in con.execute("select distinct as_of_date from marts.fct_ar_aging order by 1").fetchall()]


def _no_data(con: duckdb.DuckDBPyConnection, forecast: str) -> dict[str, object]:
    """No activity in any source yet: nothing is forecast, and the status says so."""
    return tables.record_status(con, forecast, None, "none", ["no order, invoice or payment yet"], 0)


_CLV_PREDICTIONS = {
    "probability_alive": pl.Float64,
    "expected_purchases": pl.Float64,
    "expected_spend_per_purchase": pl.Float64,
    "predicted_revenue": pl.Float64,
}
_CLV_PARAMETERS = {
    "origin_date": pl.Date,
    "model": pl.String,
    "parameter": pl.String,
    "value": pl.Float64,
    "at_boundary": pl.Boolean,
    "log_likelihood": pl.Float64,
    "n_customers": pl.Int64,
}


def _stored_clv_fit(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dict[str, float], dict[str, float]] | None:
    """(data as-of date of the fit, BG/NBD parameters, Gamma-Gamma parameters) of the stored fit;
    None without one (never fitted, or the last run could not fit)."""
    if not table_exists(con, tables.SCHEMA, "clv_model_parameters"):
        return None
    rows = con.execute(
        f"select origin_date, model, parameter, value from {tables.SCHEMA}.clv_model_parameters"
    ).fetchall()
    fitted = {(model, parameter): value for _, model, parameter, value in rows}
    bgnbd = {p: fitted.get(("bg_nbd", p)) for p in clv.BGNBD_PARAMETERS}
    gamma_gamma = {p: fitted.get(("gamma_gamma", p)) for p in clv.GAMMA_GAMMA_PARAMETERS}
    if None in bgnbd.values() or None in gamma_gamma.values():
        return None
    return rows[0][0], bgnbd, gamma_gamma


def customer_clv(con: duckdb.DuckDBPyConnection, *, force: bool = False) -> dict[str, object]:
    """BG/NBD + Gamma-Gamma per customer; empty tables, with the reason in forecast_status, when
    there are too few repeat customers to fit them or the fit gives no finite prediction. The
    models are refitted when due (REFIT_EVERY_DAYS, or `force`); in between the stored parameters
    predict on the day's purchase histories."""
    origin = data_as_of(con)
    if origin is None:
        return _no_data(con, "customer_clv")
    orders = query_frame(
        con,
        "select customer_id, order_date as purchase_date, order_amount_rc::double as amount "
        "from marts.fct_orders where not is_cancelled and order_amount_rc > 0",
    )
    rfm = clv.rfm_summary(orders, origin)
    reason = clv.why_not_fit(rfm)
    fitted: list[clv.FittedModel] = []  # the models fitted in this run, if any
    parameters: dict[str, dict[str, float]] = {}  # the parameters predicting, by model
    if reason is None:
        stored = None if force else _stored_clv_fit(con)
        if stored is None or _due(stored[0], origin):
            fitted = [clv.fit_bgnbd(rfm), clv.fit_gamma_gamma(rfm)]
            fitted_as_of, parameters = origin, {model.name: model.parameters for model in fitted}
        else:
            fitted_as_of, parameters = stored[0], {"bg_nbd": stored[1], "gamma_gamma": stored[2]}
        predictions = clv.predict(rfm, parameters["bg_nbd"], parameters["gamma_gamma"], CLV_HORIZON_WEEKS)
        if not predictions["predicted_revenue"].is_finite().all():
            fitted, parameters = [], {}
            reason = "the BG/NBD and Gamma-Gamma fits give no finite prediction for every customer"
    if reason is not None:
        rfm = rfm.clear()
        predictions = pl.DataFrame(schema={"customer_id": pl.String, **_CLV_PREDICTIONS})
    margins = query_frame(con, "select customer_id, gross_margin_pct from marts.fct_customer_lifetime_value")
    predicted = (
        rfm.join(predictions, on="customer_id")
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
    tables.replace(con, "customer_clv", predicted)
    if fitted or not parameters:  # a new fit, or none that predicts: the stored parameters go
        tables.replace(con, "clv_model_parameters", _clv_parameters(origin, fitted))
    status = tables.record_status(
        con, "customer_clv", origin, "bg_nbd+gamma_gamma", [reason] if reason else [], predicted.height
    )
    return {
        "customers": predicted.height,
        "predicted_revenue_rc": round(float(predicted["predicted_revenue"].sum()), 2),
        **({"fitted_as_of": str(fitted_as_of)} if parameters else {}),
        **{f"{model}_{k}": round(v, 4) for model, values in parameters.items() for k, v in values.items()},
        **status,
    }


def _clv_parameters(origin: dt.date, fitted: list[clv.FittedModel]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "origin_date": origin,
                "model": model.name,
                "parameter": name,
                "value": value,
                "at_boundary": value < clv.BOUNDARY_LOW or value > clv.BOUNDARY_HIGH,
                "log_likelihood": model.log_likelihood,
                "n_customers": model.n_customers,
            }
            for model in fitted
            for name, value in model.parameters.items()
        ],
        schema=_CLV_PARAMETERS,
    )


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
    """Rolling-origin backtests, when the stored ones are REFIT_EVERY_DAYS older than the data
    (or `force`): they re-fit the pay-date model at every past month-end, the costliest forecasting
    step, and their verdict moves slowly."""
    as_of = data_as_of(con)
    if as_of is None:
        return _no_data(con, "backtests")
    last = _last_backtest(con)
    if not force and not _due(last, as_of):
        # The stored backtests and their forecast_status row still stand.
        return {"skipped": f"backtests from data as of {last} are under {REFIT_EVERY_DAYS} days old"}
    result = backtest.run(con, _aging_dates(con), as_of)
    tables.replace(con, "backtest_pay_date", result.pay_date)
    tables.replace(con, "backtest_cash_weekly", result.cash_weekly)
    tables.replace(con, "backtest_summary", result.summary.with_columns(pl.lit(as_of).alias("data_as_of")))
    status = tables.record_status(con, "backtests", as_of, "rolling_origin", result.reasons, result.summary.height)
    return {
        **{
            f"{row['evaluation']}_{row['method']}_{row['metric']}": round(row["value"], 2)
            for row in result.summary.iter_rows(named=True)
        },
        **status,
    }


def pay_date_predictions(con: duckdb.DuckDBPyConnection, *, force: bool = False) -> dict[str, object]:
    """Predicted pay date of every open item: per segment the method the backtests chose; the
    baseline without a trained model or backtest scores; the due date without any payment history.
    The model is retrained when due (REFIT_EVERY_DAYS, or `force`); in between the stored one scores."""
    origin = data_as_of(con)
    if origin is None:
        return _no_data(con, "pay_date_predictions")
    paid_known = pay_dates.paid_items_known(con, origin) > 0
    stored = pay_dates.load(con) if paid_known and not force else None
    training = paid_known and (stored is None or _due(stored.trained_as_of, origin))
    history = pay_dates.History(con, pay_dates.history_dates(_aging_dates(con), [origin], training))
    open_now = history.at(origin)
    reasons = []
    training_rows, trained_as_of = 0, None
    if not paid_known:
        # Nothing to learn a delay from: the due date is the only prediction that is not invented.
        model, methods, default = None, {}, "naive"
        reasons.append(
            "no payment history: every open item predicted at its due date (tomorrow at the soonest) "
            "and assumed collected in full"
        )
    else:
        if training:
            rows = history.training_set(origin)
            stored = pay_dates.StoredModel(origin, rows.height, pay_dates.train_if_enough(rows))
            del rows
            pay_dates.save(con, stored)
        model, training_rows, trained_as_of = stored.model, stored.training_rows, stored.trained_as_of
        scores = (
            query_frame(con, f"select * from {tables.SCHEMA}.backtest_pay_date")
            if table_exists(con, tables.SCHEMA, "backtest_pay_date")
            else pl.DataFrame()
        )
        methods, default = dict.fromkeys(pay_dates.SEGMENTS, "baseline"), "baseline"
        if model is None:
            reasons.append(
                f"{training_rows} items to train the pay-date model on (open at a month-end "
                f"{pay_dates.MIN_TRAINING_LAG_DAYS} to {pay_dates.TRAINING_WINDOW_DAYS} days back and paid since; "
                f"{pay_dates.MIN_TRAINING_ROWS} needed): baseline used"
            )
        elif scores.is_empty():
            reasons.append("no backtest scores to choose between the model and the baseline: baseline used")
        else:
            methods = pay_dates.choose_methods(scores)
    rates = cash.collection_rates(con, origin)
    if rates.is_empty() and default != "naive" and not open_now.is_empty():
        reasons.append(
            f"no items open {cash.HORIZON_WEEKS} weeks or more ago to measure collection rates on: every open "
            "item assumed collected in full"
        )
    if open_now.is_empty():
        reasons = ["no invoice is open at the origin"]  # how it would have been predicted does not matter
    scored = pay_dates.with_model_prediction(open_now, model)
    predictions = cash.with_collection_rates(pay_dates.predict(scored, methods, default), rates).select(
        list(tables.TABLES["pay_date_predictions"][1])
    )
    tables.replace(con, "pay_date_predictions", predictions)
    used = sorted(set(predictions["method"])) or [default]
    status = tables.record_status(con, "pay_date_predictions", origin, "+".join(used), reasons, predictions.height)
    trained = {"trained_as_of": str(trained_as_of)} if trained_as_of else {}
    return {"open_items": predictions.height, "training_rows": training_rows, **trained, **methods, **status}


def revenue_forecast(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    origin = data_as_of(con)
    if origin is None:
        return _no_data(con, "revenue_forecast")
    series = revenue.weekly_series(con, origin)
    forecast, accuracy = revenue.forecast(series)
    forecast = forecast.with_columns(pl.lit(origin).alias("origin_date")).select(
        list(tables.TABLES["revenue_forecast"][1])
    )
    accuracy = accuracy.with_columns(pl.lit(origin).alias("origin_date")).select(
        list(tables.TABLES["revenue_forecast_accuracy"][1])
    )
    tables.replace(con, "revenue_forecast", forecast)
    tables.replace(con, "revenue_forecast_accuracy", accuracy)
    tables.replace_origin(con, "revenue_forecast_history", forecast)
    chosen = dict(forecast.select("series", "model").unique().iter_rows())
    method = "+".join(sorted(set(chosen.values()))) or "history_mean"
    status = tables.record_status(
        con, "revenue_forecast", origin, method, revenue.fallback_reasons(series), forecast.height
    )
    return {**{f"{s}_model": m for s, m in sorted(chosen.items())}, **status}


def cash_forecast(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    origin = data_as_of(con)
    if origin is None:
        return _no_data(con, "cash_forecast")
    items = query_frame(con, "select * from forecasts.pay_date_predictions")
    new_invoicing = query_frame(
        con,
        "select forecast from forecasts.revenue_forecast where series = 'invoiced_revenue_rc' order by week",
    )["forecast"].to_numpy()
    curve = cash.collection_curve(con, origin)
    naive = cash.naive_forecast(con, origin)
    weekly = cash.forecast(origin, items, new_invoicing, curve.shares, naive, cash.unapplied_share(con, origin))
    reasons = _upstream_reasons(con)
    reasons += CURVE_REASONS.get(curve.source, [])
    if len(new_invoicing) == 0:
        reasons.append("no invoicing forecast: collections from invoices not yet issued left out")
    if naive == 0:
        reasons.append(f"no receipts in the last {cash.HORIZON_WEEKS} weeks: the naive benchmark is 0")
    tables.replace(con, "cash_forecast", weekly)
    tables.replace_origin(con, "cash_forecast_history", weekly)
    status = tables.record_status(con, "cash_forecast", origin, f"curve_{curve.source}", reasons, weekly.height)
    return {
        "expected_13w_rc": round(float(weekly["expected_collections_rc"].sum()), 2),
        "naive_13w_rc": round(float(weekly["naive_rc"].sum()), 2),
        **status,
    }


# Why the collection curve for new invoicing is not the full-history one (CollectionCurve.source).
CURVE_REASONS = {
    "short_history": [
        f"under {cash.CURVE_WEEKS} weeks of invoices behind the origin: collection curve from invoices at least "
        f"{cash.SHORT_HISTORY_MIN_AGE_DAYS // 7} weeks old, cut short"
    ],
    "terms": ["no payment history: new invoices assumed paid on their due dates (terms of the last year's invoices)"],
    "none": ["no invoices in the last year: nothing expected from new invoicing"],
}


def _upstream_reasons(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The cash forecast is built on the pay-date predictions and the invoiced-revenue forecast:
    their fallbacks are its own."""
    reasons = []
    if table_exists(con, tables.SCHEMA, tables.STATUS_TABLE):  # not on a warehouse forecast before it existed
        reasons = [
            f"open items: {reason}"
            for (reason,) in con.execute(
                f"select reason from {tables.SCHEMA}.{tables.STATUS_TABLE} "
                "where forecast = 'pay_date_predictions' and reason is not null"
            ).fetchall()
        ]
    models = con.execute(
        f"select distinct model from {tables.SCHEMA}.revenue_forecast where series = 'invoiced_revenue_rc'"
    ).fetchall()
    if models == [("history_mean",)]:
        reasons.append("new invoicing forecast at the history's weekly mean (see revenue_forecast)")
    return reasons


# In dependency order: pay-date predictions use the backtests' method choice; the cash forecast
# uses the pay-date predictions and the revenue forecast.
STEPS = (customer_clv, backtests, pay_date_predictions, revenue_forecast, cash_forecast)
# The steps that refit only when due (the revenue models are cheap and refit on every run).
REFITTING_STEPS = (customer_clv, backtests, pay_date_predictions)


def run_step(step, con: duckdb.DuckDBPyConnection, *, refit: bool = False) -> dict[str, object]:
    """One step of STEPS; `refit` refits its models (and reruns the backtests) whatever their age."""
    return step(con, force=True) if refit and step in REFITTING_STEPS else step(con)
