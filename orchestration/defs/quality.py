"""Great Expectations suites as blocking asset checks on every raw table (the marts are checked by
dbt tests)."""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    Definitions,
    multi_asset_check,
)

from core.settings import get_settings
from ingestion.pipeline import IngestConfig, configured_sources, source_entities
from orchestration.defs.sources import sources
from orchestration.resources import WAREHOUSE_POOL
from quality import checked_loads, results

CHECK = "gx_suite"


# One check step for every source's suites, run after all the raw loads of the run. A suite
# compares a load with the other raw schemas: references to keys any source provides (the ERP's
# payment applications to the processor's payments, payments to the ERP's customers), currencies
# of the FX rates, order dates for shipments. Checked before another source's load of the same
# run, a reference to a row arriving with it read as unknown: a false warning on an incremental
# run (issue 18). Per-source check steps cannot simply wait for the other loads: each is blocking
# on its own tables, so two sources referring to each other would wait for each other's checks.
STEP = "gx_sources"


def source_quality_checks() -> AssetChecksDefinition:
    keys = {source: [AssetKey([source, entity]) for entity in source_entities(source)] for source in sources()}
    specs = [
        AssetCheckSpec(name=CHECK, asset=key, blocking=True, description=f"GX suite raw_{key.path[-1]}")
        for source_keys in keys.values()
        for key in source_keys
    ]

    @multi_asset_check(name=STEP, specs=specs, pool=WAREHOUSE_POOL, can_subset=True)
    def check(context: AssetCheckExecutionContext):
        settings = get_settings()
        selected = {check_key.asset_key for check_key in context.selected_asset_check_keys}
        configured = configured_sources(IngestConfig.from_settings(settings))
        chosen: dict[str, list[str]] = {}
        for source, source_keys in keys.items():
            entities = [key.path[-1] for key in source_keys if key in selected]
            if not entities:
                continue  # not in this run's selection
            if source not in configured:
                # Its load step loaded nothing (orchestration/defs/sources.py): no result, so the
                # checks show as skipped and the published check results list only checked tables.
                context.log.info(f"{source}: not configured here, nothing to check")
                continue
            chosen[source] = entities
        if not chosen:
            return
        # A check that passed, with its inputs as when it last ran, carries its recorded results
        # forward (quality/checked_loads.py); one that failed or warned runs again every time.
        checked, carried = checked_loads.check_changed(
            settings.warehouse, chosen, run_id=context.op_execution_context.run_id, docs_dir=settings.quality_dir
        )
        for (source, entity), run_id in sorted(carried.items()):
            context.log.info(f"{source}.{entity}: nothing it reads changed since run {run_id}; its results stand")
        for source, entities in chosen.items():
            own = [r for r in checked if r.source == source]
            by_entity = {entity: AssetKey([source, entity]) for entity in entities}
            yield from _results_for(context, own, by_entity, {e: carried.get((source, e)) for e in entities})

    return check


def _results_for(context, checked, keys_by_entity: dict[str, AssetKey], carried_from: dict[str, str | None]):
    settings = get_settings()
    for entity, key in keys_by_entity.items():
        own = [r for r in checked if r.entity == entity]
        failed = [r for r in own if not r.success]
        errors = [r for r in failed if r.severity == results.ERROR]
        # Passed with something to report (columns beyond the contract, kept): logged and
        # described, never a failed check.
        noted = [r for r in own if r.warning]
        for r in failed:
            (context.log.error if r.severity == results.ERROR else context.log.warning)(r.message)
        for r in noted:
            context.log.warning(r.message)
        yield AssetCheckResult(
            asset_key=key,
            check_name=CHECK,
            passed=not failed,
            # An error blocks everything downstream and the publish; a warning is recorded.
            severity=AssetCheckSeverity.ERROR if errors else AssetCheckSeverity.WARN,
            description="; ".join(r.message for r in [*failed, *noted])[:2000] or None,
            metadata={
                "data_docs": str(results.data_docs_index(settings.quality_dir)),
                "expectations": len(own),
                "failed": len(failed),
                "errors": len(errors),
                "warnings": len(noted) + len(failed) - len(errors),
                "rows_checked": max((r.rows_checked or 0 for r in own), default=0),
                # The run whose check of the same inputs these results are, when not this one.
                **({"carried_from_run": carried_from[entity]} if carried_from[entity] else {}),
            },
        )


# The checks on marts are dbt tests inside the dbt build (orchestration/defs/transform.py): one
# of severity error fails the dbt step, which blocks everything downstream.
defs = Definitions(asset_checks=[source_quality_checks()])
