"""When will each open invoice be paid?

Three predictions per open item at an origin date (a day the AR aging was taken):
- naive: the due date;
- baseline: the due date + the customer's recent amount-weighted average delay; a promise to pay
  overrides it, and a disputed item gets the typical time from dispute to payment instead;
- model: gradient boosting on the customer's history, amount, terms, age and season, trained on
  earlier origins. It is used only for the customer segments where it beat the baseline in the
  backtests.
Nothing is predicted before the day after the origin: an unpaid item is paid tomorrow at the soonest.
All history is point-in-time: at an origin, only payments made by that day are known.
"""

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl

from core.db import query_frame, table_exists

HISTORY_TABLE = "pay_date_history"  # a temporary table of the connection that staged it
RECENT_DAYS = 365  # "recent" payment history: the last year
MIN_TRAINING_LAG_DAYS = 30  # a training origin must be this far before the forecast origin
TRAINING_WINDOW_DAYS = 365
MAX_TRAINING_ROWS = 300_000
METHODS = ("naive", "baseline", "model")

FEATURES = (
    "days_past_due",
    "terms_days",
    "log_open_balance",
    "is_partially_paid",
    "recent_delay",
    "recent_delay_sd",
    "recent_n_paid",
    "lifetime_delay",
    "is_disputed",
    "days_in_dispute",
    "has_promise",
    "baseline_days",
    "due_weekday",
    "origin_month",
    "segment_code",
)
SEGMENTS = ("enterprise", "mid_market", "smb")


def _promises_sql() -> str:
    """Promises to pay as (invoice_id, action_date, promised_date); the mart is empty until the
    ops store's collection actions are loaded."""
    return (
        "select invoice_id, action_date, promised_date from marts.fct_collection_actions "
        "where action_type = 'promise_to_pay' and invoice_id is not null and promised_date is not null"
    )


def _disputes_sql() -> str:
    """Disputes as (invoice_id, opened_date, resolved_date); the mart is empty where the source
    has no disputes entity (it is optional in the source contract)."""
    return "select invoice_id, opened_date, resolved_date from marts.fct_disputes"


def training_window(origin: dt.date) -> tuple[dt.date, dt.date]:
    """The origins the model for `origin` is trained on, first and last."""
    return origin - dt.timedelta(days=TRAINING_WINDOW_DAYS), origin - dt.timedelta(days=MIN_TRAINING_LAG_DAYS)


def history_dates(aging_dates: list[dt.date], origins: list[dt.date], training: bool) -> list[dt.date]:
    """The aging dates whose items predicting at `origins` reads: the origins and, when a model is
    trained for each, their training windows. Each date's items do not depend on the others', and
    staging every month-end of the history took most of a day's forecasting."""
    windows = [training_window(origin) for origin in origins] if training else []
    return [d for d in aging_dates if d in origins or any(first <= d <= last for first, last in windows)]


class History:
    """Every item open at each origin (aging date) with its point-in-time inputs and the actual
    paid date, staged once in a DuckDB temporary table: over two years of month-ends that is
    many times the open items, tens of millions of rows at scale l, so callers fetch one origin
    or one training sample at a time instead of holding it all in memory."""

    def __init__(self, con: duckdb.DuckDBPyConnection, origins: list[dt.date]) -> None:
        self.con = con
        self.origins = sorted(origins)
        con.execute(f"create or replace temp table {HISTORY_TABLE} as {_open_items_sql()}", [self.origins])

    def at(self, origin: dt.date) -> pl.DataFrame:
        """The items open at `origin`, with features and the naive and baseline predictions."""
        sql = f"select * from {HISTORY_TABLE} where origin_date = ? order by invoice_id"
        return _with_features(query_frame(self.con, sql, [origin]))

    def training_set(self, origin: dt.date) -> pl.DataFrame:
        """Items open at earlier origins whose payment was known by `origin` (labels from the past
        only); a fixed sample of MAX_TRAINING_ROWS of them when there are more."""
        where = "origin_date between ? and ? and paid_date is not null and paid_date <= ?"
        params = [*training_window(origin), origin]
        count = self.con.execute(f"select count(*) from {HISTORY_TABLE} where {where}", params).fetchall()[0][0]
        sample = (
            f"order by hash(origin_date, invoice_id) limit {MAX_TRAINING_ROWS}" if count > MAX_TRAINING_ROWS else ""
        )
        sql = f"""
        select * from (select * from {HISTORY_TABLE} where {where} {sample})
        order by origin_date, invoice_id
        """
        return _with_features(query_frame(self.con, sql, params))


