"""Raw source assets: one dlt load per source system, run through dagster-dlt."""

import datetime as dt

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Backoff,
    Definitions,
    Failure,
    MaterializeResult,
    RetryPolicy,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
    multi_asset,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator
from dagster_dlt.asset_decorator import build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData

from core.settings import get_settings
from ingestion import pipeline
from orchestration.resources import WAREHOUSE_POOL, ingest_config

GROUP = "sources"


def sources() -> list[str]:
    """Every source the contract knows, whether this installation has it or not: the graph is the
    same whatever the settings and whichever folders exist (nothing is read when it loads, and a
    landing folder added later needs no reload). A source that is not configured when its step
    runs loads nothing and says so (raw_source_assets)."""
    return list(pipeline.SOURCES)


# Payments reference customers: the customers of the ERP and of the files load first, so those
# references are checked.
CUSTOMERS = [AssetKey([source, "customers"]) for source in ("erp", "files")]


class RawTableTranslator(DagsterDltTranslator):
    """Asset key [source, table], the key dbt's sources resolve to, so the graph joins up."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        source = data.resource.source_name
        return spec.replace_attributes(
            key=AssetKey([source, data.resource.name]),
            deps=CUSTOMERS if source in ("processor", "bank") else [],
            group_name=GROUP,
            kinds={"dlt", "duckdb"},
        )


def raw_source_assets(source: str) -> AssetsDefinition:
    translator = RawTableTranslator()
    specs = build_dlt_asset_specs(
        dlt_source=pipeline.spec_source(source),
        # No pipeline here: creating one writes its state folder, and its paths are settings read
        # when the step runs. The load passes the run's own pipeline to dagster-dlt.
        dlt_pipeline=None,
        dagster_dlt_translator=translator,
    )

    @multi_asset(
        name=f"raw_{source}",
        specs=specs,
        pool=WAREHOUSE_POOL,
        # Sources fail for passing reasons (a locked file, a database restart): retry with backoff.
        retry_policy=RetryPolicy(max_retries=3, delay=5, backoff=Backoff.EXPONENTIAL),
    )
    def load(context: AssetExecutionContext, dlt: DagsterDltResource):
        config = ingest_config(get_settings())  # read now: the settings as they are when the step runs
        if source not in pipeline.configured_sources(config):
            # Not configured here. The assets are reported as materialized, with nothing loaded,
            # so the build goes on: dbt reads only the raw schemas that exist.
            context.log.info(f"{source}: not configured here, nothing to load")
            for key in context.selected_asset_keys:
                yield MaterializeResult(asset_key=key, metadata={"loaded": False, "reason": "source not configured"})
            return
        try:
            prepared = pipeline.prepare(source, config, load_id=context.run_id)
        except pipeline.SourceUnavailable as error:  # a missing path or host: retrying will not help
            raise Failure(description=str(error), allow_retries=False) from error
        dlt_pipeline = pipeline.dlt_pipeline_for(source, config)
        results = {b.entity.name: b.result for b in prepared.batches}
        for event in dlt.run(
            context=context,
            dlt_source=prepared.dlt_source(),
            dlt_pipeline=dlt_pipeline,
            dagster_dlt_translator=translator,
        ):
            entity = results.get(event.asset_key.path[-1]) if isinstance(event, MaterializeResult) else None
            if entity is not None:
                event = MaterializeResult(
                    asset_key=event.asset_key,
                    metadata={
                        **(event.metadata or {}),
                        "rows_in": entity.rows_in,
                        "rows_new": entity.rows_new,
                        "rows_updated": entity.rows_updated,
                        "rows_unchanged": entity.rows_unchanged,
                        "rows_quarantined": entity.rows_quarantined,
                    },
                )
            yield event
        report = pipeline.record(
            prepared, config, pipeline.loaded_row_counts(dlt_pipeline), pipeline.last_load_id(dlt_pipeline)
        )
        for entity in report.entities:
            for message in entity.errors:
                context.log.error(message)
            for message in entity.warnings:
                context.log.warning(message)

    return load


raw_assets = [raw_source_assets(source) for source in sources()]


def freshness_defs(hours: int) -> Definitions:
    """The freshness checks of every raw table and the sensor that evaluates them. The bound
    (O2C_SOURCE_FRESHNESS_HOURS) is fixed when the definitions load, as Dagster wants it."""
    checks = build_last_update_freshness_checks(assets=raw_assets, lower_bound_delta=dt.timedelta(hours=hours))
    return Definitions(
        asset_checks=checks,
        sensors=[build_sensor_for_freshness_checks(freshness_checks=checks, name="source_freshness")],
    )


defs = Definitions(assets=raw_assets, resources={"dlt": DagsterDltResource()})
