"""Overview: where cash stands and what changed since last month."""

import plotly.express as px
import polars as pl
import streamlit as st

from dashboards import db, ui

meta = ui.guard()
st.title("Order-to-cash overview")
ui.freshness(meta)

have = ui.available()
kpis = db.query("kpis_monthly")
if have["invoices"] == 0:
    ui.not_available("invoices")
    st.stop()
if ui.empty(kpis, "the AR KPIs (no invoices yet)"):
    st.stop()
latest = kpis.row(-1, named=True)
previous = kpis.row(-2, named=True) if kpis.height > 1 else None


def delta(column: str, money: bool = False) -> str | None:
    if previous is None or latest[column] is None or previous[column] is None:
        return None
    change = float(latest[column]) - float(previous[column])
    return ui.money(change) if money else f"{change:+,.1f}"


month = latest["month_start"].strftime("%B %Y")
st.subheader(f"{month} (to {latest['period_end']}) vs the previous month")
tiles = st.columns(5)
tiles[0].metric(
    "Open AR (gross)",
    ui.money(float(latest["open_ar_rc"])),
    delta("open_ar_rc", money=True),
    delta_color="inverse",
    help="Open invoices. DSO, BPDSO, days delinquent, CEI and % current all use gross AR.",
)
tiles[1].metric(
    "Net AR",
    ui.money(float(latest["open_ar_net_rc"])),
    delta("open_ar_net_rc", money=True),
    delta_color="inverse",
    help=f"Gross AR less unapplied cash on account of known customers ({ui.money(float(latest['unapplied_on_account_rc']))}); "
    f"net DSO {ui.number(latest['dso_net'], ' d')}. Unidentified cash is not deducted (Unapplied cash page).",
)
tiles[2].metric("% current", ui.number(latest["pct_current"], " %"), delta("pct_current"))
tiles[3].metric("DSO (simple)", ui.number(latest["dso_simple"], " d"), delta("dso_simple"), delta_color="inverse")
tiles[4].metric(
    "DSO (countback)", ui.number(latest["dso_countback"], " d"), delta("dso_countback"), delta_color="inverse"
)
# Without payments nothing was collected: CEI and cash collected would read 0, which is not a
# measurement, so they give way to the note.
tiles = st.columns(4) if have["payments"] else st.columns([1, 1, 2])
tiles[0].metric("Best possible DSO", ui.number(latest["bpdso"], " d"), delta("bpdso"), delta_color="inverse")
tiles[1].metric(
    "Average days delinquent", ui.number(latest["add_days"], " d"), delta("add_days"), delta_color="inverse"
)
if have["payments"]:
    tiles[2].metric("CEI", ui.number(latest["cei"], " %"), delta("cei"))
    tiles[3].metric(
        "Cash collected MTD",
        ui.money(float(latest["cash_collected_rc"])),
        delta("cash_collected_rc", money=True),
        help="This month to the as-of date, against the whole previous month.",
    )
else:
    with tiles[2]:
        ui.not_available("payments", "CEI and cash collected")

left, right = st.columns(2)
with left:
    st.markdown("**DSO, best possible DSO and days delinquent**")
    trend = kpis.select(
        "period_end",
        pl.col("dso_simple").alias("DSO (simple)"),
        pl.col("dso_countback").alias("DSO (countback)"),
        pl.col("bpdso").alias("Best possible DSO"),
        pl.col("add_days").alias("Days delinquent"),
    ).unpivot(index="period_end", variable_name="measure", value_name="days")
    figure = px.line(trend, x="period_end", y="days", color="measure", markers=True)
    figure.update_layout(height=360, margin={"t": 10}, xaxis_title=None, legend_title=None)
    st.plotly_chart(figure, width="stretch")
with right:
    st.markdown("**Open AR by aging bucket at each month-end**")
    aging = db.query("aging_by_month_end")
    figure = px.bar(
        aging.with_columns(pl.col("as_of_date").cast(pl.String)),
        x="as_of_date",
        y="open_balance_rc",
        color="aging_bucket",
        category_orders={
            "aging_bucket": aging.sort("aging_bucket_order")["aging_bucket"].unique(maintain_order=True).to_list()
        },
    )
    figure.update_layout(height=360, margin={"t": 10}, xaxis_title=None, yaxis_title="open AR", legend_title=None)
    figure.update_xaxes(type="category")  # one bar per snapshot, labelled with its date
    st.plotly_chart(figure, width="stretch")

st.subheader("Bad debt")
bad_debt = db.query("bad_debt_monthly")
ecl = db.query("expected_credit_loss")
left, right = st.columns(2)
with left:
    st.markdown("**Expected credit loss by aging bucket** (provision matrix from the company's own write-offs)")
    current = bad_debt.row(-1, named=True) if bad_debt.height else None
    tiles = st.columns(3)
    allowance = current["expected_credit_loss_rc"] if current else None
    tiles[0].metric(
        "Expected credit loss",
        ui.money(float(allowance)) if allowance is not None else "–",
        help="Σ open balance × historical loss rate of each aging bucket, at the as-of date.",
    )
    tiles[1].metric(
        "Allowance % of open AR", ui.number(current["allowance_pct_of_open_ar"] if current else None, " %", 2)
    )
    tiles[2].metric(
        "Bad-debt ratio (12 months)",
        ui.number(current["bad_debt_ratio"] if current else None, " %", 2),
        help="Write-offs ÷ credit sales over the trailing 12 months.",
    )
    if ecl.is_empty() or ecl["historical_loss_rate"].null_count() == ecl.height:
        st.info(
            "No loss history yet: a bucket's loss rate needs month-ends old enough for their write-offs "
            "to be known (12 months, `ecl_outcome_months`), so no allowance is shown rather than 0."
        )
    elif ecl["historical_loss_rate"].null_count():
        missing = ", ".join(ecl.filter(pl.col("historical_loss_rate").is_null())["aging_bucket"])
        st.caption(f"No loss history for {missing}: those buckets carry no allowance.")
    if not ecl.is_empty():
        ui.table(
            ecl.select(
                "aging_bucket",
                pl.col("open_balance_rc").round(2),
                "historical_loss_rate",
                "months_of_history",
                pl.col("expected_credit_loss_rc").round(2),
            ),
            key="expected_credit_loss",
        )
with right:
    month_name = latest["month_start"].strftime("%B %Y")
    st.markdown(f"**Write-offs in {month_name}**")
    if db.query("write_offs_count")["n"][0] == 0:
        st.info(
            "No write-offs in the data: no credit memo has a write-off reason "
            "(the dbt var `write_off_reasons`, docs/metrics.md)."
        )
    else:
        written = db.query(
            "write_offs_month", {"month_start": latest["month_start"], "period_end": latest["period_end"]}
        )
        this_month = bad_debt.filter(pl.col("month_start") == latest["month_start"])
        total = float(this_month["written_off_rc"][0]) if this_month.height else 0.0
        st.metric(f"Written off in {month_name}", ui.money(total), help="Credit memos with a write-off reason.")
        if written.is_empty():
            st.info(f"No write-offs in {month_name}.")
        else:
            ui.table(written, key="write_offs_month")

st.markdown("**Top overdue customers**")
overdue = db.query("top_overdue_customers", {"limit": 10})
if not ui.empty(overdue, "overdue customers (nothing is overdue)"):
    ui.table(overdue.with_columns(pl.col("overdue_ar_rc").round(2), pl.col("open_ar_rc").round(2)))
