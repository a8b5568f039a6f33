"""Which raw loads the GX suites have already checked, so that a run checks only what changed.

The run's check step validates each entity's latest load. When nothing a suite reads has changed
since it last ran (a second run in a day, a rerun after a fix, a source with nothing new today),
running it again gives the same verdict, at the cost of Great Expectations' import and a
validation per entity: most of the step in a run with nothing new. So the inputs of each check
are recorded beside its results (quality_state.gx_checked_inputs), and a check whose inputs are the
same carries its recorded results forward. A failed load keeps failing, and blocking the
publish, until its source sends something new.

What a suite reads (`_inputs`):
- its entity's table in the source's raw schema: its rows (how many) and its loads (the load log,
  whose latest load with rows is the one validated);
- the tables of the entities it refers to or takes a date from, in every raw schema (another
  source may hold the key);
- the FX table's currencies, when it checks currencies;
- the suites' own code (quality/suites.py, quality/rules.py, ingestion/contract.py).
Today's date counts for the plausible-date rule alone. Its window ends a fixed number of days
after today, so it only widens as days pass and a pass stays a pass; a recorded failure or
warning is checked again on a new day.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
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
FX_TABLE = ("raw_fx", "fx_rates")  # the currencies a currency rule accepts (quality/suites.py)
_CODE = (
    Path(__file__).with_name("suites.py"),
    Path(__file__).with_name("rules.py"),
    Path(__file__).parents[1] / "ingestion" / "contract.py",
)

Key = tuple[str, str]  # (source, entity)


@dataclass(frozen=True)
class Carried:
    run_id: str  # the run that checked the same inputs
    results: list[CheckResult]


@functools.cache
def _code_digest() -> str:
    digest = hashlib.sha256()
    for path in _CODE:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _read_tables(entity: str) -> set[str]:
    """The entities whose tables (in any raw schema) a suite on `entity` reads besides its own."""
    spec = ENTITIES[entity]
    parents = {parent for _, parent in [*spec.references, *LATE_REFERENCES.get(entity, [])]}
    if entity in JOINED_DATES:
        parents.add(JOINED_DATES[entity][1])
    return parents


class _TableStates:
    """Each raw table's rows and loads, read once per table for all the entities that read it."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.tables = set(
            con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema like 'raw\\_%' escape '\\' and table_schema not like '%\\_staging' escape '\\'"
            ).fetchall()
        )
        self.cache: dict[object, list] = {}

    def schemas_with(self, table: str) -> list[str]:
        return sorted(s for s, t in self.tables if t == table)

    def state(self, schema: str, table: str) -> list[object]:
        if (schema, table) not in self.cache:
            self.cache[(schema, table)] = self._read(schema, table)
        return self.cache[(schema, table)]

    def currencies(self) -> list[str]:
        """The currencies of the FX table, which a currency rule accepts (quality/suites.py): a
        day's new rates in known currencies change no check."""
        if "currencies" not in self.cache:
            schema, table = FX_TABLE
            self.cache["currencies"] = (
                [
                    r[0]
                    for r in self.con.execute(
                        f'select from_currency from "{schema}"."{table}" union '
                        f'select to_currency from "{schema}"."{table}" order by 1'
                    ).fetchall()
                ]
                if FX_TABLE in self.tables
                else []
            )
        return self.cache["currencies"]

    def _read(self, schema: str, table: str) -> list[object]:
        if (schema, table) not in self.tables:
            return [schema, table, None]
        (rows,) = self.con.execute(f'select count(*) from "{schema}"."{table}"').fetchall()[0]
        loads = None
        if (schema, warehouse.LOAD_LOG) in self.tables:
            (loads,) = self.con.execute(
                f"select string_agg(dlt_load_id || ':' || (rows_new + rows_updated), ',' order by finished_at, dlt_load_id) "
                f'from "{schema}".{warehouse.LOAD_LOG} where entity = ? and rows_new + rows_updated > 0 '
                "and dlt_load_id is not null",
                [table],
            ).fetchall()[0]
        return [schema, table, rows, loads]


