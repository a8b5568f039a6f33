"""Which raw loads the GX suites have already checked, so that a run checks only what changed.

The run's check step validates each entity's latest load. When nothing a suite reads has changed
since it last passed (a second run in a day, a rerun after a fix elsewhere, a source with nothing
new today), running it again gives the same verdict, at the cost of Great Expectations' import
and a validation per entity: most of the step in a run with nothing new. So the inputs of each
check are recorded beside its results (quality_state.gx_checked_inputs), and a check whose
inputs are the same, and whose every recorded result passed, carries those results forward.
A check with a failure or a warning always runs again: it blocks, or is shown, from this run's
own validation, and a failure that came from the check itself (an error inside Great
Expectations) is not kept.

What a suite reads (`_inputs`):
- its entity's table in the source's raw schema: its rows (how many, and the newest dlt load id
  among them, which any committed write changes, logged or not) and its loads (the load log,
  whose latest load with rows is the one validated, and whose earlier ones set the expected size);
- the same of the tables of the entities it refers to or takes a date from, in every raw schema
  (another source may hold the key);
- the FX table's currencies, when it has a currency rule;
- the code and libraries that validate (`CODE_VERSION`).
Today's date counts for the plausible-date rule alone, whose window ends a fixed number of days
after today: it only widens as days pass, so a pass stays a pass.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

from core import db
from ingestion import warehouse
from ingestion.contract import ENTITIES
from quality.results import QUALITY_SCHEMA, RESULTS_TABLE, CheckResult
from quality.rules import JOINED_DATES, LATE_REFERENCES

# Bookkeeping of the check step, outside the schemas the publish step copies to the serving file
# (orchestration/serving.py): nothing a reader of the marts needs.
STATE_SCHEMA = "quality_state"
INPUTS_TABLE = "gx_checked_inputs"

_ROOT = Path(__file__).parents[1]
# What decides a verdict besides the data: a change to any of it checks everything again.
_CODE = ("quality/suites.py", "quality/rules.py", "quality/results.py", "ingestion/contract.py",
         "ingestion/warehouse.py", "core/db.py")  # fmt: skip
_LIBRARIES = ("great_expectations", "pandas", "numpy", "pyarrow", "polars", "duckdb")


def _code_version() -> str:
    digest = hashlib.sha256()
    for name in _CODE:
        digest.update((_ROOT / name).read_bytes())
    for library in _LIBRARIES:
        digest.update(f"{library} {importlib.metadata.version(library)}".encode())
    return digest.hexdigest()


# Taken when the definitions load, with the rules they loaded: a file edited during a run is
# the next run's.
CODE_VERSION = _code_version()

Key = tuple[str, str]  # (source, entity)


@dataclass(frozen=True)
class Carried:
    run_id: str  # the run that checked the same inputs
    results: list[CheckResult]


def read_tables(entity: str) -> set[str]:
    """The entities whose tables (in any raw schema) a suite on `entity` reads besides its own:
    those it refers to (quality/suites.py validate_source checks each reference) and the one it
    takes a date from."""
    spec = ENTITIES[entity]
    parents = {parent for _, parent in [*spec.references, *LATE_REFERENCES.get(entity, [])]}
    if entity in JOINED_DATES:
        parents.add(JOINED_DATES[entity][1])
    return parents


class _TableStates:
    """Each raw table's rows and loads, read once per table for all the entities that read it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        raw = "table_schema like 'raw\\_%' escape '\\' and table_schema not like '%\\_staging' escape '\\'"
        self.tables = set(
            con.execute(f"select table_schema, table_name from information_schema.tables where {raw}").fetchall()
        )
        self.stamped = set(
            con.execute(
                f"select table_schema, table_name from information_schema.columns where {raw} and column_name = '_dlt_load_id'"
            ).fetchall()
        )
        self.states: dict[tuple[str, str], list[object]] = {}
        self._currencies: list[str] | None = None

    def schemas_with(self, table: str) -> list[str]:
        return sorted(s for s, t in self.tables if t == table)

    def currencies(self) -> list[str]:
        if self._currencies is None:
            self._currencies = warehouse.fx_currencies(self.con)
        return self._currencies

    def state(self, schema: str, table: str) -> list[object]:
        if (schema, table) not in self.states:
            self.states[(schema, table)] = self._read(schema, table)
        return self.states[(schema, table)]

    def _read(self, schema: str, table: str) -> list[object]:
        if (schema, table) not in self.tables:
            return [schema, table, None, None, None]
        newest = "max(_dlt_load_id)" if (schema, table) in self.stamped else "null"
        rows, newest_load = self.con.execute(f'select count(*), {newest} from "{schema}"."{table}"').fetchall()[0]
        return [schema, table, rows, newest_load, warehouse.loads_with_rows(self.con, schema, table)]


