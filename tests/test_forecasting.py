"""Forecasting on a simulated world built by `o2c run`: backtests against the simulator's truth,
forecast tables that reconcile to the marts, history kept across runs, and the rules of the
baseline pay-date prediction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from forecasting import cash, clv, pay_dates, run, tables
from orchestration.dbt_runner import run_dbt
from simulator import read_ground_truth
from tests.conftest import o2c

END = dt.date(2026, 6, 30)
# 14 months: enough for half a year of history and 13 weeks of follow-up behind several origins.
WORLD = ["--customers", "150", "--days", "425", "--end-date", END.isoformat(), "--seed", "11"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("forecasting")
    o2c(data, "simulate", *WORLD)
    o2c(data, "run")
    return data


def _frame(path: Path, sql: str, params: list[object] | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    finally:
        con.close()


def test_pay_date_backtest_beats_the_naive_baseline(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    serving = built / "warehouse" / "serving.duckdb"
    summary = _frame(serving, "select * from forecasts.backtest_summary")
    mae = dict(summary.filter(pl.col("evaluation") == "pay_date").select("method", "value").iter_rows())
    per_origin = _frame(serving, "select * from forecasts.backtest_pay_date where segment = 'all' order by all")
    assert per_origin["origin_date"].n_unique() >= 3
    assert (per_origin["n_invoices"] > 50).all()

    # The oracle knows each customer's true mean delay (simulator ground truth): how close could
    # anyone get, scored on the same items.
    con = duckdb.connect(str(built / "warehouse" / "warehouse.duckdb"), read_only=True)
    try:
        origins = per_origin["origin_date"].unique().to_list()
        history = pay_dates.History(con, origins)
        items = pl.concat(history.at(origin) for origin in origins).filter(pl.col("paid_date").is_not_null())
    finally:
        con.close()
    truth = read_ground_truth(built / "sources", "customer_behaviour").select("customer_id", "mean_delay_days")
    oracle = items.join(truth, on="customer_id").with_columns(
        pl.max_horizontal(
            pl.col("due_date") + pl.duration(days=pl.col("mean_delay_days").round(0).cast(pl.Int64)),
            pl.col("origin_date") + pl.duration(days=1),
        ).alias("oracle_date")
    )
    oracle_mae = (oracle["oracle_date"] - oracle["paid_date"]).dt.total_days().abs().mean()
    with capsys.disabled():
        print(
            f"\npay-date MAE over {len(origins)} origins, {items.height} items: naive {mae['naive']:.2f} d, "
            f"baseline {mae['baseline']:.2f} d, model {mae['model']:.2f} d, oracle {oracle_mae:.2f} d"
        )
    assert items.height == per_origin.filter(pl.col("method") == "naive")["n_invoices"].sum()
    assert mae["baseline"] < mae["naive"]
    assert mae["model"] < mae["naive"]
    # The method used per segment is the better of baseline and model in these backtests.
    by_segment = _frame(
        serving,
        "select segment, method, sum(mae_days * n_invoices) / sum(n_invoices) as mae "
        "from forecasts.backtest_pay_date where segment != 'all' group by all",
    )
    used = _frame(serving, "select distinct segment, method from forecasts.pay_date_predictions")
    for segment, method in used.iter_rows():
        scores = dict(by_segment.filter(pl.col("segment") == segment).select("method", "mae").iter_rows())
        assert scores[method] == min(scores["model"], scores["baseline"]), segment


def test_forecast_tables_are_published_with_descriptions(built: Path) -> None:
    serving = built / "warehouse" / "serving.duckdb"
    described = _frame(
        serving,
        "select table_name, comment from duckdb_tables() where schema_name = 'forecasts' order by table_name",
    )
    assert set(described["table_name"]) == set(tables.TABLES) | set(tables.DBT_MODELS)
    assert described["comment"].is_not_null().all()
    columns = _frame(
        serving, "select table_name, column_name, comment from duckdb_columns() where schema_name = 'forecasts'"
    )
    assert columns.filter(pl.col("comment").is_null()).is_empty(), columns.filter(pl.col("comment").is_null())
    # The marts' dbt descriptions travel too.
    mart = _frame(serving, "select comment from duckdb_tables() where table_name = 'fct_customer_lifetime_value'")
    assert "lifetime value" in mart["comment"][0]


def test_pay_date_predictions_cover_exactly_todays_open_items(built: Path) -> None:
    serving = built / "warehouse" / "serving.duckdb"
    predictions = _frame(serving, "select * from forecasts.pay_date_predictions")
    open_items = _frame(
        serving,
        "select invoice_id, open_balance_rc::double as open_balance_rc from marts.fct_ar_aging "
        "where as_of_date = (select max(as_of_date) from marts.fct_ar_aging)",
    )
    assert predictions.height == open_items.height > 100
    assert set(predictions["invoice_id"]) == set(open_items["invoice_id"])
    assert predictions["open_balance_rc"].sum() == pytest.approx(open_items["open_balance_rc"].sum(), abs=0.01)
    origin = predictions["origin_date"][0]
    assert (predictions["predicted_date"] > origin).all()
    assert predictions["expected_collection_rate"].is_between(0, 1).all()


def test_collection_rate_is_the_share_of_its_buckets_balance_collected_within_13_weeks(built: Path) -> None:
    """Recomputed here from the published aging and invoices: per aging bucket, of the balance
    open at the month-ends 91 to 365 days before the origin, the share paid within 91 days."""
    serving = built / "warehouse" / "serving.duckdb"
    predictions = _frame(
        serving, "select invoice_id, origin_date, expected_collection_rate from forecasts.pay_date_predictions"
    )
    origin = predictions["origin_date"][0]
    aging = _frame(
        serving,
        "select invoice_id, as_of_date, aging_bucket_order, open_balance_rc::double as open_balance_rc "
        "from marts.fct_ar_aging",
    )
    paid = _frame(serving, "select invoice_id, paid_date from marts.fct_invoices")
    earlier = aging.filter(
        pl.col("as_of_date").is_between(origin - dt.timedelta(days=365), origin - dt.timedelta(days=91))
    ).join(paid, on="invoice_id")
    collected = pl.col("paid_date") <= pl.col("as_of_date") + pl.duration(days=91)
    expected = earlier.group_by("aging_bucket_order").agg(
        (pl.col("open_balance_rc").filter(collected).sum() / pl.col("open_balance_rc").sum()).alias("rate")
    )
    assert earlier["as_of_date"].n_unique() >= 3
    assert expected.filter(pl.col("rate").is_between(0.05, 0.95)).height >= 2  # rates that tell buckets apart
    today = aging.filter(pl.col("as_of_date") == origin).select("invoice_id", "aging_bucket_order")
    got = predictions.join(today, on="invoice_id").join(expected, on="aging_bucket_order", how="left")
    assert got.height == predictions.height
    assert got["expected_collection_rate"].to_list() == pytest.approx(got["rate"].fill_null(1.0).to_list(), abs=1e-9)


def test_cash_forecast_reconciles_to_the_pay_date_predictions(built: Path) -> None:
    serving = built / "warehouse" / "serving.duckdb"
    weekly = _frame(serving, "select * from forecasts.cash_forecast order by week")
    predictions = _frame(serving, "select * from forecasts.pay_date_predictions")
    origin = weekly["origin_date"][0]
    assert weekly["week"].to_list() == list(range(1, 14))
    assert weekly["week_start"][0] == origin + dt.timedelta(days=1)
    assert weekly["week_end"][12] == origin + dt.timedelta(days=91)
    horizon_end = origin + dt.timedelta(days=91)
    in_horizon = predictions.filter(pl.col("predicted_date") <= horizon_end)
    expected_from_open = (in_horizon["open_balance_rc"] * in_horizon["expected_collection_rate"]).sum()
    assert weekly["from_open_items_rc"].sum() == pytest.approx(expected_from_open, rel=1e-9)
    week_one = predictions.filter(pl.col("predicted_date") <= origin + dt.timedelta(days=7))
    assert weekly["from_open_items_rc"][0] == pytest.approx(
        (week_one["open_balance_rc"] * week_one["expected_collection_rate"]).sum(), rel=1e-9
    )
    assert (
        weekly["expected_collections_rc"]
        - weekly["from_open_items_rc"]
        - weekly["from_new_invoices_rc"]
        - weekly["unapplied_receipts_rc"]
    ).abs().max() < 1e-6
    assert (weekly["from_new_invoices_rc"] > 0).all()
    # Backtested cash forecast and its naive benchmark, scored on real receipts.
    cash_backtest = _frame(serving, "select * from forecasts.backtest_cash_weekly")
    assert set(cash_backtest["method"]) == {"forecast", "naive"}
    assert (cash_backtest["actual_rc"] > 0).all()


def test_revenue_forecast_and_clv_are_plausible(built: Path) -> None:
    serving = built / "warehouse" / "serving.duckdb"
    revenue = _frame(serving, "select * from forecasts.revenue_forecast")
    assert set(revenue["series"]) == {"invoiced_revenue_rc", "order_intake_rc", "orders"}
    assert revenue.group_by("series").len()["len"].to_list() == [13, 13, 13]
    assert (revenue["lo_80"] <= revenue["forecast"]).all() and (revenue["forecast"] <= revenue["hi_80"]).all()
    weekly_history = _frame(
        serving,
        "select sum(invoice_amount_rc)::double / 13 as weekly from marts.fct_invoices "
        "where invoice_date > (select max(invoice_date) from marts.fct_invoices) - 91",
    )["weekly"][0]
    invoiced = revenue.filter(pl.col("series") == "invoiced_revenue_rc")["forecast"].mean()
    assert 0.5 * weekly_history < invoiced < 1.5 * weekly_history
    accuracy = _frame(serving, "select * from forecasts.revenue_forecast_accuracy")
    assert accuracy.filter("is_chosen").height == 3

    clv = _frame(serving, "select * from forecasts.customer_clv")
    ordering = _frame(serving, "select count(distinct customer_id) as n from marts.fct_orders where not is_cancelled")
    assert clv.height == ordering["n"][0]
    assert clv["probability_alive"].is_between(0, 1).all()
    assert (clv["predicted_revenue"] > 0).all()
    parameters = _frame(serving, "select model, parameter from forecasts.clv_model_parameters order by all")
    assert parameters.rows() == [
        ("bg_nbd", "a"),
        ("bg_nbd", "alpha"),
        ("bg_nbd", "b"),
        ("bg_nbd", "r"),
        ("gamma_gamma", "p"),
        ("gamma_gamma", "q"),
        ("gamma_gamma", "v"),
    ]
    # Customers who buy more often are expected to buy more in the next year.
    joined = clv.select(pl.corr("frequency", "expected_purchases")).item()
    assert joined > 0.8


def test_backtests_refresh_weekly_in_the_build_and_on_demand(built: Path, tmp_path: Path) -> None:
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built / "warehouse" / "warehouse.duckdb", warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        as_of = run.data_as_of(con)
        summary = "select * from forecasts.backtest_summary order by all"
        before = pl.from_arrow(con.sql(summary).to_arrow_table())
        assert before["data_as_of"].unique().to_list() == [as_of]
        # The build ran them on today's data: the next build skips them and leaves them as they are.
        assert "skipped" in run.backtests(con)
        assert pl.from_arrow(con.sql(summary).to_arrow_table()).equals(before)
        # A week later they run again, with the same verdict on the same data.
        con.execute("update forecasts.backtest_summary set data_as_of = data_as_of - interval 7 day")
        metadata = run.backtests(con)
        assert "skipped" not in metadata and "pay_date_baseline_mae_days" in metadata
        after = pl.from_arrow(con.sql(summary).to_arrow_table())
        rounded = pl.col("value").round(9)
        assert after.with_columns(rounded).equals(before.with_columns(rounded))
        assert "skipped" not in run.backtests(con, force=True)  # what `o2c backtest` does
    finally:
        con.close()


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the model fits that run, in order."""
    names: list[str] = []

    def counted(name: str, fit):
        def wrapper(*args, **kwargs):
            names.append(name)
            return fit(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(clv, "fit_bgnbd", counted("bg_nbd", clv.fit_bgnbd))
    monkeypatch.setattr(clv, "fit_gamma_gamma", counted("gamma_gamma", clv.fit_gamma_gamma))
    monkeypatch.setattr(pay_dates, "train", counted("pay_date", pay_dates.train))
    return names


def _copied_warehouse(built: Path, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built / "warehouse" / "warehouse.duckdb", warehouse)
    return duckdb.connect(str(warehouse))


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> pl.DataFrame:
    return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())


