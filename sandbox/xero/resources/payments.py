"""Payments (api-notes §6.3): against an AUTHORISED invoice, to a BANK account (or one with
EnablePaymentsToAccount), at most the amount outstanding. Immutable: the only update is
``{"Status":"DELETED"}``, which gives the amount back to the invoice."""

from __future__ import annotations

from django.utils import timezone

from sandbox.models import XeroInvoice, XeroPayment
from sandbox.xero import lifecycle
from sandbox.xero.dates import ms_date
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.money import round_money
from sandbox.xero.resources.base import (
    ApiContext,
    Resource,
    a_date,
    a_uuid,
    boolean,
    decimal,
    resolve_account,
    stamp_with_string,
    text,
    touch,
)
from sandbox.xero.resources.invoices import contact_summary
from sandbox.xero.where import FieldRef, Kind

PAYMENTS_READ = frozenset(
    {"accounting.transactions", "accounting.transactions.read", "accounting.payments", "accounting.payments.read"}
)
PAYMENTS_WRITE = frozenset({"accounting.transactions", "accounting.payments"})


class Payments(Resource):
    plural = "Payments"
    type_name = "Payment"
    id_key = "PaymentID"
    id_attr = "payment_id"
    model = XeroPayment
    paged = True
    supports_if_modified_since = True
    default_order = ("updated_at", "payment_id")
    read_scopes = PAYMENTS_READ
    write_scopes = PAYMENTS_WRITE
    where_fields = {
        "PaymentID": FieldRef("payment_id", Kind.GUID),
        "Status": FieldRef("status", Kind.STRING),
        "PaymentType": FieldRef("payment_type", Kind.STRING),
        "Date": FieldRef("date", Kind.DATE),
        "Amount": FieldRef("amount", Kind.NUMBER),
        "Reference": FieldRef("reference", Kind.STRING),
        "IsReconciled": FieldRef("is_reconciled", Kind.BOOL),
        "Invoice.InvoiceID": FieldRef("invoice__invoice_id", Kind.GUID),
        "Invoice.InvoiceNumber": FieldRef("invoice__invoice_number", Kind.STRING),
        "Invoice.Contact.ContactID": FieldRef("invoice__contact__contact_id", Kind.GUID),
        "UpdatedDateUTC": FieldRef("updated_at", Kind.DATETIME),
    }

    def queryset(self, ctx):
        return XeroPayment.objects.filter(tenant=ctx.tenant).select_related("invoice__contact", "account")

    def serialize(self, ctx: ApiContext, obj: XeroPayment, *, full: bool = True) -> dict:
        body = {
            "PaymentID": str(obj.payment_id),
            "Date": ms_date(obj.date),
            "Amount": obj.amount,
            "BankAmount": obj.bank_amount,
            "CurrencyRate": obj.currency_rate,
            "IsReconciled": obj.is_reconciled,
            "Status": obj.status,
            "PaymentType": obj.payment_type,
            "Account": {"AccountID": str(obj.account.account_id), "Code": obj.account.code},
            "HasAccount": True,
            "HasValidationErrors": False,
            **stamp_with_string(obj),
        }
        if obj.reference:
            body["Reference"] = obj.reference
        if obj.invoice:
            invoice = obj.invoice
            body["Invoice"] = {
                "Type": invoice.type,
                "InvoiceID": str(invoice.invoice_id),
                "InvoiceNumber": invoice.invoice_number,
                "Contact": contact_summary(invoice.contact) if invoice.contact else {},
                "CurrencyCode": invoice.currency_code,
            }
            if not invoice.invoice_number:
                body["Invoice"].pop("InvoiceNumber")
        return body

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroPayment:
        if target is not None or data.get("PaymentID"):
            return self._delete(ctx, target or self.get(ctx, str(data["PaymentID"])), data)
        return self._create(ctx, data)

    def _create(self, ctx: ApiContext, data: dict) -> XeroPayment:
        ref = data.get("Invoice")
        if not isinstance(ref, dict) or not (ref.get("InvoiceID") or ref.get("InvoiceNumber")):
            raise ValidationFailed("You must specify an Invoice (InvoiceID or InvoiceNumber) for the payment.")
        invoices = XeroInvoice.objects.select_for_update().filter(tenant=ctx.tenant).exclude(status="DELETED")
        if ref.get("InvoiceID"):
            invoice = invoices.filter(invoice_id=a_uuid(ref["InvoiceID"])).first()
        else:
            invoice = invoices.filter(invoice_number=ref["InvoiceNumber"]).first()
        if invoice is None:
            raise ValidationFailed("Invoice could not be found.")
        account_ref = data.get("Account") if isinstance(data.get("Account"), dict) else {}
        account = resolve_account(ctx, code=account_ref.get("Code"), account_id=account_ref.get("AccountID"))
        if account is None:
            raise ValidationFailed("Account could not be found.")
        if account.type != "BANK" and not account.enable_payments_to_account:
            raise ValidationFailed("Payments can only be made to bank accounts or accounts with EnablePaymentsToAccount.")
        amount = decimal(data, "Amount")
        if amount is None:
            raise ValidationFailed("Amount is required.")
        amount = round_money(amount)
        paid_on = a_date(data, "Date") or timezone.now().date()
        lifecycle.apply_payment(invoice, amount, paid_on)
        rate = decimal(data, "CurrencyRate") or invoice.currency_rate
        payment = XeroPayment.objects.create(
            tenant=ctx.tenant,
            created_by_app=ctx.app,
            invoice=invoice,
            account=account,
            date=paid_on,
            amount=amount,
            bank_amount=round_money(amount / rate) if rate else amount,
            currency_rate=rate,
            reference=text(data, "Reference", max_length=255) or "",
            is_reconciled=bool(boolean(data, "IsReconciled")),
            payment_type="ACCRECPAYMENT" if invoice.type == "ACCREC" else "ACCPAYPAYMENT",
        )
        ctx.event("INVOICE", "UPDATE", invoice.invoice_id)
        return payment

    def _delete(self, ctx: ApiContext, payment: XeroPayment | None, data: dict) -> XeroPayment:
        if payment is None:
            raise ValidationFailed("Payment could not be found.")
        if set(data) - {"PaymentID", "Status"} or data.get("Status") != "DELETED":
            raise ValidationFailed("Payments cannot be edited: only Status DELETED is accepted for an existing payment.")
        if payment.status == "DELETED":
            raise ValidationFailed("This payment has already been deleted.")
        payment.status = "DELETED"
        touch(payment)
        payment.save()
        if payment.invoice_id:
            invoice = XeroInvoice.objects.select_for_update().get(pk=payment.invoice_id)
            lifecycle.reverse_payment(invoice, payment.amount)
            ctx.event("INVOICE", "UPDATE", invoice.invoice_id)
        return payment
