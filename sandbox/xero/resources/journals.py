"""Manual journals (api-notes §6.8): a Narration, at least two lines that balance (debits
positive, credits negative), no bank or system accounts, at most 2 tracking elements a line,
LineAmountTypes NoTax by default."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from sandbox.models import XeroManualJournal, XeroManualJournalLine
from sandbox.xero.dates import iso_date_string, ms_date
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.money import LineAmountTypes, line_tax, round_money
from sandbox.xero.resources.base import (
    ApiContext,
    Resource,
    a_date,
    boolean,
    decimal,
    drop_empty,
    resolve_account,
    resolve_tax_rate,
    stamp,
    text,
    touch,
)
from sandbox.xero.resources.tracking import resolve_tracking
from sandbox.xero.where import FieldRef, Kind

JOURNALS_READ = frozenset(
    {"accounting.transactions", "accounting.transactions.read", "accounting.manualjournals", "accounting.manualjournals.read"}
)
JOURNALS_WRITE = frozenset({"accounting.transactions", "accounting.manualjournals"})
TRANSITIONS = {"DRAFT": {"DRAFT", "POSTED", "DELETED"}, "POSTED": {"POSTED", "VOIDED"}}


class ManualJournals(Resource):
    plural = "ManualJournals"
    type_name = "ManualJournal"
    id_key = "ManualJournalID"
    id_attr = "manual_journal_id"
    model = XeroManualJournal
    paged = True
    supports_if_modified_since = True
    default_order = ("updated_at", "manual_journal_id")
    read_scopes = JOURNALS_READ
    write_scopes = JOURNALS_WRITE
    where_fields = {
        "ManualJournalID": FieldRef("manual_journal_id", Kind.GUID),
        "Narration": FieldRef("narration", Kind.STRING),
        "Status": FieldRef("status", Kind.STRING),
        "Date": FieldRef("date", Kind.DATE),
        "UpdatedDateUTC": FieldRef("updated_at", Kind.DATETIME),
    }

    def queryset(self, ctx):
        return XeroManualJournal.objects.filter(tenant=ctx.tenant).prefetch_related("lines")

    def serialize(self, ctx: ApiContext, obj: XeroManualJournal, *, full: bool = True) -> dict:
        body = {
            "ManualJournalID": str(obj.manual_journal_id),
            "Date": ms_date(obj.date),
            "DateString": iso_date_string(obj.date),
            "Status": obj.status,
            "LineAmountTypes": obj.line_amount_types,
            "Narration": obj.narration,
            "ShowOnCashBasisReports": obj.show_on_cash_basis_reports,
            "HasAttachments": False,
            **stamp(obj),
        }
        if obj.url:
            body["Url"] = obj.url
        if full:
            body["JournalLines"] = [
                drop_empty(
                    {
                        "Description": line.description,
                        "TaxType": line.tax_type,
                        "AccountCode": line.account_code,
                    }
                )
                | {"LineAmount": line.line_amount, "TaxAmount": line.tax_amount, "Tracking": line.tracking, "IsBlank": False}
                for line in obj.lines.all()
            ]
        return body

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroManualJournal:
        journal = target or (self.match_for_post(ctx, data) if method == "POST" else None)
        creating = journal is None
        if creating:
            journal = XeroManualJournal(tenant=ctx.tenant, created_by_app=ctx.app, date=timezone.now().date())
        elif journal.status not in TRANSITIONS:
            raise ValidationFailed("Manual journal not of valid status for modification")
        status = text(data, "Status") or journal.status or "DRAFT"
        if creating and status not in ("DRAFT", "POSTED"):
            raise ValidationFailed(f"Status '{status}' is not valid for a new manual journal.")
        if not creating and status not in TRANSITIONS[journal.status]:
            raise ValidationFailed("Manual journal not of valid status for modification")
        if not creating and journal.status == "POSTED" and set(data) - {"ManualJournalID", "Status"}:
            raise ValidationFailed("A posted manual journal can only be voided.")
        journal.status = status
        narration = text(data, "Narration")
        if narration is not None:
            journal.narration = narration
        if not (journal.narration or "").strip():
            raise ValidationFailed("Narration is required.")
        journal.date = a_date(data, "Date") or journal.date
        journal.line_amount_types = text(data, "LineAmountTypes") or journal.line_amount_types or LineAmountTypes.NO_TAX
        if journal.line_amount_types not in LineAmountTypes.ALL:
            raise ValidationFailed(f"LineAmountTypes '{journal.line_amount_types}' is not valid.")
        show = boolean(data, "ShowOnCashBasisReports")
        if show is not None:
            journal.show_on_cash_basis_reports = show
        url = text(data, "Url")
        if url is not None:
            journal.url = url
        lines = None
        if creating or "JournalLines" in data:
            lines = self._lines(ctx, data.get("JournalLines"), journal.line_amount_types)
        touch(journal)
        journal.save()
        if lines is not None:
            XeroManualJournalLine.objects.filter(journal=journal).delete()
            XeroManualJournalLine.objects.bulk_create([XeroManualJournalLine(journal=journal, **line) for line in lines])
        return journal

    def _lines(self, ctx: ApiContext, raw_lines: object, line_amount_types: str) -> list[dict]:
        if not isinstance(raw_lines, list) or len(raw_lines) < 2:
            raise ValidationFailed("A manual journal must have at least two journal lines.")
        lines, errors = [], []
        for position, raw in enumerate(raw_lines):
            try:
                if not isinstance(raw, dict):
                    raise ValidationFailed("Each journal line must be an object.")
                amount = decimal(raw, "LineAmount")
                if amount is None:
                    raise ValidationFailed("LineAmount is required on every journal line.")
                account = resolve_account(ctx, code=raw.get("AccountCode"), account_id=raw.get("AccountID"))
                if account is None:
                    raise ValidationFailed(f"Account code '{raw.get('AccountCode') or ''}' is not a valid code.")
                # Bank and system accounts (AR, AP, ...) cannot be journalled to (api-notes §6.8).
                if account.type == "BANK":
                    raise ValidationFailed(f"Account code '{account.code}' is a bank account and cannot be used in a manual journal.")
                if account.system_account:
                    raise ValidationFailed(f"Account code '{account.code}' is a system account and cannot be used in a manual journal.")
                tax_type = str(raw.get("TaxType") or "")
                rate = resolve_tax_rate(ctx, tax_type).rate if tax_type else Decimal("0")
                amount = round_money(amount)
                lines.append(
                    {
                        "position": position,
                        "line_amount": amount,
                        "account_code": account.code,
                        "description": str(raw.get("Description") or ""),
                        "tax_type": tax_type,
                        "tax_amount": line_tax(amount, rate, line_amount_types),
                        "tracking": resolve_tracking(ctx, raw.get("Tracking")),
                    }
                )
            except ValidationFailed as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationFailed(*errors)
        debits = sum((line["line_amount"] for line in lines if line["line_amount"] > 0), Decimal("0.00"))
        credits = sum((line["line_amount"] for line in lines if line["line_amount"] < 0), Decimal("0.00"))
        if debits + credits != 0:
            raise ValidationFailed(f"The total debits ({debits:.2f}) must equal total credits ({credits:.2f})")
        return lines
