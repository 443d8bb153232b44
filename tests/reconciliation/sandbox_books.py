"""A few real documents in the sandbox Xero organisation, written through the product's own
connector: a customer, three invoices, a payment and a bank receipt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from connectors.canonical import BankTransaction, Contact, ContactRef, Invoice, Line, LineAmountType, Payment
from integrations.models import Connection
from integrations.services.connectors import connector_for


@dataclass
class XeroBooks:
    contact_id: str
    invoices: dict[str, str]  # number -> InvoiceID
    payment_id: str
    bank_line_id: str


def xero_invoice(number: str, contact_id: str, amount: str) -> Invoice:
    # No tax, so the total is the amount: the figures in the tests read as they are.
    return Invoice(
        type="ACCREC", contact=ContactRef(remote_id=contact_id), number=number, reference=f"PO-{number[-3:]}",
        date=date(2026, 11, 2), due_date=date(2026, 12, 2), status="AUTHORISED", line_amount_types=LineAmountType.NO_TAX,
        lines=[Line(description="Cylinder rental", quantity=Decimal("1"), unit_amount=Decimal(amount), account_code="200",
                    tax_type="NONE")],
    )


def xero_books(connection: Connection, *, amounts: dict[str, str] | None = None) -> XeroBooks:
    client = connector_for(connection)
    [contact] = client.create_contacts({"c": Contact(name="Pennine Pipework PLC", number="C-0042")})
    amounts = amounts or {"INV-0301": "300.00", "INV-0302": "200.00", "INV-0303": "100.00"}
    created = client.create_invoices({n: xero_invoice(n, contact.remote_id, a) for n, a in amounts.items()})
    invoices = {r.source_ref: r.remote_id for r in created}
    assert all(r.ok for r in created), [r.errors for r in created]
    last = list(invoices)[-1]
    [payment] = client.create_payments({"p": Payment(amount=Decimal("40.00"), date=date(2026, 11, 10), invoice_id=invoices[last],
                                                     account_code="090", reference="CHQ 1001")})
    [bank] = client.create_bank_transactions({"b": BankTransaction(
        type="RECEIVE", bank_account_code="090", contact=ContactRef(remote_id=contact.remote_id), reference="BACS PENNINE 77",
        date=date(2026, 11, 12), line_amount_types=LineAmountType.NO_TAX,
        lines=[Line(description="Receipt", quantity=Decimal("1"), unit_amount=Decimal("500.00"), account_code="200", tax_type="NONE")],
    )})
    assert payment.ok and bank.ok, (payment.errors, bank.errors)
    return XeroBooks(contact_id=contact.remote_id, invoices=invoices, payment_id=payment.remote_id, bank_line_id=bank.remote_id)
