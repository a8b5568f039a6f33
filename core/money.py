"""Money as the source contract holds it: one home for the limits of an amount, shared by the
pipeline (ingestion/contract.py types every amount with them, ingestion/conform.py quarantines
what does not fit) and the ops store (core/ops_store.py refuses, before "Saved", an amount the
next run would quarantine)."""

import re
from decimal import Decimal
from typing import Literal

# Money is DECIMAL(18,2): exact, and wide enough for ten-digit amounts in any currency.
MONEY_PRECISION, MONEY_SCALE = 18, 2
# FX rates keep eight decimals (central banks publish four to six).
RATE_PRECISION, RATE_SCALE = 18, 8


def decimal_limits(column_type: Literal["money", "rate"]) -> tuple[int, int]:
    """(precision, scale) of an amount or a rate."""
    return (MONEY_PRECISION, MONEY_SCALE) if column_type == "money" else (RATE_PRECISION, RATE_SCALE)


def decimal_pattern(column_type: Literal["money", "rate"]) -> str:
    """The text of a valid decimal: an optional sign, at most precision − scale digits before the
    point and at most `scale` after it; no exponent (1e5), no thousands separators."""
    precision, scale = decimal_limits(column_type)
    return rf"^[+-]?\d{{1,{precision - scale}}}(\.\d{{1,{scale}}})?$"


def decimal_misfits(column_type: Literal["money", "rate"]) -> list[tuple[str, str]]:
    """(pattern, reason) of numbers that do not fit the column, in the order they are checked:
    more decimals than it keeps (never rounded) or more digits than it holds."""
    precision, scale = decimal_limits(column_type)
    return [
        (rf"^[+-]?\d+\.\d{{{scale + 1},}}$", f"more than {scale} decimals (never rounded)"),
        (
            rf"^[+-]?\d{{{precision - scale + 1},}}(\.\d+)?$",
            f"too large: at most {precision - scale} digits before the decimal point",
        ),
    ]


def decimal_problem(value: object, column_type: Literal["money", "rate"] = "money") -> str | None:
    """Why `value` (text, int, float or Decimal) is not a valid amount (or rate) of the contract,
    in words for a person; None when it is valid. The one home of the limits that ingestion
    (`conform`) applies to source rows and that the dashboards apply to what a person types.
    A float counts by its shortest repr (0.1 is "0.1"; 0.1 + 0.2 has 17 decimals)."""
    if isinstance(value, bool) or value is None:
        return "not a number"
    if isinstance(value, (int, float, Decimal)):
        number = Decimal(str(value))
        if not number.is_finite():
            return "not a number"
        text = format(number, "f")
    else:
        text = str(value).strip()
    if re.fullmatch(decimal_pattern(column_type), text):
        return None
    for pattern, reason in decimal_misfits(column_type):
        if re.fullmatch(pattern, text):
            return reason
    _, scale = decimal_limits(column_type)
    return f"not a number with at most {scale} decimals (digits, an optional sign and point; no exponent or separators)"
