"""Outgoing messages on schedules: collector reports (working mornings), the CFO digest (Mondays),
dunning (working mornings), and after every published build the threshold alerts and the
credit-hold write-back. The logic is in alerts/; the send log makes every job safe to rerun."""

from dagster import (
    AssetKey,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    EventLogEntry,
    Failure,
    OpExecutionContext,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    asset_sensor,
    in_process_executor,
    job,
    op,
)

from alerts import runner
from alerts.mail import SmtpError
from alerts.sendlog import SendingHeld
from core.settings import Settings, get_settings

SERVING_KEY = AssetKey(["serving", "warehouse"])


def _send(context: OpExecutionContext, kind: str) -> None:
    try:
        outcome = runner.run(kind, get_settings())
    except SendingHeld as held:
        raise Failure(description=f"{kind}: sending held — {held}") from held
    except SmtpError as error:
        raise Failure(description=f"{kind}: {error}. Nothing unsent was recorded; the next run sends it.") from error
    for warning in outcome.warnings + outcome.skipped + outcome.refused:
        context.log.warning(warning)
    context.log.info(outcome.summary())
    if outcome.refused:
        raise Failure(
            description=f"{kind}: the server refused {len(outcome.refused)} messages (see the warnings); the rest went"
        )


@op
def send_collector_reports(context: OpExecutionContext) -> None:
    _send(context, "collector_reports")


@op
def send_cfo_digest(context: OpExecutionContext) -> None:
    _send(context, "cfo_digest")


@op
def send_dunning(context: OpExecutionContext) -> None:
    _send(context, "dunning")


@op
def send_threshold_alerts(context: OpExecutionContext) -> None:
    _send(context, "threshold_alerts")


@op
def write_credit_holds(context: OpExecutionContext) -> None:
    context.log.info(f"credit-hold recommendations: {runner.write_back(get_settings())}")


# The alert jobs read the serving file and the ops store, never the warehouse: they run without
# the warehouse lock (orchestration/defs/execution.py), beside a build.
@job(executor_def=in_process_executor, description="Each collector's exceptions, one email each.")
def collector_reports():
    send_collector_reports()


@job(executor_def=in_process_executor, description="The weekly CFO digest.")
def cfo_digest():
    send_cfo_digest()


@job(executor_def=in_process_executor, description="Dunning reminders at the configured levels.")
def dunning():
    send_dunning()


@job(
    executor_def=in_process_executor,
    description="Threshold alerts and the credit-hold write-back, after each published build.",
)
def after_publish():
    send_threshold_alerts()
    write_credit_holds()


def schedule_defs(settings: Settings) -> Definitions:
    """Stopped until an operator turns them on (after configuring SMTP): no surprise emails. Their
    timezone is read when the definitions load (Dagster fixes a schedule's times then)."""

    def schedule(name: str, target, cron: str) -> ScheduleDefinition:
        return ScheduleDefinition(
            name=name,
            job=target,
            cron_schedule=cron,
            execution_timezone=settings.schedule_timezone,
            default_status=DefaultScheduleStatus.STOPPED,
        )

    return Definitions(
        schedules=[
            schedule("collector_reports_daily", collector_reports, "0 7 * * 1-5"),
            schedule("cfo_digest_weekly", cfo_digest, "30 7 * * 1"),
            schedule("dunning_daily", dunning, "0 8 * * 1-5"),
        ]
    )


@asset_sensor(asset_key=SERVING_KEY, job=after_publish, default_status=DefaultSensorStatus.STOPPED)
def alerts_after_publish(context: SensorEvaluationContext, asset_event: EventLogEntry):
    yield RunRequest(run_key=asset_event.run_id)


defs = Definitions(
    jobs=[collector_reports, cfo_digest, dunning, after_publish],
    sensors=[alerts_after_publish],
)
