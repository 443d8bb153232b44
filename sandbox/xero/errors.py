"""Xero's error and envelope shapes (api-notes §4)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import orjson
from django.http import HttpResponse
from django.utils import timezone

from sandbox.xero.dates import ms_now_plain

PROVIDER_NAME = "Ledgerbridge Sandbox"


class ValidationFailed(Exception):
    """One element failed validation; ``messages`` become its ValidationErrors."""

    def __init__(self, *messages: str):
        super().__init__("; ".join(messages))
        self.messages = list(messages)


class QueryParseError(Exception):
    """A bad ``where`` or ``order``: Xero answers 400 QueryParseException."""


class NotFound(Exception):
    pass


def _default(value):
    if isinstance(value, Decimal):
        # JSON numbers, not strings (api-notes §4); amounts are 2 dp, unit amounts up to 4.
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(payload: object) -> bytes:
    """Compact UTF-8 JSON, as Xero writes it (orjson: a 50-invoice answer in about a quarter
    of the standard library's time)."""
    return orjson.dumps(payload, default=_default)


def json_response(payload: object, status: int = 200, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(dumps(payload), status=status, content_type="application/json; charset=utf-8")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def envelope(plural: str, items: list[dict], *, pagination: dict | None = None, warnings: list | None = None) -> dict:
    body = {
        "Id": str(uuid.uuid4()),
        "Status": "OK",
        "ProviderName": PROVIDER_NAME,
        "DateTimeUTC": ms_now_plain(timezone.now()),
    }
    if pagination is not None:
        body["pagination"] = pagination
    if warnings:
        body["Warnings"] = warnings
    body[plural] = items
    return body


def problem(status: int, title: str, detail: str) -> HttpResponse:
    """401/403 problem+json: ``{"Type":null,"Title":"Unauthorized","Status":401,"Detail":...}``."""
    return json_response(
        {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": str(uuid.uuid4()), "Extensions": {}},
        status=status,
    )


def unauthorized(detail: str = "AuthenticationUnsuccessful") -> HttpResponse:
    response = problem(401, "Unauthorized", detail)
    response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response


def forbidden(detail: str = "AuthenticationUnsuccessful") -> HttpResponse:
    return problem(403, "Forbidden", detail)


def validation_exception(elements: list[dict]) -> HttpResponse:
    return json_response(
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": elements,
        },
        status=400,
    )


def simple_error(status: int, error_number: int, type_: str, message: str) -> HttpResponse:
    return json_response({"ErrorNumber": error_number, "Type": type_, "Message": message}, status=status)


def not_found() -> HttpResponse:
    # Xero answers 404 with a plain body for an unknown id or route (api-notes §4).
    return HttpResponse("The resource you're looking for cannot be found", status=404, content_type="text/plain")
