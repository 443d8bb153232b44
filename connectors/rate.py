"""Rate budgets shared by every worker calling one tenant (DESIGN §5): a sliding window per
limit, tightened by what the remote reports it has left, a pause after a 429, and a
concurrency limit. Two implementations of ``connectors.base.RateBudget``: Redis (shared across
processes and machines) and in-process (tests, single-process scripts)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from connectors.base import RateObservation


@dataclass(frozen=True)
class Window:
    """At most ``calls`` per ``seconds``; ``name`` matches ``RateObservation.remaining``."""

    name: str
    calls: int
    seconds: float


@dataclass(frozen=True)
class RateLimits:
    """The limits of one tenant, as data. ``reserve`` calls of each window are left unused so
    that other clients of the same tenant (people, other apps) are not starved."""

    windows: tuple[Window, ...]
    concurrency: int = 5
    reserve: int = 0
    lease_seconds: float = 120.0  # longer than any request timeout: a slot outlives no crash
    # How long the remote's "calls left" holds. Windows are fixed and reset at a time we do not
    # know (api-notes/xero.md §2): a "0 left today" must not stop the tenant for 24 hours, so
    # after this long one call may go and read the count again (a 429 then says how long).
    observation_ttl: float = 300.0

    def observation_expiry(self, window: Window) -> float:
        return min(window.seconds, self.observation_ttl)


def _check_cost(limits: RateLimits, cost: int) -> None:
    if cost < 1 or any(cost > w.calls for w in limits.windows):
        raise ValueError(f"cost {cost} can never fit the windows {limits.windows}")


class InProcessRateBudget:
    """The budget inside one process (a lock and a few deques). ``clock`` is injectable so that
    tests can run the minute window in simulated time."""

    def __init__(self, limits: RateLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._grants: dict[tuple[str, str], deque[float]] = {}
        self._observed: dict[tuple[str, str], tuple[int, float]] = {}
        self._blocked_until: dict[str, float] = {}
        self._leases: dict[str, dict[str, float]] = {}

    def acquire(self, key: str, cost: int = 1) -> float:
        _check_cost(self.limits, cost)
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._blocked_until.get(key, 0.0) - now)
            for window in self.limits.windows:
                grants = self._grants.setdefault((key, window.name), deque())
                while grants and grants[0] <= now - window.seconds:
                    grants.popleft()
                if len(grants) + cost > window.calls:
                    # The entry whose expiry frees enough room for this cost.
                    wait = max(wait, grants[len(grants) + cost - window.calls - 1] + window.seconds - now)
                observed = self._observed.get((key, window.name))
                if observed is not None:
                    remaining, at = observed
                    expiry = at + self.limits.observation_expiry(window)
                    if now < expiry:
                        since = sum(1 for t in grants if t > at)
                        if since + cost > remaining - self.limits.reserve:
                            wait = max(wait, expiry - now)
            if wait > 0:
                return wait
            for window in self.limits.windows:
                self._grants[(key, window.name)].extend([now] * cost)
            return 0.0

    def observe(self, key: str, observation: RateObservation) -> None:
        with self._lock:
            now = self._clock()
            for name, remaining in observation.remaining.items():
                self._observed[(key, name)] = (int(remaining), now)
            if observation.retry_after:
                self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), now + observation.retry_after)

    def enter(self, key: str) -> str | None:
        with self._lock:
            now = self._clock()
            leases = self._leases.setdefault(key, {})
            for lease, expires in list(leases.items()):
                if expires <= now:
                    del leases[lease]
            if len(leases) >= self.limits.concurrency:
                return None
            lease = uuid.uuid4().hex
            leases[lease] = now + self.limits.lease_seconds
            return lease

    def leave(self, key: str, lease: str) -> None:
        with self._lock:
            self._leases.get(key, {}).pop(lease, None)


# One round trip, atomic: the server's clock is the only clock, so workers on different
# machines agree. KEYS: block, observations, then one sorted set per window.
# ARGV: cost, reserve, then (name, calls, seconds, observation expiry) per window.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cost = tonumber(ARGV[1])
local reserve = tonumber(ARGV[2])
local wait = 0
local blocked = tonumber(redis.call('GET', KEYS[1]) or '0')
if blocked > now then wait = blocked - now end
local nwin = (#ARGV - 2) / 4
for i = 0, nwin - 1 do
  local name = ARGV[3 + i * 4]
  local calls = tonumber(ARGV[4 + i * 4])
  local secs = tonumber(ARGV[5 + i * 4])
  local obs_secs = tonumber(ARGV[6 + i * 4])
  local wkey = KEYS[3 + i]
  redis.call('ZREMRANGEBYSCORE', wkey, '-inf', now - secs)
  local used = redis.call('ZCARD', wkey)
  if used + cost > calls then
    local entry = redis.call('ZRANGE', wkey, used + cost - calls - 1, used + cost - calls - 1, 'WITHSCORES')
    local w = tonumber(entry[2]) + secs - now
    if w > wait then wait = w end
  end
  local rem = redis.call('HGET', KEYS[2], name .. ':remaining')
  local at = redis.call('HGET', KEYS[2], name .. ':at')
  if rem and at and now < tonumber(at) + obs_secs then
    local since = redis.call('ZCOUNT', wkey, '(' .. at, '+inf')
    if since + cost > tonumber(rem) - reserve then
      local w = tonumber(at) + obs_secs - now
      if w > wait then wait = w end
    end
  end
end
if wait > 0 then return tostring(wait) end
for i = 0, nwin - 1 do
  local wkey = KEYS[3 + i]
  local secs = tonumber(ARGV[5 + i * 4])
  for c = 1, cost do
    local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
    redis.call('ZADD', wkey, now, tostring(now) .. ':' .. seq)
  end
  redis.call('EXPIRE', wkey, math.ceil(secs) + 1)
end
redis.call('EXPIRE', KEYS[2], 90000)
return '0'
"""

