"""Email addresses from the data (a customer's `billing_email`, a collector's `email`) and from
the settings (O2C_CFO_EMAILS, O2C_ALERT_EMAILS), checked before any message is built.

A data field holds exactly one address: `ap@acme.example`, `<ap@acme.example>` or
`Acme AP <ap@acme.example>` (the name is dropped: the letter is addressed to the customer's name).
Anything else is refused with the reason, and only the email it was for is skipped: a comma or
semicolon list, a second address hidden behind angle brackets (`a@x>, <evil@y`), a display name
that is itself an address (`"boss@acme.example" <evil@y>`), line breaks or other control
characters (header injection), invisible or direction-changing characters, non-ASCII characters
(look-alike letters; o2c sends to plain ASCII addresses only), a malformed address, or one longer
than SMTP allows (64 characters before the @, 254 in all).
"""

import re
from email.utils import formataddr, getaddresses

MAX_LOCAL = 64  # RFC 5321 4.5.3.1.1
MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3: a path of 256 octets with its angle brackets
MAX_FIELD = 320  # a field longer than this is not an address with a short name either
MAX_NAME = 120  # a display name in a header; longer names are cut

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LOCAL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.[A-Za-z]{{2,63}}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Zero-width characters, direction marks and overrides, word joiners, the byte-order mark.
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# What a display name may not hold in a field: it would be an address, or a second one.
_NAME_SPECIALS = re.compile(r"[<>@,;]")


class BadAddress(ValueError):
    """A field that is not exactly one usable address; the message says why."""


def one(value: str | None) -> str:
    """The one address in a field (`local@domain`), or BadAddress saying why there is none."""
    if value is None or not value.strip():
        raise BadAddress("is empty")
    if len(value) > MAX_FIELD:
        raise BadAddress(f"is {len(value)} characters long")
    if _CONTROL.search(value):
        raise BadAddress("holds a line break or another control character")
    if _INVISIBLE.search(value):
        raise BadAddress("holds an invisible or direction-changing character")
    if not value.isascii():
        raise BadAddress("holds non-ASCII characters (only plain ASCII addresses are sent to)")
    return _checked(_the_address(value.strip()))


def _the_address(text: str) -> str:
    """The address part of a field: the field itself when bare, else the one address after a
    display name or in angle brackets (the name is dropped, see the module's docstring)."""
    if re.fullmatch(r"[^<>,;\s\"()]+", text):
        return text
    parsed = getaddresses([text])
    if len(parsed) != 1 or ";" in text:
        raise BadAddress("holds more than one address (one address per field)")
    address = parsed[0][1]
    # Only the forms the docstring names: getaddresses is lenient and would pick one address out
    # of text that holds two.
    bare = text.strip("<>") if text.startswith("<") and text.endswith(">") else text
    if bare != address:
        prefix = text.removesuffix(f"<{address}>")
        if prefix == text or _NAME_SPECIALS.search(prefix):
            raise BadAddress("is not one address (a display name may not hold < > @ , or ;)")
    return address


def _checked(address: str) -> str:
    """`address` when it is name@domain.tld within SMTP's lengths."""
    if address.count("@") != 1:
        raise BadAddress("is not an address of the form name@domain.tld")
    local, domain = address.split("@")
    if len(local) > MAX_LOCAL or len(address) > MAX_ADDRESS:
        raise BadAddress(f"is too long for SMTP ({len(local)} characters before the @, {len(address)} in all)")
    if not _LOCAL.fullmatch(local) or not _DOMAIN.fullmatch(domain):
        raise BadAddress("is not an address of the form name@domain.tld")
    return address


def problem(value: str | None) -> str | None:
    """Why `value` is not exactly one address, or None when it is."""
    try:
        one(value)
    except BadAddress as bad:
        return str(bad)
    return None


def setting_list(value: str | None, setting: str) -> tuple[str, ...]:
    """The addresses of a comma-separated setting (O2C_CFO_EMAILS), each checked as a field is;
    a bad one raises BadAddress naming the setting and the value."""
    out = []
    for part in (value or "").split(","):
        if part.strip():
            try:
                out.append(one(part))
            except BadAddress as bad:
                raise BadAddress(f"{setting}: {part.strip()!r} {bad}") from None
    return tuple(out)


def display_name(name: object) -> str:
    """A name from the data for a header's display name: on one line, without control or
    invisible characters, at most MAX_NAME characters (formataddr quotes or encodes the rest)."""
    text = _INVISIBLE.sub("", _CONTROL.sub(" ", "" if name is None else str(name)))
    return " ".join(text.split())[:MAX_NAME]


def header(name: object, address: str) -> str:
    """`Name <address>` for a To header, `address` already checked by one()."""
    return formataddr((display_name(name), address))


def report(who: str, column: str, value: object, reason: str, what: str) -> str:
    """The one line that says which email was skipped and why, the value repr-escaped (a line
    break shows as \\r\\n, never breaks the log line)."""
    shown = repr(value) if value is None or len(str(value)) <= 120 else repr(str(value)[:120]) + "…"
    return f"{who}: {column} {shown} {reason}; {what}"
