"""Dunning: one reminder per customer listing their open items at a dunning level, in the
customer's language; each level goes once per invoice (the send log keys are per invoice and level).

Disputed items and items under a promise to pay that is not yet broken are left out.
"""

import polars as pl

from alerts import data, render
from alerts.config import AlertConfig
from alerts.mail import Email, address


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


def template_for(customer_id: str, language: str | None, config: AlertConfig) -> str:
    override = config.customer_templates.get(customer_id)
    if override and render.exists(override):
        return override
    candidate = f"dunning_{language or 'en'}"
    return candidate if render.exists(candidate) else "dunning_en"


def emails(snapshot: data.Snapshot, config: AlertConfig, already_sent: set[str]) -> tuple[list[Email], list[str]]:
    """(emails, warnings). A customer gets an email when at least one of its items reached a level
    not sent before; the email lists every item at a level, so the customer sees the full picture."""
    items = due_items(snapshot, config)
    new = items.filter(~pl.col("key").is_in(list(already_sent)))
    out, warnings = [], []
    for customer_id in new["customer_id"].unique(maintain_order=True).to_list():
        listed = items.filter(pl.col("customer_id") == customer_id).sort("due_date", "invoice_id")
        first = listed.row(0, named=True)
        if not first["billing_email"]:
            warnings.append(f"dunning: customer {customer_id} has no billing_email; {listed.height} items not reminded")
            continue
        template = template_for(customer_id, first["language"], config)
        context = {
            "customer_name": first["customer_name"],
            "items": listed.to_dicts(),
            "as_of": snapshot.as_of,
            "build_id": None,
        }
        keys = new.filter(pl.col("customer_id") == customer_id)["key"].to_list()
        out.append(
            Email(
                key="|".join(keys),
                to=(address(first["customer_name"], first["billing_email"]),),
                subject=f"{render.subject(template)}: {listed.height} open invoice{'s' if listed.height > 1 else ''}",
                html=render.html(template, **context),
                text=render.text(template, **context),
            )
        )
    return out, warnings
