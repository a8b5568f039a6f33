"""The o2c asset graph: sources → dbt models (tests as checks) → published serving file."""

from dagster import Definitions

from orchestration.defs import automation, publish, quality, sources, transform

defs = Definitions.merge(sources.defs, quality.defs, transform.defs, publish.defs, automation.defs)
