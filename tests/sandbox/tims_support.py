"""Test support for the TIMS emulator: a site with a client, and an API client that validates
every request and answer against the contract (``connectors/tims/openapi.yaml``, read as a
data file) with openapi-core; webhook payloads are validated against the contract's event
schemas."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

import pytest
import yaml
from django.test import Client
from jsonschema import Draft202012Validator, FormatChecker
from openapi_core import Config, OpenAPI
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from sandbox.tims.services import tims_access_token, tims_client_create, tims_site_create
from tests.sandbox.spec import to_spec_request, to_spec_response

CONTRACT = Path(__file__).resolve().parents[2] / "connectors" / "tims" / "openapi.yaml"
HOST = "https://tims.example.com"  # the contract's server default


@cache
def contract_document() -> dict:
    with CONTRACT.open() as handle:
        return yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


@cache
def contract() -> OpenAPI:
    # Merge patches (RFC 7396) and problems (RFC 9457) are JSON; openapi-core only knows application/json.
    config = Config(extra_media_type_deserializers={"application/merge-patch+json": json.loads, "application/problem+json": json.loads})
    return OpenAPI.from_dict(contract_document(), config=config)


@cache
def schema_validator(name: str) -> Draft202012Validator:
    registry = Registry().with_resource("urn:contract", Resource.from_contents(contract_document(), default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:contract#/components/schemas/{name}"}, registry=registry, format_checker=FormatChecker())


def assert_schema(name: str, instance: object) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema_validator(name).iter_errors(instance)]
    assert not errors, f"{name}: {errors}"


EVENT_SCHEMAS = {
    "salesorder.status_changed": "SalesOrderStatusChangedEvent",
    "payment.created": "PaymentCreatedEvent",
    "payment.voided": "PaymentVoidedEvent",
    "inventory.adjustment.created": "InventoryAdjustmentCreatedEvent",
    "customer.created": "CustomerEvent",
    "customer.updated": "CustomerEvent",
    "vendor.created": "VendorEvent",
    "vendor.updated": "VendorEvent",
    "product.created": "ProductEvent",
    "product.updated": "ProductEvent",
    "vendorbill.created": "VendorBillCreatedEvent",
    "gl.entry.posted": "GlEntryPostedEvent",
    "ping": "PingEvent",
}


def check_against_contract(method: str, prefix: str, path: str, query: str, headers: dict, body: bytes | None, content_type: str, status: int, response_headers: dict, response_body: bytes, *, check_request: bool) -> None:
    request = to_spec_request(
        method=method, url_path=path, query=query, headers=headers, body=body,
        content_type=content_type, host_url=HOST, prefix=prefix,
    )
    spec = contract()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unsupported scheme type")
        if check_request:
            spec.validate_request(request)
        spec.validate_response(request, to_spec_response(status=status, headers=response_headers, body=response_body))


@dataclass
class TimsApi:
    """Calls one site like a TIMS client; ``spec=False`` skips the contract check (for answers
    that are broken on purpose, e.g. a dropped connection)."""

    client: Client
    site_code: str
    token: str
    validated: int = 0
    calls: list = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"/sandbox/tims/{self.site_code}"

    def call(self, method: str, path: str, *, params: dict | None = None, body=None, headers: dict | None = None,
             content_type: str = "application/json", token: str | None = None, spec: bool = True, raw: bytes | None = None):
        headers = dict(headers or {})
        auth = token if token is not None else self.token
        if auth:
            headers.setdefault("Authorization", f"Bearer {auth}")
        query = urlencode(params or {})
        url = self.prefix + path + (f"?{query}" if query else "")
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
        handler = getattr(self.client, method.lower())
        if data is not None:
            response = handler(url, data, content_type=content_type, **meta)
        elif method in ("POST", "PATCH"):
            response = handler(url, b"", content_type=content_type, **meta)
        else:
            response = handler(url, **meta)
        if spec and not response.streaming:
            check_against_contract(
                method, self.prefix, self.prefix + path, query, {**headers, "Content-Type": content_type}, data, content_type,
                response.status_code, dict(response.headers), response.content, check_request=200 <= response.status_code < 300,
            )
            self.validated += 1
        self.calls.append((method, path, response.status_code))
        return response

    def get(self, path, params=None, **kw):
        return self.call("GET", path, params=params, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body=body, **kw)

    def patch(self, path, body=None, content_type="application/merge-patch+json", **kw):
        return self.call("PATCH", path, body=body, content_type=content_type, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def walk(self, path: str, params: dict | None = None, limit: int = 100) -> list[dict]:
        """Every item of a list, following ``next_cursor``."""
        params = {**(params or {}), "limit": limit}
        items = []
        while True:
            page = self.get(path, params)
            assert page.status_code == 200, page.content
            body = page.json()
            items += body["data"]
            if body["next_cursor"] is None:
                return items
            params = {"cursor": body["next_cursor"], "limit": limit}


@pytest.fixture
def tims_site(db):
    return tims_site_create(code="acme", name="Acme Gas & Welding")


@pytest.fixture
def tims_client(tims_site):
    return tims_client_create(site=tims_site, name="Ledgerbridge")


@pytest.fixture
def tims(client, tims_site, tims_client) -> TimsApi:
    return TimsApi(client, tims_site.code, tims_access_token(client=tims_client)["access_token"])


def problem_type(response) -> str:
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.json()["type"].removeprefix("urn:tims:problem:")
