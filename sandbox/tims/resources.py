"""The contract's resources: which table, which JSON, which scope and which list filters."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from django.db.models import Count, QuerySet

from sandbox import models as m
from sandbox.tims import serializers as s
from sandbox.tims.contract import enum_values
from sandbox.tims.paging import Filter, updated_since_filter

ID_RE = re.compile(r"^[A-Za-z0-9._~-]{1,64}$")
EXTERNAL_REF_RE = re.compile(r"^([a-z][a-z0-9_]{0,31}):(.{1,255})$", re.S)


def _text(max_length: int) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not value or len(value) > max_length:
            raise ValueError(f"1 to {max_length} characters")
        return value

    return parse


def _ident(value: str) -> str:
    if not ID_RE.match(value):
        raise ValueError("not an id")
    return value


def _enum(schema: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in enum_values(schema):
            raise ValueError(f"one of {', '.join(enum_values(schema))}")
        return value

    return parse


def _enum_list(schema: str) -> Callable[[str], list[str]]:
    def parse(value: str) -> list[str]:
        values = value.split(",")
        if not value or len(set(values)) != len(values):
            raise ValueError("a comma-separated list of distinct values")
        return [_enum(schema)(v) for v in values]

    return parse


def _boolean(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError("true or false")
    return value == "true"


def _external_ref(value: str) -> tuple[str, str]:
    match = EXTERNAL_REF_RE.match(value)
    if not match:
        raise ValueError("<system>:<id>, e.g. xero:6b9d0e5c-…")
    return match.group(1), match.group(2)


def exact(field_name: str, parse: Callable = _text(50)) -> Filter:
    return Filter(parse, lambda qs, v: qs.filter(**{field_name: v}))


def one_of(field_name: str, schema: str) -> Filter:
    return Filter(_enum_list(schema), lambda qs, v: qs.filter(**{f"{field_name}__in": v}))


EXTERNAL_REF = Filter(_external_ref, lambda qs, v: qs.filter(**{f"external_refs__{v[0]}": v[1]}))
UPDATED_SINCE = updated_since_filter()


@dataclass(frozen=True)
class Resource:
    name: str
    model: type
    to_json: Callable
    read_scope: str
    filters: dict[str, Filter] = field(default_factory=dict)
    related: tuple[str, ...] = ()
    prefetch: tuple[str, ...] = ()
    annotate: dict = field(default_factory=dict)
    external_refs: bool = True
    page_json: Callable[[list, m.TimsSite], list[dict]] | None = None

    def queryset(self, site, *, for_update: bool = False) -> QuerySet:
        """Rows of the site, with what their JSON needs fetched up front. PostgreSQL refuses
        FOR UPDATE next to an aggregate, so rows locked for a write go without annotations."""
        qs = self.model.objects.filter(site=site)
        if for_update:
            return qs.select_for_update(of=("self",)).select_related(*self.related)
        if self.annotate:
            qs = qs.annotate(**self.annotate)
        if self.related:
            qs = qs.select_related(*self.related)
        if self.prefetch:
            qs = qs.prefetch_related(*self.prefetch)
        return qs

    def list_queryset(self, site) -> QuerySet:
        """Rows of a page. A resource with ``page_json`` loads what its page needs itself, in
        one query per relation for the whole page, so its rows come alone."""
        if self.page_json is None:
            return self.queryset(site)
        return self.model.objects.filter(site=site)

    def records_json(self, records: list, site) -> list[dict]:
        if self.page_json is None:
            return [self.to_json(record) for record in records]
        return self.page_json(records, site)

    def list_filters(self) -> dict[str, Filter]:
        base = {"updated_since": UPDATED_SINCE}
        if self.external_refs:
            base["external_ref"] = EXTERNAL_REF
        return base | self.filters


def _has_invoice(qs, invoice_id):
    return qs.filter(allocations__invoice_id=invoice_id).distinct()


def _has_account(qs, code):
    return qs.filter(lines__account_code=code).distinct()


def _posted_from(qs, day: date):
    return qs.filter(entry_date__gte=day)


def _posted_to(qs, day: date):
    return qs.filter(entry_date__lte=day)


def _date(value: str) -> date:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("a date YYYY-MM-DD")
    return date.fromisoformat(value)


SITE = ("site",)

CUSTOMERS = Resource(
    "customers", m.TimsCustomer, s.customer_json, "customers:read",
    {"status": exact("status", _enum("PartyStatus")), "customer_code": exact("customer_code")}, related=SITE,
    annotate={"open_balance": s.open_balance("invoices")},
)
VENDORS = Resource(
    "vendors", m.TimsVendor, s.vendor_json, "vendors:read",
    {"status": exact("status", _enum("PartyStatus")), "vendor_code": exact("vendor_code")}, related=SITE,
    annotate={"open_balance": s.open_balance("bills")},
)
PRODUCTS = Resource(
    "products", m.TimsProduct, s.product_json, "products:read",
    {
        "sku": exact("sku"),
        "category": exact("category"),
        "tracked": exact("tracked", _boolean),
        "status": exact("status", _enum("ProductStatus")),
    },
    related=SITE,
)
SALES_ORDERS = Resource(
    "salesorders", m.TimsSalesOrder, s.sales_order_json, "salesorders:read",
    {
        "status": one_of("status", "SalesOrderStatus"),
        "customer_id": exact("customer_id", _ident),
        "order_number": exact("order_number"),
    },
    related=("site", "customer"), prefetch=("lines", "invoices"), page_json=s.sales_orders_json,
)
PURCHASE_ORDERS = Resource(
    "purchaseorders", m.TimsPurchaseOrder, s.purchase_order_json, "purchaseorders:read",
    {
        "status": one_of("status", "PurchaseOrderStatus"),
        "vendor_id": exact("vendor_id", _ident),
        "po_number": exact("po_number"),
    },
    related=("site", "vendor"), prefetch=("lines", "bills"),
)
VENDOR_BILLS = Resource(
    "vendorbills", m.TimsVendorBill, s.vendor_bill_json, "bills:read",
    {
        "status": one_of("status", "BillStatus"),
        "vendor_id": exact("vendor_id", _ident),
        "purchase_order_id": exact("purchase_order_id", _ident),
        "bill_number": exact("bill_number", _text(100)),
    },
    related=("site", "vendor"), prefetch=("lines",),
)
INVOICES = Resource(
    "invoices", m.TimsReceivableInvoice, s.invoice_json, "invoices:read",
    {
        "status": one_of("status", "ReceivableInvoiceStatus"),
        "customer_id": exact("customer_id", _ident),
        "sales_order_id": exact("sales_order_id", _ident),
        "invoice_number": exact("invoice_number"),
    },
    related=("site", "customer", "sales_order"), prefetch=("lines",),
)
PAYMENTS = Resource(
    "payments", m.TimsPayment, s.payment_json, "payments:read",
    {
        "customer_id": exact("customer_id", _ident),
        "invoice_id": Filter(_ident, _has_invoice),
        "status": exact("status", _enum("PaymentStatus")),
    },
    related=("site", "customer"), prefetch=("allocations__invoice",),
)
ADJUSTMENTS = Resource(
    "adjustments", m.TimsInventoryAdjustment, s.adjustment_json, "inventory:read",
    {
        "warehouse": exact("warehouse", _text(30)),
        "sku": exact("sku"),
        "reason": exact("reason", _enum("AdjustmentReason")),
    },
)
GL_ENTRIES = Resource(
    "entries", m.TimsGlEntry, s.gl_entry_json, "gl:read",
    {
        "posted_from": Filter(_date, _posted_from),
        "posted_to": Filter(_date, _posted_to),
        "source": one_of("source", "GlSource"),
        "account_code": Filter(_text(30), _has_account),
    },
    prefetch=("lines",),
)
GL_ACCOUNTS = Resource(
    "accounts", m.TimsGlAccount, s.gl_account_json, "gl:read",
    {"type": exact("type", _enum("GlAccountType")), "status": exact("status", _enum("ActiveStatus"))},
    external_refs=False,
)
TAX_CODES = Resource(
    "taxcodes", m.TimsTaxCode, s.tax_code_json, "gl:read", {"status": exact("status", _enum("ActiveStatus"))}, external_refs=False
)
DIMENSIONS = Resource(
    "dimensions", m.TimsDimension, s.dimension_json, "dimensions:read", {"status": exact("status", _enum("ActiveStatus"))},
    annotate={"value_count": Count("values")},
)
DIMENSION_VALUES = Resource(
    "values", m.TimsDimensionValue, s.dimension_value_json, "dimensions:read",
    {"status": exact("status", _enum("ActiveStatus"))}, related=("dimension",),
)
SUBSCRIPTIONS = Resource(
    "subscriptions", m.TimsWebhookSubscription, s.subscription_json, "webhooks:manage",
    {"status": exact("status", _enum("SubscriptionStatus"))}, external_refs=False,
)
INVENTORY_FILTERS = {
    "updated_since": updated_since_filter("stock_updated_at"),
    "warehouse": exact("stock_levels__warehouse", _text(30)),
}
NESTED_FILTERS = {"updated_since": UPDATED_SINCE}

