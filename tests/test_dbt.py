"""The dbt warehouse on simulated data: builds and tests clean, reconciles, holds point in time,
applies cash accurately against the simulator's truth, and increments like a full refresh."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

import simulator
from core.db import query_frame
from core.ops_store import ManualApplication, record_manual_application
from ingestion.pipeline import ingest
from orchestration.dbt_runner import DBT_EXECUTABLE, DBT_PROJECT, PARTIAL_PARSE, run_dbt
from quality.aging import aging_bucket_labels, aging_bucket_of
from tests.conftest import END, ingest_config, o2c, simulate_world

# Cash application recall by amount on the test world: 0.99 on the receipts that say which
# invoices they pay and how much of each; what is reached overall (docs/metrics.md, Cash
# application: the rest pay part of an invoice without saying which, and are not guessed).
RECALL_OF_RECEIPTS_THAT_SAY = 0.99
RECALL_REACHED = 0.985


def build(warehouse: Path, work: Path, *args: str) -> dict[str, str]:
    """`dbt build`; the status of every node it ran, by name."""
    result = run_dbt(["build", *args], warehouse, work, capture=True)
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    statuses = {
        r["unique_id"].split(".")[-1] if r["unique_id"].startswith("unit_test") else r["unique_id"].split(".")[2]: r[
            "status"
        ]
        for r in results
    }
    assert result.returncode == 0, result.stdout[-3000:]
    return statuses


def query(warehouse: Path, sql: str, *parameters: object) -> pl.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return query_frame(con, sql, list(parameters) or None)
    finally:
        con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A simulated world (to a month-end), ingested and built; its sources dir, warehouse, results."""
    root = tmp_path_factory.mktemp("built")
    sources, url = simulate_world(root, customers=120, days=240)
    config = ingest_config(root, sources, url)
    ingest(config)
    statuses = build(config.warehouse, root / "dbt")
    return sources, config.warehouse, statuses


def test_build_passes_every_test_including_reconciliations_and_worked_examples(built) -> None:
    _, _, statuses = built
    assert all(status in ("success", "pass") for status in statuses.values()), {
        k: v for k, v in statuses.items() if v not in ("success", "pass")
    }
    for name in (
        "assert_aging_reconciles_to_the_ledger",
        "assert_invoice_balances_never_negative",
        "assert_cash_applied_plus_unapplied_equals_received",
        "assert_invoice_lines_sum_to_invoice_total",
        "assert_kpi_open_ar_matches_aging",
        "countback_dso_with_30_day_months",
        "countback_dso_with_calendar_days",
        "dso_bpdso_and_add_over_30_day_sales",
        "cei_over_three_months",
        "cei_over_one_period",
        "ar_turnover_and_days_to_collect",
        "assert_ecl_reconciles_to_aging",
        "assert_write_offs_reconcile_to_the_ledger",
        "ecl_provision_matrix_loss_rates",
        "bad_debt_ratio_over_trailing_months",
        "invoice_accuracy_worked_example",
        "invoice_accuracy_with_mapped_reason_codes",
        "invoice_accuracy_not_measurable_without_disputes_or_credit_memos",
        "otif_and_perfect_order_worked_example",
        "order_quality_monthly_worked_example",
        "aging_buckets_at_their_bounds",
        "amounts_convert_at_the_rate_valid_on_their_date",
        "weekly_receipts_are_the_seven_days_ending_on_each_day",
        "assert_weekly_receipts_reconcile_to_payments",
        "worklist_priority_worked_example",
    ):
        assert statuses.get(name) == "pass", name
    # Data tests on keys and relationships ran for every mart.
    for mart in (
        "fct_invoices",
        "fct_payments",
        "fct_cash_applications",
        "fct_ar_aging",
        "fct_orders",
        "dim_customers",
        "fct_invoice_accuracy",
        "fct_order_fulfilment",
        "fct_order_quality_monthly",
        "fct_receipts_weekly",
        "fct_worklist_items",
    ):
        assert any(k.startswith(("primary_key_", "unique_", "relationships_")) and mart in k for k in statuses), mart


def test_open_ar_equals_an_independent_computation_from_the_raw_tables(built) -> None:
    """Today's open AR per currency from the marts equals invoices − credits − applications
    computed in Polars straight from the raw tables and the cash application."""
    _, warehouse, _ = built
    aging = query(
        warehouse,
        "select currency, sum(open_balance) as ar from marts.fct_ar_aging "
        "where as_of_date = (select as_of_date from intermediate.int_data_as_of) group by 1",
    )
    invoices = query(warehouse, "select invoice_id, currency, invoice_amount from raw_erp.invoices")
    credits = query(
        warehouse, "select invoice_id, credit_amount from raw_erp.credit_memos where invoice_id is not null"
    )
    applied = query(warehouse, "select invoice_id, applied_amount from marts.fct_cash_applications")
    on_account = query(warehouse, "select invoice_id, credit_on_account from intermediate.int_open_item_events")
    balance = (
        invoices.join(credits.group_by("invoice_id").agg(pl.col("credit_amount").sum()), on="invoice_id", how="left")
        .join(applied.group_by("invoice_id").agg(pl.col("applied_amount").sum()), on="invoice_id", how="left")
        .join(on_account.group_by("invoice_id").agg(pl.col("credit_on_account").sum()), on="invoice_id", how="left")
        .fill_null(0)
        .with_columns(
            (
                pl.col("invoice_amount")
                - pl.col("credit_amount")
                - pl.col("applied_amount")
                + pl.col("credit_on_account")
            ).alias("open")
        )
    )
    expected = balance.group_by("currency").agg(pl.col("open").sum()).sort("currency")
    assert expected["open"].sum() > 0
    assert aging.sort("currency")["ar"].to_list() == expected["open"].to_list()


def test_write_offs_are_the_simulators_bad_debt_credit_memos(built) -> None:
    _, warehouse, _ = built
    marts = query(warehouse, "select credit_memo_id, invoice_id, amount, amount_rc from marts.fct_write_offs")
    raw = query(
        warehouse,
        "select credit_memo_id, invoice_id, credit_amount from raw_erp.credit_memos where reason = 'bad_debt_write_off'",
    )
    assert sorted(marts["credit_memo_id"]) == sorted(raw["credit_memo_id"])
    assert marts["amount"].sum() == raw["credit_amount"].sum()
    assert marts["amount_rc"].null_count() == 0
    proposals = query(warehouse, "select count(*) as n from marts.fct_write_off_proposals")["n"][0]
    assert proposals == 0  # the policy is off by default
    monthly = query(warehouse, "select sum(written_off_rc) as rc from marts.fct_bad_debt_monthly")["rc"][0]
    assert (monthly or 0) == marts["amount_rc"].sum()


def ecl_from_aging_and_write_offs(warehouse: Path, outcome_months: int) -> pl.DataFrame:
    """The provision matrix computed in Polars from fct_ar_aging and the ledger's write-offs."""
    aging = query(warehouse, "select as_of_date, invoice_id, aging_bucket, open_balance_rc from marts.fct_ar_aging")
    aging = aging.with_columns(pl.col("open_balance_rc").cast(pl.Float64))
    write_offs = query(
        warehouse,
        "select invoice_id, effective_date, -amount_rc as rc from intermediate.int_open_item_events "
        "where event_type = 'write_off'",
    ).with_columns(pl.col("rc").cast(pl.Float64))
    cohorts = aging.filter(pl.col("as_of_date") == pl.col("as_of_date").dt.month_end()).with_columns(
        pl.col("as_of_date").dt.offset_by(f"{outcome_months}mo").dt.month_end().alias("outcome_date")
    )
    lost = (
        cohorts.join(write_offs, on="invoice_id")
        .filter(
            (pl.col("effective_date") > pl.col("as_of_date")) & (pl.col("effective_date") <= pl.col("outcome_date"))
        )
        .group_by("as_of_date", "invoice_id")
        .agg(pl.col("rc").sum())
    )
    cohorts = (
        cohorts.join(lost, on=["as_of_date", "invoice_id"], how="left")
        .group_by("as_of_date", "outcome_date", "aging_bucket")
        .agg(pl.col("open_balance_rc").sum().alias("balance"), pl.col("rc").fill_null(0).sum().alias("lost"))
    )
    rows = []
    balances = aging.group_by("as_of_date", "aging_bucket").agg(pl.col("open_balance_rc").sum())
    for as_of, bucket, balance in balances.iter_rows():
        history = cohorts.filter((pl.col("aging_bucket") == bucket) & (pl.col("outcome_date") <= as_of))
        rate = round(history["lost"].sum() / history["balance"].sum(), 4) if history.height else None
        ecl = None if rate is None else round(balance * rate, 2)
        rows.append((as_of, bucket, rate, ecl))
    return pl.DataFrame(rows, schema=["as_of_date", "aging_bucket", "rate", "ecl"], orient="row")


@pytest.mark.parametrize("outcome_months", [12, 1])
def test_expected_credit_loss_is_balance_times_loss_rate(built, tmp_path: Path, outcome_months: int) -> None:
    """The allowance per bucket equals open balance × the bucket's loss rate computed in Polars;
    with the default 12-month outcome window the test world is too young for history, so the
    matrix is also rebuilt (that one model, on a copy) with a one-month window."""
    _, warehouse, _ = built
    if outcome_months != 12:
        copy = tmp_path / "ecl.duckdb"
        shutil.copy(warehouse, copy)
        build(
            copy,
            tmp_path / "dbt",
            "--select",
            "fct_expected_credit_loss",
            "--vars",
            f"{{ecl_outcome_months: {outcome_months}}}",
        )
        warehouse = copy
    mart = query(
        warehouse,
        "select as_of_date, aging_bucket, historical_loss_rate as rate, expected_credit_loss_rc::double as ecl "
        "from marts.fct_expected_credit_loss where open_balance_rc > 0",
    )
    expected = ecl_from_aging_and_write_offs(warehouse, outcome_months)
    joined = expected.join(mart, on=["as_of_date", "aging_bucket"], how="full", suffix="_mart")
    assert joined.height == expected.height == mart.height
    assert joined["rate"].is_null().to_list() == joined["rate_mart"].is_null().to_list()
    assert ((joined["rate"] - joined["rate_mart"]).abs().max() or 0) <= 0.0001
    differences = joined.filter(pl.col("ecl").is_not_null()).select((pl.col("ecl") - pl.col("ecl_mart")).abs().max())
    assert (differences.item() or 0) < 0.006
    assert joined["ecl"].null_count() == joined["ecl_mart"].null_count()
    latest = mart.filter(pl.col("as_of_date") == pl.col("as_of_date").max()).sort("aging_bucket")
    print(f"\nECL loss rates, {outcome_months}-month outcome window:\n{latest}")


def test_otif_and_invoice_accuracy_equal_an_independent_computation_from_the_raw_tables(
    built, capsys: pytest.CaptureFixture[str]
) -> None:
    """The monthly OTIF and invoice accuracy rates equal the definitions of docs/metrics.md
    computed in Polars straight from the raw ERP tables (5 days to ship; pricing, quantity and
    duplicate disputes or credit memos)."""
    _, warehouse, _ = built
    as_of = query(warehouse, "select as_of_date from intermediate.int_data_as_of")["as_of_date"][0]
    orders = query(
        warehouse,
        "select order_id, order_date, cast(credit_approved_at as date) as approved from raw_erp.sales_orders "
        "where order_status <> 'cancelled'",
    )
    shipments = query(warehouse, "select order_id, shipment_date from raw_erp.shipments")
    lines = query(warehouse, "select order_id, quantity, quantity_shipped from raw_erp.sales_order_lines")
    fulfilment = (
        orders.with_columns(pl.coalesce("approved", "order_date").alias("start"))
        .join(
            shipments.group_by("order_id").agg(pl.col("shipment_date").min().alias("first"), pl.len().alias("n")),
            on="order_id",
            how="left",
        )
        .join(
            lines.group_by("order_id").agg((pl.col("quantity_shipped") != pl.col("quantity")).sum().alias("short")),
            on="order_id",
            how="left",
        )
        .with_columns(
            pl.when(pl.col("first").is_not_null())
            .then((pl.col("first") - pl.col("start")).dt.total_days() <= 5)
            .when((pl.lit(as_of) - pl.col("start")).dt.total_days() > 5)
            .then(False)
            .alias("on_time"),
            pl.when(pl.col("first").is_not_null() & pl.col("short").is_not_null())
            .then((pl.col("n") == 1) & (pl.col("short") == 0))
            .alias("in_full"),
        )
        .with_columns((pl.col("on_time") & pl.col("in_full")).alias("otif"))
        .group_by(pl.col("order_date").dt.truncate("1mo").alias("month_start"))
        .agg(pl.col("otif").sum().alias("n_otif"), pl.col("otif").count().alias("n_otif_measured"))
    )
    reasons = ["pricing", "quantity", "duplicate"]
    flagged = pl.concat(
        [
            query(warehouse, f"select invoice_id, reason from raw_erp.{table} where invoice_id is not null")
            for table in ("disputes", "credit_memos")
        ]
    ).filter(pl.col("reason").str.to_lowercase().is_in(reasons))
    accuracy = (
        query(warehouse, "select invoice_id, invoice_date from raw_erp.invoices")
        .with_columns(pl.col("invoice_id").is_in(flagged["invoice_id"].implode()).not_().alias("accurate"))
        .group_by(pl.col("invoice_date").dt.truncate("1mo").alias("month_start"))
        .agg(pl.len().alias("n_invoices"), pl.col("accurate").sum().alias("n_accurate_invoices"))
    )
    expected = (
        fulfilment.join(accuracy, on="month_start", how="full", coalesce=True)
        .with_columns(
            (100 * pl.col("n_otif") / pl.col("n_otif_measured")).alias("otif_pct"),
            (100 * pl.col("n_accurate_invoices") / pl.col("n_invoices")).alias("invoice_accuracy_pct"),
        )
        .sort("month_start")
    )
    monthly = query(
        warehouse,
        "select month_start, n_otif, n_otif_measured, otif_pct, n_invoices, n_accurate_invoices, invoice_accuracy_pct "
        "from marts.fct_order_quality_monthly order by month_start",
    )
    with capsys.disabled():
        print(f"\norder and invoice quality by month:\n{monthly}")
    assert monthly.height >= 6
    assert monthly["month_start"].to_list() == expected["month_start"].to_list()
    for column in ("n_otif", "n_otif_measured", "n_invoices", "n_accurate_invoices"):
        assert monthly[column].to_list() == expected[column].to_list(), column
    for column in ("otif_pct", "invoice_accuracy_pct"):
        assert (monthly[column] - expected[column]).abs().max() < 0.005 + 1e-9, column
    # The simulated world has late, split and short shipments and billing disputes: neither is 100 %.
    assert 0 < monthly["n_otif"].sum() < monthly["n_otif_measured"].sum()
    assert 0 < monthly["n_accurate_invoices"].sum() < monthly["n_invoices"].sum()


