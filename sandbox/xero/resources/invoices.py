"""Invoices: sales invoices (ACCREC) and bills (ACCPAY) (api-notes §6.2).

ACCREC numbers are unique and generated when omitted; ACCPAY numbers are neither. A POST
element without InvoiceID but with the InvoiceNumber of an existing sales invoice updates it.
Paid sales invoices keep only a few editable fields; paid bills none.
"""

from __future__ import annotations

from django.db.models import F, Q
from django.utils import timezone

from sandbox.models import XeroInvoice, XeroTenant
from sandbox.xero import lifecycle
from sandbox.xero.dates import iso_date_string, ms_date
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.money import LineAmountTypes
from sandbox.xero.resources.base import (
    ApiContext,
    Resource,
    a_date,
    a_uuid,
    boolean,
    decimal,
    drop_empty,
    prefetch_references,
    resolve_contact,
    stamp_with_string,
    text,
    touch,
)
from sandbox.xero.resources.lines import LineRules, build_lines, save_lines, serialize_line
from sandbox.xero.resources.lookups import SalesInvoiceNumbers
from sandbox.xero.resources.stored import as_read_back
from sandbox.xero.stock import stock_settle
from sandbox.xero.where import FieldRef, Kind

INVOICES_READ = frozenset(
    {"accounting.transactions", "accounting.transactions.read", "accounting.invoices", "accounting.invoices.read"}
)
INVOICES_WRITE = frozenset({"accounting.transactions", "accounting.invoices"})
TYPES = ("ACCREC", "ACCPAY")
# What a paid or part-paid sales invoice still accepts (api-notes §6.2).
PAID_ACCREC_EDITABLE = {"InvoiceID", "Reference", "DueDate", "InvoiceNumber", "BrandingThemeID", "Contact", "Url", "LineItems", "Type", "Status"}


def contact_summary(contact) -> dict:
    return drop_empty(
        {
            "ContactID": str(contact.contact_id),
            "ContactNumber": contact.contact_number,
            "Name": contact.name,
            "ContactStatus": contact.contact_status,
            "EmailAddress": contact.email_address,
        }
    ) | {"HasValidationErrors": False}


def next_number(tenant: XeroTenant, counter: str, prefix_field: str) -> str:
    XeroTenant.objects.filter(pk=tenant.pk).update(**{counter: F(counter) + 1})
    value = XeroTenant.objects.values_list(counter, flat=True).get(pk=tenant.pk) - 1
    return f"{getattr(tenant, prefix_field)}{value:04d}"


def _number_taken(ctx: ApiContext, invoice: XeroInvoice) -> bool:
    """Another sales invoice, not DELETED, has this number (case-insensitive)."""
    numbers = ctx.lookups.sales_invoice_numbers
    if numbers is not None and invoice.pk is None and numbers.answers(invoice.invoice_number):
        return numbers.taken(invoice.invoice_number)
    clash = XeroInvoice.objects.filter(
        tenant=ctx.tenant, type="ACCREC", invoice_number__iexact=invoice.invoice_number
    ).exclude(status__in=("DELETED",)).exclude(pk=invoice.pk)
    return clash.exists()


def resolve_currency(ctx: ApiContext, data: dict, current: str) -> str:
    code = (text(data, "CurrencyCode") or current or ctx.tenant.base_currency).upper()
    if code != ctx.tenant.base_currency and not ctx.lookups.currency_enabled(code):
        raise ValidationFailed(f"The currency {code} has not been enabled for this organisation.")
    return code


