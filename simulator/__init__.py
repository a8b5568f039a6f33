"""The O2C source-system simulator: `simulate` creates a world, `advance` moves it forward."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from simulator import faults as fault_injection
from simulator import snapshot, writers
from simulator.world import Numbering, World, WorldSpec, build, shard_count

STATE_FILE = "simulator_state.json"


@dataclass(frozen=True)
class SimulationResult:
    as_of: dt.date
    erp_rows: dict[str, int]
    files_written: int
    faults: list[dict[str, object]]


def _landing(sources_dir: Path) -> Path:
    return sources_dir / writers.LANDING


def worlds(spec: WorldSpec, n_days: int) -> Iterator[World]:
    """The world's shards over its first `n_days` days, built one after another; each carries
    on the id numbering of the ones before. Drop each shard before asking for the next, so
    only one is in memory."""
    numbering = Numbering()
    for shard in range(shard_count(spec)):
        world = build(spec, n_days, shard, numbering)
        yield world
        numbering = numbering.after(world)
        del world


def _by_day(parts: list[pl.DataFrame]) -> pl.DataFrame:
    return pl.concat(parts).sort("day", maintain_order=True)


def _write_period(
    spec: WorldSpec, sources_dir: Path, erp_url: str, first_day: int, last_day: int, changed_since
) -> SimulationResult:
    start = spec.start
    erp_rows: Counter[str] = Counter()
    processor, bank, truth = [], [], []
    fx = None
    for world in worlds(spec, last_day + 1):
        tables = snapshot.erp_tables(world, last_day)
        erp_rows.update(writers.write_erp(erp_url, tables, changed_since=changed_since, create=world.shard == 0))
        del tables
        # Payment files hold every shard's rows of a day, so they are written after the last.
        processor.append(snapshot.processor_records(world, first_day, last_day))
        bank.append(snapshot.bank_records(world, first_day, last_day))
        truth.append(snapshot.ground_truth(world, last_day))
        if world.shard == 0:
            # FX files are monthly: rewrite every month touched by the period.
            month_start = (start + dt.timedelta(days=first_day)).replace(day=1)
            fx = snapshot.fx_records(world, max(0, (month_start - start).days), last_day)
        del world
    landing = _landing(sources_dir)
    files = writers.write_processor_files(landing / "processor", _by_day(processor), start)
    files += writers.write_bank_files(landing / "bank", _by_day(bank), start, range(first_day, last_day + 1))
    files += writers.write_fx_files(landing / "fx", fx)
    writers.write_parquet(
        sources_dir / "ground_truth",
        {name: pl.concat(part[name] for part in truth) for name in truth[0]},
    )
    return SimulationResult(start + dt.timedelta(days=last_day), dict(erp_rows), len(files), [])


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
    result = _write_period(spec, sources_dir, erp_url, 0, days - 1, changed_since=None)
    injected = fault_injection.inject(sources_dir, erp_url) if inject_faults else []
    _save_state(sources_dir, spec, days - 1, injected)
    return SimulationResult(result.as_of, result.erp_rows, result.files_written, injected)


def advance(sources_dir: Path, erp_url: str, days: int) -> SimulationResult:
    """Move the world forward `days` days: new rows inserted, changed rows updated in place."""
    if days < 1:
        raise ValueError("--advance must be at least 1 day")
    spec, last_day, injected = load_state(sources_dir)
    new_last = last_day + days
    changed_since = dt.datetime.combine(spec.start + dt.timedelta(days=last_day + 1), dt.time())
    result = _write_period(spec, sources_dir, erp_url, last_day + 1, new_last, changed_since=changed_since)
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
