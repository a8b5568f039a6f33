"""Collections worklist: a collector's most urgent open items and the actions they log on them.

Actions go to the ops store (never the warehouse). Each item's last action, latest promise and
whether that promise is kept, broken or pending come from the warehouse (fct_worklist_items, where
the rule lives); actions saved since the last run are listed apart, as saved, and count from the
next run, when ingestion brings them into the warehouse.
"""

import datetime as dt
from decimal import Decimal

import polars as pl
import streamlit as st

from core import formatting, ops_store
from core.settings import get_settings
from dashboards import auth, db, ui

meta = ui.guard()
who = auth.viewer()
st.title("Collections worklist")
ui.freshness(meta)
ops_url = get_settings().ops()
ui.show_saved("worklist_saved")  # from the run that saved it, which reran to show the action in the list

have = ui.available()
if have["invoices"] == 0:
    ui.not_available("invoices")
    st.stop()
collectors = db.query("collectors")
if have["with_collector"] == 0:
    ui.not_available("collectors", "Collectors: every customer is under “unassigned”")
names = dict(collectors.iter_rows())  # a collector's own group only (dashboards/scope.py)
if not names:
    st.info("No customers are assigned to you: your worklist is empty.")
    st.stop()
collector_id = st.selectbox("Collector", list(names), format_func=lambda c: names[c])

worklist = db.query("worklist_items", {"collector_id": collector_id})
if ui.empty(worklist, f"{ui.plain(names[collector_id])}: nothing overdue or due this week"):
    st.stop()
customer_ids = worklist["customer_id"].unique().to_list()
logged = ops_store.actions(ops_url, customer_ids)
# Saved in the ops store but not built into the warehouse yet: shown as they are, no rule applied.
built = db.query("worklist_actions_built", {"customer_ids": customer_ids})["action_id"]
saved_since = logged.filter(~pl.col("action_id").is_in(built.implode()))
settings = get_settings()
currency = settings.reporting_currency
target = settings.collector_daily_items
today_items = worklist.filter(pl.col("priority_rank") <= target)
# Progress: today's top items with an action saved today (the ops store, before any run builds it).
worked_today = logged.filter(pl.col("action_date") >= dt.date.today())["invoice_id"].drop_nulls().unique()
done = today_items.filter(pl.col("invoice_id").is_in(worked_today.implode())).height
broken = worklist.filter(pl.col("promise_status") == "broken")
# The day's figures come from fct_collector_daily, where they are computed (the daily email shows
# the same ones); the page only formats them.
totals = db.query("worklist_totals", {"collector_id": collector_id}).row(0, named=True)
tiles = st.columns(5)
tiles[0].metric("Items", formatting.count(totals["worklist_items"]))
tiles[1].metric("Open balance", formatting.money(totals["worklist_open_rc"], currency))
tiles[2].metric("Promises on record", formatting.count(totals["promises_on_record"]))
tiles[3].metric("Broken promises", formatting.count(totals["broken_promises"]))
tiles[4].metric("New since yesterday", formatting.count(totals["new_since_yesterday"]))
st.caption(
    f"All open AR of these customers: {formatting.money(totals['open_ar_rc'], currency)}, of which past due "
    f"{formatting.money(totals['past_due_ar_rc'], currency)}."
)
st.progress(
    done / today_items.height if today_items.height else 1.0,
    text=f"Today: {done} of {formatting.count(today_items.height, 'item')} worked (daily target "
    f"{target}, O2C_COLLECTOR_DAILY_ITEMS)",
)
if broken.height:
    st.warning(
        "Broken promises: "
        + ", ".join(ui.plain(i) for i in broken["invoice_id"].to_list()[:10])
        + " — the promised date has passed and the item is still open."
    )

# The worklist's order and reasons are fct_worklist_items' (docs/metrics.md, "Worklist"); ui.table
# gives the columns their human labels (core/formatting), amounts with cents, dates without a time.
COLUMNS = (
    "priority_rank",
    "invoice_id",
    "customer_name",
    "priority_reason",
    "new_since_yesterday",
    "currency",
    "open_balance",
    "expected_recoverable_rc",
    "recovery_likelihood_pct",
    "due_date",
    "days_past_due",
    "predicted_pay_date",
    "last_action",
    "last_action_date",
    "promised_date",
    "promised_amount",
    "promise_status",
)
show_all = st.toggle(
    f"Show all {formatting.count(worklist.height, 'item')}",
    value=False,
    help=f"Today's top {target} are ranked by expected recoverable amount × urgency: broken promises and items "
    "about to slip first, disputed items and pending promises lower (docs/metrics.md, Worklist).",
)
shown = (
    (worklist if show_all else today_items)
    .select(COLUMNS)
    .with_columns(
        # empty cells, not the grid's "None"
        pl.col("new_since_yesterday", "last_action", "promise_status").fill_null("")
    )
)
selection = ui.table(shown, on_select="rerun", selection_mode="single-row", key="worklist_table")
row = selection.selection.rows[0] if selection and selection.selection.rows else 0
item = (worklist if show_all else today_items).row(row, named=True)

st.subheader(f"Log an action on {ui.plain(item['invoice_id'])} · {ui.plain(item['customer_name'])}")
if not who.may_act:
    st.info(f"Read-only: the {who.role} role sees the worklist but does not log actions.")
else:
    with st.form("action", clear_on_submit=True):
        columns = st.columns(3)
        action_type = columns[0].selectbox("Action", ops_store.ACTION_TYPES, format_func=lambda a: a.replace("_", " "))
        action_date = columns[1].date_input("Date", dt.date.today())
        reason = columns[2].selectbox("Dispute reason", ("", *ops_store.DISPUTE_REASONS))
        columns = st.columns(3)
        promised_date = columns[0].date_input("Promised date", value=None, min_value=None)
        promised_amount = columns[1].number_input(
            f"Promised amount ({item['currency']})", min_value=0.0, value=float(item["open_balance"]), step=100.0
        )
        note = st.text_area("Note", max_chars=2000)
        submitted = st.form_submit_button("Save action")
    if submitted:
        action = ops_store.Action(
            customer_id=item["customer_id"],
            collector_id=collector_id,
            action_type=action_type,
            action_date=action_date,
            invoice_id=item["invoice_id"],
            promised_date=promised_date if action_type == "promise_to_pay" else None,
            promised_amount=Decimal(str(promised_amount)) if action_type == "promise_to_pay" else None,
            note=note or None,
            dispute_reason=reason or None if action_type == "dispute" else None,
            entered_by=who.username,
        )
        ui.save(
            "worklist_saved",
            db.why_not_act(customer_ids=(action.customer_id,), invoice_ids=(action.invoice_id,)),
            lambda: ops_store.record(ops_url, action),
            lambda action_id: f"{action_type.replace('_', ' ')} on {item['invoice_id']} ({action_id}).",
        )

st.markdown("**Saved, counted from the next run**")
st.caption(
    "Actions saved here since the last pipeline run: the list above shows them once the next run has built them."
)
if not ui.empty(saved_since, "actions saved since the last run"):
    ui.table(saved_since.head(50), key="worklist_saved_since")  # the same columns as below: its own key
st.markdown("**Recent actions on these customers**")
if not ui.empty(logged, "actions logged yet"):
    ui.table(logged.head(50), key="worklist_recent_actions")
