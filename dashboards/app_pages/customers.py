"""Customers: payment behaviour, credit exposure against limit, lifetime value."""

import plotly.express as px
import polars as pl
import streamlit as st

from dashboards import db, ui

meta = ui.guard()
st.title("Customers")
ui.freshness(meta)

SORTS = {
    "Overdue AR": "overdue_ar_rc",
    "Open AR": "open_ar_rc",
    "Predicted revenue (12 months)": "predicted_revenue_12m_rc",
    "Net revenue to date": "net_revenue_rc",
    "Credit utilisation": "credit_utilisation_pct",
    "Days late (weighted)": "weighted_days_late",
}
have = ui.available()
if have["customers"] == 0:
    ui.not_available("customers")
    st.stop()
top = st.columns([2, 1])
search = top[0].text_input("Customer name contains", "")
sort = top[1].selectbox("Sort by", list(SORTS))
customers = db.query(
    "customers",
    {"search": ui.like_pattern(search.strip()), "limit": db.ROW_LIMITS["customers"]},
    order_by=db.allowed(sort, SORTS),
)
if ui.empty(customers, f"customers matching “{search}”"):
    st.stop()

left, right = st.columns(2)
with left:
    st.markdown("**Credit exposure against limit**")
    if have["with_credit_limit"] == 0:
        ui.not_available("credit_limit")
    else:
        figure = px.scatter(
            # the legend says what the colour means, not true and false
            ui.chart_text(customers.drop_nulls("credit_limit"), "customer_name").with_columns(
                pl.when(pl.col("is_over_credit_limit"))
                .then(pl.lit("over limit"))
                .otherwise(pl.lit("within limit"))
                .alias("is_over_credit_limit")
            ),
            x="credit_limit",
            y="exposure",
            color="is_over_credit_limit",
            hover_name="customer_name",
            log_x=True,
            log_y=True,
            # credit limits and exposure are in each customer's own currency
            labels={
                "credit_limit": "Credit limit (customer's currency)",
                "exposure": "Exposure (customer's currency)",
                "is_over_credit_limit": "Over credit limit",
            },
        )
        figure.update_layout(height=360, margin={"t": 10})
        st.plotly_chart(figure, width="stretch")
with right:
    st.markdown("**Predicted revenue (12 months) against the probability the customer is still buying**")
    if have["clv_customers"] == 0:
        ui.not_available("clv")
    else:
        figure = px.scatter(
            ui.chart_text(ui.worded(customers.drop_nulls("predicted_revenue_12m_rc"), "segment"), "customer_name"),
            x="probability_alive",
            y="predicted_revenue_12m_rc",
            # Coloured by segment only where customers have one.
            color="segment" if have["with_segment"] else None,
            hover_name="customer_name",
            labels={name: ui.label(name) for name in ("probability_alive", "predicted_revenue_12m_rc", "segment")},
        )
        figure.update_xaxes(tickformat=".1%")  # a probability, read as a percentage
        figure.update_layout(height=360, margin={"t": 10})
        st.plotly_chart(figure, width="stretch")
if have["payments"] == 0:
    ui.not_available("payments", "Days to pay, days late and share paid late")

matching = customers["matching"][0]
st.markdown(
    f"**{customers.height} customers** — select one for its 360° view"
    if customers.height == matching
    else f"**The first {customers.height} of {matching} customers** by {sort.lower()} — search to narrow, "
    "or select one for its 360° view"
)
selection = ui.table(customers.drop("matching"), on_select="rerun", selection_mode="single-row", key="customers_table")
if selection and selection.selection.rows:
    st.session_state["customer_id"] = customers["customer_id"][selection.selection.rows[0]]
    st.switch_page("app_pages/customer_360.py")