def _truth_by_amount(warehouse: Path, sources: Path) -> pl.DataFrame:
    """Every (payment, invoice) pair the simulator's truth or cash application has, with the
    true and the applied amount in the reporting currency (payment-date rate)."""
    truth = (
        simulator.read_ground_truth(sources, "payment_allocations")
        .filter(pl.col("invoice_id").is_not_null())
        .group_by("payment_id", "invoice_id")
        .agg(pl.col("amount").sum().cast(pl.Float64).alias("true_amount"))
    )
    applied = query(
        warehouse,
        "select payment_id, invoice_id, match_method, applied_amount::double as applied_amount "
        "from marts.fct_cash_applications",
    )
    rates = query(warehouse, "select payment_id, fx_rate::double as fx_rate from marts.fct_payments")
    return (
        truth.join(applied, on=["payment_id", "invoice_id"], how="full", coalesce=True)
        .join(rates, on="payment_id", how="left")
        .with_columns(pl.col("true_amount", "applied_amount").fill_null(0.0))
        .with_columns(
            (pl.col("true_amount") * pl.col("fx_rate")).alias("true_rc"),
            (pl.col("applied_amount") * pl.col("fx_rate")).alias("applied_rc"),
            (pl.min_horizontal("true_amount", "applied_amount") * pl.col("fx_rate")).alias("correct_rc"),
        )
    )


def _receipts_paying_part_of_an_invoice_without_saying_which(warehouse: Path, sources: Path) -> pl.DataFrame:
    """The payment_ids the truth says pay part of an invoice (less than it owed then, after
    credits and earlier payments) while their remittance does not name that one invoice alone:
    which invoice is short, or by how much, is nowhere in the data."""
    invoices = query(
        warehouse, "select invoice_id, invoice_number, invoice_amount::double as invoice_amount from raw_erp.invoices"
    )
    credits = query(
        warehouse,
        "select invoice_id, credit_memo_date, credit_amount::double as credit from raw_erp.credit_memos "
        "where invoice_id is not null",
    )
    remittances = query(warehouse, "select payment_id, remittance_info from marts.fct_payments")
    allocations = (
        simulator.read_ground_truth(sources, "payment_allocations")
        .filter(pl.col("invoice_id").is_not_null())
        .with_columns(pl.col("amount").cast(pl.Float64))
        .join(invoices, on="invoice_id")
        .with_columns(
            (
                pl.col("amount").cum_sum().over("invoice_id", order_by=["payment_date", "payment_id"])
                - pl.col("amount")
            ).alias("paid_before")
        )
    )
    credited = (
        allocations.select("payment_id", "invoice_id", "payment_date")
        .join(credits, on="invoice_id")
        .filter(pl.col("credit_memo_date") <= pl.col("payment_date"))
        .group_by("payment_id", "invoice_id")
        .agg(pl.col("credit").sum())
    )

    def letters_and_digits(column: pl.Expr) -> pl.Expr:
        return column.str.to_uppercase().str.replace_all(r"[^0-9A-Z]", "")

    per_payment = (
        allocations.join(credited, on=["payment_id", "invoice_id"], how="left")
        .join(remittances, on="payment_id", how="left")
        .with_columns(
            (
                pl.col("amount")
                < pl.col("invoice_amount") - pl.col("credit").fill_null(0) - pl.col("paid_before") - 0.005
            ).alias("pays_part"),
            letters_and_digits(pl.col("remittance_info").fill_null(""))
            .str.contains(letters_and_digits(pl.col("invoice_number")), literal=True)
            .alias("named"),
        )
        .group_by("payment_id")
        .agg(pl.col("pays_part").any(), (pl.len() == 1).alias("one_invoice"), pl.col("named").all())
    )
    return per_payment.filter(pl.col("pays_part") & ~(pl.col("one_invoice") & pl.col("named"))).select("payment_id")


def test_order_quality_marts_follow_disputes_taken_out_emptied_and_loaded_again_and_time_passing(
    tmp_path: Path, built
) -> None:
    """fct_invoice_accuracy and fct_order_fulfilment, built by loads, on a copy of the built world:
    a dispute taken out of the raw load (nothing arrives) rewrites its invoice alone, counting one
    dispute fewer, and an order dated later than any before, shipped and not yet invoiced, moves
    the data's date on: an order not shipped whose window has then passed is late, with nothing of
    its own arriving. Every dispute taken out makes every dispute count unknown, and every perfect
    order too (disputes are no longer loaded; the later order has no invoice to be rebuilt by); the
    same rows back under their old load ids make them known again. After each build every invoice
    counts the disputes staged for it; at the end both marts equal a full refresh."""
    _, warehouse, _ = built
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    work = tmp_path / "dbt"
    marts = "fct_invoice_accuracy fct_order_fulfilment"
    no_tests = NO_TESTS
    models = ["--select", f"int_data_as_of fct_orders fct_o2c_cycle_times {marts}", *no_tests]
    counted = "select invoice_id, n_disputes from marts.fct_invoice_accuracy"
    staged = (
        "select invoices.invoice_id, count(disputes.invoice_id) as n_disputes from marts.fct_invoices as invoices "
        "left join staging.stg_erp__disputes as disputes on invoices.invoice_id = disputes.invoice_id "
        "group by invoices.invoice_id"
    )
    rewritten = (
        "select invoice_id from marts.fct_invoice_accuracy "
        "where built_at = (select max(built_at) from marts.fct_invoice_accuracy) order by invoice_id"
    )
    invoices = query(copy, "select count(*) as n from marts.fct_invoices")["n"][0]
    disputed = query(
        copy,
        "select min(invoice_id) as i from raw_erp.disputes where invoice_id in (select invoice_id from marts.fct_invoices)",
    )["i"][0]
    before = query(copy, f"{counted} where invoice_id = ?", disputed)["n_disputes"][0]
    write(copy, "create table main.disputes_as_loaded as select * from raw_erp.disputes")
    write(
        copy,
        "delete from raw_erp.disputes where rowid = (select min(rowid) from raw_erp.disputes where invoice_id = ?)",
        disputed,
    )
    unshipped = order_not_shipped_made_late_by_a_later_order(copy)
    build(copy, work, *models)
    assert query(copy, rewritten)["invoice_id"].to_list() == [disputed]
    assert query(copy, f"{counted} where invoice_id = ?", disputed)["n_disputes"][0] == before - 1
    assert query(copy, "select is_on_time from marts.fct_order_fulfilment where order_id = ?", unshipped).rows() == [
        (False,)
    ]
    assert sorted_rows(copy, counted).equals(sorted_rows(copy, staged))
    write(copy, "delete from raw_erp.disputes")
    build(copy, work, *models)
    assert query(copy, "select count(*) as n, count(n_disputes) as known from marts.fct_invoice_accuracy").rows() == [
        (invoices, 0)
    ]
    assert query(
        copy,
        "select count(*) filter (where disputes_loaded) as loaded, count(is_perfect_order) as known "
        "from marts.fct_order_fulfilment",
    ).rows() == [(0, 0)]
    write(copy, "insert into raw_erp.disputes select * from main.disputes_as_loaded")
    build(copy, work, *models)
    assert query(copy, rewritten).height == invoices
    assert sorted_rows(copy, counted).equals(sorted_rows(copy, staged))
    incremental = {name: sorted_rows(copy, f"select * from marts.{name}") for name in marts.split()}
    build(copy, work, "--full-refresh", "--select", marts, *no_tests)
    for name, rows in incremental.items():
        assert rows.equals(sorted_rows(copy, f"select * from marts.{name}")), name


def order_not_shipped_made_late_by_a_later_order(warehouse: Path) -> str:
    """An order not shipped and not yet late (its window still open on the data's date), and a
    later order loaded, dated after that window closes (which moves the data's date on) and
    shipped the next day, not invoiced: the first order's id."""
    unshipped = query(
        warehouse,
        "select min(order_id) as o from marts.fct_order_fulfilment where is_on_time is null and shipments_loaded",
    )["o"][0]
    assert unshipped is not None, "the world has no order still within its window to ship"
    write(
        warehouse,
        "insert into raw_erp.sales_orders select * replace ("
        "    'O-LATER' as order_id,"
        "    (select as_of_date from intermediate.int_data_as_of) + interval 30 day as order_date,"
        "    cast(epoch(current_timestamp) as varchar) as _dlt_load_id"
        ") from raw_erp.sales_orders where order_id <> ? and order_status <> 'cancelled' order by order_id limit 1",
        unshipped,
    )
    write(
        warehouse,
        "insert into raw_erp.shipments select * replace ("
        "    'S-LATER' as shipment_id,"
        "    'O-LATER' as order_id,"
        "    (select as_of_date from intermediate.int_data_as_of) + interval 31 day as shipment_date,"
        "    cast(epoch(current_timestamp) as varchar) as _dlt_load_id"
        ") from raw_erp.shipments order by shipment_id limit 1",
    )
    return unshipped


def test_cash_application_precision_and_recall_by_amount_against_the_truth(
    built, capsys: pytest.CaptureFixture[str]
) -> None:
    """By amount in the reporting currency: of the money the truth says paid invoices, the share
    applied to the right invoice (recall); of the money applied, the share that is right
    (precision). docs/metrics.md has the figures of the default world."""
    sources, warehouse, _ = built
    pairs = _truth_by_amount(warehouse, sources)
    recall = pairs["correct_rc"].sum() / pairs["true_rc"].sum()
    precision = pairs["correct_rc"].sum() / pairs["applied_rc"].sum()
    by_method = (
        pairs.filter(pl.col("match_method").is_not_null())
        .group_by("match_method")
        .agg(
            pl.len().alias("pairs"),
            pl.col("applied_rc").sum(),
            (pl.col("correct_rc").sum() / pl.col("applied_rc").sum()).alias("precision"),
        )
        .sort("match_method")
    )
    unsaid = _receipts_paying_part_of_an_invoice_without_saying_which(warehouse, sources)
    said = pairs.join(unsaid, on="payment_id", how="anti")
    recall_of_said = said["correct_rc"].sum() / said["true_rc"].sum()
    unsaid_share = 1 - said["true_rc"].sum() / pairs["true_rc"].sum()
    with capsys.disabled():
        print(
            f"\ncash application vs ground truth: recall {recall:.4f}, precision {precision:.4f}; "
            f"{unsaid_share:.2%} of the money pays part of an invoice without saying which, "
            f"recall of the rest {recall_of_said:.4f}\n{by_method}"
        )
    assert precision >= 0.995
    assert recall_of_said >= RECALL_OF_RECEIPTS_THAT_SAY
    # The world does have such receipts (a batch paying part of one invoice, no reference): they
    # are what keeps the overall recall below 0.99.
    assert 0.01 < unsaid_share < 0.10
    assert recall >= RECALL_REACHED
    methods = dict(zip(by_method["match_method"], by_method["precision"], strict=True))
    assert methods["source"] == 1.0
    assert methods["reference"] >= 0.99
    assert {"amount", "amount_combination", "reference_fuzzy"} <= methods.keys()


def _truth_open_ar_rc(warehouse: Path, sources: Path, as_of: dt.date) -> float:
    """Open AR as of a date from the simulator's truth: invoice amounts less credit memos and
    truly allocated payments dated by then, at the invoice-date rate (the aging's basis),
    from the raw tables and the FX file only."""
    invoices = query(
        warehouse,
        f"select invoice_id, currency, invoice_date, invoice_amount::double as amount from raw_erp.invoices "
        f"where invoice_date <= date '{as_of}'",
    )
    credits = query(
        warehouse,
        f"select invoice_id, sum(credit_amount)::double as credited from raw_erp.credit_memos "
        f"where credit_memo_date <= date '{as_of}' and invoice_id is not null group by 1",
    )
    paid = (
        simulator.read_ground_truth(sources, "payment_allocations")
        .filter(pl.col("invoice_id").is_not_null() & (pl.col("payment_date") <= as_of))
        .group_by("invoice_id")
        .agg(pl.col("amount").sum().cast(pl.Float64).alias("paid"))
    )
    rates = query(
        warehouse, "select from_currency as currency, rate_date, rate::double as rate from raw_fx.fx_rates"
    ).sort("rate_date")
    with_rates = invoices.sort("invoice_date").join_asof(
        rates, left_on="invoice_date", right_on="rate_date", by="currency", strategy="backward", check_sortedness=False
    )
    first_rates = rates.group_by("currency").agg(pl.col("rate").first().alias("first_rate"))
    open_items = (
        with_rates.join(first_rates, on="currency", how="left")
        .join(credits, on="invoice_id", how="left")
        .join(paid, on="invoice_id", how="left")
        .with_columns(
            # the reporting currency converts at 1; days before the first rate use the first
            pl.coalesce("rate", "first_rate", pl.lit(1.0)).alias("rate"),
            (pl.col("amount") - pl.col("credited").fill_null(0) - pl.col("paid").fill_null(0)).clip(0).alias("open"),
        )
    )
    return float((open_items["open"] * open_items["rate"]).round(2).sum())


def test_published_net_open_ar_is_within_one_percent_of_the_truth_at_every_month_end(built) -> None:
    sources, warehouse, _ = built
    published = query(
        warehouse,
        "select period_end, open_ar_rc::double as gross, open_ar_net_rc::double as net "
        "from marts.fct_ar_kpis_monthly where period_end = last_day(period_end) order by 1",
    )
    assert published.height >= 6
    for row in published.iter_rows(named=True):
        truth = _truth_open_ar_rc(warehouse, sources, row["period_end"])
        print(f"{row['period_end']}: truth {truth:,.2f} net {row['net']:,.2f} gross {row['gross']:,.2f}")
        assert abs(row["net"] / truth - 1) <= 0.01, (row, truth)
        assert row["gross"] >= row["net"]


