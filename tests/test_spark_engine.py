"""O2C_ENGINE=spark: the same dbt project, built by a local Apache Spark (dbt-spark's session
method, in the `o2c build` process), gives the same marts as DuckDB on the same world: every mart
row for row, and the figures a CFO reads to the cent."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.conftest import END, O2C

# A small world: Spark's cost is per statement, not per row, and equality needs no volume.
DBT_BUILT_IN_TESTS = ("not_null", "unique", "relationships", "accepted_values")
WORLD = ["--customers", "25", "--days", "150", "--end-date", END.isoformat(), "--seed", "11"]


def o2c(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
    environment = {**os.environ, "O2C_DATA_DIR": str(data_dir), "COLUMNS": "200", **(env or {})}
    result = subprocess.run([*O2C, *args], env=environment, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One world ingested once, then built by DuckDB and by Spark: the two warehouses."""
    root = tmp_path_factory.mktemp("engines")
    on_duckdb, on_spark = root / "duckdb", root / "spark"
    o2c(on_duckdb, "simulate", *WORLD)
    o2c(on_duckdb, "ingest")
    shutil.copytree(on_duckdb, on_spark)
    o2c(on_duckdb, "build")
    # One shuffle partition: a few hundred rows per table (the setting a cluster raises). Every
    # model, and every data test of the project's own making (its generic tests and singular
    # ones, whose SQL must be portable); dbt's built-in not_null, unique, relationships and
    # accepted_values are dbt-spark's to keep portable, and on marts equal to DuckDB's they give
    # DuckDB's results: 182 statements left out. `make bench SPARK=1`
    # builds everything on Spark.
    o2c(
        on_spark,
        "build",
        "--exclude",
        " ".join(f"test_name:{name}" for name in DBT_BUILT_IN_TESTS),
        env={"O2C_ENGINE": "spark", "O2C_SPARK_SHUFFLE_PARTITIONS": "1"},
    )
    return on_duckdb / "warehouse" / "warehouse.duckdb", on_spark / "warehouse" / "warehouse.duckdb"


def marts(warehouse: Path) -> dict[str, pl.DataFrame]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        names = [
            r[0] for r in con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
        ]
        return {name: pl.from_arrow(con.sql(f"select * from marts.{name}").to_arrow_table()) for name in names}
    finally:
        con.close()


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """Numbers as floats rounded to 6 places (the engines' decimal scales of derived figures may
    differ, their values may not), rows in one order."""
    numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
    frame = frame.with_columns(pl.col(numeric).cast(pl.Float64).round(6))
    return frame.sort(frame.columns, nulls_last=True)