def _inputs(states: _TableStates, source: str, entity: str) -> str:
    read = [states.state(f"raw_{source}", entity)]
    read += [
        states.state(schema, parent) for parent in sorted(read_tables(entity)) for schema in states.schemas_with(parent)
    ]
    if any(rule.check == "currency" for rule in ENTITIES[entity].rules):
        read.append(states.currencies())
    return hashlib.sha256(json.dumps([CODE_VERSION, read], default=str).encode()).hexdigest()


_COLUMNS = {"source": "varchar", "entity": "varchar", "inputs": "varchar", "run_id": "varchar", "results": "integer"}


def _inputs_table(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the inputs table is there as this code writes it. One of another shape (kept by an
    earlier version) is dropped: it only saves work, and without it every check runs once."""
    columns = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
            "order by ordinal_position",
            [STATE_SCHEMA, INPUTS_TABLE],
        ).fetchall()
    ]
    if columns and columns != list(_COLUMNS):
        con.execute(f"drop table {STATE_SCHEMA}.{INPUTS_TABLE}")
    return columns == list(_COLUMNS)


def _recorded(con: duckdb.DuckDBPyConnection) -> dict[Key, tuple[str, str, int]]:
    if not _inputs_table(con):
        return {}
    rows = con.execute(f"select source, entity, inputs, run_id, results from {STATE_SCHEMA}.{INPUTS_TABLE}")
    return {(source, entity): tuple(rest) for source, entity, *rest in rows.fetchall()}


def _results_of(con: duckdb.DuckDBPyConnection, run_id: str, source: str, entity: str) -> list[CheckResult]:
    rows = con.execute(
        "select suite, source, entity, expectation, column_name, severity, success, rows_checked, unexpected_count, "
        f"sample_unexpected from {QUALITY_SCHEMA}.{RESULTS_TABLE} where run_id = ? and source = ? and entity = ? "
        "and suite = ? order by expectation, column_name",
        [run_id, source, entity, f"raw_{entity}"],
    ).fetchall()
    return [CheckResult(*row[:9], sample=json.loads(row[9] or "[]")) for row in rows]


def plan(con: duckdb.DuckDBPyConnection, chosen: dict[str, list[str]]) -> tuple[dict[Key, Carried], dict[Key, str]]:
    """The checks whose recorded results still hold, and the inputs of every chosen check now."""
    states = _TableStates(con)
    now = {
        (source, entity): _inputs(states, source, entity) for source, entities in chosen.items() for entity in entities
    }
    recorded = _recorded(con)
    carried: dict[Key, Carried] = {}
    for key, inputs in now.items():
        if key not in recorded or recorded[key][0] != inputs:
            continue
        _, run_id, count = recorded[key]
        results = _results_of(con, run_id, *key)
        # Every result still there (a results table pruned by hand must not pass a check empty),
        # and every one a pass.
        if len(results) == count and all(r.success for r in results):
            carried[key] = Carried(run_id, results)
    return carried, now


def record(con: duckdb.DuckDBPyConnection, inputs: dict[Key, str], results: list[CheckResult], run_id: str) -> None:
    """Keep the inputs of the checks `run_id` ran, and how many results each recorded, one row
    per source entity: its latest check."""
    counts = Counter((r.source, r.entity) for r in results)
    if not _inputs_table(con):
        columns = ", ".join(f"{name} {type_}" for name, type_ in _COLUMNS.items())
        con.execute(f"create schema if not exists {STATE_SCHEMA}")
        con.execute(f"create table {STATE_SCHEMA}.{INPUTS_TABLE} ({columns}, primary key (source, entity))")
    con.executemany(
        f"insert or replace into {STATE_SCHEMA}.{INPUTS_TABLE} values (?, ?, ?, ?, ?)",
        [[source, entity, value, run_id, counts[(source, entity)]] for (source, entity), value in inputs.items()],
    )


def check_changed(
    path: Path, chosen: dict[str, list[str]], *, run_id: str, docs_dir: Path | None = None, recheck: bool = False
) -> tuple[list[CheckResult], dict[Key, str]]:
    """Run the suites of `chosen` (source: entities) whose inputs changed since they last passed
    (all of them with `recheck`), and carry the others' results forward: every result, and the
    run each carried one is from."""
    with contextlib.closing(db.connect(path)) as con:
        carried, inputs = plan(con, chosen)
    if recheck:
        carried = {}
    results = [r for c in carried.values() for r in c.results]
    to_check = {s: [e for e in entities if (s, e) not in carried] for s, entities in chosen.items()}
    to_check = {s: entities for s, entities in to_check.items() if entities}
    if to_check:
        # Imported only when something is to be checked: Great Expectations takes seconds.
        from quality.suites import check_warehouse

        checked = check_warehouse(
            path, list(to_check), lambda source: to_check[source], run_id=run_id, docs_dir=docs_dir
        )
        with contextlib.closing(db.connect(path)) as con:
            record(con, {(s, e): inputs[(s, e)] for s, entities in to_check.items() for e in entities}, checked, run_id)
        results += checked
    return results, {key: c.run_id for key, c in carried.items()}