class Invoices(Resource):
    plural = "Invoices"
    type_name = "Invoice"
    id_key = "InvoiceID"
    id_attr = "invoice_id"
    model = XeroInvoice
    paged = True
    supports_if_modified_since = True
    default_order = ("updated_at", "invoice_id")
    read_scopes = INVOICES_READ
    write_scopes = INVOICES_WRITE
    read_back_in_bulk = True
    where_fields = {
        "InvoiceID": FieldRef("invoice_id", Kind.GUID),
        "InvoiceNumber": FieldRef("invoice_number", Kind.STRING),
        "Reference": FieldRef("reference", Kind.STRING),
        "Type": FieldRef("type", Kind.STRING),
        "Status": FieldRef("status", Kind.STRING),
        "Contact.ContactID": FieldRef("contact__contact_id", Kind.GUID),
        "Contact.Name": FieldRef("contact__name", Kind.STRING),
        "Contact.ContactNumber": FieldRef("contact__contact_number", Kind.STRING),
        "Date": FieldRef("date", Kind.DATE),
        "DueDate": FieldRef("due_date", Kind.DATE),
        "AmountDue": FieldRef("amount_due", Kind.NUMBER),
        "AmountPaid": FieldRef("amount_paid", Kind.NUMBER),
        "Total": FieldRef("total", Kind.NUMBER),
        "SubTotal": FieldRef("sub_total", Kind.NUMBER),
        "CurrencyCode": FieldRef("currency_code", Kind.STRING),
        "UpdatedDateUTC": FieldRef("updated_at", Kind.DATETIME),
    }

    def queryset(self, ctx):
        # Lines and payments are prefetched: a page holds up to 1,000 invoices.
        return XeroInvoice.objects.filter(tenant=ctx.tenant).select_related("contact").prefetch_related("lines", "payments")

    def prefetch_for_write(self, ctx, elements, *, creates_only):
        prefetch_references(ctx, elements)
        if creates_only:
            numbers = [str(e["InvoiceNumber"]) for e in elements if isinstance(e, dict) and e.get("InvoiceNumber") is not None]
            ctx.lookups.sales_invoice_numbers = SalesInvoiceNumbers(ctx.tenant, numbers)
            # The new invoices can wait to be inserted together when nothing in the batch reads
            # them back before it ends: no items (stock), and every invoice number given and
            # checked in SalesInvoiceNumbers (a generated or non-ASCII one is checked against
            # the database).
            if ctx.pending.lines is not None and all(
                isinstance(e, dict) and e.get("InvoiceNumber") and ctx.lookups.sales_invoice_numbers.answers(str(e["InvoiceNumber"]))
                for e in elements
            ):
                ctx.pending.documents = []

    def writes_nothing_yet(self, ctx, data):
        # While the batch defers its invoices and lines, a new invoice only collects rows: the
        # batch defers them only when every number is given (prefetch_for_write) and no line
        # names a tracked item (prefetch_references), and contact flags are set at its end. The
        # one write left is resolve_contact creating a contact named by Name or ContactNumber.
        contact = data.get("Contact")
        pending = ctx.pending
        return (
            pending.documents is not None and pending.lines is not None and pending.contact_flags is not None
            and isinstance(contact, dict) and bool(contact.get("ContactID"))
        )

    def get(self, ctx, ident):
        found = super().get(ctx, ident)
        # Xero also accepts an InvoiceNumber in place of the id.
        return found or self.queryset(ctx).filter(invoice_number=ident).exclude(status="DELETED").first()

    def filter_list(self, ctx, qs, params):
        qs = super().filter_list(ctx, qs, params)
        if params.get("InvoiceNumbers"):
            qs = qs.filter(invoice_number__in=[n.strip() for n in params["InvoiceNumbers"].split(",")])
        if params.get("ContactIDs"):
            qs = qs.filter(contact__contact_id__in=[a_uuid(c) for c in params["ContactIDs"].split(",") if a_uuid(c)])
        if params.get("Statuses"):
            qs = qs.filter(status__in=[s.strip().upper() for s in params["Statuses"].split(",")])
        if params.get("createdByMyApp", "").lower() == "true":
            qs = qs.filter(created_by_app=ctx.app)
        if params.get("searchTerm"):
            term = params["searchTerm"]
            qs = qs.filter(Q(invoice_number__icontains=term) | Q(reference__icontains=term))
        if params.get("includeArchived", "").lower() != "true" and not params.get("Statuses"):
            qs = qs.exclude(status="DELETED")
        return qs

    def serialize(self, ctx: ApiContext, obj: XeroInvoice, *, full: bool = True) -> dict:
        return self._body(ctx, obj, list(obj.lines.all()), obj.payments.all(), full=full)

    def serialize_written(self, ctx: ApiContext, obj: XeroInvoice) -> dict | None:
        lines = obj.written_lines
        if not (as_read_back(obj) and all(as_read_back(line) for line in lines)):
            return None
        if obj.contact is not None and not as_read_back(obj.contact):
            return None
        return self._body(ctx, obj, lines, [], full=True)  # a new invoice has no payments

    def _body(self, ctx: ApiContext, obj: XeroInvoice, lines: list, payments, *, full: bool) -> dict:
        body = {"Type": obj.type, "InvoiceID": str(obj.invoice_id)}
        body.update(
            drop_empty(
                {
                    "InvoiceNumber": obj.invoice_number,
                    "Reference": obj.reference,
                    "Url": obj.url,
                }
            )
        )
        if obj.contact:
            body["Contact"] = contact_summary(obj.contact)
        if obj.date:
            body["Date"], body["DateString"] = ms_date(obj.date), iso_date_string(obj.date)
        if obj.due_date:
            body["DueDate"], body["DueDateString"] = ms_date(obj.due_date), iso_date_string(obj.due_date)
        body.update(
            {
                "Status": obj.status,
                "LineAmountTypes": obj.line_amount_types,
                "SubTotal": obj.sub_total,
                "TotalTax": obj.total_tax,
                "Total": obj.total,
                "AmountDue": obj.amount_due,
                "AmountPaid": obj.amount_paid,
                "AmountCredited": obj.amount_credited,
                "CurrencyCode": obj.currency_code,
                "CurrencyRate": obj.currency_rate,
                "SentToContact": obj.sent_to_contact,
                "IsDiscounted": any(line.discount_rate for line in lines),
                "HasAttachments": False,
                "HasErrors": False,
                **stamp_with_string(obj),
            }
        )
        if obj.fully_paid_on_date:
            body["FullyPaidOnDate"] = ms_date(obj.fully_paid_on_date)
        if full:
            body["LineItems"] = [serialize_line(ctx, line) for line in lines]
        body["Payments"] = [
            {
                "PaymentID": str(p.payment_id),
                "Date": ms_date(p.date),
                "Amount": p.amount,
                "Reference": p.reference,
                "CurrencyRate": p.currency_rate,
                "HasAccount": False,
                "HasValidationErrors": False,
            }
            for p in sorted(payments, key=lambda p: (p.date, p.pk))
            if p.status == "AUTHORISED"
        ]
        body["CreditNotes"] = []
        return body

    def match_for_post(self, ctx, data):
        found = super().match_for_post(ctx, data)
        if found is None and data.get("InvoiceNumber") and data.get("Type", "ACCREC") == "ACCREC":
            found = (
                self.queryset(ctx)
                .filter(type="ACCREC", invoice_number=data["InvoiceNumber"])
                .exclude(status__in=("DELETED", "VOIDED"))
                .first()
            )
        return found

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroInvoice:
        invoice = target or (self.match_for_post(ctx, data) if method == "POST" else None)
        if invoice is None:
            invoice = self._create(ctx, data)
            ctx.event("INVOICE", "CREATE", invoice.invoice_id)
        else:
            self._update(ctx, invoice, data)
            ctx.event("INVOICE", "UPDATE", invoice.invoice_id)
        return invoice

    def _create(self, ctx: ApiContext, data: dict) -> XeroInvoice:
        type_ = text(data, "Type")
        if type_ not in TYPES:
            raise ValidationFailed("Invoice Type must be ACCREC or ACCPAY." if type_ else "Invoice Type must be specified.")
        if "Contact" not in data:
            raise ValidationFailed("A Contact must be specified for this type of transaction")
        status = text(data, "Status") or "DRAFT"
        lifecycle.check_create_status(status)
        invoice = XeroInvoice(tenant=ctx.tenant, type=type_, status=status, created_by_app=ctx.app)
        invoice.contact = resolve_contact(ctx, data["Contact"])
        self._apply_fields(ctx, invoice, data, creating=True)
        return invoice

    def _apply_fields(self, ctx: ApiContext, invoice: XeroInvoice, data: dict, *, creating: bool) -> None:
        number = text(data, "InvoiceNumber", max_length=255)
        if number is not None:
            invoice.invoice_number = number
        if invoice.type == "ACCREC":
            if not invoice.invoice_number:
                invoice.invoice_number = next_number(ctx.tenant, "next_invoice_number", "invoice_number_prefix")
            if _number_taken(ctx, invoice):
                raise ValidationFailed("Invoice # must be unique.")
        reference = text(data, "Reference", max_length=255)
        if reference is not None:
            invoice.reference = reference
        url = text(data, "Url", max_length=2000)
        if url is not None:
            invoice.url = url
        invoice.date = a_date(data, "Date") or invoice.date or timezone.now().date()
        due = a_date(data, "DueDate")
        if due is not None:
            invoice.due_date = due
        invoice.currency_code = resolve_currency(ctx, data, invoice.currency_code)
        rate = decimal(data, "CurrencyRate")
        if invoice.currency_code == ctx.tenant.base_currency:
            invoice.currency_rate = 1
        elif rate is not None:
            if rate <= 0:
                raise ValidationFailed("CurrencyRate must be greater than zero.")
            invoice.currency_rate = rate
        sent = boolean(data, "SentToContact")
        if sent is not None:
            if sent and invoice.status not in ("AUTHORISED", "PAID"):
                raise ValidationFailed("SentToContact can only be set on approved invoices.")
            invoice.sent_to_contact = sent
        line_amount_types = text(data, "LineAmountTypes") or invoice.line_amount_types or LineAmountTypes.EXCLUSIVE
        # Lines are rebuilt on every write (from the stored ones when none are sent), so that a
        # status change to SUBMITTED/AUTHORISED re-checks them against the stricter rules.
        existing = {line.line_item_id: line for line in invoice.lines.all()} if invoice.pk else {}
        keep_tax = line_amount_types == invoice.line_amount_types
        raw_lines = data.get("LineItems") if "LineItems" in data else [
            _line_as_data(line, with_tax=keep_tax) for line in existing.values()
        ]
        rules = LineRules(
            sales=invoice.type == "ACCREC",
            require_accounts=invoice.status in ("SUBMITTED", "AUTHORISED"),
            allow_tax_override=True,
        )
        specs, totals = build_lines(ctx, raw_lines, line_amount_types=line_amount_types, rules=rules, existing=existing)
        if invoice.status in ("SUBMITTED", "AUTHORISED") and not specs:
            raise ValidationFailed("An invoice must have at least one line item to be submitted or approved.")
        invoice.line_amount_types = line_amount_types
        invoice.sub_total, invoice.total_tax, invoice.total = totals.sub_total, totals.total_tax, totals.total
        invoice.amount_due = invoice.total - invoice.amount_paid - invoice.amount_credited
        if invoice.amount_due < 0:
            raise ValidationFailed("The invoice total cannot be less than the amount already paid.")
        touch(invoice)
        inserted = invoice.pk is None
        # Only tracked items move stock: a document naming none of them can wait for the
        # batch's bulk insert, lines and all.
        item_codes = ctx.lookups.tracked_item_codes({spec.values["item_code"] for spec in specs} - {""})
        pending = ctx.pending
        if inserted and not item_codes and pending.documents is not None and pending.lines is not None:
            pending.documents.append(invoice)  # inserted with the batch's others (write_records)
        else:
            invoice.save()
        if inserted and invoice.type == "ACCREC" and invoice.status != "DELETED":
            numbers = ctx.lookups.sales_invoice_numbers
            if numbers is not None and not numbers.created(invoice.invoice_number):
                ctx.lookups.sales_invoice_numbers = None
        # Kept for the answer of a batch of new invoices (serialize_written).
        invoice.written_lines = save_lines(
            "invoice", invoice, specs, new_owner=inserted, pending=None if item_codes else pending.lines
        )
        stock_settle(invoice, invoice.type, item_codes=item_codes)
        if invoice.status in ("AUTHORISED", "PAID") and invoice.contact:
            # IsCustomer/IsSupplier follow ACCREC/ACCPAY activity (api-notes §6.1).
            pending.flag_contact(invoice.contact, "is_customer" if invoice.type == "ACCREC" else "is_supplier")

    def _update(self, ctx: ApiContext, invoice: XeroInvoice, data: dict) -> None:
        if "Type" in data and data["Type"] != invoice.type:
            raise ValidationFailed("The type of an invoice cannot be changed.")
        new_status = text(data, "Status") or invoice.status
        has_payments = invoice.payments.filter(status="AUTHORISED").exists()
        if invoice.status in ("VOIDED", "DELETED"):
            raise ValidationFailed(lifecycle.NOT_MODIFIABLE)
        paid = invoice.status == "PAID" or invoice.amount_paid > 0
        if paid:
            if invoice.type == "ACCPAY":
                raise ValidationFailed(lifecycle.NOT_MODIFIABLE)
            locked = set(data) - PAID_ACCREC_EDITABLE
            if locked:
                raise ValidationFailed(lifecycle.NOT_MODIFIABLE)
            if "LineItems" in data and not _only_cosmetic_line_changes(invoice, data["LineItems"]):
                raise ValidationFailed(lifecycle.NOT_MODIFIABLE)
        if new_status != invoice.status:
            lifecycle.check_transition(invoice.status, new_status, has_payments=has_payments)
            invoice.status = new_status
        if set(data) <= {"InvoiceID", "Status", "InvoiceNumber", "Type"} and new_status in ("DELETED", "VOIDED"):
            touch(invoice)
            invoice.save()
            stock_settle(invoice, invoice.type)
            return
        if data.get("Contact") is not None:
            invoice.contact = resolve_contact(ctx, data["Contact"])
        self._apply_fields(ctx, invoice, data, creating=False)


