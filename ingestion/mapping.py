"""The mapping file: load your own export as it is, without editing it.

An export folder (O2C_CONTRACT_DIR) may hold one mapping file in its root, `o2c-mapping.toml` or
`o2c-mapping.yaml` (`.yml`). It says which files hold which entity, which export column is which
contract column, and how the export writes dates, numbers and booleans. Without it, the files
must already be in contract form (`<entity>.csv`, contract column names, ISO dates, `1234.56`).

```toml
[defaults]                        # all optional; apply to every entity unless it overrides them
date_format = "%d/%m/%Y"          # strftime format of date columns
timestamp_format = "%d/%m/%Y %H:%M"   # of timestamp columns
decimal_separator = ","           # "." (default) or ","
thousands_separator = "."         # none by default; ".", ",", " " or "'"
true_values = ["Y", "Ja"]         # extra spellings of true in boolean columns
false_values = ["N", "Nein"]      # extra spellings of false
currency = "EUR"                  # fills a blank or missing currency column
delimiter = ";"                   # CSV field separator ("," by default)
encoding = "cp1252"               # CSV text encoding ("utf-8" by default)

[entities.invoices]
files = ["AR_Ledger*.csv", "open_items/*.csv"]  # globs relative to the folder
date_format = "%m/%d/%Y"          # any default can be overridden per entity

[entities.invoices.columns]       # contract column = export column header
invoice_id = "Document No"
invoice_number = "Document No"    # one export column may feed several contract columns
invoice_date = "Posting Date"

[entities.payments.constants]     # a contract column given one value for every row
payment_type = "payment"
```

The YAML file has the same structure. Every YAML value is read as text, so `NO` (Norway) and
`yes` stay as written instead of turning into booleans.

What each part does, in the order it is applied to a file's rows:

- `files`: globs relative to the folder (`*` stays within one folder, `**/` spans folders). A file
  belongs to the first entity, in the order of the mapping file, one of whose globs matches its
  path. A file that no glob matches falls back to the name rule (`<entity>.csv`,
  `<entity>_*.csv`, `<entity>/…`). The mapping file itself is never a data file.
- `columns`: each export column is renamed to its contract column. Headers match exactly (case
  and spaces count). Columns the mapping does not name are kept as they are: they may already
  carry contract names, or be extra columns (loaded as text). When the file also has a column
  that already has the name of a mapped contract column, the mapped export column wins and the
  other is dropped. A mapped header missing from a file is reported (`missing_columns`); the
  contract column is then missing, which the load reports if it is required.
- `constants`: the contract column takes this value in every row, replacing the file's column of
  that name if there is one. A column cannot be both mapped and a constant.
- `currency`: a blank or missing `currency` column is filled with it; a currency in the file is
  never overwritten.
- Formats, by the contract type of each column: dates are rewritten as `YYYY-MM-DD`, timestamps
  as `YYYY-MM-DD HH:MM:SS` (a timestamp column also accepts a date in `date_format`, read as
  midnight; a `%z` offset is converted to UTC), amounts, rates and integers as `-1234.56`
  (thousands separators removed, the decimal separator made a point; a leading or trailing minus
  and parentheses mark a negative: `(12,50)` and `12,50-` give `-12.50`), booleans as
  `true`/`false`. A number only counts as written with a thousands separator when the groups are
  of three digits (`1.234,56`, not `12.50`), and a `%Y` year only when it has four digits. Number
  forms are normalised for every entity as soon as there is a mapping file, with `.` and no
  thousands separator unless declared.

A value that does not match the declared format is left exactly as it is, never blanked or
dropped: the load then quarantines its row with the usual reason (for example
`invoice_date: cannot parse as a date (%d/%m/%Y, the mapping's date_format, or YYYY-MM-DD)`),
naming the file, row and value. A value already in contract form (`2026-04-03`, `1234.56`) therefore still loads.

The mapping file is checked when it is read: an unknown key, entity or contract column, a date or
timestamp format without a year, month and day (timestamps: also hour and minute) or that cannot
read back what it writes, equal decimal and thousands separators, a currency outside the
contract's ISO 4217 list, a value both true and false, or both a TOML and a YAML file, each stop
the load with one line naming the file and the key.
"""

