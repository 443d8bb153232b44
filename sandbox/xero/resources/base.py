"""What every Accounting API resource shares: the request context, field parsing helpers and
the :class:`Resource` base that the generic views drive."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.db import models
from django.http import HttpRequest
from django.utils import timezone

from config.db import GrowthAnalyzer, bulk_insert
from sandbox.models import XeroAccount, XeroApp, XeroContact, XeroInvoice, XeroLineItem, XeroTaxRate, XeroTenant
from sandbox.xero.dates import iso_datetime_string, ms_datetime, parse_date
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.resources.lookups import RequestLookups
from sandbox.xero.where import FieldRef

# Fresh statistics while a backfill fills the invoice table: a batch looks its invoice numbers up.
INVOICES_GROWTH = GrowthAnalyzer(XeroInvoice)


@dataclass
class PendingRows:
    """New rows of a batch that only creates, inserted together once every element is written
    (``write_records``) instead of one statement each: line rows (``lines``) and documents
    (``documents``, in the order their elements came). None: insert at once.

    Deferring is only for rows nothing reads before the batch ends; a resource turns it on in
    ``prefetch_for_write``, and a failed element turns document deferral off (``insert``)."""

    lines: list | None = None
    documents: list | None = None
    # (contact pk, "is_customer" | "is_supplier"): flags that approved documents turn on, set
    # together at the end in primary-key order, so two batches naming the same contacts in
    # different orders wait for each other instead of deadlocking.
    contact_flags: list | None = None

    def mark(self) -> tuple[int, int, int]:
        return len(self.lines or ()), len(self.documents or ()), len(self.contact_flags or ())

    def drop_since(self, mark: tuple[int, int, int]) -> None:
        """Forget what an element that failed collected (its savepoint is gone)."""
        if self.lines is not None:
            del self.lines[mark[0] :]
        if self.documents is not None:
            del self.documents[mark[1] :]
        if self.contact_flags is not None:
            del self.contact_flags[mark[2] :]

    def flag_contact(self, contact: XeroContact, flag: str) -> None:
        if getattr(contact, flag):
            return
        if self.contact_flags is None:
            setattr(contact, flag, True)
            contact.save(update_fields=[flag])
        else:
            self.contact_flags.append((contact.pk, flag))

    def _set_contact_flags(self) -> None:
        by_flag: dict[str, set[int]] = {}
        for pk, flag in self.contact_flags:
            by_flag.setdefault(flag, set()).add(pk)
        self.contact_flags.clear()
        for flag, pks in sorted(by_flag.items()):
            locked = list(XeroContact.objects.select_for_update().filter(pk__in=pks, **{flag: False})
                          .order_by("pk").values_list("pk", flat=True))
            if locked:
                XeroContact.objects.filter(pk__in=locked).update(**{flag: True})

    def insert(self) -> None:
        if self.documents:
            by_model: dict[type, list] = {}
            for document in self.documents:
                by_model.setdefault(type(document), []).append(document)
            for model, rows in by_model.items():
                bulk_insert(model, rows)  # sets the primary keys the line rows need
                if model is XeroInvoice:
                    INVOICES_GROWTH.rows_added(len(rows))
            self.documents.clear()
        if self.lines:
            bulk_insert(XeroLineItem, self.lines)
            self.lines.clear()
        if self.contact_flags:
            self._set_contact_flags()


@dataclass
class ApiContext:
    app: XeroApp
    tenant: XeroTenant
    request: HttpRequest
    unitdp: int = 2
    events: list[tuple[str, str, uuid.UUID]] = field(default_factory=list)  # (category, type, id)
    lookups: RequestLookups = field(init=False)  # this request's reads of accounts, tax rates, ...
    pending: PendingRows = field(default_factory=lambda: PendingRows())

    def __post_init__(self) -> None:
        self.lookups = RequestLookups(self.tenant)

    def event(self, category: str, event_type: str, resource_id: uuid.UUID) -> None:
        self.events.append((category, event_type, resource_id))


def text(data: dict, key: str, *, max_length: int | None = None, label: str | None = None) -> str | None:
    """A string field, None when absent; too long → Xero's validation error."""
    if key not in data or data[key] is None:
        return None
    value = data[key]
    if not isinstance(value, str):
        value = str(value)
    if max_length is not None and len(value) > max_length:
        raise ValidationFailed(f"{label or key} must not be more than {max_length} characters long.")
    return value


