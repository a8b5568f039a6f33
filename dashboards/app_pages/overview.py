"""Overview: where cash stands and what changed, compared like for like.

Flows (invoiced, cash collected, CEI) are the month to date against the same days of the previous
month (fct_ar_month_to_date); stocks (balances and the DSO family) are at the as-of date against the
previous month-end (fct_ar_kpis_monthly); trends are over complete months or complete weeks only.
Every definition, formula and format comes from core/kpi_definitions.py and core/formatting.py:
this page arranges them."""

import datetime as dt

import plotly.express as px
import plotly.graph_objects as go
import polars as pl
import streamlit as st

from core import formatting
from core.kpi_definitions import COMPARED_WITH, KPIS, Comparison, compare, help_text, period_text, target_text, targets
from core.settings import get_settings
from dashboards import db, ui
from dashboards.auth import viewer
from quality.aging import aging_bucket_labels

meta = ui.guard()
st.title("Order-to-cash overview")
ui.freshness(meta)

have = ui.available()
if not (who := viewer()).sees_all_customers:
    # A collector: the company's KPIs are not theirs to see (dashboards/scope.py); their own
    # customers' AR is, in the figures fct_collector_daily computes for their worklist and email.
    st.info(
        "The company-wide KPIs are not shown to collectors: these figures are of your customers only. "
        "Your day's items are on the Collections worklist."
    )
    mine = db.query("worklist_totals", {"collector_id": who.collector_id})
    if not ui.empty(mine, "your customers (none is assigned to you)"):
        totals = mine.row(0, named=True)
        tiles = st.columns(4)
        tiles[0].metric("Open AR, your customers", ui.money(totals["open_ar_rc"]))
        tiles[1].metric("Past due AR, your customers", ui.money(totals["past_due_ar_rc"]))
        tiles[2].metric("Worklist items", ui.count(totals["worklist_items"]))
        tiles[3].metric("Broken promises", ui.count(totals["broken_promises"]))
    st.markdown("**Your most overdue customers**")
    overdue = db.query("top_overdue_customers", {"limit": 10})
    if not ui.empty(overdue, "overdue customers (nothing is overdue)"):
        ui.table(overdue, key="top_overdue_customers")
    st.stop()
kpis = db.query("kpis_monthly")
if have["invoices"] == 0:
    ui.not_available("invoices")
    st.stop()
if ui.empty(kpis, "the AR KPIs (no invoices yet)"):
    st.stop()

settings = get_settings()
currency = ui.currency()
TARGETS = targets(settings)
TONE_COLOURS = {"good": "green", "bad": "red", "neutral": "gray"}

latest = kpis.row(-1, named=True)  # the running month, to the data's as-of date
month_end = kpis.row(-2, named=True) if kpis.height > 1 else None  # the previous month-end
periods = {row["period"]: row for row in db.query("kpis_compare").iter_rows(named=True)}
to_date, same_days = periods.get("month_to_date"), periods.get("previous_month_same_days")


def stock(column: str) -> Comparison:
    """A balance or ratio at the as-of date against the previous month-end."""
    before = month_end[column] if month_end else None
    when = formatting.date(month_end["period_end"]) if month_end else ""
    return compare(KPIS[column], latest[column], before, when, currency, TARGETS[column])


def flow(column: str) -> Comparison:
    """The month to date against the same days of the previous month."""
    now = to_date[column] if to_date else None
    before = same_days[column] if same_days else None
    when = period_text(same_days["period_start"], same_days["period_end"]) if same_days else ""
    return compare(KPIS[column], now, before, when, currency, TARGETS[column])


def tile(where, comparison: Comparison, label: str | None = None, help_note: str | None = None) -> None:
    """A KPI tile: the figure, its change coloured by whether it is good (never by its sign),
    what it is compared with and the target; the definition and formula in its help."""
    kpi = comparison.kpi
    note = COMPARED_WITH[kpi.kind] + (f" {help_note}" if help_note else "")
    where.metric(
        label or kpi.label,
        comparison.now_text,
        comparison.change_text,
        delta_color=TONE_COLOURS[comparison.tone],
        delta_arrow=comparison.arrow,
        delta_description=f"vs {comparison.compared_with}" if comparison.change_text else None,
        help=help_text(kpi, note, comparison.target_text),
    )
    # On a line of its own: beside the comparison it would be cut off on a narrow tile.
    if comparison.target_text:
        where.caption(comparison.target_text[0].upper() + comparison.target_text[1:])


