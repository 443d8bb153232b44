"""Which handler answers a method and a path under ``/api/v1/``, and the scope it needs."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.tims import handlers as h
from sandbox.tims import resources as r


@dataclass(frozen=True)
class Route:
    handler: Callable
    scope: str
    kwargs: dict = field(default_factory=dict)
    body: bool | str = False  # True: a JSON body is required; "optional"


ID = r"(?P<ident>[A-Za-z0-9._~-]{1,64})"

# (path pattern, {method: (handler, scope, fixed kwargs, body)})
_TABLE: list[tuple[str, dict]] = []


def _add(pattern: str, **methods) -> None:
    _TABLE.append((pattern, methods))


def _standard(prefix: str, resource: r.Resource, *, writes: str | None = None, external_refs: bool = True) -> None:
    kind = resource.name
    collection = {"GET": (h.list_records, resource.read_scope, {"resource": resource}, False)}
    item = {"GET": (h.get_record, resource.read_scope, {"resource": resource}, False)}
    if writes:
        collection["POST"] = (h.create_party, writes, {"kind": kind}, True)
        item["PATCH"] = (h.update_party, writes, {"kind": kind}, True)
    _add(prefix, **collection)
    _add(f"{prefix}/{ID}", **item)
    if external_refs and not writes:
        _add(f"{prefix}/{ID}/external-refs", PATCH=(h.patch_external_refs, "external_refs:write", {"resource": resource}, True))


_standard("customers", r.CUSTOMERS, writes="customers:write")
_standard("vendors", r.VENDORS, writes="vendors:write")
_standard("products", r.PRODUCTS, writes="products:write")
_standard("salesorders", r.SALES_ORDERS)
_standard("purchaseorders", r.PURCHASE_ORDERS)
_add(f"purchaseorders/{ID}/bills", GET=(h.purchase_order_bills, "bills:read", {}, False))
_standard("vendorbills", r.VENDOR_BILLS)
_standard("accounts/receivable/invoices", r.INVOICES)
_add(f"accounts/receivable/invoices/{ID}/status", POST=(h.invoice_status, "invoices:write", {}, True))
_add(
    f"accounts/receivable/invoices/{ID}/payments",
    GET=(h.invoice_payments_list, "payments:read", {}, False),
    POST=(h.invoice_payment_create, "payments:write", {}, True),
)
_add("payments", GET=(h.list_records, "payments:read", {"resource": r.PAYMENTS}, False), POST=(h.payment_create, "payments:write", {}, True))
_add(
    f"payments/{ID}",
    GET=(h.get_record, "payments:read", {"resource": r.PAYMENTS}, False),
    PATCH=(h.payment_update, "payments:write", {}, True),
)
_add(f"payments/{ID}/void", POST=(h.payment_void, "payments:write", {}, True))
_add("inventory/items", GET=(h.inventory_list, "inventory:read", {}, False))
_add(r"inventory/items/(?P<sku>.+)/quantity", GET=(h.inventory_quantity, "inventory:read", {}, False))
_standard("inventory/adjustments", r.ADJUSTMENTS)
_standard("gl/entries", r.GL_ENTRIES)
_standard("gl/accounts", r.GL_ACCOUNTS, external_refs=False)
_standard("taxcodes", r.TAX_CODES, external_refs=False)
_standard("dimensions", r.DIMENSIONS)
_add(f"dimensions/{ID}/values", GET=(h.dimension_values_list, "dimensions:read", {}, False))
VALUE_ID = r"(?P<value_id>[A-Za-z0-9._~-]{1,64})"
_add(f"dimensions/{ID}/values/{VALUE_ID}", GET=(h.dimension_value_get, "dimensions:read", {}, False))
_add(f"dimensions/{ID}/values/{VALUE_ID}/external-refs", PATCH=(h.dimension_value_external_refs, "external_refs:write", {}, True))
_add(
    "webhooks/subscriptions",
    GET=(h.list_records, "webhooks:manage", {"resource": r.SUBSCRIPTIONS}, False),
    POST=(h.subscription_create, "webhooks:manage", {}, True),
)
_add(
    f"webhooks/subscriptions/{ID}",
    GET=(h.get_record, "webhooks:manage", {"resource": r.SUBSCRIPTIONS}, False),
    PATCH=(h.subscription_update, "webhooks:manage", {}, True),
    DELETE=(h.subscription_delete, "webhooks:manage", {}, False),
)
_add(f"webhooks/subscriptions/{ID}/rotate-secret", POST=(h.subscription_rotate, "webhooks:manage", {}, "optional"))
_add(f"webhooks/subscriptions/{ID}/ping", POST=(h.subscription_ping, "webhooks:manage", {}, "optional"))

ROUTES = [(re.compile(f"^{pattern}$"), methods) for pattern, methods in _TABLE]


def resolve_route(method: str, path: str) -> Route | None:
    path = path.strip("/")
    for pattern, methods in ROUTES:
        match = pattern.match(path)
        if match and method in methods:
            handler, scope, fixed, body = methods[method]
            return Route(handler, scope, {**fixed, **match.groupdict()}, body)
    return None


def operation_count() -> int:
    return sum(len(methods) for _, methods in ROUTES)