def _staged_origins(con: duckdb.DuckDBPyConnection) -> set[dt.date]:
    """The origins whose open items the last pay-date run staged (its temporary table)."""
    return set(_rows(con, f"select distinct origin_date as d from {pay_dates.HISTORY_TABLE}")["d"])


CLV_ROWS = "select * from forecasts.customer_clv order by customer_id"
CLV_PARAMETERS = "select * from forecasts.clv_model_parameters order by model, parameter"


def test_clv_refits_weekly_and_the_stored_parameters_predict_in_between(
    built: Path, tmp_path: Path, fits: list[str]
) -> None:
    """Issue 20: the daily run refits only when due. In between, the stored BG/NBD and
    Gamma-Gamma parameters predict on the day's purchase histories, with no fit at all."""
    con = _copied_warehouse(built, tmp_path)
    try:
        as_of = run.data_as_of(con)
        built_clv, built_parameters = _rows(con, CLV_ROWS), _rows(con, CLV_PARAMETERS)
        assert built_parameters["origin_date"].unique().to_list() == [as_of]

        # The build fitted today: the next run predicts from the stored fit, with the same result.
        assert run.customer_clv(con)["fitted_as_of"] == str(as_of)
        assert fits == []
        assert _rows(con, CLV_ROWS).equals(built_clv)
        assert _rows(con, CLV_PARAMETERS).equals(built_parameters)

        # It is the stored parameters that predict: halve r and the purchases predicted follow
        # the BG/NBD formula with the halved r.
        con.execute("update forecasts.clv_model_parameters set value = value / 2 where parameter = 'r'")
        run.customer_clv(con)
        assert fits == []
        halved = dict(zip(built_parameters["parameter"], built_parameters["value"], strict=True))
        halved["r"] /= 2
        customer = built_clv.row(0, named=True)
        history = (np.array([float(customer[c])]) for c in ("frequency", "recency", "T"))
        expected = clv.expected_purchases(halved, *history, run.CLV_HORIZON_WEEKS)[0]
        again = _rows(con, CLV_ROWS).row(0, named=True)
        assert again["customer_id"] == customer["customer_id"]
        assert again["expected_purchases"] == pytest.approx(expected, rel=1e-12)
        assert again["expected_purchases"] != pytest.approx(customer["expected_purchases"], rel=1e-3)

        # A week later it is fitted again, to what the build fitted on the same data.
        con.execute("update forecasts.clv_model_parameters set origin_date = origin_date - interval 7 day")
        assert run.customer_clv(con)["fitted_as_of"] == str(as_of)
        assert fits == ["bg_nbd", "gamma_gamma"]
        refitted = _rows(con, CLV_PARAMETERS)
        assert refitted["origin_date"].unique().to_list() == [as_of]
        assert refitted["value"].to_list() == pytest.approx(built_parameters["value"].to_list(), rel=1e-6)
        # `o2c forecast --refit` fits at once.
        run.run_step(run.customer_clv, con, refit=True)
        assert fits == ["bg_nbd", "gamma_gamma"] * 2
    finally:
        con.close()


