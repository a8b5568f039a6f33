"""The mapping file: a company's own export (its headers, date and number formats) read as it is."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from ingestion.conform import SOURCE_FILE, SOURCE_ROW, conform
from ingestion.contract import ENTITIES
from ingestion.mapping import Formats, MappedColumn, Mapping, MappingError, load_mapping, normalise
from ingestion.sources import read_csv_file


def _mapping(folder: Path, text: str, name: str = "o2c-mapping.toml") -> Mapping:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    mapping = load_mapping(folder)
    assert mapping is not None
    return mapping


def _frame(**columns: list[str | None]) -> pl.DataFrame:
    """Text columns as the file connector hands them over, with lineage."""
    height = len(next(iter(columns.values())))
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String)).with_columns(
        pl.lit("export.csv").alias(SOURCE_FILE), pl.int_range(1, height + 1, dtype=pl.Int64).alias(SOURCE_ROW)
    )


# ---- Dates and timestamps ----------------------------------------------------------------------


def test_day_first_default_and_month_first_override(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        """
[defaults]
date_format = "%d/%m/%Y"
[entities.invoices]
date_format = "%m/%d/%Y"
""",
    )
    # The same text is 3 April in the day-first default and 4 March in the month-first invoices.
    payments = mapping.apply(_frame(payment_date=["03/04/2026", "31/12/2025"]), "payments")
    invoices = mapping.apply(_frame(invoice_date=["03/04/2026", "12/31/2025"], due_date=["3/4/2026", None]), "invoices")
    assert payments["payment_date"].to_list() == ["2026-04-03", "2025-12-31"]
    assert invoices["invoice_date"].to_list() == ["2026-03-04", "2025-12-31"]
    assert invoices["due_date"].to_list() == ["2026-03-04", None]


def test_values_that_do_not_parse_are_left_as_they_are(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[defaults]\ndate_format = "%d/%m/%Y"\n')
    # "03/04/26" has a two-digit year where the format says %Y (Polars would read the year 26).
    values = ["31/02/2026", "not a date", "03/04/26", "", None, "2026-04-03", " 03/04/2026 "]
    out = mapping.apply(_frame(payment_date=values), "payments")
    # Only the last one is in the declared format (spaces around it are ignored).
    assert out["payment_date"].to_list() == [*values[:6], "2026-04-03"]


def test_timestamps_take_their_format_or_a_date_at_midnight_and_offsets_become_utc(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        """
[defaults]
date_format = "%d.%m.%Y"
timestamp_format = "%d.%m.%Y %H:%M"
[entities.payments]
timestamp_format = "%Y-%m-%dT%H:%M:%S%z"
""",
    )
    invoices = mapping.apply(
        _frame(updated_at=["03.04.2026 14:05", "03.04.2026", "03.04.2026 25:00", "03.04.26"]), "invoices"
    )
    assert invoices["updated_at"].to_list() == [
        "2026-04-03 14:05:00",
        "2026-04-03 00:00:00",
        "03.04.2026 25:00",
        "03.04.26",
    ]
    # 14:05:09 at +02:00 is 12:05:09 UTC; 23:30 at -01:00 is 00:30 UTC the next day.
    payments = mapping.apply(_frame(updated_at=["2026-04-03T14:05:09+02:00", "2026-04-03T23:30:00-0100"]), "payments")
    assert payments["updated_at"].to_list() == ["2026-04-03 12:05:09", "2026-04-04 00:30:00"]


# ---- Numbers -----------------------------------------------------------------------------------


def test_european_amounts_become_canonical(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[defaults]\ndecimal_separator = ","\nthousands_separator = "."\n')
    raw = ["1.234,56", "(12,50)", "12,50-", "- 7", "+1.000.000", "12.50", "1.23,4", "12,5,0", "EUR 5", "", None]
    out = mapping.apply(_frame(invoice_amount=raw), "invoices")
    # "12.50" has a group of two digits after the thousands separator: not this format, kept.
    assert out["invoice_amount"].to_list() == [
        "1234.56",
        "-12.50",
        "-12.50",
        "-7",
        "1000000",
        "12.50",
        "1.23,4",
        "12,5,0",
        "EUR 5",
        "",
        None,
    ]


def test_space_apostrophe_and_comma_thousands(tmp_path: Path) -> None:
    spaces = _mapping(tmp_path / "fr", '[defaults]\ndecimal_separator = ","\nthousands_separator = " "\n')
    out = spaces.apply(_frame(invoice_amount=["1 234,5", "1\u00a0234,5", "12 345 678", "12 34,5"]), "invoices")
    assert out["invoice_amount"].to_list() == ["1234.5", "1234.5", "12345678", "12 34,5"]

    swiss = _mapping(tmp_path / "ch", '[defaults]\nthousands_separator = "\'"\n')
    out = swiss.apply(_frame(invoice_amount=["1'234.50", "(1'000)"]), "invoices")
    assert out["invoice_amount"].to_list() == ["1234.50", "-1000"]

    us = _mapping(tmp_path / "us", '[defaults]\nthousands_separator = ","\n')
    out = us.apply(_frame(rate=["1,234,567.12345678"], from_currency=["EUR"]), "fx_rates")
    assert out["rate"].to_list() == ["1234567.12345678"]


def test_integer_columns_take_no_decimals(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[defaults]\ndecimal_separator = ","\nthousands_separator = "."\n')
    out = mapping.apply(_frame(payment_terms_days=["30", "1.000", "30,0"]), "customers")
    assert out["payment_terms_days"].to_list() == ["30", "1000", "30,0"]


def test_bool_spellings() -> None:
    formats = Formats(true_values=("Y", "Ja"), false_values=("N", "Nein"))
    frame = _frame(is_paid=["Y", "ja", " JA ", "N", "nein", "true", "vielleicht", None])
    out = normalise(frame, {"is_paid": "bool"}, formats)
    assert out["is_paid"].to_list() == ["true", "true", "true", "false", "false", "true", "vielleicht", None]


# ---- Columns, constants, currency ----------------------------------------------------------------


def test_columns_are_renamed_and_one_export_column_may_feed_two(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        """
[entities.invoices.columns]
invoice_id = "Document No"
invoice_number = "Document No"
customer_id = "invoice_id"
invoice_date = "Posting Date"
""",
    )
    frame = _frame(**{"Document No": ["D1"], "invoice_id": ["C9"], "Posting Date": ["2026-04-03"], "Region": ["EMEA"]})
    out = mapping.apply(frame, "invoices")
    # The file's own invoice_id column is the customer; unmapped columns and lineage stay.
    assert out.columns == [
        "invoice_id",
        "invoice_number",
        "customer_id",
        "invoice_date",
        "Region",
        SOURCE_FILE,
        SOURCE_ROW,
    ]
    assert out.row(0) == ("D1", "D1", "C9", "2026-04-03", "EMEA", "export.csv", 1)
    assert mapping.missing_columns(frame, "invoices") == []


def test_a_mapped_column_replaces_a_file_column_of_the_same_name(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[entities.customers.columns]\ncustomer_name = "Name 1"\n')
    out = mapping.apply(_frame(customer_name=["short"], **{"Name 1": ["Acme GmbH"]}), "customers")
    assert out.drop(SOURCE_FILE, SOURCE_ROW).to_dicts() == [{"customer_name": "Acme GmbH"}]


def test_missing_mapped_header_is_reported_and_the_rest_still_maps(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        '[entities.invoices.columns]\ninvoice_id = "Document No"\ninvoice_date = "Posting Date"\n'
        'due_date = "Net Due"\n',
    )
    frame = _frame(**{"Document No": ["D1"], "Net Due": ["2026-05-03"]})
    assert mapping.missing_columns(frame, "invoices") == [MappedColumn("Posting Date", "invoice_date")]
    out = mapping.apply(frame, "invoices")
    assert out.columns == ["invoice_id", "due_date", SOURCE_FILE, SOURCE_ROW]


def test_default_currency_fills_blanks_but_never_overwrites(tmp_path: Path) -> None:
    mapping = _mapping(tmp_path, '[defaults]\ncurrency = "EUR"\n')
    out = mapping.apply(_frame(currency=["", None, "USD", "  "], invoice_id=["1", "2", "3", "4"]), "invoices")
    assert out["currency"].to_list() == ["EUR", "EUR", "USD", "EUR"]
    # A file without the column gets it; an entity without a currency column does not.
    assert mapping.apply(_frame(payment_id=["P1"]), "payments")["currency"].to_list() == ["EUR"]
    assert "currency" not in mapping.apply(_frame(application_id=["A1"]), "payment_applications").columns


def test_constants_fill_every_row_and_are_normalised_like_the_file(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        """
[defaults]
date_format = "%d/%m/%Y"
[entities.payments.constants]
payment_type = "payment"
payment_method = "bank_transfer"
[entities.customers.constants]
payment_terms_days = 30
""",
    )
    out = mapping.apply(_frame(payment_id=["P1", "P2"], payment_type=["refund", None]), "payments")
    assert out["payment_type"].to_list() == ["payment", "payment"]
    assert out["payment_method"].to_list() == ["bank_transfer", "bank_transfer"]
    # A TOML number is text like every other value.
    assert mapping.apply(_frame(customer_id=["C1"]), "customers")["payment_terms_days"].to_list() == ["30"]


def test_describe_shows_what_maps(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        '[defaults]\ndecimal_separator = ","\n[entities.invoices]\nfiles = ["AR*.csv"]\n'
        '[entities.invoices.columns]\ninvoice_id = "Beleg"\n[entities.invoices.constants]\ncurrency = "CHF"\n',
    )
    described = mapping.describe("invoices")
    assert described["files"] == ["AR*.csv"]
    assert described["columns"] == {"invoice_id": "Beleg"}
    assert described["constants"] == {"currency": "CHF"}
    assert described["formats"]["decimal_separator"] == ","
    # An entity the file does not name gets the defaults.
    assert mapping.describe("payments")["columns"] == {}
    assert mapping.describe("payments")["formats"]["decimal_separator"] == ","


# ---- Files -------------------------------------------------------------------------------------


def test_globs_choose_entities_in_file_order(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        """
[entities.invoices]
files = ["AR_Ledger*.csv", "open_items/*.csv"]
[entities.payments]
files = ["bank/**/*.csv", "AR_Ledger_cash.csv"]
""",
    )
    expected = {
        "AR_Ledger.csv": "invoices",
        "AR_Ledger_2026-03.csv": "invoices",
        "open_items/march.csv": "invoices",
        "open_items/old/march.csv": None,  # * stays within one folder
        "bank/a.csv": "payments",
        "bank/2026/03/a.csv": "payments",
        "AR_Ledger_cash.csv": "invoices",  # the first entity whose glob matches wins
        "invoices.csv": None,  # the caller's name rule decides
        "ar_ledger.csv": None,  # globs are case-sensitive
        "o2c-mapping.toml": None,
    }
    assert {rel: mapping.entity_of(tmp_path / rel, tmp_path) for rel in expected} == expected


def test_no_mapping_file_means_none_and_the_empty_mapping_changes_nothing(tmp_path: Path) -> None:
    assert load_mapping(tmp_path) is None
    frame = _frame(invoice_amount=["(12.50)"], invoice_date=["03/04/2026"], currency=[""])
    empty = Mapping.empty()
    assert empty.apply(frame, "invoices").equals(frame)
    assert empty.entity_of(tmp_path / "AR.csv", tmp_path) is None
    assert empty.missing_columns(frame, "invoices") == []


def test_yaml_and_toml_give_identical_results(tmp_path: Path) -> None:
    toml = _mapping(
        tmp_path / "toml",
        """