def _open_items_sql() -> str:
    """Items open at each origin of the list parameter, sorted by origin and invoice."""
    return f"""
    with
    origins as (select unnest(?::date[]) as origin_date),
    invoices as (
        select invoice_id, customer_id, due_date, terms_days, invoice_amount_rc, paid_date
        from marts.fct_invoices
    ),
    -- Paid history per customer and day; running sums turn any window's amount-weighted delay
    -- into two as-of lookups.
    paid_days as (
        select
            customer_id,
            paid_date,
            sum(invoice_amount_rc)::double as w,
            sum(invoice_amount_rc * (paid_date - due_date))::double as wd,
            sum(invoice_amount_rc * (paid_date - due_date) * (paid_date - due_date))::double as wd2,
            count(*) as n
        from invoices
        where paid_date is not null
        group by all
    ),
    history as (
        select
            customer_id,
            paid_date,
            sum(w) over running as cw,
            sum(wd) over running as cwd,
            sum(wd2) over running as cwd2,
            sum(n) over running as cn
        from paid_days
        window running as (partition by customer_id order by paid_date rows unbounded preceding)
    ),
    -- Summed exactly from the invoices: a sum of the customers' floats per day came out in a
    -- different order on each run, and everyone's delay with it (in the last digits).
    all_paid_days as (
        select
            paid_date,
            sum(invoice_amount_rc)::double as w,
            sum(invoice_amount_rc * (paid_date - due_date))::double as wd
        from invoices
        where paid_date is not null
        group by paid_date
    ),
    all_history as (
        select paid_date, sum(w) over running as cw, sum(wd) over running as cwd
        from all_paid_days
        window running as (order by paid_date rows unbounded preceding)
    ),
    disputes as (
        select invoice_id, min(opened_date) as opened_date, max(resolved_date) as resolved_date
        from ({_disputes_sql()})
        group by invoice_id
    ),
    -- Typical days from a dispute being raised to the invoice being paid, known at each origin.
    dispute_delay as (
        select origins.origin_date, median(invoices.paid_date - disputes.opened_date) as days
        from origins
        inner join disputes on true
        inner join invoices
            on disputes.invoice_id = invoices.invoice_id and invoices.paid_date <= origins.origin_date
        group by origins.origin_date
    ),
    promises as ({_promises_sql()}),
    latest_promise as (
        select origins.origin_date, promises.invoice_id, arg_max(promises.promised_date, promises.action_date) as promised_date
        from origins
        inner join promises on promises.action_date <= origins.origin_date
        group by all
    ),
    items as (
        select
            aging.as_of_date as origin_date,
            aging.invoice_id,
            invoices.customer_id,
            customers.segment,
            aging.due_date,
            invoices.terms_days,
            aging.open_balance_rc::double as open_balance_rc,
            invoices.invoice_amount_rc::double as invoice_amount_rc,
            aging.days_past_due,
            aging.aging_bucket_order,
            invoices.paid_date
        from marts.fct_ar_aging as aging
        inner join origins on aging.as_of_date = origins.origin_date
        inner join invoices on aging.invoice_id = invoices.invoice_id
        left join marts.dim_customers as customers on invoices.customer_id = customers.customer_id
    ),
    -- A customer's history at an origin is the same for each of their items open then: looked
    -- up once per customer and origin (at scale l a seventh of the items' rows), as of the origin
    -- and a year before it, the recent year being the difference.
    customer_origins as (select distinct origin_date, customer_id from items),
    now_history as (
        select customer_origins.origin_date, customer_origins.customer_id, history.cw, history.cwd, history.cwd2, history.cn
        from customer_origins
        asof left join history
            on customer_origins.customer_id = history.customer_id and customer_origins.origin_date >= history.paid_date
    ),
    year_ago_history as (
        select customer_origins.origin_date, customer_origins.customer_id, history.cw, history.cwd, history.cwd2, history.cn
        from customer_origins
        asof left join history
            on customer_origins.customer_id = history.customer_id
            and customer_origins.origin_date - {RECENT_DAYS} >= history.paid_date
    ),
    customer_history as (
        select
            origin_date,
            customer_id,
            coalesce(now_history.cw, 0) - coalesce(year_ago_history.cw, 0) as recent_w,
            coalesce(now_history.cwd, 0) - coalesce(year_ago_history.cwd, 0) as recent_wd,
            coalesce(now_history.cwd2, 0) - coalesce(year_ago_history.cwd2, 0) as recent_wd2,
            coalesce(now_history.cn, 0) - coalesce(year_ago_history.cn, 0) as recent_n_paid,
            now_history.cwd / nullif(now_history.cw, 0) as lifetime_delay
        from now_history
        inner join year_ago_history using (origin_date, customer_id)
    ),
    everyone as (
        select origins.origin_date, all_history.cwd / all_history.cw as delay
        from origins
        asof left join all_history on origins.origin_date >= all_history.paid_date
    )
    select
        items.*,
        customer_history.recent_w,
        customer_history.recent_wd,
        customer_history.recent_wd2,
        customer_history.recent_n_paid,
        customer_history.lifetime_delay,
        everyone.delay as everyone_delay,
        disputes.opened_date is not null
            and disputes.opened_date <= items.origin_date
            and (disputes.resolved_date is null or disputes.resolved_date > items.origin_date) as is_disputed,
        disputes.opened_date as dispute_opened_date,
        dispute_delay.days as dispute_delay_days,
        latest_promise.promised_date
    from items
    -- (every item's customer has a row: fct_invoices' customer_id is tested not null)
    left join customer_history using (origin_date, customer_id)
    inner join everyone using (origin_date)
    left join disputes on items.invoice_id = disputes.invoice_id
    left join dispute_delay using (origin_date)
    left join latest_promise
        on items.origin_date = latest_promise.origin_date and items.invoice_id = latest_promise.invoice_id
    order by items.origin_date, items.invoice_id
    """


