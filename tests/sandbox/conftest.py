"""Fixtures for the sandbox's tests: an organisation with a chart, a connected Web app, and a
Django test client that speaks to the Xero API with the headers Xero requires."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.utils import timezone

from sandbox.common import limits
from sandbox.xero.services import xero_app_create, xero_connect, xero_tenant_create
from tests.sandbox.spec import check_accounting, specs_present
from tests.sandbox.tims_support import tims, tims_client, tims_site  # noqa: F401  (the TIMS emulator's fixtures)

API = "/sandbox/xero/api.xro/2.0"


@dataclass
class XeroApiClient:
    """Calls the emulator like a Xero client; every call whose request and answer the spec
    models is validated against Xero's OpenAPI document (when ../shared/specs is present).
    ``spec=False`` is for calls that are invalid on purpose."""

    client: Client
    token: str
    tenant_id: str
    validated: int = 0

    def header_dict(self, extra: dict | None = None) -> dict:
        return {"Authorization": f"Bearer {self.token}", "xero-tenant-id": self.tenant_id, "Accept": "application/json", **(extra or {})}

    def _call(self, method: str, path: str, *, query: str = "", body=None, headers: dict | None = None, spec: bool = True):
        headers = self.header_dict(headers)
        meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
        url = API + path + (("?" + query) if query else "")
        raw = json.dumps(body).encode() if body is not None else None
        handler = getattr(self.client, method.lower())
        if raw is not None:
            response = handler(url, raw, content_type="application/json", **meta)
        else:
            response = handler(url, **meta)
        if spec and specs_present() and not response.streaming:
            check_accounting(
                method,
                "http://testserver" + url,
                {**headers, "Content-Type": "application/json"},
                raw,
                response.status_code,
                dict(response.headers),
                response.content,
            )
            self.validated += 1
        return response

    def get(self, path: str, params: dict | None = None, headers: dict | None = None, spec: bool = True):
        return self._call("GET", path, query=urlencode(params or {}), headers=headers, spec=spec)

    def put(self, path: str, body, headers: dict | None = None, query: str = "", spec: bool = True):
        return self._call("PUT", path, query=query.lstrip("?"), body=body, headers=headers, spec=spec)

    def post(self, path: str, body, headers: dict | None = None, query: str = "", spec: bool = True):
        return self._call("POST", path, query=query.lstrip("?"), body=body, headers=headers, spec=spec)

    def delete(self, path: str, spec: bool = True):
        return self._call("DELETE", path, spec=spec)


def steady_window_offset() -> int:
    """A window offset (1-59 s) that puts the next minute boundary at least 50 s away, so a
    test's calls all fall in one fixed window."""
    now = int(time.time())
    offset = (now - 5) % 60
    return offset or 59


@pytest.fixture
def steady_limit_clock(monkeypatch):
    """The limit machinery's clock held still mid-minute and mid-hour, so a test's calls fall
    in one window of every kind (windows that are not offset, such as Xero's app minute or a
    TIMS client's, could otherwise end between two calls)."""
    instant = timezone.now().replace(minute=30, second=30, microsecond=0)
    monkeypatch.setattr(limits, "timezone", SimpleNamespace(now=lambda: instant))
    return instant


@pytest.fixture
def tenant(db):
    tenant = xero_tenant_create(name="Test Org (UK)", with_chart=True, with_samples=True)
    tenant.limit_window_offset_seconds = steady_window_offset()
    tenant.save(update_fields=["limit_window_offset_seconds"])
    return tenant


@pytest.fixture
def xero_app(db):
    return xero_app_create(name="Test app", redirect_uris=["http://localhost/callback"])


@pytest.fixture
def token_set(xero_app, tenant):
    return xero_connect(app=xero_app, tenants=[tenant])


@pytest.fixture
def xero(client, token_set, tenant) -> XeroApiClient:
    return XeroApiClient(client, token_set["access_token"], str(tenant.tenant_id))


@pytest.fixture
def contact_id(xero) -> str:
    response = xero.put("/Contacts", {"Contacts": [{"Name": "Fixture Customer Ltd", "ContactNumber": "FIX-1"}]})
    assert response.status_code == 200, response.content
    return response.json()["Contacts"][0]["ContactID"]


def authorised_invoice(xero, contact_id: str, *, amount=100.0, number=None, type_="ACCREC", **extra) -> dict:
    invoice = {
        "Type": type_,
        "Contact": {"ContactID": contact_id},
        "Date": "2026-01-15",
        "DueDate": "2026-02-15",
        "Status": "AUTHORISED",
        "LineItems": [
            {"Description": "Consulting", "Quantity": 1, "UnitAmount": amount, "AccountCode": "200" if type_ == "ACCREC" else "429", "TaxType": "OUTPUT2" if type_ == "ACCREC" else "INPUT2"}
        ],
        **extra,
    }
    if number:
        invoice["InvoiceNumber"] = number
    response = xero.put("/Invoices", {"Invoices": [invoice]})
    assert response.status_code == 200, response.content
    return response.json()["Invoices"][0]
