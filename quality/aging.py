"""The aging buckets as Python sees them, read from their one home: the dbt macro
dbt_project/macros/aging_buckets.sql (fct_ar_aging assigns buckets with it). Python code that
needs the labels or bounds reads them here instead of writing them again; code that needs an
item's bucket reads fct_ar_aging.aging_bucket / aging_bucket_order instead of recomputing it."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import jinja2

MACRO_FILE = Path(__file__).resolve().parents[1] / "dbt_project" / "macros" / "aging_buckets.sql"


@dataclass(frozen=True)
class AgingBucket:
    label: str
    order: int
    max_days_past_due: int | None  # None: the last bucket, everything older


class _Returned(Exception):
    """dbt's `return()` inside a macro: the value the macro hands back."""

    def __init__(self, value: object) -> None:
        super().__init__()
        self.value = value


def _return(value: object) -> None:
    raise _Returned(value)


@cache
def aging_buckets() -> tuple[AgingBucket, ...]:
    """The buckets in order, rendered from the dbt macro with plain Jinja (it uses nothing of dbt
    but `return`)."""
    template = jinja2.Environment(autoescape=False).from_string(MACRO_FILE.read_text() + "{{ aging_buckets() }}")
    try:
        template.render({"return": _return})
    except _Returned as returned:
        return tuple(AgingBucket(**bucket) for bucket in cast(list[dict[str, Any]], returned.value))
    raise ValueError(f"{MACRO_FILE}: aging_buckets() returned nothing")


def aging_bucket_labels() -> list[str]:
    return [bucket.label for bucket in aging_buckets()]


def aging_bucket_of(days_past_due: int) -> AgingBucket:
    """The bucket of a number of days past due, by the macro's bounds (for tests and checks)."""
    for bucket in aging_buckets():
        if bucket.max_days_past_due is None or days_past_due <= bucket.max_days_past_due:
            return bucket
    raise ValueError(f"{MACRO_FILE}: no bucket for {days_past_due} days past due (the last needs no bound)")
