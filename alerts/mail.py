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


def build(email: Email, sender: str, message_id: str | None = None) -> EmailMessage:
    """The MIME message. Header values with line breaks raise ValueError (policy `default`).
    `message_id`: the logical email's own (alerts/sendlog.message_id), the same on every attempt."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(email.to)
    message["Subject"] = email.subject
    message["Message-ID"] = message_id or make_msgid(domain="o2c.local")
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


# The server's answer to one message (its recipients, its sender, its content): the session is fine.
_REFUSALS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPNotSupportedError,  # e.g. a non-ASCII address to a server without SMTPUTF8
)


def _describe(smtp: SmtpSettings, error: Exception) -> str:
    return f"SMTP server {smtp.host}:{smtp.port}: {type(error).__name__}: {error}"


class SmtpError(RuntimeError):
    """Mail could not be sent; what was sent before the failure is in the send log.

    `in_flight`: the message being sent when it failed (None: before or between messages);
    `ambiguous`: its content went out but no reply came, so the server may have delivered it."""

    def __init__(self, text: str, in_flight: EmailMessage | None = None, ambiguous: bool = False) -> None:
        super().__init__(text)
        self.in_flight = in_flight
        self.ambiguous = ambiguous


class _Client(smtplib.SMTP):
    """smtplib's client, knowing whether a message's content went out after DATA's 354: from then
    on a lost connection leaves it unknown whether the server has it (its reply may be what was lost)."""

    content_out = False
    _last_code = 0

    def getreply(self) -> tuple[int, bytes]:
        code, text = super().getreply()
        self._last_code = code
        return code, text

    def send(self, s: bytes | str) -> None:
        if self._last_code == 354:  # the one thing sent after 354 is the content
            self.content_out = True
        super().send(s)


def send(
    messages: list[EmailMessage],
    smtp: SmtpSettings,
    on_sent: Callable[[EmailMessage], None],
    on_sending: Callable[[EmailMessage], bool] | None = None,
    on_refused: Callable[[EmailMessage, SmtpError], None] | None = None,
) -> None:
    """Send over one SMTP session: `on_sending` before each message's transaction (False: skip
    it), `on_sent` after the server accepted it, and with `on_refused`, when the server refused
    this one message (a recipient, the sender or the content), that callback and on to the next.

    Any other failure (server down, login refused, a dropped connection; a refusal without
    `on_refused`) raises SmtpError naming the server (never the password) and the message in
    flight, and whether that one is ambiguous (its content went out, no reply came back: the
    server may have it).
    """
    in_flight: EmailMessage | None = None
    client: _Client | None = None
    try:
        with _Client(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.user:
                client.login(smtp.user, smtp.password or "")
            for message in messages:
                if on_sending is not None and not on_sending(message):
                    continue
                in_flight, client.content_out = message, False
                try:
                    client.send_message(message)
                except _REFUSALS as error:
                    if on_refused is None:
                        raise
                    # a definite "no" to this message; smtplib reset the transaction for the next
                    on_refused(message, SmtpError(_describe(smtp, error), message))
                    in_flight = None
                    continue
                in_flight = None
                on_sent(message)
    except (OSError, smtplib.SMTPException) as error:
        # A reply (4xx/5xx) is a definite "no"; anything else after the content went out is not.
        ambiguous = (
            in_flight is not None
            and client is not None
            and client.content_out
            and not isinstance(error, smtplib.SMTPResponseException)
        )
        raise SmtpError(_describe(smtp, error), in_flight, ambiguous) from error


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
