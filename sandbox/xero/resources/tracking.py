"""Tracking categories and their options (api-notes §6.6): at most 2 active categories per
organisation; no If-Modified-Since; archived categories only with ``includeArchived``."""

from __future__ import annotations

from sandbox.models import XeroLineItem, XeroManualJournalLine, XeroTrackingCategory, XeroTrackingOption
from sandbox.xero.errors import ValidationFailed
from sandbox.xero.resources.base import ApiContext, Resource, a_uuid, text, touch
from sandbox.xero.resources.settings import SETTINGS_READ, SETTINGS_WRITE
from sandbox.xero.where import FieldRef, Kind

MAX_ACTIVE_CATEGORIES = 2
# Xero keeps an option that transactions use: it can be archived, not deleted (the wording is
# the emulator's own).
IN_USE = "This tracking option has been used in transactions and cannot be deleted. Archive it instead."
STATUSES = ("ACTIVE", "ARCHIVED")


class TrackingCategories(Resource):
    plural = "TrackingCategories"
    type_name = "TrackingCategory"
    id_key = "TrackingCategoryID"
    id_attr = "category_id"
    model = XeroTrackingCategory
    default_order = ("name", "pk")
    read_scopes = SETTINGS_READ
    write_scopes = SETTINGS_WRITE
    can_post = False  # PUT /TrackingCategories and POST /TrackingCategories/{id} only
    can_delete = True
    one_element_per_request = True
    where_fields = {
        "TrackingCategoryID": FieldRef("category_id", Kind.GUID),
        "Name": FieldRef("name", Kind.STRING),
        "Status": FieldRef("status", Kind.STRING),
    }

    def queryset(self, ctx):
        return XeroTrackingCategory.objects.filter(tenant=ctx.tenant).prefetch_related("options")

    def filter_list(self, ctx, qs, params):
        if params.get("includeArchived", "").lower() != "true":
            qs = qs.filter(status="ACTIVE")
        return qs

    def serialize(self, ctx, obj: XeroTrackingCategory, *, full: bool = True) -> dict:
        return {
            "TrackingCategoryID": str(obj.category_id),
            "Name": obj.name,
            "Status": obj.status,
            "Options": [TrackingOptionWriter.serialize(o) for o in sorted(obj.options.all(), key=lambda o: (o.name, o.pk))],
        }

    def write(self, ctx: ApiContext, data: dict, *, method: str, target=None) -> XeroTrackingCategory:
        category = target
        name = text(data, "Name", max_length=100, label="Name")
        status = text(data, "Status")
        if category is None:
            if not name:
                raise ValidationFailed("Tracking category name is required.")
            category = XeroTrackingCategory(tenant=ctx.tenant, created_by_app=ctx.app)
        if status is not None and status not in STATUSES:
            raise ValidationFailed(f"Status '{status}' is not valid for a tracking category.")
        becomes_active = (status or category.status or "ACTIVE") == "ACTIVE"
        if becomes_active and (category.pk is None or category.status != "ACTIVE"):
            active = XeroTrackingCategory.objects.filter(tenant=ctx.tenant, status="ACTIVE").count()
            if active >= MAX_ACTIVE_CATEGORIES:
                raise ValidationFailed("You can only have 2 active tracking categories.")
        if name is not None:
            clash = XeroTrackingCategory.objects.filter(tenant=ctx.tenant, name__iexact=name).exclude(pk=category.pk)
            if clash.exists():
                raise ValidationFailed("A tracking category with this name already exists.")
            category.name = name
        if status is not None:
            category.status = status
        touch(category)
        category.save()
        return category

    def delete(self, ctx, obj: XeroTrackingCategory) -> dict:
        result = self.serialize(ctx, obj)
        result["Status"] = "DELETED"
        obj.delete()
        return result


