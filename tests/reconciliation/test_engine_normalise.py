"""Normalising names, invoice numbers and bank-mangled references."""

from __future__ import annotations

from decimal import Decimal

import pytest

from reconciliation.engine.normalise import from_units, invoice_number_key, normalise_name, reference_keys, to_units


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Acme Trading Ltd.", "ACME TRADING LIMITED"),
        ("Acme Trading Inc", "acme trading"),
        ("Müller GmbH", "MULLER"),
        ("The Widget Company Pty Ltd", "Widget"),
        ("Smith & Sons LLC", "SMITH AND SONS"),
    ],
)
def test_names_normalise_case_punctuation_accents_and_legal_suffixes(left, right):
    assert normalise_name(left) == normalise_name(right)


def test_a_legal_word_stays_when_it_is_the_whole_name():
    assert normalise_name("Limited") == "LIMITED"
    assert normalise_name("Company Shop Ltd") == "COMPANY SHOP"


@pytest.mark.parametrize(
    "reference",
    ["INV-0042", "inv 42 payment", "PAYMENT REF INV0042/ACME", "Invoice No. 42", "REF:INV-42 THANK YOU", "ACME LTD INV 42 2026-11-03"],
)
def test_bank_mangled_references_give_the_invoice_key(reference):
    assert reference_keys(reference).numbered == (("INV", "42"),)
    assert invoice_number_key("INV-0042") == ("INV", "42")


def test_lists_of_numbers_after_one_prefix():
    assert reference_keys("INV 42,43 & 44").numbered == (("INV", "42"), ("INV", "43"), ("INV", "44"))
    assert reference_keys("INVOICES 7 & 8").numbered == (("INV", "7"), ("INV", "8"))


def test_bare_digits_are_weak_keys_and_other_documents_numbers_are_not_invoice_numbers():
    assert reference_keys("00042").digits == ("42",)
    assert reference_keys("REF 0042").digits == ("42",)
    assert reference_keys("42").digits == ()  # too short to mean anything alone
    keys = reference_keys("PO 1234")
    assert keys.numbered == (("PO", "1234"),) and keys.digits == ()
    assert reference_keys("paid 2026-11-03").digits == ()  # a date is not a number


def test_amount_units_round_trip_exactly():
    assert to_units(Decimal("1234.5678")) == 12_345_678
    assert from_units(12_345_678) == Decimal("1234.5678")
