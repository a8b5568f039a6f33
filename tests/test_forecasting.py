"""Forecasting on a simulated world built by `o2c run`: backtests against the simulator's truth,
forecast tables that reconcile to the marts, history kept across runs, and the rules of the
baseline pay-date prediction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from forecasting import cash, pay_dates, run, tables
from ingestion.simulator import read_ground_truth
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
    assert set(described["table_name"]) == set(tables.TABLES)
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