from __future__ import annotations

import codecs
import dataclasses
import datetime as dt
import difflib
import functools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import yaml

from ingestion.contract import ENTITIES, ISO_CURRENCIES, ColumnType

MAPPING_FILE_NAMES = ("o2c-mapping.toml", "o2c-mapping.yaml", "o2c-mapping.yml")
ISO_DATE = "%Y-%m-%d"
ISO_TIMESTAMP = "%Y-%m-%d %H:%M:%S"
DECIMAL_SEPARATORS = (".", ",")
THOUSANDS_SEPARATORS = ("", ".", ",", " ", "'")  # "" = none


class MappingError(ValueError):
    """The mapping file is invalid; the message is one line naming the file and the key."""


class MappedColumn(NamedTuple):
    export: str  # header in the export file
    contract: str  # contract column it becomes


@dataclass(frozen=True)
class Formats:
    """How an export writes its values. None / "" / () mean: not declared, leave as is."""

    date_format: str | None = None
    timestamp_format: str | None = None
    decimal_separator: str = "."
    thousands_separator: str = ""
    true_values: tuple[str, ...] = ()
    false_values: tuple[str, ...] = ()
    currency: str | None = None
    # How a CSV file is written: its field separator and its text encoding.
    delimiter: str = ","
    encoding: str = "utf-8"


_FORMAT_KEYS = tuple(f.name for f in dataclasses.fields(Formats))


@dataclass(frozen=True)
class EntityMapping:
    files: tuple[str, ...] = ()  # globs relative to the folder; () = the default name rule only
    columns: dict[str, str] = field(default_factory=dict)  # contract column -> export header
    constants: dict[str, str] = field(default_factory=dict)  # contract column -> value
    formats: Formats = Formats()


@dataclass(frozen=True)
class Mapping:
    """A parsed mapping file. `Mapping.empty()` (no file) changes nothing."""

    path: Path | None = None
    defaults: Formats = Formats()
    entities: dict[str, EntityMapping] = field(default_factory=dict)  # in file order

    @classmethod
    def empty(cls) -> Mapping:
        return cls()

    @property
    def is_empty(self) -> bool:
        return self.path is None and not self.entities and self.defaults == Formats()

    def for_entity(self, entity: str) -> EntityMapping:
        """What the mapping says about `entity` (the defaults when it does not name it)."""
        if entity not in ENTITIES:
            raise ValueError(f"unknown entity {entity!r}")
        return self.entities.get(entity) or EntityMapping(formats=self.defaults)

    def csv_options(self, entity: str) -> tuple[str, str]:
        """(delimiter, encoding) of the entity's CSV files."""
        formats = self.for_entity(entity).formats
        return formats.delimiter, formats.encoding

    def format_labels(self, entity: str) -> dict[str, str]:
        """What a date or timestamp of `entity` must look like, by column type, where the mapping
        declares its own format: the reason a value that matches neither form is quarantined with
        (`invoice_date: cannot parse as a date (%d/%m/%Y, the mapping's date_format, or YYYY-MM-DD)`)."""
        formats = self.for_entity(entity).formats
        labels = {}
        if formats.date_format:
            labels["date"] = f"a date ({formats.date_format}, the mapping's date_format, or YYYY-MM-DD)"
        declared = [
            f"{value}, the mapping's {key}"
            for key, value in (("timestamp_format", formats.timestamp_format), ("date_format", formats.date_format))
            if value
        ]
        if declared:
            labels["timestamp"] = f"a timestamp ({'; '.join(declared)}; or YYYY-MM-DD HH:MM:SS, UTC)"
        return labels

    def is_mapping_file(self, path: Path, root: Path) -> bool:
        return path.relative_to(root).as_posix() in MAPPING_FILE_NAMES

    def entity_of(self, path: Path, root: Path) -> str | None:
        """The entity whose `files` globs first match `path`, else None (use the name rule)."""
        if self.is_mapping_file(path, root):
            return None
        relative = path.relative_to(root).as_posix()
        for name, entity in self.entities.items():
            if any(_glob_regex(glob).fullmatch(relative) for glob in entity.files):
                return name
        return None

    def missing_columns(self, frame: pl.DataFrame, entity: str) -> list[MappedColumn]:
        """The mapped export headers that `frame` lacks, in mapping order."""
        return [
            MappedColumn(export, contract)
            for contract, export in self.for_entity(entity).columns.items()
            if export not in frame.columns
        ]

    def describe(self, entity: str) -> dict[str, Any]:
        """For display: files, columns (contract column -> export header), constants, formats."""
        mapped = self.for_entity(entity)
        return {
            "entity": entity,
            "files": list(mapped.files),
            "columns": dict(mapped.columns),
            "constants": dict(mapped.constants),
            "formats": {
                k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(mapped.formats).items()
            },
        }

    def apply(self, frame: pl.DataFrame, entity: str) -> pl.DataFrame:
        """Rename, add constants, fill the default currency, normalise formats (see module doc).

        `frame` holds text columns (plus the lineage columns, passed through). Values that do
        not match the declared formats are left unchanged for the conform step to quarantine.
        """
        if self.is_empty:
            return frame
        mapped = self.for_entity(entity)
        contract = ENTITIES[entity]
        frame = _rename(frame, mapped.columns)
        if mapped.constants:
            frame = frame.with_columns([pl.lit(v, pl.String).alias(c) for c, v in mapped.constants.items()])
        currency = mapped.formats.currency
        if currency and "currency" in contract.column_names:
            if "currency" in frame.columns:
                blank = pl.col("currency").is_null() | (pl.col("currency").str.strip_chars() == "")
                frame = frame.with_columns(
                    pl.when(blank).then(pl.lit(currency)).otherwise(pl.col("currency")).alias("currency")
                )
            else:
                frame = frame.with_columns(pl.lit(currency, pl.String).alias("currency"))
        return normalise(frame, {c.name: c.type for c in contract.columns}, mapped.formats)


