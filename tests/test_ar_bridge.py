"""Aging as of any date and the AR bridge between any two dates (marts fct_open_item_balances,
fct_open_item_events, dim_aging_buckets; queries aging_* and bridge_*; the AR aging and AR bridge
pages).

Two worlds. The simulated one the dashboard tests share (tests/conftest.py, dashboard_world):
the aging queries must give fct_ar_aging's rows item by item at every date it stores, and every
bridge between two of those dates must reconcile to fct_ar_aging's open AR at both ends.

And a hand-made one (reporting currency USD; C2 is billed in EUR at 1.30 USD, the only rate):

    Jan 10  I1  C1  invoice 1,000.00 USD, due Feb 9
    Jan 20  I2  C1  invoice   500.00 USD, due Feb 19
    Feb  3  I3  C2  invoice   100.02 EUR, due Mar 5      = 130.026 → 130.03 USD
    Feb  5  P1  C1  pays 400.00 of I1 (partial)          I1 600.00 open
    Feb 25  CM1 C1  credit memo 120.00 on I2 (return)    I2 380.00 open
    Mar 10  P2  C2  pays 50.08 EUR of I3 (partial)       I3 49.94 EUR = 64.922 → 64.92 USD open
    Apr 15  WO1 C1  writes off I1's 600.00 (bad debt)    I1 settled
    Apr 20  I4  C1  invoice   250.00 USD, due May 20     (the data's as-of date)

P2 moves open AR by 64.92 − 130.03 = −65.11 USD, although 50.08 EUR converts alone to
65.104 → 65.10: converted one by one, the events would leave a cent unexplained.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from core import formatting
from core.settings import REPO_ROOT
from dashboards import db
from tests.own_data import publish_export, write_csv

APP = REPO_ROOT / "dashboards" / "streamlit_app.py"
NO_FILTERS = {"collectors": [], "regions": [], "segments": [], "currencies": []}
D = dt.date
C = Decimal


# ---- the hand-made world -------------------------------------------------------------------


def hand_made_world(folder: Path) -> Path:
    folder.mkdir(parents=True)
    write_csv(
        folder / "customers.csv",
        [
            {"customer_id": "C1", "customer_name": "Alpha Inc", "currency": "USD", "payment_terms_days": "30"},
            {"customer_id": "C2", "customer_name": "Beta GmbH", "currency": "EUR", "payment_terms_days": "30"},
        ],
    )
    invoices = [  # id, customer, date, due, currency, amount
        ("I1", "C1", "2026-01-10", "2026-02-09", "USD", "1000.00"),
        ("I2", "C1", "2026-01-20", "2026-02-19", "USD", "500.00"),
        ("I3", "C2", "2026-02-03", "2026-03-05", "EUR", "100.02"),
        ("I4", "C1", "2026-04-20", "2026-05-20", "USD", "250.00"),
    ]
    write_csv(
        folder / "invoices.csv",
        [
            {
                "invoice_id": i,
                "invoice_number": i,
                "customer_id": c,
                "invoice_date": d,
                "due_date": due,
                "currency": cur,
                "invoice_amount": a,
            }
            for i, c, d, due, cur, a in invoices
        ],
    )
    payments = [  # id, customer, date, currency, amount, invoice it pays
        ("P1", "C1", "2026-02-05", "USD", "400.00", "I1"),
        ("P2", "C2", "2026-03-10", "EUR", "50.08", "I3"),
    ]
    write_csv(
        folder / "payments.csv",
        [
            {
                "payment_id": p,
                "customer_id": c,
                "payment_date": d,
                "amount": a,
                "currency": cur,
                "payment_type": "payment",
            }
            for p, c, d, cur, a, _ in payments
        ],
    )
    write_csv(
        folder / "payment_applications.csv",
        [
            {"application_id": f"{p}-{i}", "payment_id": p, "invoice_id": i, "applied_amount": a, "applied_date": d}
            for p, _, d, _, a, i in payments
        ],
    )
    write_csv(
        folder / "credit_memos.csv",
        [
            {
                "credit_memo_id": "CM1",
                "customer_id": "C1",
                "invoice_id": "I2",
                "credit_memo_date": "2026-02-25",
                "currency": "USD",
                "credit_amount": "120.00",
                "reason": "return",
            },
            {
                "credit_memo_id": "WO1",
                "customer_id": "C1",
                "invoice_id": "I1",
                "credit_memo_date": "2026-04-15",
                "currency": "USD",
                "credit_amount": "600.00",
                "reason": "bad_debt_write_off",
            },
        ],
    )
    write_csv(
        folder / "fx_rates.csv",
        [{"rate_date": "2025-12-01", "from_currency": "EUR", "to_currency": "USD", "rate": "1.30000000"}],
    )
    return folder


@pytest.fixture(scope="module")
def hand_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made world run through `o2c run` and published: its data directory."""
    root = tmp_path_factory.mktemp("bridge")
    data, _ = publish_export(root, hand_made_world(root / "export"), "USD")
    return data


