"""What every write shares: who did it, version and ``updated_at``, document numbers, and the
uniqueness of external refs."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from sandbox.models import TimsSite
from sandbox.tims.problems import ApiProblem, field_error, validation_failed

SYSTEM_ACTOR = {"type": "system"}

# kind → (prefix, first number, digits)
NUMBERING = {
    "customer": ("C", 4500, 6),
    "vendor": ("V", 190, 4),
    "salesorder": ("SO-", 58200, 0),
    "invoice": ("INV-", 104200, 0),
    "purchaseorder": ("PO-", 7100, 0),
    "payment": ("RCPT-", 20900, 0),
    "adjustment": ("ADJ-", 3300, 0),
    "journal": ("JE-", 771000, 0),
}


def user_actor(user_id: str, name: str) -> dict:
    return {"type": "user", "id": user_id, "name": name}


def client_actor(client) -> dict:
    return {"type": "api_client", "id": client.client_id, "name": client.name}


def touch(record, actor: dict, now: datetime | None = None) -> None:
    """A change of business data: one more version and a later ``updated_at``."""
    record.updated_at = now or timezone.now()
    record.version += 1
    record.last_modified_by = actor


def stamp_new(record, actor: dict, now: datetime | None = None) -> None:
    record.created_at = record.updated_at = now or timezone.now()
    record.version = 1
    record.last_modified_by = actor


def next_number(site: TimsSite, kind: str) -> str:
    """The site's next number of a kind; the site row is locked so two writers never share one."""
    locked = TimsSite.objects.select_for_update().get(pk=site.pk)
    prefix, first, digits = NUMBERING[kind]
    number = int(locked.counters.get(kind, first))
    locked.counters[kind] = number + 1
    locked.save(update_fields=["counters"])
    site.counters = locked.counters
    return f"{prefix}{number:0{digits}d}" if digits else f"{prefix}{number}"


def check_external_refs(model, site: TimsSite, refs: dict, *, exclude_id: str | None = None) -> None:
    """A system's id may sit on one record of a type only (409 ``duplicate-external-ref``)."""
    for system, value in (refs or {}).items():
        if value is None:
            continue
        holders = model.objects.filter(site=site, **{f"external_refs__{system}": value})
        if exclude_id:
            holders = holders.exclude(pk=exclude_id)
        holder = holders.values_list("pk", flat=True).first()
        if holder:
            raise ApiProblem(
                409,
                "duplicate-external-ref",
                f"external_refs.{system} {value} is already on {model._meta.verbose_name} {holder}.",
                existing_id=holder,
            )


def merge_external_refs(record, patch: dict) -> bool:
    """RFC 7396 on ``external_refs`` (``null`` removes a key). True when something changed.
    Never a new version: our own bookkeeping must not echo back as a change."""
    check_external_refs(type(record), record.site, patch, exclude_id=record.pk)
    refs = dict(record.external_refs or {})
    for key, value in patch.items():
        if value is None:
            refs.pop(key, None)
        else:
            refs[key] = value
    if len(refs) > 20:
        raise validation_failed([field_error("/external_refs", "too_long", "At most 20 external refs per record.")])
    changed = refs != (record.external_refs or {})
    record.external_refs = refs
    return changed