def figure(warehouse: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_every_mart_is_the_same_row_for_row(engines: tuple[Path, Path]) -> None:
    on_duckdb, on_spark = (marts(w) for w in engines)
    assert set(on_spark) == set(on_duckdb) and len(on_duckdb) >= 30
    assert on_duckdb["fct_invoices"].height > 200  # the world has something to compare
    for name, expected in on_duckdb.items():
        actual = on_spark[name]
        assert actual.columns == expected.columns, name
        assert actual.height == expected.height, (name, actual.height, expected.height)
        assert comparable(actual).equals(comparable(expected)), name


def test_open_ar_dso_and_cash_applied_are_the_same_to_the_cent(engines: tuple[Path, Path]) -> None:
    on_duckdb, on_spark = engines
    for sql in (
        # open AR at each month-end, and the cash that paid it
        "select period_end, ending_ar_rc, cash_collected_rc, unapplied_cash_rc from marts.fct_ar_monthly order by 1",
        # the DSO family, per month (days to two places, as the dashboards show them)
        "select period_end, open_ar_rc, round(dso_simple, 2), round(dso_countback, 2), round(bpdso, 2), "
        "round(add_days, 2), round(dso_net, 2), round(cei, 2) from marts.fct_ar_kpis_monthly order by 1",
        # cash applied, by method
        "select match_method, count(*), sum(applied_amount_rc) from marts.fct_cash_applications group by 1 order by 1",
    ):
        expected = figure(on_duckdb, sql)
        assert expected, sql
        assert figure(on_spark, sql) == expected, sql


def test_the_projects_own_data_tests_pass_on_spark(engines: tuple[Path, Path]) -> None:
    """Every test of the project's own making ran on Spark and passed; dbt's built-in ones were
    left to DuckDB (the fixture says why)."""
    _, on_spark = engines
    (results,) = (on_spark.parent.parent / "dbt_runs").glob("o2c-build-*/target/run_results.json")
    tests = [r for r in json.loads(results.read_text())["results"] if r["unique_id"].startswith("test.")]
    assert len(tests) >= 50
    assert {r["status"] for r in tests} == {"pass"}, [r["unique_id"] for r in tests if r["status"] != "pass"]
    nodes = json.loads((results.parent / "manifest.json").read_text())["nodes"]
    kinds = {(nodes[r["unique_id"]].get("test_metadata") or {}).get("name", "singular") for r in tests}
    assert {
        "singular",
        "positive",
        "unique_combination",
        "has_rows_when_built_from_has_rows",
        "not_null_columns",
    } <= kinds
    assert not kinds & set(DBT_BUILT_IN_TESTS)


def test_no_sql_string_escapes_a_quote_by_doubling_it() -> None:
    """Spark reads 'invoice''s' as two literals side by side, 'invoices' (found at scale m in a
    suggestion's reason), where DuckDB reads an apostrophe: the project's SQL has no such literal."""
    project = Path(__file__).parent.parent / "dbt_project"
    doubled = re.compile(r"\w''\w")
    found = [
        f"{path.relative_to(project)}:{number}"
        for folder in ("models", "macros", "tests")
        for path in sorted((project / folder).rglob("*.sql"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if doubled.search(line)
    ]
    assert found == []


def _arguments(text: str, opening: int) -> str:
    """The text between the parenthesis at `opening` and the one that closes it."""
    depth = 0
    for index in range(opening, len(text)):
        depth += {"(": 1, ")": -1}.get(text[index], 0)
        if depth == 0:
            return text[opening + 1 : index]
    return text[opening + 1 :]


def _without_six_place_decimal_casts(expression: str) -> str:
    """`expression` with each `cast(… as decimal(p, 6))` taken out: a quotient brought to 6 decimal
    places is the same on both engines before it is rounded (macros/cross_db.sql rounded_quotient)."""
    while True:
        for cast in re.finditer(r"\bcast\s*\(", expression):
            inner = _arguments(expression, cast.end() - 1)
            if re.search(r"\bas\s+decimal\s*\(\s*\d+\s*,\s*6\s*\)\s*$", inner):
                expression = expression[: cast.start()] + expression[cast.end() + len(inner) + 1 :]
                break
        else:
            return expression


def test_every_rounded_quotient_is_rounded_from_six_decimals() -> None:
    """DuckDB divides decimals into a double, Spark into a decimal, so `round(a / b, 2)` rounds an
    exact half such as 0.145 apart (0.14 on DuckDB, a double a hair below the half; 0.15 on
    Spark). A quotient rounded in the same expression goes through `rounded_quotient` (or a cast
    to 6 decimal places first). The KPI macros, CEI, turnover and OTIF had it this way until
    2026-12-03; a quotient computed in one select and rounded in another is not seen here."""
    project = Path(__file__).parent.parent / "dbt_project"
    found = []
    for folder in ("models", "macros"):
        for path in sorted((project / folder).rglob("*.sql")):
            text = re.sub(r"\{#.*?#\}", "", re.sub(r"--[^\n]*", "", path.read_text()), flags=re.S)
            for call in re.finditer(r"\bround\s*\(", text):
                if "/" in _without_six_place_decimal_casts(_arguments(text, call.end() - 1)):
                    found.append(f"{path.relative_to(project)}:{text[: call.start()].count(chr(10)) + 1}")
    assert found == []