def test_every_aged_item_is_in_the_bucket_the_macro_bounds_give(built) -> None:
    """fct_ar_aging's bucket of every row is the one the bounds of macros/aging_buckets.sql give
    (read in Python by quality.aging, the Python side's one source), every bucket in use."""
    _, warehouse, _ = built
    aged = query(
        warehouse,
        "select distinct days_past_due, aging_bucket, aging_bucket_order from marts.fct_ar_aging order by 1",
    )
    expected = [(aging_bucket_of(days).label, aging_bucket_of(days).order) for days in aged["days_past_due"]]
    assert list(zip(aged["aging_bucket"], aged["aging_bucket_order"], strict=True)) == expected
    assert (
        set(aged["aging_bucket"])
        == set(aging_bucket_labels())
        == {"current", "1-30", "31-60", "61-90", "91-120", "121+"}
    )


def test_aging_at_a_past_month_end_is_the_same_after_later_payments_arrive(tmp_path: Path, built) -> None:
    """Aging as of END (a month-end) from a world snapshot taken at END equals the aging as of
    END computed after the world moved on 45 days."""
    sources, warehouse, _ = built
    later = tmp_path / "later"
    shutil.copytree(sources, later / "sources")
    url = f"sqlite:///{later / 'sources' / 'erp.sqlite'}"
    simulator.advance(later / "sources", url, 45)
    config = ingest_config(later, later / "sources", url)
    ingest(config)
    build(config.warehouse, later / "dbt")
    sql = (
        f"select invoice_id, aging_bucket, days_past_due, open_balance, open_balance_rc from marts.fct_ar_aging "
        f"where as_of_date = date '{END.isoformat()}' order by invoice_id"
    )
    then, now = query(warehouse, sql), query(config.warehouse, sql)
    assert then.height > 100
    assert now.equals(then)
    # Later payments did arrive: today's open AR is a different set of invoices.
    today = query(config.warehouse, "select max(as_of_date) as d from marts.fct_ar_aging")["d"][0]
    assert today == END + dt.timedelta(days=45)


def amend_the_erp_behind_the_simulator(erp: Path) -> tuple[str, str, str, str]:
    """What a real ERP does that the simulator does not: a credit memo dated 100 days back on a
    paid invoice (credit on account), an old paid invoice's amount corrected (100 more), an open
    invoice cancelled and a resolved dispute reopened. Each stamped with the ERP's latest update
    time, as its own change log would. The four invoices' ids."""
    con = sqlite3.connect(erp)
    try:
        (now,) = con.execute("select max(updated_at) from invoices").fetchone()
        back = (dt.date.fromisoformat(now[:10]) - dt.timedelta(days=100)).isoformat()
        paid, customer, currency = con.execute(
            "select invoice_id, customer_id, currency from invoices where invoice_status = 'paid' "
            "and invoice_date < ? order by invoice_id limit 1",
            (back,),
        ).fetchone()
        con.execute(
            "insert into credit_memos values ('CM-BACKDATED-1', 'CM-BACKDATED-1', ?, ?, ?, ?, 12.34, 'pricing', ?)",
            (customer, paid, back, currency, now),
        )
        (corrected,) = con.execute(
            # a paid one: the simulator rewrites an open invoice's row when it settles it
            "select invoice_id from invoices where invoice_id <> ? and invoice_date < ? "
            "order by invoice_status <> 'paid', invoice_date, invoice_id limit 1",
            (paid, back),
        ).fetchone()
        con.execute(
            "update invoices set invoice_amount = invoice_amount + 100, updated_at = ? where invoice_id = ?",
            (now, corrected),
        )
        # an invoice open for weeks, cancelled by a credit note for all of it dated on its own date
        cancelled = con.execute(
            "select invoice_id, customer_id, invoice_date, currency, invoice_amount from invoices "
            "where invoice_status <> 'paid' and invoice_id <> ? and invoice_date < ? "
            "order by invoice_date desc, invoice_id limit 1",
            (corrected, (dt.date.fromisoformat(now[:10]) - dt.timedelta(days=30)).isoformat()),
        ).fetchone()
        con.execute(
            "insert into credit_memos values ('CM-CANCEL-1', 'CM-CANCEL-1', ?, ?, ?, ?, ?, 'cancellation', ?)",
            (cancelled[1], cancelled[0], cancelled[2], cancelled[3], cancelled[4], now),
        )
        con.commit()
    finally:
        con.close()
    return paid, corrected, cancelled[0], reopen_a_dispute_on_a_paid_invoice(erp, (paid, corrected, cancelled[0]))


def reopen_a_dispute_on_a_paid_invoice(erp: Path, spared: tuple[str, ...]) -> str:
    """What a collector's ERP does: a dispute resolved long ago on a paid invoice (none of
    `spared`) opened again, stamped with the ERP's latest update time: the invoice is disputed
    though nothing is owed on it. Its invoice's id."""
    con = sqlite3.connect(erp)
    try:
        (now,) = con.execute("select max(updated_at) from invoices").fetchone()
        dispute, invoice = con.execute(
            "select dispute_id, invoice_id from disputes where dispute_status = 'resolved' and invoice_id in "
            "    (select invoice_id from invoices where invoice_status = 'paid') "
            f"and invoice_id not in ({', '.join('?' for _ in spared)}) order by opened_date, dispute_id limit 1",
            spared,
        ).fetchone()
        con.execute(
            "update disputes set dispute_status = 'open', resolution = null, resolved_date = null, updated_at = ? "
            "where dispute_id = ?",
            (now, dispute),
        )
        con.commit()
    finally:
        con.close()
    return invoice


def assert_the_invoice_mart_follows_its_disputes(invoices: pl.DataFrame, invoice: str, *, disputed: bool) -> None:
    """The paid invoice's row in the incrementally built invoice mart: disputed or not, paid."""
    row = invoices.filter(pl.col("invoice_id") == invoice).select("is_disputed", "invoice_status")
    assert row.rows() == [(disputed, "paid")]


Pair = tuple[str, str]


def change_what_the_cash_application_reads(
    erp: Path, ops_url: str, warehouse: Path
) -> tuple[list[Pair], Pair, Pair, Pair]:
    """Four changes, each to another customer who stopped paying: two receipts on account made
    payable, an amount match reversed by hand, an invoice a receipt quotes renumbered, an open
    item credited down to what a receipt on account holds. Their (receipt, invoice) pairs."""
    payable = make_two_receipts_on_account_payable(erp, warehouse)
    reversed_pair = reverse_an_amount_match_of_another_customer(ops_url, warehouse, [p for p, _ in payable])
    others = [p for p, _ in payable] + [reversed_pair[0]]
    renumbered = renumber_an_invoice_a_receipt_quotes(erp, warehouse, others)
    owed_exactly = credit_an_open_item_down_to_what_a_receipt_holds(erp, warehouse, [*others, renumbered[0]])
    return payable, reversed_pair, renumbered, owed_exactly


def credit_an_open_item_down_to_what_a_receipt_holds(erp: Path, warehouse: Path, others: list[str]) -> Pair:
    """A credit memo dated today on an item open today of a customer who stopped paying, other
    than the customers of the receipts `others`, leaving it owed exactly what one of the
    customer's receipts on account holds (nothing else of the customer changes: the item was
    open, and stays open). The (receipt, invoice) pair."""
    receipt, invoice, customer, currency, credit, today = query(
        warehouse,
        "with as_of as (select as_of_date from intermediate.int_data_as_of), "
        "open_today as (select intervals.invoice_id, intervals.open_balance from "
        "    intermediate.int_invoice_balance_intervals as intervals, as_of "
        "    where as_of.as_of_date between intervals.valid_from and intervals.valid_to and intervals.open_balance > 0), "
        "last_paid as (select customer_id, max(payment_date) as last_paid from intermediate.int_payments_unioned "
        "    group by customer_id) "
        "select receipts.payment_id, invoices.invoice_id, invoices.customer_id, invoices.currency, "
        "    open_today.open_balance - receipts.unapplied_amount, as_of.as_of_date "
        "from intermediate.int_unapplied_receipts as receipts "
        "inner join staging.stg_erp__invoices as invoices "
        "    on receipts.customer_id = invoices.customer_id and receipts.currency = invoices.currency "
        "inner join open_today using (invoice_id) "
        "inner join last_paid on last_paid.customer_id = receipts.customer_id, as_of "
        "where open_today.open_balance > receipts.unapplied_amount + 1 and receipts.customer_id not in "
        "    (select customer_id from intermediate.int_payments_unioned "
        f"    where list_contains({others!r}, payment_id) and customer_id is not null) "
        "order by last_paid.last_paid, receipts.payment_id, invoices.invoice_id limit 1",
    ).row(0)
    con = sqlite3.connect(erp)
    try:
        (now,) = con.execute("select max(updated_at) from invoices").fetchone()
        con.execute(
            "insert into credit_memos values ('CM-DOWN-TO-RECEIPT', 'CM-DOWN-TO-RECEIPT', ?, ?, ?, ?, ?, 'pricing', ?)",
            (customer, invoice, str(today), currency, float(credit), now),
        )
        con.commit()
    finally:
        con.close()
    return receipt, invoice


def change_what_the_marts_read(
    erp: Path, warehouse: Path, pairs: list[Pair], spared: tuple[str, ...], rate_currency: str
) -> tuple[list[str], Pair, dict[str, tuple[str, int]], tuple[str, str]]:
    """Four changes to the ERP that the cash application does not read: a customer's bank
    account entered on another customer too, a paid invoice billed to another customer, a
    settled invoice moved to another order, and a customer moved to another region. The two
    accounts, the invoice with its new customer, the two orders
    (move_an_invoice_to_another_order), and the customer with its new region."""
    accounts = give_a_customer_anothers_bank_account(erp, warehouse, pairs)
    billed_anew = bill_a_paid_invoice_to_another_customer(erp, warehouse, pairs, spared)
    orders = move_an_invoice_to_another_order(
        erp, warehouse, (*spared, billed_anew[0], *[i for _, i in pairs]), rate_currency
    )
    customer, region = query(
        warehouse,
        "select customer_id, (select min(region) from staging.stg_erp__customers as others "
        "    where others.region <> customers.region) as region "
        "from staging.stg_erp__customers as customers "
        "where customers.region is not null and customer_id in (select customer_id from marts.fct_o2c_cycle_times) "
        "and customer_id not in (select customer_id from staging.stg_erp__invoices where list_contains(?, invoice_id)) "
        "order by customer_id desc limit 1",
        [*spared, billed_anew[0], *[i for _, i in pairs]],
    ).row(0)
    change_the_erp(
        erp,
        "update customers set region = :region, updated_at = :now where customer_id = :customer",
        region=region,
        customer=customer,
    )
    return accounts, billed_anew, orders, (customer, region)


def bill_a_paid_invoice_to_another_customer(
    erp: Path, warehouse: Path, pairs: list[Pair], spared: tuple[str, ...]
) -> Pair:
    """What a bill-to correction in an ERP does: an invoice paid in full by the one receipt the
    source applied to it alone, none of `spared`, of a customer other than those of `pairs`'
    invoices, moved to another such customer in its currency, stamped with the ERP's latest
    update time. The source's application stands (it names the invoice, whoever is billed), so
    the combined matches do not rebuild the invoice: only the cash application mart's own look
    at the invoices loaded since sees the new customer. The invoice and its new customer."""
    involved = f"(select customer_id from staging.stg_erp__invoices where list_contains({[i for _, i in pairs]!r}, invoice_id))"
    invoice, customer = query(
        warehouse,
        "with matched as (select *, count(*) over (partition by invoice_id) as on_invoice, "
        "    count(*) over (partition by payment_id) as of_payment "
        "    from intermediate.int_payments_matched_to_invoices) "
        "select invoices.invoice_id, others.customer_id from matched "
        "inner join marts.fct_invoices as invoices using (invoice_id) "
        "inner join staging.stg_erp__customers as others "
        "    on others.currency = invoices.currency and others.customer_id <> invoices.customer_id "
        "where matched.match_method = 'source' and matched.on_invoice = 1 and matched.of_payment = 1 "
        f"and invoices.invoice_status = 'paid' and not list_contains({list(spared)!r}, invoices.invoice_id) "
        f"and invoices.customer_id not in {involved} and others.customer_id not in {involved} "
        "order by invoices.invoice_id, others.customer_id limit 1",
    ).row(0)
    change_the_erp(
        erp,
        "update invoices set customer_id = :customer, updated_at = :now where invoice_id = :invoice",
        customer=customer,
        invoice=invoice,
    )
    return invoice, customer


def give_a_customer_anothers_bank_account(erp: Path, warehouse: Path, pairs: list[Pair]) -> list[str]:
    """What a slip in an ERP's customer master does: a customer's bank account entered on another
    customer too, stamped with the ERP's latest update time. Of two customers whose bank receipts
    are matched by account, none a customer of `pairs`' invoices: the account no longer names one
    payer and the second customer's own account names none, so the receipts from both accounts
    are matched by the payer's name (to the same customers: the names are unique). The two
    accounts."""
    (_, first_account), (second, second_account) = query(
        warehouse,
        "select customer_id, min(payer_account) as payer_account from intermediate.int_payments_unioned "
        "where customer_match_method = 'payer_account' and customer_id not in (select customer_id "
        f"    from staging.stg_erp__invoices where list_contains({[i for _, i in pairs]!r}, invoice_id)) "
        "group by customer_id order by customer_id limit 2",
    ).rows()
    change_the_erp(
        erp,
        "update customers set bank_account = :account, updated_at = :now where customer_id = :customer",
        account=first_account,
        customer=second,
    )
    return [first_account, second_account]


def change_the_erp(erp: Path, sql: str, **values: object) -> None:
    """What an ERP user does: one statement, its rows stamped with the ERP's latest update time
    (`:now` in `sql`), as the ERP's own change log would."""
    con = sqlite3.connect(erp)
    try:
        (now,) = con.execute("select max(updated_at) from invoices").fetchone()
        con.execute(sql, {**values, "now": now})
        assert con.total_changes > 0, sql
        con.commit()
    finally:
        con.close()


