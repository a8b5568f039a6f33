"""Order-to-cash cycle times: stage durations over time, their distribution, the slowest orders;
order and invoice quality (OTIF, perfect orders, invoice accuracy, order processing time)."""

import datetime as dt

import plotly.express as px
import polars as pl
import streamlit as st

from dashboards import db, scope, ui


def add_months(month: dt.date, months: int) -> dt.date:
    """The first day of the month `months` after the month of `month`."""
    index = month.year * 12 + month.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


meta = ui.guard()
st.title("O2C cycle times")
ui.freshness(meta)
scope.company_wide_only("Cycle times and order quality")

have = ui.available()
if have["invoices"] == 0 and have["cycle_time_orders"] == 0:
    ui.not_available("invoices")
    st.stop()

# Whole months only: the monthly quantiles are the mart's (fct_cycle_times_monthly), which a
# date in the middle of a month cannot cut. Without invoices there is no as-of date: the picker
# then ends this month.
as_of = meta["as_of_date"] or dt.date.today()
has_orders = have["cycle_time_orders"] > 0
first_date = db.query("cycle_times_first_date")["first_date"][0] or as_of
months = [first_date.replace(day=1)]
while months[-1] < as_of.replace(day=1):
    months.append(add_months(months[-1], 1))
if len(months) > 1:
    month_from, month_to = st.select_slider(
        "Orders placed in" if has_orders else "Invoices dated in",
        options=months,
        value=(max(months[0], add_months(months[-1], -11)), months[-1]),  # the last 12 months
        format_func=lambda month: f"{month:%b %Y}",
    )
else:
    month_from = month_to = months[0]
    st.caption(f"{'Orders placed' if has_orders else 'Invoices dated'} in {month_from:%B %Y}: the one month there is.")
params = {"date_from": month_from, "date_to": add_months(month_to, 1) - dt.timedelta(days=1)}


def quality(orders: bool) -> None:
    """Order and invoice quality: the latest month's tiles, the monthly trend and the order
    processing time distribution (fct_order_quality_monthly, fct_order_fulfilment). Without
    orders only invoice accuracy exists."""
    st.subheader("Order and invoice quality")
    monthly = db.query("order_quality_monthly", params)
    if ui.empty(monthly, "orders or invoices in this period"):
        return
    if have["accuracy_invoices"] == 0:
        ui.not_available("accuracy", "Invoice accuracy")
    if orders and have["otif_orders"] == 0:
        ui.not_available("fulfilment", "On time in full")
    if orders and have["perfect_order_orders"] == 0:
        ui.not_available("disputes", "Perfect orders")
    latest = monthly.row(-1, named=True)
    st.caption(
        f"{latest['month_start']:%B %Y} (the latest month of the period): OTIF and perfect orders by order month, "
        "over orders whose outcome is known; invoice accuracy by invoice month."
    )
    tiles = [("Invoice accuracy", ui.percent(latest["invoice_accuracy_pct"]))]
    if orders:
        tiles = [
            ("OTIF", ui.percent(latest["otif_pct"])),
            ("Perfect orders", ui.percent(latest["perfect_order_pct"])),
            *tiles,
            ("Order to ship, median", ui.days(latest["days_to_ship_p50"])),
            ("Order to ship, p90", ui.days(latest["days_to_ship_p90"])),
        ]
    for column, (label, value) in zip(st.columns(len(tiles)), tiles, strict=True):
        column.metric(label, value)
    left, right = st.columns(2)
    with left:
        st.markdown("**Quality rates by month (%)**")
        rates = ["otif_pct", "perfect_order_pct", "invoice_accuracy_pct"] if orders else ["invoice_accuracy_pct"]
        figure = px.line(
            ui.humanised(monthly, rates).unpivot(
                index="month_start", on=[ui.label(r) for r in rates], variable_name="rate", value_name="pct"
            ),
            x="month_start",
            y="pct",
            color="rate",
            markers=True,
            labels={"month_start": "Month", "pct": "Rate (%)", "rate": "Rate"},  # the hover's words
        )
        figure.update_layout(
            height=340, margin={"t": 10}, xaxis_title="Month", yaxis_title="Rate (%)", legend_title=None
        )
        st.plotly_chart(figure, width="stretch")
    if orders:
        with right:
            st.markdown("**Order processing time: order to shipment (days, shipped orders)**")
            distribution = db.query("order_processing_distribution", params)
            counts = ["n_orders_first_shipment", "n_orders_last_shipment"]
            figure = px.bar(
                ui.humanised(distribution, counts).unpivot(
                    index="days", on=[ui.label(c) for c in counts], variable_name="to", value_name="orders"
                ),
                x="days",
                y="orders",
                color="to",
                barmode="group",
                labels={"days": "Order to shipment (days)", "orders": "Orders", "to": "Orders"},
            )
            figure.update_layout(
                height=340,
                margin={"t": 10},
                xaxis_title="Order to shipment (days)",
                yaxis_title="Orders",
                legend_title=None,
            )
            st.plotly_chart(figure, width="stretch")
    ui.table(monthly)


