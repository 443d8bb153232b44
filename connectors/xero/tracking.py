"""Tracking categories and options as engine entities (api-notes/xero.md §6.6).

Xero writes them one at a time on their own endpoints (``PUT /TrackingCategories``, ``POST
/TrackingCategories/{id}``, ``PUT .../{id}/Options``, ``POST .../Options/{optionId}``), not in
batches, so the generic batch writer does not fit; this module gives ``XeroClient`` the same
per-element answers (``ElementResult``) for them.

Two entities, because an ERP's dimension values change on their own (a new branch, a renamed
department) and an option is renamed by its id, which only a link per value keeps:

- ``tracking_category`` (``canonical.TrackingCategory``): its name and status. A create (PUT
  the category, then PUT each of its options) brings the record's ACTIVE options along, so a
  category never exists without them; an update changes its name and status (archiving it is an
  update with status ARCHIVED) and leaves the options to their own entity.
- ``tracking_option`` (``canonical.TrackingOption`` with its ``category_id``): one option.
  Xero refuses to delete an option that is in use, so an option whose value went inactive is
  archived (status ARCHIVED), never deleted.

A create looks first: a category (or option) of the same name that Xero already has is linked,
or restored when archived, instead of refused as a duplicate name. That also makes creates safe
to repeat, and is how an unknown outcome is settled: found by name, linked, never created twice.
Names compare case-insensitively, as Xero's uniqueness check does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from connectors.base import Conflict, ElementResult, ErrorClass, NotFound, ValidationFailed
from connectors.canonical import TrackingCategory, TrackingOption
from connectors.http import json_loads
from connectors.xero import codecs

if TYPE_CHECKING:
    from connectors.xero.client import XeroClient

CATEGORY = "tracking_category"
OPTION = "tracking_option"
ENTITIES = frozenset({CATEGORY, OPTION})
ACTIVE, ARCHIVED = "ACTIVE", "ARCHIVED"

# What Xero refuses per element; anything else (a timeout, a 429, an expired token) stops the
# batch and is the caller's to handle (an UnknownOutcome is settled by name).
_REFUSED = (ValidationFailed, NotFound, Conflict)


def _seg(value: str) -> str:
    return quote(value, safe="")


def _fold(name: str) -> str:
    return name.strip().casefold()


def _status(record: Any) -> str:
    return ARCHIVED if (record.status or "").upper() == ARCHIVED else ACTIVE


class TrackingWriter:
    """Reads and writes of the two tracking entities for one ``XeroClient``."""

    def __init__(self, client: XeroClient) -> None:
        self.client = client

    # --- Reads ----------------------------------------------------------------------------------

    def categories(self) -> list[TrackingCategory]:
        """All categories with their options, archived ones included: one call, since the list
        is small and takes no If-Modified-Since (§6.6)."""
        return self.client.list_tracking_categories(include_archived=True)

    def options(self) -> list[TrackingOption]:
        return [
            TrackingOption(name=o.name, remote_id=o.remote_id, status=o.status, category_id=c.remote_id)
            for c in self.categories()
            for o in c.options
        ]

    def list_records(self, entity: str) -> list[Any]:
        return self.categories() if entity == CATEGORY else self.options()

    def get_records(self, entity: str, ids: list[str]) -> list[Any]:
        wanted = set(ids)
        return [r for r in self.list_records(entity) if r.remote_id in wanted]

    def find_records(self, entity: str, refs: list[str]) -> list[Any]:
        """Records by name (the reference a create carries)."""
        wanted = {_fold(r) for r in refs if r}
        return [r for r in self.list_records(entity) if _fold(r.name) in wanted]

    # --- Writes ---------------------------------------------------------------------------------

    def create(self, entity: str, batch: Mapping[str, Any], idempotency_key: str | None) -> list[ElementResult]:
        write = self._create_category if entity == CATEGORY else self._create_option
        categories = self.categories()
        return [self._element(key, lambda r=record: write(r, categories, idempotency_key)) for key, record in batch.items()]

    def update(self, entity: str, batch: Mapping[str, Any], idempotency_key: str | None) -> list[ElementResult]:
        write = self._update_category if entity == CATEGORY else self._update_option
        return [self._element(key, lambda r=record: write(r, idempotency_key)) for key, record in batch.items()]

    def settle(self, entity: str, batch: Mapping[str, Any]) -> list[ElementResult]:
        """What became of creates whose answer was lost: found by name (in its category, for an
        option) means it landed; not found means it is safe to create (§4 of DESIGN). A found
        category gets the options its create had not made yet (by name: never twice)."""
        categories = self.categories()
        results = []
        for key, record in batch.items():
            found = self._category_named(categories, record.name) if entity == CATEGORY else \
                self._option_named(categories, record.category_id, record.name)
            if found is not None and entity == CATEGORY:
                results.append(self._element(key, lambda r=record, f=found: self._seed_options(r, f, None)))
                continue
            if found is not None:
                results.append(ElementResult(source_ref=key, ok=True, remote_id=found.remote_id, record=found))
                continue
            what = "tracking category" if entity == CATEGORY else "tracking option"
            results.append(ElementResult(source_ref=key, ok=False, error_class=ErrorClass.NOT_FOUND,
                                         errors=(f"No {what} named {record.name} in Xero: it was not created.",)))
        return results

    # --- Categories -----------------------------------------------------------------------------

    @staticmethod
    def _category_named(categories: list[TrackingCategory], name: str) -> TrackingCategory | None:
        return next((c for c in categories if _fold(c.name) == _fold(name) and c.status != "DELETED"), None)

    def _create_category(self, record: TrackingCategory, categories: list[TrackingCategory], key: str | None) -> TrackingCategory:
        existing = self._category_named(categories, record.name)
        if existing is not None:
            if existing.status != _status(record):
                # Restoring an archived category counts against the two active ones, as Xero checks.
                restored = self._post_category(existing.remote_id, {"Status": _status(record)}, key)
                existing.status, existing.options = restored.status, restored.options or existing.options
            return self._seed_options(record, existing, key)
        body: dict[str, Any] = {"Name": record.name}
        if _status(record) == ARCHIVED:
            body["Status"] = ARCHIVED
        response = self._send("PUT", "TrackingCategories", body, key)
        created = codecs.decode_tracking_category(json_loads(response.content)["TrackingCategories"][0])
        categories.append(created)  # a twin later in the same batch is linked to it, not created
        return self._seed_options(record, created, key)

    def _seed_options(self, record: TrackingCategory, category: TrackingCategory, key: str | None) -> TrackingCategory:
        """PUT the record's ACTIVE options that ``category`` lacks (by name), one per request as
        Xero takes them; the category comes back with all its options."""
        have = {_fold(o.name) for o in category.options if o.status != "DELETED"}
        path = f"TrackingCategories/{_seg(category.remote_id)}/Options"
        for option in record.options:
            if _status(option) == ACTIVE and _fold(option.name) not in have:
                response = self._send("PUT", path, {"Name": option.name}, key)
                category.options.append(_decode_option(json_loads(response.content)["Options"][0], category.remote_id))
                have.add(_fold(option.name))
        return category

    def _update_category(self, record: TrackingCategory, key: str | None) -> TrackingCategory:
        return self._post_category(record.remote_id, {"Name": record.name, "Status": _status(record)}, key)

    def _post_category(self, category_id: str, body: dict[str, Any], key: str | None) -> TrackingCategory:
        response = self._send("POST", f"TrackingCategories/{_seg(category_id)}", body, key)
        return codecs.decode_tracking_category(json_loads(response.content)["TrackingCategories"][0])

    # --- Options --------------------------------------------------------------------------------

    @staticmethod
    def _option_named(categories: list[TrackingCategory], category_id: str, name: str) -> TrackingOption | None:
        category = next((c for c in categories if c.remote_id == category_id), None)
        if category is None:
            return None
        found = next((o for o in category.options if _fold(o.name) == _fold(name) and o.status != "DELETED"), None)
        if found is None:
            return None
        return TrackingOption(name=found.name, remote_id=found.remote_id, status=found.status, category_id=category_id)

    def _create_option(self, record: TrackingOption, categories: list[TrackingCategory], key: str | None) -> TrackingOption:
        if not record.category_id:
            raise ValidationFailed(f"Tracking option {record.name} has no tracking category to belong to.")
        existing = self._option_named(categories, record.category_id, record.name)
        if existing is None:
            path = f"TrackingCategories/{_seg(record.category_id)}/Options"
            response = self._send("PUT", path, {"Name": record.name}, key)
            existing = _decode_option(json_loads(response.content)["Options"][0], record.category_id)
            category = next((c for c in categories if c.remote_id == record.category_id), None)
            if category is not None:
                category.options.append(existing)
        if existing.status != _status(record):
            existing = self._post_option(record.category_id, existing.remote_id, {"Status": _status(record)}, key)
        return existing

    def _update_option(self, record: TrackingOption, key: str | None) -> TrackingOption:
        if not record.category_id:
            raise ValidationFailed(f"Tracking option {record.name} has no tracking category to belong to.")
        return self._post_option(record.category_id, record.remote_id, {"Name": record.name, "Status": _status(record)}, key)

    def _post_option(self, category_id: str, option_id: str, body: dict[str, Any], key: str | None) -> TrackingOption:
        path = f"TrackingCategories/{_seg(category_id)}/Options/{_seg(option_id)}"
        response = self._send("POST", path, body, key)
        return _decode_option(json_loads(response.content)["Options"][0], category_id)

    # --- Internals ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: dict[str, Any], batch_key: str | None) -> Any:
        """One request with its own Idempotency-Key: the same request of the same batch gets
        the same key (a resend is replayed, §5.5); different requests never share one."""
        key = self.client._key(method, path, {"batch": batch_key or "", "body": body})
        return self.client.http.request(method, path, json=body, idempotency_key=key)

    @staticmethod
    def _element(key: str, write: Any) -> ElementResult:
        try:
            record = write()
        except _REFUSED as exc:
            return ElementResult(source_ref=key, ok=False, errors=(exc.message,), error_class=exc.error_class)
        return ElementResult(source_ref=key, ok=True, remote_id=record.remote_id, record=record)


def _decode_option(data: Mapping[str, Any], category_id: str) -> TrackingOption:
    return TrackingOption(
        name=str(data.get("Name") or ""),
        remote_id=str(data.get("TrackingOptionID") or ""),
        status=str(data.get("Status") or ""),
        category_id=str(data.get("TrackingCategoryID") or category_id),
    )


def encode_record(entity: str, record: Any) -> dict[str, Any]:
    """The body one element's request carries (what a dry run shows); a new category's options
    follow it, one request each."""
    if entity == CATEGORY:
        options = [{"Name": o.name} for o in record.options if _status(o) == ACTIVE]
        return {"TrackingCategories": [{"Name": record.name, "Status": _status(record)}], **({"Options": options} if options else {})}
    return {"Options": [{"Name": record.name, "Status": _status(record)}]}