def _with_features(items: pl.DataFrame) -> pl.DataFrame:
    """Derived features and the naive and baseline predictions (days after the origin)."""
    recent_delay = pl.col("recent_wd") / pl.col("recent_w")
    variance = pl.col("recent_wd2") / pl.col("recent_w") - recent_delay**2
    day = pl.duration(days=1)
    floor = pl.col("origin_date") + day
    # The customer's recent delay, else their lifetime delay, else everyone's.
    delay = (
        pl.when(pl.col("recent_w") > 0)
        .then(recent_delay)
        .otherwise(pl.coalesce("lifetime_delay", "everyone_delay", pl.lit(0.0)))
    )
    usual = pl.col("due_date") + pl.duration(days=delay.round(0).cast(pl.Int64))
    disputed = pl.col("dispute_opened_date") + pl.duration(
        days=pl.coalesce("dispute_delay_days", pl.lit(30)).round(0).cast(pl.Int64)
    )
    has_promise = pl.col("promised_date").is_not_null() & (pl.col("promised_date") >= floor)
    baseline = (
        pl.when(has_promise).then(pl.col("promised_date")).when(pl.col("is_disputed")).then(disputed).otherwise(usual)
    )
    return items.with_columns(
        pl.when(pl.col("recent_w") > 0).then(recent_delay).otherwise(None).alias("recent_delay"),
        pl.when(pl.col("recent_w") > 0).then(variance.clip(0).sqrt()).otherwise(None).alias("recent_delay_sd"),
        (pl.col("open_balance_rc").clip(0.01)).log().alias("log_open_balance"),
        (pl.col("open_balance_rc") < pl.col("invoice_amount_rc") - 0.005).cast(pl.Int8).alias("is_partially_paid"),
        pl.when(pl.col("is_disputed"))
        .then((pl.col("origin_date") - pl.col("dispute_opened_date")).dt.total_days())
        .otherwise(None)
        .alias("days_in_dispute"),
        has_promise.cast(pl.Int8).alias("has_promise"),
        pl.col("is_disputed").cast(pl.Int8),
        pl.max_horizontal(pl.col("due_date"), floor).alias("naive_date"),
        pl.max_horizontal(baseline, floor).alias("baseline_date"),
        pl.col("due_date").dt.weekday().alias("due_weekday"),
        pl.col("origin_date").dt.month().alias("origin_month"),
        pl.col("segment").replace_strict(list(SEGMENTS), list(range(len(SEGMENTS))), default=-1).alias("segment_code"),
    ).with_columns(
        (pl.col("baseline_date") - pl.col("origin_date")).dt.total_days().alias("baseline_days"),
        (pl.col("paid_date") - pl.col("origin_date")).dt.total_days().alias("actual_days"),
    )


