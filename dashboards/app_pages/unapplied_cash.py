"""Unapplied cash: what is not applied, suggested matches, and manual application or reversal.

Applications and reversals go to the ops store (never the warehouse) with who and when; the next
pipeline run applies them (method 'manual') and the audit trail below says what it made of each.
"""

from decimal import Decimal
from functools import partial

import polars as pl
import streamlit as st

from core import formatting, ops_store
from core.settings import get_settings
from dashboards import auth, db, ui

meta = ui.guard()
who = auth.viewer()
st.title("Unapplied cash")
ui.freshness(meta)
ops_url = get_settings().ops()


def save(action: ops_store.ManualApplication, what: str) -> None:
    """Store an application or reversal; say what was saved (after the rerun) or why not."""
    ui.save(
        "unapplied_saved",
        db.why_not_act(invoice_ids=(action.invoice_id,), payment_ids=(action.payment_id,)),
        lambda: ops_store.record_manual_application(ops_url, action),
        lambda saved_id: f"{what} ({saved_id}). It takes effect on the next run.",
    )


ui.show_saved("unapplied_saved")
as_of = meta["as_of_date"]

have = ui.available()
if have["payments"] == 0:
    ui.not_available("payments")
    st.stop()

totals = {row["status"]: row for row in db.query("unapplied_totals").iter_rows(named=True)}
on_account, unidentified = totals.get("on account", {}), totals.get("unidentified", {})
tiles = st.columns(4)
tiles[0].metric(
    "On account",
    ui.money(on_account.get("unapplied_rc", 0.0)),
    help="Unapplied cash of known customers: deducted from gross AR in net AR (Overview).",
)
tiles[1].metric(
    "Unidentified",
    ui.money(unidentified.get("unapplied_rc", 0.0)),
    help="Receipts whose payer is not known: not deducted from any customer's AR.",
)
unapplied = on_account.get("receipts", 0) + unidentified.get("receipts", 0)
tiles[2].metric("Receipts unapplied", ui.count(unapplied))
oldest = max(on_account.get("oldest_days") or 0, unidentified.get("oldest_days") or 0)
tiles[3].metric("Oldest", ui.days(oldest, 0) if totals else "–")
if not who.sees_all_customers:
    st.caption("Receipts of your customers only: unidentified receipts (payer not known) are not shown to collectors.")

receipts = db.query("unapplied_receipts", {"limit": db.ROW_LIMITS["unapplied_receipts"]})
receipt = None
if not ui.empty(receipts, "unapplied cash: every receipt is applied"):
    st.markdown("**Receipts with money unapplied** (oldest first; select one to apply it)")
    if unapplied > receipts.height:
        st.caption(
            f"The {ui.count(receipts.height)} oldest of {ui.count(unapplied)}: find any other by payment id below."
        )
    selection = ui.table(receipts, on_select="rerun", selection_mode="single-row", key="unapplied_table")
    if selection and selection.selection.rows:
        receipt = receipts.row(selection.selection.rows[0], named=True)
# Any receipt by id, applied or not (to reverse an application): the field, or a link
# /unapplied_cash?payment=<id>; by default the oldest unapplied receipt.
wanted = st.text_input("Find a receipt by payment id", value=st.query_params.get("payment", ""), key="find_payment")
if receipt is None and wanted.strip():
    found = db.query("payment_for_application", {"payment_id": wanted.strip()})
    if found.is_empty():
        st.warning(f"No receipt {ui.plain(repr(wanted.strip()))} in this build (refunds cannot be applied).")
    else:
        receipt = found.row(0, named=True)
if receipt is None and not receipts.is_empty():
    receipt = receipts.row(0, named=True)

