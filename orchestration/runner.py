"""`o2c run`: the asset graph materialized in this process, no daemon needed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from dagster import AssetSelection, DagsterEventType, DagsterInstance

from orchestration.settings import Settings


@dataclass
class RunSummary:
    run_id: str
    success: bool
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, succeeded / failed / skipped)
    failed_checks: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # readable reasons, one per failed step


_DBT_FAILURE = re.compile(r"(?:Failure|Error) in (?:test|unit_test|model|snapshot|seed) ([\w.]+)")


def _messages(error) -> str:
    """The error's message and those of its causes."""
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause or error.context
    return "\n".join(parts)


def _failure_reason(step: str, message: str) -> str:
    dbt_failures = sorted(set(_DBT_FAILURE.findall(message)))
    if dbt_failures:
        return f"{step}: dbt failed on {', '.join(dbt_failures)}"
    first = next((line.strip() for line in message.splitlines() if line.strip()), "failed")
    return f"{step}: {first[:500]}"


def run_pipeline(settings: Settings, select: str | None = None, full_refresh: bool = False) -> RunSummary:
    from orchestration.defs.transform import o2c_dbt_assets
    from orchestration.definitions import defs

    job = defs.get_job_def("full_build")
    graph = defs.resolve_asset_graph()
    selected = AssetSelection.from_string(select).resolve(graph) if select else None
    run_config: dict[str, object] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if full_refresh and (selected is None or selected & set(o2c_dbt_assets.keys)):
        run_config["ops"] = {o2c_dbt_assets.op.name: {"config": {"full_refresh": True}}}
    result = job.execute_in_process(
        run_config=run_config,
        instance=DagsterInstance.get(),
        raise_on_error=False,
        asset_selection=sorted(selected) if selected is not None else None,
        tags={"o2c/trigger": "cli"},
    )
    summary = RunSummary(run_id=result.run_id, success=result.success)
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_SUCCESS:
            summary.steps.append((event.step_key, "succeeded"))
        elif event.event_type == DagsterEventType.STEP_SKIPPED:
            summary.steps.append((event.step_key, "skipped"))
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            summary.steps.append((event.step_key, "failed"))
            summary.failures.append(_failure_reason(event.step_key, _messages(event.event_specific_data.error)))
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            summary.failed_checks.append(f"{evaluation.check_name} on {evaluation.asset_key.to_user_string()}")
    return summary
