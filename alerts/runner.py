"""Run one kind of outgoing message: compute from the serving file, skip what the send log
already has, send over SMTP (recording each accepted message) or write previews to the outbox."""

import json
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from alerts import cfo_digest, collector_report, data, dunning, mail, recipients, sendlog, thresholds, writeback
from alerts.config import AlertConfig, load
from core.kpi_definitions import targets as kpi_targets
from core.settings import Settings

KINDS = ("collector_reports", "cfo_digest", "dunning", "threshold_alerts")


@dataclass
class Outcome:
    kind: str
    sent: int = 0
    already_sent: int = 0
    previews: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # Emails not sent, one line each naming whom and why: a bad address or header in the data
    # (skipped until the data is fixed) or a message the server refused (tried again next run).
    # One of them never stops the others: sent + already_sent + skipped + refused = what was due.
    skipped: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.kind}: {self.sent} sent, {self.already_sent} already sent before, "
            f"{len(self.skipped)} skipped, {len(self.refused)} refused by the server"
        )


def smtp_settings(settings: Settings) -> mail.SmtpSettings:
    return mail.SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        starttls=settings.smtp_starttls,
        user=settings.smtp_user,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        sender=settings.mail_from,
    )


def _recipients(value: str | None, setting: str, outcome: Outcome) -> tuple[str, ...]:
    """The good addresses of a comma-separated setting; a bad one is reported and left out."""
    good = []
    for part in (value or "").split(","):
        if part.strip():
            try:
                good.append(recipients.one(part))
            except recipients.BadAddress as bad:
                outcome.warnings.append(recipients.report(setting, "address", part.strip(), str(bad), "left out"))
    return tuple(good)


def _keys(email: mail.Email) -> list[str]:
    return email.key.split("|")


def _collector_reports(snapshot: data.Snapshot, config: AlertConfig, settings: Settings, outcome: Outcome):
    return collector_report.emails(
        snapshot,
        config,
        settings.dashboard_url,
        settings.reporting_currency,
        settings.collector_daily_items,
        skipped=outcome.skipped,
    )


def _cfo_digest(snapshot: data.Snapshot, config: AlertConfig, settings: Settings, outcome: Outcome):
    to = _recipients(settings.cfo_emails, "O2C_CFO_EMAILS", outcome)
    if not to:
        outcome.warnings.append("cfo_digest: no recipients (set O2C_CFO_EMAILS)")
        return []
    return [cfo_digest.email(snapshot, to, settings.dashboard_url, settings.reporting_currency, kpi_targets(settings))]


def _dunning(snapshot: data.Snapshot, config: AlertConfig, settings: Settings, outcome: Outcome):
    keys = dunning.due_items(snapshot, config)["key"].to_list()
    sender = dunning.Sender.from_settings(settings)
    emails, skipped = dunning.emails(snapshot, config, sendlog.already_sent(settings.ops(), keys), sender)
    outcome.skipped += skipped
    return emails


def _threshold_alerts(snapshot: data.Snapshot, config: AlertConfig, settings: Settings, outcome: Outcome):
    alerts = thresholds.evaluate(snapshot, config)
    done = sendlog.already_sent(settings.ops(), [a.key for a in alerts])
    new = [a for a in alerts if a.key not in done]
    if not new:
        return []
    to = _recipients(settings.alert_emails, "O2C_ALERT_EMAILS", outcome)
    if not to:
        outcome.warnings.append(f"threshold_alerts: {len(new)} alerts but no recipients (set O2C_ALERT_EMAILS)")
        return []
    return [thresholds.email(new, snapshot, to, settings.dashboard_url)]


# The emails of each kind (in KINDS' order), composed from the snapshot.
_COMPOSERS = {
    "collector_reports": _collector_reports,
    "cfo_digest": _cfo_digest,
    "dunning": _dunning,
    "threshold_alerts": _threshold_alerts,
}


