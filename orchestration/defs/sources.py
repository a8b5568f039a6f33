"""Raw source assets: one dlt load per source system, run through dagster-dlt; and their
freshness checks, which evaluate dbt's source freshness definition."""

import datetime as dt
import json
from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AssetSpec,
    Backoff,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    MaterializeResult,
    RetryPolicy,
    ScheduleDefinition,
    define_asset_job,
    multi_asset,
    multi_asset_check,
)
from dagster_dlt import DagsterDltResource, DagsterDltTranslator
from dagster_dlt.asset_decorator import build_dlt_asset_specs
from dagster_dlt.translator import DltResourceTranslatorData

from core import db
from core.settings import get_settings
from ingestion import pipeline
from orchestration.dbt_runner import MANIFEST, parse_manifest, parsed_freshness_hours
from orchestration.resources import WAREHOUSE_POOL
from quality import freshness

GROUP = "sources"


def sources() -> list[str]:
    """Every source the contract knows, whether this installation has it or not: the graph is the
    same whatever the settings and whichever folders exist (nothing is read when it loads, and a
    landing folder added later needs no reload). A source that is not configured when its step
    runs loads nothing and says so (raw_source_assets)."""
    return list(pipeline.SOURCES)


class RawTableTranslator(DagsterDltTranslator):
    """Asset key [source, table], the key dbt's sources resolve to, so the graph joins up."""

    def get_asset_spec(self, data: DltResourceTranslatorData) -> AssetSpec:
        spec = super().get_asset_spec(data)
        source = data.resource.source_name
        return spec.replace_attributes(
            key=AssetKey([source, data.resource.name]),
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
        # read now: the settings as they are when the step runs
        config = pipeline.IngestConfig.from_settings(get_settings())
        if source not in pipeline.configured_sources(config):
            # Not configured here. The assets are reported as materialized, with nothing loaded,
            # so the build goes on: dbt reads only the raw schemas that exist.
            context.log.info(f"{source}: not configured here, nothing to load")
            for key in context.selected_asset_keys:
                yield MaterializeResult(asset_key=key, metadata={"loaded": False, "reason": "source not configured"})
            return
        try:
            prepared = pipeline.prepare(source, config, load_id=context.run.run_id)
        except (pipeline.SourceUnavailable, db.CorruptDatabase) as error:  # retrying will not help
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


FRESHNESS_CHECK = freshness.CHECK
# The tables dbt declares as sources (the contract's entities; tests/test_contract_sources.py keeps
# the two equal), not the quarantine tables that are raw assets too.
SOURCE_TABLES = [AssetKey([source, entity]) for source in sources() for entity in pipeline.source_entities(source)]


def freshness_rules(hours: int) -> dict[tuple[str, str], freshness.Rule]:
    """The sources' freshness as dbt parsed it with this bound: from the manifest the run already
    has (`o2c run` and `make setup` parse it with the setting), parsed again (one dbt parse, about
    15 s) only when it was parsed with another bound, e.g. a setting changed under a long-running
    Dagster. The bound is rendered into every source's error_after, so the manifest's numbers are
    the setting's only when it was parsed with it."""
    manifest = json.loads(MANIFEST.read_text())
    if parsed_freshness_hours(manifest) != str(hours):
        manifest = parse_manifest()
    return freshness.rules(manifest)


@multi_asset_check(
    name=FRESHNESS_CHECK,
    specs=[
        AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=key,
            description="dbt source freshness of this raw table (bounds in the dbt sources YAML)",
        )
        for key in SOURCE_TABLES
    ],
    can_subset=True,
    pool=WAREHOUSE_POOL,  # the verdicts are written to the warehouse
)
def source_freshness(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
    """dbt's verdict per raw table, evaluated on the load logs without starting dbt: pass passes,
    warn fails as a warning, error fails as an error. Neither stops the publish
    (orchestration/defs/publish.py): stale data is shown as stale, not withheld. A table this
    installation does not load gets no result, so Dagster shows its check as skipped, neither fresh
    nor stale; quality.source_freshness says "not configured"."""
    settings = get_settings()  # read now, as every step does
    configured = pipeline.configured_sources(pipeline.IngestConfig.from_settings(settings))
    tables = sorted((k.asset_key.path[0], k.asset_key.path[1]) for k in context.selected_asset_check_keys)
    rules = freshness_rules(settings.source_freshness_hours)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    con = db.connect(settings.warehouse)
    try:
        found = freshness.verdicts(con, rules, tables, configured, now)
        freshness.record(con, found, now)
    finally:
        con.close()
    for verdict in found:
        if verdict.status == freshness.NOT_CONFIGURED:
            context.log.info(f"{verdict.message}: no freshness verdict (skipped)")
            continue
        severe = verdict.status == freshness.ERROR
        yield AssetCheckResult(
            asset_key=AssetKey([verdict.source, verdict.entity]),
            check_name=FRESHNESS_CHECK,
            passed=verdict.status == freshness.PASS,
            severity=AssetCheckSeverity.ERROR if severe else AssetCheckSeverity.WARN,
            description=verdict.message,
            metadata={
                "status": verdict.status,
                "last_loaded_at": str(verdict.last_loaded_at) if verdict.last_loaded_at else None,
                "age_hours": verdict.age_hours,
                "warn_after": verdict.warn_after,
                "error_after": verdict.error_after,
            },
        )


# Between builds, the checks alone, every hour (what the deprecated freshness sensor did).
source_freshness_job = define_asset_job(
    "source_freshness_checks",
    selection=AssetSelection.checks(source_freshness),
    description="dbt source freshness of every raw table (the sources YAML), without loading anything.",
)
freshness_defs = Definitions(
    asset_checks=[source_freshness],
    jobs=[source_freshness_job],
    # Running once the daemon runs: checks only, it loads and sends nothing (docs/operations.md).
    schedules=[
        ScheduleDefinition(
            name=FRESHNESS_CHECK,
            job=source_freshness_job,
            cron_schedule="0 * * * *",
            default_status=DefaultScheduleStatus.RUNNING,
        )
    ],
)


defs = Definitions(assets=raw_assets, resources={"dlt": DagsterDltResource()})
