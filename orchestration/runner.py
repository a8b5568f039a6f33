"""`o2c run`: the asset graph materialized in this process, no daemon needed."""

from __future__ import annotations

import os
import re
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from dagster import AssetCheckSeverity, AssetSelection, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

from core import db
from core.errors import in_plain_words, plain_cause
from core.settings import Settings
from orchestration import serving
from orchestration.warehouse_lock import warehouse_lock
from quality import freshness
from quality.dbt_results import dbt_results_of_run


@dataclass
class StepResult:
    step: str
    status: str  # succeeded / failed / skipped
    seconds: float
    rows: int | None  # rows read by a source step (rows_in), or rows written (dagster/row_count); None if neither


def _rows(metadata: dict) -> int | None:
    for name in ("rows_in", "dagster/row_count"):
        if name in metadata:
            return int(metadata[name].value)
    return None


@dataclass
class RunSummary:
    run_id: str
    success: bool
    steps: list[StepResult] = field(default_factory=list)  # in the order they finished
    failed_checks: list[str] = field(default_factory=list)  # severity error: blocked what follows
    warned_checks: list[str] = field(default_factory=list)  # severity warning: recorded, blocked nothing
    stale_sources: list[str] = field(default_factory=list)  # failed freshness: shown stale, blocked nothing
    failures: list[str] = field(default_factory=list)  # readable reasons, one per failed step


# "dagster._core.definitions.events.Failure: ", "duckdb.IOException: ", "FileNotFoundError: ".
_EXCEPTION_NAME = re.compile(r"^(?:(?:[a-z_]\w*\.)+[A-Z]\w*|[A-Z]\w*(?:Error|Exception|Failure|Unavailable)): ")
# Lines that wrap an error without saying what it was: its cause, further down the chain, does.
_WRAPPERS = re.compile(r"^(?:Exceeded max_retries of \d+|Error occurred while executing )")
_DBT_FAILURE = re.compile(r"(?:Failure|Error) in (?:test|unit_test|model|snapshot|seed) ([\w.]+)")


_STEP_ENDS = {
    DagsterEventType.STEP_SUCCESS: "succeeded",
    DagsterEventType.STEP_FAILURE: "failed",
    DagsterEventType.STEP_SKIPPED: "skipped",
}


# Public: the run-failure sensor (orchestration/defs/automation.py) words a failed step the same
# way `o2c run` does.
def error_messages(error) -> str:
    """The error's message and those of its causes (a Dagster SerializableErrorInfo)."""
    parts = []
    while error is not None:
        parts.append(error.message)
        error = error.cause or error.context
    return "\n".join(parts)


def failure_reason(step: str, message: str) -> str:
    """One line for a failed step: the dbt models that failed, or the error's first line without
    the exception's class name ("raw_erp: erp: O2C_ERP_URL points at ..."), past the lines that
    name no cause ("Exceeded max_retries of 3"), with a driver's words put plainly (core.errors:
    "raw_erp: corrupt database file at /data/warehouse.duckdb")."""
    dbt_failures = sorted(set(_DBT_FAILURE.findall(message)))
    if dbt_failures:
        return f"{step}: dbt failed on {', '.join(dbt_failures)}"
    return f"{step}: {cause_line(message)}"


