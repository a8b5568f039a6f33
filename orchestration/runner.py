"""`o2c run`: the asset graph materialized in this process, no daemon needed."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field

from dagster import AssetCheckSeverity, AssetSelection, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from core.settings import Settings
from quality import freshness


@dataclass
class RunSummary:
    run_id: str
    success: bool
    steps: list[tuple[str, str]] = field(default_factory=list)  # (step, succeeded / failed / skipped)
    failed_checks: list[str] = field(default_factory=list)  # severity error: blocked what follows
    warned_checks: list[str] = field(default_factory=list)  # severity warning: recorded, blocked nothing
    stale_sources: list[str] = field(default_factory=list)  # failed freshness: shown stale, blocked nothing
    failures: list[str] = field(default_factory=list)  # readable reasons, one per failed step


_EXCEPTION_NAME = re.compile(r"^[\w.]*(?:Failure|SourceUnavailable): ")
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
    # "dagster._core.definitions.events.Failure: erp: …" says nothing the reader needs.
    first = _EXCEPTION_NAME.sub("", first, count=1)
    return f"{step}: {first[:500]}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted_runs(instance: DagsterInstance) -> list[str]:
    """Our runs whose process is gone (killed, machine lost power) are marked failed and give
    back the warehouse pool slot they held; without a daemon nothing else would, and the next
    run would wait for that slot forever."""
    recovered = []
    runs = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED, DagsterRunStatus.STARTING]))
    for run in runs:
        pid, host = run.tags.get("o2c/pid"), run.tags.get("o2c/host")
        if pid is None or host != socket.gethostname() or _process_alive(int(pid)):
            continue
        instance.report_run_failed(run, message=f"process {pid} ended before the run finished (killed?)")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        recovered.append(run.run_id)
    return recovered


def run_pipeline(settings: Settings, select: str | None = None, full_refresh: bool = False) -> RunSummary:
    from orchestration.definitions import defs as load_definitions
    from orchestration.defs.transform import o2c_dbt_assets

    defs = load_definitions()
    job = defs.resolve_job_def("full_build")
    graph = defs.resolve_asset_graph()
    selected = AssetSelection.from_string(select).resolve(graph) if select else None
    run_config: dict[str, object] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    if full_refresh and (selected is None or selected & set(o2c_dbt_assets.keys)):
        run_config["ops"] = {o2c_dbt_assets.op.name: {"config": {"full_refresh": True}}}
    instance = DagsterInstance.get()
    recover_interrupted_runs(instance)
    result = job.execute_in_process(
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
        asset_selection=sorted(selected) if selected is not None else None,
        tags={"o2c/trigger": "cli", "o2c/pid": str(os.getpid()), "o2c/host": socket.gethostname()},
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
            name = f"{evaluation.check_name} on {evaluation.asset_key.to_user_string()}"
            if evaluation.check_name == freshness.CHECK:  # never blocks the publish (defs/publish.py)
                summary.stale_sources.append(f"{evaluation.asset_key.to_user_string()}: {evaluation.description}")
            elif evaluation.severity == AssetCheckSeverity.WARN:
                summary.warned_checks.append(name)
            else:
                summary.failed_checks.append(name)
    return summary
