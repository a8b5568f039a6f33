"""Dunning letters as a customer reads them: hand-made customers in a hand-made serving file (a
real DuckDB file with the columns the alerts read), one per language, each with invoices in two
currencies. Every expected string below is written out by hand: the subject in the letter's
language and plural, amounts and dates as the customer's locale writes them, the totals per
currency, the sender block, and the CSS inlined into the HTML that a real SMTP server (aiosmtpd)
receives."""

from __future__ import annotations

import datetime as dt
import html as html_lib
import re
from email import message_from_bytes, policy
from pathlib import Path

import polars as pl
import pytest

from alerts import data, dunning, mail, render, runner, sendlog
from alerts.config import AlertConfig
from tests import mail_world

AS_OF = dt.date(2026, 11, 30)
NBSP = "\u00a0"  # Babel puts a no-break space between amount and symbol
NNBSP = "\u202f"  # French groups thousands with a narrow no-break space

# customer_id, name, language, country, billing email
CUSTOMERS = [
    ("C_DE", "Müller & Söhne GmbH", "de", "DE", "ap@mueller.example"),
    ("C_FR", "Dupont SARL", "fr", "FR", "compta@dupont.example"),
    ("C_ES", "García y Asociados SL", "es", "ES", "pagos@garcia.example"),
    ("C_EN", "Acme Corp", "en", "US", "ap@acme.example"),
    ("C_AT", "Huber KG", "de", "AT", "buchhaltung@huber.example"),  # one invoice: the singular
    ("C_IT", "Rossi SpA", "it", "IT", "amministrazione@rossi.example"),  # no Italian templates
]
# Every customer but C_AT has the same three invoices: two in EUR (past due 45 and 7 days), one in
# USD not yet due (2 days before its due date, so at the "due_soon" level). Totals by hand:
# EUR 1,234.50 + 250.25 = 1,484.75; USD 99.00.
INVOICES = [
    # suffix, invoice date, due date, days past due, open balance, currency
    ("1", dt.date(2026, 9, 16), dt.date(2026, 10, 16), 45, 1234.50, "EUR"),
    ("2", dt.date(2026, 10, 24), dt.date(2026, 11, 23), 7, 250.25, "EUR"),
    ("3", dt.date(2026, 11, 2), dt.date(2026, 12, 2), -2, 99.00, "USD"),
]
SENDER_ENV = {
    "O2C_COMPANY_NAME": "Nordlicht Handels GmbH",
    "O2C_COMPANY_ADDRESS": r"Hafenstraße 12\n20457 Hamburg",  # a literal \n, as a .env file holds it
    "O2C_PAYMENT_INSTRUCTIONS": "Hamburger Sparkasse\nIBAN DE89 3704 0044 0532 0130 00\nBIC HASPDEHHXXX",
    "O2C_PAYMENT_URL": "https://pay.example.com/c/{customer_id}",
}
SENDER = dunning.Sender(
    company_name="Nordlicht Handels GmbH",
    address_lines=("Hafenstraße 12", "20457 Hamburg"),
    payment_lines=("Hamburger Sparkasse", "IBAN DE89 3704 0044 0532 0130 00", "BIC HASPDEHHXXX"),
    payment_url="https://pay.example.com/c/{customer_id}",
)


def build_serving(path: Path) -> Path:
    """The marts the dunning run reads, with the hand-made customers and invoices; plus, for C_DE,
    a disputed invoice and one under a pending promise, which must stay out of the letter."""
    rows = []
    for customer_id, *_ in CUSTOMERS:
        chosen = INVOICES[:1] if customer_id == "C_AT" else INVOICES
        for suffix, invoice_date, due_date, dpd, balance, currency in chosen:
            rows.append((f"{customer_id}-{suffix}", customer_id, invoice_date, due_date, dpd, balance, currency, False))
    rows.append(("C_DE-disputed", "C_DE", dt.date(2026, 8, 1), dt.date(2026, 8, 31), 91, 5000.0, "EUR", True))
    rows.append(("C_DE-promised", "C_DE", dt.date(2026, 8, 1), dt.date(2026, 8, 31), 91, 7000.0, "EUR", False))
    with mail_world.serving_file(path) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.dim_customers (customer_id varchar, customer_name varchar, collector_id varchar, "
            "billing_email varchar, language varchar, country varchar)"
        )
        for customer_id, name, language, country, email in CUSTOMERS:
            con.execute(
                "insert into marts.dim_customers values (?, ?, 'COL01', ?, ?, ?)",
                [customer_id, name, email, language, country],
            )
        con.execute(
            "create table marts.fct_ar_aging (as_of_date date, invoice_id varchar, customer_id varchar, "
            "currency varchar, invoice_date date, due_date date, days_past_due integer, aging_bucket varchar, "
            "open_balance decimal(18, 2), open_balance_rc decimal(18, 2))"
        )
        con.execute("create table marts.fct_invoices (invoice_id varchar, invoice_number varchar, is_disputed boolean)")
        for invoice_id, customer_id, invoice_date, due_date, dpd, balance, currency, disputed in rows:
            con.execute(
                "insert into marts.fct_ar_aging values (?, ?, ?, ?, ?, ?, ?, '1-30', ?, ?)",
                [AS_OF, invoice_id, customer_id, currency, invoice_date, due_date, dpd, balance, balance],
            )
            con.execute("insert into marts.fct_invoices values (?, ?, ?)", [invoice_id, f"RE-{invoice_id}", disputed])
        con.execute(
            "create table marts.fct_collection_actions (invoice_id varchar, is_latest_promise boolean, "
            "promise_status varchar)"
        )
        con.execute("insert into marts.fct_collection_actions values ('C_DE-promised', true, 'pending')")
    return path


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_serving(tmp_path_factory.mktemp("dunning") / "serving.duckdb")


