"""The `forecasts` schema: every table the forecasting assets write, with its description, and the
names of the tables dbt builds from them (DBT_MODELS, described in their dbt YAML).

The descriptions become DuckDB comments (publishing copies them into the serving file) and the
Dagster asset descriptions; a test checks that every column written has one.
"""

import datetime as dt

import duckdb
import polars as pl

SCHEMA = "forecasts"

ORIGIN = "Date the forecast was made as of (the data's as-of date, or a backtest origin)."
WEEK = "Forecast week: 1 = the 7 days after the origin date, 2 = the 7 after that …"
WEEK_START = "First day of the forecast week."
WEEK_END = "Last day of the forecast week."

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "forecast_status": (
        "How each forecast was made at its latest run: ok (the full method), fallback (a simpler method, and why) "
        "or skipped (no rows, and why). Dashboards show the reason beside the forecast.",
        {
            "forecast": "customer_clv, backtests, pay_date_predictions, revenue_forecast or cash_forecast (the step, "
            "named after its main table).",
            "origin_date": ORIGIN,
            "status": "ok, fallback (the table holds rows made by a simpler method) or skipped (the table is empty).",
            "method": "The method that made the rows, e.g. bg_nbd+gamma_gamma, naive, baseline, history_mean.",
            "reason": "Why it fell back or was skipped, one clause per cause joined by '; ' (null when ok).",
            "n_rows": "Rows written to the forecast's main table.",
        },
    ),
    "customer_clv": (
        "Predictive customer lifetime value: BG/NBD purchases and Gamma-Gamma spend per customer over the "
        "horizon, with the RFM summary they were fitted on (weeks).",
        {
            "customer_id": "Customer.",
            "origin_date": ORIGIN,
            "horizon_weeks": "Weeks ahead the expected purchases and revenue cover.",
            "first_purchase_date": "First order day.",
            "last_purchase_date": "Latest order day.",
            "frequency": "Repeat purchase days (order days after the first).",
            "recency": "Weeks from the first to the latest order day.",
            "T": "Weeks from the first order day to the origin.",
            "monetary_value": "Mean order value of the repeat purchase days, reporting currency.",
            "probability_alive": "BG/NBD probability that the customer is still buying.",
            "expected_purchases": "Expected purchase days over the horizon.",
            "expected_spend_per_purchase": "Gamma-Gamma expected spend per purchase day, reporting currency.",
            "predicted_revenue": "Expected purchases × expected spend, reporting currency.",
            "gross_margin_pct": "The customer's historical gross margin (fct_customer_lifetime_value).",
            "predicted_margin": "Predicted revenue × historical gross margin, reporting currency.",
            "value_rank": "1 = the customer with the highest predicted revenue.",
        },
    ),
    "clv_model_parameters": (
        "Fitted CLV model parameters and fit diagnostics (maximum likelihood: MAP with flat priors).",
        {
            "origin_date": ORIGIN,
            "model": "bg_nbd (purchases) or gamma_gamma (spend).",
            "parameter": "r, alpha, a, b (BG/NBD); p, q, v (Gamma-Gamma).",
            "value": "Estimate.",
            "at_boundary": "Estimate at the edge of the parameter space (below 1e-4 or above 1e5): the data support a "
            "simpler model, e.g. a → 0 when nobody drops out; predictions stay valid.",
            "log_likelihood": "Log-likelihood of the data at the estimates.",
            "n_customers": "Customers the model was fitted on.",
        },
    ),
    "pay_date_predictions": (
        "Predicted pay date of every open invoice, with the naive (due date) and baseline (due date + the "
        "customer's recent weighted delay; promise or dispute rules) predictions and the method used.",
        {
            "invoice_id": "Open invoice.",
            "customer_id": "Customer.",
            "segment": "Customer segment.",
            "origin_date": ORIGIN,
            "due_date": "Due date.",
            "days_past_due": "Days past due at the origin (negative: not yet due).",
            "open_balance_rc": "Open balance at the origin, reporting currency.",
            "is_disputed": "1 when a dispute is open at the origin.",
            "has_promise": "1 when an unbroken promise to pay is on record.",
            "recent_delay": "Customer's amount-weighted days late over the last 365 days of payments.",
            "naive_date": "Due date (tomorrow at the soonest).",
            "baseline_date": "Due date + recent delay; promised date or dispute delay where they apply.",
            "model_date": "Gradient-boosting prediction.",
            "method": "Method used for predicted_date: baseline or model (chosen per segment by backtest); naive "
            "when there is no payment history (forecast_status says why).",
            "predicted_date": "Predicted pay date.",
            "expected_collection_rate": "Share of such items (by aging bucket) collected within 13 weeks historically.",
        },
    ),
    "revenue_forecast": (
        "Weekly invoiced revenue, order intake and order count for the next 13 weeks (statsforecast; the "
        "model with the lowest cross-validated WAPE per series), with 80 % conformal intervals.",
        {
            "origin_date": ORIGIN,
            "series": "invoiced_revenue_rc, order_intake_rc (reporting currency) or orders (count).",
            "week": WEEK,
            "week_end": WEEK_END,
            "model": "Chosen model: ets, theta, moving_average_13w or seasonal_naive; history_mean when the history "
            "is too short to choose one or the series has never moved (forecast_status says why).",
            "forecast": "Point forecast.",
            "lo_80": "Lower bound of the 80 % interval.",
            "hi_80": "Upper bound of the 80 % interval.",
        },
    ),
    "revenue_forecast_accuracy": (
        "Cross-validated accuracy (3 rolling windows of 13 weeks) of every candidate revenue model.",
        {
            "origin_date": ORIGIN,
            "series": "Forecast series.",
            "model": "Candidate model.",
            "wape_pct": "Weighted absolute percentage error, %.",
            "is_chosen": "The model used for the forecast.",
        },
    ),
    "revenue_forecast_history": (
        "Every revenue forecast made, kept for forecast-vs-actual tracking (one set per origin date).",
        {},  # same columns as revenue_forecast
    ),
    "cash_forecast": (
        "Expected cash collections for each of the next 13 weeks: open items by predicted pay date "
        "(weighted by collection rate), forecast new invoicing by the collection curve, and unapplied "
        "receipts; with the naive trailing-13-week average.",
        {
            "origin_date": ORIGIN,
            "week": WEEK,
            "week_start": WEEK_START,
            "week_end": WEEK_END,
            "from_open_items_rc": "Collections expected from items open at the origin, reporting currency.",
            "from_new_invoices_rc": "Collections expected from invoices not yet issued, reporting currency.",
            "unapplied_receipts_rc": "Receipts expected to stay unapplied (at their recent share), reporting currency.",
            "expected_collections_rc": "Total expected receipts, reporting currency.",
            "naive_rc": "Naive forecast: average weekly receipts of the last 13 weeks.",
        },
    ),
    "cash_forecast_history": (
        "Every cash forecast made, kept for forecast-vs-actual tracking (one set per origin date).",
        {},  # same columns as cash_forecast
    ),
    "backtest_pay_date": (
        "Rolling-origin backtest of the pay-date predictions: items open at each past month-end and paid "
        "since, error of each method.",
        {
            "origin_date": ORIGIN,
            "segment": "Customer segment, or all.",
            "method": "naive (due date), baseline (customer delay) or model (gradient boosting).",
            "n_invoices": "Items open at the origin and paid since (the ones scored).",
            "n_unpaid": "Items open at the origin not paid yet (not scored).",
            "mae_days": "Mean absolute error of the predicted pay date, days.",
            "bias_days": "Mean (predicted − actual), days; negative = predicted too early.",
        },
    ),
    "backtest_cash_weekly": (
        "Rolling-origin backtest of the 13-week cash forecast: forecast and actual receipts per week.",
        {
            "origin_date": ORIGIN,
            "week": WEEK,
            "week_end": WEEK_END,
            "method": "forecast (this model) or naive (trailing 13-week average).",
            "forecast_rc": "Forecast receipts, reporting currency.",
            "actual_rc": "Actual receipts, reporting currency.",
        },
    ),
    "backtest_summary": (
        "Backtest accuracy pooled over all origins: pay-date MAE, weekly cash MAPE and WAPE per method.",
        {
            "evaluation": "pay_date or cash_weekly.",
            "method": "Method evaluated.",
            "metric": "mae_days, mape_pct or wape_pct.",
            "value": "Metric value.",
            "n_origins": "Backtest origins pooled.",
            "data_as_of": "The data's as-of date when the backtests ran (the daily build refreshes them weekly).",
        },
    ),
}
TABLES["revenue_forecast_history"] = (TABLES["revenue_forecast_history"][0], TABLES["revenue_forecast"][1])
TABLES["cash_forecast_history"] = (TABLES["cash_forecast_history"][0], TABLES["cash_forecast"][1])