@pytest.fixture(params=["simulated", "hand_made"])
def any_world(request: pytest.FixtureRequest) -> Path:
    return request.getfixturevalue("dashboard_world" if request.param == "simulated" else "hand_world")


def run(data: Path, sql: str, params: dict[str, object] | list[object] | None = None) -> pl.DataFrame:
    con = duckdb.connect(str(data / "warehouse" / "serving.duckdb"), read_only=True)
    try:
        return pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    finally:
        con.close()


def aging_dates(data: Path) -> list[dt.date]:
    return run(data, "select distinct as_of_date from marts.fct_ar_aging order by 1")["as_of_date"].to_list()


def open_ar(data: Path, as_of: dt.date) -> Decimal:
    """Open AR at a date fct_ar_aging stores, straight from fct_ar_aging."""
    total = run(data, "select sum(open_balance_rc) as rc from marts.fct_ar_aging where as_of_date = ?", [as_of])
    return total["rc"][0] or C("0.00")


def bridge(data: Path, date_from: dt.date, date_to: dt.date, customer_id: str | None = None) -> dict[str, Decimal]:
    params = {"date_from": date_from, "date_to": date_to, "customer_id": customer_id}
    return run(data, db.sql("bridge_totals"), params).row(0, named=True)


# ---- aging as of any date ------------------------------------------------------------------


def test_aging_as_of_any_date_is_fct_ar_aging_item_by_item_at_its_dates(any_world: Path) -> None:
    """At every month-end and today, the any-date aging (balances valid on the day, buckets by
    range) gives fct_ar_aging's rows: same items, days past due, bucket, amounts to the cent."""
    dates = aging_dates(any_world)
    assert len(dates) >= 4
    for as_of in dates:
        items = run(any_world, db.sql("aging_items"), {**NO_FILTERS, "as_of_date": as_of, "customer_id": None})
        expected = run(
            any_world,
            "select invoice_id, customer_id, currency, invoice_date, due_date, days_past_due, aging_bucket, "
            "aging_bucket_order, open_balance::double as open_balance, open_balance_rc::double as open_balance_rc "
            "from marts.fct_ar_aging where as_of_date = ? order by invoice_id",
            [as_of],
        )
        assert items.select(expected.columns).sort("invoice_id").equals(expected), as_of
        buckets = run(any_world, db.sql("aging_buckets"), {**NO_FILTERS, "as_of_date": as_of})
        by_bucket = run(
            any_world,
            "select aging_bucket, aging_bucket_order, sum(open_balance_rc)::double as open_ar_rc, count(*) as invoices "
            "from marts.fct_ar_aging where as_of_date = ? group by all order by aging_bucket_order",
            [as_of],
        )
        assert buckets.equals(by_bucket), as_of


@pytest.mark.parametrize(
    ("as_of", "expected"),
    [
        # Feb 4: I1 (due Feb 9), I2 and I3 not yet due.
        (D(2026, 2, 4), {"current": ("1000.00", "500.00", "130.03")}),
        # Mar 20: I1 600 is 39 days past due; I2 380 is 29, I3 64.92 is 15.
        (D(2026, 3, 20), {"1-30": ("380.00", "64.92"), "31-60": ("600.00",)}),
        # Apr 16, the day after the write-off: I2 56 days past due, I3 42; I1 gone.
        (D(2026, 4, 16), {"31-60": ("380.00", "64.92")}),
    ],
)
def test_aging_on_days_between_month_ends_is_worked_by_hand(
    hand_world: Path, as_of: dt.date, expected: dict[str, tuple[str, ...]]
) -> None:
    assert as_of not in aging_dates(hand_world)  # not a date fct_ar_aging stores
    buckets = run(hand_world, db.sql("aging_buckets"), {**NO_FILTERS, "as_of_date": as_of})
    shown = {
        row["aging_bucket"]: (round(row["open_ar_rc"], 2), row["invoices"]) for row in buckets.iter_rows(named=True)
    }
    assert shown == {bucket: (float(sum(C(a) for a in amounts)), len(amounts)) for bucket, amounts in expected.items()}


