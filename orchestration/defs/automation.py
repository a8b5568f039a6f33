"""Jobs, the daily schedule and the landing-folder sensor."""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
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


defs = Definitions(jobs=[full_build, ingest_only, dbt_only, publish_only], sensors=[new_payment_files])