def cause_line(message: str) -> str:
    """An error chain's messages (error_messages) in one line that names the cause."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    # "Exceeded max_retries of 3" (a retried step) names no cause: the next message in the chain does.
    first = next((line for line in lines if not _WRAPPERS.match(line)), "failed")
    # "dagster._core.definitions.events.Failure: erp: …" says nothing the reader needs.
    first = _EXCEPTION_NAME.sub("", first, count=1)
    found = plain_cause(message)
    if found is not None:
        cause, _ = found
        first = in_plain_words(first)
        if cause not in first:  # a driver's words deeper in the chain, under a line that does not name it
            first = cause
    return first[:500]


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


class _Progress:
    """Hears every event of a run as it happens (an instance event listener) and times each step
    from its first start (a retried step counts whole) to its end."""

    def __init__(
        self, on_step: Callable[[StepResult], None] | None, on_start: Callable[[str], None] | None = None
    ) -> None:
        self.on_step = on_step
        self.on_start = on_start
        self.steps: list[StepResult] = []
        self.started: dict[str, float] = {}
        self.rows: dict[str, int] = {}

    def __call__(self, record) -> None:
        event = record.dagster_event
        if event is None or event.step_key is None:
            return
        step = event.step_key
        if event.event_type == DagsterEventType.STEP_START:
            if step not in self.started and self.on_start is not None:
                self.on_start(step)
            self.started.setdefault(step, record.timestamp)
        elif event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            count = _rows(event.event_specific_data.materialization.metadata)
            if count is not None:
                self.rows[step] = self.rows.get(step, 0) + count
        elif event.event_type in _STEP_ENDS:
            seconds = record.timestamp - self.started.get(step, record.timestamp)
            result = StepResult(step, _STEP_ENDS[event.event_type], round(seconds, 1), self.rows.get(step))
            self.steps.append(result)
            if self.on_step is not None:
                self.on_step(result)


def prepare_run(settings: Settings) -> None:
    """Before a run, under the warehouse lock: what earlier runs left behind is removed (dbt's
    per-run output in dbt_project/target/, files of failed publishes), and a warehouse that is not
    a database stops the run at once with one line naming it (CorruptDatabase), instead of every
    step failing on it."""
    from orchestration.dbt_runner import clean_run_output

    clean_run_output(settings.data_dir)
    for path in serving.leftovers(settings.serving):
        path.unlink(missing_ok=True)
    if settings.warehouse.exists():
        db.connect(settings.warehouse).close()


def run_pipeline(
    settings: Settings,
    select: str | None = None,
    full_refresh: bool = False,
    on_step: Callable[[StepResult], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    log_level: str = "INFO",
    on_wait: Callable[[str], None] | None = None,
) -> RunSummary:
    """The pipeline in this process, holding the warehouse lock (waiting for it up to
    O2C_LOCK_WAIT_SECONDS, telling `on_wait`; then WarehouseBusy). `on_start` hears of each step
    as it starts, `on_step` as it finishes (the CLI's progress); `log_level` is Dagster's own
    console log (CRITICAL silences it)."""
    command = f"o2c run{' --select ' + select if select else ''}{' --full-refresh' if full_refresh else ''}"
    with warehouse_lock(settings.warehouse, command, settings.lock_wait_seconds, on_wait):
        prepare_run(settings)
        return _run_pipeline(settings, select, full_refresh, on_step, on_start, log_level)


def _run_pipeline(
    settings: Settings,
    select: str | None,
    full_refresh: bool,
    on_step: Callable[[StepResult], None] | None,
    on_start: Callable[[str], None] | None,
    log_level: str,
) -> RunSummary:
    from orchestration.definitions import defs as load_definitions
    from orchestration.defs.publish import dbt_check_record
    from orchestration.defs.transform import o2c_dbt_assets

    defs = load_definitions()
    job = defs.resolve_job_def("full_build")
    graph = defs.resolve_asset_graph()
    selected = AssetSelection.from_string(select).resolve(graph) if select else None
    run_config: dict[str, object] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    if full_refresh and (selected is None or selected & set(o2c_dbt_assets.keys)):
        run_config["ops"] = {o2c_dbt_assets.op.name: {"config": {"full_refresh": True}}}
    instance = DagsterInstance.get()
    recover_interrupted_runs(instance)
    run_id = str(uuid.uuid4())
    progress = _Progress(on_step, on_start)
    instance.add_event_listener(run_id, progress)
    result = job.execute_in_process(
        run_id=run_id,
        run_config=run_config,
        instance=instance,
        raise_on_error=False,
        asset_selection=sorted(selected) if selected is not None else None,
        tags={"o2c/trigger": "cli", "o2c/pid": str(os.getpid()), "o2c/host": socket.gethostname()},
    )
    summary = RunSummary(run_id=result.run_id, success=result.success, steps=progress.steps)
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            summary.failures.append(failure_reason(event.step_key, error_messages(event.event_specific_data.error)))
    # Dagster's checks (GX suites, freshness) and dbt's data tests, which the dbt steps record in
    # quality.dq_results instead (read back as the publish step reads them), sorted by one rule.
    checks = [
        {
            "asset": evaluation.asset_key.to_user_string(),
            "check": evaluation.check_name,
            "passed": evaluation.passed,
            "severity": evaluation.severity.value,
            "description": evaluation.description,
        }
        for evaluation in result.get_asset_check_evaluations()
    ] + [dbt_check_record(r) for r in dbt_results_of_run(settings.warehouse, result.run_id)]
    for check in checks:
        if check["passed"]:
            continue
        if check["check"] == freshness.CHECK:  # never blocks the publish (defs/publish.py)
            summary.stale_sources.append(f"{check['asset']}: {check['description']}")
        elif check["severity"] == AssetCheckSeverity.WARN.value:
            summary.warned_checks.append(f"{check['check']} on {check['asset']}")
        else:
            summary.failed_checks.append(f"{check['check']} on {check['asset']}")
    return summary
