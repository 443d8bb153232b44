"""Parts of webhook delivery that every emulator's outbox shares: the retry schedule and one
signed POST that reports a status or the transport error instead of raising."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import httpx


@dataclass(frozen=True)
class RetrySchedule:
    """Waits after the 1st, 2nd, ... failed attempt; after the list, ``then_every``; give up
    when the first attempt is older than ``give_up_after``."""

    waits: tuple[timedelta, ...]
    then_every: timedelta
    give_up_after: timedelta

    def wait_after(self, failed_attempts: int) -> timedelta:
        if failed_attempts <= len(self.waits):
            return self.waits[max(failed_attempts, 1) - 1]
        return self.then_every


@dataclass(frozen=True)
class PostResult:
    status: int | None  # None: no HTTP answer (timeout, refused connection)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post_signed(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> PostResult:
    try:
        response = client.post(url, content=body, headers={"Content-Type": "application/json", **headers}, timeout=timeout)
    except httpx.HTTPError as exc:
        return PostResult(None, f"{type(exc).__name__}: {exc}"[:1000])
    error = "" if 200 <= response.status_code < 300 else f"HTTP {response.status_code}: {response.text[:200]}"
    return PostResult(response.status_code, error[:1000])