def letters(serving: Path, sender: dunning.Sender) -> dict[str, mail.Email]:
    emails, warnings = dunning.emails(data.snapshot(serving), AlertConfig(), set(), sender)
    assert warnings == []
    return {email.to[0].split("<")[1].rstrip(">"): email for email in emails}


def by_customer(serving: Path, sender: dunning.Sender = SENDER) -> dict[str, mail.Email]:
    emails = letters(serving, sender)
    return {customer_id: emails[email] for customer_id, _, _, _, email in CUSTOMERS}


def visible_text(html: str) -> str:
    """What a reader sees of the HTML: tags dropped, entities decoded."""
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", html))


# What each language's letter must say, written by hand: subject, the three amounts, the two
# totals with their labels, the first due date and the letter's date.
EXPECTED = {
    "C_DE": {
        "subject": "Zahlungserinnerung: 3 offene Rechnungen",
        "amounts": [f"1.234,50{NBSP}€", f"250,25{NBSP}€", f"99,00{NBSP}$"],
        "totals": [f"Summe EUR: 1.484,75{NBSP}€", f"Summe USD: 99,00{NBSP}$"],
        "dates": ["16.10.2026", "Datum: 30.11.2026"],
        "not_due": "noch nicht fällig",
        "payment": "auf das unten genannte Konto",
        "pay_online": "Jetzt bezahlen",
    },
    "C_FR": {
        "subject": "Rappel de paiement : 3 factures impayées",
        "amounts": [f"1{NNBSP}234,50{NBSP}€", f"250,25{NBSP}€", f"99,00{NBSP}$US"],
        "totals": [f"Total EUR : 1{NNBSP}484,75{NBSP}€", f"Total USD : 99,00{NBSP}$US"],
        "dates": ["16 oct. 2026", "Date : 30 nov. 2026"],
        "not_due": "non échue",
        "payment": "sur le compte ci-dessous",
        "pay_online": "Payer en ligne",
    },
    "C_ES": {
        "subject": "Recordatorio de pago: 3 facturas pendientes",
        "amounts": [f"1.234,50{NBSP}€", f"250,25{NBSP}€", f"99,00{NBSP}US$"],
        "totals": [f"Total EUR: 1.484,75{NBSP}€", f"Total USD: 99,00{NBSP}US$"],
        "dates": ["16 oct 2026", "Fecha: 30 nov 2026"],
        "not_due": "no vencida",
        "payment": "en la cuenta indicada a continuación",
        "pay_online": "Pagar en línea",
    },
    "C_EN": {
        "subject": "Payment reminder: 3 open invoices",
        "amounts": ["€1,234.50", "€250.25", "$99.00"],
        "totals": ["Total EUR: €1,484.75", "Total USD: $99.00"],
        "dates": ["Oct 16, 2026", "Date: Nov 30, 2026"],
        "not_due": "not yet due",
        "payment": "to the account below",
        "pay_online": "Pay online",
    },
}


@pytest.mark.parametrize("customer_id", sorted(EXPECTED))
def test_each_language_writes_subject_amounts_dates_and_totals_its_own_way(serving: Path, customer_id: str) -> None:
    email = by_customer(serving)[customer_id]
    expected = EXPECTED[customer_id]
    assert email.subject == expected["subject"]
    page = visible_text(email.html)
    for shown in (email.text, page):
        for amount in expected["amounts"]:
            assert amount in shown
        for date in expected["dates"]:
            assert date in shown
        assert expected["not_due"] in shown  # the USD invoice is 2 days before its due date
        assert expected["payment"] in shown
    for total in expected["totals"]:
        assert total in email.text
        label, amount = total.rsplit(": ", 1)
        # In the HTML the total is the foot row of the table: its label cell, then its amount cell
        # (the no-break space written as &nbsp; there).
        cells = rf"<td[^>]*>{re.escape(label.rstrip())}</td><td[^>]*>{re.escape(amount)}</td>"
        assert re.search(cells, html_lib.unescape(email.html))
    # The disputed invoice and the one under a pending promise are not in C_DE's letter.
    assert "disputed" not in email.text and "promised" not in email.text
    # Invoices in order of their due date.
    positions = [email.text.index(f"RE-{customer_id}-{n}") for n in "123"]
    assert positions == sorted(positions)


