"""Contacts (api-notes §6.1): Name unique across active contacts, ContactNumber unique,
IsCustomer/IsSupplier read-only, paged, If-Modified-Since, ``searchTerm``, ``summaryOnly``."""

from __future__ import annotations

from django.db.models import Q

from sandbox.models import XeroContact
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.resources.base import ApiContext, Resource, drop_empty, resolve_tax_rate, stamp, text, touch
from sandbox.xero.where import FieldRef, Kind

CONTACTS_READ = frozenset({"accounting.contacts", "accounting.contacts.read"})
CONTACTS_WRITE = frozenset({"accounting.contacts"})

TEXT_FIELDS = {
    "AccountNumber": ("account_number", 50),
    "FirstName": ("first_name", 255),
    "LastName": ("last_name", 255),
    "EmailAddress": ("email_address", 255),
    "TaxNumber": ("tax_number", 50),
    "DefaultCurrency": ("default_currency", 3),
}
# Stored and echoed as sent.
EXTRA_FIELDS = (
    "Addresses",
    "Phones",
    "ContactPersons",
    "PaymentTerms",
    "BankAccountDetails",
    "CompanyNumber",
    "AccountsReceivableTaxType",
    "AccountsPayableTaxType",
    "SalesDefaultAccountCode",
    "PurchasesDefaultAccountCode",
    "TaxNumberType",
)


class Contacts(Resource):
    plural = "Contacts"
    type_name = "Contact"
    id_key = "ContactID"
    id_attr = "contact_id"
    model = XeroContact
    paged = True
    supports_if_modified_since = True
    default_order = ("updated_at", "contact_id")  # Xero's default: UpdatedDateUTC, then the id (§5.3)
    read_scopes = CONTACTS_READ
    write_scopes = CONTACTS_WRITE
    where_fields = {
        "ContactID": FieldRef("contact_id", Kind.GUID),
        "Name": FieldRef("name", Kind.STRING),
        "ContactNumber": FieldRef("contact_number", Kind.STRING),
        "AccountNumber": FieldRef("account_number", Kind.STRING),
        "ContactStatus": FieldRef("contact_status", Kind.STRING),
        "EmailAddress": FieldRef("email_address", Kind.STRING),
        "FirstName": FieldRef("first_name", Kind.STRING),
        "LastName": FieldRef("last_name", Kind.STRING),
        "TaxNumber": FieldRef("tax_number", Kind.STRING),
        "IsCustomer": FieldRef("is_customer", Kind.BOOL),
        "IsSupplier": FieldRef("is_supplier", Kind.BOOL),
        "UpdatedDateUTC": FieldRef("updated_at", Kind.DATETIME),
    }

    def get(self, ctx, ident):
        # GET /Contacts/{ContactNumber} shares the path with GET /Contacts/{ContactID}.
        found = super().get(ctx, ident)
        return found or self.queryset(ctx).filter(contact_number=ident).first()

    def filter_list(self, ctx, qs, params):
        qs = super().filter_list(ctx, qs, params)
        if params.get("includeArchived", "").lower() != "true":
            qs = qs.exclude(contact_status="ARCHIVED")
        term = params.get("searchTerm")
        if term:
            qs = qs.filter(
                Q(name__icontains=term)
                | Q(first_name__icontains=term)
                | Q(last_name__icontains=term)
                | Q(contact_number__icontains=term)
                | Q(email_address__icontains=term)
            )
        return qs

    def serialize(self, ctx, obj: XeroContact, *, full: bool = True) -> dict:
        body = drop_empty(
            {
                "ContactID": str(obj.contact_id),
                "ContactNumber": obj.contact_number,
                "AccountNumber": obj.account_number,
                "ContactStatus": obj.contact_status,
                "Name": obj.name,
                "FirstName": obj.first_name,
                "LastName": obj.last_name,
                "EmailAddress": obj.email_address,
                "TaxNumber": obj.tax_number,
                "DefaultCurrency": obj.default_currency,
            }
        )
        body.update({"IsSupplier": obj.is_supplier, "IsCustomer": obj.is_customer, **stamp(obj)})
        if full:
            body["Addresses"] = obj.extra.get("Addresses", [])
            body["Phones"] = obj.extra.get("Phones", [])
            body["ContactGroups"] = []
            body["ContactPersons"] = obj.extra.get("ContactPersons", [])
            for key in EXTRA_FIELDS[3:]:
                if key in obj.extra:
                    body[key] = obj.extra[key]
            body["HasAttachments"] = False
        body["HasValidationErrors"] = False
        return body

    def match_for_post(self, ctx, data):
        found = super().match_for_post(ctx, data)
        if found is not None:
            return found
        contacts = self.queryset(ctx)
        if data.get("ContactNumber"):
            found = contacts.filter(contact_number=data["ContactNumber"]).first()
            if found:
                return found
        if data.get("Name"):
            return contacts.filter(name__iexact=data["Name"], contact_status="ACTIVE").first()
        return None

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroContact:
        contact = target or (self.match_for_post(ctx, data) if method == "POST" else None)
        creating = contact is None
        if creating:
            contact = XeroContact(tenant=ctx.tenant, created_by_app=ctx.app)
        name = text(data, "Name", max_length=255)
        if creating and not (name or "").strip():
            raise ValidationFailed("The contact name must be specified.")
        others = XeroContact.objects.filter(tenant=ctx.tenant).exclude(pk=contact.pk)
        status = text(data, "ContactStatus")
        if status is not None:
            if status not in ("ACTIVE", "ARCHIVED", "GDPRREQUEST"):
                raise ValidationFailed(f"ContactStatus '{status}' is not valid.")
            contact.contact_status = status
        if name is not None:
            name = name.strip()
            if contact.contact_status == "ACTIVE" and others.filter(name__iexact=name, contact_status="ACTIVE").exists():
                raise ValidationFailed(
                    f"The contact name {name} is already assigned to another contact. "
                    "The contact name must be unique across all active contacts."
                )
            contact.name = name
        number = text(data, "ContactNumber", max_length=50)
        if number is not None:
            if number and others.filter(contact_number=number).exists():
                raise ValidationFailed(f"The contact number {number} is already assigned to another contact.")
            contact.contact_number = number
        for key, (attr, length) in TEXT_FIELDS.items():
            value = text(data, key, max_length=length)
            if value is not None:
                setattr(contact, attr, value)
        for key in ("AccountsReceivableTaxType", "AccountsPayableTaxType"):
            if data.get(key):
                resolve_tax_rate(ctx, str(data[key]))
        extra = dict(contact.extra)
        for key in EXTRA_FIELDS:
            if key in data:
                extra[key] = data[key]
        contact.extra = extra
        touch(contact)
        contact.save()
        ctx.event("CONTACT", "CREATE" if creating else "UPDATE", contact.contact_id)
        return contact