as_of: dt.date = latest["period_end"]
st.subheader(f"As of {formatting.date(as_of)}")
if month_end:
    st.caption(
        f"Balances and DSO against the previous month-end ({formatting.date(month_end['period_end'])}); "
        + (
            f"flows month to date ({period_text(to_date['period_start'], to_date['period_end'])}) against the same "
            f"days of the previous month ({period_text(same_days['period_start'], same_days['period_end'])})."
            if to_date and same_days
            else "flows month to date."
        )
    )

tiles = st.columns(4)
tile(tiles[0], stock("open_ar_rc"))
tile(
    tiles[1],
    stock("open_ar_net_rc"),
    help_note=f"Unapplied cash on account now: {ui.money(latest['unapplied_on_account_rc'])}; net DSO "
    f"{formatting.days(latest['dso_net'])}. Unidentified cash is not deducted (Unapplied cash page).",
)
tile(tiles[2], stock("pct_current"))
tile(tiles[3], stock("dso_simple"))
tiles = st.columns(4)
tile(tiles[0], stock("dso_countback"))
tile(tiles[1], stock("bpdso"))
tile(tiles[2], stock("add_days"))
# Without payments nothing was collected: CEI and cash collected would read 0, which is not a
# measurement, so they give way to the note.
if have["payments"]:
    tiles = st.columns(4)
    tile(tiles[0], flow("credit_sales_rc"), "Invoiced month to date")
    tile(tiles[1], flow("cash_collected_rc"), "Cash collected month to date")
    tile(tiles[2], flow("cei"), "CEI month to date")
else:
    tiles = st.columns([1, 3])
    tile(tiles[0], flow("credit_sales_rc"), "Invoiced month to date")
    with tiles[1]:
        ui.not_available("payments", "CEI and cash collected")

with st.expander("Definitions"):
    st.markdown(
        "| KPI | what it says | formula | compared with |\n|---|---|---|---|\n"
        + "\n".join(
            f"| {kpi.label} | {kpi.definition} | {kpi.formula} | {COMPARED_WITH[kpi.kind]} |" for kpi in KPIS.values()
        )
    )
    st.caption("Conventions and worked examples: docs/metrics.md. Targets come from the settings (O2C_TARGET_*).")

# ---- Trends over complete periods ------------------------------------------------------------

st.subheader("Trends")
view = st.radio("Trend by", ["Month", "Week"], horizontal=True, key="trend_view")
if view == "Month":
    trend = db.query("kpis_trend")
    # One point per month, named by it ("Feb 2026"), on a category axis: a date axis would draw
    # the month-ends as days among empty weeks.
    trend = trend.with_columns(period=pl.Series([f"{d:%b %Y}" for d in trend["month_start"]], dtype=pl.String))
    st.caption(
        "Complete months only: the month still running is on the tiles above, compared like for like. "
        "DSO and best possible DSO over the trailing 3 calendar months."
    )
    dso_columns = ["dso_simple", "dso_countback", "bpdso", "add_days"]
else:
    trend = db.query("kpis_weekly")
    # Each week named by its last day ("Mar 2, 2026"), the as-of date for the latest.
    trend = trend.with_columns(period=pl.Series([formatting.date(d) for d in trend["week_end_date"]], dtype=pl.String))
    st.caption(
        f"Complete weeks of seven days, the latest ending on the as-of date ({formatting.date(as_of)}). "
        "DSO and best possible DSO over the trailing 13 weeks (91 days); CEI per week."
    )
    dso_columns = ["dso_simple", "bpdso", "add_days"]


def line_chart(frame: pl.DataFrame, columns: list[str], unit: str) -> go.Figure:
    """The columns over the periods, one line each with its KPI's label, and each column's target
    (if one is set) as a dashed horizontal line."""
    long = frame.select("period", *[pl.col(c).alias(KPIS[c].label) for c in columns]).unpivot(
        index="period", variable_name="measure", value_name=unit
    )
    figure = px.line(long, x="period", y=unit, color="measure", markers=True)
    lines = [(column, TARGETS[column]) for column in columns if TARGETS[column] is not None]
    for number, (column, target) in enumerate(lines):
        figure.add_hline(
            y=target,
            line_dash="dash",
            line_color="#555555",
            annotation_text=f"{KPIS[column].label}: {target_text(KPIS[column], target)}",
            # two targets close together: one label above its line, the other below
            annotation_position="top left" if number % 2 == 0 else "bottom left",
        )
    figure.update_layout(height=340, margin={"t": 10}, xaxis_title=None, legend_title=None)
    figure.update_xaxes(type="category")
    return figure


