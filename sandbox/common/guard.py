"""One call's passage through the shared limits and faults, for any emulator.

    with guarded_call(policy=policy, tenant_key=key, is_write=True) as call:
        if call.rejected:        # "minute", "day", "appminute", "concurrent", or "injected"
            return my_system_429(call)
        apply_delay(call.plan)
        ...                      # call.plan.error_status, call.plan.drop_after_commit

The emulator renders the outcome in its system's own shapes; the counting, the concurrency
lease (released when the block ends) and the seeded fault draw are done here once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from sandbox.common import faults, limits


@dataclass
class GuardedCall:
    rejected: str = ""  # the window hit, "concurrent", or "injected" (a fault-injected 429)
    retry_after: int | None = None
    remaining: dict[str, int] = field(default_factory=dict)
    plan: faults.FaultPlan = faults.CLEAN


@contextmanager
def guarded_call(*, policy: limits.LimitPolicy, tenant_key: str, is_write: bool) -> Iterator[GuardedCall]:
    with transaction.atomic():  # one commit for the count and the lease
        verdict = limits.consume(policy)
        allowed, lease_id = limits.acquire_concurrency(policy) if verdict.allowed else (False, None)
    if not verdict.allowed:
        yield GuardedCall(rejected=verdict.problem, retry_after=verdict.retry_after, remaining=verdict.remaining)
        return
    if not allowed:
        yield GuardedCall(rejected="concurrent", remaining=verdict.remaining)
        return
    try:
        plan = faults.fault_plan_draw(system=policy.system, tenant_key=tenant_key, is_write=is_write)
        if plan.rate_limited:
            retry_after = getattr(settings, "SANDBOX_FAULT_RETRY_AFTER", 60)
            yield GuardedCall(rejected="injected", retry_after=retry_after, remaining=verdict.remaining, plan=plan)
        else:
            yield GuardedCall(remaining=verdict.remaining, plan=plan)
    finally:
        limits.release_concurrency(lease_id)