def test_pay_date_model_retrains_weekly_and_the_stored_model_predicts_in_between(
    built: Path, tmp_path: Path, fits: list[str]
) -> None:
    predictions = "select * from forecasts.pay_date_predictions order by invoice_id"
    stored_model = f"{pay_dates.MODEL_SCHEMA}.{pay_dates.MODEL_TABLE}"
    con = _copied_warehouse(built, tmp_path)
    try:
        as_of = run.data_as_of(con)
        built_predictions = _rows(con, predictions)
        assert set(built_predictions["method"]) & {"model"}, "the world is meant to use the model"
        stored = pay_dates.load(con)
        assert stored is not None and stored.model is not None and stored.trained_as_of == as_of

        # Trained today by the build: the next run scores with the stored model, no training, and
        # stages today's items only (collection rates are read from the marts): the same
        # predictions as the build's, which staged the model's training window as well.
        metadata = run.pay_date_predictions(con)
        assert fits == [] and metadata["trained_as_of"] == str(as_of)
        assert metadata["training_rows"] == stored.training_rows > 0
        assert _rows(con, predictions).equals(built_predictions)
        assert _staged_origins(con) == {as_of}

        # A week later it is retrained, to the same model on the same data, on the month-ends 30 to
        # 365 days back.
        con.execute(f"update {stored_model} set trained_as_of = ? - 7", [as_of])
        assert run.pay_date_predictions(con)["trained_as_of"] == str(as_of)
        assert fits == ["pay_date"]
        assert _rows(con, predictions).equals(built_predictions)
        month_ends = _rows(con, "select distinct as_of_date as d from marts.fct_ar_aging where as_of_date < ?", [as_of])
        back = [(as_of - d).days for d in month_ends["d"]]
        training_window = {d for d, days in zip(month_ends["d"], back, strict=True) if 30 <= days <= 365}
        assert _staged_origins(con) == training_window | {as_of}
        assert any(days > 365 for days in back)  # the older ones left out

        # `o2c forecast --refit` retrains at once; so does a model another scikit-learn pickled.
        run.run_step(run.pay_date_predictions, con, refit=True)
        assert fits == ["pay_date"] * 2
        con.execute(f"update {stored_model} set sklearn_version = '0.1'")
        assert pay_dates.load(con) is None
        run.pay_date_predictions(con)
        assert fits == ["pay_date"] * 3
    finally:
        con.close()
    # The stored model is the pipeline's own: it is not published beside the forecasts.
    published = _frame(
        built / "warehouse" / "serving.duckdb",
        "select count(*) as n from duckdb_tables() where schema_name = ?",
        [pay_dates.MODEL_SCHEMA],
    )
    assert published["n"][0] == 0