def _line_as_data(line, *, with_tax: bool) -> dict:
    """A stored line as a request would send it; its TaxAmount (possibly overridden, §6.10) is
    kept unless the line amount type changes."""
    data = {
        "LineItemID": str(line.line_item_id),
        "Description": line.description,
        "AccountCode": line.account_code or None,
        "ItemCode": line.item_code or None,
        "TaxType": line.tax_type or None,
        "Quantity": line.quantity,
        "UnitAmount": line.unit_amount,
        "DiscountRate": line.discount_rate,
        "Tracking": line.tracking,
    }
    if line.quantity is None or line.unit_amount is None:
        data["LineAmount"] = line.line_amount
    if with_tax:
        data["TaxAmount"] = line.tax_amount
    return {k: v for k, v in data.items() if v is not None}


def _only_cosmetic_line_changes(invoice: XeroInvoice, raw_lines: object) -> bool:
    """Paid sales invoices still take line Description, AccountCode and Tracking changes."""
    existing = {line.line_item_id: line for line in invoice.lines.all()}
    if not isinstance(raw_lines, list) or len(raw_lines) != len(existing):
        return False
    for raw in raw_lines:
        line = existing.get(a_uuid(raw.get("LineItemID"))) if isinstance(raw, dict) else None
        if line is None:
            return False
        for key, attr in (("Quantity", "quantity"), ("UnitAmount", "unit_amount"), ("LineAmount", "line_amount")):
            if key in raw and raw[key] is not None and getattr(line, attr) is not None:
                if decimal(raw, key) != getattr(line, attr):
                    return False
        if raw.get("TaxType") and raw["TaxType"] != line.tax_type:
            return False
    return True
