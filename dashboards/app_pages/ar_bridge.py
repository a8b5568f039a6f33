"""The AR bridge between any two dates: opening AR + invoiced − collected − credited − written off
= closing AR, in the reporting currency, as a waterfall and a table, for the whole book and per
customer. Every figure is summed in SQL (queries/bridge_*.sql) from the marts
fct_open_item_balances and fct_open_item_events; this page only lays them out."""

import datetime as dt

import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import formatting
from dashboards import db, ui

meta = ui.guard()
st.title("AR bridge")
ui.freshness(meta)

if ui.available()["invoices"] == 0:
    ui.not_available("invoices")
    st.stop()

# The lines of the bridge in the order they are read, and what each is called (columns of
# queries/bridge_totals.sql). Reductions of AR are negative amounts.
MOVEMENTS = {
    "invoiced_rc": "Invoiced",
    "collected_rc": "Collected (payments applied)",
    "credited_rc": "Credited (credit memos)",
    "written_off_rc": "Written off (bad debt)",
}
UNEXPLAINED = "Unexplained difference"
CUSTOMER_ROWS = 200  # customers listed; the rest are in the totals and a download away

as_of: dt.date = meta["as_of_date"]
first_date = db.query("aging_date_range")["first_date"][0]
month_ends = [d for d in db.query("aging_dates")["as_of_date"].to_list() if d < as_of]
# Default: from the last month-end before the data's as-of date to that date (a whole month when
# the data ends on a month-end, the month to date otherwise). The day before the first invoice
# is the earliest start: a bridge from there opens at zero.
earliest = first_date - dt.timedelta(days=1)
default_from = max(month_ends) if month_ends else earliest

top = st.columns(2)
date_from = top[0].date_input(
    "From the end of",
    value=default_from,
    min_value=earliest,
    max_value=as_of,
    format="YYYY-MM-DD",
    help="Opening AR is the open AR at the end of this day; movements count from the day after.",
    key="bridge_from",
)
date_to = top[1].date_input(
    "To the end of",
    value=as_of,
    min_value=earliest,
    max_value=as_of,
    format="YYYY-MM-DD",
    help="Closing AR is the open AR at the end of this day (what AR aging shows as of it).",
    key="bridge_to",
)
if date_from >= date_to:
    st.warning(f"Pick a start before the end: the bridge runs from the end of {date_from} to the end of {date_to}.")
    st.stop()


def bridge(customer_id: str | None) -> dict[str, object]:
    params = {"date_from": date_from, "date_to": date_to, "customer_id": customer_id}
    return db.query("bridge_totals", params).row(0, named=True)


def show(figures: dict[str, object], key: str) -> None:
    """Tiles, the waterfall and the table of one bridge (the book or a customer)."""
    opening_label, closing_label = f"Opening AR ({date_from})", f"Closing AR ({date_to})"
    tiles = st.columns(3)
    tiles[0].metric("Opening AR", ui.money(figures["opening_ar_rc"]), help=f"Open AR at the end of {date_from}.")
    tiles[1].metric("Closing AR", ui.money(figures["closing_ar_rc"]), help=f"Open AR at the end of {date_to}.")
    tiles[2].metric("Change in AR", ui.signed_money(figures["net_change_rc"]), help="Closing AR − opening AR.")

    lines = [(opening_label, figures["opening_ar_rc"], "absolute")]
    lines += [(label, figures[column], "relative") for column, label in MOVEMENTS.items()]
    if figures["unexplained_rc"] != 0:  # drawn only when there is one; always in the table
        lines.append((UNEXPLAINED, figures["unexplained_rc"], "relative"))
    # The closing bar is the mart's closing AR as it is, not the chart's running sum.
    lines.append((closing_label, figures["closing_ar_rc"], "absolute"))
    figure = go.Figure(
        go.Waterfall(
            x=[label for label, _, _ in lines],
            y=[float(value) for _, value, _ in lines],
            measure=[measure for _, _, measure in lines],
            text=[ui.money(value) for _, value, _ in lines],
            textposition="outside",
            connector={"line": {"color": "#9e9e9e"}},
            increasing={"marker": {"color": formatting.SEVERITY[-2]}},  # more owed
            decreasing={"marker": {"color": formatting.SEVERITY[0]}},  # collected, credited, written off
            totals={"marker": {"color": "#546e7a"}},
        )
    )
    figure.update_layout(
        height=360, margin={"t": 30}, showlegend=False, yaxis_title=ui.label("open_ar_rc"), xaxis_title=None
    )
    st.plotly_chart(figure, width="stretch", key=f"waterfall_{key}")

    table = pl.DataFrame(
        {
            "line": [opening_label, *MOVEMENTS.values(), UNEXPLAINED, closing_label],
            "amount_rc": [
                figures["opening_ar_rc"],
                *(figures[column] for column in MOVEMENTS),
                figures["unexplained_rc"],
                figures["closing_ar_rc"],
            ],
        },
        schema={"line": pl.String, "amount_rc": pl.Decimal(38, 2)},
    )
    ui.table(table, key=f"bridge_{key}")
    if figures["unexplained_rc"] != 0:
        st.error(
            f"The lines leave {ui.money(figures['unexplained_rc'], 2)} between opening and closing AR "
            "unexplained: the marts disagree (dbt test assert_open_item_events_add_up_to_open_balances)."
        )


st.caption(
    "Open AR is gross (as in AR aging): cash received but not yet applied to an invoice does not reduce it "
    "until it is applied. Every amount converts at its invoice's date rate, so open AR has no FX revaluation "
    "line. Reductions are negative."
)
show(bridge(None), "all")

st.subheader("By customer")
by_customer = db.query("bridge_customers", {"date_from": date_from, "date_to": date_to, "limit": CUSTOMER_ROWS})
if ui.empty(by_customer, "this period"):
    st.stop()
total_customers = by_customer["customers"][0]
by_customer = by_customer.drop("customers")
st.markdown(
    f"The {formatting.count(by_customer.height, 'customer')} whose AR changed most, of "
    f"{formatting.count(total_customers, 'customer')} with open AR or movements (select a row for its bridge)"
    if by_customer.height < total_customers
    else "Select a row for the customer's bridge"
)
selection = ui.table(by_customer, on_select="rerun", selection_mode="single-row", key="bridge_customers")
chosen = selection.selection.rows if selection else []
if chosen:
    customer = by_customer.row(chosen[0], named=True)
    st.markdown(f"**{ui.plain(customer['customer_name'])}** ({ui.plain(customer['customer_id'])})")
    show(bridge(customer["customer_id"]), "customer")