# ---- the AR bridge -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("date_from", "date_to", "lines"),
    [
        # From before the first invoice to the end of February: opens at zero.
        (D(2026, 1, 9), D(2026, 2, 28), ("0.00", "1630.03", "-400.00", "-120.00", "0.00", "1110.03")),
        # March: P2 only, 64.92 − 130.03.
        (D(2026, 2, 28), D(2026, 3, 31), ("1110.03", "0.00", "-65.11", "0.00", "0.00", "1044.92")),
        # From January's end to the as-of date: every kind of movement.
        (D(2026, 1, 31), D(2026, 4, 20), ("1500.00", "380.03", "-465.11", "-120.00", "-600.00", "694.92")),
        # April to date: the write-off and I4.
        (D(2026, 3, 31), D(2026, 4, 20), ("1044.92", "250.00", "0.00", "0.00", "-600.00", "694.92")),
        # Mid-month to mid-month: P1 (Feb 5) is in the opening AR, CM1 (Feb 25) after the end.
        (D(2026, 2, 5), D(2026, 2, 24), ("1230.03", "0.00", "0.00", "0.00", "0.00", "1230.03")),
    ],
)
def test_hand_made_bridge_is_worked_by_hand(
    hand_world: Path, date_from: dt.date, date_to: dt.date, lines: tuple[str, ...]
) -> None:
    opening, invoiced, collected, credited, written_off, closing = (C(x) for x in lines)
    # the hand figures add up (the test's own arithmetic)
    assert opening + invoiced + collected + credited + written_off == closing
    figures = bridge(hand_world, date_from, date_to)
    assert figures == {
        "opening_ar_rc": opening,
        "invoiced_rc": invoiced,
        "collected_rc": collected,
        "credited_rc": credited,
        "written_off_rc": written_off,
        "closing_ar_rc": closing,
        "net_change_rc": closing - opening,
        "unexplained_rc": C("0.00"),
    }
    # opening and closing are fct_ar_aging's open AR where it stores the date
    stored = aging_dates(hand_world)
    for day, amount in ((date_from, opening), (date_to, closing)):
        if day in stored:
            assert open_ar(hand_world, day) == amount


def test_hand_made_bridge_per_customer(hand_world: Path) -> None:
    """Jan 31 → Apr 20 per customer: C1 1,500 + 250 − 400 − 120 − 600 = 630; C2 0 + 130.03 − 65.11
    = 64.92; the per-customer query and the one-customer totals agree, and add up to the book."""
    params = {"date_from": D(2026, 1, 31), "date_to": D(2026, 4, 20)}
    rows = {
        r["customer_id"]: r
        for r in run(hand_world, db.sql("bridge_customers"), {**params, "limit": 10}).iter_rows(named=True)
    }
    assert rows.keys() == {"C1", "C2"}
    c1, c2 = rows["C1"], rows["C2"]
    assert (c1["opening_ar_rc"], c1["invoiced_rc"], c1["collected_rc"], c1["credited_rc"], c1["written_off_rc"]) == (
        C("1500.00"),
        C("250.00"),
        C("-400.00"),
        C("-120.00"),
        C("-600.00"),
    )
    assert c1["closing_ar_rc"] == C("630.00") and c2["closing_ar_rc"] == C("64.92")
    assert (c2["opening_ar_rc"], c2["invoiced_rc"], c2["collected_rc"]) == (C("0.00"), C("130.03"), C("-65.11"))
    assert c1["customers"] == 2
    for customer_id, row in rows.items():
        one = bridge(hand_world, params["date_from"], params["date_to"], customer_id)
        assert {k: one[k] for k in one if k != "unexplained_rc"} == {k: row[k] for k in one if k != "unexplained_rc"}
    # the largest change first: C1 −870.00, then C2 +64.92
    assert list(rows) == ["C1", "C2"]


