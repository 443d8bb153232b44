"""TIMS error bodies and the classes the contract gives them (README "Errors").

Every error under ``/api/v1`` is RFC 9457 problem+json whose ``type`` is
``urn:tims:problem:<name>``; the token endpoint answers RFC 6749 ``{"error": ...}``. The shared
client classifies by status; the few cases where the contract's ``type`` says more than the
status are refined here, after the shared client has answered."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.base import (
    AuthError,
    Conflict,
    ConnectorError,
    ErrorClass,
    ReauthorizationRequired,
    TransientError,
)
from connectors.http import ErrorDetails, read_error_generic

PROBLEM_PREFIX = "urn:tims:problem:"

# 409 types that name the record already holding the value (`existing_id`).
DUPLICATE_TYPES = frozenset({"duplicate-external-ref", "duplicate-sku"})
IDEMPOTENCY_KEY_IN_USE = "idempotency-key-in-use"
INVALID_CURSOR = "invalid-cursor"


class DuplicateRecord(Conflict):
    """409 ``duplicate-external-ref`` or ``duplicate-sku``: the record already exists as
    ``existing_id``. Link to it instead of creating a second one."""

    error_class = ErrorClass.DUPLICATE

    def __init__(self, message: str, *, existing_id: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.existing_id = existing_id


class PreconditionFailed(Conflict):
    """412: the record changed in TIMS since the version sent in If-Match. Re-read it, apply
    the conflict policy, then try again."""


def read_tims_error(response: httpx.Response, body: Any) -> ErrorDetails:
    """``code`` is the problem type without its ``urn:tims:problem:`` prefix (or the OAuth
    ``error``); ``elements`` carries one entry per field error, with its JSON Pointer."""
    if isinstance(body, Mapping) and isinstance(body.get("type"), str) and body["type"].startswith(PROBLEM_PREFIX):
        code = body["type"].removeprefix(PROBLEM_PREFIX)
        field_errors = [e for e in body.get("errors") or [] if isinstance(e, Mapping)]
        elements = [
            {
                "index": None,
                "field": str(e.get("field", "")),
                "code": str(e.get("code", "")),
                "messages": [str(e.get("message", ""))],
            }
            for e in field_errors
        ]
        detail = str(body.get("detail") or body.get("title") or code)
        if field_errors:
            detail += " " + "; ".join(f"{e.get('field', '')}: {e.get('message', '')}" for e in field_errors)
        return ErrorDetails(code=code, message=detail, elements=elements)
    return read_error_generic(response, body)


def refine(exc: ConnectorError) -> ConnectorError:
    """The contract's own class for an error the shared client classified by status alone."""
    body = exc.response if isinstance(exc.response, Mapping) else {}
    common = {"code": exc.code, "response": exc.response, "status_code": exc.status_code}
    if exc.code in DUPLICATE_TYPES:
        existing = str(body.get("existing_id") or "")
        return DuplicateRecord(exc.message, existing_id=existing, **common)
    if exc.status_code == 412:
        return PreconditionFailed(exc.message, **common)
    if exc.code == IDEMPOTENCY_KEY_IN_USE:
        # Not stored by the site: nothing was written by this request. The first request with
        # this key is still running, so try again later with the same key (README table).
        return TransientError(exc.message, **common)
    if type(exc) is AuthError and exc.status_code == 401:
        # The shared client already fetched a new token once; a fresh token refused too means
        # the client credentials were revoked (README "Authentication").
        return ReauthorizationRequired(
            f"TIMS refused a freshly issued token: the client credentials were revoked or disabled ({exc.message})",
            **common,
        )
    return exc