# Tables of the schema that dbt builds from the histories and the marts once the forecasts are
# written (dbt_project/models/forecasts/), described in their dbt YAML, which dbt writes as table
# comments (persist_docs). Every table in TABLES is written here and is a dbt source
# (dbt_project/models/forecasts/_forecasts__sources.yml).
DBT_MODELS = ("revenue_forecast_vs_actual", "cash_forecast_vs_actual")


def _comment(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def describe(con: duckdb.DuckDBPyConnection, name: str) -> None:
    description, columns = TABLES[name]
    con.execute(f"comment on table {SCHEMA}.{name} is {_comment(description)}")
    for column, text in columns.items():
        con.execute(f'comment on column {SCHEMA}.{name}."{column}" is {_comment(text)}')


def replace(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> int:
    """Replace the table with `frame`; returns its row count."""
    if name not in TABLES:
        raise KeyError(f"{SCHEMA}.{name} has no description in forecasting/tables.py")
    con.execute(f"create schema if not exists {SCHEMA}")
    con.register("_frame", frame.to_arrow())
    try:
        con.execute(f"create or replace table {SCHEMA}.{name} as select * from _frame")
    finally:
        con.unregister("_frame")
    describe(con, name)
    return frame.height


STATUS_TABLE = "forecast_status"
STATUSES = ("ok", "fallback", "skipped")


def record_status(
    con: duckdb.DuckDBPyConnection,
    forecast: str,
    origin: dt.date,
    method: str,
    reasons: list[str],
    n_rows: int,
) -> dict[str, object]:
    """Replace the forecast's row of forecasts.forecast_status; returns it for the asset metadata.

    The status follows from the rest: ok without a reason, skipped when nothing was written,
    fallback otherwise."""
    status = "ok" if not reasons else ("skipped" if n_rows == 0 else "fallback")
    reason = "; ".join(reasons) or None
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"create table if not exists {SCHEMA}.{STATUS_TABLE} (forecast varchar, origin_date date, status varchar, "
        "method varchar, reason varchar, n_rows bigint)"
    )
    con.execute(f"delete from {SCHEMA}.{STATUS_TABLE} where forecast = ?", [forecast])
    con.execute(
        f"insert into {SCHEMA}.{STATUS_TABLE} values (?, ?, ?, ?, ?, ?)",
        [forecast, origin, status, method, reason, n_rows],
    )
    describe(con, STATUS_TABLE)
    return {"status": status, "method": method, "reason": reason}


def replace_origin(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> int:
    """Keep history: replace only the rows of the frame's origin dates (a rerun on the same data
    replaces its own forecast rather than adding a second one)."""
    con.execute(f"create schema if not exists {SCHEMA}")
    exists = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [SCHEMA, name]
    ).fetchall()[0][0]
    if not exists:
        return replace(con, name, frame)
    con.register("_frame", frame.to_arrow())
    try:
        con.execute(f"delete from {SCHEMA}.{name} where origin_date in (select origin_date from _frame)")
        con.execute(f"insert into {SCHEMA}.{name} by name select * from _frame")
    finally:
        con.unregister("_frame")
    return con.execute(f"select count(*) from {SCHEMA}.{name}").fetchall()[0][0]