class TrackingOptionWriter:
    def get(self, ctx: ApiContext, category_id: str, option_id: str) -> XeroTrackingOption | None:
        category_uuid, option_uuid = a_uuid(category_id), a_uuid(option_id)
        if not category_uuid or not option_uuid:
            return None
        return XeroTrackingOption.objects.filter(
            category__tenant=ctx.tenant, category__category_id=category_uuid, option_id=option_uuid
        ).first()

    @staticmethod
    def serialize(option: XeroTrackingOption) -> dict:
        return {
            "TrackingOptionID": str(option.option_id),
            "Name": option.name,
            "Status": option.status,
            "TrackingCategoryID": str(option.category.category_id),
        }

    @staticmethod
    def in_use(option: XeroTrackingOption) -> bool:
        """On a line of a document or journal that still exists (lines keep their tracking, with
        ids, as JSON); a deleted draft no longer counts as a transaction."""
        needle = str(option.option_id)
        lines = (XeroLineItem.objects.filter(tracking__icontains=needle).exclude(invoice__status="DELETED")
                 .exclude(credit_note__status="DELETED").exclude(bank_transaction__status="DELETED"))
        return (lines.exists()
                or XeroManualJournalLine.objects.filter(tracking__icontains=needle).exclude(journal__status="DELETED").exists())

    def create(self, ctx: ApiContext, category: XeroTrackingCategory, data: dict) -> XeroTrackingOption:
        name = text(data, "Name", max_length=100)
        if not name:
            raise ValidationFailed("Tracking option name is required.")
        if category.options.filter(name__iexact=name).exists():
            raise ValidationFailed(f"The tracking option '{name}' already exists.")
        option = XeroTrackingOption.objects.create(category=category, name=name)
        touch(category)
        category.save(update_fields=["updated_at"])
        return option

    def update(self, ctx: ApiContext, option: XeroTrackingOption, data: dict) -> XeroTrackingOption:
        name = text(data, "Name", max_length=100)
        status = text(data, "Status")
        if name is not None:
            if option.category.options.filter(name__iexact=name).exclude(pk=option.pk).exists():
                raise ValidationFailed(f"The tracking option '{name}' already exists.")
            option.name = name
        if status is not None:
            if status not in STATUSES:
                raise ValidationFailed(f"Status '{status}' is not valid for a tracking option.")
            option.status = status
        option.save()
        return option


def resolve_tracking(ctx: ApiContext, raw: object) -> list[dict]:
    """A line's Tracking: by IDs or by Name/Option, at most 2 (api-notes §6.6)."""
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        raise ValidationFailed("Tracking must be a list.")
    if len(raw) > MAX_ACTIVE_CATEGORIES:
        raise ValidationFailed("A maximum of 2 tracking categories can be applied to a line.")
    resolved = []
    for entry in raw:
        if not isinstance(entry, dict):
            raise ValidationFailed("Tracking entries must be objects.")
        category = _tracking_category(ctx, entry)
        if category is None:
            raise ValidationFailed(f"Tracking category '{entry.get('Name') or entry.get('TrackingCategoryID')}' is not valid.")
        option = _tracking_option(category, entry)
        if option is None:
            raise ValidationFailed(
                f"Tracking option '{entry.get('Option') or entry.get('TrackingOptionID')}' is not valid for category '{category.name}'."
            )
        resolved.append(
            {
                "Name": category.name,
                "Option": option.name,
                "TrackingCategoryID": str(category.category_id),
                "TrackingOptionID": str(option.option_id),
            }
        )
    if len({r["TrackingCategoryID"] for r in resolved}) != len(resolved):
        raise ValidationFailed("A tracking category can only be used once per line.")
    return resolved



def _iexact_first(rows, attr: str, wanted: str) -> tuple[bool, object]:
    """(answered, row): the first row (rows come by primary key) whose ``attr`` equals
    ``wanted`` as ``iexact`` compares. Not answered when some text is not ASCII, where the
    database's case folding and Python's differ (see ``lookups``)."""
    if not wanted.isascii() or not all(getattr(row, attr).isascii() for row in rows):
        return False, None
    wanted = wanted.upper()
    return True, next((row for row in rows if getattr(row, attr).upper() == wanted), None)


def _tracking_category(ctx: ApiContext, entry: dict) -> XeroTrackingCategory | None:
    """An ACTIVE category by TrackingCategoryID or by Name (case-insensitive), first by pk."""
    categories = ctx.lookups.active_categories()  # by pk, options prefetched
    if entry.get("TrackingCategoryID"):
        wanted = a_uuid(entry["TrackingCategoryID"])
        return next((c for c in categories if c.category_id == wanted), None) if wanted else None
    name = str(entry.get("Name") or "")
    answered, found = _iexact_first(categories, "name", name)
    if not answered:
        row = XeroTrackingCategory.objects.filter(tenant=ctx.tenant, status="ACTIVE", name__iexact=name).first()
        found = next((c for c in categories if row is not None and c.pk == row.pk), None)
    return found


def _tracking_option(category: XeroTrackingCategory, entry: dict) -> XeroTrackingOption | None:
    """An ACTIVE option of ``category`` by TrackingOptionID or by name (case-insensitive), first by pk."""
    options = sorted((o for o in category.options.all() if o.status == "ACTIVE"), key=lambda o: o.pk)
    if entry.get("TrackingOptionID"):
        wanted = a_uuid(entry["TrackingOptionID"])
        return next((o for o in options if o.option_id == wanted), None) if wanted else None
    name = str(entry.get("Option") or "")
    answered, found = _iexact_first(options, "name", name)
    if not answered:
        found = category.options.filter(status="ACTIVE", name__iexact=name).first()
    return found
