"""``TimsClient``: one TIMS site as the engine needs it (connectors/tims/openapi.yaml, README).

Reads stream every page of an incremental walk (``updated_since``, inclusive; cursor paging in
``(updated_at, id)`` order), one page in memory at a time, and drop a state of a record already
yielded (same ``id`` and ``version``). Writes are one record per request (v1 has no batch
writes), each with an ``Idempotency-Key``; creates carry ``external_refs`` so that a lost answer
is settled by looking the record up by that reference (``find_records``) before any retry."""

from __future__ import annotations

import hashlib
import re
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from connectors.base import (
    decode_or_mark,
    ConnectorError,
    TokenSet,
    ElementResult,
    ErrorClass,
    MappingFailed,
    NotFound,
    RawRecord,
    ValidationFailed,
)
from connectors.canonical import (
    Customer,
    Dimension,
    DimensionValue,
    GLAccount,
    GLEntry,
    InventoryAdjustment,
    InventoryLevel,
    Product,
    PurchaseOrder,
    ReceivableInvoice,
    ReceivablePayment,
    SalesOrder,
    TaxCode,
    Vendor,
    VendorBill,
)
from connectors.http import HttpClient, Page, items, json_dumps, json_loads, pages_by_cursor
from connectors.tims import codecs
from connectors.tims.errors import INVALID_CURSOR, DuplicateRecord, refine

BATCH_LIMIT = 1  # "v1 has no batch create" (README "Rate limits"): one record per request
DEFAULT_PAGE_SIZE = 500  # the largest `limit` (1-500; out of range is a 400, not clamped)
MAX_CURSOR_RESTARTS = 3
# Records seen this long before the newest one are forgotten by the de-duplication: within a
# walk a record comes back only with a newer version, so only the boundary needs remembering.
DEDUPE_HORIZON = timedelta(minutes=5)
DEFAULT_REF_SYSTEM = "xero"
_IDEMPOTENCY_KEY = re.compile(r"^[!-~]{1,255}$")  # 1-255 printable ASCII (openapi.yaml)
_REF_SYSTEM = re.compile(r"^[a-z][a-z0-9_]{0,31}$")

Decoder = Callable[[Mapping[str, Any]], Any]
Encoder = Callable[..., dict[str, Any]]


def _id_version(record: Mapping[str, Any]) -> tuple[Any, ...]:
    return (record.get("id"), record.get("version"))


def _sku_moment(record: Mapping[str, Any]) -> tuple[Any, ...]:
    # Stock levels are a computed view with no id or version (openapi.yaml `InventoryLevel`).
    return (record.get("sku"), record.get("updated_at"))


@dataclass(frozen=True)
class Resource:
    """How one entity lives in the contract."""

    entity: str
    path: str  # relative to /api/v1/
    decode: Decoder
    encode: Encoder | None = None  # (record, create=bool) for customers, vendors, products
    refs_subpath: bool = True  # external refs via `{path}/{id}/external-refs`, else the record's PATCH
    external_ref_filter: bool = True
    filters: frozenset[str] = frozenset()  # exact-match list filters (natural keys, statuses)
    state_key: Callable[[Mapping[str, Any]], tuple[Any, ...]] = _id_version


