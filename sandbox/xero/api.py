"""The Accounting API's front door: every call goes through one pipeline, in Xero's order.

1. the bearer token (401), the ``xero-tenant-id`` header and the connection (403);
2. the route and the token's scopes (404, 401 AuthorizationUnsuccessful);
3. rate limits and the concurrency cap (429), then injected faults;
4. the Idempotency-Key, checked after rate limiting (api-notes §2, §5.5);
5. the handler, in one transaction; the webhook outbox and the Idempotency-Key's stored answer
   are written in that transaction;
6. the rate headers; a dropped connection, if the fault plan says so, after the commit.
"""

from __future__ import annotations

import uuid

from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from config.db import select_rows
from sandbox.common import faults, idempotency
from sandbox.common.guard import GuardedCall, guarded_call
from sandbox.models import XeroConnection, XeroTenant
from sandbox.xero import tokens
from sandbox.xero.errors import forbidden, not_found, problem, simple_error, unauthorized
from sandbox.xero.policy import HEADER_FOR_WINDOW, SYSTEM, xero_limit_policy
from sandbox.xero.resources.base import ApiContext
from sandbox.xero.routes import resolve_route
from sandbox.xero.webhooks import record_events
from sandbox.xero.xml import json_to_xml, wants_json

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
IDEMPOTENT_METHODS = ("POST", "PUT", "PATCH")  # Xero ignores the key on other methods
MAX_URL_LENGTH = 2048


def _token_expired_detail(expires_at) -> str:
    return f"TokenExpired: token expired at {expires_at:%m/%d/%Y %H:%M:%S}"


def _rate_headers(remaining: dict[str, int]) -> dict[str, str]:
    return {HEADER_FOR_WINDOW[name]: str(value) for name, value in remaining.items() if name in HEADER_FOR_WINDOW}


def _too_many(problem_name: str, retry_after: int | None, remaining: dict[str, int]) -> HttpResponse:
    response = HttpResponse(status=429)
    response["X-Rate-Limit-Problem"] = problem_name
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    for name, value in _rate_headers(remaining).items():
        response[name] = value
    return response


def _fault_error(status: int) -> HttpResponse:
    if status == 503:
        # Outages and "Organisation offline" may come as plain text (api-notes §4).
        return HttpResponse("The Xero API is currently offline for maintenance", status=503, content_type="text/plain")
    return simple_error(500, 500, "UnknownErrorException", "An error occurred in Xero. Check the API Status page for more information.")


def _tenant_for(request: HttpRequest, access) -> XeroTenant | None:
    app = access.app
    header = request.headers.get("xero-tenant-id", "").strip()
    if access.grant is None:  # a Custom Connection: bound to one tenant, header optional (§1.5)
        tenant = app.custom_connection_tenant
        if tenant is None or (header and header.lower() != str(tenant.tenant_id)):
            return None
        return tenant
    try:
        tenant_id = uuid.UUID(header)
    except ValueError:
        return None
    # Two statements made once (select_rows) rather than a queryset with a join built per call.
    tenants = select_rows(XeroTenant, None, tenant_id=tenant_id)
    if not tenants or not select_rows(XeroConnection, ["id"], app_id=app.pk, user_email=access.grant.user_email,
                                      tenant_id=tenants[0].pk):
        return None
    return tenants[0]


