"""The o2c asset graph: sources → dbt models (tests as checks) → forecasts → published serving file,
and the jobs that send what it says (alerts)."""

from dagster import Definitions

from orchestration.defs import alerts, automation, forecasting, publish, quality, sources, transform

defs = Definitions.merge(
    sources.defs, quality.defs, transform.defs, forecasting.defs, publish.defs, automation.defs, alerts.defs
)
