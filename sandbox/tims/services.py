"""The TIMS sandbox's public Python interface, for the seed and activity commands, the demo
and tests.

    site = tims_site_create(code="acme", name="Acme Gases")        # chart, tax codes, dimensions
    client = tims_client_create(site=site, name="Ledgerbridge")    # client_id / client_secret
    token = tims_access_token(client=client, scopes="customers:read")  # no HTTP needed
    tims_client_set_limits(client=client, minute=5, concurrent=None)   # RateLimit-*, 429
    fault_setting_update(system="tims", tenant_key=site.code, error_rate=0.1, seed=7)
    tims_demo_seed(site=site, seed=1)                              # customers ... orders
    tims_activity_run(site=site, seed=1, ticks=10)                 # a living ERP
    deliver_pending()                                              # flush the webhook outbox

Base URL of a site: ``{SANDBOX_BASE_URL}/tims/<code>`` (``/oauth/token``, ``/api/v1/...``).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from sandbox.common.faults import fault_setting_update  # noqa: F401  (re-exported: faults per site code)
from sandbox.models import TimsAccessToken, TimsApiClient, TimsSite
from sandbox.models.tims import ALL_SCOPES
from sandbox.tims.activity import tims_activity_run, tims_activity_tick  # noqa: F401
from sandbox.tims.seed import seed_reference_data, tims_demo_seed  # noqa: F401
from sandbox.tims.webhooks import deliver_pending  # noqa: F401


@transaction.atomic
def tims_site_create(
    *,
    code: str,
    name: str,
    base_currency: str = "GBP",
    exchange_rates: dict[str, str] | None = None,
    allow_http_webhook_urls: bool = False,
    with_reference_data: bool = True,
) -> TimsSite:
    """A site; ``with_reference_data`` adds the chart of accounts, tax codes and dimensions."""
    site = TimsSite.objects.create(
        code=code,
        name=name,
        base_currency=base_currency,
        exchange_rates=exchange_rates if exchange_rates is not None else {"EUR": "1.1540", "USD": "1.2710"},
        allow_http_webhook_urls=allow_http_webhook_urls,
    )
    if with_reference_data:
        seed_reference_data(site)
    return site


def tims_client_create(
    *,
    site: TimsSite,
    name: str,
    scopes: str = ALL_SCOPES,
    minute_limit: int = 120,
    concurrent_limit: int | None = 10,
    token_seconds: int = 3600,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> TimsApiClient:
    """An OAuth client of the site; its id and secret are what a connection stores."""
    values = {"site": site, "name": name, "scopes": scopes, "minute_limit": minute_limit, "concurrent_limit": concurrent_limit, "token_seconds": token_seconds}
    if client_id:
        values["client_id"] = client_id
    if client_secret:
        values["client_secret"] = client_secret
    return TimsApiClient.objects.create(**values)


def tims_client_set_limits(
    *, client: TimsApiClient, minute: int = 120, window_seconds: int = 60, concurrent: int | None = 10
) -> TimsApiClient:
    """The contract's defaults unless told otherwise; ``concurrent=None`` = no in-flight cap."""
    client.minute_limit, client.window_seconds, client.concurrent_limit = max(1, minute), window_seconds, concurrent
    client.save(update_fields=["minute_limit", "window_seconds", "concurrent_limit"])
    return client


def tims_access_token(*, client: TimsApiClient, scopes: str | None = None, seconds: int | None = None) -> dict:
    """A token as the token endpoint would issue it (tests and scripts skip the HTTP call)."""
    granted = client.scope_set if scopes is None else set(scopes.split()) & client.scope_set
    now = timezone.now()
    lifetime = seconds if seconds is not None else client.token_seconds
    token = TimsAccessToken.objects.create(
        token="tims_at_" + secrets.token_urlsafe(32),
        client=client,
        scopes=" ".join(sorted(granted)),
        created_at=now,
        expires_at=now + timedelta(seconds=lifetime),
    )
    return {"access_token": token.token, "token_type": "Bearer", "expires_in": lifetime, "scope": token.scopes}


def tims_site_close_period(*, site: TimsSite, through) -> TimsSite:
    """Close the books up to a date: voiding a payment dated then gives 409 ``period-closed``."""
    site.closed_through = through
    site.save(update_fields=["closed_through"])
    return site


def tims_base_url(site: TimsSite) -> str:
    base = getattr(settings, "SANDBOX_BASE_URL", "http://127.0.0.1:8000/sandbox").rstrip("/")
    return f"{base}/tims/{site.code}"


__all__ = [
    "deliver_pending",
    "fault_setting_update",
    "tims_access_token",
    "tims_activity_run",
    "tims_activity_tick",
    "tims_base_url",
    "tims_client_create",
    "tims_client_set_limits",
    "tims_demo_seed",
    "tims_site_close_period",
    "tims_site_create",
]
