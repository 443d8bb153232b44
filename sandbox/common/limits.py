"""Rate limits and concurrency caps, shared by all emulators.

A system describes its limits with a :class:`LimitPolicy` (fixed windows and a concurrency cap,
each with a key: a tenant, an app). Counters are database rows updated atomically, so several
processes share one budget, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from sandbox.models.common import ConcurrencyLease, RateWindowCounter

LEASE_SECONDS = 120  # a call still "in flight" after this is a crashed worker, not a real call


@dataclass(frozen=True)
class Window:
    """A fixed window: at most ``limit`` calls per ``seconds`` for ``key``. ``limit`` None or 0 =
    unlimited. ``offset_seconds`` shifts the window boundary (Xero resets each tenant's windows at
    a different time, api-notes xero.md §2)."""

    name: str
    key: str
    seconds: int
    limit: int | None
    offset_seconds: int = 0
    sends_retry_after: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.limit)



@dataclass(frozen=True)
class LimitPolicy:
    system: str
    windows: list[Window] = field(default_factory=list)
    concurrency_key: str = ""
    concurrency_limit: int | None = None


@dataclass
class LimitVerdict:
    allowed: bool
    problem: str = ""  # the window's name, or "concurrent"
    retry_after: int | None = None
    remaining: dict[str, int] = field(default_factory=dict)  # window name → calls left
    reset: dict[str, int] = field(default_factory=dict)  # window name → seconds until it ends
    lease_id: int | None = None


class LimitExceeded(Exception):
    def __init__(self, window: Window, retry_after: int):
        super().__init__(window.name)
        self.window = window
        self.retry_after = retry_after


def offset_for(key: str, seconds: int) -> int:
    """A stable per-tenant window offset, so windows do not all reset on the minute."""
    return int(hashlib.sha256(key.encode()).hexdigest(), 16) % seconds


def _window_start(window: Window, now: datetime) -> datetime:
    epoch = int(now.timestamp()) - window.offset_seconds
    start = epoch - epoch % window.seconds + window.offset_seconds
    return datetime.fromtimestamp(start, tz=now.tzinfo)


def _seconds_left(window: Window, now: datetime) -> int:
    end = _window_start(window, now) + timedelta(seconds=window.seconds)
    return max(0, int((end - now).total_seconds() + 0.999))


def _counter(system: str, window: Window, start: datetime) -> RateWindowCounter:
    try:
        with transaction.atomic():
            counter, _ = RateWindowCounter.objects.get_or_create(system=system, key=window.key, window_start=start)
    except IntegrityError:  # a concurrent first call created it
        counter = RateWindowCounter.objects.get(system=system, key=window.key, window_start=start)
    return counter


def _count_call(system: str, window: Window, start: datetime) -> int | None:
    """Count one call in the window's counter: its new count, or None when the window is full.

    One conditional ``UPDATE ... RETURNING`` (PostgreSQL, SQLite 3.35+) is the atomic
    check-and-increment; the window's first call creates the counter first."""
    if connection.vendor in ("postgresql", "sqlite") and connection.features.can_return_columns_from_insert:
        quote = connection.ops.quote_name
        table, count = quote(RateWindowCounter._meta.db_table), quote("count")
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {count} = {count} + 1 WHERE {quote('system')} = %s AND {quote('key')} = %s"
                f" AND {quote('window_start')} = %s AND {count} < %s RETURNING {count}",
                [system, window.key, connection.ops.adapt_datetimefield_value(start), window.limit],
            )
            row = cursor.fetchone()
        if row is not None:
            return row[0]
        # No counter yet, or a full window: the general path tells them apart.
    counter = _counter(system, window, start)
    updated = RateWindowCounter.objects.filter(pk=counter.pk, count__lt=window.limit).update(count=F("count") + 1)
    if not updated:
        return None
    return RateWindowCounter.objects.values_list("count", flat=True).get(pk=counter.pk)


def consume(policy: LimitPolicy, *, now: datetime | None = None) -> LimitVerdict:
    """Count one call in every window, or none of them if any window is full."""
    now = now or timezone.now()
    remaining: dict[str, int] = {}
    resets = {window.name: _seconds_left(window, now) for window in policy.windows if window.enabled}
    try:
        with transaction.atomic():
            for window in policy.windows:
                if not window.enabled:
                    continue
                start = _window_start(window, now)
                count = _count_call(policy.system, window, start)
                if count is None:
                    reset = start + timedelta(seconds=window.seconds)
                    raise LimitExceeded(window, max(1, int((reset - now).total_seconds() + 0.999)))
                remaining[window.name] = max(0, window.limit - count)
    except LimitExceeded as exceeded:
        for window in policy.windows:
            if window.enabled:
                start = _window_start(window, now)
                used = (
                    RateWindowCounter.objects.filter(system=policy.system, key=window.key, window_start=start)
                    .values_list("count", flat=True)
                    .first()
                    or 0
                )
                remaining[window.name] = max(0, window.limit - used)
        return LimitVerdict(
            allowed=False,
            problem=exceeded.window.name,
            retry_after=exceeded.retry_after if exceeded.window.sends_retry_after else None,
            remaining=remaining,
            reset=resets,
        )
    return LimitVerdict(allowed=True, remaining=remaining, reset=resets)


GATE_START = datetime(2000, 1, 1, tzinfo=UTC)  # the concurrency gate's row, one per key


def acquire_concurrency(policy: LimitPolicy, *, now: datetime | None = None) -> tuple[bool, int | None]:
    """Take a slot among ``concurrency_limit`` calls in flight; (allowed, lease id)."""
    if not policy.concurrency_limit:
        return True, None
    now = now or timezone.now()
    key = policy.concurrency_key
    with transaction.atomic():
        # Serialise acquirers of one key: the UPDATE holds the gate row's lock on PostgreSQL
        # until the end of the transaction; SQLite's write lock does it there.
        gate = RateWindowCounter.objects.filter(system=policy.system, key=key, window_start=GATE_START)
        if not gate.update(count=F("count") + 1):  # the key's first call: create the gate row
            created = _counter(policy.system, Window("concurrent-gate", key, 1, 1), GATE_START)
            RateWindowCounter.objects.filter(pk=created.pk).update(count=F("count") + 1)
        ConcurrencyLease.objects.filter(system=policy.system, key=key, expires_at__lte=now).delete()
        in_flight = ConcurrencyLease.objects.filter(system=policy.system, key=key).count()
        if in_flight >= policy.concurrency_limit:
            return False, None
        lease = ConcurrencyLease.objects.create(
            system=policy.system, key=key, acquired_at=now, expires_at=now + timedelta(seconds=LEASE_SECONDS)
        )
    return True, lease.pk


def release_concurrency(lease_id: int | None) -> None:
    if lease_id is not None:
        ConcurrencyLease.objects.filter(pk=lease_id).delete()


def purge_old_counters(*, older_than: timedelta = timedelta(days=2)) -> int:
    deleted, _ = RateWindowCounter.objects.filter(
        window_start__lt=timezone.now() - older_than, window_start__gt=datetime(2001, 1, 1, tzinfo=timezone.now().tzinfo)
    ).delete()
    return deleted