def _inputs(states: _TableStates, source: str, entity: str) -> str:
    read = [states.state(f"raw_{source}", entity)]
    read += [
        states.state(schema, parent)
        for parent in sorted(_read_tables(entity))
        for schema in states.schemas_with(parent)
    ]
    if any(rule.check == "currency" for rule in ENTITIES[entity].rules):
        read.append(states.currencies())
    return hashlib.sha256(json.dumps([_code_digest(), read], default=str).encode()).hexdigest()


def _recorded(con: duckdb.DuckDBPyConnection) -> dict[Key, tuple[str, str, dt.date, int]]:
    if not db.table_exists(con, STATE_SCHEMA, INPUTS_TABLE):
        return {}
    rows = con.execute(f"select source, entity, inputs, run_id, checked_on, results from {STATE_SCHEMA}.{INPUTS_TABLE}")
    return {(source, entity): tuple(rest) for source, entity, *rest in rows.fetchall()}


def _results_of(con: duckdb.DuckDBPyConnection, run_id: str, source: str, entity: str) -> list[CheckResult]:
    rows = con.execute(
        "select suite, source, entity, expectation, column_name, severity, success, rows_checked, unexpected_count, "
        f"sample_unexpected from {QUALITY_SCHEMA}.{RESULTS_TABLE} where run_id = ? and source = ? and entity = ? "
        "and suite = ? order by expectation, column_name",
        [run_id, source, entity, f"raw_{entity}"],
    ).fetchall()
    return [CheckResult(*row[:9], sample=json.loads(row[9] or "[]")) for row in rows]


def plan(
    con: duckdb.DuckDBPyConnection, chosen: dict[str, list[str]], today: dt.date
) -> tuple[dict[Key, Carried], dict[Key, str]]:
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
        _, run_id, checked_on, count = recorded[key]
        results = _results_of(con, run_id, *key)
        # All of them still there (a results table pruned by hand must not make a failure a pass).
        if len(results) == count and (checked_on == today or all(r.success for r in results)):
            carried[key] = Carried(run_id, results)
    return carried, now


def record(
    con: duckdb.DuckDBPyConnection, inputs: dict[Key, str], results: list[CheckResult], run_id: str, today: dt.date
) -> None:
    """Keep the inputs of the checks `run_id` ran (and how many results each recorded), one row per
    source entity: the latest check."""
    counts = Counter((r.source, r.entity) for r in results)
    con.execute(f"create schema if not exists {STATE_SCHEMA}")
    con.execute(
        f"create table if not exists {STATE_SCHEMA}.{INPUTS_TABLE} (source varchar, entity varchar, inputs varchar, "
        "run_id varchar, checked_on date, results integer, primary key (source, entity))"
    )
    con.executemany(
        f"insert or replace into {STATE_SCHEMA}.{INPUTS_TABLE} values (?, ?, ?, ?, ?, ?)",
        [
            [source, entity, value, run_id, today, counts[(source, entity)]]
            for (source, entity), value in inputs.items()
        ],
    )


def check_changed(
    path: Path,
    chosen: dict[str, list[str]],
    *,
    run_id: str,
    docs_dir: Path | None = None,
    today: dt.date | None = None,
) -> tuple[list[CheckResult], dict[Key, str]]:
    """Run the suites of `chosen` (source: entities) whose inputs changed since their recorded
    results, and carry the others' forward: every result, and the run each carried one is from."""
    today = today or dt.date.today()
    with contextlib.closing(db.connect(path)) as con:
        carried, inputs = plan(con, chosen, today)
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
            ran = {(s, e): inputs[(s, e)] for s, entities in to_check.items() for e in entities}
            record(con, ran, checked, run_id, today)
        results += checked
    return results, {key: c.run_id for key, c in carried.items()}
