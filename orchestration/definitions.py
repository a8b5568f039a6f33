"""The o2c asset graph: sources → dbt models (tests as checks) → forecasts → published serving file,
and the jobs that send what it says (alerts).

Importing this module does nothing but define `defs`: Dagster calls it when it loads the code
location (`dagster dev -m orchestration.definitions`, `dagster definitions validate`, `o2c run`).
The graph has the same shape whatever the settings say; steps read the settings when they run.
"""

from dagster import Definitions, definitions


@definitions
def defs() -> Definitions:
    from dagster_dbt.dbt_project import using_dagster_dev

    from orchestration.dbt_runner import prepare_manifest

    # dagster-dbt's practice: the manifest is built ahead (`make setup`, `o2c run`; a deployment's
    # `dagster-dbt project prepare-and-package`), and re-parsed on each load only under
    # `dagster dev`, so edited models show on a reload. That is DbtProject.prepare_if_dev, done here
    # with the dbt beside this Python (prepare_if_dev runs the `dbt` on PATH) and before the dbt
    # assets below read the manifest.
    if using_dagster_dev():
        prepare_manifest()

    from core.settings import get_settings
    from orchestration.defs import alerts, automation, execution, forecasting, publish, quality, sources, transform

    # Only what Dagster fixes when it loads (schedule times); no shape.
    settings = get_settings()
    return Definitions.merge(
        sources.defs,
        sources.freshness_defs,
        quality.defs,
        transform.defs,
        forecasting.defs,
        publish.defs,
        automation.defs,
        automation.schedule_defs(settings),
        alerts.defs,
        alerts.schedule_defs(settings),
        execution.defs,
    )
