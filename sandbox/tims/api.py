"""The API's front door: every ``/api/v1`` call goes through one pipeline.

1. the site, the bearer token (401), the rate window (429) — ``RateLimit-*`` on every answer;
2. the route (404) and the token's scope (403 ``insufficient-scope``), the in-flight cap (429);
3. injected faults (500/503/429, slow answers);
4. ``Idempotency-Key`` on writes: replay with ``Idempotent-Replayed: true``, 422 for another
   request under the same key, 409 while the first still runs; 5xx and 429 are not stored;
5. the handler, in one transaction with its webhook outbox rows;
6. a dropped connection after the commit, if the fault plan says so.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from sandbox.common import faults, idempotency, limits
from sandbox.models import TimsApiClient, TimsSite
from sandbox.tims.policy import SYSTEM, anonymous_policy, client_policy, rate_headers
from sandbox.tims.problems import ApiProblem, bad_request, field_error, new_request_id, problem_response
from sandbox.tims.records import client_actor
from sandbox.tims.routes import resolve_route
from sandbox.tims.tokens import bearer_access

logger = logging.getLogger(__name__)

WRITE_METHODS = ("POST", "PATCH", "DELETE")
STORED_HEADERS = ("Content-Type", "Location", "ETag")
JSON_TYPES = ("application/json", "application/merge-patch+json")


@dataclass
class ApiContext:
    site: TimsSite
    client: TimsApiClient
    request: HttpRequest
    body: object = None
    base_path: str = ""

    @property
    def actor(self) -> dict:
        return client_actor(self.client)


def _canonical_body(raw: bytes) -> bytes:
    """Bodies are compared as canonical JSON (keys sorted, no spaces), as RFC 8785 intends."""
    try:
        return json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError):
        return raw


def _parse_body(request: HttpRequest, route) -> object:
    if not route.body:
        return None
    if not request.body:
        if route.body == "optional":
            return None
        raise bad_request("A JSON body is required.")
    if request.content_type not in JSON_TYPES or (request.content_type == "application/merge-patch+json" and request.method != "PATCH"):
        raise bad_request(f"Unsupported Content-Type {request.content_type!r}; send application/json.")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The body is not valid JSON.") from None


@csrf_exempt
def api_view(request: HttpRequest, site: str, path: str) -> HttpResponse:
    request_id = new_request_id()
    site_row = TimsSite.objects.filter(code=site).first()
    if site_row is None:
        return _finish(problem_response(ApiProblem(404, "not-found", "No such TIMS site."), request_id), {}, request_id)
    try:
        access = bearer_access(request, site_row)
    except ApiProblem as problem:
        policy = anonymous_policy(site_row)
        verdict = limits.consume(policy)
        return _finish(problem_response(problem, request_id), rate_headers(policy, verdict), request_id)
    policy = client_policy(access.client)
    verdict = limits.consume(policy)
    headers = rate_headers(policy, verdict)
    if not verdict.allowed:
        return _finish(_too_many(verdict.retry_after or 1, request_id), headers, request_id)
    route = resolve_route(request.method, path)
    if route is None:
        return _finish(problem_response(ApiProblem(404, "not-found", "No such resource."), request_id), headers, request_id)
    if route.scope not in access.scopes:
        problem = ApiProblem(403, "insufficient-scope", f"This operation needs the scope {route.scope}.")
        return _finish(problem_response(problem, request_id), headers, request_id)
    allowed, lease_id = limits.acquire_concurrency(policy)
    if not allowed:
        return _finish(_too_many(1, request_id, "Too many requests in flight."), headers, request_id)
    try:
        response = _after_limits(request, route, site_row, access.client, headers, request_id)
    finally:
        limits.release_concurrency(lease_id)
    return response


def _too_many(retry_after: int, request_id: str, detail: str = "") -> HttpResponse:
    detail = detail or f"Rate limit exceeded; retry in {retry_after} s."
    return problem_response(ApiProblem(429, "rate-limited", detail, headers={"Retry-After": str(retry_after)}), request_id)


def _finish(response: HttpResponse, headers: dict, request_id: str) -> HttpResponse:
    for name, value in headers.items():
        response[name] = value
    response["Request-Id"] = request_id
    return response


def _fault_error(status: int, request_id: str) -> HttpResponse:
    if status == 503:
        problem = ApiProblem(503, "unavailable", "The site is in maintenance.", headers={"Retry-After": "30"})
    else:
        problem = ApiProblem(500, "internal-error", "Unexpected error. Nothing was written.")
    return problem_response(problem, request_id)


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= 255 or any(not 0x21 <= ord(ch) <= 0x7E for ch in key):
        raise bad_request(
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            [field_error("Idempotency-Key", "invalid_format", "1 to 255 printable ASCII characters, no spaces.")],
        )


def _after_limits(request, route, site: TimsSite, client: TimsApiClient, headers: dict, request_id: str) -> HttpResponse:
    is_write = request.method in WRITE_METHODS
    plan = faults.fault_plan_draw(system=SYSTEM, tenant_key=site.code, is_write=is_write)
    if plan.rate_limited:
        return _finish(_too_many(int(headers["RateLimit-Reset"]) or 1, request_id), headers, request_id)
    faults.apply_delay(plan)

    claim = None
    key = request.headers.get("Idempotency-Key")
    try:
        if key is not None and is_write:
            _check_key(key)
            claim = idempotency.idempotency_claim(
                system=SYSTEM,
                scope=client.client_id,
                key=key,
                fingerprint=idempotency.request_fingerprint(
                    method=request.method,
                    path=request.path,
                    query=request.META.get("QUERY_STRING", ""),
                    body=_canonical_body(request.body),
                ),
                ttl_seconds=client.idempotency_ttl_seconds,
                fold_case=False,
            )
            if claim.conflict == "different_request":
                raise ApiProblem(422, "idempotency-key-reused", "This Idempotency-Key was used with a different request.")
            if claim.conflict == "in_progress":
                raise ApiProblem(409, "idempotency-key-in-use", "The first request with this key is still running.", headers={"Retry-After": "1"})
    except ApiProblem as problem:
        return _finish(problem_response(problem, request_id), headers, request_id)
    if claim is not None and claim.replay is not None:
        response = HttpResponse(claim.replay.body, status=claim.replay.status_code)
        for name, value in claim.replay.headers.items():
            response[name] = value
        response["Idempotent-Replayed"] = "true"
        return _finish(response, headers, request_id)

    try:
        if plan.error_status:
            response = _fault_error(plan.error_status, request_id)
        else:
            response = _run(request, route, site, client, request_id)
    except Exception:
        if claim is not None and claim.record_id is not None:
            idempotency.idempotency_abandon(record_id=claim.record_id)
        raise
    if claim is not None and claim.record_id is not None:
        if response.status_code >= 500 or response.status_code == 429:
            # Nothing was written, so a retry with the same key must run again.
            idempotency.idempotency_abandon(record_id=claim.record_id)
        else:
            idempotency.idempotency_complete(
                record_id=claim.record_id,
                status_code=response.status_code,
                headers={name: response[name] for name in STORED_HEADERS if response.has_header(name)},
                body=response.content,
            )
    response = _finish(response, headers, request_id)
    if is_write and plan.drop_after_commit and response.status_code < 300:
        dropped = faults.dropped_response(request.META, response.content, status=response.status_code)
        return _finish(dropped, headers, request_id)
    return response


def _run(request, route, site: TimsSite, client: TimsApiClient, request_id: str) -> HttpResponse:
    try:
        body = _parse_body(request, route)
        ctx = ApiContext(site=site, client=client, request=request, body=body, base_path=f"/sandbox/tims/{site.code}")
        with transaction.atomic():
            return route.handler(ctx, **route.kwargs)
    except ApiProblem as problem:
        return problem_response(problem, request_id)
    except Exception:
        # The transaction rolled back: nothing was written, as the contract's 500 promises.
        logger.exception("TIMS sandbox: %s %s failed (%s)", request.method, request.path, request_id)
        return problem_response(ApiProblem(500, "internal-error", "Unexpected error. Nothing was written."), request_id)
