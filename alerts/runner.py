"""Run one kind of outgoing message: compute from the serving file, skip what the send log
already has, send over SMTP (recording each message before it goes and again once accepted) or
write previews to the outbox. What happens to an unconfirmed message: docs/alerts.md, "Exactly once"."""

import json
import urllib.request
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from alerts import cfo_digest, collector_report, data, dunning, mail, recipients, sendlog, thresholds, writeback
from alerts.config import AlertConfig, load
from core.kpi_definitions import targets as kpi_targets
from core.settings import Settings

KINDS = ("collector_reports", "cfo_digest", "dunning", "threshold_alerts")
# Internal messages left unconfirmed are sent again, with the same Message-ID, on the next run: a
# second copy of a report is harmless, a missing one is not. Customer letters (dunning) never are:
# they wait for an operator to check the mail server's log (`o2c alerts confirm` / `resend`).
RESEND_UNCONFIRMED = frozenset({"collector_reports", "cfo_digest", "threshold_alerts"})


@dataclass
class Outcome:
    kind: str
    sent: int = 0
    already_sent: int = 0
    resent: int = 0  # unconfirmed internal messages sent again with their own Message-ID
    unconfirmed: list[str] = field(default_factory=list)  # Message-IDs held: the server may have them
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
            + (f", {self.resent} unconfirmed sent again" if self.resent else "")
            + (f", {len(self.unconfirmed)} unconfirmed held" if self.unconfirmed else "")
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
    emails, skipped = dunning.emails(snapshot, config, sendlog.already_sent(sendlog.location(settings), keys), sender)
    outcome.skipped += skipped
    return emails


def _threshold_alerts(snapshot: data.Snapshot, config: AlertConfig, settings: Settings, outcome: Outcome):
    alerts = thresholds.evaluate(snapshot, config)
    done = sendlog.already_sent(sendlog.location(settings), [a.key for a in alerts])
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

    Raises sendlog.SendingHeld (nothing sent) when the send log and the ops store do not match,
    and mail.SmtpError when the server cannot be reached or the connection breaks; every message
    accepted before that is in the send log, the rest go out on the next run, except one whose
    content went out without a reply: that one is unconfirmed (see RESEND_UNCONFIRMED). A message
    that cannot be built (a header from the data) is counted in `skipped`, one the server refuses
    in `refused`, each with its reason, and the others still go.
    """
    outcome = Outcome(kind)
    log = sendlog.location(settings)
    try:
        outcome.warnings += sendlog.ready(settings)
    except sendlog.SendingHeld as held:
        if not preview:
            raise
        outcome.warnings.append(f"{kind}: sending is held: {held}")
    snapshot = data.snapshot(settings.serving)
    config = config or load(settings.alerts_config)
    emails = _emails(kind, snapshot, config, settings, outcome)
    done = sendlog.already_sent(log, [k for e in emails for k in _keys(e)])
    fresh = [e for e in emails if not set(_keys(e)) <= done]
    outcome.already_sent = len(emails) - len(fresh)
    messages = []
    for email in fresh:
        try:
            built = mail.build(email, settings.mail_from, sendlog.message_id(_keys(email), settings.mail_from))
        except ValueError as bad:  # the email policy refuses a header with a line break
            outcome.skipped.append(f"{kind}: {email.key.split('|')[0]!r} to {', '.join(email.to)!r} not built: {bad}")
            continue
        messages.append((built, email))
    if preview:
        outcome.previews = mail.write_outbox([m for m, _ in messages], settings.outbox / kind)
        return outcome
    _send(kind, _retries(kind, log, outcome) + messages, settings, outcome)
    if kind == "threshold_alerts" and fresh and settings.alert_webhook_url is not None:
        _post_webhook(settings.alert_webhook_url.get_secret_value(), fresh[0], snapshot)
    return outcome


def _retries(kind: str, log: Path, outcome: Outcome) -> list[tuple[EmailMessage, None]]:
    """The unconfirmed messages of `kind` to send again now (internal ones); the others are held
    and named in the summary."""
    retries = []
    for row in sendlog.unconfirmed(log, kind):
        if kind in RESEND_UNCONFIRMED and row["content"]:
            retries.append((message_from_bytes(row["content"], policy=policy.default), None))
        else:
            outcome.unconfirmed.append(str(row["message_id"]))
            outcome.warnings.append(held_line(row))
    return retries


def _send(
    kind: str, messages: list[tuple[EmailMessage, mail.Email | None]], settings: Settings, outcome: Outcome
) -> None:
    """Send `messages` (an Email: a new one, None: an unconfirmed one sent again), each claimed in
    the send log before it goes and marked sent once the server accepted it."""
    if not messages:
        return
    log = sendlog.location(settings)
    by_id = {m["Message-ID"]: e for m, e in messages if e is not None}

    def sending(message: EmailMessage) -> bool:
        email = by_id.get(message["Message-ID"])
        if email is None:
            return True  # an unconfirmed message sent again: its keys are claimed already
        claimed = sendlog.claim(
            log, message["Message-ID"], _keys(email), kind, ", ".join(email.to), email.subject, bytes(message)
        )
        if not claimed:  # another run claimed one of its keys since: that run sends it
            outcome.already_sent += 1
        return claimed

    def sent(message: EmailMessage) -> None:
        retried = message["Message-ID"] not in by_id
        sendlog.mark_sent(log, message["Message-ID"], "sent again after an unconfirmed attempt" if retried else None)
        if retried:
            outcome.resent += 1
            outcome.warnings.append(
                f"{kind}: sent again the unconfirmed {message['Message-ID']} to {message['To']} (same Message-ID)"
            )
        else:
            outcome.sent += 1

    def refused(message: EmailMessage, error: mail.SmtpError) -> None:
        outcome.refused.append(f"{kind}: {message['Message-ID']} to {message['To']} not sent, refused: {error}")
        _settle_failure(error, log, set(by_id))

    try:
        mail.send(
            [m for m, _ in messages], smtp_settings(settings), on_sent=sent, on_sending=sending, on_refused=refused
        )
    except mail.SmtpError as error:
        raise _settle_failure(error, log, set(by_id)) from error
    finally:
        sendlog.remember_count(settings)


def held_line(row: dict[str, object]) -> str:
    """The run summary's line for an unconfirmed message that is held."""
    attempted = f"{row['attempted_at']:%Y-%m-%d %H:%M} UTC"
    return (
        f"{row['kind']}: unconfirmed {row['message_id']} to {row['recipients']} (attempted {attempted}) held, "
        "not sent again: the server may have delivered it. Look the Message-ID up in the mail server's log, then "
        f"`o2c alerts confirm '{row['message_id']}'` (it arrived) or `o2c alerts resend '{row['message_id']}'` "
        "(it did not)"
    )


