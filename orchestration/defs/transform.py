"""dbt models as assets; every dbt test is an asset check on the model it tests."""

from collections.abc import Mapping
from typing import Any

from dagster import AssetExecutionContext, AssetSpec, Config, Definitions
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, DbtProject, dbt_assets

from orchestration.dbt_runner import DBT_EXECUTABLE, DBT_PROJECT
from orchestration.resources import WAREHOUSE_POOL

dbt_project = DbtProject(project_dir=DBT_PROJECT, profiles_dir=DBT_PROJECT)
# In `dagster dev` the manifest is parsed on load; `o2c run`, tests and deployments parse first.
dbt_project.prepare_if_dev()


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


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    pool=WAREHOUSE_POOL,
    dagster_dbt_translator=LayerTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True)),
)
def o2c_dbt_assets(context: AssetExecutionContext, dbt: DbtCliResource, config: DbtBuildConfig):
    # dbt's profile reads O2C_WAREHOUSE_PATH, exported by the entry point (o2c run, o2c ui).
    args = ["build", *(["--full-refresh"] if config.full_refresh else [])]
    yield from dbt.cli(args, context=context).stream()


defs = Definitions(
    assets=[o2c_dbt_assets],
    resources={"dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=str(DBT_EXECUTABLE))},
)
