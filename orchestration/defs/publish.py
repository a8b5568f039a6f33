"""The publish step: marts into serving.duckdb, only after every blocking check passed."""

from pathlib import Path

from dagster import (
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    DagsterEventType,
    Definitions,
    Failure,
    MaterializeResult,
    asset,
)

from core.settings import get_settings
from orchestration.defs.forecasting import FORECAST_ASSETS
from orchestration.defs.transform import dbt_project, o2c_dbt_assets
from orchestration.resources import WAREHOUSE_POOL, WarehouseResource
from orchestration.serving import publish, replaced_by_key
from quality import freshness
from quality.dbt_results import dbt_results_of_run
from quality.results import WARN, CheckResult

SERVING_KEY = AssetKey(["serving", "warehouse"])


def _published_model_keys() -> list[AssetKey]:
    # The dbt models in the marts and forecasts schemas (dbt-dagster keys a model [schema, name]):
    # the marts and the models that score the forecasts (forecasts.*_vs_actual).
    return sorted(key for key in o2c_dbt_assets.keys if key.path[0] in ("marts", "forecasts"))


def blocking(check: dict[str, object]) -> bool:
    """A failed error check stops the publish, except source freshness: a company whose bank file
    stopped arriving still needs its dashboards, which show the staleness (data health)."""
    return (
        not check["passed"]
        and check["severity"] == AssetCheckSeverity.ERROR.value
        and check["check"] != freshness.CHECK
    )


def check_results(context: AssetExecutionContext, warehouse: Path) -> list[dict[str, object]]:
    """Every check of this run, as records for the serving file's _meta: the asset checks Dagster
    evaluated (GX suites, source freshness) and the dbt data tests the dbt steps recorded."""
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    results = []
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        results.append(
            {
                "asset": evaluation.asset_key.to_user_string(),
                "check": evaluation.check_name,
                "passed": evaluation.passed,
                "severity": evaluation.severity.value,
            }
        )
    results += [dbt_check_record(result) for result in dbt_results_of_run(warehouse, context.run.run_id)]
    # Whether each stopped the publish, recorded so that data health reads the rule, not repeats it.
    return [{**r, "blocking": blocking(r)} for r in results]


def dbt_check_record(result: CheckResult) -> dict[str, object]:
    """A dbt data test as a check record: on its model (schema/name), named by the test and its
    column, with Dagster's severity names as the other checks have them."""
    return {
        "asset": f"{result.source}/{result.entity}",
        "check": result.expectation + (f"({result.column})" if result.column else ""),
        "passed": result.success,
        "severity": (AssetCheckSeverity.WARN if result.severity == WARN else AssetCheckSeverity.ERROR).value,
    }


@asset(
    key=SERVING_KEY,
    # The marts, the forecasts and the dbt models that score them (forecasts.*_vs_actual).
    deps=_published_model_keys() + [a.key for a in FORECAST_ASSETS],
    pool=WAREHOUSE_POOL,
    group_name="publish",
    kinds={"duckdb"},
)
def serving_warehouse(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
    """The marts and forecasts, copied into a new serving.duckdb and swapped in atomically."""
    checks = check_results(context, warehouse.path())
    failed = [c for c in checks if c["blocking"]]
    if failed:
        names = ", ".join(f"{c['check']} on {c['asset']}" for c in failed)
        raise Failure(description=f"Not published, the previous serving file stays: blocking checks failed: {names}")
    settings = get_settings()
    published = publish(
        warehouse.path(),
        settings.serving,
        context.run.run_id,
        checks,
        replaced_by_key=replaced_by_key(dbt_project.manifest_path),
    )
    return MaterializeResult(
        metadata={
            "path": str(published.path),
            "build_id": published.build_id,
            "tables": len(published.tables),
            "rows": sum(published.tables.values()),
            "checks_passed": sum(1 for c in checks if c["passed"]),
            "checks_failed": sum(1 for c in checks if not c["passed"]),
        }
    )


defs = Definitions(
    assets=[serving_warehouse],
    # The warehouse the settings point at when a step runs (the one path dbt's profile is given).
    resources={"warehouse": WarehouseResource()},
)
