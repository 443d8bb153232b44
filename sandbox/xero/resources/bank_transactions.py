"""Bank transactions (api-notes §6.7): SPEND or RECEIVE (the other types are made by Xero),
a BANK account, lines; AUTHORISED by default; a TaxAmount override is refused."""

from __future__ import annotations

from django.utils import timezone

from sandbox.models import XeroBankTransaction
from sandbox.xero.dates import iso_date_string, ms_date
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.money import LineAmountTypes
from sandbox.xero.resources.base import (
    ApiContext,
    Resource,
    a_date,
    boolean,
    prefetch_references,
    resolve_account,
    resolve_contact,
    stamp,
    text,
    touch,
)
from sandbox.xero.resources.invoices import contact_summary, resolve_currency
from sandbox.xero.resources.lines import LineRules, build_lines, save_lines, serialize_line
from sandbox.xero.where import FieldRef, Kind

BANK_READ = frozenset(
    {"accounting.transactions", "accounting.transactions.read", "accounting.banktransactions", "accounting.banktransactions.read"}
)
BANK_WRITE = frozenset({"accounting.transactions", "accounting.banktransactions"})
TYPES = ("SPEND", "RECEIVE")
TRANSITIONS = {"AUTHORISED": {"AUTHORISED", "DELETED", "VOIDED"}}


class BankTransactions(Resource):
    plural = "BankTransactions"
    type_name = "BankTransaction"
    id_key = "BankTransactionID"
    id_attr = "bank_transaction_id"
    model = XeroBankTransaction
    paged = True
    supports_if_modified_since = True
    default_order = ("updated_at", "bank_transaction_id")
    read_scopes = BANK_READ
    write_scopes = BANK_WRITE
    where_fields = {
        "BankTransactionID": FieldRef("bank_transaction_id", Kind.GUID),
        "Type": FieldRef("type", Kind.STRING),
        "Status": FieldRef("status", Kind.STRING),
        "Reference": FieldRef("reference", Kind.STRING),
        "Date": FieldRef("date", Kind.DATE),
        "Total": FieldRef("total", Kind.NUMBER),
        "IsReconciled": FieldRef("is_reconciled", Kind.BOOL),
        "Contact.ContactID": FieldRef("contact__contact_id", Kind.GUID),
        "BankAccount.AccountID": FieldRef("bank_account__account_id", Kind.GUID),
        "BankAccount.Code": FieldRef("bank_account__code", Kind.STRING),
        "UpdatedDateUTC": FieldRef("updated_at", Kind.DATETIME),
    }

    read_back_in_bulk = True

    def prefetch_for_write(self, ctx, elements, *, creates_only):
        prefetch_references(ctx, elements)

    def queryset(self, ctx):
        return XeroBankTransaction.objects.filter(tenant=ctx.tenant).select_related("contact", "bank_account").prefetch_related("lines")

    def serialize(self, ctx: ApiContext, obj: XeroBankTransaction, *, full: bool = True) -> dict:
        body = {
            "BankTransactionID": str(obj.bank_transaction_id),
            "Type": obj.type,
            "BankAccount": {"AccountID": str(obj.bank_account.account_id), "Code": obj.bank_account.code, "Name": obj.bank_account.name},
            "IsReconciled": obj.is_reconciled,
            "Date": ms_date(obj.date),
            "DateString": iso_date_string(obj.date),
            "Status": obj.status,
            "LineAmountTypes": obj.line_amount_types,
            "SubTotal": obj.sub_total,
            "TotalTax": obj.total_tax,
            "Total": obj.total,
            "CurrencyCode": obj.currency_code,
            "HasAttachments": False,
            **stamp(obj),
        }
        if obj.contact:
            body["Contact"] = contact_summary(obj.contact)
        if obj.reference:
            body["Reference"] = obj.reference
        if obj.url:
            body["Url"] = obj.url
        if obj.currency_code != ctx.tenant.base_currency:
            body["CurrencyRate"] = obj.currency_rate
        if full:
            body["LineItems"] = [serialize_line(ctx, line) for line in obj.lines.all()]
        return body

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroBankTransaction:
        txn = target or (self.match_for_post(ctx, data) if method == "POST" else None)
        if txn is not None:
            status = text(data, "Status") or txn.status
            if status not in TRANSITIONS.get(txn.status, set()):
                raise ValidationFailed("Bank transaction not of valid status for modification")
            if txn.is_reconciled and set(data) - {"BankTransactionID", "Status"}:
                raise ValidationFailed("A reconciled bank transaction cannot be edited.")
            txn.status = status
            if status in ("DELETED", "VOIDED"):
                touch(txn)
                txn.save()
                return txn
        else:
            type_ = text(data, "Type")
            if type_ not in TYPES:
                raise ValidationFailed("Type must be SPEND or RECEIVE; the other types are created by Xero.")
            txn = XeroBankTransaction(tenant=ctx.tenant, created_by_app=ctx.app, type=type_, status="AUTHORISED")
            status = text(data, "Status") or "AUTHORISED"
            if status != "AUTHORISED":
                raise ValidationFailed(f"Status '{status}' is not valid for a new bank transaction.")
        bank_ref = data.get("BankAccount")
        if isinstance(bank_ref, dict):
            account = resolve_account(ctx, code=bank_ref.get("Code"), account_id=bank_ref.get("AccountID"))
            if account is None or account.type != "BANK":
                raise ValidationFailed("BankAccount must be an existing account of type BANK.")
            txn.bank_account = account
        elif txn.pk is None:
            raise ValidationFailed("BankAccount is required.")
        if data.get("Contact") is not None:
            txn.contact = resolve_contact(ctx, data["Contact"])
        elif txn.pk is None:
            raise ValidationFailed("A Contact must be specified for this type of transaction")
        txn.date = a_date(data, "Date") or txn.date or timezone.now().date()
        reference = text(data, "Reference", max_length=255)
        if reference is not None:
            txn.reference = reference
        url = text(data, "Url")
        if url is not None:
            txn.url = url
        reconciled = boolean(data, "IsReconciled")
        if reconciled is not None:
            txn.is_reconciled = reconciled
        txn.currency_code = resolve_currency(ctx, data, txn.currency_code)
        line_amount_types = text(data, "LineAmountTypes") or txn.line_amount_types or LineAmountTypes.EXCLUSIVE
        existing = {line.line_item_id: line for line in txn.lines.all()} if txn.pk else {}
        if "LineItems" not in data and txn.pk is None:
            raise ValidationFailed("LineItems are required.")
        rules = LineRules(sales=txn.type == "RECEIVE", require_accounts=True, allow_tax_override=False)
        raw_lines = data.get("LineItems") if "LineItems" in data else None
        if raw_lines is not None:
            specs, totals = build_lines(ctx, raw_lines, line_amount_types=line_amount_types, rules=rules, existing=existing)
            if not specs:
                raise ValidationFailed("A bank transaction must have at least one line item.")
            txn.line_amount_types = line_amount_types
            txn.sub_total, txn.total_tax, txn.total = totals.sub_total, totals.total_tax, totals.total
        touch(txn)
        txn.save()
        if raw_lines is not None:
            save_lines("bank_transaction", txn, specs)
        return txn