def assert_the_marts_followed_the_erp(
    warehouse: Path,
    accounts: list[str],
    billed_anew: Pair,
    orders: dict[str, tuple[str, int]],
    moved_customer: tuple[str, str],
) -> None:
    """After the incremental run: the payments followed their payers, the invoice billed to
    another customer has its one application under that customer in the cash application mart,
    the orders count what they hold now, and the cycles of the customer moved to another region
    are in that region."""
    assert_the_payments_followed_their_payers(warehouse, accounts)
    assert_the_orders_count_what_they_now_hold(warehouse, orders)
    customer, region = moved_customer
    regions = query(warehouse, "select distinct region from marts.fct_o2c_cycle_times where customer_id = ?", customer)
    assert regions["region"].to_list() == [region]
    invoice, customer = billed_anew
    applications = query(
        warehouse, f"select customer_id from marts.fct_cash_applications where invoice_id = '{invoice}'"
    )
    assert applications["customer_id"].to_list() == [customer]


def assert_the_payments_followed_their_payers(warehouse: Path, accounts: list[str]) -> None:
    """After the incremental run: the receipts from the two accounts are matched by the payer's
    name, to the customer the account matched before, in the payments and their mart; and the run
    wrote again far fewer payments than there are (the others kept the rows of the build before)."""
    for model in BY_PAYMENT:
        table = f"{schema(model)}.{model}"
        matched = query(
            warehouse,
            "select accounts.payer_account, payments.customer_match_method, "
            "count(distinct payments.customer_id) as customers "
            f"from {table} as payments inner join intermediate.int_payments_unioned as accounts using (payment_id) "
            f"where list_contains({accounts!r}, accounts.payer_account) group by all order by all",
        )
        assert matched.rows() == [(account, "payer_name", 1) for account in sorted(accounts)], model
        written, kept = query(
            warehouse,
            f"select count(*) filter (where built_at = (select max(built_at) from {table})), "
            f"count(*) filter (where built_at < (select max(built_at) from {table})) from {table}",
        ).row(0)
        assert 0 < written < kept / 4, (model, written, kept)


def assert_the_changes_reached_the_cash_application(
    warehouse: Path, payable: list[Pair], reversed_pair: Pair, owed_exactly: Pair
) -> None:
    """The receipts made payable are applied by the first amount pass, the reversed pair is not,
    and the item credited down to what a receipt holds is suggested for it as owing exactly that
    (its customer's suggestions were made again: without the open balances in the fingerprint
    they are not)."""
    applied = query(
        warehouse, f"select payment_id, invoice_id from intermediate.{PASSES[0]} where invoice_id is not null"
    )
    assert set(payable) <= set(applied.rows()) and reversed_pair not in applied.rows()
    suggested = query(
        warehouse,
        f"select match_method, match_confidence from intermediate.{SUGGESTIONS} "
        f"where payment_id = '{owed_exactly[0]}' and invoice_id = '{owed_exactly[1]}'",
    )
    assert suggested.rows() == [("amount", Decimal("0.50"))]


def renumber_an_invoice_a_receipt_quotes(erp: Path, warehouse: Path, others: list[str]) -> tuple[str, str]:
    """An invoice renumbered in the ERP (stamped with its latest update time) whose old number a
    receipt quotes exactly, of a customer who stopped paying (so no receipt of theirs in the next
    days reads the customer's quotes again) other than the customers of the receipts `others`:
    the quote no longer names it. The (receipt, invoice) pair."""
    pair = query(
        warehouse,
        "select quoted.payment_id, quoted.invoice_id from intermediate.int_cash_application_quoted as quoted "
        "inner join intermediate.int_payments_unioned as payments using (payment_id) "
        "inner join (select customer_id, max(payment_date) as last_paid from intermediate.int_payments_unioned "
        "    group by customer_id) as customers on payments.customer_id = customers.customer_id "
        "where quoted.match_method = 'reference' and payments.customer_id not in (select customer_id "
        f"    from intermediate.int_payments_unioned where list_contains({others!r}, payment_id)) "
        "order by customers.last_paid, quoted.payment_id, quoted.invoice_id limit 1",
    ).row(0)
    con = sqlite3.connect(erp)
    try:
        (now,) = con.execute("select max(updated_at) from invoices").fetchone()
        con.execute(
            "update invoices set invoice_number = 'RENUMBERED-' || invoice_id, updated_at = ? where invoice_id = ?",
            (now, pair[1]),
        )
        con.commit()
    finally:
        con.close()
    return pair[0], pair[1]


def assert_the_quoted_invoices_are_read_again_only_where_their_inputs_changed(
    warehouse: Path, work: Path, renumbered: tuple[str, str], no_tests: list[str]
) -> None:
    """The quoted invoices built after the world moved on, with the invoice numbers they read as
    keys (int_invoice_references) but before the models built from them, which would read the
    marks: only the payers' months whose inputs changed are read again, and the renumbered
    invoice is no longer quoted by its receipt (the receipt's month was read again: without the
    invoices in the fingerprint it is not)."""
    kept = mark_the_rows_built_by_customer(warehouse, [QUOTED])
    build(warehouse, work, "--select", f"int_invoice_references {QUOTED}", *no_tests)
    changed = assert_marks_survive_only_where_the_inputs_did_not_change(warehouse, kept)[QUOTED]
    payment, invoice = renumbered
    assert (payment, invoice) not in query(
        warehouse, f"select payment_id, invoice_id from intermediate.{QUOTED}"
    ).rows()
    receipt_month = query(
        warehouse,
        "select coalesce(customer_id, '') || '|' || cast(date_trunc('month', payment_date) as date) as payer_month "
        f"from intermediate.int_payments_unioned where payment_id = '{payment}'",
    )
    assert receipt_month["payer_month"][0] in changed


# The first amount pass's rows with their receipts and the day their customer last paid: ordered by
# it, customers who stopped paying come first, so no receipt of theirs in the next days retries them.
PASS_1_RECEIPTS_WITH_LAST_PAID = (
    "intermediate.int_cash_application_pass_1 as pass_1 "
    "inner join intermediate.int_cash_application_receipts as receipts using (payment_id) "
    "inner join (select customer_id, max(payment_date) as last_paid from intermediate.int_payments_unioned "
    "group by customer_id) as customers on receipts.customer_id = customers.customer_id"
)


def make_two_receipts_on_account_payable(erp: Path, warehouse: Path) -> list[tuple[str, str]]:
    """Documents dated in the past that let two receipts the first amount pass left on account
    be applied, each of another customer: an invoice of exactly the first receipt's amount,
    dated before it, and a credit on an untouched invoice of the second's customer that leaves
    exactly the second's amount open at its date. The (receipt, invoice) pairs."""
    on_account = query(
        warehouse,
        "select receipts.payment_id, receipts.customer_id, receipts.payment_date, receipts.currency, "
        f"receipts.residual from {PASS_1_RECEIPTS_WITH_LAST_PAID} "
        "where pass_1.invoice_id is null order by customers.last_paid, receipts.payment_date, receipts.payment_id",
    ).rows()
    first = on_account[0]
    # an invoice of the second customer nothing settled by the receipt's date, owed more than it
    untouched = (
        "select invoices.invoice_id, invoices.invoice_amount from staging.stg_erp__invoices as invoices "
        "where invoices.customer_id = ? and invoices.currency = ? and invoices.invoice_date <= ? "
        "and invoices.invoice_amount > ? "
        "and not exists (select 1 from staging.stg_erp__credit_memos as credits "
        "    where credits.invoice_id = invoices.invoice_id and credits.credit_memo_date <= ?) "
        "and not exists (select 1 from intermediate.int_payments_matched_to_invoices as applied "
        "    where applied.invoice_id = invoices.invoice_id and applied.applied_date <= ?) "
        "order by invoices.invoice_id limit 1"
    )
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        second, invoice = next(
            (receipt, found)
            for receipt in on_account
            if receipt[1] != first[1]
            for found in [
                con.execute(
                    untouched, [receipt[1], receipt[3], receipt[2], receipt[4], receipt[2], receipt[2]]
                ).fetchone()
            ]
            if found
        )
    finally:
        con.close()
    sqlite = sqlite3.connect(erp)
    try:
        (now,) = sqlite.execute("select max(updated_at) from invoices").fetchone()
        _, customer, paid_on, currency, amount = first
        sqlite.execute(
            "insert into invoices values ('IV-BACKDATED-1', 'INV-BACKDATED-1', ?, null, null, ?, ?, ?, null, ?, "
            "'open', ?)",
            (
                customer,
                str(paid_on - dt.timedelta(days=10)),
                str(paid_on - dt.timedelta(days=5)),
                currency,
                float(amount),
                now,
            ),
        )
        _, customer, paid_on, currency, amount = second
        sqlite.execute(
            "insert into credit_memos values ('CM-BACKDATED-2', 'CM-BACKDATED-2', ?, ?, ?, ?, ?, 'pricing', ?)",
            (customer, invoice[0], str(paid_on), currency, float(invoice[1] - amount), now),
        )
        sqlite.commit()
    finally:
        sqlite.close()
    return [(first[0], "IV-BACKDATED-1"), (second[0], invoice[0])]


def reverse_an_amount_match_of_another_customer(ops_url: str, warehouse: Path, others: list[str]) -> tuple[str, str]:
    """A person reverses, in the ops store, an application the first amount pass made for a
    customer who stopped paying, other than the customers of the receipts `others`. The pair."""
    pair = query(
        warehouse,
        "select pass_1.payment_id, pass_1.invoice_id, receipts.payment_date "
        f"from {PASS_1_RECEIPTS_WITH_LAST_PAID} "
        "where pass_1.invoice_id is not null and receipts.customer_id not in "
        f"    (select customer_id from intermediate.int_cash_application_receipts where list_contains({others!r}, payment_id)) "
        "order by customers.last_paid, receipts.payment_date, pass_1.payment_id limit 1",
    ).row(0)
    reversal = ManualApplication("reverse", pair[0], pair[1], pair[2] + dt.timedelta(days=1), "tests")
    record_manual_application(ops_url, reversal)
    return pair[0], pair[1]


# Built incrementally: the AR aging by as-of date; by invoice the open-item ledger, its balance
# intervals, the settlements, the AR ledger, open-item balance and invoice marts and the cash
# application's combined matches; the
# cash application's quoted invoices by payer and month, its amount passes and suggestions by
# customer (macros/incremental_by_key.sql).
QUOTED = "int_cash_application_quoted"
MATCHED = "int_payments_matched_to_invoices"
SUGGESTIONS = "int_cash_application_suggestions"
PASSES = [f"int_cash_application_pass_{n}" for n in range(1, 5)]
# the ledger and the models built from it, the cash application's mart, the invoices' accuracy
# and their reference keys: by what arrived since their last build; and the cash application's
# references, by the dates from which what arrived changes them
REFERENCES = "int_cash_application_references"
BY_LOADS = [
    REFERENCES,
    "int_invoice_references",
    "int_open_item_events",
    "int_invoice_balance_intervals",
    "int_invoice_settlements",
    "fct_open_item_events",
    "fct_open_item_balances",
    "fct_invoices",
    "fct_cash_applications",
    "fct_invoice_accuracy",
]
BY_INVOICE = [*BY_LOADS, MATCHED]
# the payments and their mart, by payment: by what arrived and by what their payer, rate or
# applications now are
BY_PAYMENT = ["int_payments_unioned", "fct_payments"]
# the orders' mart, by order: by what arrived and by the parts an order no longer holds; the
# cycle times, by the orders it wrote, the invoices and the customers; the orders' fulfilment, by
# the orders and invoices' accuracy written since, and every order not shipped
BY_ORDER = ["fct_orders", "fct_o2c_cycle_times", "fct_order_fulfilment"]
INCREMENTAL = ["fct_ar_aging", *BY_INVOICE, *BY_PAYMENT, *BY_ORDER, QUOTED, *PASSES, SUGGESTIONS]


