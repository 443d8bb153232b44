"""TIMS limits for the shared limit machinery: a fixed window per OAuth client (120 requests
per 60 s by default) and at most 10 requests in flight, read from the client's settings; calls
with no valid client spend a per-site budget. Every answer carries ``RateLimit-*``."""

from __future__ import annotations

from sandbox.common.limits import LimitPolicy, LimitVerdict, Window
from sandbox.models import SandboxSystem, TimsApiClient, TimsSite

SYSTEM = SandboxSystem.TIMS.value
WINDOW = "window"


def client_policy(client: TimsApiClient) -> LimitPolicy:
    key = f"client:{client.client_id}"
    return LimitPolicy(
        system=SYSTEM,
        windows=[Window(WINDOW, f"{key}:{client.window_seconds}s", client.window_seconds, max(1, client.minute_limit))],
        concurrency_key=key,
        concurrency_limit=client.concurrent_limit,
    )


def anonymous_policy(site: TimsSite) -> LimitPolicy:
    return LimitPolicy(system=SYSTEM, windows=[Window(WINDOW, f"site:{site.code}:anonymous", 60, max(1, site.anonymous_minute_limit))])


def rate_headers(policy: LimitPolicy, verdict: LimitVerdict) -> dict[str, str]:
    window = policy.windows[0]
    return {
        "RateLimit-Limit": str(window.limit),
        "RateLimit-Remaining": str(verdict.remaining.get(WINDOW, 0)),
        "RateLimit-Reset": str(verdict.reset.get(WINDOW, window.seconds)),
    }