def _settle_failure(error: mail.SmtpError, log: Path, claimed_now: set[str]) -> mail.SmtpError:
    """After a failed send: a message of this run (`claimed_now`: their Message-IDs) that was refused
    or never started is taken off the log (the next run sends it); one whose content went out without
    a reply stays unconfirmed, and the error says so. An unconfirmed message sent again stays
    unconfirmed either way: whether its first attempt arrived is still unknown."""
    message = error.in_flight
    if message is None:
        return error
    if not error.ambiguous:
        if message["Message-ID"] in claimed_now:
            sendlog.release(log, message["Message-ID"])
        return error
    return mail.SmtpError(
        f"{error}; the server may have delivered {message['Message-ID']} to {message['To']} before the connection "
        "dropped: it is held as unconfirmed (`o2c alerts unconfirmed`)",
        message,
        ambiguous=True,
    )


def settle(settings: Settings, message_id: str, *, resend: bool) -> str:
    """An operator settles an unconfirmed message after checking the mail server's log: `resend`
    sends its recorded bytes again (the same Message-ID), otherwise it is confirmed as delivered."""
    sendlog.ready(settings)
    log = sendlog.location(settings)
    rows = [r for r in sendlog.unconfirmed(log) if r["message_id"] == message_id]
    if not rows:
        raise ValueError(f"no unconfirmed message {message_id!r} in the send log {log} (`o2c alerts unconfirmed`)")
    row = rows[0]
    if not resend:
        sendlog.mark_sent(log, message_id, f"confirmed delivered by {sendlog.operator()}")
        return f"{message_id} to {row['recipients']}: confirmed as delivered; it will not be sent again"
    message = message_from_bytes(row["content"], policy=policy.default)
    note = f"sent again by {sendlog.operator()} after an unconfirmed attempt"
    try:
        mail.send([message], smtp_settings(settings), on_sent=lambda m: sendlog.mark_sent(log, message_id, note))
    finally:
        sendlog.remember_count(settings)
    return f"{message_id} to {row['recipients']}: sent again with the same Message-ID"


def acknowledge(settings: Settings, config: AlertConfig | None = None) -> list[str]:
    """Settle a hold on sending (sendlog.ready). A lost send log is started again with every key
    due now counted as sent, so nothing that may have gone before the loss goes again."""
    due: dict[str, list[str]] = {}
    if not sendlog.location(settings).exists() and settings.serving.exists():
        snapshot = data.snapshot(settings.serving)
        config = config or load(settings.alerts_config)
        for kind in KINDS:
            emails = _emails(kind, snapshot, config, settings, Outcome(kind))
            due[kind] = [k for e in emails for k in _keys(e)]
    return sendlog.acknowledge(settings, due)


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
