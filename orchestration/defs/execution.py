"""How the pipeline's runs execute under Dagster (the UI, the daemon's schedules and sensors): in
one process that holds the warehouse lock (orchestration/warehouse_lock.py) from its first step to
its last, so a run never interleaves with another run or an `o2c` command that writes the
warehouse. Every step of a build belongs to the single-slot warehouse pool anyway, so running
them in one process costs no parallelism; and dbt, started from that process, dies with it.

`o2c run` executes in its own process (execute_in_process), after taking the same lock itself.
"""

from collections.abc import Iterator

from dagster import Definitions, executor
from dagster._core.definitions.executor_definition import IN_PROC_CONFIG
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.in_process import InProcessExecutor

from core.settings import get_settings
from orchestration.runner import prepare_run
from orchestration.warehouse_lock import warehouse_lock


class WarehouseExecutor(InProcessExecutor):
    """Dagster's in-process executor, inside the warehouse lock, after what earlier runs left
    behind is cleaned (orchestration.runner.prepare_run)."""

    def execute(self, plan_context, execution_plan) -> Iterator:
        settings = get_settings()  # read when the run starts, as every step does
        with warehouse_lock(
            settings.warehouse,
            f"dagster run {plan_context.run_id}",
            wait_seconds=settings.lock_wait_seconds,
            on_wait=plan_context.log.warning,
        ):
            prepare_run(settings)
            yield from super().execute(plan_context, execution_plan)


@executor(name="warehouse_in_process", config_schema=IN_PROC_CONFIG)
def warehouse_executor(init_context) -> WarehouseExecutor:
    return WarehouseExecutor(retries=RetryMode.from_config(init_context.executor_config["retries"]))


# The default of every job that does not name its own: the asset jobs and the UI's ad-hoc
# materializations. The alert jobs, which read the serving file only, run beside a build.
defs = Definitions(executor=warehouse_executor)
