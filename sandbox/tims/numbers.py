"""Decimal strings as the contract writes them: money in the currency's minor units, unit
prices with 4 to 6 decimals, quantities and percentages without trailing zeros."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

MINOR_UNITS = {"JPY": 0, "KRW": 0, "KWD": 3, "BHD": 3, "OMR": 3, "JOD": 3, "TND": 3}
ZERO = Decimal("0")
# Quantize exponents by number of decimal places, built once: every amount of a page needs one.
QUANTA = {places: Decimal(1).scaleb(-places) for places in range(11)}


def minor_units(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def round_money(value: Decimal, currency: str) -> Decimal:
    return Decimal(value).quantize(QUANTA[minor_units(currency)], rounding=ROUND_HALF_UP)


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    return text[1:] if text.startswith("-") and Decimal(text) == 0 else text


def money(value: Decimal | None, currency: str) -> str | None:
    return None if value is None else _plain(round_money(value, currency))


def _at_least(value: Decimal, places: int, most: int) -> str:
    exact = Decimal(value).quantize(QUANTA[most], rounding=ROUND_HALF_UP)
    short = exact.quantize(QUANTA[places])
    return _plain(short if short == exact else exact.normalize())


def unit_price(value: Decimal | None) -> str | None:
    """At least 4 decimals ("48.5000"), up to 6 when the price has them (gas per cubic foot)."""
    return None if value is None else _at_least(value, 4, 6)


def exchange_rate(value: Decimal) -> str:
    """ "1" for base-currency documents, else at least 4 decimals ("1.2710")."""
    value = Decimal(value)
    return "1" if value == 1 else _at_least(value, 4, 10)


def compact(value: Decimal | None) -> str | None:
    """Quantities, percentages, exchange rates: "4", "-2.5", "1.2710" → "1.271"."""
    if value is None:
        return None
    value = Decimal(value)
    if value == value.to_integral_value():
        return _plain(value.quantize(QUANTA[0]))
    return _plain(value.normalize())


def timestamp(value: datetime | None) -> str | None:
    """UTC with a ``Z`` and microseconds when there are any (``isoformat`` writes them only
    then, and with six digits)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def parse_timestamp(text: str) -> datetime:
    """RFC 3339 with an offset; raises ValueError otherwise."""
    if not isinstance(text, str) or "T" not in text.upper():
        raise ValueError("not an RFC 3339 timestamp")
    value = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("the timestamp needs an offset")
    return value.astimezone(UTC)
