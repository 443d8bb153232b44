"""``XeroClient``: the Accounting API as the engine needs it, one tenant per client.

Reads stream page by page (If-Modified-Since, ``page``/``pageSize``); writes go in batches of
at most 50 with ``summarizeErrors=false`` and an ``Idempotency-Key`` per batch, and every
element's outcome is mapped back to the caller's key (api-notes/xero.md §5.3-§5.5)."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from connectors.base import ElementResult, ErrorClass, MappingFailed, NotFound, decode_or_mark
from connectors.canonical import (
    Account,
    BankTransaction,
    Contact,
    CreditNote,
    Invoice,
    Item,
    ManualJournal,
    Payment,
    TaxRate,
    TrackingCategory,
    TrackingOption,
)
from connectors.http import (
    ErrorDetails,
    HttpClient,
    Page,
    chunked,
    items,
    json_dumps,
    json_loads,
    pages_by_number,
    read_error_generic,
)
from connectors.xero import codecs, tracking
from connectors.xero.auth import XeroOAuth
from connectors.xero.codecs import format_modified_since

BATCH_LIMIT = 50  # elements per write (api-notes/xero.md §5.4)
IDS_PER_REQUEST = 40  # ~52 GUIDs overflow the URL and answer 404 (§5.3)
WHERE_TERMS_PER_REQUEST = 10  # keeps OR-chained `where` filters well inside the URL limit
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
SETTINGS_TTL_SECONDS = 600.0


@dataclass(frozen=True)
class Resource:
    """How one canonical entity lives in the Accounting API."""

    entity: str
    path: str  # also the JSON collection key ("Invoices")
    id_field: str
    decode: Callable[[Mapping[str, Any]], Any]
    encode: Callable[[Any], dict[str, Any]]
    ref_field: str  # our reference on the remote record: how unknown outcomes are settled
    ref_of: Callable[[Any], str]
    paged: bool = True
    ids_param: str = ""  # a list filter for ids, when the endpoint has one
    ref_param: str = ""  # a list filter for refs, when the endpoint has one


RESOURCES: dict[str, Resource] = {
    r.entity: r
    for r in (
        Resource(
            "contact", "Contacts", "ContactID", codecs.decode_contact, codecs.encode_contact,
            ref_field="ContactNumber", ref_of=lambda c: c.number, ids_param="IDs",
        ),
        Resource(
            "item", "Items", "ItemID", codecs.decode_item, codecs.encode_item,
            ref_field="Code", ref_of=lambda i: i.code, paged=False,
        ),
        Resource(
            "invoice", "Invoices", "InvoiceID", codecs.decode_invoice, codecs.encode_invoice,
            ref_field="InvoiceNumber", ref_of=lambda i: i.number, ids_param="IDs", ref_param="InvoiceNumbers",
        ),
        Resource(
            "credit_note", "CreditNotes", "CreditNoteID", codecs.decode_credit_note, codecs.encode_credit_note,
            ref_field="CreditNoteNumber", ref_of=lambda c: c.number,
        ),
        Resource(
            "payment", "Payments", "PaymentID", codecs.decode_payment, codecs.encode_payment,
            ref_field="Reference", ref_of=lambda p: p.reference,
        ),
        Resource(
            "manual_journal", "ManualJournals", "ManualJournalID", codecs.decode_manual_journal,
            codecs.encode_manual_journal, ref_field="Narration", ref_of=lambda j: j.narration,
        ),
        Resource(
            "bank_transaction", "BankTransactions", "BankTransactionID", codecs.decode_bank_transaction,
            codecs.encode_bank_transaction, ref_field="Reference", ref_of=lambda t: t.reference,
        ),
    )
}


def _where_literal(value: str) -> str:
    # Xero's `where` is a C#-like expression: quote strings, escape quotes and backslashes.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class XeroClient:
    """One Xero tenant. Implements ``connectors.base.Connector``; the named methods
    (``create_invoices``, ``void_invoice``, ...) are the same operations spelled for people."""

    system: ClassVar[str] = "xero"
    entities: ClassVar[frozenset[str]] = frozenset(RESOURCES) | tracking.ENTITIES
    batch_limit: ClassVar[int] = BATCH_LIMIT

    def __init__(
        self,
        http: HttpClient,
        *,
        oauth: XeroOAuth | None = None,
        tenant_id: str = "",
        page_size: int = DEFAULT_PAGE_SIZE,
        settings_ttl: float = SETTINGS_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        # The identity side (tenants, revocation): after a 403 the engine re-reads
        # /connections to tell a disconnected tenant from a missing scope (api-notes §8.2).
        self.oauth = oauth
        self.tenant_id = tenant_id
        self.page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        self._settings_ttl = settings_ttl
        self._clock = clock
        self._settings_cache: dict[str, tuple[float, list[Any]]] = {}
        self._settings_lock = threading.Lock()

    def close(self) -> None:
        self.http.close()
        if self.oauth is not None:
            self.oauth.http.close()

    # --- Connector protocol ---------------------------------------------------------------------

    def list_records(
        self,
        entity: str,
        *,
        modified_since: datetime | None = None,
        where: str = "",
        params: Mapping[str, Any] | None = None,
    ) -> Iterator[Any]:
        """Every record changed since ``modified_since`` (all when None), oldest change first,
        one page in memory at a time. Paged endpoints are always asked with ``page``, since a
        list without it has no line items (api-notes/xero.md §5.3)."""
        if entity in tracking.ENTITIES:  # one small list, archived included (§6.6)
            yield from tracking.TrackingWriter(self).list_records(entity)
            return
        resource = self._resource(entity)
        query = dict(params or {})
        if where:
            query["where"] = where
        headers = {"If-Modified-Since": format_modified_since(modified_since)} if modified_since else {}
        for record in self._raw_list(resource, query, headers):
            yield decode_or_mark(resource.decode, record, entity=entity, remote_id=str(record.get(resource.id_field, "")))

    def get_records(self, entity: str, ids: Sequence[str]) -> list[Any]:
        """The records with these remote ids; ids Xero does not know are left out."""
        if entity in tracking.ENTITIES:
            return tracking.TrackingWriter(self).get_records(entity, list(ids))
        resource = self._resource(entity)
        found: list[Any] = []
        if resource.ids_param:
            for chunk in chunked(list(ids), IDS_PER_REQUEST):
                query = {resource.ids_param: ",".join(chunk)}
                found += [resource.decode(r) for r in self._raw_list(resource, query, {})]
            return found
        for remote_id in ids:
            try:
                body = self.http.get_json(f"{resource.path}/{quote(remote_id, safe='')}")
            except NotFound:
                continue
            found += [resource.decode(r) for r in body.get(resource.path) or []]
        return found

    def find_records(self, entity: str, refs: Sequence[str], *, field: str = "") -> list[Any]:
        """The records whose reference field (``field``, default the entity's: InvoiceNumber,
        ContactNumber, Code, Reference...) equals one of ``refs``. This is how an
        ``UnknownOutcome`` is settled before any retry (DESIGN §4)."""
        if entity in tracking.ENTITIES:  # by name, the only reference they have
            return tracking.TrackingWriter(self).find_records(entity, list(refs))
        resource = self._resource(entity)
        field = field or resource.ref_field
        wanted = {r for r in refs if r}
        raw: list[Mapping[str, Any]] = []
        by_where = sorted(wanted)
        if field == resource.ref_field and resource.ref_param:
            # A comma-separated list filter cannot carry a reference that contains a comma.
            listable = sorted(r for r in wanted if "," not in r)
            by_where = sorted(r for r in wanted if "," in r)
            for chunk in chunked(listable, IDS_PER_REQUEST):
                raw += self._raw_list(resource, {resource.ref_param: ",".join(chunk)}, {})
        if by_where:
            for chunk in chunked(by_where, WHERE_TERMS_PER_REQUEST):
                where = " OR ".join(f"{field}=={_where_literal(ref)}" for ref in chunk)
                raw += self._raw_list(resource, {"where": where}, {})
        # Keep exact matches only: a filter that matched loosely must not link the wrong record.
        return [resource.decode(r) for r in raw if str(r.get(field) or "") in wanted]

    def settle_records(self, entity: str, batch: Mapping[str, Any]) -> list[ElementResult]:
        """What became of each element of a create that ended in ``UnknownOutcome``, found
        by our reference (DESIGN §4): ok with the remote id when exactly one record matches
        (link it, do not create it again); NOT_FOUND when none does (safe to create again);
        DUPLICATE when it cannot be told (no reference, or several matches, as with bills,
        whose numbers are not unique, §6.2): a person decides."""
        if entity in tracking.ENTITIES:
            return tracking.TrackingWriter(self).settle(entity, batch)
        resource = self._resource(entity)
        refs = {key: resource.ref_of(record) for key, record in batch.items()}
        candidates: dict[str, list[Any]] = {}
        for found in self.find_records(entity, [ref for ref in refs.values() if ref]):
            candidates.setdefault(resource.ref_of(found), []).append(found)
        results: list[ElementResult] = []
        for key, ref in refs.items():
            matches = [m for m in candidates.get(ref, []) if _same_document(batch[key], m)] if ref else []
            if len(matches) == 1:
                results.append(ElementResult(source_ref=key, ok=True, remote_id=matches[0].remote_id, record=matches[0]))
                continue
            if not ref:
                message = f"It has no {resource.ref_field} to look it up by: check Xero before creating it again."
            elif matches:
                message = f"{len(matches)} records in Xero have {resource.ref_field} {ref}: link the right one by hand."
            else:
                results.append(
                    ElementResult(
                        source_ref=key,
                        ok=False,
                        errors=(f"No {entity.replace('_', ' ')} with {resource.ref_field} {ref} in Xero: it was not created.",),
                        error_class=ErrorClass.NOT_FOUND,
                    )
                )
                continue
            results.append(ElementResult(source_ref=key, ok=False, errors=(message,), error_class=ErrorClass.DUPLICATE))
        return results

    def create_records(
        self, entity: str, batch: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> list[ElementResult]:
        """Create up to 50 records (PUT); ``batch`` maps the caller's key to a record."""
        if entity in tracking.ENTITIES:  # one request per element, on their own endpoints
            return tracking.TrackingWriter(self).create(entity, batch, idempotency_key)
        return self._write(self._resource(entity), "PUT", batch, idempotency_key)

    def update_records(
        self, entity: str, batch: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> list[ElementResult]:
        """Update up to 50 records (POST); each must carry its ``remote_id``."""
        missing = [ref for ref, record in batch.items() if not getattr(record, "remote_id", "")]
        if missing:
            raise ValueError(f"records without remote_id cannot be updated: {missing}")
        if entity in tracking.ENTITIES:
            return tracking.TrackingWriter(self).update(entity, batch, idempotency_key)
        return self._write(self._resource(entity), "POST", batch, idempotency_key)

    def encode_record(self, entity: str, record: Any, *, update: bool = False) -> dict[str, Any]:
        """The request body ``create_records`` / ``update_records`` would send for this one
        record (a batch carries up to 50 such elements): what a dry run shows. An update is
        the same body, with the record's id."""
        if entity in tracking.ENTITIES:
            return tracking.encode_record(entity, record)
        resource = self._resource(entity)
        return {resource.path: [resource.encode(record)]}

    def check(self) -> Mapping[str, Any]:
        """The organisation: proves the token and the tenant id work."""
        body = self.http.get_json("Organisation")
        organisations = body.get("Organisations") or []
        if not organisations:
            raise NotFound("Xero answered without an organisation")
        org = organisations[0]
        return {
            "name": org.get("Name", ""),
            "organisation_id": org.get("OrganisationID", ""),
            "base_currency": org.get("BaseCurrency", ""),
            "country_code": org.get("CountryCode", ""),
            "timezone": org.get("Timezone", ""),
        }

    # --- Named operations -----------------------------------------------------------------------

    def list_contacts(self, *, modified_since: datetime | None = None, include_archived: bool = False) -> Iterator[Contact]:
        return self.list_records("contact", modified_since=modified_since, params=_archived(include_archived))

    def get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        return self.get_records("contact", ids)

    def find_contacts_by_number(self, numbers: Sequence[str]) -> list[Contact]:
        return self.find_records("contact", numbers)

    def create_contacts(self, batch: Mapping[str, Contact], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.create_records("contact", batch, idempotency_key=idempotency_key)

    def update_contacts(self, batch: Mapping[str, Contact], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.update_records("contact", batch, idempotency_key=idempotency_key)

    def list_items(self, *, modified_since: datetime | None = None) -> Iterator[Item]:
        return self.list_records("item", modified_since=modified_since)

    def get_items(self, ids: Sequence[str]) -> list[Item]:
        return self.get_records("item", ids)

    def find_items_by_code(self, codes: Sequence[str]) -> list[Item]:
        return self.find_records("item", codes)

    def create_items(self, batch: Mapping[str, Item], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.create_records("item", batch, idempotency_key=idempotency_key)

    def update_items(self, batch: Mapping[str, Item], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.update_records("item", batch, idempotency_key=idempotency_key)

    def delete_item(self, item_id: str) -> None:
        self.http.request("DELETE", f"Items/{quote(item_id, safe='')}")

    def list_invoices(
        self,
        *,
        modified_since: datetime | None = None,
        statuses: Sequence[str] = (),
        where: str = "",
    ) -> Iterator[Invoice]:
        params = {"Statuses": ",".join(statuses)} if statuses else None
        return self.list_records("invoice", modified_since=modified_since, where=where, params=params)

    def get_invoices(self, ids: Sequence[str]) -> list[Invoice]:
        return self.get_records("invoice", ids)

    def find_invoices_by_number(self, numbers: Sequence[str]) -> list[Invoice]:
        return self.find_records("invoice", numbers)

    def find_invoices_by_reference(self, references: Sequence[str]) -> list[Invoice]:
        # ACCPAY numbers are not unique: bills are settled by Reference (§6.2).
        return self.find_records("invoice", references, field="Reference")

    def create_invoices(self, batch: Mapping[str, Invoice], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.create_records("invoice", batch, idempotency_key=idempotency_key)

    def update_invoices(self, batch: Mapping[str, Invoice], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.update_records("invoice", batch, idempotency_key=idempotency_key)

    def void_invoice(self, invoice_id: str) -> Invoice:
        """AUTHORISED without payments → VOIDED (paid ones need their payments deleted first)."""
        return self._set_status(RESOURCES["invoice"], invoice_id, "VOIDED")

    def delete_invoice(self, invoice_id: str) -> Invoice:
        """DRAFT or SUBMITTED → DELETED: there is no DELETE verb for invoices (§6.2)."""
        return self._set_status(RESOURCES["invoice"], invoice_id, "DELETED")

    def list_credit_notes(self, *, modified_since: datetime | None = None) -> Iterator[CreditNote]:
        return self.list_records("credit_note", modified_since=modified_since)

    def create_credit_notes(self, batch: Mapping[str, CreditNote], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.create_records("credit_note", batch, idempotency_key=idempotency_key)

    def list_payments(self, *, modified_since: datetime | None = None, where: str = "") -> Iterator[Payment]:
        return self.list_records("payment", modified_since=modified_since, where=where)

    def create_payments(self, batch: Mapping[str, Payment], *, idempotency_key: str | None = None) -> list[ElementResult]:
        return self.create_records("payment", batch, idempotency_key=idempotency_key)

    def find_payments_by_reference(self, references: Sequence[str]) -> list[Payment]:
        return self.find_records("payment", references)

    def delete_payment(self, payment_id: str) -> Payment:
        """Payments are immutable: deleting takes a status-only body (§6.3)."""
        body = self.http.request("POST", f"Payments/{quote(payment_id, safe='')}", json={"Status": "DELETED"})
        return codecs.decode_payment(json_loads(body.content)["Payments"][0])

    def list_manual_journals(self, *, modified_since: datetime | None = None) -> Iterator[ManualJournal]:
        return self.list_records("manual_journal", modified_since=modified_since)

    def create_manual_journals(
        self, batch: Mapping[str, ManualJournal], *, idempotency_key: str | None = None
    ) -> list[ElementResult]:
        return self.create_records("manual_journal", batch, idempotency_key=idempotency_key)

    def list_bank_transactions(self, *, modified_since: datetime | None = None) -> Iterator[BankTransaction]:
        return self.list_records("bank_transaction", modified_since=modified_since)

    def find_bank_transactions_by_reference(self, references: Sequence[str]) -> list[BankTransaction]:
        return self.find_records("bank_transaction", references)

    def create_bank_transactions(
        self, batch: Mapping[str, BankTransaction], *, idempotency_key: str | None = None
    ) -> list[ElementResult]:
        return self.create_records("bank_transaction", batch, idempotency_key=idempotency_key)

    # --- Tracking categories --------------------------------------------------------------------

    def list_tracking_categories(self, *, include_archived: bool = False) -> list[TrackingCategory]:
        """The whole list: no If-Modified-Since here (§6.6)."""
        body = self.http.get_json("TrackingCategories", params=_archived(include_archived))
        return [codecs.decode_tracking_category(c) for c in body.get("TrackingCategories") or []]

    def create_tracking_category(self, name: str) -> TrackingCategory:
        """At most 2 active categories per org: a third is refused as a validation error."""
        body = self.http.request("PUT", "TrackingCategories", json={"Name": name}, idempotency_key=self._key("PUT", "TrackingCategories", name))
        return codecs.decode_tracking_category(json_loads(body.content)["TrackingCategories"][0])

    def create_tracking_option(self, category_id: str, name: str) -> TrackingOption:
        path = f"TrackingCategories/{quote(category_id, safe='')}/Options"
        body = json_loads(self.http.request("PUT", path, json={"Name": name}, idempotency_key=self._key("PUT", path, name)).content)
        option = body["Options"][0]
        return TrackingOption(name=option.get("Name", ""), remote_id=option.get("TrackingOptionID", ""), status=option.get("Status", ""))

    def archive_tracking_category(self, category_id: str) -> TrackingCategory:
        path = f"TrackingCategories/{quote(category_id, safe='')}"
        body = json_loads(self.http.request("POST", path, json={"Status": "ARCHIVED"}).content)
        return codecs.decode_tracking_category(body["TrackingCategories"][0])

    def delete_tracking_option(self, category_id: str, option_id: str) -> None:
        self.http.request("DELETE", f"TrackingCategories/{quote(category_id, safe='')}/Options/{quote(option_id, safe='')}")

    # --- Accounts and tax rates, cached for validation ------------------------------------------

    def accounts(self, *, refresh: bool = False) -> list[Account]:
        return self._cached("Accounts", codecs.decode_account, refresh)

    def tax_rates(self, *, refresh: bool = False) -> list[TaxRate]:
        return self._cached("TaxRates", codecs.decode_tax_rate, refresh)

    def unknown_codes(self, *, account_codes: Sequence[str] = (), tax_types: Sequence[str] = ()) -> list[str]:
        """Human messages for account codes and tax types this org does not have (active):
        checked before a load so the review queue says why, not Xero's 400 (§6.5, §6.9)."""
        problems: list[str] = []
        active_accounts = {a.code for a in self.accounts() if a.status in ("", "ACTIVE")}
        active_taxes = {t.tax_type for t in self.tax_rates() if t.status in ("", "ACTIVE")}
        for code in dict.fromkeys(c for c in account_codes if c):
            if code not in active_accounts:
                problems.append(f"Account code {code} is not an active account in this Xero organisation.")
        for tax in dict.fromkeys(t for t in tax_types if t):
            if tax not in active_taxes:
                problems.append(f"Tax type {tax} is not an active tax rate in this Xero organisation.")
        return problems

    def _cached(self, path: str, decode: Callable[[Mapping[str, Any]], Any], refresh: bool) -> list[Any]:
        now = self._clock()
        with self._settings_lock:
            cached = self._settings_cache.get(path)
            if cached and not refresh and now - cached[0] < self._settings_ttl:
                return cached[1]
        records = [decode(r) for r in self.http.get_json(path).get(path) or []]
        with self._settings_lock:
            self._settings_cache[path] = (now, records)
        return records

    # --- Internals ------------------------------------------------------------------------------

    @staticmethod
    def _resource(entity: str) -> Resource:
        try:
            return RESOURCES[entity]
        except KeyError:
            raise ValueError(f"Xero has no entity {entity!r}; known: {sorted(RESOURCES)}") from None

    def _raw_list(self, resource: Resource, query: Mapping[str, Any], headers: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
        if not resource.paged:
            yield from self._get_page(resource, query, headers).items
            return

        def fetch(number: int) -> Page[Mapping[str, Any]]:
            return self._get_page(resource, {**query, "page": number, "pageSize": self.page_size}, headers)

        yield from items(pages_by_number(fetch))

    def _get_page(self, resource: Resource, query: Mapping[str, Any], headers: Mapping[str, str]) -> Page[Mapping[str, Any]]:
        response = self.http.request("GET", resource.path, params=query, headers=headers)
        if response.status_code == 304 or not response.content:
            return Page(items=[])
        body = json_loads(response.content)
        records = body.get(resource.path) or []
        pagination = body.get("pagination")
        if isinstance(pagination, Mapping) and pagination.get("pageCount") is not None:
            has_more = int(pagination.get("page") or query.get("page", 1)) < int(pagination["pageCount"])
        else:
            # Older answers carry no pagination block: a full page means "ask for the next".
            has_more = "page" in query and len(records) >= int(query.get("pageSize", DEFAULT_PAGE_SIZE))
        return Page(items=records, has_more=has_more)

    def _set_status(self, resource: Resource, remote_id: str, status: str) -> Any:
        path = f"{resource.path}/{quote(remote_id, safe='')}"
        body = {resource.path: [{resource.id_field: remote_id, "Status": status}]}
        response = self.http.request("POST", path, json=body)
        return resource.decode(json_loads(response.content)[resource.path][0])

    def _key(self, method: str, path: str, payload: Any) -> str:
        """A deterministic Idempotency-Key: the same request gets the same key, so a retry
        within Xero's 6-minute window is answered, not applied again; different requests never
        share one (which Xero refuses with 400, api-notes/xero.md §5.5)."""
        digest = hashlib.sha256(f"{self.tenant_id}\n{method}\n{path}\n{json_dumps(payload)}".encode()).hexdigest()
        return f"lb-{digest}"

    def _write(
        self, resource: Resource, method: str, batch: Mapping[str, Any], idempotency_key: str | None
    ) -> list[ElementResult]:
        if not batch:
            return []
        if len(batch) > BATCH_LIMIT:
            raise ValueError(f"Xero takes at most {BATCH_LIMIT} elements per request, got {len(batch)}")
        refs = list(batch)
        payloads = [resource.encode(batch[ref]) for ref in refs]
        body = {resource.path: payloads}
        key = idempotency_key or self._key(method, resource.path, body)
        # summarizeErrors=false: always 200 with a status per element, so valid elements are
        # created and their ids learned even when others fail (§5.4).
        response = self.http.request(
            method, resource.path, params={"summarizeErrors": "false"}, json=body, idempotency_key=key
        )
        received = json_loads(response.content).get(resource.path) or []
        return _match_elements(resource, refs, payloads, received, by_id=method == "POST")


def _same_document(sent: Any, found: Any) -> bool:
    """A record found by reference is ours only if its type and contact agree too: another
    supplier's bill may carry the same number (api-notes/xero.md §6.2)."""
    if getattr(sent, "type", None) and getattr(found, "type", None) and sent.type != found.type:
        return False
    sent_contact = getattr(getattr(sent, "contact", None), "remote_id", "")
    found_contact = getattr(getattr(found, "contact", None), "remote_id", "")
    return not (sent_contact and found_contact and sent_contact != found_contact)


def _archived(include: bool) -> dict[str, str] | None:
    return {"includeArchived": "true"} if include else None


def _messages(entries: Any) -> tuple[str, ...]:
    return tuple(str(e.get("Message", "")) for e in entries or [] if isinstance(e, Mapping) and e.get("Message"))


def _element_failed(element: Mapping[str, Any]) -> bool:
    return (
        element.get("StatusAttributeString") == "ERROR"
        or bool(element.get("HasErrors"))
        or bool(element.get("ValidationErrors"))
    )


def _match_elements(
    resource: Resource,
    refs: Sequence[str],
    payloads: Sequence[Mapping[str, Any]],
    received: Sequence[Mapping[str, Any]],
    *,
    by_id: bool,
) -> list[ElementResult]:
    """Pair each sent element with its answer: by id (updates) or our reference field when
    those are unique on both sides, else by position. Xero does not document the answer's
    order (api-notes/xero.md §5.4), so the keys come first."""
    field = resource.id_field if by_id else resource.ref_field
    sent_keys = [str(p.get(field) or "") for p in payloads]
    received_keys = [str(r.get(field) or "") for r in received]
    by_key: dict[str, int] = {}
    for index, key in enumerate(received_keys):
        if key:
            by_key[key] = -1 if key in by_key else index  # -1: ambiguous, not usable
    key_usable = all(k and sent_keys.count(k) == 1 and by_key.get(k, -1) >= 0 for k in sent_keys)
    results: list[ElementResult] = []
    for position, ref in enumerate(refs):
        if key_usable:
            index = by_key[sent_keys[position]]
        elif len(received) == len(refs):
            index = position
        else:
            results.append(
                ElementResult(
                    source_ref=ref,
                    ok=False,
                    errors=("Xero's answer could not be matched to this element; look it up before retrying.",),
                    error_class=ErrorClass.ANOMALY,
                )
            )
            continue
        element = received[index]
        if _element_failed(element):
            results.append(
                ElementResult(
                    source_ref=ref,
                    ok=False,
                    errors=_messages(element.get("ValidationErrors")) or ("Xero refused this element without a message.",),
                    warnings=_messages(element.get("Warnings")),
                    error_class=ErrorClass.VALIDATION,
                )
            )
            continue
        try:
            record = resource.decode(element)
        except MappingFailed:
            record = None
        results.append(
            ElementResult(
                source_ref=ref,
                ok=True,
                remote_id=str(element.get(resource.id_field) or ""),
                record=record,
                warnings=_messages(element.get("Warnings")),
            )
        )
    return results


def read_xero_error(response: httpx.Response, body: Any) -> ErrorDetails:
    """Xero's error bodies: ValidationException with per-element messages, problem+json for
    401/403, OAuth errors from identity, plain text from outages (api-notes/xero.md §4)."""
    if isinstance(body, Mapping) and (body.get("Type") == "ValidationException" or "Elements" in body):
        elements = []
        for index, element in enumerate(body.get("Elements") or []):
            messages = list(_messages(element.get("ValidationErrors")))
            if messages:
                elements.append({"index": index, "messages": messages})
        flat = [m for e in elements for m in e["messages"]]
        message = "; ".join(dict.fromkeys(flat)) if flat else str(body.get("Message") or "Validation failed")
        return ErrorDetails(code=str(body.get("Type") or ""), message=message, elements=elements)
    if isinstance(body, Mapping) and ("Detail" in body or "Title" in body):
        return ErrorDetails(code=str(body.get("Title") or ""), message=str(body.get("Detail") or body.get("Title") or ""))
    return read_error_generic(response, body)

