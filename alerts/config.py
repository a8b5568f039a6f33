"""Alert thresholds and dunning levels: defaults here, overridable from a TOML file
(`O2C_ALERTS_CONFIG`), e.g.

    past_due_days = 45
    dso_target_days = 50
    [[dunning_levels]]
    name = "overdue_14"
    days_past_due = 14
    [customer_templates]
    C000042 = "dunning_formal"
"""

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path


@dataclass(frozen=True)
class DunningLevel:
    name: str
    days_past_due: int  # negative: days before the due date


DEFAULT_LEVELS = (
    DunningLevel("due_soon", -3),
    DunningLevel("overdue_7", 7),
    DunningLevel("overdue_30", 30),
    DunningLevel("final_60", 60),
)


@dataclass(frozen=True)
class AlertConfig:
    # Collector exception report
    past_due_days: int = 30  # items more than this many days past due
    large_item_rc: float = 10_000.0  # items coming due this week from this amount (reporting currency)
    new_dispute_days: int = 7  # disputes opened in the last this many days
    collector_all_clear: bool = False  # send a one-line all-clear to collectors with nothing to report
    # Threshold alerts
    dso_target_days: float = 45.0
    large_invoice_rc: float = 25_000.0  # a past-due invoice from this amount alerts
    # Dunning
    dunning_levels: tuple[DunningLevel, ...] = DEFAULT_LEVELS
    customer_templates: dict[str, str] = field(default_factory=dict)  # customer_id → template name
    # Credit-hold recommendation: over the limit, or this much 91+ days overdue
    hold_overdue_91_rc: float = 5_000.0


def load(path: Path | None) -> AlertConfig:
    if path is None:
        return AlertConfig()
    raw = tomllib.loads(path.read_text())
    known = {f.name for f in fields(AlertConfig)}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{path}: unknown alert settings {sorted(unknown)}; known: {sorted(known)}")
    if "dunning_levels" in raw:
        levels = tuple(DunningLevel(str(x["name"]), int(x["days_past_due"])) for x in raw["dunning_levels"])
        raw["dunning_levels"] = tuple(sorted(levels, key=lambda level: level.days_past_due))
    return AlertConfig(**raw)
