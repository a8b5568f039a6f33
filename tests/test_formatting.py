"""The shared vocabulary of figures: every page, email and letter writes money, percentages,
days and aging colours through core.formatting."""

import datetime as dt
from decimal import Decimal

import pytest

from core import formatting as fmt


@pytest.mark.parametrize(
    ("value", "currency", "decimals", "locale", "expected"),
    [
        (163922.3, "USD", 0, "en_US", "$163,922"),
        (814776.487, "USD", 2, "en_US", "$814,776.49"),
        (Decimal("163922.30"), "EUR", 2, "de_DE", "163.922,30\xa0€"),
        (-1200, "USD", 0, "en_US", "-$1,200"),
        (5, "GBP", 2, "en_GB", "£5.00"),
        (None, "USD", 0, "en_US", "–"),
    ],
)
def test_money_carries_its_currency_and_fixed_decimals(value, currency, decimals, locale, expected) -> None:
    assert fmt.money(value, currency, decimals, locale) == expected


def test_percentages_points_days_and_counts_say_their_unit() -> None:
    assert fmt.percent(5.8) == "5.8%"
    assert fmt.percent(12.345, 1, "de_DE") == "12,3\xa0%"
    assert fmt.points(-50.04) == "−50.0 pp"
    assert fmt.points(1.25) == "+1.2 pp"  # half to even, as Babel rounds
    assert fmt.points(-0.01) == "0.0 pp"  # what rounds to zero has no sign
    assert fmt.days(45.25) == "45.2 days"
    assert fmt.days(1, 0) == "1 day"
    assert fmt.change(3.4, "days") == "+3.4 days"
    assert fmt.count(610, "item") == "610 items"
    assert fmt.count(1, "item") == "1 item"
    assert fmt.count(2, "delivery") == "2 deliveries"
    assert fmt.date(dt.date(2026, 11, 30)) == "Nov 30, 2026"
    assert fmt.date(dt.date(2026, 11, 30), "de_DE") == "30.11.2026"
    assert [fmt.percent(None), fmt.days(None), fmt.date(None)] == ["–"] * 3


def test_signed_money_is_a_change_with_its_currency_and_a_true_minus() -> None:
    assert fmt.signed_money(500, "USD") == "+$500"
    assert fmt.signed_money(Decimal("-3812345.67"), "USD") == "−$3,812,346"
    assert fmt.signed_money(-150.5, "EUR", 2, "de_DE") == "−150,50\xa0€"
    assert fmt.signed_money(0.4, "USD") == "$0"  # rounds to nothing: no sign
    assert fmt.signed_money(None, "USD") == "–"


def test_labels_are_words_with_the_currency_in_brackets() -> None:
    assert fmt.label("open_ar_rc", "USD") == "Open AR (USD)"
    assert fmt.label("mape_pct") == "MAPE (%)"
    assert fmt.label("disputed_open_rc", "EUR") == "Disputed open (EUR)"
    assert fmt.label("open_items") == "Open items"
    # the worklist's columns read as a collector says them
    assert fmt.label("priority_reason") == "Why today" and fmt.label("priority_rank") == "Rank"
    assert fmt.label("expected_recoverable_rc", "EUR") == "Expected recoverable (EUR)"


def test_labels_say_the_unit_of_percentages_and_day_spans_and_write_acronyms_in_capitals() -> None:
    assert fmt.label("dispute_rate_pct") == "Dispute rate (%)"
    assert fmt.label("pct_paid_late") == "Paid late (%)"
    assert fmt.label("days_order_to_ship") == "Order to ship (days)"
    assert fmt.label("days_late") == "Days late"  # a count of days, not a span between two events
    assert fmt.label("payer_account_id") == "Payer account ID"
    assert fmt.label("otif_pct") == "OTIF (%)"
    assert fmt.label("predicted_revenue_12m_rc", "EUR") == "Predicted revenue, 12 months (EUR)"
    assert fmt.label("invoiced_revenue_rc", "") == "Invoiced revenue"


def test_the_ar_bridge_lines_say_ar_not_ar_in_lower_case() -> None:
    assert fmt.label("opening_ar_rc", "EUR") == "Opening AR (EUR)"
    assert fmt.label("closing_ar_rc", "EUR") == "Closing AR (EUR)"
    assert fmt.label("net_change_rc", "USD") == "Change in AR (USD)"


def test_aging_colours_run_from_green_to_the_darkest_red_for_the_oldest_bucket() -> None:
    buckets = ["current", "1-30", "31-60", "61-90", "91-120", "121+"]
    colours = fmt.aging_colours(buckets)
    assert colours["current"] == fmt.SEVERITY[0] and colours["121+"] == fmt.SEVERITY[-1]
    assert list(colours.values()) == list(fmt.SEVERITY)
    # Fewer buckets still span the whole scale: the oldest is always the most severe.
    assert fmt.aging_colours(["not due", "due", "late"]) == {
        "not due": fmt.SEVERITY[0],
        "due": fmt.SEVERITY[2],
        "late": fmt.SEVERITY[-1],
    }
