"""Cash forecast: the next 13 weeks, how past forecasts did, and backtest accuracy."""

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from dashboards import db, scope, ui

meta = ui.guard()
st.title("Cash forecast")
ui.freshness(meta)
scope.company_wide_only("The cash forecast and its backtests")

have = ui.available()
# What the forecasts could not do with this data, in their own words: a fallback is not a failure.
for row in db.query("forecast_status").iter_rows(named=True):
    what, method = ui.label(row["forecast"]), str(row["method"]).replace("_", " ")
    st.caption(f"{what}: {row['status']} ({method}): {row['reason']}")


def cash_forecast(weekly: pl.DataFrame) -> None:
    total = weekly["expected_collections_rc"].sum()
    naive = weekly["naive_rc"].sum()
    tiles = st.columns(3)
    tiles[0].metric("Expected receipts, next 13 weeks", ui.money(total))
    tiles[1].metric("Next 4 weeks", ui.money(weekly.head(4)["expected_collections_rc"].sum()))
    if have["payments"]:
        tiles[2].metric(
            "Naive forecast, 13 weeks",
            ui.money(naive),
            help="The last 13 weeks' average weekly receipts, for the same 13 weeks: what the model is benchmarked against.",
        )
    else:
        # The naive forecast is past receipts carried forward: without payments it is no benchmark.
        with tiles[2]:
            ui.not_available("payments", "Naive forecast")

    st.markdown("**Expected receipts by week**")
    parts = weekly.select(
        "week_end",
        pl.col("from_open_items_rc").alias("Open items"),
        pl.col("from_new_invoices_rc").alias("New invoices"),
        pl.col("unapplied_receipts_rc").alias("Unapplied receipts"),
    ).unpivot(index="week_end", variable_name="source", value_name="amount")
    history = db.query("recent_receipts", {"as_of": meta["as_of_date"]})
    figure = px.bar(
        parts,
        x="week_end",
        y="amount",
        color="source",
        labels={"week_end": "Week ending", "amount": f"Expected ({ui.currency()})", "source": "From"},
    )
    figure.add_trace(
        go.Scatter(x=history["week_end"], y=history["receipts_rc"], name="Actual receipts", mode="lines+markers")
    )
    figure.add_trace(
        go.Scatter(
            x=weekly["week_end"], y=weekly["naive_rc"], name="Naive forecast", mode="lines", line={"dash": "dot"}
        )
    )
    figure.update_layout(
        height=380,
        margin={"t": 10},
        xaxis_title="Week ending",
        yaxis_title=f"Receipts ({ui.currency()})",
        legend_title=None,
    )
    st.plotly_chart(figure, width="stretch")
    ui.table(weekly)

    # The track record compares forecasts with receipts: without payments there is none.
    st.markdown("**Past forecasts against actual receipts**")
    if have["payments"] == 0:
        ui.not_available("payments")
        st.markdown("**Backtest accuracy**")
        ui.not_available("payments")
        return
    scored = db.query("cash_forecast_vs_actual")
    if not ui.empty(scored, "past forecasts yet (they are scored once their weeks have ended)"):
        ui.table(scored)

    st.markdown("**Backtest accuracy** (rolling origins over the history)")
    summary = db.query("backtest_summary")
    if not ui.empty(summary, "backtests yet (they need half a year of history and 13 weeks of actuals)"):
        ui.table(summary)
        left, right = st.columns(2)
        with left:
            pay = db.query("backtest_pay_date")
            figure = px.line(
                pay,
                x="origin_date",
                y="mae_days",
                color="method",
                markers=True,
                title="Pay-date MAE (days)",
                labels={"origin_date": "Backtest origin", "mae_days": "MAE (days)", "method": "Method"},
            )
            figure.update_layout(height=320, legend_title=None, xaxis_title="Backtest origin", yaxis_title="MAE (days)")
            st.plotly_chart(figure, width="stretch")
        with right:
            cash = db.query("backtest_cash")
            figure = px.bar(
                cash,
                x="origin_date",
                y="wape_pct",
                color="method",
                barmode="group",
                title="Weekly cash WAPE (%)",
                labels={"origin_date": "Backtest origin", "wape_pct": "WAPE (%)", "method": "Method"},
            )
            figure.update_layout(height=320, legend_title=None, xaxis_title="Backtest origin", yaxis_title="WAPE (%)")
            st.plotly_chart(figure, width="stretch")


weekly = db.query("cash_forecast")
if weekly.is_empty():
    ui.not_available("cash_forecast", "Cash forecast")
else:
    cash_forecast(weekly)

st.markdown("**Revenue and order forecast**")
revenue = db.query("revenue_forecast")
if revenue.is_empty():
    ui.not_available("revenue_forecast")
else:
    series = st.selectbox("Series", revenue["series"].unique(maintain_order=True).to_list(), format_func=ui.label)
    one = revenue.filter(pl.col("series") == series)
    figure = go.Figure(
        [
            go.Scatter(x=one["week_end"], y=one["hi_80"], line={"width": 0}, showlegend=False),
            go.Scatter(x=one["week_end"], y=one["lo_80"], fill="tonexty", line={"width": 0}, name="80% interval"),
            go.Scatter(
                x=one["week_end"], y=one["forecast"], name=f"forecast ({one['model'][0]})", mode="lines+markers"
            ),
        ]
    )
    # The series' label says its unit: the currency of an `_rc` amount, none for a count of orders.
    figure.update_layout(height=320, margin={"t": 10}, xaxis_title="Week ending", yaxis_title=ui.label(series))
    st.plotly_chart(figure, width="stretch")