def decimal(data: dict, key: str) -> Decimal | None:
    if key not in data or data[key] is None or data[key] == "":
        return None
    try:
        value = Decimal(str(data[key]))
    except InvalidOperation as exc:
        raise ValidationFailed(f"{key} must be a number.") from exc
    if not value.is_finite():
        raise ValidationFailed(f"{key} must be a number.")
    return value


def boolean(data: dict, key: str) -> bool | None:
    if key not in data or data[key] is None:
        return None
    value = data[key]
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValidationFailed(f"{key} must be true or false.")


def a_date(data: dict, key: str) -> date | None:
    if key not in data or data[key] in (None, ""):
        return None
    try:
        return parse_date(data[key])
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(f"{key} is not a valid date.") from exc


def a_uuid(value: object) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def stamp(obj: models.Model) -> dict:
    return {"UpdatedDateUTC": ms_datetime(obj.updated_at)}


def stamp_with_string(obj: models.Model) -> dict:
    return {"UpdatedDateUTC": ms_datetime(obj.updated_at), "UpdatedDateUTCString": iso_datetime_string(obj.updated_at)}


def touch(obj: models.Model) -> None:
    obj.updated_at = timezone.now()


def drop_empty(payload: dict) -> dict:
    """Xero leaves out fields it has no value for; the spec has no nullable fields."""
    return {k: v for k, v in payload.items() if v is not None and v != ""}


def resolve_contact(ctx: ApiContext, ref: Any, *, create_missing: bool = True) -> XeroContact:
    """An element's Contact: ContactID, ContactNumber or Name; an unknown Name creates a new
    contact, as Xero does (api-notes §6.1)."""
    if not isinstance(ref, dict) or not any(ref.get(k) for k in ("ContactID", "ContactNumber", "Name")):
        raise ValidationFailed(
            "The Contact must contain at least 1 of the following elements to identify the contact: "
            "Name, ContactID, ContactNumber"
        )
    if ref.get("ContactID"):
        contact_id = a_uuid(ref["ContactID"])
        contact = ctx.lookups.contact_by_id(contact_id) if contact_id else None
        if contact is None:
            raise ValidationFailed("Contact ID " + str(ref["ContactID"]) + " is invalid.")
        return contact
    contacts = XeroContact.objects.filter(tenant=ctx.tenant)
    if ref.get("ContactNumber"):
        contact = contacts.filter(contact_number=ref["ContactNumber"]).first()
        if contact is not None:
            return contact
        if not ref.get("Name"):
            raise ValidationFailed(f"Contact Number {ref['ContactNumber']} is invalid.")
    name = str(ref["Name"])
    contact = contacts.filter(name__iexact=name, contact_status="ACTIVE").first()
    if contact is not None:
        return contact
    if not create_missing:
        raise ValidationFailed(f"Contact {name} does not exist.")
    contact = XeroContact.objects.create(
        tenant=ctx.tenant, name=name[:255], contact_number=ref.get("ContactNumber") or "", created_by_app=ctx.app
    )
    ctx.event("CONTACT", "CREATE", contact.contact_id)
    return contact


def resolve_account(ctx: ApiContext, *, code: str | None = None, account_id: object = None) -> XeroAccount | None:
    """An account that is not DELETED, by AccountID or by code (case-insensitive)."""
    if account_id:
        parsed = a_uuid(account_id)
        return ctx.lookups.account_by_id(parsed) if parsed else None
    if code:
        return ctx.lookups.account_by_code(str(code))
    return None