if not has_orders:
    # No orders: the stages from order to invoice do not exist; invoice to paid still does, by
    # month of invoice, where there are payments.
    ui.not_available("orders", "Order → approval → shipment → invoice")
    quality(orders=False)
    if have["payments"] == 0:
        ui.not_available("payments", "Invoice → paid")
        st.stop()
    st.markdown("**Invoice to paid: median and 90th percentile by invoice month (days)**")
    paid = db.query("invoice_to_paid_monthly", params)
    if ui.empty(paid, "paid invoices in this period"):
        st.stop()
    figure = px.line(
        ui.humanised(paid, ["median_days", "p90_days"]).unpivot(
            index="invoice_month",
            on=[ui.label("median_days"), ui.label("p90_days")],
            variable_name="measure",
            value_name="days",
        ),
        x="invoice_month",
        y="days",
        color="measure",
        markers=True,
        labels={"invoice_month": "Invoice month", "days": "Days", "measure": "Measure"},
    )
    figure.update_layout(
        height=340,
        margin={"t": 10},
        xaxis_title="Invoice month",
        yaxis_title="Invoice to paid (days)",
        legend_title=None,
    )
    st.plotly_chart(figure, width="stretch")
    ui.table(paid)
    st.stop()

monthly = db.query("cycle_times_monthly", params)
if ui.empty(monthly, "orders in this period"):
    st.stop()
stage = st.radio("Stage", monthly["stage"].unique(maintain_order=True).to_list(), horizontal=True, index=0)
one_stage = monthly.filter(pl.col("stage") == stage)
left, right = st.columns(2)
with left:
    st.markdown(f"**{stage.capitalize()}: median and 90th percentile by order month (days)**")
    figure = px.line(
        ui.humanised(one_stage, ["median_days", "p90_days"]).unpivot(
            index="order_month",
            on=[ui.label("median_days"), ui.label("p90_days")],
            variable_name="measure",
            value_name="days",
        ),
        x="order_month",
        y="days",
        color="measure",
        markers=True,
        labels={"order_month": "Order month", "days": "Days", "measure": "Measure"},
    )
    figure.update_layout(
        height=340,
        margin={"t": 10},
        xaxis_title="Order month",
        yaxis_title=f"{stage.capitalize()} (days)",
        legend_title=None,
    )
    st.plotly_chart(figure, width="stretch")

with right:
    st.markdown("**Order to cash: distribution (days, paid orders)**")
    if have["payments"] == 0:
        ui.not_available("payments")
    else:
        distribution = db.query("cycle_times_distribution", params)
        figure = px.bar(
            distribution,
            x="days_order_to_cash",
            y="n_orders",
            labels={"days_order_to_cash": "Order to cash (days)", "n_orders": "Orders"},
        )
        figure.update_layout(height=340, margin={"t": 10}, xaxis_title="Order to cash (days)", yaxis_title="Orders")
        st.plotly_chart(figure, width="stretch")

st.markdown("**Median by stage over the period**")
ui.table(one_stage.select("order_month", "n_orders", "median_days", "p90_days"))
st.markdown("**Terms variance by segment** (days paid after the terms allowed; negative = early)")
if have["payments"] == 0:
    ui.not_available("payments")
else:
    ui.table(db.query("terms_variance_by_segment", params))
st.markdown("**Slowest orders**")
ui.table(db.query("cycle_times_orders", params))
quality(orders=True)
