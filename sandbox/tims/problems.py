"""Answers in the contract's shapes: JSON bodies, RFC 9457 problems (``urn:tims:problem:*``)
and the OAuth errors of the token endpoint (RFC 6749 §5.2)."""

from __future__ import annotations

import secrets

import orjson
from django.http import HttpResponse

PROBLEM_TITLES = {
    "bad-request": "The request is malformed",
    "invalid-cursor": "The cursor is invalid or expired",
    "unauthorized": "Authentication required",
    "forbidden": "Forbidden",
    "insufficient-scope": "The token lacks the scope for this operation",
    "not-found": "Not found",
    "duplicate-external-ref": "External reference already in use",
    "duplicate-sku": "SKU already in use",
    "invalid-state": "The record's state does not allow this change",
    "period-closed": "The accounting period is closed",
    "not-tracked": "The product is not stock-tracked",
    "idempotency-key-in-use": "A request with this Idempotency-Key is still running",
    "precondition-failed": "The record has changed",
    "validation-error": "The request body is invalid",
    "idempotency-key-reused": "Idempotency-Key reused with a different request",
    "rate-limited": "Too many requests",
    "internal-error": "Internal server error",
    "unavailable": "Service unavailable",
}


class ApiProblem(Exception):
    """Raised by handlers and services; the pipeline turns it into a problem response."""

    def __init__(self, status: int, type_: str, detail: str = "", *, errors: list[dict] | None = None, headers: dict | None = None, **extra):
        super().__init__(f"{status} {type_}: {detail}")
        self.status = status
        self.type = type_
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra


def field_error(field: str, code: str, message: str) -> dict:
    return {"field": field, "code": code, "message": message}


def validation_failed(errors: list[dict]) -> ApiProblem:
    count = len(errors)
    return ApiProblem(422, "validation-error", f"{count} field{'s are' if count != 1 else ' is'} invalid.", errors=errors)


def bad_request(detail: str, errors: list[dict] | None = None) -> ApiProblem:
    return ApiProblem(400, "bad-request", detail, errors=errors)


def not_found(detail: str = "No such record.") -> ApiProblem:
    return ApiProblem(404, "not-found", detail)


def invalid_state(detail: str, current_status: str) -> ApiProblem:
    return ApiProblem(409, "invalid-state", detail, current_status=current_status)


def new_request_id() -> str:
    return "req_" + secrets.token_hex(8)


def dumps(payload: object) -> bytes:
    return orjson.dumps(payload)  # compact UTF-8, as json.dumps(ensure_ascii=False) wrote it


def json_response(payload: object, status: int = 200, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(dumps(payload), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def problem_response(problem: ApiProblem, request_id: str) -> HttpResponse:
    body = {
        "type": f"urn:tims:problem:{problem.type}",
        "title": PROBLEM_TITLES[problem.type],
        "status": problem.status,
        "detail": problem.detail or PROBLEM_TITLES[problem.type] + ".",
        "instance": f"urn:tims:request:{request_id}",
    }
    if problem.errors:
        body["errors"] = problem.errors
    body.update(problem.extra)
    response = HttpResponse(dumps(body), status=problem.status, content_type="application/problem+json")
    for name, value in problem.headers.items():
        response[name] = value
    return response


def oauth_error(error: str, status: int = 400, description: str = "", headers: dict | None = None) -> HttpResponse:
    body = {"error": error}
    if description:
        body["error_description"] = description
    response = json_response(body, status=status, headers={"Cache-Control": "no-store", **(headers or {})})
    return response
