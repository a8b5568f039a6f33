"""Predictive analytics on the marts: CLV, pay dates, cash and revenue forecasts, backtests.

Plain functions over Polars frames; the Dagster assets in orchestration/defs/forecasting.py only
read the marts, call these and write the results to the warehouse's `forecasts` schema.
"""