@csrf_exempt
def accounting_api(request: HttpRequest, path: str) -> HttpResponse:
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("bearer "):
        return unauthorized()
    access = tokens.access_token_lookup(header[7:].strip())
    if access is None or (access.grant is not None and access.grant.revoked_at):
        return unauthorized()
    if access.expires_at <= timezone.now():
        return unauthorized(_token_expired_detail(access.expires_at))
    tenant = _tenant_for(request, access)
    if tenant is None:
        return forbidden()

    # Over-long query strings are refused with 404; about 52 GUIDs in IDs= already fail
    # (api-notes §4, §5.3), which is why clients batch by about 40.
    if len(request.get_full_path()) > MAX_URL_LENGTH:
        return not_found()
    route = resolve_route(request.method, path)
    if route is None:
        return not_found()
    if route.scopes and not route.scopes & set(access.scopes.split()):
        return problem(401, "Unauthorized", "AuthorizationUnsuccessful")

    app = access.app
    policy = xero_limit_policy(app=app, tenant=tenant)
    is_write = request.method in WRITE_METHODS
    with guarded_call(policy=policy, tenant_key=str(tenant.tenant_id), is_write=is_write) as call:
        if call.rejected == "injected":
            # An injected 429 looks like a minute-limit hit.
            return _too_many("minute", call.retry_after, call.remaining)
        if call.rejected:
            return _too_many(call.rejected, call.retry_after, call.remaining)
        faults.apply_delay(call.plan)
        return _after_limits(request, route, app, tenant, call)


def _after_limits(request, route, app, tenant, call: GuardedCall) -> HttpResponse:
    plan = call.plan
    claim = None
    key = request.headers.get("Idempotency-Key", "").strip()
    if key and request.method in IDEMPOTENT_METHODS:
        if len(key) > 128:
            return simple_error(400, 10, "ValidationException", "Idempotency Key length must not exceed 128 characters")
        claim = idempotency.idempotency_claim(
            system=SYSTEM,
            scope=app.client_id,
            key=key,
            fingerprint=idempotency.request_fingerprint(
                method=request.method,
                path=request.path.lower(),
                query=request.META.get("QUERY_STRING", ""),
                body=request.body,
            ),
            ttl_seconds=app.idempotency_ttl_seconds,
        )
        if claim.conflict == "different_request":
            return simple_error(400, 10, "ValidationException", f"Idempotency Key: {key} is used with a different request")
        if claim.conflict == "in_progress":
            return simple_error(409, 10, "ValidationException", f"Idempotency Key: {key} is in use by a request still in progress")
        if claim.replay is not None:
            response = HttpResponse(claim.replay.body, status=claim.replay.status_code)
            for name, value in claim.replay.headers.items():
                response[name] = value
            return _finish(request, response, call.remaining)

    def complete(response: HttpResponse) -> None:
        if claim is not None and claim.record_id is not None:
            idempotency.idempotency_complete(
                record_id=claim.record_id,
                status_code=response.status_code,
                headers={"Content-Type": response.get("Content-Type", "application/json")},
                body=response.content,
            )

    try:
        if plan.error_status:
            response = _fault_error(plan.error_status)
            complete(response)
        else:
            ctx = ApiContext(app=app, tenant=tenant, request=request, unitdp=_unitdp(request))
            with transaction.atomic():
                response = route.handler(ctx, **route.kwargs)
                if ctx.events:
                    record_events(tenant=tenant, events=ctx.events)
                # The stored answer commits with the write (one transaction, not two).
                complete(response)
    except Exception:
        if claim is not None and claim.record_id is not None:
            idempotency.idempotency_abandon(record_id=claim.record_id)
        raise
    response = _finish(request, response, call.remaining)
    if plan.drop_after_commit and response.status_code < 300:
        return faults.dropped_response(request.META, response.content, status=response.status_code)
    return response


def _finish(request: HttpRequest, response: HttpResponse, remaining: dict[str, int]) -> HttpResponse:
    for name, value in _rate_headers(remaining).items():
        response[name] = value
    if not wants_json(request.headers.get("Accept", "")) and response.get("Content-Type", "").startswith("application/json"):
        response.content = json_to_xml(response.content)
        response["Content-Type"] = "text/xml; charset=utf-8"
    return response


def _unitdp(request: HttpRequest) -> int:
    # UnitAmount is 2 dp unless unitdp=4 (api-notes §6.2).
    return 4 if request.GET.get("unitdp") == "4" else 2

