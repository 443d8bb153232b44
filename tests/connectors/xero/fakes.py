"""A small stateful stand-in for Xero, mounted on respx, for what the sandbox cannot produce
(dropped connections after a commit, precise 429s, racing refreshes). Shapes follow the
OpenAPI examples and api-notes/xero.md §4-§5."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from urllib.parse import parse_qs

import httpx
import respx

API = "https://api.xero.com/api.xro/2.0"
IDENTITY_TOKEN_URL = "https://identity.xero.com/connect/token"
CONNECTIONS_URL = "https://api.xero.com/connections"
TENANT_ID = "b2c4f6a8-0000-4000-8000-000000000001"
CLIENT_ID = "CLIENTID123"
CLIENT_SECRET = "s3cr3t-client-secret"

ID_FIELDS = {
    "Contacts": "ContactID",
    "Items": "ItemID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "Payments": "PaymentID",
    "ManualJournals": "ManualJournalID",
    "BankTransactions": "BankTransactionID",
    "TrackingCategories": "TrackingCategoryID",
    "Accounts": "AccountID",
    "TaxRates": "TaxType",
}
PAGED = {"Contacts", "Invoices", "CreditNotes", "Payments", "ManualJournals", "BankTransactions"}


def ms_date(when: datetime) -> str:
    return f"/Date({int(when.timestamp() * 1000)}+0000)/"


def xero_json(body, status: int = 200, headers: dict | None = None) -> httpx.Response:
    # Decimals go out as JSON numbers, as Xero writes them.
    text = json.dumps(body, default=_decimal_marker)
    text = re.sub(r'"__dec__([-0-9.]+)"', r"\1", text)
    return httpx.Response(status, content=text.encode(), headers={"Content-Type": "application/json", **(headers or {})})


def _decimal_marker(value):
    if isinstance(value, Decimal):
        return f"__dec__{format(value, 'f')}"
    raise TypeError(type(value))


class FakeXero:
    """Accounting API + identity. ``now`` drives UpdatedDateUTC and the fake's own rate window."""

    def __init__(self, *, api: str = API, token_url: str = IDENTITY_TOKEN_URL, connections_url: str = CONNECTIONS_URL) -> None:
        self.api = api
        self.token_url = token_url
        self.connections_url = connections_url
        self.data: dict[str, dict[str, dict]] = {name: {} for name in ID_FIELDS}
        self.requests: list[httpx.Request] = []
        self.access_tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.spent_refresh_tokens: set[str] = set()
        self.codes: dict[str, str] = {}
        self.token_calls: list[dict[str, list[str]]] = []
        self.canned: list[tuple[Callable[[httpx.Request], bool], Callable[[], httpx.Response]]] = []
        self.drop_after_commit: set[str] = set()  # "PUT Invoices": store, then drop the connection
        self.rate_limit: tuple[int, float] | None = None  # (calls, seconds) per tenant
        self.clock: Callable[[], float] = lambda: datetime.now(timezone.utc).timestamp()
        self.call_times: list[float] = []
        self.refresh_delay = 0.0
        self.lose_next_token_answer = False
        self.connections = [
            {
                "id": "e1eede29-f875-4a5d-8470-17f6a29a88b1",
                "authEventId": "d99ecdfe-391d-43d2-b834-17636ba90e8d",
                "tenantId": TENANT_ID,
                "tenantType": "ORGANISATION",
                "tenantName": "Maple Florists Ltd",
                "createdDateUtc": "2019-07-09T23:40:30.1833130",
                "updatedDateUtc": "2020-05-15T01:35:13.8491980",
            }
        ]
        self._lock = threading.Lock()
        self._seed_settings()

    # --- Setup helpers -----------------------------------------------------------------------

    def _seed_settings(self) -> None:
        for code, name, kind in (("200", "Sales", "REVENUE"), ("090", "Business Bank Account", "BANK"), ("400", "Advertising", "OVERHEADS"), ("800", "Suspense", "CURRLIAB")):
            self.put_record("Accounts", {"Code": code, "Name": name, "Type": kind, "Status": "ACTIVE", "TaxType": "OUTPUT2", "EnablePaymentsToAccount": kind == "BANK"})
        self.data["TaxRates"]["OUTPUT2"] = {"TaxType": "OUTPUT2", "Name": "15% GST on Income", "Status": "ACTIVE", "EffectiveRate": Decimal("15.0000")}
        self.data["TaxRates"]["NONE"] = {"TaxType": "NONE", "Name": "No GST", "Status": "ACTIVE", "EffectiveRate": Decimal("0.0000")}

    def issue_tokens(self, *, refresh: bool = True) -> tuple[str, str | None]:
        access = "at-" + uuid.uuid4().hex
        self.access_tokens.add(access)
        refresh_token = None
        if refresh:
            refresh_token = "rt-" + uuid.uuid4().hex
            self.refresh_tokens.add(refresh_token)
        return access, refresh_token

    def put_record(self, resource: str, record: dict) -> dict:
        id_field = ID_FIELDS[resource]
        record = dict(record)
        record.setdefault(id_field, str(uuid.uuid4()))
        record["UpdatedDateUTC"] = ms_date(datetime.fromtimestamp(self.clock(), timezone.utc))
        self.data[resource][record[id_field]] = record
        return record

    def answer_next(self, predicate: Callable[[httpx.Request], bool], response: Callable[[], httpx.Response]) -> None:
        """The next request matching ``predicate`` gets ``response`` instead (faults)."""
        self.canned.append((predicate, response))

    def install(self, router: respx.Router) -> None:
        router.post(self.token_url).mock(side_effect=self._token)
        router.route(url__regex=re.escape(self.connections_url) + r"(/(?P<connection_id>[^/?]+))?(\?.*)?$").mock(side_effect=self._connections)
        router.route(url__regex=re.escape(self.api) + r"/(?P<resource>[A-Za-z]+)(/(?P<rid>[^/?]+))?(/(?P<sub>Options))?(/(?P<sub_id>[^/?]+))?(\?.*)?$").mock(side_effect=self._api)

    # --- Identity ----------------------------------------------------------------------------

    def _token(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return xero_json({"error": "invalid_client"}, 400)
        grant = form.get("grant_type", [""])[0]
        if self.refresh_delay:
            threading.Event().wait(self.refresh_delay)  # widen the race window between workers
        with self._lock:
            self.token_calls.append(form)
            if grant == "refresh_token":
                token = form.get("refresh_token", [""])[0]
                if token not in self.refresh_tokens:
                    return xero_json({"error": "invalid_grant"}, 400)
                # Single use: the token rotates (api-notes/xero.md §1.2).
                self.refresh_tokens.discard(token)
                self.spent_refresh_tokens.add(token)
                access, refresh = self.issue_tokens()
            elif grant == "authorization_code":
                code = form.get("code", [""])[0]
                if self.codes.pop(code, None) != form.get("redirect_uri", [""])[0]:
                    return xero_json({"error": "invalid_grant"}, 400)
                access, refresh = self.issue_tokens()
            elif grant == "client_credentials":
                access, refresh = self.issue_tokens(refresh=False)
            else:
                return xero_json({"error": "unsupported_grant_type"}, 400)
        if self.lose_next_token_answer and grant == "refresh_token":
            # Rotated, but the answer never arrives. The spent token stays usable for a grace
            # period (api-notes/xero.md §1.2).
            self.lose_next_token_answer = False
            self.refresh_tokens.add(token)
            raise httpx.ReadError("connection reset by peer", request=request)
        body = {"access_token": access, "expires_in": 1800, "token_type": "Bearer", "scope": "offline_access accounting.invoices"}
        if refresh:
            body["refresh_token"] = refresh
        return xero_json(body)

    def _connections(self, request: httpx.Request, connection_id: str | None = None) -> httpx.Response:
        if self._bearer(request) not in self.access_tokens:
            return xero_json({"Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired"}, 401)
        if request.method == "DELETE":
            before = len(self.connections)
            self.connections = [c for c in self.connections if c["id"] != connection_id]
            return httpx.Response(204 if len(self.connections) < before else 404)
        event = request.url.params.get("authEventId")
        return xero_json([c for c in self.connections if not event or c["authEventId"] == event])

    @staticmethod
    def _bearer(request: httpx.Request) -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer ")

    # --- Accounting API ----------------------------------------------------------------------

    def _api(self, request: httpx.Request, resource: str, rid: str | None = None, sub: str | None = None, sub_id: str | None = None) -> httpx.Response:
        self.requests.append(request)
        for index, (predicate, response) in enumerate(self.canned):
            if predicate(request):
                del self.canned[index]
                return response()
        if self._bearer(request) not in self.access_tokens:
            return xero_json({"Type": None, "Title": "Unauthorized", "Status": 401, "Detail": "TokenExpired: token expired"}, 401)
        if request.headers.get("xero-tenant-id") != TENANT_ID:
            return xero_json({"Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful"}, 403)
        now = self.clock()
        if self.rate_limit:
            calls, seconds = self.rate_limit
            recent = [t for t in self.call_times if t > now - seconds]
            if len(recent) >= calls:
                return xero_json({"Title": "Too Many Requests"}, 429, {"Retry-After": "7", "X-Rate-Limit-Problem": "minute"})
            self.call_times.append(now)
            left = calls - len(recent) - 1
            headers = {"X-MinLimit-Remaining": str(left), "X-DayLimit-Remaining": "4000", "Xero-Correlation-Id": str(uuid.uuid4())}
        else:
            headers = {"X-MinLimit-Remaining": "59", "X-DayLimit-Remaining": "4999", "Xero-Correlation-Id": str(uuid.uuid4())}
        if resource == "Organisation":
            return xero_json({"Organisations": [{"Name": "Maple Florists Ltd", "OrganisationID": TENANT_ID, "BaseCurrency": "NZD", "CountryCode": "NZ", "Timezone": "NEWZEALANDSTANDARDTIME"}]}, headers=headers)
        if resource not in ID_FIELDS:
            return httpx.Response(404, text="The resource you're looking for cannot be found", headers=headers)
        if request.method == "GET":
            return self._get(request, resource, rid, headers)
        body = json.loads(request.content or b"{}", parse_float=Decimal)
        if resource == "TrackingCategories":
            return self._tracking(request, rid, sub, sub_id, body, headers)
        if request.method == "DELETE":
            if self.data[resource].pop(rid, None) is None:
                return httpx.Response(404, headers=headers)
            return httpx.Response(204, headers=headers)
        if rid:
            return self._set_status(request, resource, rid, body, headers)
        response = self._save(request, resource, body, headers)
        if f"{request.method} {resource}" in self.drop_after_commit:
            self.drop_after_commit.discard(f"{request.method} {resource}")
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)
        return response

    def _get(self, request: httpx.Request, resource: str, rid: str | None, headers: dict) -> httpx.Response:
        params = request.url.params
        records = list(self.data[resource].values())
        if rid:
            records = [r for r in records if r[ID_FIELDS[resource]] == rid]
            if not records:
                return httpx.Response(404, headers=headers)
        since = request.headers.get("If-Modified-Since")
        if since:
            floor = datetime.fromisoformat(since).replace(tzinfo=timezone.utc).timestamp() * 1000
            records = [r for r in records if int(re.search(r"\d+", r["UpdatedDateUTC"]).group()) >= floor]
        for param, field in (("IDs", ID_FIELDS[resource]), ("InvoiceNumbers", "InvoiceNumber")):
            if params.get(param):
                wanted = set(params[param].split(","))
                records = [r for r in records if r.get(field) in wanted]
        if params.get("where"):
            terms = re.findall(r'(\w+)=="((?:[^"\\]|\\.)*)"', params["where"])
            records = [r for r in records if any(str(r.get(f, "")) == v.replace('\\"', '"') for f, v in terms)]
        if params.get("Statuses"):
            records = [r for r in records if r.get("Status") in params["Statuses"].split(",")]
        if resource == "TrackingCategories" and params.get("includeArchived") != "true":
            records = [r for r in records if r.get("Status") == "ACTIVE"]
        body: dict = {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "Ledgerbridge tests", "DateTimeUTC": ms_date(datetime.now(timezone.utc))}
        if resource in PAGED and params.get("page"):
            page, size = int(params["page"]), int(params.get("pageSize", 100))
            count = max(1, -(-len(records) // size))
            body["pagination"] = {"page": page, "pageSize": size, "pageCount": count, "itemCount": len(records)}
            records = records[(page - 1) * size : page * size]
        elif resource in PAGED and resource in ("Invoices", "CreditNotes", "BankTransactions"):
            # Without `page`, lists come without line items (api-notes/xero.md §5.3).
            records = [{k: v for k, v in r.items() if k != "LineItems"} for r in records]
        body[resource] = records
        return xero_json(body, headers=headers)

    def _tracking(self, request, rid, sub, sub_id, body, headers) -> httpx.Response:
        categories = self.data["TrackingCategories"]
        if request.method == "PUT" and not rid:
            active = [c for c in categories.values() if c["Status"] == "ACTIVE"]
            if len(active) >= 2:
                return xero_json({"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred", "Elements": [{"ValidationErrors": [{"Message": "You can only have 2 active tracking categories."}]}]}, 400, headers)
            record = self.put_record("TrackingCategories", {"Name": body["Name"], "Status": "ACTIVE", "Options": []})
            return xero_json({"TrackingCategories": [record]}, headers=headers)
        category = categories.get(rid)
        if category is None:
            return httpx.Response(404, headers=headers)
        if sub and request.method == "PUT":
            option = {"TrackingOptionID": str(uuid.uuid4()), "Name": body["Name"], "Status": "ACTIVE"}
            category["Options"].append(option)
            return xero_json({"Options": [option]}, headers=headers)
        if sub and request.method == "DELETE":
            category["Options"] = [o for o in category["Options"] if o["TrackingOptionID"] != sub_id]
            return xero_json({"Options": []}, headers=headers)
        category.update({k: v for k, v in body.items() if k in ("Name", "Status")})
        return xero_json({"TrackingCategories": [category]}, headers=headers)

    def _set_status(self, request, resource, rid, body, headers) -> httpx.Response:
        record = self.data[resource].get(rid)
        if record is None:
            return httpx.Response(404, headers=headers)
        change = (body.get(resource) or [body])[0]
        status = change.get("Status")
        if resource == "Invoices":
            allowed = {"DRAFT": {"DELETED", "SUBMITTED", "AUTHORISED"}, "SUBMITTED": {"DELETED", "AUTHORISED", "DRAFT"}, "AUTHORISED": {"VOIDED"}}
            if status not in allowed.get(record["Status"], set()) or (status == "VOIDED" and record.get("AmountPaid", 0)):
                return xero_json({"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred", "Elements": [{**record, "ValidationErrors": [{"Message": "Invoice not of valid status for modification"}]}]}, 400, headers)
        if resource == "Payments":
            if set(change) != {"Status"}:
                return xero_json({"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred", "Elements": [{"ValidationErrors": [{"Message": "Only Status accepted for updates"}]}]}, 400, headers)
            invoice = self.data["Invoices"].get(record["Invoice"]["InvoiceID"])
            if invoice:
                invoice["AmountPaid"] -= record["Amount"]
                invoice["AmountDue"] += record["Amount"]
                invoice["Status"] = "AUTHORISED"
        record["Status"] = status
        record = self.put_record(resource, record)
        return xero_json({resource: [record]}, headers=headers)

    # --- Batch writes --------------------------------------------------------------------------

    def _save(self, request, resource, body, headers) -> httpx.Response:
        summarize = request.url.params.get("summarizeErrors", "true") != "false"
        answers = []
        for element in body.get(resource) or []:
            errors = self._validate(resource, element, creating=request.method == "PUT" or not element.get(ID_FIELDS[resource]))
            if errors:
                answers.append({**element, "StatusAttributeString": "ERROR", "HasErrors": True, "ValidationErrors": [{"Message": m} for m in errors]})
                continue
            answers.append({**self._store(resource, element), "StatusAttributeString": "OK"})
        if summarize and any(a["StatusAttributeString"] == "ERROR" for a in answers):
            failed = [a for a in answers if a["StatusAttributeString"] == "ERROR"]
            return xero_json({"ErrorNumber": 10, "Type": "ValidationException", "Message": "A validation exception occurred", "Elements": failed}, 400, headers)
        return xero_json({"Id": str(uuid.uuid4()), "Status": "OK", resource: answers}, headers=headers)

    def _validate(self, resource: str, element: dict, *, creating: bool) -> list[str]:
        errors = []
        existing = self.data[resource]
        if resource == "Invoices":
            if not element.get("Contact"):
                errors.append("A Contact must be specified for this type of transaction")
            number = element.get("InvoiceNumber")
            if creating and number and element.get("Type") == "ACCREC" and any(r.get("InvoiceNumber") == number for r in existing.values()):
                errors.append("Invoice # must be unique.")
            for line in element.get("LineItems") or []:
                if line.get("AccountCode") and line["AccountCode"] not in {a["Code"] for a in self.data["Accounts"].values()}:
                    errors.append(f"Account code '{line['AccountCode']}' is not a valid code for this document.")
        if resource == "Contacts" and creating:
            name = element.get("Name")
            if any(r.get("Name") == name for r in existing.values()):
                errors.append(f"The contact name {name} is already assigned to another contact. The contact name must be unique across all active contacts.")
        if resource == "ManualJournals":
            lines = element.get("JournalLines") or []
            debits = sum((Decimal(str(line["LineAmount"])) for line in lines if Decimal(str(line["LineAmount"])) > 0), Decimal("0"))
            credits = sum((Decimal(str(line["LineAmount"])) for line in lines if Decimal(str(line["LineAmount"])) < 0), Decimal("0"))
            if debits != -credits:
                errors.append(f"The total debits ({debits:.2f}) must equal total credits ({credits:.2f})")
        if resource == "Payments":
            target = element.get("Invoice") or {}
            invoice = self.data["Invoices"].get(target.get("InvoiceID")) or next((i for i in self.data["Invoices"].values() if target.get("InvoiceNumber") and i.get("InvoiceNumber") == target.get("InvoiceNumber")), None)
            if invoice is None:
                errors.append("Invoice could not be found")
            elif Decimal(str(element["Amount"])) > invoice.get("AmountDue", Decimal("0")):
                errors.append("Payment amount exceeds the amount outstanding on this document")
        return errors

    def _store(self, resource: str, element: dict) -> dict:
        id_field = ID_FIELDS[resource]
        record = dict(self.data[resource].get(element.get(id_field), {}))
        record.update(element)
        if resource in ("Invoices", "CreditNotes", "BankTransactions"):
            lines = []
            for line in record.get("LineItems") or []:
                line = dict(line)
                line.setdefault("LineItemID", str(uuid.uuid4()))
                line["LineAmount"] = (Decimal(str(line.get("Quantity", 1))) * Decimal(str(line.get("UnitAmount", 0)))).quantize(Decimal("0.01"))
                lines.append(line)
            record["LineItems"] = lines
            total = sum((line["LineAmount"] for line in lines), Decimal("0"))
            record.update({"SubTotal": total, "TotalTax": Decimal("0.00"), "Total": total})
            record.setdefault("Status", "DRAFT" if resource != "BankTransactions" else "AUTHORISED")
        if resource == "Invoices":
            record.setdefault("AmountPaid", Decimal("0.00"))
            record["AmountDue"] = record["Total"] - record["AmountPaid"]
            if record.get("Contact") and not record["Contact"].get("ContactID"):
                record["Contact"] = {**record["Contact"], "ContactID": str(uuid.uuid4())}
            if not record.get("InvoiceNumber") and record.get("Type") == "ACCREC":
                record["InvoiceNumber"] = f"INV-{len(self.data['Invoices']) + 1:04d}"
        if resource == "Payments":
            target = record["Invoice"]
            invoice = self.data["Invoices"].get(target.get("InvoiceID")) or next(i for i in self.data["Invoices"].values() if i.get("InvoiceNumber") == target.get("InvoiceNumber"))
            record["Invoice"] = {"InvoiceID": invoice["InvoiceID"], "InvoiceNumber": invoice.get("InvoiceNumber", "")}
            record.update({"Status": "AUTHORISED", "PaymentType": "ACCRECPAYMENT" if invoice["Type"] == "ACCREC" else "ACCPAYPAYMENT"})
            invoice["AmountPaid"] += Decimal(str(record["Amount"]))
            invoice["AmountDue"] -= Decimal(str(record["Amount"]))
            if invoice["AmountDue"] == 0:
                invoice["Status"] = "PAID"
        if resource == "ManualJournals":
            record.setdefault("Status", "DRAFT")
        if resource == "Contacts":
            record.setdefault("ContactStatus", "ACTIVE")
        if "Date" in record and re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(record["Date"])):
            day = datetime.fromisoformat(record["Date"]).replace(tzinfo=timezone.utc)
            record["DateString"] = record["Date"] + "T00:00:00"
            record["Date"] = ms_date(day)
        return self.put_record(resource, record)
