"""The weekly CFO digest: KPIs with week-over-week change, the aging chart inline, top movers."""

import datetime as dt

import plotly.express as px
import polars as pl

from alerts import data, render
from alerts.mail import Attachment, Email

KPIS_MONTHLY = "select * from marts.fct_ar_kpis_monthly order by month_start desc limit 2"
WEEKLY_FLOWS = """
select
    'cash collected' as measure,
    sum(receipts_rc) filter (where week_end_date = $as_of)::double as this_week,
    sum(receipts_rc) filter (where week_end_date = $as_of::date - 7)::double as last_week
from marts.fct_receipts_weekly where week_end_date in ($as_of, $as_of::date - 7)
union all
select
    'invoiced',
    sum(invoice_amount_rc) filter (where invoice_date > $as_of::date - 7)::double,
    sum(invoice_amount_rc) filter (where invoice_date <= $as_of::date - 7 and invoice_date > $as_of::date - 14)::double
from marts.fct_invoices where invoice_date > $as_of::date - 14
union all
select
    'new disputes',
    sum(disputed_amount_rc) filter (where opened_date > $as_of::date - 7)::double,
    sum(disputed_amount_rc) filter (where opened_date <= $as_of::date - 7 and opened_date > $as_of::date - 14)::double
from marts.fct_disputes where opened_date > $as_of::date - 14
"""
AGING = """
select as_of_date, aging_bucket, aging_bucket_order, sum(open_balance_rc)::double as open_ar_rc
from marts.fct_ar_aging
where as_of_date in (select distinct as_of_date from marts.fct_ar_aging order by as_of_date desc limit 7)
group by all order by as_of_date, aging_bucket_order
"""
MOVERS = """
with points as (
    select
        max(as_of_date) as now_date,
        max(as_of_date) filter (where as_of_date < (select max(as_of_date) from marts.fct_ar_aging)) as then_date
    from marts.fct_ar_aging
),
balances as (
    select
        aging.customer_id,
        sum(aging.open_balance_rc) filter (where aging.as_of_date = points.now_date)::double as now,
        sum(aging.open_balance_rc) filter (where aging.as_of_date = points.then_date)::double as before
    from marts.fct_ar_aging as aging cross join points
    where aging.as_of_date in (points.now_date, points.then_date)
    group by aging.customer_id
)
select customers.customer_name, coalesce(before, 0) as before, coalesce(now, 0) as now,
    coalesce(now, 0) - coalesce(before, 0) as change
from balances inner join marts.dim_customers as customers using (customer_id)
order by abs(coalesce(now, 0) - coalesce(before, 0)) desc, customers.customer_name
limit 10
"""
CHART_CID = "aging-chart@o2c"


def aging_chart_png(aging: pl.DataFrame) -> bytes:
    """Open AR by bucket at the last month-ends and today, as a PNG (kaleido renders with Chromium)."""
    order = aging.sort("aging_bucket_order")["aging_bucket"].unique(maintain_order=True).to_list()
    figure = px.bar(
        aging.with_columns(pl.col("as_of_date").cast(pl.String)),
        x="as_of_date",
        y="open_ar_rc",
        color="aging_bucket",
        category_orders={"aging_bucket": order},
        title="Open AR by aging bucket",
    )
    figure.update_layout(xaxis_title=None, yaxis_title="open AR", legend_title=None, template="plotly_white")
    figure.update_xaxes(type="category")
    return figure.to_image(format="png", width=900, height=420, scale=1)


def _change(now: float | None, before: float | None, digits: int = 0) -> str:
    if now is None or before is None:
        return "–"
    return f"{now - before:+,.{digits}f}"


def email(snapshot: data.Snapshot, recipients: tuple[str, ...], dashboard_url: str) -> Email:
    kpis = snapshot.frame(KPIS_MONTHLY)
    latest = kpis.row(0, named=True)
    previous = kpis.row(1, named=True) if kpis.height > 1 else dict.fromkeys(latest)

    def row(label: str, column: str, digits: int, unit: str = "") -> dict[str, str]:
        now, before = latest[column], previous[column]
        fmt = f"{{:,.{digits}f}}{unit}"
        return {
            "label": label,
            "now": "–" if now is None else fmt.format(float(now)),
            "before": "–" if before is None else fmt.format(float(before)),
            "change": _change(None if now is None else float(now), None if before is None else float(before), digits),
        }

    rows = [
        row("Open AR (vs last month-end)", "open_ar_rc", 0),
        row("% current", "pct_current", 1, " %"),
        row("DSO, simple (days)", "dso_simple", 1),
        row("DSO, countback (days)", "dso_countback", 1),
        row("Best possible DSO (days)", "bpdso", 1),
        row("CEI", "cei", 1, " %"),
    ]
    for measure, this_week, last_week in snapshot.frame(WEEKLY_FLOWS).iter_rows():
        rows.append(
            {
                "label": f"{measure.capitalize()} this week (vs last week)",
                "now": f"{this_week or 0:,.0f}",
                "before": f"{last_week or 0:,.0f}",
                "change": _change(this_week or 0, last_week or 0),
            }
        )
    movers = snapshot.frame(MOVERS).to_dicts()
    png = aging_chart_png(snapshot.frame(AGING))
    iso_week = snapshot.as_of.isocalendar()[1]
    context = {
        "kpis": rows,
        "movers": movers,
        "as_of": snapshot.as_of,
        "build_id": snapshot.build_id,
        "chart_cid": CHART_CID,
        "dashboard_url": dashboard_url,
    }
    return Email(
        key=f"cfo_digest/{week_key(snapshot.as_of)}",
        to=recipients,
        subject=f"AR digest, week {iso_week} ({snapshot.as_of}): open AR {rows[0]['now']}",
        html=render.html("cfo_digest", **context),
        text=render.text("cfo_digest", **context),
        attachments=(Attachment("aging.png", png, "image", "png", inline_cid=CHART_CID),),
    )


def week_key(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
