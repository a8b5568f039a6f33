"""The canonical source contract: the entities every connector lands, with types, keys and meaning.

This module is the single source of truth. The simulator writes its ERP tables from it, every
connector conforms its rows to it, the raw tables in DuckDB are typed from it, and
docs/sources.md is generated from it (`o2c contract --markdown`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# Money is DECIMAL(18,2), FX rates DECIMAL(18,8): the limits and the rule that checks a value
# against them live in core/money.py, which the ops store shares to refuse before "Saved" what a
# load would quarantine (re-exported here for the connectors).
from core.money import (  # noqa: F401
    MONEY_PRECISION,
    MONEY_SCALE,
    RATE_PRECISION,
    RATE_SCALE,
    decimal_limits,
    decimal_misfits,
    decimal_pattern,
    decimal_problem,
)

ColumnType = Literal["string", "int", "money", "rate", "date", "timestamp", "bool"]


# ISO 4217 codes a connector accepts. Anything else is quarantined as an unknown currency.
ISO_CURRENCIES = frozenset(
    [
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "CHF",
        "CAD",
        "AUD",
        "NZD",
        "CNY",
        "HKD",
        "SGD",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "INR",
        "KRW",
        "MXN",
        "BRL",
        "ZAR",
        "TRY",
        "ILS",
        "AED",
        "SAR",
        "THB",
        "MYR",
        "IDR",
        "PHP",
        "TWD",
    ]
)


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    description: str
    required: bool = True
    # How a missing or blank value is filled in at ingestion ("" = never: the row is quarantined).
    default: str = ""


@dataclass(frozen=True)
class Rule:
    """A row-level rule on typed values; rows that break it are quarantined with `reason`."""

    column: str
    check: Literal["positive", "non_negative", "currency", "one_of"]
    reason: str
    allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    name: str
    description: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    rules: tuple[Rule, ...] = field(default=())
    # (column, parent entity): the column must hold a key of the parent, in any raw schema.
    references: tuple[tuple[str, str], ...] = field(default=())
    cursor: str = "updated_at"
    # Only what an AR export has is required (customers, invoices); every other entity may be
    # absent, and `adds` says what the marts and pages gain when it is there.
    required: bool = False
    adds: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def _updated_at() -> Column:
    return Column(
        "updated_at",
        "timestamp",
        "When the source last changed this row (UTC).",
        required=False,
        default="the file's modification time (a file without it is a full snapshot of its entity), "
        "or the load time for a database table without it",
    )


def _currency(what: str) -> Column:
    return Column("currency", "string", f"ISO 4217 code of the {what}.")


CURRENCY_RULE = Rule("currency", "currency", "unknown currency code")

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in [
        Entity(
            "collectors",
            "Credit and collections staff; each customer is assigned to one.",
            ("collector_id",),
            adds="collector names and emails: worklists and daily exception reports per collector "
            "(without it every customer is unassigned)",
            columns=(
                Column("collector_id", "string", "Collector key."),
                Column("collector_name", "string", "Full name."),
                Column("email", "string", "Work email; exception reports go here."),
                Column("region", "string", "Region the collector covers.", required=False),
                _updated_at(),
            ),
        ),
        Entity(
            "customers",
            "Bill-to customers (accounts receivable master data).",
            ("customer_id",),
            required=True,
            adds="customer names on every page and report; segment, region and credit limit where given",
            columns=(
                Column("customer_id", "string", "Customer key."),
                Column("customer_name", "string", "Legal name."),
                Column("segment", "string", "enterprise, mid_market or smb.", required=False),
                Column("region", "string", "NA, EMEA, APAC or LATAM.", required=False),
                Column("country", "string", "ISO 3166 alpha-2 country code.", required=False),
                Column("currency", "string", "ISO 4217 code of the customer's invoices.", required=False),
                Column("payment_terms_code", "string", "NET30, NET45, NET60 or 2/10NET30.", required=False),
                Column("payment_terms_days", "int", "Days from invoice date to due date.", required=False),
                Column("credit_limit", "money", "Credit limit in the customer's currency.", required=False),
                Column("collector_id", "string", "Assigned collector.", required=False),
                Column(
                    "bank_account",
                    "string",
                    "Account the customer pays from; matches bank statement counterparties.",
                    required=False,
                ),
                Column("billing_email", "string", "Accounts-payable address reminders go to.", required=False),
                Column("language", "string", "ISO 639-1 language of the customer's correspondence.", required=False),
                Column("created_at", "timestamp", "When the customer was created (UTC).", required=False),
                _updated_at(),
            ),
            rules=(CURRENCY_RULE, Rule("credit_limit", "non_negative", "negative credit limit")),
            references=(("collector_id", "collectors"),),
        ),
        Entity(
            "products",
            "Products sold (the ERP item master).",
            ("product_id",),
            adds="product names and categories on invoice and order lines",
            columns=(
                Column("product_id", "string", "Product key."),
                Column("product_name", "string", "Name."),
                Column("category", "string", "Product category.", required=False),
                Column("list_price_usd", "money", "List price in USD.", required=False),
                Column("unit_cost_usd", "money", "Standard unit cost in USD (for margin).", required=False),
                _updated_at(),
            ),
            rules=(Rule("list_price_usd", "positive", "list price must be positive"),),
        ),
        Entity(
            "sales_orders",
            "Sales order headers.",
            ("order_id",),
            adds="the order-to-cash cycle from the order date (without orders cycle times start at the "
            "invoice), order-to-ship stages, backlog and orders per customer for CLV",
            columns=(
                Column("order_id", "string", "Order key."),
                Column("customer_id", "string", "Ordering (bill-to) customer."),
                Column("order_date", "date", "Date the order was booked."),
                _currency("order"),
                Column("order_amount", "money", "Order total in the order currency."),
                Column(
                    "order_status",
                    "string",
                    "pending_credit, approved, partially_shipped, shipped or cancelled.",
                ),
                Column(
                    "credit_approved_at",
                    "timestamp",
                    "When credit was approved (UTC); empty while pending or if cancelled.",
                    required=False,
                ),
                _updated_at(),
            ),
            rules=(CURRENCY_RULE, Rule("order_amount", "positive", "order amount must be positive")),
            references=(("customer_id", "customers"),),
        ),
        Entity(
            "sales_order_lines",
            "Sales order lines; quantity_shipped below quantity means a backorder.",
            ("order_line_id",),
            adds="quantities ordered and backordered per order",
            columns=(
                Column("order_line_id", "string", "Order line key."),
                Column("order_id", "string", "Order the line belongs to."),
                Column("line_number", "int", "Line number within the order."),
                Column("product_id", "string", "Product ordered."),
                Column("quantity", "int", "Quantity ordered."),
                Column("quantity_shipped", "int", "Quantity shipped so far."),
                Column("unit_price", "money", "Net unit price in the order currency."),
                Column("line_amount", "money", "quantity × unit_price."),
                _updated_at(),
            ),
            rules=(
                Rule("quantity", "positive", "quantity must be positive"),
                Rule("line_amount", "positive", "line amount must be positive"),
            ),
            references=(("order_id", "sales_orders"), ("product_id", "products")),
        ),
        Entity(
            "shipments",
            "Shipments (deliveries) of an order; an order may ship in several (partial shipments).",
            ("shipment_id",),
            adds="the approval-to-ship and ship-to-invoice stages of the cycle times",
            columns=(
                Column("shipment_id", "string", "Shipment key."),
                Column("order_id", "string", "Order shipped."),
                Column("shipment_number", "int", "1 for the first shipment of the order, 2 …"),
                Column("shipment_date", "date", "Date the goods left the warehouse."),
                Column("carrier", "string", "Carrier name.", required=False),
                _updated_at(),
            ),
            references=(("order_id", "sales_orders"),),
        ),
        Entity(
            "invoices",
            "Customer invoices, one per shipment. Open balances come from the ledger of events "
            "(credit memos, payment applications), never from invoice_status.",
            ("invoice_id",),
            required=True,
            adds="open AR, aging, DSO and every receivables KPI",
            columns=(
                Column("invoice_id", "string", "Invoice key."),
                Column("invoice_number", "string", "Number printed on the invoice."),
                Column("customer_id", "string", "Billed customer."),
                Column("order_id", "string", "Order invoiced.", required=False),
                Column("shipment_id", "string", "Shipment invoiced.", required=False),
                Column("invoice_date", "date", "Invoice (document) date."),
                Column(
                    "due_date",
                    "date",
                    "Net due date.",
                    default="invoice_date + payment_terms_days, or + the days of payment_terms_code "
                    "(NET30, 30, N30, 2/10NET30: the last number)",
                ),
                _currency("invoice"),
                Column("payment_terms_code", "string", "Terms on the invoice.", required=False),
                Column("payment_terms_days", "int", "Days from invoice date to due date.", required=False),
                Column("invoice_amount", "money", "Invoice total (= sum of its lines when it has lines)."),
                Column(
                    "invoice_status",
                    "string",
                    "The source's current status (open, partially_paid, paid, disputed, written_off); informational only.",
                    required=False,
                ),
                _updated_at(),
            ),
            rules=(
                CURRENCY_RULE,
                Rule("invoice_amount", "positive", "invoice amount must be positive"),
            ),
            references=(("customer_id", "customers"), ("order_id", "sales_orders")),
        ),
        Entity(
            "invoice_lines",
            "Invoice lines: what was billed, per order line shipped.",
            ("invoice_line_id",),
            adds="revenue by product; invoice totals are checked against their lines where lines exist",
            columns=(
                Column("invoice_line_id", "string", "Invoice line key."),
                Column("invoice_id", "string", "Invoice the line belongs to."),
                Column("order_line_id", "string", "Order line billed.", required=False),
                Column("product_id", "string", "Product billed."),
                Column("quantity", "int", "Quantity billed."),
                Column("unit_price", "money", "Unit price in the invoice currency."),
                Column("line_amount", "money", "quantity × unit_price."),
                _updated_at(),
            ),
            rules=(
                Rule("quantity", "positive", "quantity must be positive"),
                Rule("line_amount", "positive", "line amount must be positive"),
            ),
            references=(("invoice_id", "invoices"), ("product_id", "products")),
        ),
        Entity(
            "credit_memos",
            "Credit memos reduce what a customer owes (dispute credits, returns, early-payment "
            "discounts, bad-debt write-offs). Amounts are positive.",
            ("credit_memo_id",),
            adds="credits and write-offs that reduce open balances (without them only payments do)",
            columns=(
                Column("credit_memo_id", "string", "Credit memo key."),
                Column("credit_memo_number", "string", "Document number.", required=False),
                Column("customer_id", "string", "Credited customer."),
                Column("invoice_id", "string", "Invoice credited, if any.", required=False),
                Column("credit_memo_date", "date", "Effective date of the credit."),
                _currency("credit memo"),
                Column("credit_amount", "money", "Amount credited (positive)."),
                Column(
                    "reason",
                    "string",
                    "dispute_credit, return, early_payment_discount or bad_debt_write_off.",
                ),
                _updated_at(),
            ),
            rules=(
                CURRENCY_RULE,
                Rule("credit_amount", "positive", "credit memo amount must be positive"),
            ),
            references=(("customer_id", "customers"), ("invoice_id", "invoices")),
        ),
        Entity(
            "disputes",
            "Customer disputes raised against invoices.",
            ("dispute_id",),
            adds="disputed AR, dispute cycle times and the dispute delay of predicted pay dates",
            columns=(
                Column("dispute_id", "string", "Dispute key."),
                Column("invoice_id", "string", "Disputed invoice."),
                Column("customer_id", "string", "Disputing customer."),
                Column("opened_date", "date", "Date the dispute was raised."),
                Column("reason", "string", "pricing, quantity, quality, not_received or duplicate.", required=False),
                Column("disputed_amount", "money", "Amount in dispute (invoice currency)."),
                Column("dispute_status", "string", "open or resolved."),
                Column(
                    "resolution",
                    "string",
                    "credited, partially_credited or rejected; empty while open.",
                    required=False,
                ),
                Column("resolved_date", "date", "Date resolved; empty while open.", required=False),
                _updated_at(),
            ),
            rules=(Rule("disputed_amount", "positive", "disputed amount must be positive"),),
            references=(("invoice_id", "invoices"), ("customer_id", "customers")),
        ),
        Entity(
            "payments",
            "Money received (and refunded) from payment processors and bank statements. "
            "Amounts are positive; payment_type tells the direction. Also the ERP's own cash receipts.",
            ("payment_id",),
            adds="cash collected, days to pay, CEI, cash application and unapplied cash, pay-date "
            "predictions (without payments every invoice stays open at its full amount)",
            columns=(
                Column("payment_id", "string", "Payment key (processor charge id or bank transaction id)."),
                Column(
                    "customer_id",
                    "string",
                    "Paying customer when the source knows it (processors do; banks do not).",
                    required=False,
                ),
                Column("payer_name", "string", "Payer name as the source shows it.", required=False),
                Column(
                    "payer_account",
                    "string",
                    "Payer's bank account (bank statements).",
                    required=False,
                ),
                Column(
                    "invoice_id",
                    "string",
                    "Invoice the payment is for, when the source records it (e.g. a settlement line of "
                    "an AR ledger); used by cash application like a remittance reference.",
                    required=False,
                ),
                Column("payment_date", "date", "Value date of the money movement."),
                Column("amount", "money", "Amount (positive)."),
                _currency("payment"),
                Column("payment_method", "string", "card, ach_debit, bank_transfer, check or other.", required=False),
                Column(
                    "payment_type",
                    "string",
                    "payment (money in) or refund (money out).",
                    required=False,
                    default="payment",
                ),
                Column(
                    "remittance_info",
                    "string",
                    "Free-text remittance reference; may be missing, wrong or list several invoices.",
                    required=False,
                ),
                Column(
                    "original_payment_id",
                    "string",
                    "For refunds: the payment refunded.",
                    required=False,
                ),
                _updated_at(),
            ),
            rules=(
                CURRENCY_RULE,
                Rule("amount", "positive", "payment amount must be positive"),
                Rule("payment_type", "one_of", "unknown payment type", ("payment", "refund")),
            ),
            references=(("customer_id", "customers"),),
        ),
        Entity(
            "payment_applications",
            "Cash application already done by the source (e.g. a processor payment made against "
            "an invoice in a customer portal, or an ERP's own receipts applied to invoices).",
            ("application_id",),
            adds="the source's own cash application, used before any matching of o2c's",
            columns=(
                Column(
                    "application_id",
                    "string",
                    "Application key.",
                    default="payment_id|invoice_id|applied_date",
                ),
                Column("payment_id", "string", "Payment applied."),
                Column("invoice_id", "string", "Invoice the payment was applied to."),
                Column("applied_amount", "money", "Amount applied (payment currency)."),
                Column("applied_date", "date", "Effective date of the application."),
                _updated_at(),
            ),
            rules=(Rule("applied_amount", "positive", "applied amount must be positive"),),
            references=(("invoice_id", "invoices"),),
        ),
        Entity(
            "fx_rates",
            "Daily FX rates (business days): 1 unit of from_currency = rate units of to_currency.",
            ("rate_date", "from_currency", "to_currency"),
            adds="amounts in the reporting currency; needed only when a currency differs from it",
            columns=(
                Column("rate_date", "date", "Publication date."),
                Column("from_currency", "string", "Transaction currency."),
                Column("to_currency", "string", "Reporting currency."),
                Column("rate", "rate", "Units of to_currency per unit of from_currency."),
                _updated_at(),
            ),
            rules=(
                Rule("from_currency", "currency", "unknown currency code"),
                Rule("to_currency", "currency", "unknown currency code"),
                Rule("rate", "positive", "FX rate must be positive"),
            ),
        ),
        Entity(
            "collection_actions",
            "What collectors did: calls, emails, promises to pay, disputes logged, notes "
            "(from the collections ops store).",
            ("action_id",),
            adds="promises to pay (kept or broken) and their override of predicted pay dates",
            columns=(
                Column("action_id", "string", "Action key."),
                Column("customer_id", "string", "Customer the action concerns."),
                Column("invoice_id", "string", "Invoice, when the action is about one.", required=False),
                Column("collector_id", "string", "Collector who acted."),
                Column("action_type", "string", "call, email, promise_to_pay, dispute or note."),
                Column("action_date", "date", "Date of the action."),
                Column("promised_date", "date", "Promise-to-pay date.", required=False),
                Column("promised_amount", "money", "Promised amount.", required=False),
                Column("note", "string", "Free text.", required=False),
                Column(
                    "dispute_reason",
                    "string",
                    "For a dispute: pricing, quantity, quality, not_received or duplicate.",
                    required=False,
                ),
                Column("entered_by", "string", "The signed-in dashboard user who recorded it.", required=False),
                _updated_at(),
            ),
            references=(("customer_id", "customers"),),
        ),
        Entity(
            "manual_cash_applications",
            "Cash applied (or an application reversed) by hand in the dashboards' Unapplied cash page "
            "(from the collections ops store). The latest action per payment and invoice is in effect.",
            ("manual_application_id",),
            adds="manual applications and reversals, applied on the next run before o2c's own matching, "
            "with who and when in the cash-application audit trail",
            columns=(
                Column("manual_application_id", "string", "Manual application key."),
                Column("action", "string", "apply or reverse."),
                Column("payment_id", "string", "Payment (receipt) applied."),
                Column("invoice_id", "string", "Invoice it is applied to (or reversed from)."),
                Column(
                    "applied_amount",
                    "money",
                    "Amount to apply (payment currency); required for apply, ignored for reverse.",
                    required=False,
                ),
                Column("action_date", "date", "Effective date of the application or reversal."),
                Column("entered_by", "string", "Who entered it."),
                Column("note", "string", "Free text.", required=False),
                _updated_at(),
            ),
            rules=(Rule("action", "one_of", "unknown manual application action", ("apply", "reverse")),),
        ),
    ]
}

# Which entities each built-in connector lands.
ERP_ENTITIES: tuple[str, ...] = (
    "collectors",
    "customers",
    "products",
    "sales_orders",
    "sales_order_lines",
    "shipments",
    "invoices",
    "invoice_lines",
    "credit_memos",
    "disputes",
    "payments",
    "payment_applications",
)


def markdown() -> str:
    """Render the contract as the tables of docs/sources.md."""
    out: list[str] = []
    for entity in ENTITIES.values():
        out.append(f"### `{entity.name}`\n")
        out.append(f"{entity.description}\n")
        need = "**Required entity.**" if entity.required else "Optional entity."
        adds = f" With it: {entity.adds}." if entity.adds else ""
        out.append(f"{need}{adds}\n")
        out.append(f"Primary key: `{', '.join(entity.primary_key)}`. Cursor: `{entity.cursor}`.\n")
        out.append("| column | type | required | meaning | when missing or blank |")
        out.append("|---|---|---|---|---|")
        for c in entity.columns:
            missing = c.default or ("the row is quarantined" if c.required else "empty")
            out.append(
                f"| `{c.name}` | {_type_label(c.type)} | {'yes' if c.required else 'no'} | {c.description} | {missing} |"
            )
        if entity.references:
            out.append("")
            out.append("References: " + "; ".join(f"`{c}` → `{p}`" for c, p in entity.references) + ".")
        if entity.rules:
            out.append("")
            out.append("Rules: " + "; ".join(f"`{r.column}`: {r.reason}" for r in entity.rules) + ".")
        out.append("")
    return "\n".join(out)


def _type_label(column_type: ColumnType) -> str:
    return {
        "money": f"decimal({MONEY_PRECISION},{MONEY_SCALE})",
        "rate": f"decimal({RATE_PRECISION},{RATE_SCALE})",
        "timestamp": "timestamp (UTC)",
    }.get(column_type, column_type)


def dbt_macro() -> str:
    """Render dbt_project/macros/contract_columns.sql: each entity's columns and logical types, so
    staging can select an entity from whichever raw schemas hold it, or none (an empty table)."""
    lines = [
        "{#- Generated from ingestion/contract.py by `o2c contract --write-dbt`: do not edit by hand.",
        "    Each entity's contract columns as (name, logical type); `contract_type` makes them SQL. -#}",
        "{% macro contract_columns(entity) -%}",
        "{%- set columns = {",
    ]
    for entity in ENTITIES.values():
        pairs = ", ".join(f"('{c.name}', '{c.type}')" for c in entity.columns)
        lines.append(f"    '{entity.name}': [{pairs}],")
    lines += ["} -%}", "{{ return(columns[entity]) }}", "{%- endmacro %}", ""]
    return "\n".join(lines)