RESOURCES: dict[str, Resource] = {
    r.entity: r
    for r in (
        Resource("customer", "customers", codecs.decode_customer, codecs.encode_customer, refs_subpath=False,
                 filters=frozenset({"customer_code", "status"})),
        Resource("vendor", "vendors", codecs.decode_vendor, codecs.encode_vendor, refs_subpath=False,
                 filters=frozenset({"vendor_code", "status"})),
        Resource("product", "products", codecs.decode_product, codecs.encode_product, refs_subpath=False,
                 filters=frozenset({"sku", "category", "tracked", "status"})),
        Resource("sales_order", "salesorders", codecs.decode_sales_order,
                 filters=frozenset({"status", "customer_id", "order_number"})),
        Resource("purchase_order", "purchaseorders", codecs.decode_purchase_order,
                 filters=frozenset({"status", "vendor_id", "po_number"})),
        Resource("vendor_bill", "vendorbills", codecs.decode_vendor_bill,
                 filters=frozenset({"status", "vendor_id", "purchase_order_id", "bill_number"})),
        Resource("receivable_invoice", "accounts/receivable/invoices", codecs.decode_receivable_invoice,
                 filters=frozenset({"status", "customer_id", "sales_order_id", "invoice_number"})),
        Resource("payment", "payments", codecs.decode_payment, lambda p, create=True: codecs.encode_payment(p), refs_subpath=False,
                 filters=frozenset({"customer_id", "invoice_id", "status"})),
        Resource("inventory_adjustment", "inventory/adjustments", codecs.decode_inventory_adjustment,
                 filters=frozenset({"warehouse", "sku", "reason"})),
        Resource("inventory_level", "inventory/items", codecs.decode_inventory_level, refs_subpath=False,
                 external_ref_filter=False, filters=frozenset({"warehouse"}), state_key=_sku_moment),
        Resource("gl_entry", "gl/entries", codecs.decode_gl_entry,
                 filters=frozenset({"posted_from", "posted_to", "source", "account_code"})),
        Resource("gl_account", "gl/accounts", codecs.decode_gl_account, refs_subpath=False,
                 external_ref_filter=False, filters=frozenset({"type", "status"})),
        Resource("tax_code", "taxcodes", codecs.decode_tax_code, refs_subpath=False,
                 external_ref_filter=False, filters=frozenset({"status"})),
        Resource("dimension", "dimensions", codecs.decode_dimension, filters=frozenset({"status"})),
        # Values live under their dimension: ids given to the generic methods are
        # "<dimension id>/<value id>" (ids never contain "/", openapi.yaml `Id`).
        Resource("dimension_value", "dimensions/{dimension_id}/values", codecs.decode_dimension_value,
                 filters=frozenset({"status"})),
    )
}
CREATABLE = frozenset({"customer", "vendor", "product", "payment"})
UPDATABLE = frozenset({"customer", "vendor", "product"})  # payments are immutable: void and record anew
NO_EXTERNAL_REFS = frozenset({"inventory_level", "gl_account", "tax_code"})


def _segment(value: str) -> str:
    return quote(value, safe="")


class _RecentStates:
    """The states of records yielded near the walk's newest ``updated_at``: enough to drop the
    boundary records an inclusive ``updated_since`` (or a cursor restart) returns again, without
    keeping every key of a long walk in memory."""

    def __init__(self, horizon: timedelta) -> None:
        self.horizon = horizon
        self._order: deque[tuple[datetime, tuple[Any, ...]]] = deque()
        self._keys: set[tuple[Any, ...]] = set()
        self.newest: datetime | None = None

    def add(self, key: tuple[Any, ...], updated_at: datetime | None) -> bool:
        """False when this state was already yielded."""
        if key in self._keys:
            return False
        self._keys.add(key)
        if updated_at is None:
            return True
        self._order.append((updated_at, key))
        if self.newest is None or updated_at > self.newest:
            self.newest = updated_at
            while self._order and self._order[0][0] < self.newest - self.horizon:
                self._keys.discard(self._order.popleft()[1])
        return True


