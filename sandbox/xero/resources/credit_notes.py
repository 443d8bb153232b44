"""Credit notes (ACCRECCREDIT, ACCPAYCREDIT): the invoice lifecycle without payments;
RemainingCredit is the total once authorised. Allocations are not emulated."""

from __future__ import annotations

from django.utils import timezone

from sandbox.models import XeroCreditNote
from sandbox.xero import lifecycle
from sandbox.xero.dates import iso_date_string, ms_date
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.money import LineAmountTypes
from sandbox.xero.resources.base import (
    ApiContext,
    Resource,
    a_date,
    prefetch_references,
    resolve_contact,
    stamp_with_string,
    text,
    touch,
)
from sandbox.xero.resources.invoices import INVOICES_READ, INVOICES_WRITE, contact_summary, next_number, resolve_currency
from sandbox.xero.resources.lines import LineRules, build_lines, save_lines, serialize_line
from sandbox.xero.stock import stock_settle
from sandbox.xero.where import FieldRef, Kind

TYPES = ("ACCRECCREDIT", "ACCPAYCREDIT")


class CreditNotes(Resource):
    plural = "CreditNotes"
    type_name = "CreditNote"
    id_key = "CreditNoteID"
    id_attr = "credit_note_id"
    model = XeroCreditNote
    paged = True
    supports_if_modified_since = True
    default_order = ("updated_at", "credit_note_id")
    read_scopes = INVOICES_READ
    write_scopes = INVOICES_WRITE
    where_fields = {
        "CreditNoteID": FieldRef("credit_note_id", Kind.GUID),
        "CreditNoteNumber": FieldRef("credit_note_number", Kind.STRING),
        "Reference": FieldRef("reference", Kind.STRING),
        "Type": FieldRef("type", Kind.STRING),
        "Status": FieldRef("status", Kind.STRING),
        "Contact.ContactID": FieldRef("contact__contact_id", Kind.GUID),
        "Date": FieldRef("date", Kind.DATE),
        "UpdatedDateUTC": FieldRef("updated_at", Kind.DATETIME),
    }

    read_back_in_bulk = True

    def prefetch_for_write(self, ctx, elements, *, creates_only):
        prefetch_references(ctx, elements)

    def queryset(self, ctx):
        return XeroCreditNote.objects.filter(tenant=ctx.tenant).select_related("contact").prefetch_related("lines")

    def serialize(self, ctx: ApiContext, obj: XeroCreditNote, *, full: bool = True) -> dict:
        body = {
            "Type": obj.type,
            "CreditNoteID": str(obj.credit_note_id),
            "Status": obj.status,
            "LineAmountTypes": obj.line_amount_types,
            "SubTotal": obj.sub_total,
            "TotalTax": obj.total_tax,
            "Total": obj.total,
            "RemainingCredit": obj.remaining_credit,
            "CurrencyCode": obj.currency_code,
            "CurrencyRate": obj.currency_rate,
            "Allocations": [],
            "Payments": [],
            "HasAttachments": False,
            "HasErrors": False,
            **stamp_with_string(obj),
        }
        if obj.credit_note_number:
            body["CreditNoteNumber"] = obj.credit_note_number
        if obj.reference:
            body["Reference"] = obj.reference
        if obj.contact:
            body["Contact"] = contact_summary(obj.contact)
        if obj.date:
            body["Date"], body["DateString"] = ms_date(obj.date), iso_date_string(obj.date)
        if full:
            body["LineItems"] = [serialize_line(ctx, line) for line in obj.lines.all()]
        return body

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroCreditNote:
        note = target or (self.match_for_post(ctx, data) if method == "POST" else None)
        creating = note is None
        if creating:
            type_ = text(data, "Type")
            if type_ not in TYPES:
                raise ValidationFailed("Type must be ACCRECCREDIT or ACCPAYCREDIT.")
            if "Contact" not in data:
                raise ValidationFailed("A Contact must be specified for this type of transaction")
            status = text(data, "Status") or "DRAFT"
            lifecycle.check_create_status(status, noun="Credit note")
            note = XeroCreditNote(tenant=ctx.tenant, created_by_app=ctx.app, type=type_, status=status)
        else:
            status = text(data, "Status") or note.status
            if note.status in ("VOIDED", "DELETED", "PAID"):
                raise ValidationFailed("Credit note not of valid status for modification")
            if status != note.status:
                lifecycle.check_transition(note.status, status, has_payments=False, noun="Credit note")
                note.status = status
            if status in ("DELETED", "VOIDED"):
                touch(note)
                note.save()
                stock_settle(note, note.type)
                ctx.event("CREDITNOTE", "UPDATE", note.credit_note_id)
                return note
        if data.get("Contact") is not None:
            note.contact = resolve_contact(ctx, data["Contact"])
        number = text(data, "CreditNoteNumber", max_length=255)
        if number is not None:
            note.credit_note_number = number
        if note.type == "ACCRECCREDIT" and not note.credit_note_number:
            note.credit_note_number = next_number(ctx.tenant, "next_credit_note_number", "credit_note_number_prefix")
        reference = text(data, "Reference", max_length=255)
        if reference is not None:
            note.reference = reference
        note.date = a_date(data, "Date") or note.date or timezone.now().date()
        note.currency_code = resolve_currency(ctx, data, note.currency_code)
        line_amount_types = text(data, "LineAmountTypes") or note.line_amount_types or LineAmountTypes.EXCLUSIVE
        existing = {line.line_item_id: line for line in note.lines.all()} if note.pk else {}
        specs = None
        if creating or "LineItems" in data:
            rules = LineRules(
                sales=note.type == "ACCRECCREDIT",
                require_accounts=note.status in ("SUBMITTED", "AUTHORISED"),
                allow_tax_override=True,
            )
            specs, totals = build_lines(ctx, data.get("LineItems"), line_amount_types=line_amount_types, rules=rules, existing=existing)
            note.line_amount_types = line_amount_types
            note.sub_total, note.total_tax, note.total = totals.sub_total, totals.total_tax, totals.total
        note.remaining_credit = note.total if note.status == "AUTHORISED" else 0
        touch(note)
        note.save()
        if specs is not None:
            save_lines("credit_note", note, specs)
        stock_settle(note, note.type)
        ctx.event("CREDITNOTE", "CREATE" if creating else "UPDATE", note.credit_note_id)
        return note
