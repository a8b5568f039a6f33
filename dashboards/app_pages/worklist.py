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

from dashboards import db, ops_store, ui
from orchestration.settings import get_settings

meta = ui.guard()
st.title("Collections worklist")
ui.freshness(meta)
ops_url = get_settings().ops()
if saved := st.session_state.pop("worklist_saved", None):
    st.success(saved)  # from the run that saved it, which rerun to show the action in the list

have = ui.available()
if have["invoices"] == 0:
    ui.not_available("invoices")
    st.stop()
collectors = db.query("collectors")
if have["with_collector"] == 0:
    ui.not_available("collectors", "Collectors: every customer is under “unassigned”")
names = dict(collectors.iter_rows())
collector_id = st.selectbox("Collector", list(names), format_func=lambda c: names[c])

worklist = db.query("worklist_items", {"collector_id": collector_id})
if ui.empty(worklist, f"{names[collector_id]}: nothing overdue or due this week"):
    st.stop()
customer_ids = worklist["customer_id"].unique().to_list()
logged = ops_store.actions(ops_url, customer_ids)
# Saved in the ops store but not built into the warehouse yet: shown as they are, no rule applied.
built = db.query("worklist_actions_built", {"customer_ids": customer_ids})["action_id"]
saved_since = logged.filter(~pl.col("action_id").is_in(built.implode()))
broken = worklist.filter(pl.col("promise_status") == "broken")
tiles = st.columns(4)
tiles[0].metric("Items", worklist.height)
tiles[1].metric("Open balance", ui.money(worklist["open_balance_rc"].sum()))
tiles[2].metric("Promises on record", int(worklist["promised_date"].is_not_null().sum()))
tiles[3].metric("Broken promises", broken.height, delta_color="inverse")
if broken.height:
    st.warning(
        "Broken promises: "
        + ", ".join(broken["invoice_id"].to_list()[:10])
        + " — the promised date has passed and the item is still open."
    )

shown = worklist.select(
    "invoice_id",
    "customer_name",
    "currency",
    "open_balance",
    "due_date",
    "days_past_due",
    "is_disputed",
    "predicted_pay_date",
    "last_action",
    "last_action_date",
    "promised_date",
    "promised_amount",
    "promise_status",
    pl.col("priority").round(0),
)
selection = ui.table(shown, on_select="rerun", selection_mode="single-row", key="worklist_table")
row = selection.selection.rows[0] if selection and selection.selection.rows else 0
item = worklist.row(row, named=True)

st.subheader(f"Log an action on {item['invoice_id']} · {item['customer_name']}")
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
    )
    try:
        action_id = ops_store.record(ops_url, action)
    except ValueError as problem:
        st.error(f"Not saved: {problem}.")
    else:
        st.session_state["worklist_saved"] = (
            f"Saved {action_type.replace('_', ' ')} on {item['invoice_id']} ({action_id})."
        )
        st.rerun()

st.markdown("**Saved, counted from the next run**")
st.caption(
    "Actions saved here since the last pipeline run: the list above shows them once the next run has built them."
)
if not ui.empty(saved_since, "actions saved since the last run"):
    ui.table(saved_since.head(50))
st.markdown("**Recent actions on these customers**")
if not ui.empty(logged, "actions logged yet"):
    ui.table(logged.head(50))
