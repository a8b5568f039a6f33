"""The weekly CFO digest: this week against last week, the month to date against the same days of
the previous month, balances and DSO against the previous month-end, the aging chart inline, the
customers whose AR moved most over the week, and what each KPI means.

Every figure is read from a mart (fct_ar_kpis_weekly, fct_ar_month_to_date, fct_ar_kpis_monthly,
fct_ar_aging, fct_ar_customer_movers) and written down with core/kpi_definitions and
core/formatting, exactly as the overview shows it: the email formats, it does not compute."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

from alerts import data, render
from alerts.mail import Attachment, Email
from core import formatting
from core.kpi_definitions import KPIS, Comparison, compare, period_text
from quality.aging import aging_bucket_labels

if TYPE_CHECKING:
    import plotly.graph_objects as go

KPIS_MONTHLY = "select * from marts.fct_ar_kpis_monthly order by month_start desc limit 2"
MONTH_TO_DATE = "select * from marts.fct_ar_month_to_date order by period_order desc"
WEEKS = "select * from marts.fct_ar_kpis_weekly where weeks_back <= 1 order by weeks_back"
AGING = """
select as_of_date, aging_bucket, aging_bucket_order, sum(open_balance_rc)::double as open_ar_rc
from marts.fct_ar_aging
where as_of_date in (select distinct as_of_date from marts.fct_ar_aging order by as_of_date desc limit 7)
group by all order by as_of_date, aging_bucket_order
"""
# The customers whose open AR changed most over the week (fct_ar_customer_movers), largest first.
MOVERS = """
select customer_name, week_ago_open_ar_rc, open_ar_rc, change_rc
from marts.fct_ar_customer_movers
where change_rc <> 0
order by abs(change_rc) desc, customer_name
limit 10
"""
CHART_CID = "aging-chart@o2c"

# What each section shows, in order (columns of core/kpi_definitions.KPIS).
WEEK_KPIS = ("credit_sales_rc", "cash_collected_rc", "disputes_opened_rc", "cei", "open_ar_rc", "pct_current")
MONTH_TO_DATE_KPIS = ("credit_sales_rc", "cash_collected_rc", "cei")
STOCK_KPIS = ("open_ar_rc", "open_ar_net_rc", "pct_current", "dso_simple", "dso_countback", "bpdso", "add_days")
WEEK_LABELS = {"open_ar_rc": "Open AR at the week's end", "disputes_opened_rc": "New disputes"}
# The ratios whose formula a reader may not know, listed briefly under the tables.
DEFINED_KPIS = ("cei", "pct_current", "open_ar_net_rc", "dso_simple", "dso_countback", "bpdso", "add_days")
TONE_COLOURS = {"good": "#2e7d32", "bad": "#c62828", "neutral": "#555555"}


def aging_figure(aging: pl.DataFrame, currency: str) -> go.Figure:
    """Open AR by bucket at the last month-ends and today, coloured by age: the oldest bucket the
    darkest red (core/formatting.aging_colours), whichever buckets the data holds."""
    # Imported here, not with the module: every `o2c` command loads the pipeline's definitions,
    # which import this module, and plotly.express takes 2 s to import.
    import plotly.express as px

    buckets = aging_bucket_labels()
    figure = px.bar(
        aging.with_columns(pl.Series("as_of_date", [formatting.date(d) for d in aging["as_of_date"]], dtype=pl.String)),
        x="as_of_date",
        y="open_ar_rc",
        color="aging_bucket",
        category_orders={"aging_bucket": buckets},
        color_discrete_map=formatting.aging_colours(buckets),
        title="Open AR by aging bucket",
    )
    figure.update_layout(
        xaxis_title=None, yaxis_title=f"open AR ({currency})", legend_title=None, template="plotly_white"
    )
    figure.update_xaxes(type="category")
    return figure


def aging_chart_png(aging: pl.DataFrame, currency: str = "USD") -> bytes:
    """The aging chart as a PNG (kaleido renders with Chromium)."""
    return aging_figure(aging, currency).to_image(format="png", width=900, height=420, scale=1)


def _row(comparison: Comparison, label: str | None = None) -> dict[str, str | None]:
    return {
        "label": label or comparison.kpi.label,
        "now": comparison.now_text,
        "before": comparison.before_text,
        "change": comparison.change_text or formatting.MISSING,
        "colour": TONE_COLOURS[comparison.tone],
        "target": comparison.target_text,
    }


def email(
    snapshot: data.Snapshot,
    recipients: tuple[str, ...],
    dashboard_url: str,
    currency: str = "USD",
    targets: dict[str, float | None] | None = None,
) -> Email:
    """The digest of one build. `targets`: a KPI column's target (Settings.target_*), if any."""
    targets = targets or {}

    def comparison(column: str, now: dict | None, before: dict | None, when: str) -> Comparison:
        return compare(
            KPIS[column],
            now[column] if now else None,
            before[column] if before else None,
            when,
            currency,
            targets.get(column),
        )

    weeks = snapshot.frame(WEEKS).to_dicts()
    this_week = weeks[0] if weeks else None
    last_week = weeks[1] if len(weeks) > 1 else None
    week_rows = [_row(comparison(column, this_week, last_week, ""), WEEK_LABELS.get(column)) for column in WEEK_KPIS]

    periods = snapshot.frame(MONTH_TO_DATE).to_dicts()  # month to date first
    to_date = periods[0] if periods else None
    same_days = periods[1] if len(periods) > 1 else None
    month_rows = [_row(comparison(c, to_date, same_days, "")) for c in MONTH_TO_DATE_KPIS]

    monthly = snapshot.frame(KPIS_MONTHLY).to_dicts()
    latest = monthly[0] if monthly else None
    month_end = monthly[1] if len(monthly) > 1 else None
    stock_rows = [_row(comparison(c, latest, month_end, "")) for c in STOCK_KPIS]

    movers = [
        {
            "customer_name": mover["customer_name"],
            "before": formatting.money(mover["week_ago_open_ar_rc"], currency),
            "now": formatting.money(mover["open_ar_rc"], currency),
            "change": formatting.signed_money(mover["change_rc"], currency),
        }
        for mover in snapshot.frame(MOVERS).to_dicts()
    ]
    definitions = [KPIS[column] for column in DEFINED_KPIS]
    png = aging_chart_png(snapshot.frame(AGING), currency)
    open_ar = stock_rows[0]["now"]
    context = {
        "this_week": period_text(this_week["week_start_date"], this_week["week_end_date"]) if this_week else None,
        "last_week": period_text(last_week["week_start_date"], last_week["week_end_date"]) if last_week else None,
        "week_rows": week_rows,
        "to_date": period_text(to_date["period_start"], to_date["period_end"]) if to_date else None,
        "same_days": period_text(same_days["period_start"], same_days["period_end"]) if same_days else None,
        "month_rows": month_rows,
        "as_of_text": formatting.date(snapshot.as_of),
        "month_end": formatting.date(month_end["period_end"]) if month_end else None,
        "stock_rows": stock_rows,
        "movers": movers,
        "definitions": definitions,
        "currency": currency,
        "as_of": snapshot.as_of,
        "build_id": snapshot.build_id,
        "chart_cid": CHART_CID,
        "dashboard_url": dashboard_url,
    }
    iso_week = snapshot.as_of.isocalendar()[1]
    return Email(
        key=f"cfo_digest/{week_key(snapshot.as_of)}",
        to=recipients,
        subject=f"AR digest, week {iso_week} ({formatting.date(snapshot.as_of)}): open AR {open_ar}",
        html=render.html("cfo_digest", **context),
        text=render.text("cfo_digest", **context),
        attachments=(Attachment("aging.png", png, "image", "png", inline_cid=CHART_CID),),
    )


def week_key(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
