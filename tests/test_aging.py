"""The aging buckets as Python reads them from their one home, the dbt macro aging_buckets()."""

import pytest

from quality.aging import aging_bucket_labels, aging_bucket_of, aging_buckets


@pytest.mark.parametrize(
    ("days_past_due", "label"),
    [
        (-30, "current"),
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "91-120"),
        (120, "91-120"),
        (121, "121+"),
        (3650, "121+"),
    ],
)
def test_each_bound_falls_in_the_bucket_docs_metrics_md_names(days_past_due: int, label: str) -> None:
    assert aging_bucket_of(days_past_due).label == label


def test_buckets_are_ordered_labels_with_rising_bounds_and_an_open_last_one() -> None:
    buckets = aging_buckets()
    assert aging_bucket_labels() == ["current", "1-30", "31-60", "61-90", "91-120", "121+"]
    assert [b.order for b in buckets] == list(range(len(buckets)))
    bounds = [b.max_days_past_due for b in buckets]
    assert bounds[-1] is None and all(isinstance(b, int) for b in bounds[:-1])
    assert bounds[:-1] == sorted(bounds[:-1])