def test_forecast_history_is_kept_and_scored_against_actuals(built: Path, tmp_path: Path) -> None:
    import shutil

    data = tmp_path / "data"
    shutil.copytree(built, data)
    o2c(data, "simulate", "--advance", "14")
    o2c(data, "run")
    # Forecasting again on the same data replaces its own forecast and adds no second one.
    warehouse = data / "warehouse" / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        run.revenue_forecast(con)
        run.cash_forecast(con)
    finally:
        con.close()
    serving = data / "warehouse" / "serving.duckdb"
    history = _frame(
        warehouse, "select origin_date, count(*) as n from forecasts.cash_forecast_history group by 1 order by 1"
    )
    assert history.equals(
        _frame(serving, "select origin_date, count(*) as n from forecasts.cash_forecast_history group by 1 order by 1")
    )
    assert history["n"].to_list() == [13, 13]
    first, second = sorted(history["origin_date"])
    assert (second - first).days == 14
    scored = _frame(serving, "select * from forecasts.cash_forecast_vs_actual order by week")
    assert scored["origin_date"].unique().to_list() == [first]
    assert scored["week"].to_list() == [1, 2]
    receipts = _frame(
        serving,
        "select sum(amount_rc)::double as r from marts.fct_payments where not is_refund "
        "and payment_date between ? and ?",
        [scored["week_start"][0], scored["week_end"][0]],
    )["r"][0]
    assert scored["actual_rc"][0] == pytest.approx(receipts)
    revenue_history = _frame(
        warehouse, "select origin_date, count(*) as n from forecasts.revenue_forecast_history group by 1 order by 1"
    )
    assert revenue_history["n"].to_list() == [39, 39]
    revenue_scored = _frame(
        warehouse, "select * from forecasts.revenue_forecast_vs_actual where series = 'orders' order by week"
    )
    assert revenue_scored["week"].to_list() == [1, 2]
    orders = _frame(
        warehouse,
        "select count(*)::double as n from marts.fct_orders where not is_cancelled and order_date between ? and ?",
        [revenue_scored["week_end"][1] - dt.timedelta(days=6), revenue_scored["week_end"][1]],
    )["n"][0]
    assert revenue_scored["actual"][1] == orders


def _item(**overrides: object) -> dict[str, object]:
    item = {
        "origin_date": dt.date(2026, 3, 31),
        "invoice_id": "I1",
        "customer_id": "C1",
        "segment": "smb",
        "due_date": dt.date(2026, 4, 10),
        "terms_days": 30,
        "open_balance_rc": 100.0,
        "invoice_amount_rc": 100.0,
        "days_past_due": -10,
        "paid_date": None,
        "recent_w": 1000.0,
        "recent_wd": 5000.0,  # amount-weighted delay 5 days
        "recent_wd2": 50000.0,  # mean square 50: sd sqrt(50 - 25) = 5 days
        "recent_n_paid": 4,
        "lifetime_delay": 9.0,
        "everyone_delay": 3.0,
        "is_disputed": False,
        "dispute_opened_date": None,
        "dispute_delay_days": 40.0,
        "promised_date": None,
    }
    return {**item, **overrides}


def test_history_stages_the_origins_and_their_training_windows_only() -> None:
    """Month-ends of two years and the last two days: scoring at an origin stages that date; training
    for it stages the month-ends 30 to 365 days before it as well, for each origin asked."""
    month_ends = [dt.date(y, m, 1) - dt.timedelta(days=1) for y in (2025, 2026) for m in range(1, 13)]
    dates = sorted({*month_ends, dt.date(2026, 11, 28), dt.date(2026, 11, 29)})
    today = dt.date(2026, 11, 29)
    assert pay_dates.history_dates(dates, [today], training=False) == [today]
    trained = pay_dates.history_dates(dates, [today], training=True)
    assert trained == [*[d for d in month_ends if 30 <= (today - d).days <= 365], today]
    assert trained[0] == dt.date(2025, 11, 30) and trained[-2] == dt.date(2026, 9, 30)  # 31 October: 29 days
    # Two backtest origins: their windows overlap, each date staged once.
    both = pay_dates.history_dates(dates, [dt.date(2026, 3, 31), dt.date(2026, 4, 30)], training=True)
    assert both == [d for d in month_ends if dt.date(2025, 3, 31) <= d <= dt.date(2026, 4, 30)]


