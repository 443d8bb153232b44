"""A small stateful TIMS site on respx, shaped by connectors/tims/openapi.yaml, for what the
sandbox cannot produce on demand (lost answers after a commit, cursors changing under a walk,
429 storms, racing token requests). Every request the connector sends and every answer this
fake gives is validated against the contract (``openapi-core``), so the stand-in cannot drift
from it unnoticed."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import httpx
import respx
import yaml

BASE = "https://tims.example.com"  # the contract's default server: requests validate as they are
CLIENT_ID = "ledgerbridge-test"
CLIENT_SECRET = "s3cr3t-tims-client-secret"
SPEC_PATH = Path(__file__).resolve().parents[3] / "connectors" / "tims" / "openapi.yaml"
PROBLEM = "application/problem+json"

# collection path → (id prefix, natural-key filters, writable)
COLLECTIONS = {
    "customers": ("cus", {"customer_code", "status"}),
    "vendors": ("ven", {"vendor_code", "status"}),
    "products": ("prd", {"sku", "category", "tracked", "status"}),
    "salesorders": ("so", {"status", "customer_id", "order_number"}),
    "purchaseorders": ("po", {"status", "vendor_id", "po_number"}),
    "vendorbills": ("bill", {"status", "vendor_id", "purchase_order_id", "bill_number"}),
    "accounts/receivable/invoices": ("inv", {"status", "customer_id", "sales_order_id", "invoice_number"}),
    "payments": ("pay", {"customer_id", "invoice_id", "status"}),
    "inventory/adjustments": ("adj", {"warehouse", "sku", "reason"}),
    "gl/entries": ("gle", {"posted_from", "posted_to", "source", "account_code"}),
    "gl/accounts": ("gla", {"type", "status"}),
    "taxcodes": ("tax", {"status"}),
    "dimensions": ("dim", {"status"}),
}
CODE_FIELDS = {"customers": "customer_code", "vendors": "vendor_code", "products": "sku"}
WRITABLE_FIELDS = {
    "customers": {"customer_code", "name", "legal_name", "status", "email", "phone", "tax_number", "tax_exempt", "default_tax_code",
                  "currency", "payment_terms", "credit_limit", "billing_address", "shipping_address", "contacts", "external_refs"},
    "vendors": {"vendor_code", "name", "legal_name", "status", "email", "phone", "tax_number", "default_tax_code",
                "default_expense_account_code", "currency", "payment_terms", "remit_to_address", "contacts", "external_refs"},
    "products": {"sku", "name", "description", "category", "unit", "status", "currency", "sale_price", "purchase_price", "tax_code",
                 "purchase_tax_code", "tracked", "is_sold", "is_purchased", "sales_account_code", "purchase_account_code",
                 "cogs_account_code", "inventory_account_code", "barcode", "external_refs"},
}


def iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def money(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.01")), "f")


class Dropped(httpx.ReadError):
    """The connection died after the site committed (the answer is lost)."""


class FakeTims:
    def __init__(self, *, base: str = BASE, validate: bool = True) -> None:
        self.base = base
        self.validate = validate
        self.data: dict[str, dict[str, dict]] = {path: {} for path in COLLECTIONS}
        self.values: dict[str, dict[str, dict]] = {}  # dimension id → value id → record
        self.levels: dict[str, dict] = {}
        self.requests: list[httpx.Request] = []
        self.tokens: dict[str, float] = {}  # access token → expiry (fake clock)
        self.token_calls = 0
        self.token_delay = 0.0
        self.token_lifetime = 3600
        self.writes: list[tuple[str, str]] = []  # (method, path) of every applied write
        self.idempotency: dict[str, tuple[str, httpx.Response]] = {}
        self.rate_limit: tuple[int, float] | None = None  # (calls, window seconds)
        self.storm: dict[str, int] = {}  # "POST customers" → 429s to answer before a real answer
        self.drop_after_commit: set[str] = set()
        self.refuse_cursors = 0  # the next N cursors sent back are refused (expired)
        self.on_page: Callable[[str, int], None] | None = None  # (collection, page number) hook
        self.clock: Callable[[], float] = time.monotonic
        self._t0 = datetime(2026, 11, 20, 14, 0, tzinfo=timezone.utc)
        self._tick = 0
        self._window: tuple[float, int] = (0.0, 0)
        self._pages_served = 0
        self._lock = threading.RLock()
        self.rejected: list[str] = []  # contract violations by the connector (also raised)

    # --- Setup ------------------------------------------------------------------------------------

    def install(self, router: respx.MockRouter) -> None:
        # Through a lambda, so that a test can swap `handle` for a fault after installing.
        router.route(url__startswith=self.base).mock(side_effect=lambda request: self.handle(request))

    def now(self) -> datetime:
        """Strictly increasing commit times, a millisecond apart."""
        with self._lock:
            self._tick += 1
            return self._t0 + timedelta(milliseconds=self._tick)

    def put(self, collection: str, record: dict, *, id: str | None = None) -> dict:
        prefix = COLLECTIONS[collection][0]
        when = self.now()
        stored = {
            "last_modified_by": {"type": "user", "id": "jsmith", "name": "Jane Smith"},
            "external_refs": {},
            **record,
            # Commit metadata is the site's, whatever the example said.
            "id": id or record.get("id") or f"{prefix}_{uuid.uuid4().hex[:20]}",
            "created_at": iso(when),
            "updated_at": iso(when),
            "version": 1,
        }
        self.data[collection][stored["id"]] = stored
        return stored

    def touch(self, collection: str, record_id: str, **changes) -> dict:
        """A change made in TIMS: new version, new updated_at (the record moves ahead of any cursor)."""
        record = self.data[collection][record_id]
        record.update(changes)
        record["version"] += 1
        record["updated_at"] = iso(self.now())
        record["last_modified_by"] = {"type": "user", "id": "jsmith", "name": "Jane Smith"}
        return record

    def put_value(self, dimension_id: str, record: dict) -> dict:
        when = self.now()
        stored = {"external_refs": {}, **record, "id": f"dmv_{uuid.uuid4().hex[:20]}", "created_at": iso(when),
                  "updated_at": iso(when), "version": 1, "dimension_id": dimension_id}
        self.values.setdefault(dimension_id, {})[stored["id"]] = stored
        return stored

    # --- HTTP -----------------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        path = request.url.path
        if path == "/oauth/token":
            response = self._token(request)
        else:
            response = self._api(request)
        if self.validate:
            check_against_contract(request, response)
        return response

    def _headers(self, extra: dict | None = None) -> dict:
        calls, window = self.rate_limit or (120, 60.0)
        start, used = self._window
        now = self.clock()
        reset = max(0, int(start + window - now + 0.999)) if self.rate_limit else 60
        return {"RateLimit-Limit": str(calls), "RateLimit-Remaining": str(max(0, calls - used)), "RateLimit-Reset": str(reset),
                "Request-Id": f"req_{uuid.uuid4().hex[:12]}", **(extra or {})}

    def problem(self, status: int, kind: str, detail: str = "", *, headers: dict | None = None, **extra) -> httpx.Response:
        body = {"type": f"urn:tims:problem:{kind}", "title": kind.replace("-", " ").capitalize(), "status": status,
                "detail": detail or kind, "instance": f"urn:tims:request:req_{uuid.uuid4().hex[:8]}", **extra}
        return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": PROBLEM, **self._headers(headers)})

    def ok(self, body, status: int = 200, headers: dict | None = None) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode(), headers={"Content-Type": "application/json", **self._headers(headers)})

    def _count_call(self) -> httpx.Response | None:
        """The site's fixed window per client: over it, 429 with Retry-After."""
        if not self.rate_limit:
            return None
        calls, window = self.rate_limit
        with self._lock:
            now = self.clock()
            start, used = self._window
            if now >= start + window:
                start, used = now, 0
            if used >= calls:
                self._window = (start, used)
                wait = max(1, int(start + window - now + 0.999))
                return self.problem(429, "rate-limited", "Too many requests", headers={"Retry-After": str(wait)})
            self._window = (start, used + 1)
        return None

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected or "client_secret" in form:
            return httpx.Response(401, json={"error": "invalid_client", "error_description": "Client authentication failed."},
                                  headers={**self._headers(), "WWW-Authenticate": 'Basic realm="tims"'})
        if form.get("grant_type") != ["client_credentials"]:
            return httpx.Response(400, json={"error": "unsupported_grant_type"}, headers=self._headers())
        if self.token_delay:
            time.sleep(self.token_delay)
        with self._lock:
            self.token_calls += 1
            token = "tims_at_" + uuid.uuid4().hex
            self.tokens[token] = self.clock() + self.token_lifetime
        scope = form.get("scope", [""])[0]
        return self.ok({"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime, "scope": scope},
                       headers={"Cache-Control": "no-store"})

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def _api(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens or self.tokens[token] < self.clock():
            return self.problem(401, "unauthorized", "The access token is invalid or expired.",
                                headers={"WWW-Authenticate": 'Bearer realm="tims", error="invalid_token"'})
        limited = self._count_call()
        if limited is not None:
            return limited
        rest = unquote(request.url.raw_path.decode().split("?")[0]).removeprefix("/api/v1/")
        raw_rest = request.url.raw_path.decode().split("?")[0].removeprefix("/api/v1/")
        method = request.method
        route = f"{method} {_collection_of(rest) or rest}"
        with self._lock:
            if self.storm.get(route, 0) > 0:
                self.storm[route] -= 1
                return self.problem(429, "rate-limited", "Too many requests", headers={"Retry-After": "2"})
        if method != "GET":
            return self._write(request, method, raw_rest)
        return self._read(request, raw_rest)

    # --- Reads ------------------------------------------------------------------------------------

    def _read(self, request: httpx.Request, raw_rest: str) -> httpx.Response:
        segments = [unquote(s) for s in raw_rest.split("/")]
        rest = "/".join(segments)
        query = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        if segments[:2] == ["inventory", "items"]:
            if len(segments) == 2:
                return self._list(request, "inventory/items", sorted(self.levels.values(), key=lambda r: (r["updated_at"], r["sku"])), query, key="sku")
            sku = segments[2]
            if sku not in self.levels:
                return self.problem(404, "not-found", f"No product {sku}")
            return self.ok(self.levels[sku])
        if segments[0] == "dimensions" and len(segments) >= 3 and segments[2] == "values":
            values = self.values.get(segments[1])
            if values is None:
                return self.problem(404, "not-found")
            if len(segments) == 3:
                return self._list(request, f"dimensions/{segments[1]}/values", list(values.values()), query)
            return self.ok(values[segments[3]]) if segments[3] in values else self.problem(404, "not-found")
        if segments[0] == "purchaseorders" and len(segments) == 3 and segments[2] == "bills":
            bills = [b for b in self.data["vendorbills"].values() if b.get("purchase_order_id") == segments[1]]
            return self._list(request, rest, bills, query)
        if segments[:3] == ["accounts", "receivable", "invoices"] and len(segments) == 5 and segments[4] == "payments":
            pays = [p for p in self.data["payments"].values() if any(a["invoice_id"] == segments[3] for a in p["allocations"])]
            return self._list(request, rest, pays, query)
        collection = _collection_of(rest)
        if collection is None:
            return self.problem(404, "not-found", f"No route {rest}")
        if rest == collection:
            return self._list(request, collection, list(self.data[collection].values()), query)
        record_id = rest[len(collection) + 1:]
        record = self.data[collection].get(record_id)
        if record is None:
            return self.problem(404, "not-found", f"No record {record_id}")
        return self.ok(record, headers={"ETag": f'W/"{record["version"]}"'})

    def _list(self, request: httpx.Request, collection: str, records: list[dict], query: dict, *, key: str = "id") -> httpx.Response:
        limit = query.pop("limit", "100")
        if not limit.isdigit() or not 1 <= int(limit) <= 500:
            return self.problem(400, "bad-request", "limit must be 1-500", errors=[{"field": "limit", "code": "out_of_range", "message": "1 to 500"}])
        cursor = query.pop("cursor", None)
        after: tuple[str, str] | None = None
        if cursor:
            # The cursor carries the first page's filters (updated_since included): the same
            # ones sent again, or none at all, and nothing else (openapi.yaml `Cursor`).
            try:
                decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
            except ValueError:
                return self.problem(400, "invalid-cursor", "Unreadable cursor")
            if (query and query != decoded["f"]) or self.refuse_cursors > 0:
                self.refuse_cursors = max(0, self.refuse_cursors - 1)
                return self.problem(400, "invalid-cursor", "The cursor does not match the filters or has expired")
            after = (decoded["u"], decoded["i"])
            query = dict(decoded["f"])
        first_query = dict(query)
        since = query.pop("updated_since", None)
        warehouse = query.pop("warehouse", None) if key == "sku" else None
        if warehouse:  # stock rows are per SKU; a warehouse narrows them to the SKUs it holds
            records = [r for r in records if any(w["warehouse"] == warehouse for w in r["warehouses"])]
        filters = dict(query)
        chosen = []
        for record in records:
            ext = filters.get("external_ref")
            if ext:
                system, _, value = ext.partition(":")
                if record.get("external_refs", {}).get(system) != value:
                    continue
            if any(name != "external_ref" and str(record.get(name)).lower() not in value.lower().split(",")
                   for name, value in filters.items() if name != "external_ref"):
                continue
            if since and _instant(record["updated_at"]) < _instant(since):
                continue
            chosen.append(record)
        chosen.sort(key=lambda r: (_instant(r["updated_at"]), r[key]))
        if after:
            chosen = [r for r in chosen if (_instant(r["updated_at"]), r[key]) > (_instant(after[0]), after[1])]
        page = chosen[: int(limit)]
        next_cursor = None
        if len(chosen) > len(page):
            last = page[-1]
            next_cursor = base64.urlsafe_b64encode(json.dumps({"u": last["updated_at"], "i": last[key], "f": first_query}).encode()).decode()
        self._pages_served += 1
        body = {"data": deepcopy(page), "next_cursor": next_cursor}
        if self.on_page is not None:
            self.on_page(collection, self._pages_served)
        return self.ok(body)

    # --- Writes -----------------------------------------------------------------------------------

    def _write(self, request: httpx.Request, method: str, raw_rest: str) -> httpx.Response:
        key = request.headers.get("Idempotency-Key", "")
        body_bytes = request.content
        fingerprint = hashlib.sha256(f"{method} {raw_rest}\n".encode() + _canonical(body_bytes)).hexdigest()
        with self._lock:
            if key and key in self.idempotency:
                stored_fingerprint, stored = self.idempotency[key]
                if stored_fingerprint != fingerprint:
                    return self.problem(422, "idempotency-key-reused", "This Idempotency-Key was used for another request.")
                replay = httpx.Response(stored.status_code, content=stored.content,
                                        headers={**{k: v for k, v in stored.headers.items() if not k.lower().startswith("ratelimit")},
                                                 **self._headers({"Idempotent-Replayed": "true"})})
                return replay
            response = self._apply(request, method, raw_rest)
            if key and response.status_code < 500 and response.status_code != 429:
                self.idempotency[key] = (fingerprint, response)
            if response.status_code < 300:
                self.writes.append((method, raw_rest))
        route = f"{method} {_collection_of(unquote(raw_rest)) or raw_rest}"
        if route in self.drop_after_commit:
            self.drop_after_commit.discard(route)
            raise Dropped("connection reset by peer", request=request)
        return response

    def _apply(self, request: httpx.Request, method: str, raw_rest: str) -> httpx.Response:
        segments = [unquote(s) for s in raw_rest.split("/")]
        rest = "/".join(segments)
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            return self.problem(400, "bad-request", "Unparsable JSON")
        collection = _collection_of(rest)
        if segments[-1] == "external-refs":
            return self._patch_refs(segments, body)
        if method == "POST" and rest in CODE_FIELDS:
            return self._create(rest, body)
        if method == "PATCH" and collection in CODE_FIELDS:
            return self._update(request, collection, rest[len(collection) + 1:], body)
        if method == "POST" and rest == "payments":
            return self._create_payment(body, body.get("allocations") or [])
        if method == "PATCH" and collection == "payments":
            return self._update(request, "payments", segments[1], body)
        if method == "POST" and collection == "payments" and segments[-1] == "void":
            return self._void_payment(segments[1], body)
        if collection == "accounts/receivable/invoices" and len(segments) == 5:
            invoice = self.data[collection].get(segments[3])
            if invoice is None:
                return self.problem(404, "not-found")
            if segments[4] == "payments":
                body = {**body, "customer_id": invoice["customer_id"]}
                return self._create_payment(body, [{"invoice_id": invoice["id"], "amount": body.get("amount")}])
            if segments[4] == "status":
                return self._invoice_status(request, invoice, body)
        return self.problem(404, "not-found", f"No route {method} {rest}")

    def _unknown_fields(self, collection: str, body: dict) -> httpx.Response | None:
        unknown = sorted(set(body) - WRITABLE_FIELDS[collection])
        if unknown:
            return self.problem(422, "validation-error", "Unknown fields", errors=[{"field": f"/{u}", "code": "unknown_field", "message": f"{u} is not a field"} for u in unknown])
        return None

    def _duplicate_ref(self, collection: str, refs: dict, exclude: str = "") -> httpx.Response | None:
        for system, value in (refs or {}).items():
            for other in self.data[collection].values():
                if other["id"] != exclude and value is not None and other.get("external_refs", {}).get(system) == value:
                    return self.problem(409, "duplicate-external-ref", f"external_refs.{system} {value} is already on {other['id']}.", existing_id=other["id"])
        return None

    def _create(self, collection: str, body: dict) -> httpx.Response:
        problem = self._unknown_fields(collection, body) or self._duplicate_ref(collection, body.get("external_refs"))
        if problem:
            return problem
        required = {"customers": ("name", "currency"), "vendors": ("name", "currency"), "products": ("sku", "name", "unit", "currency")}[collection]
        missing = [f for f in required if not body.get(f)]
        if missing:
            return self.problem(422, "validation-error", "Required fields are missing", errors=[{"field": f"/{m}", "code": "required", "message": f"{m} is required"} for m in missing])
        code_field = CODE_FIELDS[collection]
        if collection == "products" and any(p["sku"] == body["sku"] for p in self.data["products"].values()):
            existing = next(p for p in self.data["products"].values() if p["sku"] == body["sku"])
            return self.problem(409, "duplicate-sku", f"SKU {body['sku']} exists.", existing_id=existing["id"])
        record = dict(body)
        record.setdefault(code_field, f"C{len(self.data[collection]) + 1:06d}")
        record.setdefault("status", "active")
        if collection in ("customers", "vendors"):
            record.setdefault("balance", "0.00")
        if collection == "products":
            record.setdefault("tracked", False)
            record.setdefault("is_sold", True)
            record.setdefault("is_purchased", True)
        stored = self.put(collection, record)
        stored["last_modified_by"] = {"type": "api_client", "id": CLIENT_ID, "name": "Ledgerbridge"}
        return self.ok(stored, 201, headers={"Location": f"/api/v1/{collection}/{stored['id']}", "ETag": 'W/"1"'})

    def _if_match(self, request: httpx.Request, record: dict) -> httpx.Response | None:
        expected = request.headers.get("If-Match")
        if expected and expected != f'W/"{record["version"]}"':
            return self.problem(412, "precondition-failed", f"The record is at version {record['version']}.")
        return None

    def _update(self, request: httpx.Request, collection: str, record_id: str, body: dict) -> httpx.Response:
        record = self.data[collection].get(record_id)
        if record is None:
            return self.problem(404, "not-found")
        if collection in CODE_FIELDS:
            problem = self._unknown_fields(collection, body)
            if problem:
                return problem
            if CODE_FIELDS[collection] in body:
                return self.problem(422, "validation-error", "Immutable", errors=[{"field": f"/{CODE_FIELDS[collection]}", "code": "immutable", "message": "immutable"}])
        problem = self._if_match(request, record) or self._duplicate_ref(collection, body.get("external_refs"), exclude=record_id)
        if problem:
            return problem
        _merge_refs(record, body.pop("external_refs", None))
        if body:
            self.touch(collection, record_id, **body)
            record["last_modified_by"] = {"type": "api_client", "id": CLIENT_ID, "name": "Ledgerbridge"}
        return self.ok(record, headers={"ETag": f'W/"{record["version"]}"'})

    def _patch_refs(self, segments: list[str], body: dict) -> httpx.Response:
        if segments[0] == "dimensions" and len(segments) == 5:
            record = self.values.get(segments[1], {}).get(segments[3])
        else:
            collection = _collection_of("/".join(segments[:-2]))
            record = self.data.get(collection, {}).get(segments[-2]) if collection else None
        if record is None:
            return self.problem(404, "not-found")
        _merge_refs(record, body)  # changes neither updated_at nor version (contract)
        return self.ok(record)

    def _create_payment(self, body: dict, allocations: list[dict]) -> httpx.Response:
        errors = []
        for n, allocation in enumerate(allocations):
            invoice = self.data["accounts/receivable/invoices"].get(allocation["invoice_id"])
            if invoice is None:
                errors.append({"field": f"/allocations/{n}/invoice_id", "code": "not_found", "message": "no such invoice"})
            elif Decimal(allocation["amount"]) > Decimal(invoice["amount_due"]):
                errors.append({"field": f"/allocations/{n}/amount", "code": "exceeds_amount_due",
                               "message": f"Allocation {allocation['amount']} exceeds the amount due on invoice {invoice['invoice_number']} ({invoice['amount_due']})."})
            elif invoice["currency"] != body.get("currency"):
                errors.append({"field": "/currency", "code": "currency_mismatch", "message": "currency mismatch"})
        if errors:
            return self.problem(422, "validation-error", f"{len(errors)} fields are invalid.", errors=errors)
        problem = self._duplicate_ref("payments", body.get("external_refs"))
        if problem:
            return problem
        allocated = sum((Decimal(a["amount"]) for a in allocations), Decimal("0"))
        for allocation in allocations:
            invoice = self.data["accounts/receivable/invoices"][allocation["invoice_id"]]
            paid = Decimal(invoice["amount_paid"]) + Decimal(allocation["amount"])
            due = Decimal(invoice["total"]) - paid
            self.touch("accounts/receivable/invoices", invoice["id"], amount_paid=money(paid), amount_due=money(due),
                       status="paid" if due == 0 else "partially_paid")
        record = {
            "payment_number": f"RCPT-{len(self.data['payments']) + 1:05d}", "customer_id": body["customer_id"], "status": "posted",
            "payment_date": body["payment_date"], "amount": body["amount"], "currency": body["currency"], "base_currency": "GBP",
            "exchange_rate": body.get("exchange_rate", "1"), "method": body["method"], "reference": body.get("reference"),
            "memo": body.get("memo"), "deposit_account_code": body.get("deposit_account_code"),
            "allocations": [{"invoice_id": a["invoice_id"], "invoice_number": self.data["accounts/receivable/invoices"][a["invoice_id"]]["invoice_number"], "amount": a["amount"]} for a in allocations],
            "unallocated_amount": money(Decimal(body["amount"]) - allocated), "voided_at": None, "void_reason": None,
            "external_refs": body.get("external_refs") or {},
        }
        stored = self.put("payments", record)
        return self.ok(stored, 201, headers={"Location": f"/api/v1/payments/{stored['id']}", "ETag": 'W/"1"'})

    def _void_payment(self, payment_id: str, body: dict) -> httpx.Response:
        payment = self.data["payments"].get(payment_id)
        if payment is None:
            return self.problem(404, "not-found")
        if payment["status"] == "void":
            return self.problem(409, "invalid-state", "Already void", current_status="void")
        for allocation in payment["allocations"]:
            invoice = self.data["accounts/receivable/invoices"][allocation["invoice_id"]]
            paid = Decimal(invoice["amount_paid"]) - Decimal(allocation["amount"])
            self.touch("accounts/receivable/invoices", invoice["id"], amount_paid=money(paid),
                       amount_due=money(Decimal(invoice["total"]) - paid), status="open" if paid == 0 else "partially_paid")
        self.touch("payments", payment_id, status="void", voided_at=iso(self.now()), void_reason=body["reason"])
        return self.ok(payment)

    def _invoice_status(self, request: httpx.Request, invoice: dict, body: dict) -> httpx.Response:
        problem = self._if_match(request, invoice)
        if problem:
            return problem
        if body["status"] == invoice["status"]:
            return self.ok(invoice)
        if invoice["status"] == "void" or (body["status"] == "open" and not invoice.get("external_settlement")):
            return self.problem(409, "invalid-state", f"Invoice is {invoice['status']}", current_status=invoice["status"])
        if body["status"] == "paid":
            settlement = {"amount": invoice["amount_due"], "settled_on": body.get("settled_on", "2026-11-21"), "reason": body["reason"], "settled_at": iso(self.now())}
            self.touch("accounts/receivable/invoices", invoice["id"], status="paid", amount_due="0.00", external_settlement=settlement, paid_at=settlement["settled_at"])
        else:
            amount = invoice["external_settlement"]["amount"]
            self.touch("accounts/receivable/invoices", invoice["id"], status="open", amount_due=amount, external_settlement=None, paid_at=None)
        return self.ok(invoice)


def _merge_refs(record: dict, patch: dict | None) -> None:
    for system, value in (patch or {}).items():
        if value is None:
            record["external_refs"].pop(system, None)
        else:
            record["external_refs"][system] = value


def _collection_of(rest: str) -> str | None:
    for collection in sorted(COLLECTIONS, key=len, reverse=True):
        if rest == collection or rest.startswith(collection + "/"):
            return collection
    return None


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _canonical(body: bytes) -> bytes:
    if not body:
        return b""
    return json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()


# --- Contract validation ---------------------------------------------------------------------------


@cache
def _spec():
    from openapi_core import Config, OpenAPI

    # problem+json and merge-patch+json are JSON; openapi-core knows only application/json.
    media = {"application/problem+json": json.loads, "application/merge-patch+json": json.loads}
    with SPEC_PATH.open() as handle:
        return OpenAPI.from_dict(yaml.safe_load(handle), config=Config(extra_media_type_deserializers=media))


class ContractViolation(AssertionError):
    pass


@dataclass
class SpecRequest:
    """What openapi-core reads of a request."""

    host_url: str
    path: str
    method: str
    parameters: Any
    body: bytes | None
    content_type: str


@dataclass
class SpecResponse:
    status_code: int
    headers: Any
    data: bytes | None
    content_type: str


def check_against_contract(request: httpx.Request, response: httpx.Response) -> None:
    """The request (when the site accepted it) and the answer must match openapi.yaml."""
    import warnings

    from openapi_core.datatypes import RequestParameters
    from werkzeug.datastructures import Headers, ImmutableMultiDict

    parts = urlsplit(str(request.url))
    content_type = request.headers.get("Content-Type", "application/json").split(";")[0]
    spec_request = SpecRequest(
        host_url=BASE,
        path=parts.path,
        method=request.method.lower(),
        parameters=RequestParameters(
            query=ImmutableMultiDict(parse_qsl(parts.query, keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
            path={},
        ),
        body=request.content or None,
        content_type=content_type,
    )
    spec_response = SpecResponse(
        status_code=response.status_code,
        headers=Headers(dict(response.headers)),
        data=response.content,
        content_type=response.headers.get("Content-Type", "application/json").split(";")[0],
    )
    warnings.filterwarnings("ignore", "Unsupported scheme type")
    try:
        if response.status_code < 300:
            _spec().validate_request(spec_request)
        _spec().validate_response(spec_request, spec_response)
    except Exception as exc:  # openapi-core raises a family of errors; report any of them
        detail = getattr(exc, "__cause__", None) or exc
        raise ContractViolation(f"{request.method} {parts.path}?{parts.query} → {response.status_code}: {exc} ({detail})") from exc


# --- Seeds from the contract's own examples ------------------------------------------------------


@cache
def _examples() -> dict[str, dict]:
    with SPEC_PATH.open() as handle:
        schemas = yaml.safe_load(handle)["components"]["schemas"]
    return {name: schema["examples"][0] for name, schema in schemas.items() if isinstance(schema, dict) and schema.get("examples")}


def example(schema: str) -> dict:
    """A deep copy of the contract's first example of ``schema`` (``Customer``, ``SalesOrder``...)."""
    return deepcopy(_examples()[schema])


def seed(fake: FakeTims) -> dict[str, dict]:
    """One of everything, from the contract's examples (ids kept, so references between them hold)."""
    made = {
        "customer": fake.put("customers", example("Customer")),
        "vendor": fake.put("vendors", example("Vendor")),
        "product": fake.put("products", example("Product")),
        "sales_order": fake.put("salesorders", example("SalesOrder")),
        "vendor_bill": fake.put("vendorbills", example("VendorBill")),
        "invoice": fake.put("accounts/receivable/invoices", example("ReceivableInvoice")),
        "adjustment": fake.put("inventory/adjustments", example("InventoryAdjustment")),
        "gl_entry": fake.put("gl/entries", example("GlEntry")),
        "dimension": fake.put("dimensions", example("Dimension")),
        "purchase_order": fake.put("purchaseorders", {
            "id": "po_01J8Z9Y7X5W3V1T9S7R5Q3P1N9", "po_number": "PO-2210", "vendor_id": example("Vendor")["id"], "vendor_code": "V0192",
            "status": "partially_received", "order_date": "2026-11-10", "expected_date": None, "currency": "EUR", "base_currency": "GBP",
            "exchange_rate": "1.1540", "amounts_tax_inclusive": False,
            "lines": [{"line_number": 1, "line_type": "item", "product_id": example("Product")["id"], "sku": "OX-300-CYL",
                       "description": "Oxygen refill, size W", "quantity": "80", "quantity_received": "40", "quantity_billed": "40",
                       "unit": "CYL", "unit_cost": "24.4600", "tax_code": "RC", "tax_rate": "0", "tax_amount": "0.00", "line_total": "1956.80",
                       "account_code": "1300"}],
            "subtotal": "1956.80", "tax_total": "0.00", "total": "1956.80",
            "tax_totals": [{"tax_code": "RC", "tax_rate": "0", "taxable_amount": "1956.80", "tax_amount": "0.00"}],
            "bill_ids": [example("VendorBill")["id"]],
        }),
        "gl_account": fake.put("gl/accounts", {"code": "1200", "name": "Bank current account", "description": None, "type": "asset",
                                                "subtype": "bank", "status": "active", "is_control_account": False, "currency": None}),
        "tax_code": fake.put("taxcodes", {"code": "S20", "name": "Standard rate 20%", "rate": "20", "status": "active", "applies_to": "both",
                                          "is_exempt": False, "components": []}),
    }
    value = example("DimensionValue")
    value.pop("id")
    made["dimension_value"] = fake.put_value(made["dimension"]["id"], value)
    made["level"] = fake.levels.setdefault("OX-300-CYL", example("InventoryLevel"))
    return made
