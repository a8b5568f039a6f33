"""One customer: profile, invoices, payments, disputes and the collectors' actions."""

import streamlit as st

from core import ops_store
from core.settings import get_settings
from dashboards import db, ui

meta = ui.guard()
st.title("Customer 360")
ui.freshness(meta)

have = ui.available()
customers = db.query("customer_list")
if customers.is_empty():
    ui.not_available("customers")
    st.stop()
ids = customers["customer_id"].to_list()
names = dict(customers.iter_rows())
wanted = st.query_params.get("customer") or st.session_state.get("customer_id")
# A customer in the link that is not among those the viewer may see (customer_list is scoped:
# dashboards/scope.py) is named nowhere on the page: not found and not yours read the same.
unknown = bool(wanted) and wanted not in ids
if unknown:
    st.warning("The customer in this link is not found among the customers you may see. Pick one below.")
customer_id = st.selectbox(
    "Customer",
    ids,
    index=None if unknown else ids.index(wanted) if wanted in ids else 0,
    format_func=lambda c: f"{names[c]} ({c})",
)
if customer_id is None:
    st.stop()
st.query_params["customer"] = customer_id
profile = db.query("customer", {"customer_id": customer_id}).row(0, named=True)

st.subheader(ui.plain(profile["customer_name"]))  # data, never markdown
since = profile["first_order_date"] or profile["customer_since_date"]
# Optional attributes appear only where the data has them.
st.caption(
    " · ".join(
        ui.plain(part)
        for part in (
            profile["segment"],
            profile["region"],
            profile["country"],
            profile["currency"],
            f"terms {profile['payment_terms_code']}" if profile["payment_terms_code"] else None,
            f"collector {ui.text(profile['collector_name'])}",
            f"customer since {since}" if since else None,
        )
        if part
    )
)
tiles = st.columns(5)
tiles[0].metric("Open AR", ui.money(float(profile["open_ar_rc"] or 0)))
tiles[1].metric("Overdue AR", ui.money(float(profile["overdue_ar_rc"] or 0)))
# Over the limit is a state, not a change: said in the value, not as a delta arrow.
used = ui.percent(profile["credit_utilisation_pct"])
tiles[2].metric("Credit used", f"{used}, over limit" if profile["is_over_credit_limit"] else used)
if have["payments"]:
    tiles[3].metric("Days late (weighted)", ui.days(profile["weighted_days_late"]))
if have["clv_customers"]:
    tiles[4].metric(
        "Predicted revenue, 12 months",
        ui.money(profile["predicted_revenue_12m_rc"]),
        help=f"Probability still buying: {ui.percent((profile['probability_alive'] or 0) * 100)}",
    )
if have["payments"] == 0:
    ui.not_available("payments", "Days late")
if have["clv_customers"] == 0:
    ui.not_available("clv", "Predicted revenue")

invoices, payments, disputes, actions = st.tabs(["Invoices", "Payments", "Disputes", "Actions"])
with invoices:
    frame = db.query("customer_invoices", {"customer_id": customer_id})
    if not ui.empty(frame, "invoices of this customer"):
        ui.table(frame)
with payments:
    if have["payments"] == 0:
        ui.not_available("payments")
    else:
        frame = db.query("customer_payments", {"customer_id": customer_id})
        if not ui.empty(frame, "payments of this customer"):
            ui.table(frame)
with disputes:
    if have["disputes"] == 0:
        ui.not_available("disputes")
    else:
        frame = db.query("customer_disputes", {"customer_id": customer_id})
        if not ui.empty(frame, "disputes of this customer"):
            ui.table(frame)
with actions:
    frame = ops_store.actions(get_settings().ops(), [customer_id])
    if not ui.empty(frame, "collection actions on this customer"):
        ui.table(frame.drop("customer_id"))
