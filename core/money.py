"""Money as the source contract holds it: one home for the limits of an amount, shared by the
pipeline (ingestion/contract.py types every amount with them, ingestion/conform.py quarantines
what does not fit) and the ops store (core/ops_store.py refuses, before "Saved", an amount the
next run would quarantine)."""

from decimal import Decimal

# Money is DECIMAL(18,2): exact, and wide enough for ten-digit amounts in any currency.
MONEY_PRECISION, MONEY_SCALE = 18, 2
# FX rates keep eight decimals (central banks publish four to six).
RATE_PRECISION, RATE_SCALE = 18, 8


def amount_problem(value: Decimal, precision: int = MONEY_PRECISION, scale: int = MONEY_SCALE) -> str | None:
    """Why `value` is no DECIMAL(precision, scale), in words (None when it is one): more decimals
    than `scale` are refused, never rounded; more digits before the point than the rest of
    `precision` do not fit."""
    if not value.is_finite():
        return "is not a number"
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > scale:
        return f"has more than {scale} decimals"
    whole_digits = precision - scale
    if abs(value) >= Decimal(10) ** whole_digits:
        return f"is too large (at most {whole_digits} digits before the decimal point)"
    return None
