"""The ``where`` grammar and its translation to the ORM."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Q

from sandbox.xero.errors import QueryParseError
from sandbox.xero.where import FieldRef, Kind, order_to_fields, where_to_q

FIELDS = {
    "Status": FieldRef("status", Kind.STRING),
    "Contact.ContactID": FieldRef("contact__contact_id", Kind.GUID),
    "Date": FieldRef("date", Kind.DATE),
    "AmountDue": FieldRef("amount_due", Kind.NUMBER),
    "Name": FieldRef("name", Kind.STRING),
    "IsCustomer": FieldRef("is_customer", Kind.BOOL),
}
GUID = "2b0a1a3b-6f8e-4b3a-9c1d-2a3b4c5d6e7f"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Status=="AUTHORISED"', Q(status__iexact="AUTHORISED")),
        ('Status = "AUTHORISED"', Q(status__iexact="AUTHORISED")),
        ('Status<>"PAID"', ~Q(status__iexact="PAID")),
        (f'Contact.ContactID==Guid("{GUID}")', Q(contact__contact_id=uuid.UUID(GUID))),
        ("Date>=DateTime(2020, 01, 01) AND Date<DateTime(2021,1,1)", Q(date__gte=date(2020, 1, 1)) & Q(date__lt=date(2021, 1, 1))),
        ('Status=="DRAFT" OR Status=="AUTHORISED" AND AmountDue>=10.5',
         Q(status__iexact="DRAFT") | (Q(status__iexact="AUTHORISED") & Q(amount_due__gte=Decimal("10.5")))),
        ('(Status=="DRAFT" OR Status=="SUBMITTED") AND IsCustomer==true',
         (Q(status__iexact="DRAFT") | Q(status__iexact="SUBMITTED")) & Q(is_customer=True)),
        ('Name.StartsWith("Acme") && NOT Name.Contains("Ltd")', Q(name__istartswith="Acme") & ~Q(name__icontains="Ltd")),
        ('name=="a \\"quoted\\" name"', Q(name__iexact='a "quoted" name')),
    ],
)
def test_where_compiles(text, expected):
    assert where_to_q(text, FIELDS, "Invoice") == expected


@pytest.mark.parametrize(
    "text",
    ["Foo==1", "Status==", 'Status==Guid("x")', 'Name.Foo("x")', "AmountDue>=\"ten\"", "Date>=DateTime(2020)", "IsCustomer==1"],
)
def test_bad_where_is_a_query_parse_error(text):
    with pytest.raises(QueryParseError):
        where_to_q(text, FIELDS, "Invoice")


def test_order():
    assert order_to_fields("Date DESC, Name", FIELDS, "Invoice") == ["-date", "name"]
    with pytest.raises(QueryParseError):
        order_to_fields("Date SIDEWAYS", FIELDS, "Invoice")