def _history_marts(path: Path) -> None:
    """Marts as an AR export might give them, by hand: customer A pays two invoices on one day
    (5 and 10 days late), one on the day of the first origin and one later (10 days late each), B
    pays once (2 days late) and once after both origins, C never pays;
    no dispute and no collection action (the optional entities are empty)."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_invoices (invoice_id varchar, customer_id varchar, due_date date, "
        "terms_days integer, invoice_amount_rc decimal(18, 2), paid_date date)"
    )
    con.executemany(
        "insert into marts.fct_invoices values (?, ?, ?, 30, ?, ?)",
        [
            ("a1", "A", "2025-01-10", 100, "2025-01-15"),
            ("a5", "A", "2025-01-05", 100, "2025-01-15"),
            ("a6", "A", "2025-05-21", 100, "2025-05-31"),  # paid on the first origin: known then
            ("a2", "A", "2025-06-01", 300, "2025-06-11"),
            ("a3", "A", "2026-02-01", 200, "2026-04-20"),  # paid after the second origin
            ("a4", "A", "2026-03-15", 50, None),
            ("b1", "B", "2024-12-01", 400, "2024-12-03"),
            ("b0", "B", "2025-05-20", 60, "2026-04-02"),  # paid after both origins
            ("b2", "B", "2026-03-01", 80, None),
            ("c1", "C", "2026-03-20", 70, None),
        ],
    )
    con.execute(
        "create table marts.fct_ar_aging (as_of_date date, invoice_id varchar, due_date date, "
        "open_balance_rc decimal(18, 2), days_past_due integer, aging_bucket_order integer)"
    )
    con.execute(
        "insert into marts.fct_ar_aging select origin::date, invoice_id, due_date, invoice_amount_rc, "
        "origin::date - due_date, 1 from marts.fct_invoices, (values "
        "('2025-05-31', ['a2', 'b0']), ('2026-03-31', ['a3', 'a4', 'b0', 'b2', 'c1'])) as open_at (origin, invoices) "
        "where list_contains(invoices, invoice_id)"
    )
    con.execute(
        "create table marts.dim_customers as select * from (values ('A', 'smb'), ('B', 'enterprise'), ('C', 'smb')) "
        "as customers (customer_id, segment)"
    )
    con.execute(
        "create table marts.fct_collection_actions (invoice_id varchar, action_type varchar, action_date date, "
        "promised_date date)"
    )
    con.execute("create table marts.fct_disputes (invoice_id varchar, opened_date date, resolved_date date)")
    con.close()


def test_history_gives_each_item_its_customers_payments_known_at_the_origin(tmp_path: Path) -> None:
    """Worked by hand. Amount-weighted sums of a customer's delays (w: amount, wd: amount x delay,
    wd2: amount x delay squared) over the year before the origin and over all time, and everyone's
    delay, each counting only payments made by the origin."""
    path = tmp_path / "warehouse.duckdb"
    _history_marts(path)
    con = duckdb.connect(str(path))
    try:
        history = pay_dates.History(con, [dt.date(2025, 5, 31), dt.date(2026, 3, 31)])
        columns = ["recent_w", "recent_wd", "recent_wd2", "recent_n_paid", "lifetime_delay", "everyone_delay"]
        rows = {
            (origin, row["invoice_id"]): tuple(row[c] for c in columns)
            for origin in (dt.date(2025, 5, 31), dt.date(2026, 3, 31))
            for row in history.at(origin).iter_rows(named=True)
        }
    finally:
        con.close()
    may, march = dt.date(2025, 5, 31), dt.date(2026, 3, 31)
    # 31 May 2025: A has paid a1, a5 and a6 that day (100 x 5, 100 x 10 and 100 x 10 days), B has
    # paid b1 (400 x 2). Everyone: (500 + 1,000 + 1,000 + 800) / 700.
    assert rows[(may, "a2")] == pytest.approx((300, 2_500, 22_500, 3, 2_500 / 300, 3_300 / 700))
    assert rows[(may, "b0")] == pytest.approx((400, 800, 1_600, 1, 2.0, 3_300 / 700))
    # 31 March 2026: A has also paid a2 (300 x 10 days); a1 and a5 were paid more than a year
    # before (by 31 March 2025), so the recent year holds a6 and a2, and A's two open items share
    # it. B's one payment is more than a year old: nothing recent, its lifetime delay stays. C has
    # paid nothing. a3, paid after the origin, is not known then. Everyone: 6,300 / 1,000.
    everyone = (2_500 + 3_000 + 800) / 1_000
    assert rows[(march, "a3")] == pytest.approx((400, 4_000, 40_000, 2, 5_500 / 600, everyone))
    assert rows[(march, "a4")] == rows[(march, "a3")]
    assert rows[(march, "b2")] == rows[(march, "b0")] == pytest.approx((0, 0, 0, 0, 2.0, everyone))
    assert rows[(march, "c1")][:4] == (0, 0, 0, 0) and rows[(march, "c1")][4] is None
    assert set(rows) == {(may, i) for i in ("a2", "b0")} | {(march, i) for i in ("a3", "a4", "b0", "b2", "c1")}


def test_backtest_origins_fitted_side_by_side_give_the_models_fitted_one_by_one() -> None:
    rng = np.random.default_rng(7)

    def training_set(rows: int) -> pl.DataFrame:
        features = {f: rng.normal(30, 10, rows) for f in pay_dates.FEATURES if f != "segment_code"}
        segment = rng.integers(0, 3, rows)
        actual = 5 + 0.8 * features["days_past_due"] + 4 * segment + rng.normal(0, 3, rows)
        return pl.DataFrame({**features, "segment_code": segment, "actual_days": np.maximum(np.rint(actual), 1)})

    sets = [training_set(1_500), training_set(2_000), training_set(pay_dates.MIN_TRAINING_ROWS - 1)]
    probe = pay_dates._matrix(training_set(50))
    one_by_one = [pay_dates.train_if_enough(rows) for rows in sets]
    side_by_side = pay_dates.train_each(sets)  # two threads on the test machine's 2 cores
    assert side_by_side[2] is None and one_by_one[2] is None  # too few rows: the baseline, either way
    for parallel, serial in zip(side_by_side[:2], one_by_one[:2], strict=True):
        assert parallel.features == serial.features
        assert np.array_equal(parallel.estimator.predict(probe), serial.estimator.predict(probe))
    # different sets, different models: the order of the results is the order of the sets
    assert not np.array_equal(side_by_side[0].estimator.predict(probe), side_by_side[1].estimator.predict(probe))


def test_baseline_rules_delay_promise_dispute_and_never_before_tomorrow() -> None:
    items = pl.DataFrame(
        [
            _item(invoice_id="usual"),
            _item(invoice_id="promised", promised_date=dt.date(2026, 4, 30)),
            _item(invoice_id="broken_promise", promised_date=dt.date(2026, 3, 20)),
            _item(invoice_id="disputed", is_disputed=True, dispute_opened_date=dt.date(2026, 3, 15)),
            _item(invoice_id="new_customer", recent_w=0.0, recent_wd=0.0, recent_wd2=0.0, lifetime_delay=None),
            _item(invoice_id="long_overdue", due_date=dt.date(2026, 1, 10), days_past_due=80),
        ],
        schema_overrides={"promised_date": pl.Date, "dispute_opened_date": pl.Date, "paid_date": pl.Date},
    )
    scored = pay_dates._with_features(items)
    baseline = dict(scored.select("invoice_id", "baseline_date").iter_rows())
    naive = dict(scored.select("invoice_id", "naive_date").iter_rows())
    assert baseline["usual"] == dt.date(2026, 4, 15)  # due + 5 days
    assert baseline["promised"] == dt.date(2026, 4, 30)  # the promise overrides
    assert baseline["broken_promise"] == dt.date(2026, 4, 15)  # a broken promise is ignored
    assert baseline["disputed"] == dt.date(2026, 4, 24)  # opened + 40 days
    assert baseline["new_customer"] == dt.date(2026, 4, 13)  # everyone's delay, 3 days
    assert baseline["long_overdue"] == dt.date(2026, 4, 1)  # overdue: tomorrow at the soonest
    assert naive["usual"] == dt.date(2026, 4, 10) and naive["long_overdue"] == dt.date(2026, 4, 1)
    assert scored.filter(pl.col("invoice_id") == "usual")["recent_delay_sd"][0] == pytest.approx(5.0)


def test_cash_forecast_spreads_new_invoicing_by_the_collection_curve() -> None:
    origin = dt.date(2026, 3, 31)
    items = pl.DataFrame(
        {
            "open_balance_rc": [100.0, 50.0, 70.0],
            "predicted_date": [dt.date(2026, 4, 1), dt.date(2026, 4, 8), dt.date(2026, 9, 1)],
            "expected_collection_rate": [1.0, 0.5, 1.0],
        }
    )
    curve = [0.0, 0.6, 0.3] + [0.0] * (cash.CURVE_WEEKS - 3)
    weekly = cash.forecast(origin, items, [1000.0] * 13, curve, naive_weekly=500.0, unapplied=0.2)
    assert weekly["from_open_items_rc"].to_list()[:3] == [100.0, 25.0, 0.0]  # the September item is beyond
    assert weekly["from_new_invoices_rc"].to_list()[:4] == pytest.approx([0.0, 600.0, 900.0, 900.0])
    # Unapplied receipts are 20 % of all receipts: applied × 0.2 / 0.8 on top.
    assert weekly["unapplied_receipts_rc"][0] == pytest.approx(25.0)
    assert weekly["expected_collections_rc"][1] == pytest.approx((25.0 + 600.0) / 0.8)


# ---- Sparse data: every forecast runs, falls back and says why in forecasts.forecast_status ----
#
# Each case is a copy of the built warehouse made degenerate in its marts (forecasting reads
# nothing else), then forecast by the same steps the Dagster assets run (forecasting/run.py).

AS_OF = "(select as_of_date from intermediate.int_data_as_of)"


def _keep_invoices(where: str) -> list[str]:
    """Keep only the invoices matching `where`, their customers and those customers' orders and payments."""
    return [
        f"create temp table kept as select invoice_id, customer_id from marts.fct_invoices where {where}",
        "delete from marts.fct_invoices where invoice_id not in (select invoice_id from kept)",
        "delete from marts.fct_ar_aging where invoice_id not in (select invoice_id from kept)",
        "delete from marts.dim_customers where customer_id not in (select customer_id from kept)",
        "delete from marts.fct_customer_lifetime_value where customer_id not in (select customer_id from kept)",
        "delete from marts.fct_orders where customer_id not in (select customer_id from kept)",
        "delete from marts.fct_payments where customer_id is null or customer_id not in (select customer_id from kept)",
    ]