def test_one_invoice_is_singular_and_the_country_sets_the_formats(serving: Path) -> None:
    email = by_customer(serving)["C_AT"]
    assert email.subject == "Zahlungserinnerung: 1 offene Rechnung"
    # Austrian German puts the euro sign first: "€ 1.234,50".
    assert f"€{NBSP}1.234,50" in email.text and f"Summe EUR: €{NBSP}1.234,50" in email.text
    assert "ist die folgende Rechnung noch offen" in email.text and "den offenen Betrag" in email.text
    assert "USD" not in email.text  # one currency, one total


def test_a_language_without_templates_gets_the_default_locale(serving: Path) -> None:
    english = by_customer(serving)["C_IT"]
    assert english.subject == "Payment reminder: 3 open invoices" and "€1,234.50" in english.text
    german = by_customer(serving, dunning.Sender(default_locale="de_DE"))["C_IT"]
    assert german.subject == "Zahlungserinnerung: 3 offene Rechnungen" and f"1.234,50{NBSP}€" in german.text


def test_letter_locale_from_language_and_country() -> None:
    assert dunning.letter_locale("de", "AT", "en_US") == "de_AT"
    assert dunning.letter_locale("es", "MX", "en_US") == "es_MX"
    assert dunning.letter_locale("de", "US", "en_US") == "de"  # Babel has no de_US: German as such
    assert dunning.letter_locale("DE", None, "en_US") == "de"
    assert dunning.letter_locale("it", "IT", "fr_FR") == "fr_FR"
    assert dunning.letter_locale(None, "DE", "en_US") == "en_US"


def english_words(text: str) -> set[str]:
    return {word.lower() for word in re.findall(r"[A-Za-zÀ-ÿ]+", text)}


def test_the_german_letter_has_no_english_word_but_the_data(serving: Path) -> None:
    emails = by_customer(serving)
    german, english = emails["C_DE"], emails["C_EN"]
    # Words that come from the data or the settings, not from the template's wording.
    data_words = english_words(
        " ".join(
            [
                "Müller & Söhne GmbH Acme Corp C_DE C_EN EUR USD",
                *(f"RE-C_DE-{n} RE-C_EN-{n}" for n in "123"),
                *SENDER.letterhead,
                *SENDER.payment_lines,
                "https pay example com c",
            ]
        )
    )
    german_words = english_words(" ".join([german.subject, german.text, visible_text(german.html)]))
    english_words_ = english_words(" ".join([english.subject, english.text, visible_text(english.html)]))
    assert german_words & english_words_ <= data_words, sorted((german_words & english_words_) - data_words)
    for word in ("open", "invoice", "invoices", "payment", "reminder", "due", "total", "sent", "data", "days"):
        assert word not in german_words


def test_sender_block_and_payment_instructions_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import Settings

    for name, value in SENDER_ENV.items():
        monkeypatch.setenv(name, value)
    assert dunning.Sender.from_settings(Settings()) == SENDER


def test_each_letter_shows_the_sender_and_how_to_pay(serving: Path) -> None:
    email = by_customer(serving)["C_DE"]
    assert email.text.startswith("Nordlicht Handels GmbH\nHafenstraße 12\n20457 Hamburg\n\nMüller & Söhne GmbH\n")
    assert "\n    Hamburger Sparkasse\n    IBAN DE89 3704 0044 0532 0130 00\n    BIC HASPDEHHXXX\n" in email.text
    assert "Jetzt bezahlen: https://pay.example.com/c/C_DE" in email.text
    assert email.text.rstrip().endswith("Ihre Debitorenbuchhaltung\nNordlicht Handels GmbH")
    assert "Hafenstraße 12 · 20457 Hamburg" in visible_text(email.html)
    assert "Hamburger Sparkasse<br>IBAN DE89 3704 0044 0532 0130 00<br>BIC HASPDEHHXXX" in email.html
    assert 'href="https://pay.example.com/c/C_DE"' in email.html