if not ui.empty(trend, f"complete {view.lower()}s (the data does not cover one yet)"):
    left, right = st.columns(2)
    with left:
        st.markdown("**DSO, best possible DSO and days delinquent** (days)")
        st.plotly_chart(line_chart(trend, dso_columns, "days"), width="stretch", key=f"dso_{view}")
    with right:
        if have["payments"]:
            st.markdown("**CEI and % current** (%)")
            st.plotly_chart(line_chart(trend, ["cei", "pct_current"], "percent"), width="stretch", key=f"cei_{view}")
        else:
            st.markdown("**% current** (%)")
            st.plotly_chart(line_chart(trend, ["pct_current"], "percent"), width="stretch", key=f"cei_{view}")
    left, right = st.columns(2)
    with left:
        st.markdown(f"**Invoiced and cash collected** ({currency})")
        flows = [c for c in ("credit_sales_rc", "cash_collected_rc") if c == "credit_sales_rc" or have["payments"]]
        bars = trend.select("period", *[pl.col(c).cast(pl.Float64).alias(KPIS[c].label) for c in flows]).unpivot(
            index="period", variable_name="measure", value_name=currency
        )
        figure = px.bar(bars, x="period", y=currency, color="measure", barmode="group")
        figure.update_layout(height=340, margin={"t": 10}, xaxis_title=None, legend_title=None)
        figure.update_xaxes(type="category")
        st.plotly_chart(figure, width="stretch", key=f"flows_{view}")
    with right:
        st.markdown("**Open AR by aging bucket at each month-end and today**")
        aging = db.query("aging_by_month_end")
        buckets = aging_bucket_labels()
        figure = px.bar(
            aging.with_columns(
                pl.Series("as_of_date", [formatting.date(d) for d in aging["as_of_date"]], dtype=pl.String)
            ),
            x="as_of_date",
            y="open_balance_rc",
            color="aging_bucket",
            category_orders={"aging_bucket": buckets},
            color_discrete_map=formatting.aging_colours(buckets),  # older = darker red
        )
        figure.update_layout(
            height=340, margin={"t": 10}, xaxis_title=None, yaxis_title=f"open AR ({currency})", legend_title=None
        )
        figure.update_xaxes(type="category")  # one bar per snapshot, labelled with its date
        st.plotly_chart(figure, width="stretch", key="aging")

# ---- Bad debt --------------------------------------------------------------------------------

st.subheader("Bad debt")
bad_debt = db.query("bad_debt_monthly")
ecl = db.query("expected_credit_loss")
left, right = st.columns(2)
with left:
    st.markdown("**Expected credit loss by aging bucket** (provision matrix from the company's own write-offs)")
    now = bad_debt.row(-1, named=True) if bad_debt.height else None
    before = bad_debt.row(-2, named=True) if bad_debt.height > 1 else None
    when = formatting.date(before["period_end"]) if before and "period_end" in before else ""

    def bad_debt_comparison(column: str) -> Comparison:
        return compare(KPIS[column], now[column] if now else None, before[column] if before else None, when, currency)

    tiles = st.columns(3)
    tile(tiles[0], bad_debt_comparison("expected_credit_loss_rc"))
    allowance_pct = now["allowance_pct_of_open_ar"] if now else None
    tiles[1].metric(
        "Allowance % of open AR",
        formatting.percent(allowance_pct, 2),
        help="Expected credit loss ÷ open AR × 100, at the as-of date.",
    )
    tile(tiles[2], bad_debt_comparison("bad_debt_ratio"))
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
                "open_balance_rc",
                "historical_loss_rate",
                "months_of_history",
                "expected_credit_loss_rc",
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
        total = this_month["written_off_rc"][0] if this_month.height else 0
        st.metric(f"Written off in {month_name}", ui.money(total), help="Credit memos with a write-off reason.")
        if written.is_empty():
            st.info(f"No write-offs in {month_name}.")
        else:
            ui.table(written, key="write_offs_month")

st.markdown("**Top overdue customers**")
overdue = db.query("top_overdue_customers", {"limit": 10})
if not ui.empty(overdue, "overdue customers (nothing is overdue)"):
    ui.table(overdue, key="top_overdue_customers")