def test_simulated_bridges_reconcile_to_fct_ar_aging_at_both_ends(dashboard_world: Path) -> None:
    """Every pair of consecutive stored dates, and a few longer spans: opening and closing AR are
    fct_ar_aging's open AR to the cent, the lines explain all of the change, the invoiced line is
    the invoices dated in the period (fct_invoices), and the customers add up to the book."""
    dates = aging_dates(dashboard_world)
    pairs = [*itertools.pairwise(dates), (dates[0], dates[-1]), (dates[1], dates[-2])]
    for date_from, date_to in pairs:
        figures = bridge(dashboard_world, date_from, date_to)
        assert figures["opening_ar_rc"] == open_ar(dashboard_world, date_from), (date_from, date_to)
        assert figures["closing_ar_rc"] == open_ar(dashboard_world, date_to), (date_from, date_to)
        assert figures["unexplained_rc"] == 0, (date_from, date_to)
        movements = sum(figures[k] for k in ("invoiced_rc", "collected_rc", "credited_rc", "written_off_rc"))
        assert figures["opening_ar_rc"] + movements == figures["closing_ar_rc"]
        invoiced = run(
            dashboard_world,
            "select coalesce(sum(invoice_amount_rc), 0) as rc from marts.fct_invoices "
            "where invoice_date > ? and invoice_date <= ?",
            [date_from, date_to],
        )["rc"][0]
        assert figures["invoiced_rc"] == invoiced, (date_from, date_to)
        assert figures["collected_rc"] < 0 and figures["credited_rc"] <= 0 and figures["written_off_rc"] <= 0
        customers = run(
            dashboard_world, db.sql("bridge_customers"), {"date_from": date_from, "date_to": date_to, "limit": 100_000}
        )
        for column in (
            "opening_ar_rc",
            "invoiced_rc",
            "collected_rc",
            "credited_rc",
            "written_off_rc",
            "closing_ar_rc",
        ):
            assert customers[column].sum() == figures[column], (column, date_from, date_to)
    # A bridge between two days that are not stored dates still closes where the next one opens.
    middle = dates[2] + dt.timedelta(days=11)
    first = bridge(dashboard_world, dates[1] + dt.timedelta(days=9), middle)
    second = bridge(dashboard_world, middle, dates[-1])
    assert first["closing_ar_rc"] == second["opening_ar_rc"]
    assert second["closing_ar_rc"] == open_ar(dashboard_world, dates[-1])


# ---- the pages -----------------------------------------------------------------------------