def prefetch_references(ctx: ApiContext, elements: list) -> None:
    """Read the contacts (by ContactID) and items (by ItemCode) a batch of documents names, one
    query each, instead of one per element and line. A batch with tracked items inserts its
    lines document by document (``ctx.pending.lines`` None)."""
    contact_ids, item_codes = [], []
    for element in elements:
        if not isinstance(element, dict):
            continue
        contact = element.get("Contact")
        if isinstance(contact, dict) and contact.get("ContactID"):
            contact_ids.append(a_uuid(contact["ContactID"]))
        lines = element.get("LineItems")
        if isinstance(lines, list):
            item_codes.extend(str(line["ItemCode"]) for line in lines if isinstance(line, dict) and line.get("ItemCode"))
    ctx.lookups.prefetch_contacts(contact_ids)
    ctx.lookups.prefetch_items(item_codes)
    if ctx.lookups.tracked_item_codes(item_codes):
        # Stock reads a document's lines back as soon as they are saved: insert them at once
        # (for the whole batch, so that line rows keep the order of their documents). Lines of
        # untracked items move no stock and can wait.
        ctx.pending.lines = None


def resolve_tax_rate(ctx: ApiContext, tax_type: str) -> XeroTaxRate:
    rate = ctx.lookups.tax_rate(str(tax_type))
    if rate is None:
        raise ValidationFailed(
            f"The TaxType code '{tax_type}' does not exist or cannot be used with this type of transaction."
        )
    return rate


class Resource:
    """One collection of the Accounting API (``/Contacts``, ``/Invoices``, ...)."""

    plural: ClassVar[str]
    type_name: ClassVar[str]  # the element's type in error messages
    id_key: ClassVar[str]
    id_attr: ClassVar[str]
    model: ClassVar[type[models.Model]]
    paged: ClassVar[bool] = False
    supports_if_modified_since: ClassVar[bool] = False
    where_fields: ClassVar[dict[str, FieldRef]] = {}
    default_order: ClassVar[tuple[str, ...]] = ("updated_at", "pk")
    read_scopes: ClassVar[frozenset[str]] = frozenset()
    write_scopes: ClassVar[frozenset[str]] = frozenset()
    can_put: ClassVar[bool] = True
    can_post: ClassVar[bool] = True  # POST /Things (create or update)
    can_post_one: ClassVar[bool] = True  # POST /Things/{id}
    can_delete: ClassVar[bool] = False
    one_element_per_request: ClassVar[bool] = False  # Accounts: extras are ignored (§5.4)
    # A created record's answer depends on nothing a later element of the same PUT can change,
    # so a PUT batch may read its records back together once all are written.
    read_back_in_bulk: ClassVar[bool] = False

    def queryset(self, ctx: ApiContext):
        return self.model.objects.filter(tenant=ctx.tenant)

    def get(self, ctx: ApiContext, ident: str):
        parsed = a_uuid(ident)
        if parsed is None:
            return None
        return self.queryset(ctx).filter(**{self.id_attr: parsed}).first()

    def filter_list(self, ctx: ApiContext, qs, params) -> Any:
        ids = params.get("IDs")
        if ids and self.id_attr:
            wanted = [a_uuid(part) for part in ids.split(",")]
            qs = qs.filter(**{f"{self.id_attr}__in": [w for w in wanted if w]})
        return qs

    def serialize(self, ctx: ApiContext, obj, *, full: bool = True) -> dict:
        raise NotImplementedError

    def prefetch_for_write(self, ctx: ApiContext, elements: list, *, creates_only: bool) -> None:
        """Read what a batch refers to before its elements are written (``ctx.lookups``).
        ``creates_only``: every element creates a record (a PUT without an id)."""

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None):
        raise NotImplementedError

    def writes_nothing_yet(self, ctx: ApiContext, data: dict) -> bool:
        """Writing this element puts nothing in the database until the batch's bulk insert
        (``ctx.pending``): if it fails there is nothing to roll back, so it needs no savepoint."""
        return False

    def serialize_written(self, ctx: ApiContext, obj) -> dict | None:
        """The answer for a record this PUT created, from the object in memory once the batch
        is inserted; None when only reading it back gives the answer for certain."""
        return None

    def match_for_post(self, ctx: ApiContext, data: dict):
        """The existing record a POST element without a path id updates, if any."""
        ident = data.get(self.id_key)
        if ident:
            found = self.get(ctx, str(ident))
            if found is None:
                raise ValidationFailed(f"{self.id_key} {ident} does not exist.")
            return found
        return None

    def delete(self, ctx: ApiContext, obj) -> dict | None:
        raise NotImplementedError