@pytest.mark.parametrize("customer_id", sorted(EXPECTED))
def test_without_sender_settings_a_letter_has_no_empty_parts(serving: Path, customer_id: str) -> None:
    email = by_customer(serving, dunning.Sender())[customer_id]
    name = next(c[1] for c in CUSTOMERS if c[0] == customer_id)
    assert email.text.startswith(f"{name}\n")  # no blank letterhead above the customer
    assert "\n\n\n" not in email.text
    assert EXPECTED[customer_id]["payment"] not in email.text  # "to the account below": no account
    assert EXPECTED[customer_id]["pay_online"] not in email.text
    assert 'class="payment"' not in email.html and 'class="letterhead"' not in email.html
    for shown in (email.text, email.html):
        assert "None" not in shown and "IBAN" not in shown and "{{" not in shown


def test_bad_default_locale_is_one_line_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import Settings

    monkeypatch.setenv("O2C_DUNNING_LOCALE", "xx_YY")
    with pytest.raises(ValueError, match=r"^O2C_DUNNING_LOCALE='xx_YY': not a locale Babel knows"):
        dunning.Sender.from_settings(Settings())
    monkeypatch.setenv("O2C_DUNNING_LOCALE", "it_IT")
    with pytest.raises(ValueError, match=r"^O2C_DUNNING_LOCALE='it_IT': no dunning templates in that language"):
        dunning.Sender.from_settings(Settings())


def test_every_html_email_has_its_css_inlined() -> None:
    # Another kind than dunning: every HTML email goes through render.html.
    page = render.html(
        "threshold_alerts",
        alerts=[{"rule": "dso_above_target", "message": "DSO 51 days"}],
        as_of=AS_OF,
        dashboard_url="http://localhost:8501",
        build_id=None,
    )
    assert "<style" not in page
    assert re.search(r'<td style="[^"]*padding: 4px 8px', page)
    assert re.search(r'<body style="[^"]*font-family: Arial', page)


def test_names_with_line_breaks_or_markup_cannot_inject() -> None:
    evil = 'Acme "Ltd"\r\nBcc: thief@example.com\r\n<script>alert(1)</script>'
    items = pl.DataFrame(
        {
            "invoice_number": ["<b>INV1</b>"],
            "invoice_date": [dt.date(2026, 5, 2)],
            "due_date": [dt.date(2026, 6, 1)],
            "days_past_due": [29],
            "open_balance": [10.0],
            "currency": ["USD"],
        }
    )
    subject, html, text = dunning.letter(
        {"customer_id": "C1", "customer_name": evil}, items, dt.date(2026, 6, 30), dunning.Sender(), "dunning_en", "en"
    )
    email = mail.Email(key="test/1", to=(mail.address(evil, "ap@acme.example"),), subject=subject, html=html, text=text)
    message = message_from_bytes(bytes(mail.build(email, "o2c <o2c@localhost>")), policy=policy.default)
    assert message["Bcc"] is None
    assert [a.addr_spec for a in message["To"].addresses] == ["ap@acme.example"]
    body = message.get_body(("html",)).get_content()
    assert "<script>" not in body and "&lt;script&gt;" in body and "&lt;b&gt;INV1" in body
    with pytest.raises(ValueError):
        mail.build(mail.Email("test/2", ("ap@acme.example",), "Reminder\r\nBcc: thief@example.com", "", ""), "o2c")


def test_the_dunning_run_sends_the_letters_through_smtp(
    serving: Path, smtp: mail_world.Inbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("O2C_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("O2C_SERVING_PATH", str(serving))
    monkeypatch.delenv("O2C_OPS_URL", raising=False)
    monkeypatch.delenv("O2C_ALERTS_CONFIG", raising=False)
    for name, value in SENDER_ENV.items():
        monkeypatch.setenv(name, value)
    outcome = runner.run("dunning", get_settings())
    assert outcome.sent == len(smtp.messages) == len(CUSTOMERS)
    received = {m["To"].addresses[0].addr_spec: m for m in smtp.messages}
    german = received["ap@mueller.example"]
    assert german["Subject"] == "Zahlungserinnerung: 3 offene Rechnungen"
    assert german["To"].addresses[0].display_name == "Müller & Söhne GmbH"
    text = german.get_body(("plain",)).get_content()
    assert f"Summe EUR: 1.484,75{NBSP}€" in text and "IBAN DE89 3704 0044 0532 0130 00" in text
    page = german.get_body(("html",)).get_content()
    # The styles are on the elements (Gmail and Outlook drop <style> blocks), none left over.
    assert "<style" not in page
    assert re.search(r'<td class="num" style="[^"]*text-align: right', page)
    assert re.search(r'<tr class="total"><td colspan="4" style="[^"]*font-weight: bold', page)
    log = sendlog.location(get_settings())
    # Every letter's invoices recorded (C_AT one, the others three each); nothing goes twice.
    assert len(sendlog.sent(log, "dunning")) == 3 * (len(CUSTOMERS) - 1) + 1
    assert runner.run("dunning", get_settings()).sent == 0
