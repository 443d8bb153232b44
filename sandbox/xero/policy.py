"""Xero's limits expressed for the shared limit machinery (api-notes §2): 60 calls a minute and
5,000 a day per tenant, 10,000 a minute per app, 5 calls in flight per tenant. The minute and
day 429s carry Retry-After; the app-minute and concurrent ones do not."""

from __future__ import annotations

from sandbox.common.limits import LimitPolicy, Window, offset_for
from sandbox.models import SandboxSystem, XeroApp, XeroTenant

SYSTEM = SandboxSystem.XERO.value

HEADER_FOR_WINDOW = {
    "minute": "X-MinLimit-Remaining",
    "day": "X-DayLimit-Remaining",
    "appminute": "X-AppMinLimit-Remaining",
}


def xero_limit_policy(*, app: XeroApp, tenant: XeroTenant) -> LimitPolicy:
    tenant_key = f"tenant:{tenant.tenant_id}"
    offset = tenant.limit_window_offset_seconds or offset_for(tenant_key, 60)
    return LimitPolicy(
        system=SYSTEM,
        windows=[
            Window("minute", f"{tenant_key}:minute", 60, tenant.minute_limit, offset % 60),
            Window("day", f"{tenant_key}:day", 86400, tenant.day_limit, offset % 86400),
            Window("appminute", f"app:{app.client_id}:minute", 60, app.app_minute_limit, 0, sends_retry_after=False),
        ],
        concurrency_key=tenant_key,
        concurrency_limit=tenant.concurrent_limit,
    )
