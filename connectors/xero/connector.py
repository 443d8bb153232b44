"""Building a ``XeroClient`` from what the engine holds about a connection: settings,
credentials, and the token store, call recorder and rate budget it implements."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from connectors.base import CallRecorder, ConnectionSettings, RateBudget, TokenStore
from connectors.http import HttpClient, RateHeaders, RetryPolicy
from connectors.rate import RateLimits, Window
from connectors.xero.auth import DEFAULT_SCOPES, XeroAuthenticator, XeroEndpoints, XeroOAuth
from connectors.xero.client import XeroClient, read_xero_error

# Per tenant: 60 calls a minute, 5,000 a day (1,000 on the Starter tier: the day header
# tells), 5 in flight (api-notes/xero.md §2). One call of each minute is kept in reserve for
# people using other apps on the same organisation.
XERO_RATE_LIMITS = RateLimits(
    windows=(Window("minute", 60, 60.0), Window("day", 5000, 86_400.0)),
    concurrency=5,
    reserve=1,
)

XERO_RATE_HEADERS = RateHeaders(
    remaining={"minute": "X-MinLimit-Remaining", "day": "X-DayLimit-Remaining"},
    retry_after="Retry-After",
    problem="X-Rate-Limit-Problem",
    request_id="Xero-Correlation-Id",
)


def xero_oauth(
    settings: ConnectionSettings,
    *,
    recorder: CallRecorder | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
) -> XeroOAuth:
    """The identity side of a connection (connect, refresh, tenants). Credentials:
    ``client_id``, ``client_secret``, optional ``redirect_uri`` and ``scopes``."""
    credentials = settings.credentials
    http = HttpClient("", recorder=recorder, read_error=read_xero_error, transport=transport, sleep=sleep or time.sleep)
    return XeroOAuth(
        client_id=credentials["client_id"],
        client_secret=credentials["client_secret"],
        http=http,
        endpoints=XeroEndpoints.from_base_url(settings.base_url),
        redirect_uri=credentials.get("redirect_uri", ""),
        scopes=credentials.get("scopes") or DEFAULT_SCOPES,
    )


def connect(
    settings: ConnectionSettings,
    *,
    token_store: TokenStore,
    recorder: CallRecorder | None = None,
    budget: RateBudget | None = None,
    retry_policy: RetryPolicy | None = None,
    correlation_id: str | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
) -> XeroClient:
    """The registry's factory for "xero". ``budget`` is keyed ``xero:<tenant id>`` so every
    worker calling the same organisation draws from one budget."""
    oauth = xero_oauth(settings, recorder=recorder, transport=transport, sleep=sleep)
    endpoints = oauth.endpoints
    http = HttpClient(
        endpoints.api_root,
        auth=XeroAuthenticator(oauth, token_store, tenant_id=settings.tenant_id),
        budget=budget,
        budget_key=f"xero:{settings.tenant_id or settings.credentials.get('client_id', '')}",
        recorder=recorder,
        retry_policy=retry_policy,
        rate_headers=XERO_RATE_HEADERS,
        read_error=read_xero_error,
        # XML is the default answer (api-notes/xero.md §5.1).
        headers={"Accept": "application/json"},
        correlation_id=correlation_id,
        transport=transport,
        sleep=sleep or time.sleep,
    )
    return XeroClient(http, oauth=oauth, tenant_id=settings.tenant_id)
