"""dbt models as assets. dbt's data tests run inside the same `dbt build` (a failing error test
fails the step, so nothing downstream builds or publishes) and are recorded in quality.dq_results,
not made Dagster asset checks: at two Dagster events per test (planned, evaluated), the 330
tests cost each run 15 s of event storage, and the publish step and the run summary read them
from dq_results (quality.dbt_results.dbt_results_of_run)."""

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from dagster import AssetExecutionContext, AssetObservation, AssetSpec, Config, Definitions
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from core.settings import get_settings
from orchestration.dbt_runner import (
    BUILD,
    DBT_EXECUTABLE,
    DBT_PROJECT,
    dbt_environment,
    on_engine,
    reusing_parse,
    run_output_dir,
)
from orchestration.resources import WAREHOUSE_POOL
from quality.dbt_results import record_dbt_results

# The manifest is parsed before this module is imported, as dagster-dbt recommends (a manifest
# built ahead, not at import): by `make setup`, `o2c run`, and on each code load in `dagster dev`
# (orchestration/definitions.py).
dbt_project = DbtProject(project_dir=DBT_PROJECT, profiles_dir=DBT_PROJECT)


class LayerTranslator(DagsterDbtTranslator):
    """Models grouped by layer (staging, intermediate, marts)."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["nodes"].get(unique_id)
        if node is not None and node["resource_type"] in ("model", "seed", "snapshot") and len(node["fqn"]) > 2:
            return spec.replace_attributes(group_name=node["fqn"][1])
        return spec


class DbtBuildConfig(Config):
    full_refresh: bool = False


TRANSLATOR = LayerTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=False))


# Every model, the ones that score past forecasts (forecasts.*_vs_actual) included: they read the
# forecast histories as the earlier runs left them, which scores the same weeks as reading them
# after this run's forecasts (dbt_project/models/forecasts/_forecasts__sources.yml says why).
@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    pool=WAREHOUSE_POOL,
    dagster_dbt_translator=TRANSLATOR,
)
def o2c_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    args = [*BUILD, *(["--full-refresh"] if config.full_refresh else [])]
    yield from _build(context, dbt, args)


def _build(context: AssetExecutionContext, dbt: DbtCliResource, args: list[str]) -> Iterator:
    # dbt's profile and vars read O2C_WAREHOUSE_PATH and co. from the environment, which dbt
    # inherits from this process: set from the settings as they are now, for this call only.
    settings = get_settings()
    # Its output under the data directory, removed by the next run (orchestration.runner.prepare_run).
    target = run_output_dir(settings.data_dir) / f"{context.op_execution_context.op.name}-{context.run.run_id[:8]}"
    # On Spark, the lake is written first: the environment lists its tables.
    with (
        on_engine(settings, target),
        _environment(dbt_environment(settings.warehouse)),
        reusing_parse(settings.data_dir, target),
    ):
        invocation = dbt.cli([*args, "--target", settings.dbt_target], context=context, target_path=target)
        try:
            # dagster-dbt reports each data test as an AssetObservation when tests are not asset
            # checks: 330 more Dagster events a run (about 7 s), saying what dq_results holds.
            yield from (event for event in invocation.stream() if not isinstance(event, AssetObservation))
        finally:
            # Failed tests too (dbt then fails the step, after the stream): the data-health page
            # reads every check's result from quality.dq_results.
            try:
                recorded = record_dbt_results(settings.warehouse, invocation.target_path, context.run.run_id)
                context.log.info(f"{len(recorded)} dbt test results recorded in quality.dq_results")
            except Exception as error:  # never hides dbt's own error, which the step raises
                context.log.error(f"dbt test results not recorded in quality.dq_results: {error}")


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class DbtCli(DbtCliResource):
    """dagster-dbt's dbt CLI resource without the dbt adapter it builds in this process before
    each command: that adapter only serves its column-metadata and row-count helpers, which o2c
    does not call, and building it (importing dbt and its DuckDB adapter, reading the profile and
    project) took 3.7 s of every run before dbt itself started (docs/performance.md)."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None


defs = Definitions(
    assets=[o2c_dbt_assets],
    resources={"dbt": DbtCli(project_dir=dbt_project, dbt_executable=str(DBT_EXECUTABLE))},
)
