"""Dunning: one reminder per customer listing their open items at a dunning level, in the
customer's language; each level goes once per invoice (the send log keys are per invoice and level).

Disputed items and items under a promise to pay that is not yet broken are left out.

A letter is written entirely in one language (subject, body, table headings, footer) and its
amounts and dates the way the customer's locale writes them (Babel, through core/formatting): the
customer's `language` when there are templates in it (en, de, fr, es), written as in the customer's
`country` when Babel knows that pair (de + AT → de_AT), else `O2C_DUNNING_LOCALE`. The sender
company, its address and how to pay come from settings; a part not configured is left out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from babel import Locale, localedata

from alerts import data, recipients, render
from alerts.config import AlertConfig
from alerts.mail import Email
from core import formatting
from core.settings import Settings

# The customers' countries: how their letters write numbers and dates.
COUNTRIES = "select customer_id, country from marts.dim_customers"


@dataclass(frozen=True)
class Sender:
    """Who the letters are from and how to pay them; every part optional."""

    company_name: str | None = None
    address_lines: tuple[str, ...] = ()
    payment_lines: tuple[str, ...] = ()
    payment_url: str | None = None  # "{customer_id}" in it is replaced by the customer's ID
    default_locale: str = "en_US"

    @property
    def letterhead(self) -> tuple[str, ...]:
        """The company's name and address, one line each (empty when neither is configured)."""
        return ((self.company_name,) if self.company_name else ()) + self.address_lines

    @classmethod
    def from_settings(cls, settings: Settings) -> Sender:
        locale = settings.dunning_locale
        if not localedata.exists(locale):
            raise ValueError(f"O2C_DUNNING_LOCALE={locale!r}: not a locale Babel knows (e.g. en_US, de_DE)")
        if not render.exists(f"dunning_{Locale.parse(locale).language}"):
            raise ValueError(
                f"O2C_DUNNING_LOCALE={locale!r}: no dunning templates in that language; use en, de, fr or es"
            )
        return cls(
            company_name=(settings.company_name or "").strip() or None,
            address_lines=lines(settings.company_address),
            payment_lines=lines(settings.payment_instructions),
            payment_url=(settings.payment_url or "").strip() or None,
            default_locale=locale,
        )


def lines(value: str | None) -> tuple[str, ...]:
    """A multi-line setting as its non-empty lines; a literal "\\n" also breaks a line, since an
    environment variable in a .env file or a service definition often cannot hold a real one."""
    if not value:
        return ()
    return tuple(line.strip() for line in value.replace("\\n", "\n").splitlines() if line.strip())


def level_expression(config: AlertConfig) -> pl.Expr:
    """The highest level an item has reached by its days past due (null before the first)."""
    expression = pl.lit(None, pl.String)
    for level in sorted(config.dunning_levels, key=lambda x: x.days_past_due):
        expression = (
            pl.when(pl.col("days_past_due") >= level.days_past_due).then(pl.lit(level.name)).otherwise(expression)
        )
    return expression


def due_items(snapshot: data.Snapshot, config: AlertConfig) -> pl.DataFrame:
    items = snapshot.frame(data.OPEN_ITEMS)
    return (
        items.filter(~pl.col("is_disputed") & ~pl.col("has_pending_promise"))
        .with_columns(level_expression(config).alias("level"))
        .filter(pl.col("level").is_not_null())
        .with_columns(pl.format("dunning/{}/{}", "invoice_id", "level").alias("key"))
    )


def letter_locale(language: str | None, country: str | None, default_locale: str) -> str:
    """The locale a customer's letter is written in (see the module's docstring)."""
    language = (language or "").strip().lower()
    if not language or not render.exists(f"dunning_{language}"):
        return default_locale
    country = (country or "").strip().upper()
    with_country = f"{language}_{country}"
    return with_country if country and localedata.exists(with_country) else language


def template_for(customer_id: str, locale: str, config: AlertConfig) -> str:
    override = config.customer_templates.get(customer_id)
    if override and render.exists(override):
        return override
    return f"dunning_{Locale.parse(locale).language}"


def totals(items: pl.DataFrame) -> list[dict[str, object]]:
    """What the letter's items add up to, one line per currency (amounts in different currencies
    are never added up), in the order of the currency codes."""
    return (
        items.group_by("currency")
        .agg(pl.col("open_balance").sum().round(2).alias("open_balance"), pl.len().alias("invoices"))
        .sort("currency")
        .to_dicts()
    )


def letter(
    customer: dict[str, object], items: pl.DataFrame, as_of: dt.date, sender: Sender, template: str, locale: str
) -> tuple[str, str, str]:
    """(subject, html, text) of one customer's letter listing `items`."""
    customer_id = str(customer["customer_id"])
    context = {
        "customer_id": customer_id,
        "customer_name": customer["customer_name"],
        "items": items.to_dicts(),
        "totals": totals(items),
        "invoice_count": items.height,
        "locale": locale,
        "as_of": as_of,
        "build_id": None,
        "sender": sender,
        "payment_url": sender.payment_url.replace("{customer_id}", customer_id) if sender.payment_url else None,
    }
    return render.subject(template, **context), render.html(template, **context), render.text(template, **context)


def emails(
    snapshot: data.Snapshot, config: AlertConfig, already_sent: set[str], sender: Sender
) -> tuple[list[Email], list[str]]:
    """(emails, skipped). A customer gets an email when at least one of its items reached a level
    not sent before; the email lists every item at a level, so the customer sees the full picture.
    A customer whose billing_email is not exactly one address (alerts/recipients) is skipped with
    one line saying why; the other customers' letters still go."""
    items = due_items(snapshot, config)
    new = items.filter(~pl.col("key").is_in(list(already_sent)))
    countries = dict(snapshot.frame(COUNTRIES).iter_rows()) if new.height else {}
    out, skipped = [], []
    for customer_id in new["customer_id"].unique(maintain_order=True).to_list():
        listed = items.filter(pl.col("customer_id") == customer_id).sort("due_date", "invoice_id")
        first = listed.row(0, named=True)
        try:
            to = recipients.one(first["billing_email"])
        except recipients.BadAddress as bad:
            what = f"{formatting.count(listed.height, 'item')} not reminded"
            skipped.append(
                recipients.report(
                    f"dunning: customer {customer_id!r}", "billing_email", first["billing_email"], str(bad), what
                )
            )
            continue
        locale = letter_locale(first["language"], countries.get(customer_id), sender.default_locale)
        template = template_for(customer_id, locale, config)
        subject, html, text = letter(first, listed, snapshot.as_of, sender, template, locale)
        keys = new.filter(pl.col("customer_id") == customer_id)["key"].to_list()
        out.append(
            Email(
                key="|".join(keys),
                to=(recipients.header(first["customer_name"], to),),
                subject=subject,
                html=html,
                text=text,
            )
        )
    return out, skipped