if receipt is not None:
    payment_id = receipt["payment_id"]
    st.subheader(f"{ui.plain(payment_id)} · {ui.plain(receipt['customer_or_payer'] or 'unknown payer')}")
    in_receipt_currency = partial(formatting.money, currency=receipt["currency"], decimals=2)
    st.caption(
        f"{receipt['payment_date']} · {in_receipt_currency(receipt['amount'])} received, "
        f"{in_receipt_currency(receipt['unapplied_amount'])} unapplied · "
        f"remittance: {ui.plain(receipt['remittance_info'])}"
    )
    suggestions = db.query("unapplied_suggestions", {"payment_id": payment_id})
    st.markdown("**Suggested matches**")
    if not ui.empty(suggestions, "suggested matches for this receipt"):
        ui.table(suggestions)
    invoices = (
        db.query("unapplied_open_invoices", {"customer_id": receipt["customer_id"], "currency": receipt["currency"]})
        if receipt["customer_id"] is not None
        else pl.DataFrame(schema={"invoice_id": pl.String, "invoice_number": pl.String, "open_balance": pl.Float64})
    )
    # Suggestions first (best first), then the customer's other open invoices.
    choices = pl.concat(
        [
            suggestions.select("invoice_id", "invoice_number", "open_balance", "suggested_amount"),
            invoices.select(
                "invoice_id", "invoice_number", "open_balance", pl.lit(None, pl.Float64).alias("suggested_amount")
            ).filter(~pl.col("invoice_id").is_in(suggestions["invoice_id"].to_list())),
        ]
    )
    labels = {
        r["invoice_id"]: f"{r['invoice_number']} · open {in_receipt_currency(r['open_balance'])}"
        + (" · suggested" if r["suggested_amount"] is not None else "")
        for r in choices.iter_rows(named=True)
    }
    first_amount = float(choices["suggested_amount"][0] or receipt["unapplied_amount"]) if choices.height else 0.0

    if not who.may_act:
        st.info(f"Read-only: the {who.role} role sees unapplied cash but does not apply it.")
    else:
        st.markdown("**Apply this receipt to an invoice**")
        with st.form("apply", clear_on_submit=True):
            columns = st.columns(3)
            invoice_id = columns[0].selectbox("Invoice", list(labels), format_func=lambda i: labels[i])
            typed = columns[1].text_input(
                "…or invoice id", help="For an invoice not in the list (an unidentified payer)."
            )
            amount = columns[2].number_input(
                f"Amount ({receipt['currency']})",
                min_value=0.0,
                value=min(first_amount, float(receipt["unapplied_amount"])),
                step=100.0,
                help="At most what the receipt has unapplied; the run caps it to the invoice's open balance too.",
            )
            columns = st.columns(2)
            action_date = columns[0].date_input(
                "Effective date",
                as_of,
                help="Defaults to the data's as-of date, so the balances of this build's date show it.",
            )
            note = columns[1].text_input("Note", max_chars=2000)
            apply_clicked = st.form_submit_button("Apply (takes effect on the next run)")
        if apply_clicked:
            application = ops_store.ManualApplication(
                action="apply",
                payment_id=payment_id,
                invoice_id=(typed or "").strip() or invoice_id or "",
                action_date=action_date,
                entered_by=who.username,
                applied_amount=Decimal(str(amount)),  # extra decimals refused, never rounded
                note=note or None,
            )
            save(application, f"apply {in_receipt_currency(amount)} of {payment_id} to {application.invoice_id}")

    applied = db.query("payment_applications", {"payment_id": payment_id})
    st.markdown("**Applied in this build** (what a reversal takes back)")
    if not ui.empty(applied, "applications of this receipt"):
        ui.table(applied)
        reversible = {
            r["invoice_id"]: f"{r['invoice_number']} · {r['match_method']} · {in_receipt_currency(r['applied_amount'])}"
            for r in applied.iter_rows(named=True)
        }
        if who.may_act:
            with st.form("reverse", clear_on_submit=True):
                columns = st.columns(2)
                reverse_invoice = columns[0].selectbox(
                    "Application", list(reversible), format_func=lambda i: reversible[i]
                )
                reverse_note = columns[1].text_input("Note", max_chars=2000, key="reverse_note")
                reverse_clicked = st.form_submit_button("Reverse (takes effect on the next run)")
            if reverse_clicked:
                reversal = ops_store.ManualApplication(
                    action="reverse",
                    payment_id=payment_id,
                    invoice_id=reverse_invoice or "",
                    action_date=as_of,
                    entered_by=who.username,
                    note=reverse_note or None,
                )
                save(reversal, f"reverse {payment_id} from {reverse_invoice}")
        else:
            st.caption("Read-only: no reversals.")

st.markdown("**Entered in the ops store** (newest first; the next run applies those this build does not have yet)")
pending = ops_store.manual_applications(ops_url)
if not who.sees_all_customers:  # a collector: the entries on their customers' receipts or invoices
    mine = db.visible("payment", pending["payment_id"].to_list()) | db.visible(
        "invoice", pending["invoice_id"].to_list()
    )
    pending = pending.filter(pl.col("payment_id").is_in(list(mine)) | pl.col("invoice_id").is_in(list(mine)))
if not ui.empty(pending, "manual applications entered"):
    ui.table(pending.head(50))

st.markdown("**Audit trail** (every manual application and reversal, and what this build made of it)")
audit = db.query("cash_application_audit")
if not ui.empty(audit, "manual applications in this build"):
    ui.table(audit)
