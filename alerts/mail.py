"""Building and sending email: `email.message.EmailMessage` (default policy, which refuses CR/LF
in headers) over smtplib, or into an outbox folder for review."""

import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)  # never in logs or reprs
    sender: str = "o2c <o2c@localhost>"
    timeout: float = 30.0


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str
    inline_cid: str | None = None  # set for images the HTML shows inline


@dataclass(frozen=True)
class Email:
    """One message: who, what, and the key the send log records it under."""

    key: str
    to: tuple[str, ...]
    subject: str
    html: str
    text: str
    attachments: tuple[Attachment, ...] = ()


def _one_line(value: str) -> str:
    """Display names come from data (customer names): keep them on one line."""
    return re.sub(r"[\r\n]+", " ", value).strip()


def build(email: Email, sender: str) -> EmailMessage:
    """The MIME message. Header values with line breaks raise ValueError (policy `default`)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(email.to)
    message["Subject"] = email.subject
    message["Message-ID"] = make_msgid(domain="o2c.local")
    # What the message is about (the first send-log key): names the outbox file, helps support.
    message["X-O2C-Key"] = email.key.split("|")[0]
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    html_part = message.get_payload()[-1]
    for attachment in email.attachments:
        if attachment.inline_cid:
            html_part.add_related(
                attachment.content, attachment.maintype, attachment.subtype, cid=f"<{attachment.inline_cid}>"
            )
    for attachment in email.attachments:
        if not attachment.inline_cid:
            message.add_attachment(
                attachment.content,
                maintype=attachment.maintype,
                subtype=attachment.subtype,
                filename=attachment.filename,
            )
    return message


def address(name: str, email_address: str) -> str:
    return formataddr((_one_line(name), email_address))


# What the server says about one message (a recipient or its content refused): the session
# goes on with the next message when the caller takes these (`on_refused`).
_REFUSALS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,
)


def send(
    messages: list[EmailMessage],
    smtp: SmtpSettings,
    on_sent: Callable[[EmailMessage], None],
    on_refused: Callable[[EmailMessage, str], None] | None = None,
) -> None:
    """Send over one SMTP session, calling `on_sent` after each message the server accepted, and
    `on_refused` (when given) with the reason for each message the server refused: one bad
    recipient never stops the other messages.

    Any other failure (server down, login refused, the session dropped) raises SmtpError naming
    the server (never the password); messages not yet accepted were not sent and are not recorded.
    """
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            for message in messages:
                try:
                    client.send_message(message)
                except _REFUSALS as refusal:
                    if on_refused is None:
                        raise
                    on_refused(message, f"{type(refusal).__name__}: {refusal}")
                    continue
                on_sent(message)
    except (OSError, smtplib.SMTPException) as error:
        raise SmtpError(f"SMTP server {smtp.host}:{smtp.port}: {type(error).__name__}: {error}") from error


class SmtpError(RuntimeError):
    """Mail could not be sent; what was sent before the failure is in the send log."""


def write_outbox(messages: list[EmailMessage], folder: Path) -> list[Path]:
    """Rendered messages as .eml (and their HTML beside them) for review; nothing is sent."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for message in messages:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", message["X-O2C-Key"])[:150]
        eml = folder / f"{stem}.eml"
        eml.write_bytes(bytes(message))
        html = message.get_body(("html",))
        if html is not None:
            (folder / f"{stem}.html").write_text(html.get_content())
        written.append(eml)
    return written
