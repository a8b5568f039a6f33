"""Jobs, the daily schedule, the landing-folder sensor and the run-failure notice."""

import json
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    RunFailureSensorContext,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    run_failure_sensor,
    sensor,
)

from core.settings import Settings, get_settings
from orchestration.defs.publish import serving_warehouse
from orchestration.defs.sources import GROUP as SOURCES_GROUP
from orchestration.defs.transform import o2c_dbt_assets

full_build = define_asset_job("full_build", selection=AssetSelection.all(), description="Ingest, dbt build, publish.")
ingest_only = define_asset_job("ingest_only", selection=AssetSelection.groups(SOURCES_GROUP))
dbt_only = define_asset_job("dbt_only", selection=AssetSelection.assets(o2c_dbt_assets))
publish_only = define_asset_job("publish_only", selection=AssetSelection.assets(serving_warehouse))


def schedule_defs(settings: Settings) -> Definitions:
    """The daily build at O2C_SCHEDULE_CRON in O2C_SCHEDULE_TIMEZONE: Dagster fixes a schedule's
    times when the definitions load, so these two settings are read then (the others when a
    step runs). It ships running (once the daemon runs): a build sends no mail and writes only
    the warehouse and the serving file, which is what an operator expects on a schedule."""
    daily_build = ScheduleDefinition(
        name="daily_build",
        job=full_build,
        cron_schedule=settings.schedule_cron,
        execution_timezone=settings.schedule_timezone,
        default_status=DefaultScheduleStatus.RUNNING,
    )
    return Definitions(schedules=[daily_build])


def landing_signature() -> str:
    """Which payment and bank files there are: names and modification times."""
    files = sorted(
        p for folder in ("processor", "bank") for p in (get_settings().landing / folder).glob("*") if p.is_file()
    )
    return f"{len(files)}:{max((p.stat().st_mtime_ns for p in files), default=0)}:{files[-1].name if files else ''}"


@sensor(
    job=full_build,
    minimum_interval_seconds=60,
    description="A full build when payment or bank files land.",
    default_status=DefaultSensorStatus.RUNNING,  # a build, like the daily one: no mail
)
def new_payment_files(context: SensorEvaluationContext):
    signature = landing_signature()
    if context.cursor is None:
        context.update_cursor(signature)  # the files present when the sensor starts are not news
        return SkipReason("remembered the files already there")
    if signature == context.cursor:
        return SkipReason("no new payment or bank files")
    context.update_cursor(signature)
    return RunRequest(run_key=signature)


@dataclass(frozen=True)
class FailedRun:
    job: str
    run_id: str
    step: str | None  # None: the run failed outside a step (e.g. it could not start)
    error: str  # one line


def failed_run(context: RunFailureSensorContext) -> FailedRun:
    from orchestration.runner import cause_line, error_messages, failure_reason

    run = context.dagster_run
    failures = context.get_step_failure_events()
    if failures:
        first = failures[0]
        # "raw_erp: erp: cannot connect to ...": the same line `o2c run` prints
        error = failure_reason(first.step_key, error_messages(first.event_specific_data.error))
        return FailedRun(run.job_name, run.run_id, first.step_key, error)
    # Failed before any step: the warehouse busy or corrupt (orchestration/defs/execution.py).
    error = getattr(context.failure_event.event_specific_data, "error", None)
    if error is not None:
        return FailedRun(run.job_name, run.run_id, None, cause_line(error_messages(error)))
    message = context.failure_event.message or "failed"
    return FailedRun(run.job_name, run.run_id, None, message.splitlines()[0])


def notify(failed: FailedRun, settings: Settings) -> list[str]:
    """Email O2C_ALERT_EMAILS and POST O2C_ALERT_WEBHOOK_URL (JSON) about a failed run; where it
    went (empty when neither is set)."""
    from alerts.mail import send
    from alerts.runner import smtp_settings

    told = []
    recipients = [x.strip() for x in (settings.alert_emails or "").split(",") if x.strip()]
    step = failed.step or "(no step)"
    if recipients:
        message = EmailMessage()
        message["From"] = settings.mail_from
        message["To"] = ", ".join(recipients)
        message["Subject"] = f"o2c run failed: {failed.job}, step {step}"
        message.set_content(
            f"Job: {failed.job}\nRun: {failed.run_id}\nFailed step: {step}\nError: {failed.error}\n\n"
            "The serving file was not replaced: the dashboards show the last good build.\n"
        )
        send([message], smtp_settings(settings), on_sent=lambda _: None)
        told.append("email")
    if settings.alert_webhook_url is not None:
        body = json.dumps({"event": "run_failed", **failed.__dict__}).encode()
        request = urllib.request.Request(
            settings.alert_webhook_url.get_secret_value(),
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass  # urlopen raises on an HTTP error status
        told.append("webhook")
    return told


@run_failure_sensor(
    name="run_failure_notice",
    monitor_all_code_locations=False,
    # Running: it says nothing until O2C_ALERT_EMAILS or O2C_ALERT_WEBHOOK_URL is set.
    default_status=DefaultSensorStatus.RUNNING,
    description="Email O2C_ALERT_EMAILS and POST O2C_ALERT_WEBHOOK_URL when a run fails.",
)
def run_failure_notice(context: RunFailureSensorContext) -> None:
    failed = failed_run(context)
    told = notify(failed, get_settings())
    context.log.info(f"run {failed.run_id} failed at {failed.step}: told {', '.join(told) or 'no one (not set)'}")


defs = Definitions(
    jobs=[full_build, ingest_only, dbt_only, publish_only], sensors=[new_payment_files, run_failure_notice]
)
