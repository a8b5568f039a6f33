"""AR aging as of any date (month-ends and today as quick picks), filtered, with drill-down to
invoices. The open items of any day come from marts.fct_open_item_balances and their buckets from
marts.dim_aging_buckets (queries/aging_*.sql): at month-ends and today the figures are
fct_ar_aging's, item by item."""

import plotly.express as px
import polars as pl
import streamlit as st

from core import formatting
from dashboards import db, ui

meta = ui.guard()
st.title("AR aging")
ui.freshness(meta)

if ui.available()["invoices"] == 0:
    ui.not_available("invoices")
    st.stop()
dates = db.query("aging_dates")["as_of_date"].to_list()  # today first, then the month-ends
first_date, last_date = db.query("aging_date_range")["first_date"][0], meta["as_of_date"]
options = db.query("filter_options")


def values(kind: str) -> list[str]:
    return options.filter(pl.col("filter") == kind)["value"].drop_nulls().to_list()


# A filter is offered only where the customers have values for it: a company whose data has no
# collectors, regions or segments sees the filters it can use and a note on the rest.
FILTERS = {"collector": "Collector", "region": "Region", "segment": "Segment", "currency": "Currency"}
offered = [kind for kind in FILTERS if values(kind)]
# Any day from the first invoice to the data's as-of date; a quick pick sets the date to a
# month-end or today (the dates the overview and the KPIs use).
# A date kept from before a new build that no longer holds (other data) starts again at today.
if not first_date <= st.session_state.get("aging_as_of", last_date) <= last_date:
    del st.session_state["aging_as_of"]
if "aging_as_of" not in st.session_state:
    st.session_state["aging_as_of"] = last_date


def quick_pick() -> None:
    if st.session_state["aging_quick_pick"] is not None:
        st.session_state["aging_as_of"] = st.session_state["aging_quick_pick"]


top = st.columns([1] * (2 + len(offered)))
top[0].selectbox(
    "Month-end or today",
    dates,
    index=None,
    placeholder="Quick pick",
    format_func=lambda d: f"{d} (today)" if d == dates[0] else str(d),
    key="aging_quick_pick",
    on_change=quick_pick,
)
as_of = top[1].date_input("As of", min_value=first_date, max_value=last_date, format="YYYY-MM-DD", key="aging_as_of")
chosen_values = {
    kind: column.multiselect(FILTERS[kind], values(kind)) for kind, column in zip(offered, top[2:], strict=True)
}
collectors, regions, segments, currencies = (chosen_values.get(kind, []) for kind in FILTERS)
if unused := [kind for kind in ("collector", "region", "segment") if kind not in offered]:
    kinds = {"collector": "collectors", "region": "customer regions", "segment": "customer segments"}
    columns = {"collector": "`collector_id`", "region": "`region`", "segment": "`segment`"}
    missing = [kinds[k] for k in unused]
    listed = ", ".join(missing[:-1]) + " or " + missing[-1] if len(missing) > 1 else missing[0]
    st.caption(
        f"Not available: your data has no {listed} "
        f"(the customers' {', '.join(columns[k] for k in unused)}), so there is no filter by them."
    )

filters = {
    "as_of_date": as_of,
    "collectors": collectors,
    "regions": regions,
    "segments": segments,
    "currencies": currencies,
}
# Totals are summed by DuckDB: at 10 M invoices the open items alone are a million rows.
buckets = db.query("aging_buckets", filters)
if ui.empty(buckets):
    st.stop()

total = buckets["open_ar_rc"].sum()
st.metric(
    "Open AR",
    ui.money(total),
    help=f"As of {as_of}: {formatting.count(buckets['invoices'].sum(), 'open item')}; the buckets add up to this total.",
)
columns = st.columns(len(buckets))
for column, row in zip(columns, buckets.iter_rows(named=True), strict=True):
    column.metric(row["aging_bucket"], ui.money(row["open_ar_rc"]))
    column.caption(formatting.count(row["invoices"], "open item"))  # a count, not a change: no arrow
# Every bucket's colour from the full list, so the oldest is the darkest red even when a younger
# bucket is empty on this date.
colours = formatting.aging_colours(db.query("aging_bucket_labels")["aging_bucket"].to_list())
figure = px.bar(
    buckets,
    x="aging_bucket",
    y="open_ar_rc",
    color="aging_bucket",
    color_discrete_map=colours,
    text=[ui.money(value) for value in buckets["open_ar_rc"]],
    labels={"aging_bucket": ui.label("aging_bucket"), "open_ar_rc": ui.label("open_ar_rc")},
)
figure.update_layout(height=280, margin={"t": 10}, xaxis_title=None, showlegend=False)
st.plotly_chart(figure, width="stretch")

largest = db.query("aging_customers", {**filters, "limit": db.ROW_LIMITS["aging_customers"]})
shown, customers = largest["customer_id"].n_unique(), largest["customers"][0]
st.markdown(
    f"**By customer**: the {shown} with the most open AR of {customers} customers with open items "
    "(select a row to see its invoices; filter to narrow)"
    if shown < customers
    else "**By customer** (select a row to see its invoices)"
)
by_customer = (
    largest.pivot(
        on="aging_bucket",
        index=["customer_id", "customer_name", "collector_name", "total"],
        values="open_ar_rc",
        sort_columns=False,
    )
    .fill_null(0)
    .sort("total", "customer_id", descending=[True, False])
)
ordered = [b for b in buckets["aging_bucket"].to_list() if b in by_customer.columns]
# The pivoted buckets are amounts in the reporting currency: named so (`_rc`), they read with the
# currency in the header and cents, like every other amount.
by_customer = by_customer.select(
    "customer_id",
    "customer_name",
    "collector_name",
    *(pl.col(bucket).alias(f"{bucket}_rc") for bucket in ordered),
    pl.col("total").alias("total_rc"),
)
selection = ui.table(by_customer, on_select="rerun", selection_mode="single-row", key="aging_customers")
chosen = selection.selection.rows if selection else []
if chosen:
    customer = by_customer.row(chosen[0], named=True)
    st.markdown(f"**Invoices of {ui.plain(customer['customer_name'])}** as of {as_of}")
    ui.table(db.query("aging_items", {**filters, "customer_id": customer["customer_id"]}))

st.download_button(
    "Download the open items (CSV)",
    # Only when clicked: every open item under the filters, which can be large.
    lambda: ui.csv_bytes(db.query("aging_items", {**filters, "customer_id": None})),
    file_name=f"ar_aging_{as_of}.csv",
    mime="text/csv",
)