def test_incremental_models_equal_a_full_refresh_after_the_world_advances(tmp_path: Path, built) -> None:
    sources, warehouse, _ = built
    root = tmp_path / "incremental"
    shutil.copytree(sources, root / "sources")
    url = f"sqlite:///{root / 'sources' / 'erp.sqlite'}"
    config = ingest_config(root, root / "sources", url, ops_url=f"sqlite:///{root / 'ops.sqlite'}")
    shutil.copy(warehouse, config.warehouse)
    # Only what these are built from (43 of the 76 models), without data tests (the whole
    # project's are test_build_passes_every_test's; the marts that fct_ar_aging's tests reconcile
    # it with are not rebuilt here).
    no_tests = NO_TESTS
    selected = " ".join(f"+{name}" for name in INCREMENTAL)
    tables = incremental_tables()
    assert_an_upgraded_warehouse_is_rebuilt_whole(config.warehouse, root / "dbt", tables, no_tests)
    simulator.advance(root / "sources", url, 3)  # within the month
    paid, corrected, cancelled, reopened = amend_the_erp_behind_the_simulator(root / "sources" / "erp.sqlite")
    rate_corrected = correct_a_published_rate(root / "sources", config.warehouse)
    payable, reversed_pair, renumbered, owed_exactly = change_what_the_cash_application_reads(
        root / "sources" / "erp.sqlite", config.ops_url, config.warehouse
    )
    had_intervals = query(
        config.warehouse,
        f"select count(*) as n from intermediate.int_invoice_balance_intervals where invoice_id = '{cancelled}'",
    )["n"][0]
    untouched = query(
        config.warehouse,
        "select min(invoice_id) as i from intermediate.int_invoice_settlements "
        f"where paid_date < date '{END}' - 150 and invoice_id not in ('{paid}', '{corrected}', '{cancelled}')",
    )["i"][0]
    aging_before = sorted_rows(config.warehouse, tables["fct_ar_aging"])
    pairs = [*payable, reversed_pair, renumbered, owed_exactly]
    shared_accounts, billed_anew, orders, moved_customer = change_what_the_marts_read(
        root / "sources" / "erp.sqlite",
        config.warehouse,
        pairs,
        (untouched, paid, corrected, cancelled, reopened),
        rate_corrected[0],
    )
    moved = move_a_credit_memo_to(
        root / "sources" / "erp.sqlite", config.warehouse, paid, (untouched, corrected, cancelled), pairs
    )
    ingest(config)
    assert_the_quoted_invoices_are_read_again_only_where_their_inputs_changed(
        config.warehouse, root / "dbt", renumbered, no_tests
    )
    vanished, dropped, unpaid, orders = take_documents_out_of_the_raw_load(
        config.warehouse,
        (untouched, paid, corrected, cancelled, reopened, billed_anew[0]),
        pairs,
        rate_corrected[0],
        orders,
    )
    marked = mark_the_ledger_rows_of(config.warehouse, [untouched, corrected])
    built_by_an_earlier_rule(config.warehouse, marked[0])
    # The same for the models built by customer: marks survive only where the inputs did not change.
    kept = mark_the_rows_built_by_customer(config.warehouse, [PASSES[0], SUGGESTIONS])
    build(config.warehouse, root / "dbt", "--select", selected, *no_tests)
    assert_marks_survive_only_where_the_inputs_did_not_change(config.warehouse, kept)
    assert_the_marts_followed_the_erp(config.warehouse, shared_accounts, billed_anew, orders, moved_customer)
    assert_the_changes_reached_the_cash_application(config.warehouse, payable, reversed_pair, owed_exactly)
    assert_the_aging_followed_documents_dated_before_its_last_month_end(
        config.warehouse, root / "dbt", tables["fct_ar_aging"], aging_before, no_tests
    )
    assert_the_invoice_mart_follows_its_disputes(
        query(config.warehouse, tables["fct_invoices"]), reopened, disputed=True
    )
    assert_only_the_unchanged_invoice_kept_its_mark(config.warehouse, marked)
    assert_the_ledger_followed_what_arrived(
        config.warehouse, rate_corrected, (moved, paid), dropped, (unpaid, vanished[1])
    )
    write(config.warehouse, LEDGER_MARK, 0, marked[:1])
    advance_a_month_with_a_rate_only_an_order_reads_corrected(root / "sources", url, config.warehouse)
    ingest(config)
    take_a_dispute_and_a_customer_out_of_the_raw_load(config.warehouse, reopened)
    build_with_the_fulfilment_emptied(config.warehouse, root / "dbt", "--select", selected, *no_tests)
    incremental = {name: sorted_rows(config.warehouse, sql) for name, sql in tables.items()}
    # Refreshed in place, from the parse the incremental builds left (at another path, dbt would
    # parse the whole project again: the warehouse path is in its profile).
    build(config.warehouse, root / "dbt", "--full-refresh", "--select", " ".join(INCREMENTAL), *no_tests)
    for name, sql in tables.items():
        refreshed = sorted_rows(config.warehouse, sql)
        assert incremental[name].height > (10 if name in PASSES else 100 if name == SUGGESTIONS else 500), name
        assert incremental[name].equals(refreshed), name
    # both kinds of pass rows were compared: matches and receipts left on account
    for name in PASSES[0], PASSES[2]:
        assert 0 < incremental[name]["invoice_id"].null_count() < incremental[name].height, name
    as_of_dates = incremental["fct_ar_aging"]["as_of_date"].unique().sort()
    assert as_of_dates[-1] == END + dt.timedelta(days=34)
    assert (as_of_dates[:-1].dt.month_end() == as_of_dates[:-1]).all()  # yesterday's "today" is gone
    assert_the_erps_changes_reached_the_ledger(
        incremental, root / "sources" / "erp.sqlite", (paid, corrected, cancelled, reopened), had_intervals
    )
    # the invoice settled long ago, gone from the load, is gone from every model built by invoice
    # (tombstones; the other, open, may be loaded again when the ERP updates it)
    for name in BY_INVOICE:
        assert incremental[name].filter(pl.col("invoice_id") == vanished[0]).height == 0, name


