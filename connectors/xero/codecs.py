"""Xero JSON ⇄ the canonical model (``connectors.canonical``).

Decoders take dicts parsed with ``parse_float=Decimal``; encoders produce dicts for
``connectors.http.json_dumps`` and leave out what is empty or read-only, because Xero treats a
field that is present as a change (an omitted line on POST is even deleted, §6.2)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.base import MappingFailed
from connectors.canonical import (
    Account,
    Address,
    BankTransaction,
    Contact,
    ContactRef,
    CreditNote,
    Document,
    Invoice,
    Item,
    ItemPriceDetails,
    JournalLine,
    Line,
    LineAmountType,
    ManualJournal,
    Payment,
    Phone,
    TaxRate,
    TrackingCategory,
    TrackingOption,
    TrackingRef,
)

# --- Scalars -----------------------------------------------------------------------------------

# MS-.NET JSON dates: /Date(ms)/ or /Date(ms+hhmm)/ (api-notes/xero.md §5.1).
_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-])?(\d{2})?(\d{2})?\)/$")


def _ms_parts(value: str) -> tuple[datetime, timedelta] | None:
    match = _MS_DATE.match(value.strip())
    if not match:
        return None
    millis, sign, hours, minutes = match.groups()
    instant = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=int(millis))
    offset = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    return instant, (-offset if sign == "-" else offset)


def parse_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from ``/Date(ms±hhmm)/`` or an ISO string. The milliseconds are an
    instant in UTC whatever the offset says; even ``...UTC`` fields may carry ``+1300``
    (api-notes/xero.md §5.1). ISO strings without a zone are UTC (``UpdatedDateUTCString``)."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        parts = _ms_parts(value)
        if parts is not None:
            return parts[0]
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise MappingFailed(f"not a Xero date-time: {value!r}") from None
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    raise MappingFailed(f"not a Xero date-time: {value!r}")


def parse_date(value: Any, iso: Any = None) -> date | None:
    """A calendar date. Prefers the ISO sibling (``DateString``) when Xero sends one; from
    ``/Date(ms±hhmm)/`` it keeps the calendar date at the given offset (the org's), not the UTC
    one, which would move NZ dates back a day (api-notes/xero.md §5.1)."""
    if isinstance(iso, str) and iso:
        try:
            return date.fromisoformat(iso[:10])
        except ValueError:
            pass
    if value in (None, ""):
        return None
    if isinstance(value, str):
        parts = _ms_parts(value)
        if parts is not None:
            instant, offset = parts
            return (instant + offset).date()
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise MappingFailed(f"not a Xero date: {value!r}")


def format_date(value: date | None) -> str | None:
    """Xero takes dates as YYYY-MM-DD on write (api-notes/xero.md §5.1)."""
    return value.isoformat() if value is not None else None


def format_modified_since(value: datetime) -> str:
    """If-Modified-Since as Xero reads it: UTC, to the second (api-notes/xero.md §5.2)."""
    if value.tzinfo is None:
        raise ValueError("modified_since must be timezone-aware")
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def decimal_or_none(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        raise MappingFailed("a float reached a money field: parse JSON with parse_float=Decimal")
    try:
        return Decimal(str(value)) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise MappingFailed(f"not a number: {value!r}") from None


def _str(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return "" if value is None else str(value)


def _required(data: Mapping[str, Any], key: str, what: str) -> Any:
    value = data.get(key)
    if value in (None, ""):
        raise MappingFailed(f"a Xero {what} without {key}", response=dict(data))
    return value


def _line_amount_types(value: Any) -> LineAmountType | None:
    if not value:
        return None
    try:
        return LineAmountType(value)
    except ValueError:
        raise MappingFailed(f"unknown LineAmountTypes {value!r}") from None


def _compact(data: dict[str, Any]) -> dict[str, Any]:
    """Drop what is unset: Xero reads a present field as a change."""
    return {k: v for k, v in data.items() if v not in (None, "", [], {})}


# --- Shared pieces -------------------------------------------------------------------------------


def decode_tracking(data: Mapping[str, Any]) -> TrackingRef:
    return TrackingRef(
        category=_str(data, "Name"),
        option=_str(data, "Option"),
        category_id=_str(data, "TrackingCategoryID"),
        option_id=_str(data, "TrackingOptionID"),
    )


def encode_tracking(ref: TrackingRef) -> dict[str, Any]:
    # Either both ids or both names (api-notes/xero.md §6.6).
    if ref.category_id and ref.option_id:
        return {"TrackingCategoryID": ref.category_id, "TrackingOptionID": ref.option_id}
    return {"Name": ref.category, "Option": ref.option}


def decode_line(data: Mapping[str, Any]) -> Line:
    return Line(
        description=_str(data, "Description"),
        quantity=decimal_or_none(data.get("Quantity")),
        unit_amount=decimal_or_none(data.get("UnitAmount")),
        item_code=_str(data, "ItemCode"),
        account_code=_str(data, "AccountCode"),
        tax_type=_str(data, "TaxType"),
        tax_amount=decimal_or_none(data.get("TaxAmount")),
        line_amount=decimal_or_none(data.get("LineAmount")),
        discount_rate=decimal_or_none(data.get("DiscountRate")),
        tracking=[decode_tracking(t) for t in data.get("Tracking") or []],
        remote_id=_str(data, "LineItemID"),
    )


def encode_line(line: Line) -> dict[str, Any]:
    return _compact(
        {
            "LineItemID": line.remote_id,
            "Description": line.description,
            "Quantity": line.quantity,
            "UnitAmount": line.unit_amount,
            "ItemCode": line.item_code,
            "AccountCode": line.account_code,
            "TaxType": line.tax_type,
            "TaxAmount": line.tax_amount,
            "LineAmount": line.line_amount,
            "DiscountRate": line.discount_rate,
            "Tracking": [encode_tracking(t) for t in line.tracking],
        }
    )


def decode_contact_ref(data: Mapping[str, Any] | None) -> ContactRef:
    data = data or {}
    return ContactRef(remote_id=_str(data, "ContactID"), number=_str(data, "ContactNumber"), name=_str(data, "Name"))


def encode_contact_ref(ref: ContactRef) -> dict[str, Any]:
    # Send the id when we have it: a bare Name that Xero does not know creates a new contact,
    # a classic source of duplicates (api-notes/xero.md §6.1).
    if ref.remote_id:
        return {"ContactID": ref.remote_id}
    if ref.number:
        return {"ContactNumber": ref.number}
    return {"Name": ref.name} if ref.name else {}


# --- Contacts ------------------------------------------------------------------------------------


def decode_contact(data: Mapping[str, Any]) -> Contact:
    return Contact(
        name=_str(data, "Name"),
        remote_id=_required(data, "ContactID", "contact"),
        number=_str(data, "ContactNumber"),
        account_number=_str(data, "AccountNumber"),
        first_name=_str(data, "FirstName"),
        last_name=_str(data, "LastName"),
        email=_str(data, "EmailAddress"),
        tax_number=_str(data, "TaxNumber"),
        status=_str(data, "ContactStatus"),
        is_customer=data.get("IsCustomer"),
        is_supplier=data.get("IsSupplier"),
        default_currency=_str(data, "DefaultCurrency"),
        addresses=[
            Address(
                kind=_str(a, "AddressType"),
                lines=[a[f"AddressLine{i}"] for i in range(1, 5) if a.get(f"AddressLine{i}")],
                city=_str(a, "City"),
                region=_str(a, "Region"),
                postal_code=_str(a, "PostalCode"),
                country=_str(a, "Country"),
                attention_to=_str(a, "AttentionTo"),
            )
            for a in data.get("Addresses") or []
        ],
        phones=[
            Phone(
                kind=_str(p, "PhoneType"),
                number=_str(p, "PhoneNumber"),
                area_code=_str(p, "PhoneAreaCode"),
                country_code=_str(p, "PhoneCountryCode"),
            )
            for p in data.get("Phones") or []
        ],
        updated_at=parse_datetime(data.get("UpdatedDateUTC")),
    )


def encode_contact(contact: Contact) -> dict[str, Any]:
    # IsCustomer/IsSupplier are read-only (derived from activity, §6.1): never sent.
    return _compact(
        {
            "ContactID": contact.remote_id,
            "ContactNumber": contact.number,
            "AccountNumber": contact.account_number,
            "Name": contact.name,
            "FirstName": contact.first_name,
            "LastName": contact.last_name,
            "EmailAddress": contact.email,
            "TaxNumber": contact.tax_number,
            "ContactStatus": contact.status,
            "DefaultCurrency": contact.default_currency,
            "Addresses": [
                _compact(
                    {
                        "AddressType": a.kind,
                        **{f"AddressLine{i}": line for i, line in enumerate(a.lines[:4], start=1)},
                        "City": a.city,
                        "Region": a.region,
                        "PostalCode": a.postal_code,
                        "Country": a.country,
                        "AttentionTo": a.attention_to,
                    }
                )
                for a in contact.addresses
            ],
            "Phones": [
                _compact(
                    {
                        "PhoneType": p.kind,
                        "PhoneNumber": p.number,
                        "PhoneAreaCode": p.area_code,
                        "PhoneCountryCode": p.country_code,
                    }
                )
                for p in contact.phones
            ],
        }
    )


# --- Items ---------------------------------------------------------------------------------------


def _decode_price(data: Mapping[str, Any] | None) -> ItemPriceDetails | None:
    if not data:
        return None
    return ItemPriceDetails(
        unit_price=decimal_or_none(data.get("UnitPrice")),
        account_code=_str(data, "AccountCode"),
        tax_type=_str(data, "TaxType"),
        cogs_account_code=_str(data, "COGSAccountCode"),
    )


def _encode_price(details: ItemPriceDetails | None) -> dict[str, Any] | None:
    if details is None:
        return None
    return _compact(
        {
            "UnitPrice": details.unit_price,
            "AccountCode": details.account_code,
            "TaxType": details.tax_type,
            "COGSAccountCode": details.cogs_account_code,
        }
    )


def decode_item(data: Mapping[str, Any]) -> Item:
    return Item(
        code=_required(data, "Code", "item"),
        remote_id=_str(data, "ItemID"),
        name=_str(data, "Name"),
        description=_str(data, "Description"),
        purchase_description=_str(data, "PurchaseDescription"),
        is_sold=data.get("IsSold"),
        is_purchased=data.get("IsPurchased"),
        sales=_decode_price(data.get("SalesDetails")),
        purchase=_decode_price(data.get("PurchaseDetails")),
        inventory_asset_account_code=_str(data, "InventoryAssetAccountCode"),
        is_tracked=data.get("IsTrackedAsInventory"),
        quantity_on_hand=decimal_or_none(data.get("QuantityOnHand")),
        total_cost_pool=decimal_or_none(data.get("TotalCostPool")),
        updated_at=parse_datetime(data.get("UpdatedDateUTC")),
    )


def encode_item(item: Item) -> dict[str, Any]:
    # QuantityOnHand and TotalCostPool are read-only (§6.4).
    body = {
        "ItemID": item.remote_id,
        "Code": item.code,
        "Name": item.name,
        "Description": item.description,
        "PurchaseDescription": item.purchase_description,
        "SalesDetails": _encode_price(item.sales),
        "PurchaseDetails": _encode_price(item.purchase),
        "InventoryAssetAccountCode": item.inventory_asset_account_code,
    }
    compact = _compact(body)
    for flag, value in (("IsSold", item.is_sold), ("IsPurchased", item.is_purchased)):
        if value is not None:
            compact[flag] = value
    return compact


# --- Documents: invoices, credit notes, bank transactions ----------------------------------------


def _decode_document(data: Mapping[str, Any]) -> dict[str, Any]:
    """The ``canonical.Document`` fields, as keyword arguments."""
    return {
        "lines": [decode_line(line) for line in data.get("LineItems") or []],
        "reference": _str(data, "Reference"),
        "date": parse_date(data.get("Date"), data.get("DateString")),
        "status": _str(data, "Status"),
        "line_amount_types": _line_amount_types(data.get("LineAmountTypes")),
        "currency_code": _str(data, "CurrencyCode"),
        "currency_rate": decimal_or_none(data.get("CurrencyRate")),
        "sub_total": decimal_or_none(data.get("SubTotal")),
        "total_tax": decimal_or_none(data.get("TotalTax")),
        "total": decimal_or_none(data.get("Total")),
        "url": _str(data, "Url"),
        "updated_at": parse_datetime(data.get("UpdatedDateUTCString") or data.get("UpdatedDateUTC")),
    }


def _encode_document(document: Document) -> dict[str, Any]:
    # Totals are computed by Xero (§6.2): never sent.
    return {
        "Type": document.type,
        "Reference": document.reference,
        "Date": format_date(document.date),
        "Status": document.status,
        "LineAmountTypes": document.line_amount_types.value if document.line_amount_types else None,
        "CurrencyCode": document.currency_code,
        "CurrencyRate": document.currency_rate,
        "Url": document.url,
        "LineItems": [encode_line(line) for line in document.lines],
    }


def decode_invoice(data: Mapping[str, Any]) -> Invoice:
    return Invoice(
        type=_required(data, "Type", "invoice"),
        remote_id=_required(data, "InvoiceID", "invoice"),
        contact=decode_contact_ref(data.get("Contact")),
        number=_str(data, "InvoiceNumber"),
        due_date=parse_date(data.get("DueDate"), data.get("DueDateString")),
        amount_due=decimal_or_none(data.get("AmountDue")),
        amount_paid=decimal_or_none(data.get("AmountPaid")),
        amount_credited=decimal_or_none(data.get("AmountCredited")),
        **_decode_document(data),
    )


def encode_invoice(invoice: Invoice) -> dict[str, Any]:
    # AmountDue/Paid/Credited are Xero's to compute, like the totals.
    return _compact(
        {
            "InvoiceID": invoice.remote_id,
            "Contact": encode_contact_ref(invoice.contact),
            "InvoiceNumber": invoice.number,
            "DueDate": format_date(invoice.due_date),
            **_encode_document(invoice),
        }
    )


def decode_credit_note(data: Mapping[str, Any]) -> CreditNote:
    return CreditNote(
        type=_required(data, "Type", "credit note"),
        remote_id=_required(data, "CreditNoteID", "credit note"),
        contact=decode_contact_ref(data.get("Contact")),
        number=_str(data, "CreditNoteNumber"),
        remaining_credit=decimal_or_none(data.get("RemainingCredit")),
        **_decode_document(data),
    )


def encode_credit_note(note: CreditNote) -> dict[str, Any]:
    return _compact(
        {
            "CreditNoteID": note.remote_id,
            "Contact": encode_contact_ref(note.contact),
            "CreditNoteNumber": note.number,
            **_encode_document(note),
        }
    )


# --- Payments ------------------------------------------------------------------------------------


def decode_payment(data: Mapping[str, Any]) -> Payment:
    invoice = data.get("Invoice") or {}
    account = data.get("Account") or {}
    amount = decimal_or_none(data.get("Amount"))
    when = parse_date(data.get("Date"))
    if amount is None or when is None:
        raise MappingFailed("a Xero payment without Amount or Date", response=dict(data))
    return Payment(
        amount=amount,
        date=when,
        remote_id=_required(data, "PaymentID", "payment"),
        invoice_id=_str(invoice, "InvoiceID"),
        invoice_number=_str(invoice, "InvoiceNumber"),
        credit_note_id=_str(data.get("CreditNote") or {}, "CreditNoteID"),
        account_id=_str(account, "AccountID"),
        account_code=_str(account, "Code"),
        reference=_str(data, "Reference"),
        currency_rate=decimal_or_none(data.get("CurrencyRate")),
        bank_amount=decimal_or_none(data.get("BankAmount")),
        status=_str(data, "Status"),
        payment_type=_str(data, "PaymentType"),
        is_reconciled=data.get("IsReconciled"),
        updated_at=parse_datetime(data.get("UpdatedDateUTC")),
    )


def encode_payment(payment: Payment) -> dict[str, Any]:
    # One target document and a BANK (or payments-enabled) account (api-notes/xero.md §6.3).
    if payment.credit_note_id:
        target = {"CreditNote": {"CreditNoteID": payment.credit_note_id}}
    elif payment.invoice_id:
        target = {"Invoice": {"InvoiceID": payment.invoice_id}}
    elif payment.invoice_number:
        target = {"Invoice": {"InvoiceNumber": payment.invoice_number}}
    else:
        raise MappingFailed("a payment needs an invoice or a credit note to pay")
    account = {"AccountID": payment.account_id} if payment.account_id else {"Code": payment.account_code}
    body = _compact(
        {
            **target,
            "Account": _compact(account),
            "Date": format_date(payment.date),
            "Amount": payment.amount,
            "Reference": payment.reference,
            "CurrencyRate": payment.currency_rate,
        }
    )
    if payment.is_reconciled is not None:
        body["IsReconciled"] = payment.is_reconciled
    return body


# --- Manual journals -----------------------------------------------------------------------------


def decode_manual_journal(data: Mapping[str, Any]) -> ManualJournal:
    return ManualJournal(
        narration=_str(data, "Narration"),
        lines=[
            JournalLine(
                account_code=_str(line, "AccountCode"),
                amount=decimal_or_none(line.get("LineAmount")) or Decimal("0"),
                description=_str(line, "Description"),
                tax_type=_str(line, "TaxType"),
                tax_amount=decimal_or_none(line.get("TaxAmount")),
                tracking=[decode_tracking(t) for t in line.get("Tracking") or []],
            )
            for line in data.get("JournalLines") or []
        ],
        remote_id=_required(data, "ManualJournalID", "manual journal"),
        date=parse_date(data.get("Date")),
        status=_str(data, "Status"),
        line_amount_types=_line_amount_types(data.get("LineAmountTypes")),
        show_on_cash_basis_reports=data.get("ShowOnCashBasisReports"),
        url=_str(data, "Url"),
        updated_at=parse_datetime(data.get("UpdatedDateUTC")),
    )


def encode_manual_journal(journal: ManualJournal) -> dict[str, Any]:
    body = _compact(
        {
            "ManualJournalID": journal.remote_id,
            "Narration": journal.narration,
            "Date": format_date(journal.date),
            "Status": journal.status,
            "LineAmountTypes": journal.line_amount_types.value if journal.line_amount_types else None,
            "Url": journal.url,
            "JournalLines": [
                _compact(
                    {
                        # 0 is a valid amount: keep it (compact would drop only None/"").
                        "LineAmount": line.amount,
                        "AccountCode": line.account_code,
                        "Description": line.description,
                        "TaxType": line.tax_type,
                        "TaxAmount": line.tax_amount,
                        "Tracking": [encode_tracking(t) for t in line.tracking],
                    }
                )
                for line in journal.lines
            ],
        }
    )
    if journal.show_on_cash_basis_reports is not None:
        body["ShowOnCashBasisReports"] = journal.show_on_cash_basis_reports
    return body


# --- Bank transactions ---------------------------------------------------------------------------


def decode_bank_transaction(data: Mapping[str, Any]) -> BankTransaction:
    account = data.get("BankAccount") or {}
    return BankTransaction(
        type=_required(data, "Type", "bank transaction"),
        remote_id=_required(data, "BankTransactionID", "bank transaction"),
        contact=decode_contact_ref(data["Contact"]) if data.get("Contact") else None,
        bank_account_id=_str(account, "AccountID"),
        bank_account_code=_str(account, "Code"),
        is_reconciled=data.get("IsReconciled"),
        **_decode_document(data),
    )


def encode_bank_transaction(txn: BankTransaction) -> dict[str, Any]:
    # BankAccount by id or code is required; Reference only on SPEND/RECEIVE (§6.7).
    account = {"AccountID": txn.bank_account_id} if txn.bank_account_id else {"Code": txn.bank_account_code}
    body = _compact(
        {
            "BankTransactionID": txn.remote_id,
            "Contact": encode_contact_ref(txn.contact) if txn.contact else None,
            "BankAccount": _compact(account),
            **_encode_document(txn),
        }
    )
    if txn.is_reconciled is not None:
        body["IsReconciled"] = txn.is_reconciled
    return body


# --- Settings (read for validation) --------------------------------------------------------------


def decode_account(data: Mapping[str, Any]) -> Account:
    return Account(
        code=_str(data, "Code"),
        name=_str(data, "Name"),
        type=_str(data, "Type"),
        remote_id=_str(data, "AccountID"),
        status=_str(data, "Status"),
        tax_type=_str(data, "TaxType"),
        system_account=_str(data, "SystemAccount"),
        enable_payments=bool(data.get("EnablePaymentsToAccount")),
        currency_code=_str(data, "CurrencyCode"),
        updated_at=parse_datetime(data.get("UpdatedDateUTC")),
    )


def decode_tax_rate(data: Mapping[str, Any]) -> TaxRate:
    return TaxRate(
        tax_type=_required(data, "TaxType", "tax rate"),
        name=_str(data, "Name"),
        status=_str(data, "Status"),
        effective_rate=decimal_or_none(data.get("EffectiveRate")),
    )


def decode_tracking_category(data: Mapping[str, Any]) -> TrackingCategory:
    return TrackingCategory(
        name=_str(data, "Name"),
        remote_id=_str(data, "TrackingCategoryID"),
        status=_str(data, "Status"),
        options=[
            TrackingOption(name=_str(o, "Name"), remote_id=_str(o, "TrackingOptionID"), status=_str(o, "Status"))
            for o in data.get("Options") or []
        ],
    )