def _emails(kind: str, snapshot: data.Snapshot, config: AlertConfig, settings: Settings, outcome: Outcome):
    if kind not in _COMPOSERS:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    return _COMPOSERS[kind](snapshot, config, settings, outcome)


def run(kind: str, settings: Settings, *, preview: bool = False, config: AlertConfig | None = None) -> Outcome:
    """Send (or, with `preview`, render to the outbox) what `kind` has to say now.

    Raises mail.SmtpError when the server cannot be reached or drops the session; every message
    accepted before that is in the send log, the rest go out on the next run. A message that
    cannot be built (a header from the data) or that the server refuses is counted in the
    outcome with its reason, and the others still go.
    """
    outcome = Outcome(kind)
    snapshot = data.snapshot(settings.serving)
    config = config or load(settings.alerts_config)
    ops = settings.ops()
    emails = _emails(kind, snapshot, config, settings, outcome)
    done = sendlog.already_sent(ops, [k for e in emails for k in _keys(e)])
    fresh = [e for e in emails if not set(_keys(e)) <= done]
    outcome.already_sent = len(emails) - len(fresh)
    messages = []
    for email in fresh:
        try:
            messages.append((mail.build(email, settings.mail_from), email))
        except ValueError as bad:  # the email policy refuses a header with a line break
            outcome.skipped.append(f"{kind}: {email.key.split('|')[0]!r} to {', '.join(email.to)!r} not built: {bad}")
    if preview:
        outcome.previews = mail.write_outbox([m for m, _ in messages], settings.outbox / kind)
        return outcome
    by_id = {m["Message-ID"]: e for m, e in messages}

    def sent(message: EmailMessage) -> None:
        email = by_id[message["Message-ID"]]
        sendlog.record(ops, _keys(email), kind, ", ".join(email.to), email.subject)
        outcome.sent += 1

    def refused(message: EmailMessage, reason: str) -> None:
        outcome.refused.append(f"{kind}: {message['X-O2C-Key']!r} to {message['To']!r} refused: {reason}")

    if messages:
        mail.send([m for m, _ in messages], smtp_settings(settings), on_sent=sent, on_refused=refused)
    if kind == "threshold_alerts" and fresh and settings.alert_webhook_url is not None:
        _post_webhook(settings.alert_webhook_url.get_secret_value(), fresh[0], snapshot)
    return outcome


def _post_webhook(url: str, email: mail.Email, snapshot: data.Snapshot) -> None:
    # JSON-encoded data; the texts a chat tool shows are escaped for it (thresholds.chat_text).
    body = json.dumps(
        {
            "as_of": str(snapshot.as_of),
            "subject": thresholds.chat_text(email.subject),
            "alerts": _keys(email),
            "text": thresholds.chat_text(email.text),
        }
    )
    request = urllib.request.Request(
        url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status >= 300:
            raise RuntimeError(f"alert webhook answered HTTP {response.status}")


def write_back(settings: Settings, config: AlertConfig | None = None) -> dict[str, object]:
    """Credit-hold recommendations to the ERP (or a CSV in the outbox)."""
    snapshot = data.snapshot(settings.serving)
    frame = writeback.recommend(snapshot, config or load(settings.alerts_config))
    holds = int(frame["recommend_hold"].sum())
    erp = settings.erp_if_configured()
    # Without an ERP (a company's export files only) the recommendations go to the CSV: writing
    # them would create an ERP database that the next run would then try to load.
    if settings.credit_hold_target == "csv" or erp is None:
        path = writeback.write_csv(settings.outbox, frame, snapshot.as_of)
        return {"recommended": holds, "csv": str(path)}
    if settings.credit_hold_target == "erp":
        return {"recommended": holds, **writeback.write_erp(erp, frame, snapshot.as_of)}
    # Settings validate the target; a value set around them must not fall through to the ERP.
    raise ValueError(f"O2C_CREDIT_HOLD_TARGET: {settings.credit_hold_target!r} is not one of erp, csv")
