"""Order-to-cash cycle times: stage durations over time, their distribution, the slowest orders."""

import datetime as dt

import plotly.express as px
import polars as pl
import streamlit as st

from dashboards import db, ui

meta = ui.guard()
st.title("O2C cycle times")
ui.freshness(meta)

as_of = meta["as_of_date"]
period = st.date_input("Orders placed between", (as_of - dt.timedelta(days=365), as_of), max_value=as_of)
if not isinstance(period, tuple) or len(period) != 2:
    st.info("Pick a start and an end date.")
    st.stop()
params = {"date_from": period[0], "date_to": period[1]}

monthly = db.query("cycle_times_monthly", params)
if ui.empty(monthly, "orders in this period"):
    st.stop()
stage = st.radio("Stage", monthly["stage"].unique(maintain_order=True).to_list(), horizontal=True, index=0)
one_stage = monthly.filter(pl.col("stage") == stage)
left, right = st.columns(2)
with left:
    st.markdown(f"**{stage}: median and 90th percentile by order month (days)**")
    figure = px.line(
        one_stage.unpivot(
            index="order_month", on=["median_days", "p90_days"], variable_name="measure", value_name="days"
        ),
        x="order_month",
        y="days",
        color="measure",
        markers=True,
    )
    figure.update_layout(height=340, margin={"t": 10}, xaxis_title=None, legend_title=None)
    st.plotly_chart(figure, width="stretch")

with right:
    st.markdown("**Order to cash: distribution (days, paid orders)**")
    distribution = db.query("cycle_times_distribution", params)
    figure = px.bar(distribution, x="days_order_to_cash", y="n_orders")
    figure.update_layout(height=340, margin={"t": 10}, xaxis_title="days", yaxis_title="orders")
    st.plotly_chart(figure, width="stretch")

st.markdown("**Median by stage over the period**")
ui.table(one_stage.select("order_month", "n_orders", "median_days", "p90_days"))
st.markdown("**Terms variance by segment** (days paid after the terms allowed; negative = early)")
ui.table(db.query("terms_variance_by_segment", params))
st.markdown("**Slowest orders**")
ui.table(db.query("cycle_times_orders", params))