[defaults]
date_format = "%d/%m/%Y"
decimal_separator = ","
thousands_separator = " "
true_values = ["yes", "Y"]
false_values = ["no", "N"]
currency = "NOK"
[entities.customers]
files = ["Kunder*.csv"]
[entities.customers.columns]
customer_id = "2024"
customer_name = "Navn"
credit_limit = "Kredittgrense"
[entities.customers.constants]
country = "NO"
payment_terms_days = 14
""",
    )
    # Unquoted NO, yes, 2024 and 14: in YAML 1.1 a boolean and numbers; here all text.
    yaml = _mapping(
        tmp_path / "yaml",
        """
defaults:
  date_format: "%d/%m/%Y"
  decimal_separator: ","
  thousands_separator: " "
  true_values: [yes, Y]
  false_values: [no, N]
  currency: NOK
entities:
  customers:
    files: [Kunder*.csv]
    columns:
      customer_id: 2024
      customer_name: Navn
      credit_limit: Kredittgrense
    constants:
      country: NO
      payment_terms_days: 14
""",
        name="o2c-mapping.yml",
    )
    assert (yaml.defaults, yaml.entities) == (toml.defaults, toml.entities)
    frame = _frame(**{"2024": ["K1"], "Navn": ["Fjord AS"], "Kredittgrense": ["1 500 000,00"], "currency": [None]})
    expected = {
        "customer_id": "K1",
        "customer_name": "Fjord AS",
        "credit_limit": "1500000.00",
        "currency": "NOK",
        "country": "NO",
        "payment_terms_days": "14",
    }
    for mapping in (toml, yaml):
        assert mapping.apply(frame, "customers").drop(SOURCE_FILE, SOURCE_ROW).to_dicts() == [expected]
        assert mapping.entity_of(mapping.path.parent / "Kunder_2026.csv", mapping.path.parent) == "customers"


# ---- Errors in the mapping file --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[default]\ndate_format = "%d/%m/%Y"\n', "default", "did you mean 'defaults'"),
        ('[defaults]\ndate_fmt = "%d/%m/%Y"\n', "defaults.date_fmt", "unknown key"),
        ("[entities.invoice]\n", "entities.invoice", "unknown entity; did you mean 'invoices'"),
        ('[entities.invoices]\nfile = ["a.csv"]\n', "entities.invoices.file", "did you mean 'files'"),
        (
            '[entities.invoices.columns]\ninvoice_dat = "Posting Date"\n',
            "entities.invoices.columns.invoice_dat",
            "not a column of invoices; did you mean 'invoice_date'",
        ),
        (
            '[entities.payments.constants]\npaymenttype = "payment"\n',
            "entities.payments.constants.paymenttype",
            "not a column of payments",
        ),
        (
            '[entities.payments.columns]\npayment_type = "Art"\n[entities.payments.constants]\npayment_type = "payment"\n',
            "entities.payments.constants.payment_type",
            "also mapped from column 'Art'",
        ),
        ('[defaults]\ndate_format = "%d/%m"\n', "defaults.date_format", "no year directive"),
        ('[defaults]\ndate_format = "%Y-%m"\n', "defaults.date_format", "no day directive"),
        ('[defaults]\ndate_format = "%d/%m/%Y %Q"\n', "defaults.date_format", "cannot read back"),
        ('[defaults]\ntimestamp_format = "%d/%m/%Y"\n', "defaults.timestamp_format", "no hour directive"),
        (
            '[entities.payments]\ntimestamp_format = "%d/%m/%Y %I:%M"\n',
            "entities.payments.timestamp_format",
            "cannot read back",
        ),
        ('[defaults]\ndecimal_separator = ";"\n', "defaults.decimal_separator", "must be one of"),
        ('[defaults]\nthousands_separator = "."\n', "defaults.thousands_separator", "both '.'"),
        (
            '[defaults]\ndecimal_separator = ","\n[entities.invoices]\nthousands_separator = ","\n',
            "entities.invoices.thousands_separator",
            "both ','",
        ),
        ('[defaults]\ncurrency = "EURO"\n', "defaults.currency", "'EURO' is not an ISO 4217 code"),
        (
            '[entities.invoices.constants]\ncurrency = "XXX"\n',
            "entities.invoices.constants.currency",
            "not an ISO 4217 code",
        ),
        (
            '[defaults]\ntrue_values = ["J"]\nfalse_values = ["j"]\n',
            "defaults.false_values",
            "'j' is both a true and a false value",
        ),
        ('[entities.invoices]\nfiles = ["../other/*.csv"]\n', "entities.invoices.files[0]", "relative to the folder"),
        ("[entities.invoices.columns]\ninvoice_id = []\n", "entities.invoices.columns.invoice_id", "single value"),
        ('[defaults\ndate_format = "%d"\n', "not valid TOML", "line 1"),
        ('[defaults]\ndelimiter = ";;"\n', "defaults.delimiter", "one character"),
        ('[defaults]\nencoding = "klingon"\n', "defaults.encoding", "not a text encoding"),
    ],
)
def test_mapping_errors_are_one_line_naming_file_and_key(tmp_path: Path, text: str, key: str, problem: str) -> None:
    (tmp_path / "o2c-mapping.toml").write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as error:
        load_mapping(tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'o2c-mapping.toml'}: ")
    assert key in message and problem in message


def test_yaml_errors_name_the_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "o2c-mapping.yaml"
    path.write_text("entities:\n  invoices:\n    columns:\n      invoice_idd: Beleg\n", encoding="utf-8")
    with pytest.raises(MappingError, match=r"o2c-mapping\.yaml: entities\.invoices\.columns\.invoice_idd: "):
        load_mapping(tmp_path)
    path.write_text("entities: [unclosed\n", encoding="utf-8")
    with pytest.raises(MappingError) as error:
        load_mapping(tmp_path)
    assert str(error.value).startswith(f"{path}: not valid YAML") and "\n" not in str(error.value)


def test_a_toml_and_a_yaml_file_together_are_refused(tmp_path: Path) -> None:
    (tmp_path / "o2c-mapping.toml").write_text("", encoding="utf-8")
    (tmp_path / "o2c-mapping.yaml").write_text("", encoding="utf-8")
    with pytest.raises(MappingError) as error:
        load_mapping(tmp_path)
    assert str(error.value) == f"{tmp_path}: several mapping files (o2c-mapping.toml, o2c-mapping.yaml); keep only one"


# ---- Round trip through the conform step -----------------------------------------------------------


def test_a_mapped_export_conforms_to_typed_invoices(tmp_path: Path) -> None:
    mapping = _mapping(
        tmp_path,
        """
