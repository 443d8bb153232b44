"""The rate budget shared by every worker, in the database (``connectors.base.RateBudget``).

Used when no Redis is configured (the default install); with ``REDIS_URL`` set, the Redis
budget of ``connectors.rate`` does the same job in one round trip. Each operation is one short
transaction holding the tenant's budget row, so two workers never spend the same call: on
PostgreSQL one call of a PL/pgSQL function (migration 0011) that locks the row (``SELECT ...
FOR UPDATE``), the same steps as the ORM code below in one round trip; on SQLite that code, in
an IMMEDIATE transaction, which serialises writers anyway. Call it outside longer transactions,
or the row stays locked until they end.
"""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q

from connectors.base import RateBudget, RateObservation
from connectors.rate import RateLimits, RedisRateBudget, _check_cost
from integrations.models import RateBudgetState, RateGrant, RateLease

# Grants older than the longest window, and leases past their expiry, are useless; sweep them
# now and then, not every call.
SWEEP_PROBABILITY = 0.02


class DatabaseRateBudget:
    def __init__(self, limits: RateLimits, *, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock

    def _state(self, key: str) -> RateBudgetState:
        try:
            return RateBudgetState.objects.select_for_update().get(key=key)
        except RateBudgetState.DoesNotExist:  # the key's first call: create it in a savepoint
            pass
        try:
            with transaction.atomic():
                state, _ = RateBudgetState.objects.select_for_update().get_or_create(key=key)
        except IntegrityError:  # another worker created it between our get and create
            state = RateBudgetState.objects.select_for_update().get(key=key)
        return state

    @staticmethod
    def _call(function: str, *args: tuple[str, object]) -> object:
        """``function`` of migration 0011 with ``args`` as (PostgreSQL type, value) pairs."""
        with connection.cursor() as cursor:
            placeholders = ", ".join(f"%s::{kind}" for kind, _ in args)
            cursor.execute(f"SELECT {function}({placeholders})", [value for _, value in args])
            return cursor.fetchone()[0]

    def acquire(self, key: str, cost: int = 1) -> float:
        _check_cost(self.limits, cost)
        if connection.vendor == "postgresql":
            now, windows = self._clock(), self.limits.windows
            longest = max(window.seconds for window in windows)
            return self._call(
                "ledgerbridge_rate_acquire", ("varchar", key), ("float8", now), ("integer", cost),
                ("text[]", [window.name for window in windows]),
                ("float8[]", [float(window.seconds) for window in windows]),
                ("integer[]", [window.calls for window in windows]),
                ("float8[]", [float(self.limits.observation_expiry(window)) for window in windows]),
                ("integer", self.limits.reserve),
                ("float8", now - longest if random.random() < SWEEP_PROBABILITY else None),  # sweep grants before
            )
        with transaction.atomic():
            state = self._state(key)
            now = self._clock()
            wait = max(0.0, state.blocked_until - now)
            grants = RateGrant.objects.filter(key=key)
            # Every count this call needs, in one statement: the calls in each window and, for
            # each fresh reading of the API's own count, the calls since it was taken.
            counts, readings = {}, {}
            for index, window in enumerate(self.limits.windows):
                counts[f"window_{index}"] = Count("pk", filter=Q(at__gt=now - window.seconds))
                observed = state.observed.get(window.name)
                # A reading goes stale (a day window resets at a time the API does not say).
                if observed and now < observed["at"] + self.limits.observation_expiry(window):
                    readings[index] = observed
                    counts[f"since_{index}"] = Count("pk", filter=Q(at__gte=observed["at"]))
            used = grants.aggregate(**counts)
            for index, window in enumerate(self.limits.windows):
                in_window = used[f"window_{index}"]
                if in_window + cost > window.calls:
                    # The grant whose expiry frees enough room for this cost.
                    oldest = (grants.filter(at__gt=now - window.seconds).order_by("at")
                              .values_list("at", flat=True)[in_window + cost - window.calls - 1])
                    wait = max(wait, oldest + window.seconds - now)
                if (observed := readings.get(index)) is not None:
                    if used[f"since_{index}"] + cost > observed["remaining"] - self.limits.reserve:
                        wait = max(wait, observed["at"] + self.limits.observation_expiry(window) - now)
            if wait > 0:
                return wait
            RateGrant.objects.bulk_create([RateGrant(key=key, at=now) for _ in range(cost)])
            if random.random() < SWEEP_PROBABILITY:
                longest = max(window.seconds for window in self.limits.windows)
                RateGrant.objects.filter(key=key, at__lte=now - longest).delete()
            return 0.0

    def observe(self, key: str, observation: RateObservation) -> None:
        if not observation:
            return
        if connection.vendor == "postgresql":
            self._call(
                "ledgerbridge_rate_observe", ("varchar", key), ("float8", self._clock()),
                ("text[]", list(observation.remaining)),
                ("integer[]", [int(remaining) for remaining in observation.remaining.values()]),
                ("float8", float(observation.retry_after or 0)),
            )
            return
        with transaction.atomic():
            state = self._state(key)
            now = self._clock()
            for name, remaining in observation.remaining.items():
                state.observed[name] = {"remaining": int(remaining), "at": now}
            if observation.retry_after:
                state.blocked_until = max(state.blocked_until, now + observation.retry_after)
            state.save(update_fields=["observed", "blocked_until"])

    def enter(self, key: str) -> str | None:
        if connection.vendor == "postgresql":
            now, lease = self._clock(), uuid.uuid4().hex
            entered = self._call(
                "ledgerbridge_rate_enter", ("varchar", key), ("float8", now), ("integer", self.limits.concurrency),
                ("varchar", lease), ("float8", now + self.limits.lease_seconds),
                ("boolean", random.random() < SWEEP_PROBABILITY),
            )
            return lease if entered else None
        with transaction.atomic():
            self._state(key)
            now = self._clock()
            if RateLease.objects.filter(key=key, expires_at__gt=now).count() >= self.limits.concurrency:
                return None
            if random.random() < SWEEP_PROBABILITY:  # leases a crashed worker never gave back
                RateLease.objects.filter(key=key, expires_at__lte=now).delete()
            lease = uuid.uuid4().hex
            RateLease.objects.create(key=key, lease=lease, expires_at=now + self.limits.lease_seconds)
            return lease

    def leave(self, key: str, lease: str) -> None:
        # Once per API call: a statement written once rather than a queryset's delete compiled.
        with connection.cursor() as cursor:
            cursor.execute(_leave_sql(), [key, lease])


@functools.cache
def _leave_sql() -> str:
    quote, table = connection.ops.quote_name, RateLease._meta
    key, lease = (quote(table.get_field(name).column) for name in ("key", "lease"))
    return f"DELETE FROM {quote(table.db_table)} WHERE {key} = %s AND {lease} = %s"


def rate_budget_for(limits: RateLimits) -> RateBudget:
    """Redis when ``REDIS_URL`` is set (shared across machines, one round trip), else the database."""
    if settings.REDIS_URL:
        import redis

        return RedisRateBudget(redis.Redis.from_url(settings.REDIS_URL), limits)
    return DatabaseRateBudget(limits)
