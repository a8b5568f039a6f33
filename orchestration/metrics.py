"""`o2c metrics`: the dbt metrics (dbt_project/models/semantic/) queried with MetricFlow on the
published serving file, read-only.

MetricFlow turns a request (metrics, group-bys, filters) into SQL from dbt's semantic manifest; we
run that SQL ourselves on the serving file attached read-only, so a metric query can never lock
or change the warehouse the pipeline writes (ARCHITECTURE.md rules 1 and 2). The `mf` CLI of
dbt-metricflow does the same through dbt's adapter, which would open warehouse.duckdb read-write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import duckdb
import polars as pl
import typer
from rich.console import Console
from rich.table import Table

from core.serving import LOCKDOWN
from orchestration import dbt_runner

if TYPE_CHECKING:
    from metricflow.engine.metricflow_engine import MetricFlowEngine


class MetricsError(Exception):
    """A metric query that cannot run: the message says which metric, group-by or file."""


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    description: str
    group_bys: list[str]


def semantic_manifest_path() -> Path:
    """dbt's semantic manifest, parsed again when a model or YAML file changed since (the same
    parse as the Dagster definitions' manifest), or when a parse before this feature left none."""
    dbt_runner.prepare_manifest_if_stale()
    if not dbt_runner.SEMANTIC_MANIFEST.exists():
        dbt_runner.prepare_manifest()
    return dbt_runner.SEMANTIC_MANIFEST


def _warehouse_catalog(manifest_text: str) -> str:
    """The catalog name the manifest's relations are qualified with ("warehouse"."marts"."…"): the
    DuckDB file dbt builds is warehouse.duckdb. The serving file is attached under this name, so
    MetricFlow's SQL reads the published copies of the same tables."""
    catalogs = {model["node_relation"]["database"] for model in json.loads(manifest_text)["semantic_models"]}
    if len(catalogs) != 1:
        raise MetricsError(f"semantic models span several databases {sorted(catalogs)}: expected one warehouse")
    return catalogs.pop()


def one_line(report: str) -> str:
    """MetricFlow's query-resolution report ("Error #1: Message: … Suggestions: … Query Input: …")
    in one line: what was given, what is wrong with it, what would match."""
    first = report.split("Error #2:")[0]
    sections: dict[str, str] = {}
    current = "head"
    for line in first.splitlines():
        key = line.strip().rstrip(":")
        if line.strip().endswith(":") and key in {"Message", "Suggestions", "Query Input", "Issue Location"}:
            current = key
            continue
        sections[current] = f"{sections.get(current, '')} {line.strip()}".strip()
    if "Message" not in sections:
        return " ".join(report.split())[:300]
    message = sections["Message"].split(" Common issues")[0]
    text = f"{sections.get('Query Input', '?')!r}: {message}"
    if sections.get("Suggestions"):
        text += f" Did you mean one of {sections['Suggestions'].replace('[ ', '[').replace(', ]', ']')}?"
    return text


class _DuckDbDialect:
    """What MetricFlow needs to render SQL for DuckDB (its SqlClient protocol's engine and
    renderer); queries are run by `MetricsLayer.query` on its own read-only connection."""

    def __init__(self) -> None:
        from metricflow.protocols.sql_client import SqlEngine
        from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer

        self.sql_engine_type = SqlEngine.DUCKDB
        self.sql_plan_renderer = DuckDbSqlPlanRenderer()


class MetricsLayer:
    """MetricFlow over the semantic manifest, answering on the serving file."""

    def __init__(self, serving: Path, manifest: Path | None = None) -> None:
        from metricflow.engine.metricflow_engine import MetricFlowEngine
        from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
        from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

        if not serving.exists():
            raise MetricsError(f"no serving file at {serving}: run `o2c run` (or `make demo`) to publish one")
        text = (manifest or semantic_manifest_path()).read_text()
        self.serving = serving
        self.catalog = _warehouse_catalog(text)
        parsed = json.loads(text)
        # What each metric is and which tables it reads (its measures' semantic models), to say
        # why a query has no value of it (a company's data without, say, sales orders).
        tables = {
            measure["name"]: f"{model['node_relation']['schema_name']}.{model['node_relation']['alias']}"
            for model in parsed["semantic_models"]
            for measure in model.get("measures", [])
        }
        self.descriptions = {
            metric["name"]: " ".join((metric.get("description") or "").split()) for metric in parsed["metrics"]
        }
        self.metric_tables = {
            metric["name"]: sorted({tables[m["name"]] for m in metric["type_params"].get("input_measures") or []})
            for metric in parsed["metrics"]
        }
        lookup = SemanticManifestLookup(parse_manifest_from_dbt_generated_manifest(manifest_json_string=text))
        self.engine: MetricFlowEngine = MetricFlowEngine(lookup, _DuckDbDialect())  # type: ignore[arg-type]

    def list_metrics(self) -> list[MetricInfo]:
        out = []
        for metric in sorted(self.engine.list_metrics(include_dimensions=True), key=lambda m: m.name):
            group_bys = sorted({d.dunder_name for d in metric.dimensions})
            out.append(MetricInfo(metric.name, metric.label or metric.name, metric.description or "", group_bys))
        return out

    def sql(
        self,
        metrics: list[str],
        group_by: list[str] | None = None,
        where: list[str] | None = None,
        order_by: list[str] | None = None,
        limit: int | None = None,
    ) -> str:
        """MetricFlow's SQL for the request; an unknown metric or group-by is a MetricsError."""
        from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

        request = MetricFlowQueryRequest.create(
            metric_names=metrics,
            group_by_names=group_by or None,
            where_constraints=where or None,
            # Time first, the way people read a series, unless asked otherwise.
            order_by_names=order_by or group_by or None,
            limit=limit,
        )
        try:
            return self.engine.explain(request).sql_statement.without_descriptions.sql
        except Exception as error:  # MetricFlow's errors (unknown names) are multi-page reports
            raise MetricsError(
                f"metrics {','.join(metrics)} by {','.join(group_by or []) or '(nothing)'}: {one_line(str(error))}"
            ) from error

    def query(
        self,
        metrics: list[str],
        group_by: list[str] | None = None,
        where: list[str] | None = None,
        order_by: list[str] | None = None,
        limit: int | None = None,
    ) -> pl.DataFrame:
        sql = self.sql(metrics, group_by, where, order_by, limit)
        con = duckdb.connect(":memory:")
        try:
            con.execute(f'attach ? as "{self.catalog}" (read_only)', [str(self.serving)])
            for statement in LOCKDOWN:
                con.execute(statement)
            return pl.from_arrow(con.sql(sql).to_arrow_table())  # type: ignore[return-value]
        except duckdb.Error as error:
            raise MetricsError(f"metrics {metrics} on {self.serving}: {str(error).splitlines()[0]}") from error
        finally:
            con.close()

    def without_data(self, metrics: list[str], result: pl.DataFrame) -> str | None:
        """A note for the metrics a query found no value of (no rows, or only empty cells): what each
        is and the tables it reads, so a company whose data lacks an entity (say, sales orders)
        reads why instead of an empty table."""
        lines = [
            f"{metric}: no data in this build ({(self.descriptions.get(metric) or metric).rstrip('.')}; it reads "
            f"{', '.join(self.metric_tables.get(metric, [])) or 'no table'}): your data lacks what it is built "
            "from (docs/sources.md says which entity feeds which figure)"
            for metric in metrics
            if result.is_empty() or (metric in result.columns and result[metric].null_count() == result.height)
        ]
        return "\n".join(lines) or None