class TimsClient:
    """One TIMS site. Implements ``connectors.base.Connector``; the named methods
    (``list_sales_orders``, ``create_customers``, ``mark_invoice_paid``, ...) are the same
    operations spelled for people."""

    system: ClassVar[str] = "tims"
    entities: ClassVar[frozenset[str]] = frozenset(RESOURCES)
    batch_limit: ClassVar[int] = BATCH_LIMIT
    # list_records(..., undecoded=True) yields RawRecords (a run's reader, for its lanes).
    lists_undecoded: ClassVar[bool] = True

    def __init__(
        self,
        http: HttpClient,
        *,
        client_id: str = "",
        base_url: str = "",
        token: Callable[[], TokenSet] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        """``token`` returns the connection's current token (fetching one when needed): the
        first step of ``check``."""
        if not 1 <= page_size <= 500:
            raise ValueError("a TIMS page holds 1 to 500 records")
        self.http = http
        self.client_id = client_id
        self.base_url = base_url
        self._token = token
        self.page_size = page_size

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TimsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- Connector protocol ---------------------------------------------------------------------

    def list_records(
        self,
        entity: str,
        *,
        modified_since: datetime | None = None,
        lookback: timedelta = timedelta(0),
        filters: Mapping[str, Any] | None = None,
        known_versions: Mapping[str, int] | None = None,
        undecoded: bool = False,
    ) -> Iterator[Any]:
        """Every record of ``entity`` changed at or after ``modified_since - lookback`` (all when
        None), oldest change first, streamed page by page; ``undecoded``: as ``RawRecord``s, for
        a reader that hands them to other processes to decode (``lists_undecoded``).

        ``updated_since`` is inclusive and ``updated_at`` is set at commit, so a run resumes at
        its high-water mark minus a lookback (README "Lists and incremental sync") and sees the
        boundary again: states already yielded in this walk are dropped by ``(id, version)``,
        and ``known_versions`` (id → version the caller already holds) drops those of earlier
        runs. A record changed while the walk pages comes back later with its new version."""
        # Not a generator itself: a wrong entity or filter is refused now, not at the first next().
        resource = self._resource(entity)
        query = self._list_query(resource, modified_since, lookback, filters)
        if resource.entity == "dimension_value":
            return self._list_all_dimension_values(query, known_versions, lookback)
        return self._walk(resource, resource.path, query, known_versions, lookback, undecoded=undecoded)

    def get_records(self, entity: str, ids: Sequence[str]) -> list[Any]:
        """The records with these ids; ids TIMS does not know are left out."""
        found = []
        for remote_id in ids:
            try:
                found.append(self.get_record(entity, remote_id))
            except NotFound:
                continue
        return found

    def get_record(self, entity: str, remote_id: str) -> Any:
        """One record (NotFound when TIMS does not know it). Stock levels are keyed by SKU."""
        resource = self._resource(entity)
        if resource.entity == "inventory_level":
            return self.get_inventory_quantity(remote_id)
        if resource.entity == "dimension_value" and "/" not in remote_id:
            # A value's own id, without its dimension (as a record link keeps it): values live
            # under their dimension, and dimensions are few, so ask each.
            for dimension in self.list_records("dimension"):
                try:
                    return self.get_record(entity, f"{dimension.remote_id}/{remote_id}")
                except NotFound:
                    continue
            raise NotFound(f"TIMS has no dimension value {remote_id}")
        return resource.decode(self._get(self._record_path(resource, remote_id)))

    def find_records(
        self, entity: str, refs: Sequence[str], *, system: str = DEFAULT_REF_SYSTEM, field: str = ""
    ) -> list[Any]:
        """The records whose ``external_refs[system]`` is one of ``refs`` (by default the Xero
        ids we put on them), or with ``field`` whose natural key (``customer_code``, ``sku``,
        ``invoice_number``, ...) is. This is how an ``UnknownOutcome`` is settled: the create
        carried the reference, so the record is there if and only if the create landed."""
        resource = self._resource(entity)
        if field and field not in resource.filters:
            raise ValueError(f"TIMS cannot filter {entity} by {field!r}; it can by {sorted(resource.filters)}")
        if not field and not resource.external_ref_filter:
            raise ValueError(f"TIMS keeps no external references on {entity}")
        if not field and not _REF_SYSTEM.match(system):
            raise ValueError(f"{system!r} is not a system name for external_refs")
        found: list[Any] = []
        for ref in dict.fromkeys(r for r in refs if r):
            query = {field: ref} if field else {"external_ref": f"{system}:{ref}"}
            path = resource.path if resource.entity != "dimension_value" else None
            raws = self._walk_raw(path, query) if path else self._dimension_values_raw(query)
            for raw in raws:
                # Keep exact matches only: a loose filter must never link the wrong record.
                value = raw.get(field) if field else (raw.get("external_refs") or {}).get(system)
                if str(value) == str(ref):
                    found.append(resource.decode(raw))
        return found

    def find_by_external_ref(self, entity: str, ref: str, *, system: str = DEFAULT_REF_SYSTEM) -> Any | None:
        """The one record carrying ``external_refs[system] == ref`` (refs are unique per record
        type), or None: the answer to "did my create land?"."""
        found = self.find_records(entity, [ref], system=system)
        return found[0] if found else None

    def settle_records(self, entity: str, batch: Mapping[str, Any]) -> list[ElementResult]:
        """What became of each element of a create that ended in ``UnknownOutcome``, found by the
        external refs the create carried (unique per record type, README "Writes"): ok with the
        remote id when the record is there (link it, do not create it again); NOT_FOUND when it
        is not (safe to create again, with the same key); DUPLICATE when it cannot be told (the
        record carried no reference, or the refs point at different records): a person decides."""
        resource = self._resource(entity)
        results: list[ElementResult] = []
        for key, record in batch.items():
            refs = {system: ref for system, ref in (getattr(record, "external_refs", None) or {}).items() if ref}
            if not refs or not resource.external_ref_filter:
                results.append(_undecidable(key, "It carried no external reference to look it up by: check TIMS before creating it again."))
                continue
            found = {r.remote_id: r for system, ref in refs.items() if (r := self.find_by_external_ref(entity, ref, system=system))}
            if len(found) == 1:
                [(remote_id, match)] = found.items()
                results.append(ElementResult(source_ref=key, ok=True, remote_id=remote_id, record=match))
            elif not found:
                named = ", ".join(f"{s}:{r}" for s, r in refs.items())
                results.append(ElementResult(source_ref=key, ok=False, errors=(f"No TIMS {entity.replace('_', ' ')} carries {named}: it was not created.",), error_class=ErrorClass.NOT_FOUND))
            else:
                results.append(_undecidable(key, f"Its references point at {len(found)} TIMS records ({', '.join(sorted(found))}): link the right one by hand."))
        return results

    def create_records(
        self, entity: str, batch: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> list[ElementResult]:
        """Create customers, vendors or products; ``batch`` maps the caller's key to a record.
        ``idempotency_key`` is a prefix: each element's key adds its source key and a digest of
        its body, so a changed payload never reuses a key (422 ``idempotency-key-reused``)."""
        resource = self._writable(entity, batch, CREATABLE)
        return [
            self._write(
                resource, ref, "POST", resource.path, resource.encode(record, create=True), idempotency_key
            )
            for ref, record in batch.items()
        ]

    def update_records(
        self,
        entity: str,
        batch: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        fields: Sequence[str] | None = None,
    ) -> list[ElementResult]:
        """JSON Merge Patch of each record's writable fields (only ``fields`` when given: the
        conflict policy's side of the record), with ``If-Match`` on the version last read, so a
        change made in TIMS meanwhile is refused (412, a conflict) instead of overwritten."""
        resource = self._writable(entity, batch, UPDATABLE)
        missing = [ref for ref, record in batch.items() if not getattr(record, "remote_id", "")]
        if missing:
            raise ValueError(f"records without remote_id cannot be updated: {missing}")
        results = []
        for ref, record in batch.items():
            patch = self.encode_record(entity, record, update=True)
            if fields is not None:
                patch = {k: v for k, v in patch.items() if k in fields}
            if not patch:
                raise ValueError(f"nothing to update on {ref}: the patch is empty")
            headers = {"If-Match": f'W/"{record.version}"'} if record.version else {}
            results.append(
                self._write(
                    resource, ref, "PATCH", self._record_path(resource, record.remote_id), patch, idempotency_key,
                    headers=headers, merge_patch=True,
                )
            )
        return results

    def encode_record(self, entity: str, record: Any, *, update: bool = False) -> dict[str, Any]:
        """The body one write of this record sends: the create's JSON, or the update's merge
        patch (before ``fields`` narrows it): what a dry run shows."""
        resource = self._writable(entity, {}, UPDATABLE if update else CREATABLE)
        body = resource.encode(record, create=not update)
        if update:
            body.pop("external_refs", None)  # references change through set_external_refs
        return body

    def check(self) -> Mapping[str, Any]:
        """A token (proves the credentials and TLS), then one cheap read among the granted
        scopes (proves the API answers): the admin's "Test"."""
        scopes = self._token().scope.split() if self._token is not None else []
        probe = next((entity for scope, entity in _PROBES if scope in scopes), "customer")
        body = self._get(self._resource(probe).path, {"limit": 1})
        return {
            "base_url": self.base_url,
            "client_id": self.client_id,
            "scopes": scopes,
            "probe": probe,
            "records_visible": bool(body.get("data")),
        }

    # --- Named reads ----------------------------------------------------------------------------

    def list_customers(self, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[Customer]:
        return self.list_records("customer", modified_since=modified_since, filters=filters)

    def list_vendors(self, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[Vendor]:
        return self.list_records("vendor", modified_since=modified_since, filters=filters)

    def list_products(self, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[Product]:
        return self.list_records("product", modified_since=modified_since, filters=filters)

    def list_sales_orders(self, *, modified_since: datetime | None = None, statuses: Sequence[str] = (), **filters: Any) -> Iterator[SalesOrder]:
        return self.list_records("sales_order", modified_since=modified_since, filters=_statuses(filters, statuses))

    def list_purchase_orders(self, *, modified_since: datetime | None = None, statuses: Sequence[str] = (), **filters: Any) -> Iterator[PurchaseOrder]:
        return self.list_records("purchase_order", modified_since=modified_since, filters=_statuses(filters, statuses))

    def list_vendor_bills(self, *, modified_since: datetime | None = None, statuses: Sequence[str] = (), **filters: Any) -> Iterator[VendorBill]:
        return self.list_records("vendor_bill", modified_since=modified_since, filters=_statuses(filters, statuses))

    def list_purchase_order_bills(self, purchase_order_id: str, *, modified_since: datetime | None = None) -> Iterator[VendorBill]:
        resource = RESOURCES["vendor_bill"]
        path = f"purchaseorders/{_segment(purchase_order_id)}/bills"
        return self._walk(resource, path, self._list_query(resource, modified_since, timedelta(0), None), None, timedelta(0))

    def list_receivable_invoices(self, *, modified_since: datetime | None = None, statuses: Sequence[str] = (), **filters: Any) -> Iterator[ReceivableInvoice]:
        return self.list_records("receivable_invoice", modified_since=modified_since, filters=_statuses(filters, statuses))

    def list_payments(self, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[ReceivablePayment]:
        return self.list_records("payment", modified_since=modified_since, filters=filters)

    def list_invoice_payments(self, invoice_id: str, *, modified_since: datetime | None = None) -> Iterator[ReceivablePayment]:
        resource = RESOURCES["payment"]
        path = f"accounts/receivable/invoices/{_segment(invoice_id)}/payments"
        return self._walk(resource, path, self._list_query(resource, modified_since, timedelta(0), None), None, timedelta(0))

    def list_inventory_adjustments(self, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[InventoryAdjustment]:
        return self.list_records("inventory_adjustment", modified_since=modified_since, filters=filters)

    def list_inventory_levels(self, *, modified_since: datetime | None = None, warehouse: str = "") -> Iterator[InventoryLevel]:
        return self.list_records("inventory_level", modified_since=modified_since, filters={"warehouse": warehouse} if warehouse else None)

    def get_inventory_quantity(self, sku: str, *, warehouse: str = "") -> InventoryLevel:
        """Stock of one SKU (409 ``not-tracked`` → Conflict for an untracked product). The SKU
        is percent-encoded, "/" included (openapi.yaml ``getInventoryQuantity``)."""
        params = {"warehouse": warehouse} if warehouse else None
        return codecs.decode_inventory_level(self._get(f"inventory/items/{_segment(sku)}/quantity", params))

    def list_gl_entries(self, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[GLEntry]:
        return self.list_records("gl_entry", modified_since=modified_since, filters=filters)

    def list_gl_accounts(self, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[GLAccount]:
        return self.list_records("gl_account", modified_since=modified_since, filters=filters)

    def list_tax_codes(self, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[TaxCode]:
        return self.list_records("tax_code", modified_since=modified_since, filters=filters)

    def list_dimensions(self, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[Dimension]:
        return self.list_records("dimension", modified_since=modified_since, filters=filters)

    def list_dimension_values(self, dimension_id: str, *, modified_since: datetime | None = None, **filters: Any) -> Iterator[DimensionValue]:
        resource = RESOURCES["dimension_value"]
        path = resource.path.format(dimension_id=_segment(dimension_id))
        return self._walk(resource, path, self._list_query(resource, modified_since, timedelta(0), filters), None, timedelta(0))

    # --- Named writes ---------------------------------------------------------------------------

    def create_customers(self, batch: Mapping[str, Customer], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.create_records("customer", batch, idempotency_key=idempotency_key)

    def update_customers(self, batch: Mapping[str, Customer], *, idempotency_key: str | None = None, fields: Sequence[str] | None = None) -> list[ElementResult]:
        return self.update_records("customer", batch, idempotency_key=idempotency_key, fields=fields)

    def create_vendors(self, batch: Mapping[str, Vendor], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.create_records("vendor", batch, idempotency_key=idempotency_key)

    def update_vendors(self, batch: Mapping[str, Vendor], *, idempotency_key: str | None = None, fields: Sequence[str] | None = None) -> list[ElementResult]:
        return self.update_records("vendor", batch, idempotency_key=idempotency_key, fields=fields)

    def create_products(self, batch: Mapping[str, Product], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.create_records("product", batch, idempotency_key=idempotency_key)

    def update_products(self, batch: Mapping[str, Product], *, idempotency_key: str | None = None, fields: Sequence[str] | None = None) -> list[ElementResult]:
        return self.update_records("product", batch, idempotency_key=idempotency_key, fields=fields)

    def create_payments(self, batch: Mapping[str, ReceivablePayment], *, idempotency_key: str | None = None) -> list[ElementResult]:
        """Record AR receipts with their allocations (``POST /payments``). Put the Xero
        PaymentID in ``external_refs`` so a lost answer can be settled."""
        return self.create_records("payment", batch, idempotency_key=idempotency_key)

    def create_invoice_payment(
        self, invoice_id: str, payment: ReceivablePayment, *, source_ref: str = "", idempotency_key: str | None = None
    ) -> ElementResult:
        """A Xero payment on its matching invoice: the whole amount to that invoice, whose
        customer and currency it must have (422 ``exceeds_amount_due`` / ``currency_mismatch``)."""
        path = f"accounts/receivable/invoices/{_segment(invoice_id)}/payments"
        body = codecs.encode_payment(payment, for_invoice=True)
        return self._write(RESOURCES["payment"], source_ref or invoice_id, "POST", path, body, idempotency_key)

    def void_payment(self, payment_id: str, reason: str, *, idempotency_key: str | None = None) -> ElementResult:
        """A Xero payment set to DELETED: void the TIMS receipt (invoice balances reopen)."""
        path = f"payments/{_segment(payment_id)}/void"
        return self._write(RESOURCES["payment"], payment_id, "POST", path, {"reason": reason}, idempotency_key)

    def mark_invoice_paid(
        self,
        invoice_id: str,
        reason: str,
        *,
        settled_on: date | None = None,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> ElementResult:
        """Close an AR invoice settled outside TIMS (sites that keep no cash ledger in TIMS).
        Marking a paid invoice paid again is a no-op; a void one is a Conflict."""
        body: dict[str, Any] = {"status": "paid", "reason": reason}
        if settled_on is not None:
            body["settled_on"] = settled_on.isoformat()
        return self._set_invoice_status(invoice_id, body, version, idempotency_key)

    def reopen_invoice(
        self, invoice_id: str, reason: str, *, version: int | None = None, idempotency_key: str | None = None
    ) -> ElementResult:
        """Undo ``mark_invoice_paid`` (e.g. the Xero payment was deleted)."""
        return self._set_invoice_status(invoice_id, {"status": "open", "reason": reason}, version, idempotency_key)

    def set_external_refs(
        self, entity: str, remote_id: str, refs: Mapping[str, str | None], *, idempotency_key: str | None = None
    ) -> ElementResult:
        """Merge our cross-references into a record (``null`` removes a key). Such a write
        changes neither ``updated_at`` nor ``version``, so it never echoes back as a change; it
        therefore carries no If-Match either."""
        resource = self._resource(entity)
        if resource.entity in NO_EXTERNAL_REFS:
            raise ValueError(f"TIMS keeps no external references on {entity}")
        if not refs:
            raise ValueError("no references to set")
        path = self._record_path(resource, remote_id)
        if resource.refs_subpath:
            path, body = f"{path}/external-refs", dict(refs)
        else:
            body = {"external_refs": dict(refs)}
        return self._write(resource, remote_id, "PATCH", path, body, idempotency_key, merge_patch=True)

    # --- Webhook subscriptions (scope webhooks:manage) -------------------------------------------

    def list_webhook_subscriptions(self) -> list[dict[str, Any]]:
        """This client's subscriptions (a client sees only its own)."""
        return [dict(raw) for raw in self._walk_raw("webhooks/subscriptions", {})]

    def create_webhook_subscription(
        self, url: str, events: Sequence[str], *, description: str = "", idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Subscribe ``url``; the answer carries the signing ``secret``, shown only here and by
        :meth:`rotate_webhook_secret`: store it at once. A resent create with the same
        idempotency key is replayed, not made twice."""
        body: dict[str, Any] = {"url": url, "events": list(events)}
        if description:
            body["description"] = description
        response = self._call("POST", "webhooks/subscriptions", json=body, idempotency_key=idempotency_key or "")
        return dict(json_loads(response.content))

    def update_webhook_subscription(self, subscription_id: str, **fields: Any) -> dict[str, Any]:
        """Change a subscription's url, events, description or status (JSON Merge Patch)."""
        response = self._call("PATCH", f"webhooks/subscriptions/{_segment(subscription_id)}", content=json_dumps(fields).encode(),
                              headers={"Content-Type": "application/merge-patch+json"})
        return dict(json_loads(response.content))

    def rotate_webhook_secret(self, subscription_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        """A new signing secret; for a day deliveries carry signatures by both."""
        response = self._call("POST", f"webhooks/subscriptions/{_segment(subscription_id)}/rotate-secret",
                              idempotency_key=idempotency_key or "")
        return dict(json_loads(response.content))

    def delete_webhook_subscription(self, subscription_id: str) -> None:
        self._call("DELETE", f"webhooks/subscriptions/{_segment(subscription_id)}")

    # --- Internals: reading ---------------------------------------------------------------------

    @staticmethod
    def _resource(entity: str) -> Resource:
        try:
            return RESOURCES[entity]
        except KeyError:
            raise ValueError(f"TIMS has no entity {entity!r}; known: {sorted(RESOURCES)}") from None

    @staticmethod
    def _record_path(resource: Resource, remote_id: str) -> str:
        if resource.entity == "dimension_value":
            dimension_id, _, value_id = remote_id.partition("/")
            if not value_id:
                raise ValueError('a dimension value is addressed as "<dimension id>/<value id>"')
            return f"{resource.path.format(dimension_id=_segment(dimension_id))}/{_segment(value_id)}"
        return f"{resource.path}/{_segment(remote_id)}"

    def _list_query(
        self, resource: Resource, since: datetime | None, lookback: timedelta, filters: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for name, value in (filters or {}).items():
            if value in (None, ""):
                continue
            if name not in resource.filters:
                # The site refuses unknown parameters (400): say which ones it knows, here.
                raise ValueError(f"TIMS cannot filter {resource.entity} by {name!r}; it can by {sorted(resource.filters)}")
            query[name] = _query_value(value)
        if since is not None:
            query["updated_since"] = codecs.format_datetime(since - lookback)
        return query

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return json_loads(self._call("GET", path, params=params).content)

    def _fetch_page(self, path: str, params: Mapping[str, Any]) -> Page[Mapping[str, Any]]:
        body = self._get(path, params)
        if not isinstance(body, Mapping) or not isinstance(body.get("data"), list):
            raise MappingFailed(f"TIMS answered {path} without a `data` list")
        return Page(items=body["data"], next_cursor=body.get("next_cursor") or None)

    def _walk_raw(self, path: str, query: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        """Every item of every page. Each later page sends the cursor with exactly the first
        page's query: the cursor holds a digest of the filters and a mismatch is refused with
        400 ``invalid-cursor`` (openapi.yaml ``Cursor``); ``updated_since`` is one of them."""
        first = {**query, "limit": self.page_size}

        def fetch(cursor: str | None) -> Page[Mapping[str, Any]]:
            return self._fetch_page(path, {**first, "cursor": cursor} if cursor else first)

        yield from items(pages_by_cursor(fetch))

    def _walk(
        self,
        resource: Resource,
        path: str,
        query: Mapping[str, Any],
        known_versions: Mapping[str, int] | None,
        lookback: timedelta,
        *,
        undecoded: bool = False,
    ) -> Iterator[Any]:
        seen = _RecentStates(max(lookback, DEDUPE_HORIZON))
        restarts = 0
        while True:
            try:
                for raw in self._walk_raw(path, query):
                    stamp = raw.get("updated_at")
                    updated_at = codecs.parse_datetime(stamp, "updated_at") if stamp else None
                    if not seen.add(resource.state_key(raw), updated_at):
                        continue
                    version = raw.get("version")
                    known = known_versions.get(str(raw.get("id"))) if known_versions else None
                    if known is not None and isinstance(version, int) and version <= known:
                        continue
                    remote_id = str(raw.get("id", ""))
                    if undecoded:
                        yield RawRecord(resource.decode, raw, resource.entity, remote_id, updated_at)
                    else:
                        yield decode_or_mark(resource.decode, raw, entity=resource.entity, remote_id=remote_id)
                return
            except ValidationFailed as exc:
                # A cursor expired (24 h) or was refused: restart the walk from the newest
                # change already yielded, inclusive; the repeats are dropped above (README
                # "Errors": for `invalid-cursor`, restart the walk from the stored mark).
                if exc.code != INVALID_CURSOR or seen.newest is None or restarts >= MAX_CURSOR_RESTARTS:
                    raise
                restarts += 1
                query = {**query, "updated_since": codecs.format_datetime(seen.newest)}

    def _list_all_dimension_values(
        self, query: Mapping[str, Any], known_versions: Mapping[str, int] | None, lookback: timedelta
    ) -> Iterator[DimensionValue]:
        # Values are listed per dimension, and a value's change need not touch its dimension:
        # every dimension is walked (there are few), each one's values incrementally.
        resource = RESOURCES["dimension_value"]
        for dimension in list(self._walk_raw(RESOURCES["dimension"].path, {})):
            path = resource.path.format(dimension_id=_segment(str(dimension["id"])))
            yield from self._walk(resource, path, query, known_versions, lookback)

    def _dimension_values_raw(self, query: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
        resource = RESOURCES["dimension_value"]
        for dimension in list(self._walk_raw(RESOURCES["dimension"].path, {})):
            yield from self._walk_raw(resource.path.format(dimension_id=_segment(str(dimension["id"]))), query)

    # --- Internals: writing ---------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Every call: the shared client (retries, budget, call log), then the contract's own
        reading of the error (duplicates, 412, a revoked client)."""
        try:
            return self.http.request(method, path, **kwargs)
        except ConnectorError as exc:
            refined = refine(exc)
            if refined is exc:
                raise
            raise refined from exc

    def _writable(self, entity: str, batch: Mapping[str, Any], allowed: frozenset[str]) -> Resource:
        resource = self._resource(entity)
        if resource.entity not in allowed or resource.encode is None:
            raise ValueError(f"TIMS does not take this write on {entity} records (only their external refs can be set)")
        self._check_batch(batch)
        return resource

    @staticmethod
    def _check_batch(batch: Mapping[str, Any]) -> None:
        if len(batch) > BATCH_LIMIT:
            raise ValueError(
                f"TIMS takes one record per write request (v1 has no batch writes); got {len(batch)}: "
                "send them one by one so each outcome is known before the next"
            )

    def _key(self, method: str, path: str, body: Any, prefix: str | None, ref: str, if_match: str = "") -> str:
        """The Idempotency-Key of one write: the caller's prefix (``lb:<connection>:<flow>``)
        with the source key and a digest of the request, else a digest of the whole request.
        The same request always gets the same key (a retry within 24 h is replayed, not applied
        again); a different body never does (422 ``idempotency-key-reused``). The If-Match
        version is part of the request: the site stores a 412 like any answer, so the retry
        after re-reading the record must not share the refused attempt's key."""
        request = f"{self.client_id}\n{method}\n{path}\n{if_match}\n{json_dumps(body)}"
        digest = hashlib.sha256(request.encode()).hexdigest()
        key = f"{prefix}:{ref}:{digest[:16]}" if prefix else f"lb:{digest}"
        if not _IDEMPOTENCY_KEY.match(key):
            key = "lb:" + hashlib.sha256(key.encode()).hexdigest()
        return key

    def _write(
        self,
        resource: Resource,
        ref: str,
        method: str,
        path: str,
        body: Mapping[str, Any],
        idempotency_key: str | None,
        *,
        headers: Mapping[str, str] | None = None,
        merge_patch: bool = False,
    ) -> ElementResult:
        """One write → one ElementResult. What TIMS said about the record (invalid, conflict,
        duplicate, not found) is the result; what happened to the request (a lost answer, the
        rate limit, auth) is raised, since nothing can be said about the record then."""
        key = self._key(method, path, body, idempotency_key, ref, (headers or {}).get("If-Match", ""))
        # Patches are RFC 7396 merge patches; the body is sent as bytes because the shared
        # client would label a `json=` body plain application/json.
        content_type = "application/merge-patch+json" if merge_patch else "application/json"
        try:
            response = self._call(
                method, path, content=json_dumps(body).encode(),
                headers={**(headers or {}), "Content-Type": content_type}, idempotency_key=key,
            )
        except DuplicateRecord as exc:
            return ElementResult(
                source_ref=ref, ok=False, remote_id=exc.existing_id, errors=(exc.message,), error_class=ErrorClass.DUPLICATE
            )
        except ConnectorError as exc:
            if exc.error_class not in _RECORD_ERRORS:
                raise
            messages = [m for e in getattr(exc, "elements", []) for m in e.get("messages", [])]
            return ElementResult(
                source_ref=ref, ok=False, errors=tuple(dict.fromkeys([exc.message, *messages])), error_class=exc.error_class
            )
        saved = json_loads(response.content) if response.content else {}
        try:
            record = resource.decode(saved)
        except MappingFailed:
            record = None
        warnings = ("replayed: TIMS answered with the stored response of an earlier identical request",) if response.headers.get("Idempotent-Replayed") == "true" else ()
        return ElementResult(
            source_ref=ref, ok=True, remote_id=str(saved.get("id") or ""), record=record, warnings=warnings
        )

    def _set_invoice_status(
        self, invoice_id: str, body: Mapping[str, Any], version: int | None, idempotency_key: str | None
    ) -> ElementResult:
        resource = RESOURCES["receivable_invoice"]
        headers = {"If-Match": f'W/"{version}"'} if version else {}
        return self._write(resource, invoice_id, "POST", f"{self._record_path(resource, invoice_id)}/status", body, idempotency_key, headers=headers)


# What a refused write says about the record itself; anything else is about the request.
_RECORD_ERRORS = frozenset({ErrorClass.VALIDATION, ErrorClass.CONFLICT, ErrorClass.NOT_FOUND, ErrorClass.DUPLICATE})

# (scope, entity) tried in order by `check`.
_PROBES = (
    ("customers:read", "customer"),
    ("products:read", "product"),
    ("salesorders:read", "sales_order"),
    ("gl:read", "gl_account"),
    ("dimensions:read", "dimension"),
)


def _undecidable(key: str, message: str) -> ElementResult:
    return ElementResult(source_ref=key, ok=False, errors=(message,), error_class=ErrorClass.DUPLICATE)


def _statuses(filters: dict[str, Any], statuses: Sequence[str]) -> dict[str, Any]:
    if statuses:
        filters = {**filters, "status": ",".join(statuses)}
    return filters


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return codecs.format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)
