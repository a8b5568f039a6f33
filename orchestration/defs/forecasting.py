"""Forecasting assets: CLV, backtests, pay dates, revenue and cash forecasts → warehouse `forecasts.*`.

They run after the marts in every build and before publishing, which copies them to the serving
file. The logic is in forecasting/; these only wire it to the graph.
"""

from collections.abc import Callable

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, Definitions, MaterializeResult, asset
from dagster_dbt import get_asset_key_for_model

from core.db import memory_limited
from core.settings import get_settings
from forecasting import run, tables
from orchestration.defs.transform import o2c_dbt_assets
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource

GROUP = "forecasts"


def _model(name: str) -> AssetKey:
    return get_asset_key_for_model([o2c_dbt_assets], name)


# The tables each forecasting asset writes, by asset name: the dbt sources over them name their
# writer as their asset key (dbt_project/models/forecasts/_forecasts__sources.yml).
WRITES: dict[str, list[str]] = {}


def forecast_asset(
    name: str, step: Callable, writes: list[str], marts: list[str], upstream: list[str] = ()
) -> AssetsDefinition:
    WRITES[name] = writes
    description = "\n\n".join(f"**forecasts.{table}**: {tables.TABLES[table][0]}" for table in writes)

    @asset(
        key=AssetKey([GROUP, name]),
        # Every step reads the data's as-of date from dim_date (forecasting/run.py data_as_of).
        deps=[_model(m) for m in ["dim_date", *marts]] + [AssetKey([GROUP, u]) for u in upstream],
        pool=WAREHOUSE_POOL,
        group_name=GROUP,
        kinds={"python", "duckdb"},
        description=description,
    )
    def _asset(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        with warehouse.get_connection() as con, memory_limited(con, get_settings().duckdb_memory_limit):
            metadata = step(con)
        context.log.info(f"forecasts/{name}: {metadata}")
        return MaterializeResult(metadata={k: v for k, v in metadata.items() if v is not None})

    return _asset


customer_clv = forecast_asset(
    "customer_clv",
    run.customer_clv,
    ["customer_clv", "clv_model_parameters"],
    ["fct_orders", "fct_customer_lifetime_value"],
)
backtests = forecast_asset(
    "backtests",
    run.backtests,
    ["backtest_pay_date", "backtest_cash_weekly", "backtest_summary"],
    [
        "fct_invoices",
        "fct_ar_aging",
        "fct_payments",
        "fct_orders",
        "dim_customers",
        "fct_disputes",
        "fct_collection_actions",
    ],
)
pay_date_predictions = forecast_asset(
    "pay_date_predictions",
    run.pay_date_predictions,
    ["pay_date_predictions"],
    ["fct_invoices", "fct_ar_aging", "dim_customers", "fct_disputes", "fct_collection_actions"],
    upstream=["backtests"],
)
revenue_forecast = forecast_asset(
    "revenue_forecast",
    run.revenue_forecast,
    ["revenue_forecast", "revenue_forecast_accuracy", "revenue_forecast_history"],
    ["fct_revenue_daily"],
)
cash_forecast = forecast_asset(
    "cash_forecast",
    run.cash_forecast,
    ["cash_forecast", "cash_forecast_history"],
    ["fct_invoices", "fct_payments"],
    upstream=["pay_date_predictions", "revenue_forecast"],
)

FORECAST_ASSETS = [customer_clv, backtests, pay_date_predictions, revenue_forecast, cash_forecast]
defs = Definitions(assets=FORECAST_ASSETS)