# KEYS: block, observations. ARGV: retry_after ('' for none), then (name, remaining) pairs.
_OBSERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if ARGV[1] ~= '' then
  local until_ = now + tonumber(ARGV[1])
  local blocked = tonumber(redis.call('GET', KEYS[1]) or '0')
  if until_ > blocked then
    redis.call('SET', KEYS[1], tostring(until_), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
  end
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i] .. ':remaining', ARGV[i + 1], ARGV[i] .. ':at', tostring(now))
end
redis.call('EXPIRE', KEYS[2], 90000)
return 1
"""

# KEYS: lease set. ARGV: limit, lease seconds, lease id.
_ENTER = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""


class RedisRateBudget:
    """The budget shared by every worker on every machine, in Redis. Each operation is one Lua
    script (atomic; no lost update between read and write); keys share a hash tag so the
    script also runs on a cluster."""

    def __init__(self, redis_client, limits: RateLimits, *, prefix: str = "ledgerbridge:rate") -> None:
        self.limits = limits
        self._redis = redis_client
        self._prefix = prefix
        self._acquire = redis_client.register_script(_ACQUIRE)
        self._observe = redis_client.register_script(_OBSERVE)
        self._enter = redis_client.register_script(_ENTER)

    def _key(self, key: str, part: str) -> str:
        return f"{self._prefix}:{{{key}}}:{part}"

    def acquire(self, key: str, cost: int = 1) -> float:
        _check_cost(self.limits, cost)
        keys = [self._key(key, "block"), self._key(key, "observed")]
        keys += [self._key(key, f"window:{w.name}") for w in self.limits.windows]
        args: list[object] = [cost, self.limits.reserve]
        for w in self.limits.windows:
            args += [w.name, w.calls, w.seconds, self.limits.observation_expiry(w)]
        return float(self._acquire(keys=keys, args=args))

    def observe(self, key: str, observation: RateObservation) -> None:
        if not observation:
            return
        args: list[object] = ["" if observation.retry_after is None else observation.retry_after]
        for name, remaining in observation.remaining.items():
            args += [name, int(remaining)]
        self._observe(keys=[self._key(key, "block"), self._key(key, "observed")], args=args)

    def enter(self, key: str) -> str | None:
        lease = uuid.uuid4().hex
        granted = self._enter(
            keys=[self._key(key, "leases")], args=[self.limits.concurrency, self.limits.lease_seconds, lease]
        )
        return lease if int(granted) else None

    def leave(self, key: str, lease: str) -> None:
        self._redis.zrem(self._key(key, "leases"), lease)