def _rename(frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    """Export headers to contract names, all at once, so that mappings may swap names."""
    feeds: dict[str, list[str]] = {}  # export header present in the frame -> contract columns
    for contract, export in columns.items():
        if export in frame.columns:
            feeds.setdefault(export, []).append(contract)
    replaced = {c for targets in feeds.values() for c in targets}
    selected: list[pl.Expr] = []
    for name in frame.columns:
        if name in feeds:
            selected.extend(pl.col(name).alias(c) for c in feeds[name])
        elif name not in replaced:
            selected.append(pl.col(name))
    return frame.select(selected)


# ---- Normalising values ---------------------------------------------------------------------


def normalise(frame: pl.DataFrame, types: dict[str, ColumnType], formats: Formats) -> pl.DataFrame:
    """Rewrite the text columns named in `types` from `formats` to contract form, vectorised.

    Columns absent from `frame` or not of type String are skipped; unparseable values are kept.
    """
    expressions = []
    for name, column_type in types.items():
        if name in frame.columns and frame.schema[name] == pl.String:
            expression = _normalised(name, column_type, formats)
            if expression is not None:
                expressions.append(expression.alias(name))
    return frame.with_columns(expressions) if expressions else frame


def _normalised(name: str, column_type: ColumnType, formats: Formats) -> pl.Expr | None:
    original = pl.col(name)
    text = original.str.strip_chars()
    match column_type:
        case "date":
            return _normalised_date(text, original, formats)
        case "timestamp":
            return _normalised_timestamp(text, original, formats)
        case "money" | "rate" | "int":
            return _number(text, original, formats, integer=column_type == "int")
        case "bool":
            return _normalised_bool(text, original, formats)
        case _:
            return None


def _normalised_date(text: pl.Expr, original: pl.Expr, formats: Formats) -> pl.Expr | None:
    if not formats.date_format:
        return None
    parsed = _four_digit_year(text.str.to_date(formats.date_format, strict=False))
    return pl.coalesce(parsed.dt.to_string(ISO_DATE), original)


def _normalised_timestamp(text: pl.Expr, original: pl.Expr, formats: Formats) -> pl.Expr | None:
    candidates = []
    if formats.timestamp_format:
        candidates.append(_to_datetime(text, formats.timestamp_format))
    if formats.date_format:
        candidates.append(text.str.to_date(formats.date_format, strict=False).cast(pl.Datetime("us")))
    if not candidates:
        return None
    parsed = _four_digit_year(pl.coalesce(candidates))
    return pl.coalesce(parsed.dt.to_string(ISO_TIMESTAMP), original)


def _normalised_bool(text: pl.Expr, original: pl.Expr, formats: Formats) -> pl.Expr | None:
    if not (formats.true_values or formats.false_values):
        return None
    lowered = text.str.to_lowercase()
    return (
        pl.when(lowered.is_in([v.lower() for v in formats.true_values]))
        .then(pl.lit("true"))
        .when(lowered.is_in([v.lower() for v in formats.false_values]))
        .then(pl.lit("false"))
        .otherwise(original)
    )


def _four_digit_year(parsed: pl.Expr) -> pl.Expr:
    # %Y reads "03/04/26" as the year 26; such a value is not in the declared format.
    return pl.when(parsed.dt.year().is_between(1000, 9999)).then(parsed)


def _to_datetime(text: pl.Expr, fmt: str) -> pl.Expr:
    parsed = text.str.to_datetime(fmt, time_unit="us", strict=False)
    # With an offset (%z) Polars converts to UTC and marks the zone; the contract is naive UTC.
    return parsed.dt.replace_time_zone(None) if "%z" in fmt or "%:z" in fmt else parsed


def _number(text: pl.Expr, original: pl.Expr, formats: Formats, *, integer: bool) -> pl.Expr:
    thousands = formats.thousands_separator
    # A space separator may be typed as a no-break or narrow no-break space (French exports).
    separator = "[ \u00a0\u202f]" if thousands == " " else re.escape(thousands)
    digits = rf"(?:[0-9]{{1,3}}(?:{separator}[0-9]{{3}})+|[0-9]+)" if thousands else "[0-9]+"
    body = digits if integer else rf"{digits}(?:{re.escape(formats.decimal_separator)}[0-9]+)?"
    shape = rf"^(?:[+-]?\s*{body}|{body}\s*-|\(\s*{body}\s*\))$"
    negative = text.str.starts_with("-") | text.str.ends_with("-") | text.str.starts_with("(")
    # The shape allows signs, parentheses and spaces only where they are removed here.
    unsigned = text.str.replace_all(r"[()+\-\s]", "")
    if thousands.strip():
        unsigned = unsigned.str.replace_all(thousands, "", literal=True)
    if formats.decimal_separator != ".":
        unsigned = unsigned.str.replace(formats.decimal_separator, ".", literal=True)
    canonical = pl.when(negative).then(pl.lit("-") + unsigned).otherwise(unsigned)
    return pl.when(text.str.contains(shape)).then(canonical).otherwise(original)


# ---- Globs ----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _glob_regex(glob: str) -> re.Pattern[str]:
    """A glob as a regex on a relative POSIX path: `*`, `?`, `[...]` within one folder, `**/` across."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2 :]:
            end = glob.index("]", i + 2)
            inner = glob[i + 1 : end]
            inner = "^" + inner[1:] if inner.startswith("!") else inner
            out.append("[" + inner.replace("\\", "\\\\") + "]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))


# ---- Reading and checking the mapping file --------------------------------------------------


def load_mapping(folder: Path) -> Mapping | None:
    """The mapping file in the root of `folder`, checked; None when there is none."""
    found = [folder / name for name in MAPPING_FILE_NAMES if (folder / name).is_file()]
    if not found:
        return None
    if len(found) > 1:
        raise MappingError(f"{folder}: several mapping files ({', '.join(p.name for p in found)}); keep only one")
    path = found[0]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read: {exc}") from exc
    return _parse(_load_toml(text, path) if path.suffix == ".toml" else _load_yaml(text, path), path)


def _load_toml(text: str, path: Path) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{path}: not valid TOML: {exc}") from exc


def _load_yaml(text: str, path: Path) -> Any:
    try:
        # BaseLoader reads every scalar as text: no yes/no/NO booleans, no numbers from headers.
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise MappingError(f"{path}: not valid YAML: {problem}{where}") from exc
    return {} if data is None or data == "" else data


def _fail(path: Path, key: str, problem: str) -> MappingError:
    return MappingError(f"{path}: {key}: {problem}")


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _table(value: Any, path: Path, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(path, key, f"must be a table of keys and values, not {value!r}")
    return value


def _check_keys(table: dict[str, Any], allowed: Iterable[str], path: Path, prefix: str) -> None:
    allowed = list(allowed)
    for key in table:
        if key not in allowed:
            raise _fail(path, f"{prefix}{key}", f"unknown key{_suggest(key, allowed)} (known: {', '.join(allowed)})")


def _text(value: Any, path: Path, key: str) -> str:
    """A scalar as text. TOML gives numbers, booleans and dates; they mean their usual spelling."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float | dt.date):
        text = str(value)
        if text.strip():
            return text
        raise _fail(path, key, "must not be empty")
    raise _fail(path, key, f"must be a single value, not {value!r}")


def _texts(value: Any, path: Path, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise _fail(path, key, f"must be a list, not {value!r}")
    return tuple(_text(v, path, f"{key}[{i}]") for i, v in enumerate(value))


def _parse(data: Any, path: Path) -> Mapping:
    top = _table(data, path, "(top level)")
    _check_keys(top, ("defaults", "entities"), path, "")
    defaults_table = _table(top.get("defaults", {}), path, "defaults")
    _check_keys(defaults_table, _FORMAT_KEYS, path, "defaults.")
    defaults = _formats(defaults_table, Formats(), path, "defaults")
    entities: dict[str, EntityMapping] = {}
    for name, body in _table(top.get("entities", {}), path, "entities").items():
        key = f"entities.{name}"
        if name not in ENTITIES:
            raise _fail(path, key, f"unknown entity{_suggest(name, ENTITIES)} (known: {', '.join(ENTITIES)})")
        body = _table(body, path, key)
        _check_keys(body, ("files", "columns", "constants", *_FORMAT_KEYS), path, f"{key}.")
        formats = _formats({k: v for k, v in body.items() if k in _FORMAT_KEYS}, defaults, path, key)
        files = _texts(body.get("files", []), path, f"{key}.files")
        for i, glob in enumerate(files):
            if glob.startswith("/") or ".." in glob.split("/") or re.match(r"^[A-Za-z]:", glob):
                raise _fail(path, f"{key}.files[{i}]", f"{glob!r} must be relative to the folder, inside it")
        known = ENTITIES[name].column_names
        columns: dict[str, str] = {}
        for contract, export in _table(body.get("columns", {}), path, f"{key}.columns").items():
            if contract not in known:
                raise _fail(path, f"{key}.columns.{contract}", f"not a column of {name}{_suggest(contract, known)}")
            columns[contract] = _text(export, path, f"{key}.columns.{contract}")
        constants: dict[str, str] = {}
        for contract, value in _table(body.get("constants", {}), path, f"{key}.constants").items():
            where = f"{key}.constants.{contract}"
            if contract not in known:
                raise _fail(path, where, f"not a column of {name}{_suggest(contract, known)}")
            if contract in columns:
                raise _fail(path, where, f"{contract} is also mapped from column {columns[contract]!r}; keep one")
            constants[contract] = _text(value, path, where)
            if contract == "currency" and constants[contract] not in ISO_CURRENCIES:
                raise _fail(path, where, f"{constants[contract]!r} is not an ISO 4217 code the contract accepts")
        entities[name] = EntityMapping(files, columns, constants, formats)
    return Mapping(path, defaults, entities)


def _formats(table: dict[str, Any], base: Formats, path: Path, prefix: str) -> Formats:
    """`base` overridden by the format keys of `table`, each checked, then checked together."""
    changes = {key: _format_value(key, value, path, f"{prefix}.{key}") for key, value in table.items()}
    formats = dataclasses.replace(base, **changes)
    if formats.decimal_separator == formats.thousands_separator:
        key = "thousands_separator" if "thousands_separator" in changes else "decimal_separator"
        raise _fail(path, f"{prefix}.{key}", f"decimal and thousands separators are both {formats.decimal_separator!r}")
    both = {v.lower() for v in formats.true_values} & {v.lower() for v in formats.false_values}
    if both:
        key = "false_values" if "false_values" in changes else "true_values"
        raise _fail(path, f"{prefix}.{key}", f"{sorted(both)[0]!r} is both a true and a false value")
    return formats


def _format_value(key: str, value: Any, path: Path, where: str) -> Any:
    """The value of one format key, checked on its own."""
    if key in ("true_values", "false_values"):
        return _texts(value, path, where)
    if key in ("decimal_separator", "thousands_separator"):
        # Taken as written: a space is a separator, "" means none.
        if not isinstance(value, str):
            raise _fail(path, where, f"must be text, not {value!r}")
        text = value
    else:
        text = _text(value, path, where)
    problem = _format_value_problem(key, text)
    if problem:
        raise _fail(path, where, problem)
    return text


def _format_value_problem(key: str, text: str) -> str | None:
    """Why `text` cannot be the value of format key `key`, or None when it can."""
    problem = None
    if key in ("date_format", "timestamp_format"):
        detail = _format_problem(text, "date" if key == "date_format" else "timestamp")
        if detail:
            problem = f"{text!r}: {detail}"
    elif key == "decimal_separator" and text not in DECIMAL_SEPARATORS:
        problem = f"{text!r} must be one of {', '.join(map(repr, DECIMAL_SEPARATORS))}"
    elif key == "thousands_separator" and text not in THOUSANDS_SEPARATORS:
        problem = f"{text!r} must be one of {', '.join(map(repr, THOUSANDS_SEPARATORS))}"
    elif key == "currency" and text not in ISO_CURRENCIES:
        problem = f"{text!r} is not an ISO 4217 code the contract accepts"
    elif key == "delimiter" and len(text) != 1:
        problem = f"{text!r} must be one character (',', ';', '|', a tab …)"
    elif key == "encoding" and not _is_encoding(text):
        problem = f"{text!r} is not a text encoding Python knows (utf-8, cp1252, latin-1 …)"
    return problem


def _is_encoding(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


# Which directives say each part of a date; shorthands expanded first.
_SHORTHANDS = {"%F": "%Y-%m-%d", "%D": "%m/%d/%y", "%T": "%H:%M:%S", "%R": "%H:%M"}
_PARTS = {
    "year": ("%Y", "%y"),
    "month": ("%m", "%b", "%B", "%h"),
    "day": ("%d", "%e"),
    "hour": ("%H", "%I", "%k", "%l"),
    "minute": ("%M",),
}
_SAMPLE = dt.datetime(2026, 11, 23, 14, 5, 9, tzinfo=dt.UTC)  # day > 12 and hour > 12: no ambiguity


def _format_problem(fmt: str, kind: str) -> str | None:
    """Why `fmt` cannot be the format of a date / timestamp column, or None when it can."""
    expanded = fmt
    for short, long in _SHORTHANDS.items():
        expanded = expanded.replace(short, long)
    needed = ["year", "month", "day"] + (["hour", "minute"] if kind == "timestamp" else [])
    for part in needed:
        if not any(d in expanded for d in _PARTS[part]):
            return f"no {part} directive ({' or '.join(_PARTS[part])})"
    # Write a known instant in the format and read it back: catches unknown directives, a 12-hour
    # clock without %p, and anything else Polars cannot parse.
    try:
        written = pl.Series([_SAMPLE.strftime(fmt)])
        if kind == "date":
            back = written.str.to_date(fmt, strict=False)[0]
            ok = back == _SAMPLE.date()
        else:
            parsed = written.str.to_datetime(fmt, time_unit="us", strict=False)
            back = parsed[0]
            ok = back is not None and back.replace(tzinfo=None, second=0) == _SAMPLE.replace(tzinfo=None, second=0)
    except Exception:  # Polars rejects the format itself
        ok = False
    return None if ok else "cannot read back a value written in this format (check the % directives)"
