"""Normalising what banks and people type: names, invoice numbers, references, amounts.

Banks upper-case, truncate and decorate references ("INV-0042" arrives as "inv 42 payment" or
"PAYMENT REF INV0042/ACME"), so an invoice number is reduced to a key: its prefix class and its
last run of digits without leading zeros. Bare digit runs are kept as weaker keys when they
have at least three characters (Odoo keeps four; invoice numbers here are zero-padded).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

UNITS_PER_MAJOR = 10_000  # amounts are held as integers of 1/10,000: the database keeps 4 places
_UNIT = Decimal(UNITS_PER_MAJOR)

LEGAL_SUFFIXES = frozenset(
    "LTD LIMITED INC INCORPORATED LLC LLP LP PLC CO CORP CORPORATION COMPANY GMBH AG KG PTY PTE "
    "SA SAS SARL SRL SPA BV NV AB AS OY UG EV".split()
)
# Words a payer writes before an invoice number; all mean "invoice" to the matcher.
INVOICE_WORDS = frozenset("INV INVS INVOICE INVOICES INVNO INVOICENO INVOICENUMBER IN FACTURA FACTURE RECHNUNG RE BILL".split())
INVOICE_CLASS = "INV"
NUMBER_WORDS = frozenset("NO NR NUM NUMBER".split())
# Words that say nothing about which document a number belongs to: the digits after them
# count as bare digits.
NEUTRAL_WORDS = frozenset("REF REFERENCE PAYMENT PMT PAY PAID ID TXN TRANSFER FPS BACS CHAPS SEPA".split())

_DATE = re.compile(r"\b\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}\b")
_PREFIXED = re.compile(r"([A-Z]+)[\s#:\-_./]*((?:NO|NR|NUMBER)\.?[\s#:\-_.]*)?(\d+(?:\s*(?:,|&|\+|/|AND)\s*\d+)*)")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[A-Z0-9]+")


def to_units(amount: Decimal) -> int:
    return int((amount * _UNIT).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_units(units: int) -> Decimal:
    return (Decimal(int(units)) / _UNIT).quantize(Decimal("0.0001"))


def strip_accents(value: str) -> str:
    if value.isascii():
        return value
    return "".join(c for c in unicodedata.normalize("NFKD", value) if not unicodedata.combining(c))


@lru_cache(maxsize=200_000)
def normalise_name(value: str) -> str:
    """ "Acme Trading Ltd." and "ACME TRADING LIMITED" -> "ACME TRADING"; "The Widget Co. (UK)
    Pty Ltd" -> "WIDGET UK". Legal suffixes go only from the end, so "Company Shop Ltd" keeps
    its first word."""
    text = strip_accents(value or "").upper().replace("&", " AND ")
    text = re.sub(r"[.'’`]", "", text)
    tokens = _WORD.findall(text)
    while len(tokens) > 1 and tokens[-1] in LEGAL_SUFFIXES:
        tokens.pop()
    if len(tokens) > 1 and tokens[0] == "THE":
        tokens.pop(0)
    return " ".join(tokens)


def number_class(prefix: str) -> str:
    return INVOICE_CLASS if prefix in INVOICE_WORDS or prefix == "" else prefix


@lru_cache(maxsize=200_000)
def invoice_number_key(number: str) -> tuple[str, str] | None:
    """ "INV-0042" -> ("INV", "42"); "SI/2026/0042" -> ("SI", "42"); no digits -> None."""
    text = strip_accents(number or "").upper()
    runs = list(_DIGITS.finditer(text))
    if not runs:
        return None
    digits = runs[-1].group().lstrip("0") or "0"
    prefix = "".join(re.findall(r"[A-Z]+", text[: runs[0].start()]))
    return number_class(prefix), digits


@dataclass(frozen=True, slots=True)
class ReferenceKeys:
    """Invoice-number keys found in a reference: ``numbered`` after an invoice-like prefix
    (strong), ``digits`` bare runs of three or more characters (weak)."""

    numbered: tuple[tuple[str, str], ...]
    digits: tuple[str, ...]


@lru_cache(maxsize=200_000)
def reference_keys(reference: str) -> ReferenceKeys:
    """ "PAYMENT REF INV0042/ACME" -> numbered (("INV","42"),); "inv 42,43 thanks" -> both;
    "0042" -> digits ("42",); "PO 1234" -> nothing (another document's number); dates are
    ignored."""
    text = _DATE.sub(" ", strip_accents(reference or "").upper())
    numbered: list[tuple[str, str]] = []
    consumed: list[tuple[int, int]] = []
    for match in _PREFIXED.finditer(text):
        word = match.group(1)
        if word in NEUTRAL_WORDS:
            continue
        # "ACME LTD INV 42": the prefix is the last word before the digits.
        prefix_class = number_class(word) if word in INVOICE_WORDS else word
        if word in NUMBER_WORDS:
            prefix_class = INVOICE_CLASS
        for run in _DIGITS.findall(match.group(3)):
            numbered.append((prefix_class, run.lstrip("0") or "0"))
        consumed.append(match.span())
    digits: list[str] = []
    for match in _DIGITS.finditer(text):
        if any(start <= match.start() < end for start, end in consumed):
            continue
        if len(match.group()) >= 3:
            digits.append(match.group().lstrip("0") or "0")
    return ReferenceKeys(tuple(dict.fromkeys(numbered)), tuple(dict.fromkeys(digits)))


@lru_cache(maxsize=100_000)
def has_gateway(text: str, keywords: tuple[str, ...]) -> bool:
    upper = " ".join(_WORD.findall(strip_accents(text or "").upper()))
    return any(keyword in upper for keyword in keywords)