[defaults]
date_format = "%d/%m/%Y"
timestamp_format = "%d/%m/%Y %H:%M"
decimal_separator = ","
thousands_separator = "."
currency = "EUR"
[entities.invoices]
files = ["AR_Ledger*.csv"]
[entities.invoices.columns]
invoice_id = "Document No"
invoice_number = "Document No"
customer_id = "Customer"
order_id = "Sales Doc"
invoice_date = "Posting Date"
due_date = "Net Due Date"
invoice_amount = "Amount"
payment_terms_code = "Terms"
invoice_status = "Status"
updated_at = "Changed On"
""",
    )
    csv = tmp_path / "AR_Ledger_2026.csv"
    csv.write_text(
        "Document No,Customer,Sales Doc,Posting Date,Net Due Date,Amount,currency,Terms,Status,Changed On\n"
        '9001,C1,S1,03/04/2026,03/05/2026,"1.234,56",,NET30,open,03/04/2026 14:05\n'
        '9002,C2,S2,31/12/2025,30/01/2026,"12,50",USD,NET30,paid,02/01/2026\n'
        '9003,C3,S3,31/02/2026,30/03/2026,"10,00",EUR,NET30,open,01/03/2026 08:00\n',
        encoding="utf-8",
    )
    assert mapping.entity_of(csv, tmp_path) == "invoices"
    batch = read_csv_file(csv, tmp_path)
    assert batch.rows is not None and mapping.missing_columns(batch.rows, "invoices") == []
    result = conform(
        mapping.apply(batch.rows, "invoices"),
        ENTITIES["invoices"],
        source="files",
        format_labels=mapping.format_labels("invoices"),
    )

    rows = result.rows.select("invoice_id", "invoice_date", "due_date", "invoice_amount", "currency", "updated_at")
    assert rows.rows() == [
        (
            "9001",
            dt.date(2026, 4, 3),
            dt.date(2026, 5, 3),
            Decimal("1234.56"),
            "EUR",
            dt.datetime(2026, 4, 3, 14, 5),
        ),
        ("9002", dt.date(2025, 12, 31), dt.date(2026, 1, 30), Decimal("12.50"), "USD", dt.datetime(2026, 1, 2)),
    ]
    # 31 February is not a date: the row is quarantined with the original text, not blanked, and
    # the reason names the form the mapping declared, not only the contract's own.
    assert result.quarantine.select("file", "row_number", "column_name", "value", "reason").rows() == [
        (
            "AR_Ledger_2026.csv",
            3,
            "invoice_date",
            "31/02/2026",
            "invoice_date: cannot parse as a date (%d/%m/%Y, the mapping's date_format, or YYYY-MM-DD)",
        )
    ]
    assert mapping.format_labels("invoices")["timestamp"] == (
        "a timestamp (%d/%m/%Y %H:%M, the mapping's timestamp_format; %d/%m/%Y, the mapping's date_format; "
        "or YYYY-MM-DD HH:MM:SS, UTC)"
    )
    # Without a declared format the contract's form is the only one.
    assert Mapping.empty().format_labels("invoices") == {}


def test_a_semicolon_separated_windows_1252_export_reads_as_declared(tmp_path: Path) -> None:
    """A German accounting export: `;` between fields, decimal commas, Windows-1252 umlauts."""
    mapping = _mapping(
        tmp_path,
        '[defaults]\ndelimiter = ";"\nencoding = "cp1252"\ndecimal_separator = ","\nthousands_separator = "."\n'
        '[entities.customers.columns]\ncustomer_id = "Kundennr"\ncustomer_name = "Name"\n'
        '[entities.invoices]\ndelimiter = "|"\n',
    )
    export = tmp_path / "customers.csv"
    export.write_bytes("Kundennr;Name;Umsatz\nK1;Müller GmbH;1.234,50\nK2;Bäckerei Groß;99,00\n".encode("cp1252"))
    assert mapping.csv_options("customers") == (";", "cp1252")
    assert mapping.csv_options("invoices") == ("|", "cp1252")  # an entity overrides one default
    batch = read_csv_file(export, tmp_path, *mapping.csv_options("customers"))
    assert batch.error is None
    mapped = mapping.apply(batch.rows, "customers")
    assert mapped.select("customer_id", "customer_name", "Umsatz").rows() == [
        ("K1", "Müller GmbH", "1.234,50"),  # an extra column is not the contract's: kept as written
        ("K2", "Bäckerei Groß", "99,00"),
    ]
    # The same bytes read as UTF-8 (no encoding declared) are never guessed or garbled into the
    # warehouse: each row holding a byte that is not UTF-8 is marked for quarantine, naming the column.
    undeclared = read_csv_file(export, tmp_path, ";")
    assert (
        undeclared.rows is not None
        and undeclared.rows["_source_problem"].to_list()
        == ["Name: not valid UTF-8 text (a byte of another encoding)"] * 2
    )
    assert "declared as `encoding` in the mapping file" in undeclared.warnings[0]
