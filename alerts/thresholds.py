"""Threshold alerts: DSO above target, customers over their credit limit, large invoices gone past
due, failed data checks. Each alert has a key, so it is sent once, not on every run."""

import re
from dataclasses import dataclass

import polars as pl

from alerts import data, render
from alerts.config import AlertConfig
from alerts.mail import Email

LATEST_KPIS = "select month_start, dso_simple from marts.fct_ar_kpis_monthly order by month_start desc limit 1"


@dataclass(frozen=True)
class Alert:
    key: str
    rule: str
    message: str


def evaluate(snapshot: data.Snapshot, config: AlertConfig) -> list[Alert]:
    alerts = []
    kpis = snapshot.frame(LATEST_KPIS)
    if not kpis.is_empty():
        month, dso = kpis.row(0)
        if dso is not None and dso > config.dso_target_days:
            alerts.append(
                Alert(
                    f"alert/dso_above_target/{month}",
                    "dso_above_target",
                    f"DSO {dso:.1f} days in {month:%B %Y} is above the target of {config.dso_target_days:g} days.",
                )
            )
    for row in snapshot.frame(data.OVER_LIMIT).iter_rows(named=True):
        alerts.append(
            Alert(
                f"alert/credit_limit/{row['customer_id']}/{snapshot.as_of:%Y-%m}",
                "credit_limit",
                f"{_one_line(row['customer_name'])} ({row['customer_id']}) is over its credit limit: exposure "
                f"{row['exposure']:,.2f} {row['currency']} against {row['credit_limit']:,.2f} "
                f"({row['credit_utilisation_pct']:.0f} %).",
            )
        )
    large = snapshot.frame(data.OPEN_ITEMS).filter(
        (pl.col("days_past_due") > 0) & (pl.col("open_balance_rc") >= config.large_invoice_rc)
    )
    for row in large.iter_rows(named=True):
        alerts.append(
            Alert(
                f"alert/large_past_due/{row['invoice_id']}",
                "large_invoice_past_due",
                f"Invoice {row['invoice_number']} of {_one_line(row['customer_name'])}, {row['open_balance']:,.2f} "
                f"{row['currency']}, is {row['days_past_due']} days past due.",
            )
        )
    for check in snapshot.checks:
        if not check.get("passed", True):
            alerts.append(
                Alert(
                    f"alert/check/{snapshot.build_id}/{check['asset']}/{check['check']}",
                    "data_check_failed",
                    f"Data check {check['check']} on {check['asset']} failed ({check['severity']}) in build "
                    f"{snapshot.build_id}.",
                )
            )
    return alerts


# Control characters other than the line break: a chat tool or a terminal may act on them.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _one_line(name: object) -> str:
    """A name from the data inside an alert's one-line message: a line break in it cannot start
    a line that looks like another alert."""
    return " ".join(_CONTROL.sub(" ", str(name)).split())


def chat_text(text: str) -> str:
    """Text for a chat webhook: & < > as the entities Slack (and Mattermost) require, so that a
    customer name like `<!channel>` or `<http://evil|Pay here>` shows as typed and never mentions
    anyone or becomes a link; control and direction-changing characters dropped."""
    cleaned = _CONTROL.sub("", text)
    return cleaned.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def email(alerts: list[Alert], snapshot: data.Snapshot, recipients: tuple[str, ...], dashboard_url: str) -> Email:
    context = {"alerts": alerts, "as_of": snapshot.as_of, "build_id": snapshot.build_id, "dashboard_url": dashboard_url}
    return Email(
        key="|".join(a.key for a in alerts),
        to=recipients,
        subject=f"o2c: {len(alerts)} new alert{'s' if len(alerts) != 1 else ''} ({snapshot.as_of})",
        html=render.html("threshold_alerts", **context),
        text=render.text("threshold_alerts", **context),
    )