# ---- The `o2c metrics` commands (registered in orchestration/cli.py) ---------------------------

app = typer.Typer(help="The dbt metrics (DSO, CEI, open AR, cash collected…) queried with MetricFlow, read-only.")
console = Console()


def _names(text: str | None) -> list[str]:
    return [name.strip() for name in (text or "").split(",") if name.strip()]


def _layer() -> MetricsLayer:
    from core.settings import get_settings

    try:
        return MetricsLayer(get_settings().serving)
    except MetricsError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None


@app.command("list")
def list_command(
    dimensions: Annotated[
        bool, typer.Option("--dimensions", help="Also list what each metric can be grouped by.")
    ] = False,
) -> None:
    """Every metric with its label and definition (docs/metrics.md, "Querying metrics")."""
    table = Table("metric", "label", "definition", title="Metrics (o2c metrics query --metrics NAME,…)")
    for metric in _layer().list_metrics():
        table.add_row(metric.name, metric.label, metric.description)
        if dimensions:
            table.add_row("", "group by", ", ".join(metric.group_bys), end_section=True)
    console.print(table)


@app.command("query")
def query_command(
    metrics: Annotated[str, typer.Option(help="Metric names, comma-separated (o2c metrics list).")],
    group_by: Annotated[
        str | None, typer.Option(help="Group-bys, comma-separated: metric_time__month, customer__segment, …")
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            help="A filter in MetricFlow's syntax, e.g. \"{{ TimeDimension('metric_time', 'month') }} >= '2026-01-01'\"."
        ),
    ] = None,
    order_by: Annotated[
        str | None, typer.Option(help="Order, comma-separated; '-name' descending. Default: the group-bys.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
    csv: Annotated[Path | None, typer.Option(help="Write the result to this CSV file instead of printing it.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Print MetricFlow's SQL instead of running it.")] = False,
) -> None:
    """Query metrics on the serving file, e.g. `o2c metrics query --metrics open_ar,dso_simple --group-by metric_time__month`."""
    layer = _layer()
    args = (_names(metrics), _names(group_by), where, _names(order_by), limit)
    try:
        if explain:
            print(layer.sql(*args))
            return
        result = layer.query(*args)
    except MetricsError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    if note := layer.without_data(args[0], result):
        console.print(note, style="yellow", soft_wrap=True, markup=False)
    _show(result, csv)


def sql_command(
    query: Annotated[
        str, typer.Argument(help='SQL to run on the serving file, e.g. "select * from marts.dim_customers limit 5".')
    ],
    csv: Annotated[Path | None, typer.Option(help="Write the result to this CSV file instead of printing it.")] = None,
) -> None:
    """Run SQL on the published marts, read-only (no DuckDB CLI needed): the analyst's quick look."""
    from core.serving import open_read_only
    from core.settings import get_settings

    serving = get_settings().serving
    if not serving.exists():
        console.print(f"[red]no serving file at {serving}: run `o2c run` (or `make demo`) to publish one[/red]")
        raise typer.Exit(1)
    con = open_read_only(serving)
    try:
        result = pl.from_arrow(con.sql(query).to_arrow_table())
    except duckdb.Error as error:
        console.print(f"[red]{str(error).splitlines()[0]}[/red]")
        raise typer.Exit(1) from None
    finally:
        con.close()
    assert isinstance(result, pl.DataFrame)
    _show(result, csv)


def _show(result: pl.DataFrame, csv: Path | None) -> None:
    """A query's rows: into a CSV file when asked, else as a table on the terminal."""
    if csv is not None:
        result.write_csv(csv)
        console.print(f"{result.height:,} rows written to {csv}")
        return
    table = Table(*result.columns)
    for row in result.iter_rows():
        table.add_row(*("" if value is None else str(value) for value in row))
    console.print(table)
