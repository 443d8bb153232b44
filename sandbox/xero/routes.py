"""Which handler answers a method and a path under ``/api.xro/2.0/``. Xero's paths are
case-insensitive (``/Contacts`` and ``/contacts`` are one resource)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.xero import handlers
from sandbox.xero.resources import ORGANISATION, REGISTRY


@dataclass(frozen=True)
class Route:
    handler: Callable
    kwargs: dict = field(default_factory=dict)
    scopes: frozenset[str] = frozenset()


def resolve_route(method: str, path: str) -> Route | None:
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts:
        return None
    if parts[0].lower() == "organisation":
        if len(parts) == 1 and method == "GET":
            return Route(handlers.organisation_get, {}, ORGANISATION.read_scopes)
        return None
    resource = REGISTRY.get(parts[0].lower())
    if resource is None:
        return None
    read = resource.read_scopes | resource.write_scopes
    write = resource.write_scopes
    if len(parts) == 1:
        if method == "GET":
            return Route(handlers.list_records, {"resource": resource}, read)
        if method == "PUT" and resource.can_put:
            return Route(handlers.write_records, {"resource": resource, "target_id": None}, write)
        if method == "POST" and resource.can_post:
            return Route(handlers.write_records, {"resource": resource, "target_id": None}, write)
        return None
    if len(parts) == 2:
        if method == "GET":
            return Route(handlers.get_record, {"resource": resource, "ident": parts[1]}, read)
        if method == "POST" and resource.can_post_one:
            return Route(handlers.write_records, {"resource": resource, "target_id": parts[1]}, write)
        if method == "DELETE" and resource.can_delete:
            return Route(handlers.delete_record, {"resource": resource, "ident": parts[1]}, write)
        return None
    if parts[0].lower() == "trackingcategories" and parts[2].lower() == "options":
        if len(parts) == 3 and method == "PUT":
            return Route(handlers.tracking_options_put, {"category_id": parts[1]}, write)
        if len(parts) == 4 and method == "POST":
            return Route(handlers.tracking_option_post, {"category_id": parts[1], "option_id": parts[3]}, write)
        if len(parts) == 4 and method == "DELETE":
            return Route(handlers.tracking_option_delete, {"category_id": parts[1], "option_id": parts[3]}, write)
    return None