MIN_TRAINING_ROWS = 200  # fewer paid items than this: no model, the baseline is used
# scikit-learn's gradient boosting runs OpenMP threads, one per core. On a machine whose cores are
# busy with other work (the build's DuckDB, other runs), its threads wait on each other: fitting
# 7,000 items took 7 to 34 s with 2 threads against 0.6 s with one, measured on 2 shared cores.
ONE_THREAD = 1


@dataclass(frozen=True)
class PayDateModel:
    """A fitted regressor and the features it was trained on."""

    estimator: object
    features: tuple[str, ...]


def _matrix(items: pl.DataFrame, features: tuple[str, ...] = FEATURES) -> np.ndarray:
    return items.select(pl.col(features).cast(pl.Float64)).to_numpy()


def train(rows: pl.DataFrame) -> PayDateModel:
    """Gradient boosting on days from origin to payment, minimising absolute error (so MAE).

    A feature without a single value in the training rows is left out: on data without disputes
    (days_in_dispute) or without repeat payers (recent_delay_sd) it is all missing, which tells
    the model nothing and which scikit-learn's binning cannot handle (it raises "window shape
    cannot be larger than input array shape")."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    matrix = _matrix(rows)
    has_values = ~np.isnan(matrix).all(axis=0)
    features = tuple(f for f, kept in zip(FEATURES, has_values, strict=True) if kept)
    # 100 rounds at a learning rate of 0.2, not 200 at 0.1: half the fitting time (2.35 s against
    # 4.51 s per 300,000 items on one thread) for a backtest MAE 0.015 days higher (7.404 against
    # 7.389 over 6 origins at scale m; the baseline's is 8.0-8.4), and fitting is most of a full
    # build's forecasting (docs/forecasting.md).
    estimator = HistGradientBoostingRegressor(
        loss="absolute_error",
        max_iter=100,
        learning_rate=0.2,
        max_leaf_nodes=31,
        min_samples_leaf=40,
        # segment_code is never missing (unknown segments are -1), so it is always kept.
        categorical_features=[features.index("segment_code")],
        random_state=0,
    )
    with threadpool_limits(ONE_THREAD):
        estimator.fit(matrix[:, has_values], rows["actual_days"].to_numpy())
    return PayDateModel(estimator, features)


def train_if_enough(rows: pl.DataFrame) -> PayDateModel | None:
    """The model, or None on fewer than MIN_TRAINING_ROWS paid items (the baseline is used)."""
    return train(rows) if rows.height >= MIN_TRAINING_ROWS else None


def train_each(training_sets: list[pl.DataFrame]) -> list[PayDateModel | None]:
    """`train_if_enough` on each set, in the order given: the same models, fitted side by side, one
    thread per core (each fit on one OpenMP thread, `train`). scikit-learn fits outside the GIL for
    most of its time, and threads share the sets, where processes started, imported and were sent
    a copy of each (docs/forecasting.md)."""
    workers = min(len(training_sets), os.cpu_count() or 1)
    if workers < 2:
        return [train_if_enough(rows) for rows in training_sets]
    with ThreadPoolExecutor(workers, thread_name_prefix="pay-date-fit") as pool:
        return list(pool.map(train_if_enough, training_sets))


# The model the daily runs predict with between refits. Its own schema, which is not published:
# a pickled estimator is of no use to an analyst. Only o2c writes the warehouse, and whoever can
# write it can already change what runs; the pickle is read back only by the scikit-learn version
# that wrote it (any other retrains).
MODEL_SCHEMA = "forecast_models"
MODEL_TABLE = "pay_date_model"


@dataclass(frozen=True)
class StoredModel:
    trained_as_of: dt.date
    training_rows: int
    model: PayDateModel | None  # None: too few rows to train on at that date, the baseline predicts


def save(con: duckdb.DuckDBPyConnection, stored: StoredModel) -> None:
    import pickle

    import sklearn

    model = stored.model
    estimator = None if model is None else pickle.dumps(model.estimator, protocol=pickle.HIGHEST_PROTOCOL)
    features = None if model is None else list(model.features)
    con.execute(f"create schema if not exists {MODEL_SCHEMA}")
    con.execute(
        f"create or replace table {MODEL_SCHEMA}.{MODEL_TABLE} as select ?::date as trained_as_of, "
        "?::bigint as training_rows, ?::varchar[] as features, ?::varchar as sklearn_version, ?::blob as estimator",
        [stored.trained_as_of, stored.training_rows, features, sklearn.__version__, estimator],
    )


def load(con: duckdb.DuckDBPyConnection) -> StoredModel | None:
    """The stored model; None without one or when this scikit-learn is not the one that pickled it."""
    import pickle

    import sklearn

    if not table_exists(con, MODEL_SCHEMA, MODEL_TABLE):
        return None
    rows = con.execute(
        f"select trained_as_of, training_rows, features, sklearn_version, estimator from {MODEL_SCHEMA}.{MODEL_TABLE}"
    ).fetchall()
    if len(rows) != 1 or rows[0][3] != sklearn.__version__:
        return None
    trained_as_of, training_rows, features, _, estimator = rows[0]
    model = None if estimator is None else PayDateModel(pickle.loads(estimator), tuple(features))
    return StoredModel(trained_as_of, training_rows, model)


def with_model_prediction(items: pl.DataFrame, model: PayDateModel | None) -> pl.DataFrame:
    """`model_date`: the model's prediction, or the baseline's where there is no model."""
    if model is None or items.is_empty():
        return items.with_columns(pl.col("baseline_date").alias("model_date"))
    from threadpoolctl import threadpool_limits

    with threadpool_limits(ONE_THREAD):
        predicted = model.estimator.predict(_matrix(items, model.features))
    days = np.maximum(np.rint(predicted), 1).astype(np.int64)
    return items.with_columns((pl.col("origin_date") + pl.duration(days=pl.Series(days))).alias("model_date"))


def choose_methods(backtest: pl.DataFrame) -> dict[str, str]:
    """Per segment, 'model' where its backtest MAE beat the baseline's, else 'baseline'."""
    pooled = (
        backtest.filter(pl.col("segment") != "all")
        .group_by("segment", "method")
        .agg(((pl.col("mae_days") * pl.col("n_invoices")).sum() / pl.col("n_invoices").sum()).alias("mae"))
    )
    wide = pooled.pivot(on="method", index="segment", values="mae")
    chosen = {segment: "baseline" for segment in SEGMENTS}
    if {"model", "baseline"} <= set(wide.columns):
        for row in wide.iter_rows(named=True):
            if row["model"] is not None and row["baseline"] is not None and row["model"] < row["baseline"]:
                chosen[row["segment"]] = "model"
    return chosen


def predict(scored: pl.DataFrame, methods: dict[str, str], default: str = "baseline") -> pl.DataFrame:
    """The predicted pay date of every scored item (see with_model_prediction): the chosen method
    of its segment (naive, baseline or model; `default` for a segment not in `methods`)."""
    method = pl.col("segment").replace_strict(methods, default=default, return_dtype=pl.String)
    return scored.with_columns(
        method.alias("method"),
        pl.when(method == "model")
        .then(pl.col("model_date"))
        .when(method == "naive")
        .then(pl.col("naive_date"))
        .otherwise(pl.col("baseline_date"))
        .alias("predicted_date"),
    )


def paid_items_known(con: duckdb.DuckDBPyConnection, origin: dt.date) -> int:
    """Invoices paid by `origin`: none means there is no payment history to learn delays from."""
    sql = "select count(*) from marts.fct_invoices where paid_date <= ?"
    return con.execute(sql, [origin]).fetchall()[0][0]