def _forecast_sparse(built: Path, tmp_path: Path, statements: list[str]) -> tuple[Path, dict[str, dict]]:
    """A degraded copy of the built warehouse, forecast end to end: (its path, each step's metadata).
    The marts the forecasts read that dbt builds from the degraded ones (weekly receipts from the
    payments, the revenue series from the invoices and orders) are rebuilt by dbt, as a build on such
    data would."""
    import shutil

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(built / "warehouse" / "warehouse.duckdb", warehouse)
    con = duckdb.connect(str(warehouse))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()
    rebuilt = run_dbt(
        ["run", "--select", "fct_receipts_weekly", "fct_revenue_daily"], warehouse, tmp_path / "dbt", capture=True
    )
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    con = duckdb.connect(str(warehouse))
    try:
        metadata = {step.__name__: run.run_step(step, con, refit=True) for step in run.STEPS}
    finally:
        con.close()
    return warehouse, metadata


def _status(warehouse: Path) -> dict[str, dict[str, object]]:
    rows = _frame(warehouse, "select * from forecasts.forecast_status").iter_rows(named=True)
    return {row["forecast"]: row for row in rows}


def _assert_every_table_written(warehouse: Path) -> None:
    written = _frame(warehouse, "select table_name from duckdb_tables() where schema_name = 'forecasts'")
    assert set(written["table_name"]) == set(tables.TABLES) | set(tables.DBT_MODELS)
    assert set(_status(warehouse)) == {step.__name__ for step in run.STEPS}


def test_sparse_no_disputes_and_no_repeat_orders(built: Path, tmp_path: Path) -> None:
    """The reported failure: no disputes crashed the pay-date model's training (an all-missing feature)."""
    assert _frame(built / "warehouse" / "warehouse.duckdb", "select count(*) as n from raw_erp.disputes")["n"][0] > 0
    warehouse, metadata = _forecast_sparse(
        built,
        tmp_path,
        [
            # 20 customers keep the model's training small; enough paid items to train it
            *_keep_invoices("customer_id in (select customer_id from marts.dim_customers order by 1 limit 20)"),
            "delete from marts.fct_disputes",
            "delete from marts.fct_orders where is_cancelled or order_id not in (select arg_min(order_id, order_date) "
            "from marts.fct_orders where not is_cancelled group by customer_id)",
        ],
    )
    _assert_every_table_written(warehouse)
    status = _status(warehouse)
    # The model was trained without the dispute features, in the backtests and for today.
    assert metadata["pay_date_predictions"]["training_rows"] >= pay_dates.MIN_TRAINING_ROWS
    assert status["backtests"]["status"] in ("ok", "fallback")
    assert "pay_date" in set(_frame(warehouse, "select evaluation from forecasts.backtest_summary")["evaluation"])
    assert status["pay_date_predictions"]["status"] == "ok"
    predictions = _frame(warehouse, "select * from forecasts.pay_date_predictions")
    open_items = _frame(
        warehouse, f"select invoice_id from marts.fct_ar_aging where as_of_date = {AS_OF} and open_balance_rc != 0"
    )
    assert set(predictions["invoice_id"]) == set(open_items["invoice_id"]) and predictions.height > 0
    assert (predictions["is_disputed"] == 0).all()
    # One order per customer: no repeat purchase, so no CLV, and the reason counts the customers.
    n_ordering = _frame(warehouse, "select count(distinct customer_id) as n from marts.fct_orders")["n"][0]
    assert status["customer_clv"]["status"] == "skipped"
    assert status["customer_clv"]["reason"].startswith(f"0 of {n_ordering} customers with orders bought again")
    assert _frame(warehouse, "select count(*) as n from forecasts.customer_clv")["n"][0] == 0
    assert status["cash_forecast"]["n_rows"] == 13