def dbt_test(warehouse: Path, work: Path, *args: str) -> dict[str, str]:
    """`dbt test`; the status of every test it ran, by name (failing tests do not raise)."""
    run_dbt(["test", *args], warehouse, work, capture=True)
    results = json.loads((work / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[2]: r["status"] for r in results if r["unique_id"].startswith("test.")}


def test_fx_rate_ranges_that_leave_a_gap_or_overlap_fail_the_test_the_as_of_join_relies_on(
    tmp_path: Path, built
) -> None:
    """On DuckDB an amount converts at the rate range that starts last on or before its date (an
    ASOF join, macros/fx_rate_as_of.sql), which is the range holding the date only while a
    currency's ranges run from 1900 to 9999 with no gap or overlap:
    assert_fx_rate_ranges_leave_no_gap names each range that breaks that."""
    _, warehouse, _ = built
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    con = duckdb.connect(str(copy))
    con.execute(
        "create or replace table intermediate.int_fx_rates_valid_ranges as "
        "select currency, cast(rate as decimal(18, 8)) as rate, cast(valid_from as date) as valid_from, "
        "cast(valid_to as date) as valid_to from (values "
        "('EUR', 1.10, '1900-01-01', '2025-01-09'), "  # the next starts on the 11th: the 10th has no rate
        "('EUR', 1.20, '2025-01-11', '2025-01-12'), "
        "('EUR', 1.30, '2025-01-13', '9999-12-31'), "
        "('GBP', 0.90, '2000-01-01', '9999-12-31'), "  # nothing before 2000
        "('JPY', 0.01, '1900-01-01', '2030-01-01'), "  # nothing after 2030
        "('CHF', 1.00, '1900-01-01', '2025-01-01'), "  # overlaps the next
        "('CHF', 1.10, '2024-06-01', '9999-12-31'), "
        "('USD', 1.00, '1900-01-01', '9999-12-31')"
        ") as ranges(currency, rate, valid_from, valid_to)"
    )
    con.close()
    work = tmp_path / "dbt"
    statuses = dbt_test(copy, work, "--select", "assert_fx_rate_ranges_leave_no_gap")
    assert statuses == {"assert_fx_rate_ranges_leave_no_gap": "fail"}
    compiled = next((work / "target" / "compiled").rglob("assert_fx_rate_ranges_leave_no_gap.sql")).read_text()
    problems = query(
        copy, f"select currency, cast(valid_from as varchar) as valid_from, problem from ({compiled}) order by 1"
    )
    assert problems.rows() == [
        ("CHF", "1900-01-01", "the next range does not start the day after this one ends"),
        ("EUR", "1900-01-01", "the next range does not start the day after this one ends"),
        ("GBP", "2000-01-01", "the first range starts after 1900-01-01"),
        ("JPY", "1900-01-01", "the last range ends before 9999-12-31"),
    ]


def test_row_level_tests_read_the_rows_written_since_they_last_passed(
    tmp_path: Path, built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A daily build's row-level data tests of the incremental models and the staging views read
    the rows written (built, or loaded) since each last passed (macros/data_tests_on_new_rows.sql):
    a duplicate written before is not read again (but `o2c check --full` finds it), a new row is
    tested against the whole relation, and a failed test reads the same rows again until it
    passes. So does a singular test that judges each invoice on its own, by the invoices of the
    rows written since: a negative balance planted in the ledger. dbt reads when the tests passed
    once a command, and asks once per relation whether it has rows from before then."""
    _, warehouse, _ = built
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    work = tmp_path / "dbt"
    selected = ["--select", "int_open_item_events fct_ar_aging stg_erp__invoice_lines"]
    uniques = [
        "unique_int_open_item_events_event_id",
        "unique_fct_ar_aging_aging_id",
        "unique_combination_fct_ar_aging_as_of_date__invoice_id",
        "primary_key_stg_erp__invoice_lines_invoice_line_id",
        "assert_invoice_balances_never_negative",
    ]
    # Rows copied as they were, written before the tests last passed (the build, the load); then
    # as written after it (a later build's built_at, a later load's id).
    last_pass = "(select max(passed_at) + interval 1 second from main._o2c_test_passes)"
    planted = [
        (table, key, query(copy, f"select min({key}) as k from {table}")["k"][0], later)
        for table, key, later in (
            ("intermediate.int_open_item_events", "event_id", f"built_at = {last_pass}"),
            ("marts.fct_ar_aging", "aging_id", f"built_at = {last_pass}"),
            ("raw_erp.invoice_lines", "invoice_line_id", f"_dlt_load_id = cast(epoch({last_pass}) as varchar)"),
        )
    ]
    last_copy = "rowid = (select max(rowid) from {table} where {key} = ?)"
    for table, key, value, _ in planted:
        write(copy, f"insert into {table} select * from {table} where {key} = ?", value)
    # a copy of that ledger event taking its invoice a billion below zero (another event id: a
    # negative balance, not a duplicate)
    negative = ("intermediate.int_open_item_events", "event_id", "negative|invoice", planted[0][3])
    write(
        copy,
        f"insert into {negative[0]} select * replace (? as event_id, -1000000000 as amount) "
        f"from {negative[0]} where event_id = ?",
        negative[2],
        planted[0][2],
    )
    planted.append(negative)
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")  # every statement
    statuses = dbt_test(copy, work, *selected)
    assert [statuses[name] for name in uniques] == ["pass"] * 5
    statements = (work / "logs" / "dbt.log").read_text()
    assert statements.count("from main._o2c_test_passes") == 1
    asked = re.findall(r"select 1 from (\S+) as kept", statements)
    assert sorted(asked) == [
        '"warehouse"."intermediate"."int_open_item_events"',
        '"warehouse"."marts"."fct_ar_aging"',
        '"warehouse"."staging"."stg_erp__invoice_lines"',
    ]
    monkeypatch.delenv("DBT_LOG_LEVEL_FILE")
    # read whole, the ledger has a negative balance
    every_row = dbt_test(copy, work, *selected, "--vars", "{test_every_row: true}")
    assert every_row["assert_invoice_balances_never_negative"] == "fail"
    # `o2c check --full` reads every row (the marts: fct_ar_aging)
    o2c(tmp_path / "data", "check", "--marts-only", "--full", check=False, env={"O2C_WAREHOUSE_PATH": str(copy)})
    full = query(
        copy,
        "select expectation, success from quality.dq_results where run_id like 'cli-%' and entity = 'fct_ar_aging' "
        "and expectation in ('unique', 'unique_combination') order by expectation",
    ).rows()
    assert full == [("unique", False), ("unique_combination", False)]
    for table, key, value, later in planted:
        write(copy, f"update {table} set {later} where " + last_copy.format(table=table, key=key), value)
    for _ in range(2):  # a failure is not a pass: the next run reads the same rows
        statuses = dbt_test(copy, work, *selected)
        assert [statuses[name] for name in uniques] == ["fail"] * 5
    for table, key, value, _ in planted:
        write(copy, f"delete from {table} where " + last_copy.format(table=table, key=key), value)
    statuses = dbt_test(copy, work, *selected)
    assert [statuses[name] for name in uniques] == ["pass"] * 5
    # every test of these three ran and passed: the row-level ones and the rest
    assert len(statuses) > 15 and set(statuses.values()) == {"pass"}
    # a new line without a key (from a source whose raw table allows one), of no amount: its primary
    # key's test reads it, though no other row has its key, and fails alone
    table, key, value, _ = planted[2]
    write(copy, f"alter table {table} alter column {key} drop not null")
    write(
        copy,
        f"insert into {table} select * replace (null as {key}, 0 as line_amount, "
        f"cast(epoch({last_pass}) as varchar) as _dlt_load_id) from {table} where {key} = ?",
        value,
    )
    statuses = dbt_test(copy, work, *selected)
    assert {name for name, status in statuses.items() if status != "pass"} == {
        "primary_key_stg_erp__invoice_lines_invoice_line_id"
    }


def correct_a_published_rate(sources: Path, warehouse: Path) -> tuple[str, dt.date, Decimal]:
    """What a rate provider does: a rate published 60 days or more before the world's end
    corrected (1 % higher), sent again in a file of its own; of the currency most invoices are
    in besides the reporting currency. The currency, the rate's date and the rate."""
    currency, rate_date, rate, updated_at = query(
        warehouse,
        "select from_currency, rate_date, rate, updated_at from raw_fx.fx_rates "
        f"where to_currency = 'USD' and rate_date <= date '{END}' - 60 and from_currency = ("
        "    select currency from staging.stg_erp__invoices where currency <> 'USD' "
        "    group by currency order by count(*) desc, currency limit 1) "
        "order by rate_date desc limit 1",
    ).row(0)
    return (
        currency,
        rate_date,
        send_a_rate_correction(sources, "fx_rates_correction.csv", currency, rate_date, rate, updated_at),
    )


def send_a_rate_correction(
    sources: Path, file: str, currency: str, rate_date: dt.date, rate: Decimal, updated_at: dt.datetime
) -> Decimal:
    """A published rate corrected (1 % higher), sent again in a file of its own. The new rate."""
    corrected = (rate * Decimal("1.01")).quantize(Decimal("0.00000001"))
    stamp = (updated_at + dt.timedelta(days=61)).isoformat()
    (sources / "landing" / "fx" / file).write_text(
        f"rate_date,from_currency,to_currency,rate,updated_at\n{rate_date},{currency},USD,{corrected},{stamp}\n"
    )
    return corrected


def advance_a_month_with_a_rate_only_an_order_reads_corrected(sources: Path, url: str, warehouse: Path) -> None:
    """A month of the world, and the rate of the days of a cancelled order on which no invoice of
    its currency is dated corrected: no invoice, hence no settlement, changes (nor any aging), so
    only fct_orders' look at the orders dated where a rate loaded since holds sees it."""
    simulator.advance(sources, url, 31)  # across a month-end
    currency, rate_date, rate, updated_at = query(
        warehouse,
        "select ranges.currency, rates.rate_date, rates.rate, rates.updated_at "
        "from marts.fct_orders as orders "
        "inner join intermediate.int_fx_rates_valid_ranges as ranges "
        "    on orders.currency = ranges.currency and orders.order_date between ranges.valid_from and ranges.valid_to "
        "inner join raw_fx.fx_rates as rates "
        "    on rates.from_currency = ranges.currency and rates.to_currency = 'USD' and rates.rate_date = ranges.valid_from "
        "where orders.n_invoices = 0 and orders.is_cancelled and not exists ("
        "    select 1 from staging.stg_erp__invoices as invoices where invoices.currency = ranges.currency "
        "    and invoices.invoice_date between ranges.valid_from and ranges.valid_to) "
        "order by rates.rate_date, ranges.currency limit 1",
    ).row(0)
    send_a_rate_correction(sources, "fx_rates_correction_2.csv", currency, rate_date, rate, updated_at)


def take_a_dispute_and_a_customer_out_of_the_raw_load(warehouse: Path, reopened: str) -> None:
    """The reopened dispute taken out of the load (as a table reloaded in full without it): nothing
    arrives for its paid invoice, which is no longer disputed. And a customer with cycles and no
    payment: its cycles' segment and region are unknown now, which only the cycle times' look at
    the customers no longer loaded sees (nothing of the customer arrives)."""
    write(warehouse, "delete from raw_erp.disputes where invoice_id = ?", reopened)
    customer = query(
        warehouse,
        "select min(customer_id) as c from marts.fct_o2c_cycle_times where segment is not null "
        "and customer_id not in (select customer_id from intermediate.int_payments_unioned where customer_id is not null)",
    )["c"][0]
    assert customer is not None, "the world has no customer with cycles and no payment"
    write(warehouse, "delete from raw_erp.customers where customer_id = ?", customer)


def assert_the_corrected_rate_reached_the_ledger(warehouse: Path, rate_corrected: tuple[str, dt.date, Decimal]) -> None:
    """The invoices dated from the corrected rate's date until the currency's next rate convert
    at it in the incrementally built ledger (there are some)."""
    currency, rate_date, rate = rate_corrected
    rates = query(
        warehouse,
        "select distinct ledger.fx_rate from intermediate.int_open_item_events as ledger "
        "inner join staging.stg_erp__invoices as invoices using (invoice_id) "
        f"where invoices.currency = '{currency}' and invoices.invoice_date >= date '{rate_date}' "
        "and invoices.invoice_date < (select min(rate_date) from raw_fx.fx_rates "
        f"    where from_currency = '{currency}' and to_currency = 'USD' and rate_date > date '{rate_date}')",
    )["fx_rate"].to_list()
    assert rates == [rate]


LEDGER_MARK = "update intermediate.int_open_item_events set credit_on_account = ? where list_contains(?, event_id)"


def mark_the_ledger_rows_of(warehouse: Path, invoices: list[str]) -> list[str]:
    """A mark on the ledger row of an invoice whose inputs did not change, and on one whose did
    (`invoices`, in that order): the incremental run rewrites only the second. The rows' ids."""
    marked = [f"invoice|{invoice}" for invoice in invoices]
    write(warehouse, LEDGER_MARK, 777, marked)
    return marked


def assert_only_the_unchanged_invoice_kept_its_mark(warehouse: Path, marked: list[str]) -> None:
    """Of the two marked ledger rows, the unchanged invoice's kept its mark, the changed one's not."""
    marks = query(
        warehouse,
        "select event_id, credit_on_account from intermediate.int_open_item_events "
        f"where event_id in ('{marked[0]}', '{marked[1]}') order by event_id = '{marked[0]}' desc",
    ).rows()
    assert marks == [(marked[0], Decimal("777.00")), (marked[1], Decimal("0.00"))]


def built_by_an_earlier_rule(warehouse: Path, event_id: str) -> None:
    """The AR ledger mart found built by an earlier rule (an upgrade that changed its SQL), and a
    mark on one of its events: the next run rebuilds all of it, the marked event too."""
    write(warehouse, "update marts.fct_open_item_events set rule_fingerprint = 'an earlier rule'")
    write(warehouse, "update marts.fct_open_item_events set amount_rc = 777 where event_id = ?", event_id)


def assert_the_ledger_followed_what_arrived(
    warehouse: Path,
    rate_corrected: tuple[str, dt.date, Decimal],
    moved: tuple[str, str],
    dropped: str,
    unpaid_and_gone: tuple[str, str],
) -> None:
    """After the incremental run: the AR ledger mart rebuilt by its rule (no mark left, one rule),
    the corrected rate in the ledger, the credit memo moved only on the invoice it moved to, the
    one taken out of the load gone, the invoice whose receipt was taken out unpaid, and the open
    invoice taken out of the load gone from the ledger and its models."""
    assert query(
        warehouse,
        "select count(*) filter (where amount_rc = 777) as marked, count(distinct rule_fingerprint) as rules "
        "from marts.fct_open_item_events",
    ).row(0) == (0, 1)
    assert_the_corrected_rate_reached_the_ledger(warehouse, rate_corrected)
    credit_memo, invoice = moved
    credit_events = query(
        warehouse,
        "select event_id, invoice_id from intermediate.int_open_item_events "
        f"where event_id in ('credit_memo|{credit_memo}', 'credit_memo|{dropped}')",
    ).rows()
    assert credit_events == [(f"credit_memo|{credit_memo}", invoice)]
    unpaid, gone = unpaid_and_gone
    events = query(warehouse, f"select event_type from intermediate.int_open_item_events where invoice_id = '{unpaid}'")
    assert "invoice" in events["event_type"].to_list() and "payment" not in events["event_type"].to_list()
    for name in BY_LOADS:
        assert (
            query(warehouse, f"select count(*) as n from {schema(name)}.{name} where invoice_id = '{gone}'")["n"][0]
            == 0
        )


# Where a change is seen only by the ledger's own look at what arrived: an invoice nothing was
# applied to (the combined matches, which rebuild an invoice whose credits change, have no rows
# for it), of an uninvolved customer: with no receipt on account (which a change could get
# applied) and none of those the cash application's changes (`pairs`, a parameter) are about.
NOTHING_APPLIED = "invoice_id not in (select invoice_id from intermediate.int_payments_matched_to_invoices)"
UNINVOLVED = (
    "customer_id not in (select customer_id from intermediate.int_unapplied_receipts where customer_id is not null) "
    "and customer_id not in (select customer_id from staging.stg_erp__invoices where list_contains(?, invoice_id))"
)


def first_on_an_unpaid_invoice(
    warehouse: Path,
    row_id: str,
    spared: tuple[str, ...],
    pairs: list[Pair],
    condition: str = "true",
    *parameters: str,
) -> str:
    """The first `row_id` ("invoice_id" or "credit_memo_id", of the staged rows of that entity) on
    an invoice nothing was applied to, of an uninvolved customer, not one of `spared`, meeting
    `condition` (with its `parameters`)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = con.execute(
            f"select min({row_id}) from staging.stg_erp__{row_id.removesuffix('_id')}s "
            f"where not list_contains(?, invoice_id) and {NOTHING_APPLIED} and {UNINVOLVED} and {condition}",
            [list(spared), [i for _, i in pairs], *parameters],
        ).fetchall()
    finally:
        con.close()
    assert rows[0][0] is not None, f"the world has no {row_id} on an invoice nothing was applied to"
    return rows[0][0]


def move_a_credit_memo_to(erp: Path, warehouse: Path, invoice: str, spared: tuple[str, ...], pairs: list[Pair]) -> str:
    """What an ERP user does: a credit memo on an invoice nothing was applied to re-pointed to
    `invoice` (stamped with the ERP's latest update time). Its id."""
    moved = first_on_an_unpaid_invoice(warehouse, "credit_memo_id", (invoice, *spared), pairs)
    change_the_erp(
        erp,
        "update credit_memos set invoice_id = :invoice, updated_at = :now where credit_memo_id = :moved",
        invoice=invoice,
        moved=moved,
    )
    return moved


def take_documents_out_of_the_raw_load(
    warehouse: Path, spared: tuple[str, ...], pairs: list[Pair], rate_currency: str, orders: dict[str, tuple[str, int]]
) -> tuple[tuple[str, str], str, str, dict[str, tuple[str, int]]]:
    """An invoice settled long ago and one nothing was applied to, a credit memo on another such
    invoice, a receipt, an order line, a shipment and an order taken out of the raw load, none of the
    invoices `spared` nor of the customers of `pairs` (nor, where only the ledger's own look would
    see it, in `rate_currency`, whose rate was corrected): the two invoices', the credit memo's and
    the receipt's invoice's ids, and `orders` with the orders of the line, the shipment and the
    order gone (take_order_parts_out_of_the_raw_load)."""
    settled = remove_a_settled_invoice_from_the_raw_load(warehouse, spared)
    dropped = remove_a_credit_memo_from_the_raw_load(warehouse, (*spared, settled), pairs, rate_currency)
    unpaid = first_on_an_unpaid_invoice(
        warehouse,
        "invoice_id",
        (*spared, settled),
        pairs,
        f"invoice_id not in {REBUILT_ANYWAY}",
        rate_currency,
    )
    write(warehouse, "delete from raw_erp.invoices where invoice_id = ?", unpaid)
    receipts_invoice = remove_a_receipt_from_the_raw_load(warehouse, (*spared, settled, unpaid), pairs)
    orders = take_order_parts_out_of_the_raw_load(
        warehouse, orders, (*spared, settled, unpaid, receipts_invoice, *[i for _, i in pairs]), rate_currency
    )
    return (settled, unpaid), dropped, receipts_invoice, orders


# An invoice rebuilt for another reason than the change a test makes: reloaded, or in the
# currency of the corrected rate (a parameter).
REBUILT_ANYWAY = (
    "(select invoice_id from raw_erp.invoices where currency = ? "
    "    or _dlt_load_id = (select max(_dlt_load_id) from raw_erp.invoices))"
)


# An order none of the test's other changes rebuilds: long settled, none of its invoices among
# those listed (a list parameter), nor in the currency of the corrected rate (a parameter).
SETTLED_ORDER = (
    f"order_id in (select order_id from marts.fct_orders where order_date < date '{END}' - 200 "
    "    and n_invoices > 0 and open_balance = 0 and currency <> ?) "
    "and order_id not in (select order_id from staging.stg_erp__invoices "
    "    where list_contains(?, invoice_id) and order_id is not null)"
)
# an order taken out of the raw load, whose invoices are then each a cycle of its own
ORDER_GONE = "gone"
# what fct_orders counts of an order, and where
ORDER_PARTS = {
    "n_lines": "staging.stg_erp__sales_order_lines",
    "n_shipments": "staging.stg_erp__shipments",
    "n_invoices": "marts.fct_invoices",
}


def move_an_invoice_to_another_order(
    erp: Path, warehouse: Path, spared: tuple[str, ...], rate_currency: str
) -> dict[str, tuple[str, int]]:
    """What an ERP user correcting which order an invoice bills does: a settled invoice of an
    order with two or more moved to another settled order of its customer, stamped with the
    ERP's latest update time. The order it left is not loaded again: only fct_orders' look at
    the orders holding fewer invoices than they kept sees it. The two orders, each with the
    count it names and the count fct_orders kept."""
    left, joined, invoice, left_kept, joined_kept = query(
        warehouse,
        f"with orders as (select order_id, customer_id, n_invoices from marts.fct_orders where {SETTLED_ORDER}) "
        "select donor.order_id as left_order, taker.order_id as joined_order, min(invoices.invoice_id) as invoice, "
        "donor.n_invoices as left_kept, taker.n_invoices as joined_kept "
        "from orders as donor "
        "inner join orders as taker on taker.customer_id = donor.customer_id and taker.order_id <> donor.order_id "
        "inner join staging.stg_erp__invoices as invoices on invoices.order_id = donor.order_id "
        "where donor.n_invoices > 1 group by all order by 1, 2 limit 1",
        rate_currency,
        list(spared),
    ).row(0)
    change_the_erp(
        erp,
        "update invoices set order_id = :order, updated_at = :now where invoice_id = :invoice",
        order=joined,
        invoice=invoice,
    )
    return {left: ("n_invoices", left_kept), joined: ("n_invoices", joined_kept)}


def take_order_parts_out_of_the_raw_load(
    warehouse: Path, orders: dict[str, tuple[str, int]], spared: tuple[str, ...], rate_currency: str
) -> dict[str, tuple[str, int]]:
    """A line of a settled order and a shipment of another taken out of the raw load (as a table
    reloaded in full without them): neither order is loaded again, only fct_orders' look at the
    orders holding fewer lines or shipments than they kept sees them. `orders` with these two."""
    for count, key in (("n_lines", "order_line_id"), ("n_shipments", "shipment_id")):
        order, row, kept = query(
            warehouse,
            f"select held.order_id, min(held.{key}) as row_id, any_value(orders.{count}) as kept "
            f"from {ORDER_PARTS[count]} as held "
            "inner join marts.fct_orders as orders using (order_id) "
            f"where {SETTLED_ORDER} and not list_contains(?, held.order_id) group by held.order_id order by 1 limit 1",
            rate_currency,
            list(spared),
            list(orders),
        ).row(0)
        write(warehouse, f"delete from raw_erp.{ORDER_PARTS[count].split('__')[1]} where {key} = ?", row)
        orders = {**orders, order: (count, kept)}
    gone, invoiced = query(
        warehouse,
        f"select order_id, n_invoices from marts.fct_orders where {SETTLED_ORDER} and not list_contains(?, order_id) "
        "and not is_cancelled and customer_id in (select customer_id from raw_erp.customers "
        "    where _dlt_load_id = (select min(_dlt_load_id) from raw_erp.customers)) order by order_id limit 1",
        rate_currency,
        list(spared),
        list(orders),
    ).row(0)
    write(warehouse, "delete from raw_erp.sales_orders where order_id = ?", gone)
    return {**orders, gone: (ORDER_GONE, invoiced)}


def assert_the_orders_count_what_they_now_hold(warehouse: Path, orders: dict[str, tuple[str, int]]) -> None:
    """After the incremental run: each order counts the lines, shipments or invoices it holds now,
    which is not what it counted before; the order taken out of the load is gone, its invoices
    each a cycle of its own."""
    for order, (count, kept) in orders.items():
        if count == ORDER_GONE:
            cycles = query(
                warehouse,
                "select cycle_start, count(*) as n from marts.fct_o2c_cycle_times where cycle_id = ? or cycle_id in "
                "(select invoice_id from marts.fct_invoices where order_id = ?) group by all",
                order,
                order,
            )
            assert (
                query(warehouse, "select count(*) as n from marts.fct_orders where order_id = ?", order)["n"][0],
                cycles.rows(),
            ) == (0, [("invoice", kept)])
            continue
        held = query(warehouse, f"select count(*) as n from {ORDER_PARTS[count]} where order_id = ?", order)["n"][0]
        counted = query(warehouse, f"select {count} from marts.fct_orders where order_id = ?", order)[count][0]
        assert (counted, held != kept) == (held, True), (order, count)


def remove_a_credit_memo_from_the_raw_load(
    warehouse: Path, spared: tuple[str, ...], pairs: list[Pair], currency: str
) -> str:
    """A credit memo on an invoice nothing was applied to, not rebuilt for another reason, taken
    out of the raw load (as a table reloaded in full without it): the next run takes it off its
    invoice. Its id."""
    dropped = first_on_an_unpaid_invoice(
        warehouse, "credit_memo_id", spared, pairs, f"invoice_id not in {REBUILT_ANYWAY}", currency
    )
    write(warehouse, "delete from raw_erp.credit_memos where credit_memo_id = ?", dropped)
    return dropped


def remove_a_receipt_from_the_raw_load(warehouse: Path, spared: tuple[str, ...], pairs: list[Pair]) -> str:
    """A processor's receipt that paid one invoice in full, the invoice paid by nothing else,
    taken out of the raw load with the ERP's application of it: the next run takes the payment
    off the invoice (the combined matches have no rows for it any more). The invoice's id."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        payment, invoice = con.execute(
            "with matched as (select *, count(*) over (partition by invoice_id) as on_invoice, "
            "    count(*) over (partition by payment_id) as of_payment "
            "    from intermediate.int_payments_matched_to_invoices) "
            "select payment_id, invoice_id from matched "
            "inner join staging.stg_erp__invoices as invoices using (invoice_id) "
            "where match_method = 'source' and on_invoice = 1 and of_payment = 1 and not list_contains(?, invoice_id) "
            f"and {UNINVOLVED} "
            "order by payment_id limit 1",
            [list(spared), [i for _, i in pairs]],
        ).fetchall()[0]
    finally:
        con.close()
    write(warehouse, "delete from raw_processor.payments where payment_id = ?", payment)
    write(warehouse, "delete from raw_erp.payment_applications where payment_id = ?", payment)
    return invoice


def remove_a_settled_invoice_from_the_raw_load(warehouse: Path, kept: tuple[str, ...]) -> str:
    """An invoice paid long ago taken out of the raw load, as reloading the table in full from
    a source that no longer has it does (docs/operations.md, "Known limits"): the next run leaves
    none of its rows in the models built by invoice. Its id."""
    vanished = query(
        warehouse,
        "select min(invoice_id) as i from intermediate.int_invoice_settlements "
        f"where paid_date < date '{END}' - 150 and invoice_id not in ({', '.join(repr(i) for i in kept)})",
    )["i"][0]
    assert vanished is not None, "the world has no invoice settled long ago to take out"
    write(warehouse, "delete from raw_erp.invoices where invoice_id = ?", vanished)
    return vanished


def build_aging_no_month_end_before_the_last_again(warehouse: Path, work: Path, *args: str) -> None:
    """The build after a month of payments, none dated before the last month-end the aging had
    built: it ages none of the month-ends before that one again (marks put on their rows are
    all still there after it; then taken off)."""
    last_month_end = query(
        warehouse, "select max(as_of_date) as d from marts.fct_ar_aging where as_of_date = last_day(as_of_date)"
    )["d"][0]
    flip_the_aging_before(warehouse, last_month_end)
    build(warehouse, work, *args)
    rows, marked = flip_the_aging_before(warehouse, last_month_end)
    assert marked == rows > 1_000, (marked, rows)


def build_with_the_fulfilment_emptied(warehouse: Path, work: Path, *args: str) -> None:
    """The build after a month (build_aging_no_month_end_before_the_last_again) finding the
    orders' fulfilment, a model built by loads, without rows (emptied by hand, or a company's
    export that had none of its inputs): it builds it whole, as on a first build, a new table
    swapped in, not a delete and insert of every key it finds since 1900 (its rows are compared
    with a full refresh's after the run)."""
    write(warehouse, "delete from marts.fct_order_fulfilment")
    build_aging_no_month_end_before_the_last_again(warehouse, work, *args)
    assert built_as_on_a_first_build(work, "fct_order_fulfilment")


def built_as_on_a_first_build(work: Path, model: str) -> bool:
    """Whether the last build in `work` built the incremental `model` whole (a new table swapped
    in), rather than deleting and inserting the keys it rebuilt."""
    statement = (work / "target" / "run" / "o2c" / "models" / schema(model) / f"{model}.sql").read_text()
    return f"{model}__dbt_tmp" in statement and "delete from" not in statement


def flip_the_aging_before(warehouse: Path, day: dt.date) -> tuple[int, int]:
    """Turn each aged row dated before `day` into a mark (a negative bucket order) or back: how
    many rows there are and how many were marked before."""
    before = f"as_of_date < date '{day}'"
    counted = query(
        warehouse,
        f"select count(*) as n, count(*) filter (where aging_bucket_order < 0) as marked "
        f"from marts.fct_ar_aging where {before}",
    ).row(0)
    write(warehouse, f"update marts.fct_ar_aging set aging_bucket_order = -aging_bucket_order - 1 where {before}")
    return counted


def assert_the_aging_followed_documents_dated_before_its_last_month_end(
    warehouse: Path, work: Path, sql: str, before: pl.DataFrame, no_tests: list[str]
) -> None:
    """The backdated documents changed month-ends older than the last one the aging had built,
    which its increment starts from: the incremental aging has them as a full refresh does."""
    month_ends = before.filter(pl.col("as_of_date") == pl.col("as_of_date").dt.month_end())["as_of_date"]
    older = pl.col("as_of_date") < month_ends.max()
    incremental = sorted_rows(warehouse, sql)
    assert not incremental.filter(older).equals(before.filter(older))
    build(warehouse, work, "--full-refresh", "--select", "fct_ar_aging", *no_tests)
    assert incremental.equals(sorted_rows(warehouse, sql))


def assert_the_erps_changes_reached_the_ledger(
    incremental: dict[str, pl.DataFrame], erp_path: Path, amended: tuple[str, str, str, str], had_intervals: int
) -> None:
    """The backdated credit, the corrected amount and the cancellation written into the ERP
    (amend_the_erp_behind_the_simulator) are in the incrementally built ledger models; the invoice
    whose reopened dispute was then taken out of the load is no longer disputed in the invoice mart."""
    paid, corrected, cancelled, reopened = amended
    ledger = incremental["int_open_item_events"]
    assert ledger.filter(pl.col("event_id") == "credit_memo|CM-BACKDATED-1")["invoice_id"].to_list() == [paid]
    settled = incremental["int_invoice_settlements"].filter(pl.col("invoice_id") == corrected)
    erp = sqlite3.connect(erp_path)
    try:
        (amount,) = erp.execute("select invoice_amount from invoices where invoice_id = ?", (corrected,)).fetchone()
    finally:
        erp.close()
    assert settled["invoiced_amount"].to_list() == [Decimal(str(amount)).quantize(Decimal("0.01"))]
    # the cancelled invoice's open periods are gone (it had some), and it is settled on its own date
    assert had_intervals > 0
    assert incremental["int_invoice_balance_intervals"].filter(pl.col("invoice_id") == cancelled).height == 0
    cancellation = incremental["int_invoice_settlements"].filter(pl.col("invoice_id") == cancelled)
    assert cancellation["open_balance"].to_list() == [Decimal("0.00")]
    assert_the_invoice_mart_follows_its_disputes(incremental["fct_invoices"], reopened, disputed=False)


# How a run is seen to rebuild only the customers whose inputs changed: a mark set on rows of
# every customer before it, by model: (key, the rows marked, the mark, a marked row, unmarking).
# The amount pass marks the receipts it left on account, which nothing downstream reads; the
# others' rows are read by no model the test builds after them.
MARKS = {
    PASSES[0]: ("customer_id", "invoice_id is null", "applied_date = date '1900-01-01'", "applied_date = date '1900-01-01'", "applied_date = null"),
    QUOTED: ("payer_month", "invoice_id is not null", "match_confidence = match_confidence + 5", "match_confidence > 1", "match_confidence = match_confidence - 5"),
    SUGGESTIONS: ("customer_id", "true", "match_confidence = match_confidence + 5", "match_confidence > 1", "match_confidence = match_confidence - 5"),
}  # fmt: skip


def mark_the_rows_built_by_customer(warehouse: Path, models: list[str]) -> dict[str, pl.DataFrame]:
    """The marks of MARKS set on `models`; each model's fingerprints by key as they were."""
    kept = {}
    for model in models:
        key, rows, mark, _, _ = MARKS[model]
        table = f"intermediate.{model}"
        kept[model] = query(warehouse, f"select {key}, max(inputs_fingerprint) as kept from {table} group by {key}")
        write(warehouse, f"update {table} set {mark} where {rows}")
    return kept


def assert_marks_survive_only_where_the_inputs_did_not_change(
    warehouse: Path, kept: dict[str, pl.DataFrame]
) -> dict[str, list[str]]:
    """The marks set before a run survive exactly for the keys whose fingerprint the run found
    unchanged, and there are keys of both kinds; then they are taken off. The changed keys, by model."""
    changed_keys = {}
    for model, before in kept.items():
        key, rows, _, is_marked, unmark = MARKS[model]
        table = f"intermediate.{model}"
        after = query(
            warehouse,
            f"select {key}, max(inputs_fingerprint) as now, bool_and({is_marked}) filter (where {rows}) as marked, "
            f"bool_or({is_marked}) as any_marked, bool_or({rows}) as had_marks from {table} group by {key}",
        ).join(before, on=key, how="inner")
        had_marks = after.filter(pl.col("had_marks"))
        unchanged = had_marks.filter(pl.col("now") == pl.col("kept"))
        changed = had_marks.filter(pl.col("now") != pl.col("kept"))
        assert unchanged["marked"].all() and not changed["any_marked"].any(), model
        assert unchanged.height > 0 and changed.height > 0, (model, unchanged.height, changed.height)
        write(warehouse, f"update {table} set {unmark} where {is_marked}")
        changed_keys[model] = changed[key].to_list()
    return changed_keys


def assert_an_upgraded_warehouse_is_rebuilt_whole(
    warehouse: Path, work: Path, tables: dict[str, str], no_tests: list[str]
) -> None:
    """A warehouse built before these models kept fingerprints (an upgrade; the amount passes had
    no customer either, and no rows for receipts left on account; the aging no balance
    fingerprints nor built_at; the orders' fulfilment no flags of what was loaded), or kept them by another key (the quoted invoices, as if keyed by customer
    before): the next run, not a full refresh, rebuilds every key (every as-of date) and gives
    the rows a full build gives. The combined matches, incremental by key, are found built by
    another rule (a release that changed it) with every amount marked: the run builds them whole
    though every key's inputs are as they were."""
    by_key = [name for name in tables if name not in ("fct_ar_aging", QUOTED, *BY_LOADS, *BY_PAYMENT, *BY_ORDER)]
    built_whole = {name: sorted_rows(warehouse, tables[name]) for name in tables}
    for name in by_key:
        if name == MATCHED:
            write(
                warehouse, f"update intermediate.{name} set rule_fingerprint = 'an earlier rule', applied_amount = 0.01"
            )
        else:
            write(warehouse, f"alter table {schema(name)}.{name} drop column inputs_fingerprint")
    for name in [*BY_LOADS, *BY_PAYMENT, *BY_ORDER]:
        write(warehouse, f"alter table {schema(name)}.{name} drop column built_at")
        write(warehouse, f"alter table {schema(name)}.{name} drop column rule_fingerprint")
    write(warehouse, f"alter table intermediate.{QUOTED} rename column payer_month to customer_key")
    write(warehouse, f"alter table intermediate.{SUGGESTIONS} drop column customer_id")
    for name in PASSES:
        write(warehouse, f"delete from intermediate.{name} where invoice_id is null")
        write(warehouse, f"alter table intermediate.{name} drop column customer_id")
    for flag in ("lines_loaded", "shipments_loaded", "disputes_loaded"):  # fulfilment kept none before
        write(warehouse, f"alter table marts.fct_order_fulfilment drop column {flag}")
    write(warehouse, "alter table marts.fct_ar_aging drop column balance_fingerprint")
    write(warehouse, "alter table marts.fct_ar_aging drop column built_at")
    build(warehouse, work, "--select", " ".join(tables), *no_tests)
    for name in tables:
        assert sorted_rows(warehouse, tables[name]).equals(built_whole[name]), name


def test_the_models_built_by_loads_from_a_model_rebuilt_whole_are_built_whole(
    tmp_path: Path, built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`o2c build --full-refresh --select int_open_item_events` writes every row of the ledger
    again: the next run builds the models built by loads from it whole too, as on a first build,
    rather than deleting and inserting every key, all written since; their rows are the same. A
    model built by loads from something else builds on its table as every day. Each model puts
    the question whether its table can be built on (the scan of its rule and its upstreams'
    built_at) to the warehouse once, not once for its compile and again for its materialisation."""
    _, warehouse, _ = built
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    work = tmp_path / "dbt"
    no_tests = NO_TESTS
    followers = ["int_invoice_balance_intervals", "fct_open_item_events"]
    tables = {name: f"select * from {schema(name)}.{name}" for name in [*followers, "int_payments_unioned"]}
    before = {name: sorted_rows(copy, sql) for name, sql in tables.items()}
    build(copy, work, "--full-refresh", "--select", "int_open_item_events", *no_tests)
    monkeypatch.setenv("DBT_LOG_LEVEL_FILE", "debug")  # every statement, under the node that ran it
    build(copy, work, "--select", " ".join(tables), *no_tests)
    for name, sql in tables.items():
        assert built_as_on_a_first_build(work, name) == (name in followers), name
        assert sorted_rows(copy, sql).equals(before[name]), name
    # The node a statement ran in is named on the log line before it (dbt's "On model...:").
    asked = re.findall(
        r"On model\.o2c\.(\w+): [^\n]*\n(?:(?!On [\w.]+:)[^\n]*\n){0,6}?[^\n]*rule_fingerprint is distinct",
        (work / "logs" / "dbt.log").read_text(),
    )
    assert sorted(asked) == sorted(tables)


# The models that record the keys they no longer hold (macros/incremental_by_key.sql: gone_keys),
# each with the models built by loads that read them in place of comparing every key.
RECORDS_GONE = {
    "int_open_item_events": [
        "int_invoice_balance_intervals",
        "int_invoice_settlements",
        "fct_open_item_events",
        "fct_open_item_balances",
    ],
    "int_invoice_settlements": ["fct_invoices"],
    "int_payments_matched_to_invoices": ["int_open_item_events", "fct_cash_applications"],
    "int_payments_unioned": ["fct_payments"],
}


def take_an_applied_invoice_and_payment_out_of_the_load(warehouse: Path, salt: str) -> tuple[str, str]:
    """An invoice with applications and a bank payment applied to another invoice taken out of
    the raw load (picked by `salt`), and a third invoice loaded again, so that every model built
    by loads from the ledger writes rows in the next build. The invoice and the payment."""
    (invoice,) = query(
        warehouse,
        "select invoice_id from intermediate.int_payments_matched_to_invoices order by hash(invoice_id || ?) limit 1",
        salt,
    ).row(0)
    (payment,) = query(
        warehouse,
        "select applied.payment_id from intermediate.int_payments_matched_to_invoices as applied "
        "inner join raw_bank.payments as bank on applied.payment_id = bank.payment_id "
        "where applied.invoice_id <> ? order by hash(applied.payment_id || ?) limit 1",
        invoice,
        salt,
    ).row(0)
    write(warehouse, "delete from raw_erp.invoices where invoice_id = ?", invoice)
    write(warehouse, "delete from raw_bank.payments where payment_id = ?", payment)
    write(
        warehouse,
        "update raw_erp.invoices set _dlt_load_id = cast(epoch(now()) as varchar) "
        "where invoice_id = (select min(invoice_id) from raw_erp.invoices where invoice_id <> ?)",
        invoice,
    )
    return invoice, payment


def test_the_keys_a_model_no_longer_holds_reach_its_readers_from_the_keys_it_records(tmp_path: Path, built) -> None:
    """The ledger, the settlements, the combined matches and the payments record the keys they no
    longer hold (an invoice or a payment taken out of the raw load), with when. The models built
    by loads from them read those since their own last build, rather than comparing every key
    they hold with every key there: from the second build on, the first having recorded them
    from its own. Both ways, the keys taken out leave every model, and the rows equal a full
    refresh's."""
    _, warehouse, _ = built
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    work = tmp_path / "dbt"
    readers = sorted({reader for names in RECORDS_GONE.values() for reader in names})
    selection = " ".join(f"+{name}" for name in readers)
    taken = []
    for step in ("first", "second"):
        taken.append(take_an_applied_invoice_and_payment_out_of_the_load(copy, step))
        build(copy, work, "--select", selection, *NO_TESTS)
        compiled = work / "target" / "compiled" / "o2c" / "models"
        for name in readers:
            sql = (compiled / schema(name) / f"{name}.sql").read_text()
            assert ("__gone_keys" in sql) == (step == "second"), (step, name)
    taken_out = {
        "invoice_id": [invoice for invoice, _ in taken],
        "payment_id": [payment for _, payment in taken],
    }
    tables = {name: f"select * from {schema(name)}.{name}" for name in {*readers, *RECORDS_GONE}}
    for name, gone in (
        (name, query(copy, f"select * from intermediate.{name}__gone_keys order by gone_at, 1 nulls first"))
        for name in RECORDS_GONE
    ):
        key = gone.columns[0]
        # from when each records (a row without a key, at its first incremental build), then the
        # keys each build took out, each at its build
        assert gone[key][0] is None and gone["gone_at"][0] == gone["gone_at"].min(), name
        recorded = gone[key].drop_nulls().to_list()
        assert [k for k in taken_out[key] if k not in recorded] == [], name
        assert gone.filter(pl.col(key).is_in(taken_out[key]))["gone_at"].n_unique() == 2, name
        # only keys the model holds no row of: not every key its runs rebuilt
        held = set(query(copy, tables[name])[key].to_list())
        assert [k for k in recorded if k in held] == [], name
        if name != "int_payments_matched_to_invoices":  # (also invoices that lost every application)
            assert sorted(recorded) == sorted(taken_out[key]), name
    for name, sql in tables.items():
        key = "payment_id" if name in ("int_payments_unioned", "fct_payments") else "invoice_id"
        held = set(query(copy, sql)[key].to_list())
        assert [k for k in taken_out[key] if k in held] == [], name
    incremental = {name: sorted_rows(copy, sql) for name, sql in tables.items()}
    build(copy, work, "--full-refresh", "--select", selection, *NO_TESTS)
    for name, sql in tables.items():
        assert incremental[name].equals(sorted_rows(copy, sql)), name


def test_the_references_are_built_again_from_the_earliest_date_a_change_reaches(tmp_path: Path, built) -> None:
    """The cash application's references are built by date: a run builds again every pair from
    the earliest date a change since its last build reaches, each invoice starting from what the
    pairs before that date asked of it. A credit memo moved off an invoice (found by the credits
    the invoice's latest pair read: the load says only where the memo is now) reaches the pairs
    on that invoice dated on or after the memo, as does one taken out of the load; an invoice and
    a receipt reloaded as they were reach nothing, however old their pairs. The rows equal a full
    refresh's."""
    _, warehouse, _ = built
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    work = tmp_path / "dbt"
    pairs = f"intermediate.{REFERENCES}"
    # credit memos with pairs on their invoice dated on or after them: the first such pair's date
    credited = query(
        copy,
        "select credits.credit_memo_id, credits.invoice_id, min(pairs.applied_date) as reached "
        f"from staging.stg_erp__credit_memos as credits inner join {pairs} as pairs "
        "    on pairs.invoice_id = credits.invoice_id and pairs.applied_date >= credits.credit_memo_date "
        "group by all order by reached desc, credits.credit_memo_id",
    ).unique("invoice_id", keep="first", maintain_order=True)
    (moved, _, moved_reached), (dropped, _, dropped_reached) = credited.rows()[:2]
    nothing_applied = query(
        copy,
        f"select min(invoice_id) as i from staging.stg_erp__invoices where invoice_id not in (select invoice_id from {pairs})",
    )["i"][0]
    oldest = query(
        copy,
        "select pairs.applied_date, pairs.invoice_id, pairs.payment_id, payments.payment_source "
        f"from {pairs} as pairs inner join intermediate.int_payments_unioned as payments using (payment_id) "
        "order by pairs.applied_date, pairs.payment_id limit 1",
    ).row(0)
    assert oldest[0] < min(moved_reached, dropped_reached)

    def rebuilt_from() -> dt.date:
        """The earliest date of the pairs the last run wrote (which wrote every pair from it on)."""
        first = query(
            copy, f"select min(applied_date) as d from {pairs} where built_at = (select max(built_at) from {pairs})"
        )
        n = query(copy, f"select count(*) as n from {pairs} where applied_date >= ?", first["d"][0])["n"][0]
        written = query(copy, f"select count(*) as n from {pairs} where built_at = (select max(built_at) from {pairs})")
        assert written["n"][0] == n  # every pair from that date on, and none before
        return first["d"][0]

    load = f"{time.time():.6f}"  # a load after the build
    write(
        copy,
        "update raw_erp.credit_memos set invoice_id = ?, _dlt_load_id = ? where credit_memo_id = ?",
        nothing_applied,
        load,
        moved,
    )
    write(copy, "update raw_erp.invoices set _dlt_load_id = ? where invoice_id = ?", load, oldest[1])
    write(copy, f"update raw_{oldest[3]}.payments set _dlt_load_id = ? where payment_id = ?", load, oldest[2])
    build(copy, work, "--select", f"int_payments_unioned {REFERENCES}", *NO_TESTS)
    assert (
        query(
            copy,
            "select count(*) as n from intermediate.int_payments_unioned where built_at = "
            "(select max(built_at) from intermediate.int_payments_unioned)",
        )["n"][0]
        == 1
    )  # the receipt, written again
    assert rebuilt_from() == moved_reached
    write(copy, "delete from raw_erp.credit_memos where credit_memo_id = ?", dropped)
    build(copy, work, "--select", REFERENCES, *NO_TESTS)
    assert rebuilt_from() == dropped_reached
    incremental = sorted_rows(copy, f"select * from {pairs}")
    build(copy, work, "--full-refresh", "--select", REFERENCES, *NO_TESTS)
    assert incremental.height > 1000
    assert incremental.equals(sorted_rows(copy, f"select * from {pairs}"))


def test_a_changed_macro_a_model_calls_is_another_rule(tmp_path: Path) -> None:
    """An incremental model keeps the rule it was built by (rule_fingerprint), and a run that
    finds another rule builds it whole. The rule holds the text of the project's macros the
    model's SQL calls and those they call: one called only in an incremental run (not rendered
    when dbt parses, so not in dbt's own list of the model's macros), and the engine's version of
    a dispatched one, whichever model upstream calls it for a model built by loads. A macro no
    model calls is not in it.

    A model incremental by key (the suggestions) fingerprints its inputs' values, where a change
    upstream shows: its rule holds no upstream model's text, and a macro it calls changes it."""

    def rules(name: str, edit: Callable[[Path], None] | None = None) -> tuple[str, str]:
        """The rules of fct_orders and of the suggestions, compiled on a copy of the project."""
        project = tmp_path / name
        shutil.copytree(DBT_PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
        if edit is not None:
            edit(project)
        result = subprocess.run(
            [
                str(DBT_EXECUTABLE),
                "compile",
                "--select",
                "fct_orders int_cash_application_suggestions",
                "--target",
                "lint",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-2000:]
        compiled = project / "target" / "compiled" / "o2c" / "models"
        rule = r"'([0-9a-f]{32})' as rule_fingerprint"
        (orders,) = re.findall(rule, (compiled / "marts" / "fct_orders.sql").read_text())
        (suggestions,) = re.findall(
            rule, (compiled / "intermediate" / "int_cash_application_suggestions.sql").read_text()
        )
        return orders, suggestions

    def reworded(*files_and_lines: tuple[str, str]) -> Callable[[Path], None]:
        def edit(project: Path) -> None:
            for file_name, line in files_and_lines:
                file = project / file_name
                text = file.read_text()
                assert text.count(line) == 1, line
                file.write_text(text.replace(line, line + "\n{#- reworded -#}"))

        return edit

    def unused_macro_added(project: Path) -> None:
        (project / "macros" / "an_unused_macro.sql").write_text("{% macro an_unused_macro() %}select 1{% endmacro %}\n")

    orders, suggestions = rules("as_is")
    incremental_only_and_upstream = reworded(
        ("macros/incremental_by_key.sql", "{% macro keys_that_lost_rows(key, parts) -%}"),
        ("models/intermediate/int_unapplied_receipts.sql", "\nwith\n"),
    )
    orders_after, suggestions_after = rules("called_when_incremental", incremental_only_and_upstream)
    assert orders_after != orders and suggestions_after == suggestions  # the suggestions call neither
    dispatched = reworded(("macros/incremental_by_key.sql", "{% macro default__row_fingerprint(expressions) -%}"))
    orders_after, suggestions_after = rules("dispatched", dispatched)
    assert orders_after != orders and suggestions_after != suggestions
    signature = "{% macro open_item_combinations(open_items, max_items, several_only_exact=false) %}"
    assert rules("called_by_key", reworded(("macros/open_item_combinations.sql", signature)))[1] != suggestions
    assert rules("unused_added", unused_macro_added) == (orders, suggestions)


def incremental_tables() -> dict[str, str]:
    """The query of each incremental model's rows, by its name."""
    return {name: f"select * from {schema(name)}.{name}" for name in INCREMENTAL}


BUILT_AT = "built_at"  # when a row was built: differs between any two builds
# a dbt build of the models alone
NO_TESTS = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]


def sorted_rows(warehouse: Path, sql: str) -> pl.DataFrame:
    """A query's rows in an order that does not depend on the table's column order (a column
    dbt added to an upgraded table comes last), without when they were built."""
    frame = query(warehouse, sql).drop(BUILT_AT, strict=False)
    columns = sorted(frame.columns)
    return frame.select(columns).sort(columns, nulls_last=True)


def schema(model: str) -> str:
    return "marts" if model.startswith("fct_") else "intermediate"


def write(warehouse: Path, sql: str, *parameters: object) -> None:
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(sql, list(parameters))
    finally:
        con.close()


def test_dbt_runs_under_the_duckdb_memory_limit_the_settings_give(
    built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap reaches dbt's queries from the settings, now that profiles.yml sets it once when
    dbt opens the warehouse (config_options). That it is not set again per node is a speed matter,
    measured in docs/performance.md, not here."""
    _, warehouse, _ = built
    (tmp_path / "target").mkdir()
    shutil.copy(warehouse.parent / "dbt" / "target" / PARTIAL_PARSE, tmp_path / "target" / PARTIAL_PARSE)
    monkeypatch.setenv("O2C_DUCKDB_MEMORY_LIMIT", "1GB")
    shown = run_dbt(
        ["show", "--inline", "select current_setting('memory_limit') as memory_limit"],
        warehouse,
        tmp_path,
        capture=True,
    )
    assert shown.returncode == 0, shown.stdout[-2000:]
    assert "953.6 MiB" in shown.stdout, shown.stdout[-2000:]  # 10^9 bytes


def test_dbt_docs_generate_and_every_mart_column_is_described(built, tmp_path: Path) -> None:
    _, warehouse, _ = built
    # From the parse the build of this warehouse left, as the pipeline's dbt steps start from
    # theirs (orchestration/dbt_runner.py reusing_parse): a whole parse again is 10 CPU-s.
    (tmp_path / "target").mkdir()
    shutil.copy(warehouse.parent / "dbt" / "target" / PARTIAL_PARSE, tmp_path / "target" / PARTIAL_PARSE)
    result = run_dbt(["docs", "generate"], warehouse, tmp_path, capture=True)
    assert result.returncode == 0, result.stdout[-2000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    marts = {k: v for k, v in manifest["nodes"].items() if v["resource_type"] == "model" and v["schema"] == "marts"}
    assert len(marts) >= 11
    for key, node in marts.items():
        assert node["description"], key
        columns = catalog["nodes"][key]["columns"]
        undocumented = [c for c in columns if not node["columns"].get(c, {}).get("description")]
        assert undocumented == [], (key, undocumented)
