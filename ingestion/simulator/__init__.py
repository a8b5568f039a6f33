"""The O2C source-system simulator: `simulate` creates a world, `advance` moves it forward."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from ingestion.simulator import faults as fault_injection
from ingestion.simulator import snapshot, writers
from ingestion.simulator.world import WorldSpec, build

STATE_FILE = "simulator_state.json"


@dataclass(frozen=True)
class SimulationResult:
    as_of: dt.date
    erp_rows: dict[str, int]
    files_written: int
    faults: list[dict[str, object]]


def _landing(sources_dir: Path) -> Path:
    return sources_dir / writers.LANDING


def _write_period(
    world, sources_dir: Path, erp_url: str, first_day: int, last_day: int, changed_since
) -> SimulationResult:
    start = world.spec.start
    erp_rows = writers.write_erp(erp_url, snapshot.erp_tables(world, last_day), changed_since=changed_since)
    landing = _landing(sources_dir)
    files = writers.write_processor_files(
        landing / "processor", snapshot.processor_records(world, first_day, last_day), start
    )
    files += writers.write_bank_files(
        landing / "bank", snapshot.bank_records(world, first_day, last_day), start, range(first_day, last_day + 1)
    )
    # FX files are monthly: rewrite every month touched by the period.
    month_start = (start + dt.timedelta(days=first_day)).replace(day=1)
    fx_first = max(0, (month_start - start).days)
    files += writers.write_fx_files(landing / "fx", snapshot.fx_records(world, fx_first, last_day))
    writers.write_parquet(sources_dir / "ground_truth", snapshot.ground_truth(world, last_day))
    return SimulationResult(start + dt.timedelta(days=last_day), erp_rows, len(files), [])


def simulate(
    sources_dir: Path,
    erp_url: str,
    *,
    seed: int = 42,
    customers: int = 500,
    days: int = 730,
    end_date: dt.date,
    reporting_currency: str = "USD",
    inject_faults: bool = False,
) -> SimulationResult:
    """Create a fresh world ending on `end_date` (inclusive), replacing any previous one."""
    if customers < 1 or days < 1:
        raise ValueError("--customers and --days must be at least 1")
    start = end_date - dt.timedelta(days=days - 1)
    spec = WorldSpec(
        seed=seed, customers=customers, start=start, initial_days=days, reporting_currency=reporting_currency
    )
    for folder in (_landing(sources_dir), sources_dir / "ground_truth"):
        shutil.rmtree(folder, ignore_errors=True)
    sources_dir.mkdir(parents=True, exist_ok=True)
    world = build(spec, days)
    result = _write_period(world, sources_dir, erp_url, 0, days - 1, changed_since=None)
    injected = fault_injection.inject(world, sources_dir, erp_url) if inject_faults else []
    _save_state(sources_dir, spec, days - 1, injected)
    return SimulationResult(result.as_of, result.erp_rows, result.files_written, injected)


def advance(sources_dir: Path, erp_url: str, days: int) -> SimulationResult:
    """Move the world forward `days` days: new rows inserted, changed rows updated in place."""
    if days < 1:
        raise ValueError("--advance must be at least 1 day")
    spec, last_day, injected = load_state(sources_dir)
    new_last = last_day + days
    world = build(spec, new_last + 1)
    changed_since = dt.datetime.combine(spec.start + dt.timedelta(days=last_day + 1), dt.time())
    result = _write_period(world, sources_dir, erp_url, last_day + 1, new_last, changed_since=changed_since)
    _save_state(sources_dir, spec, new_last, injected)
    return result


def _save_state(sources_dir: Path, spec: WorldSpec, last_day: int, injected: list[dict[str, object]]) -> None:
    state = {
        **asdict(spec),
        "start": spec.start.isoformat(),
        "last_day": last_day,
        "as_of": (spec.start + dt.timedelta(days=last_day)).isoformat(),
        "faults": injected,
    }
    (sources_dir / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")


def load_state(sources_dir: Path) -> tuple[WorldSpec, int, list[dict[str, object]]]:
    path = sources_dir / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"no simulated world in {sources_dir}: run `o2c simulate` first")
    state = json.loads(path.read_text())
    spec = WorldSpec(
        seed=state["seed"],
        customers=state["customers"],
        start=dt.date.fromisoformat(state["start"]),
        initial_days=state["initial_days"],
        reporting_currency=state["reporting_currency"],
    )
    return spec, state["last_day"], state["faults"]


def read_ground_truth(sources_dir: Path, name: str) -> pl.DataFrame:
    return pl.read_parquet(sources_dir / "ground_truth" / f"{name}.parquet")