def test_sparse_open_invoices_only(built: Path, tmp_path: Path) -> None:
    """An AR export with invoices and nothing else: no payments, orders, disputes or collection
    actions. Pay dates are the due dates, the cash forecast the contractual one, and each says so."""
    as_of = _frame(built / "warehouse" / "warehouse.duckdb", f"select {AS_OF} as d")["d"][0]
    warehouse, _ = _forecast_sparse(
        built,
        tmp_path,
        [
            # no disputes or collection actions at all (without the entities dbt builds these marts empty)
            "delete from marts.fct_disputes",
            "delete from marts.fct_collection_actions",
            "delete from marts.fct_orders",
            "delete from marts.fct_payments",
            "update marts.fct_invoices set paid_date = null",
            # Nothing paid: every invoice stays open in full from its invoice date.
            "create temp table aging_dates as select distinct as_of_date from marts.fct_ar_aging",
            "delete from marts.fct_ar_aging",
            "insert into marts.fct_ar_aging by name select d.as_of_date, i.invoice_id, i.customer_id, "
            "i.invoice_date, i.due_date, d.as_of_date - i.due_date as days_past_due, "
            "i.invoice_amount_rc as open_balance_rc "
            "from aging_dates as d inner join marts.fct_invoices as i on i.invoice_date <= d.as_of_date",
        ],
    )
    _assert_every_table_written(warehouse)
    status = _status(warehouse)
    assert {name: row["status"] for name, row in status.items()} == {
        "customer_clv": "skipped",
        "backtests": "skipped",
        "pay_date_predictions": "fallback",
        "revenue_forecast": "fallback",
        "cash_forecast": "fallback",
    }
    assert status["customer_clv"]["reason"].startswith("no orders")
    assert "no item open at the" in status["backtests"]["reason"]
    assert status["pay_date_predictions"]["method"] == "naive"
    assert status["pay_date_predictions"]["reason"].startswith("no payment history")
    assert status["revenue_forecast"]["reason"].startswith("no orders in the history")
    assert status["cash_forecast"]["method"] == "curve_terms"
    assert "no payment history: new invoices assumed paid on their due dates" in status["cash_forecast"]["reason"]
    for table in ("customer_clv", "clv_model_parameters", "backtest_pay_date", "backtest_summary"):
        assert _frame(warehouse, f"select count(*) as n from forecasts.{table}")["n"][0] == 0, table

    # Every open item at its due date (tomorrow at the soonest), collected in full.
    predictions = _frame(warehouse, "select * from forecasts.pay_date_predictions order by invoice_id")
    expected = _frame(
        warehouse,
        f"select invoice_id, greatest(due_date, {AS_OF} + 1) as due from marts.fct_ar_aging "
        f"where as_of_date = {AS_OF} order by invoice_id",
    )
    assert predictions["invoice_id"].equals(expected["invoice_id"]) and predictions.height > 1000
    assert predictions["predicted_date"].equals(expected["due"], check_names=False)
    assert (predictions["method"] == "naive").all() and (predictions["expected_collection_rate"] == 1.0).all()

    # The cash forecast: open balances by due week, and the invoicing forecast spread by the terms
    # (share of the last year's invoiced amount due k weeks after issue).
    weekly = _frame(warehouse, "select * from forecasts.cash_forecast order by week")
    by_due_week = _frame(
        warehouse,
        f"select (greatest(due_date, {AS_OF} + 1) - {AS_OF} - 1) // 7 + 1 as week, sum(open_balance_rc)::double as rc "
        f"from marts.fct_ar_aging where as_of_date = {AS_OF} group by 1",
    )
    due = dict(by_due_week.iter_rows())
    assert weekly["from_open_items_rc"].to_list() == pytest.approx([due.get(w, 0.0) for w in range(1, 14)])
    terms = _frame(
        warehouse,
        "select (due_date - invoice_date) // 7 as week, sum(invoice_amount_rc)::double as rc from marts.fct_invoices "
        f"where invoice_date > {AS_OF} - 365 and invoice_date <= {AS_OF} group by 1",
    )
    shares = {week: rc / terms["rc"].sum() for week, rc in terms.iter_rows()}
    invoicing = _frame(
        warehouse,
        "select week, forecast from forecasts.revenue_forecast where series = 'invoiced_revenue_rc' order by week",
    )["forecast"].to_list()
    from_new = [sum(invoicing[j - 1] * shares.get(w - j, 0.0) for j in range(1, w + 1)) for w in range(1, 14)]
    assert weekly["from_new_invoices_rc"].to_list() == pytest.approx(from_new)
    assert sum(from_new) > 0
    assert (weekly["naive_rc"] == 0).all() and (weekly["unapplied_receipts_rc"] == 0).all()
    assert weekly["expected_collections_rc"].to_list() == pytest.approx(
        (weekly["from_open_items_rc"] + weekly["from_new_invoices_rc"]).to_list()
    )
    assert weekly["origin_date"][0] == as_of

    # No orders: the order series are forecast at 0 by the weekly mean, not fitted.
    orders = _frame(warehouse, "select * from forecasts.revenue_forecast where series != 'invoiced_revenue_rc'")
    assert orders.height == 26 and (orders["model"] == "history_mean").all() and (orders["forecast"] == 0).all()