def use(data: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("O2C_DATA_DIR", str(data))
    monkeypatch.setenv("O2C_OPS_URL", f"sqlite:///{tmp_path / 'ops.sqlite'}")
    monkeypatch.setenv("O2C_REPORTING_CURRENCY", "USD")
    monkeypatch.delenv("O2C_SERVING_PATH", raising=False)
    monkeypatch.delenv("O2C_WAREHOUSE_PATH", raising=False)


def page(name: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    at = at.switch_page(f"app_pages/{name}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def usd(value: object, decimals: int = 0) -> str:
    return formatting.money(Decimal(str(value)), "USD", decimals)


def bridge_table(at: AppTest) -> dict[str, Decimal]:
    table = next(d.value for d in at.dataframe if "line" in d.value.columns)
    return {line: Decimal(str(amount)) for line, amount in zip(table["line"], table["amount_rc"], strict=True)}


def test_bridge_page_shows_the_hand_worked_bridge(
    hand_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Default dates: the last month-end before the as-of date (Mar 31) to the as-of date (Apr 20)."""
    use(hand_world, monkeypatch, tmp_path)
    at = page("ar_bridge")
    assert [d.value for d in at.date_input] == [D(2026, 3, 31), D(2026, 4, 20)]
    shown = {m.label: m.value for m in at.metric}
    assert shown == {"Opening AR": "$1,045", "Closing AR": "$695", "Change in AR": "−$350"}
    assert bridge_table(at) == {
        "Opening AR (2026-03-31)": C("1044.92"),
        "Invoiced": C("250.00"),
        "Collected (payments applied)": C("0.00"),
        "Credited (credit memos)": C("0.00"),
        "Written off (bad debt)": C("-600.00"),
        "Unexplained difference": C("0.00"),
        "Closing AR (2026-04-20)": C("694.92"),
    }
    # Another period: the March bridge.
    at.date_input[0].set_value(D(2026, 2, 28))
    at.date_input[1].set_value(D(2026, 3, 31)).run()
    assert not at.exception
    assert bridge_table(at)["Collected (payments applied)"] == C("-65.11")
    assert {m.label: m.value for m in at.metric}["Closing AR"] == usd("1044.92")
    # A start after the end is refused in words, nothing is drawn.
    at.date_input[0].set_value(D(2026, 4, 1)).run()
    assert any("Pick a start before the end" in w.value for w in at.warning)
    assert not at.get("plotly_chart")


def test_bridge_page_totals_equal_the_marts(
    dashboard_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """On the simulated world: tiles and table equal fct_ar_aging's open AR at both ends and the
    ledger's sums between them; the by-customer table starts with the customer whose AR changed
    most, with fct_ar_aging's figures."""
    use(dashboard_world, monkeypatch, tmp_path)
    at = page("ar_bridge")
    date_from, date_to = (d.value for d in at.date_input)
    dates = aging_dates(dashboard_world)
    assert date_to == dates[-1] and date_from == max(d for d in dates if d < date_to)
    opening, closing = open_ar(dashboard_world, date_from), open_ar(dashboard_world, date_to)
    sums = dict(
        run(
            dashboard_world,
            "select event_type, sum(amount_rc) as rc from marts.fct_open_item_events "
            "where effective_date > ? and effective_date <= ? group by 1",
            [date_from, date_to],
        ).iter_rows()
    )
    zero = C("0.00")
    assert bridge_table(at) == {
        f"Opening AR ({date_from})": opening,
        "Invoiced": sums.get("invoice", zero),
        "Collected (payments applied)": sums.get("payment", zero),
        "Credited (credit memos)": sums.get("credit_memo", zero),
        "Written off (bad debt)": sums.get("write_off", zero),
        "Unexplained difference": zero,
        f"Closing AR ({date_to})": closing,
    }
    shown = {m.label: m.value for m in at.metric}
    assert shown["Opening AR"] == usd(opening) and shown["Closing AR"] == usd(closing)
    # By customer: the largest change in AR first, each row's ends from fct_ar_aging.
    customers = next(d.value for d in at.dataframe if "customer_id" in d.value.columns)
    per_customer = run(
        dashboard_world,
        "select customer_id, sum(open_balance_rc) filter (where as_of_date = ?) as opening, "
        "sum(open_balance_rc) filter (where as_of_date = ?) as closing from marts.fct_ar_aging "
        "where as_of_date in (?, ?) group by 1",
        [date_from, date_to, date_from, date_to],
    ).fill_null(0)
    changes = {r["customer_id"]: (r["opening"], r["closing"]) for r in per_customer.iter_rows(named=True)}
    top = customers["customer_id"].iloc[0]
    largest = max(abs(closing - opening) for opening, closing in changes.values())
    assert abs(changes[top][1] - changes[top][0]) == largest
    assert C(str(customers["opening_ar_rc"].iloc[0])) == changes[top][0]
    assert C(str(customers["closing_ar_rc"].iloc[0])) == changes[top][1]


def test_aging_page_any_date_and_quick_picks(hand_world: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    use(hand_world, monkeypatch, tmp_path)
    at = page("ar_aging")
    assert at.date_input[0].value == D(2026, 4, 20)  # the as-of date by default
    # Apr 20: I4 250 not yet due; I2 380 (due Feb 19) 60 days past due, I3 64.92 (due Mar 5) 46.
    assert {m.label: m.value for m in at.metric} == {
        "Open AR": usd("694.92"),
        "current": usd("250.00"),
        "31-60": usd("444.92"),
    }
    # The bars in the aging colours: the buckets shown (current, 31-60) take their place on the
    # scale of all six, so 31-60 is the third colour, not the last.
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    colours = {trace["name"]: trace["marker"]["color"] for trace in chart["data"]}
    assert colours == {"current": formatting.SEVERITY[0], "31-60": formatting.SEVERITY[2]}
    # Any day: Mar 20, worked by hand in test_aging_on_days_between_month_ends_is_worked_by_hand.
    at.date_input[0].set_value(D(2026, 3, 20)).run()
    assert not at.exception
    assert {m.label: m.value for m in at.metric} == {
        "Open AR": usd("1044.92"),
        "1-30": usd("444.92"),
        "31-60": usd("600.00"),
    }
    # A quick pick sets the date: the end of February.
    at.selectbox[0].set_value(D(2026, 2, 28)).run()
    assert at.date_input[0].value == D(2026, 2, 28)
    assert {m.label: m.value for m in at.metric}["Open AR"] == usd("1110.03")