def test_sparse_five_invoices_on_a_short_history(built: Path, tmp_path: Path) -> None:
    """Five invoices of the last 90 days: too short for backtests, model choice or CLV."""
    recent = f"invoice_date > {AS_OF} - 90"
    warehouse, _ = _forecast_sparse(
        built,
        tmp_path,
        [
            *_keep_invoices(
                f"invoice_id in (select invoice_id from (select invoice_id from marts.fct_invoices where {recent} "
                "and paid_date is not null order by invoice_id limit 3) union all (select invoice_id from "
                f"marts.fct_invoices where {recent} and paid_date is null order by invoice_id limit 2))"
            ),
            f"delete from marts.fct_orders where order_date <= {AS_OF} - 90",
            f"delete from marts.fct_payments where payment_date <= {AS_OF} - 90",
        ],
    )
    _assert_every_table_written(warehouse)
    status = _status(warehouse)
    assert _frame(warehouse, "select count(*) as n from marts.fct_invoices")["n"][0] == 5
    history = _frame(
        warehouse, f"select {AS_OF} - min(as_of_date) as days, {AS_OF} as as_of from marts.fct_ar_aging"
    ).row(0)
    assert status["backtests"]["status"] == "skipped"
    assert status["backtests"]["reason"].startswith(f"{history[0]} days of aging history")
    for table in ("backtest_pay_date", "backtest_cash_weekly", "backtest_summary"):
        assert _frame(warehouse, f"select count(*) as n from forecasts.{table}")["n"][0] == 0, table
    assert status["customer_clv"]["status"] == "skipped"

    # A handful of items to train on (open at a month-end 30 to 365 days back, paid by now): no
    # model, the baseline for the open ones.
    predictions = _frame(warehouse, "select * from forecasts.pay_date_predictions")
    n_open = _frame(
        warehouse, f"select count(*) as n from marts.fct_ar_aging where as_of_date = {AS_OF} and open_balance_rc != 0"
    )["n"][0]
    assert predictions.height == n_open > 0
    assert status["pay_date_predictions"]["status"] == "fallback"
    n_training = _frame(
        warehouse,
        "select count(*) as n from marts.fct_ar_aging as aging inner join marts.fct_invoices using (invoice_id) "
        f"where aging.as_of_date between {AS_OF} - 365 and {AS_OF} - 30 and paid_date <= {AS_OF}",
    )["n"][0]
    assert 0 < n_training < pay_dates.MIN_TRAINING_ROWS
    assert status["pay_date_predictions"]["reason"].startswith(f"{n_training} items to train the pay-date model on")
    assert predictions["predicted_date"].equals(predictions["baseline_date"], check_names=False)

    # Under 26 weeks: every series at its weekly mean over the whole weeks since the first activity.
    revenue = _frame(warehouse, "select * from forecasts.revenue_forecast where series = 'invoiced_revenue_rc'")
    assert status["revenue_forecast"]["status"] == "fallback" and (revenue["model"] == "history_mean").all()
    invoices = _frame(warehouse, "select invoice_date, invoice_amount_rc::double as rc from marts.fct_invoices")
    first = min(
        invoices["invoice_date"].min(), _frame(warehouse, "select min(order_date) as d from marts.fct_orders")["d"][0]
    )
    as_of = history[1]
    weeks = [k for k in range(156) if as_of - dt.timedelta(days=7 * k + 6) >= first]
    sums = [
        invoices.filter(
            pl.col("invoice_date").is_between(as_of - dt.timedelta(days=7 * k + 6), as_of - dt.timedelta(days=7 * k))
        )["rc"].sum()
        for k in weeks
    ]
    assert revenue["forecast"].to_list() == pytest.approx([sum(sums) / len(sums)] * 13)
    assert status["cash_forecast"]["n_rows"] == 13


def test_sparse_one_customer_in_one_currency(built: Path, tmp_path: Path) -> None:
    warehouse, _ = _forecast_sparse(
        built,
        tmp_path,
        _keep_invoices(
            # the smallest customer in USD with a payment history and something open today
            "customer_id = (select customer_id from marts.fct_invoices where currency = 'USD' and customer_id in "
            f"(select customer_id from marts.fct_ar_aging where as_of_date = {AS_OF}) group by 1 "
            "having count(paid_date) >= 20 order by count(*), 1 limit 1)"
        ),
    )
    _assert_every_table_written(warehouse)
    status = _status(warehouse)
    assert _frame(warehouse, "select distinct currency from marts.fct_invoices")["currency"].to_list() == ["USD"]
    assert status["customer_clv"]["status"] == "skipped"
    assert status["customer_clv"]["reason"].endswith(f"at least {clv.MIN_REPEAT_CUSTOMERS} customers")
    # Too few paid items to train the model at any origin: its backtest scores are the baseline's.
    assert status["backtests"]["status"] == "fallback"
    scores = _frame(warehouse, "select * from forecasts.backtest_pay_date")
    n_origins = scores["origin_date"].n_unique()
    assert n_origins >= 3
    assert f"not trained at {n_origins} of {n_origins} origins" in status["backtests"]["reason"]
    pivot = scores.pivot(on="method", index=["origin_date", "segment"], values="mae_days")
    assert pivot["model"].equals(pivot["baseline"])
    predictions = _frame(warehouse, "select * from forecasts.pay_date_predictions")
    assert predictions["customer_id"].n_unique() == 1 and (predictions["method"] == "baseline").all()
    assert predictions["predicted_date"].equals(predictions["baseline_date"], check_names=False)
    assert status["pay_date_predictions"]["status"] == "fallback"
    assert "items to train the pay-date model on" in status["pay_date_predictions"]["reason"]
    assert status["revenue_forecast"]["status"] == "ok"
    assert status["cash_forecast"]["status"] == "fallback"  # it inherits the pay dates' fallback
    assert status["cash_forecast"]["reason"].startswith("open items: ")


def test_sparse_no_activity_at_all(built: Path, tmp_path: Path) -> None:
    """No order, invoice or payment yet: no as-of date, nothing to forecast, every status says so."""
    warehouse, metadata = _forecast_sparse(
        built,
        tmp_path,
        [
            "drop schema forecasts cascade",
            *(f"delete from marts.{t}" for t in ("fct_invoices", "fct_ar_aging", "fct_orders", "fct_payments")),
            "update marts.dim_date set is_data_as_of_date = false",
        ],
    )
    status = _status(warehouse)
    assert set(status) == {step.__name__ for step in run.STEPS}
    assert {row["status"] for row in status.values()} == {"skipped"}
    assert {row["reason"] for row in status.values()} == {"no order, invoice or payment yet"}
    assert all(m["status"] == "skipped" for m in metadata.values())
