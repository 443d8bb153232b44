"""Injected faults, shared by all emulators.

Each tenant's :class:`~sandbox.models.FaultSetting` holds rates and a seed. Call ``n`` of a
tenant draws its decisions from ``Random(f"{seed}:{n}")``, so a test that sets a seed sees the
same faults on every run.

Dropped connections: the write is committed, then the client gets a broken response. The view
returns :func:`dropped_response`, a streaming response that declares a Content-Length longer
than what it sends: it sends the first bytes, shuts the client's socket down (found through
``wsgi.input``, for Django's own server, which would otherwise keep the connection open and
let the client wait for the missing bytes) and raises. The client sees the connection closed
mid-body, which httpx reports as a transport error (``httpx.RemoteProtocolError``). Django's
in-process test client raises :class:`ConnectionDropped` when the content is read.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.http import StreamingHttpResponse

from config.db import select_rows

from sandbox.models.common import FaultSetting


class ConnectionDropped(ConnectionError):
    """Raised mid-response to break the connection after a committed write."""


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one call."""

    error_status: int | None = None
    rate_limited: bool = False
    delay_ms: int = 0
    drop_after_commit: bool = False

    @property
    def is_clean(self) -> bool:
        return not (self.error_status or self.rate_limited or self.delay_ms or self.drop_after_commit)


CLEAN = FaultPlan()


def fault_setting_get(*, system: str, tenant_key: str) -> FaultSetting | None:
    found = select_rows(FaultSetting, None, system=system, tenant_key=tenant_key)  # every call asks
    return found[0] if found else None


def fault_setting_update(*, system: str, tenant_key: str, **values) -> FaultSetting:
    """Create or change a tenant's faults. ``values``: any FaultSetting field. Resets the
    sequence when the seed changes, so the same seed replays the same faults."""
    allowed = {"seed", "error_rate", "error_status", "rate_limit_rate", "slow_rate", "slow_ms", "drop_rate"}
    unknown = set(values) - allowed
    if unknown:
        raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
    for name in ("error_rate", "rate_limit_rate", "slow_rate", "drop_rate"):
        if name in values:
            values[name] = Decimal(str(values[name]))
            if not Decimal("0") <= values[name] <= Decimal("1"):
                raise ValueError(f"{name} must be between 0 and 1")
    if "error_status" in values and int(values["error_status"]) not in FaultSetting.ErrorStatus.values:
        raise ValueError("error_status must be 500 or 503")
    setting, _ = FaultSetting.objects.get_or_create(system=system, tenant_key=tenant_key)
    if "seed" in values and int(values["seed"]) != setting.seed:
        setting.draws = 0
    for name, value in values.items():
        setattr(setting, name, value)
    setting.save()
    return setting


def fault_plan_draw(*, system: str, tenant_key: str, is_write: bool) -> FaultPlan:
    """The next draw of the tenant's seeded sequence; CLEAN (no write) when no fault is set."""
    setting = fault_setting_get(system=system, tenant_key=tenant_key)
    if setting is None or not setting.is_active:
        return CLEAN
    with transaction.atomic():
        locked = FaultSetting.objects.select_for_update().get(pk=setting.pk)
        position = locked.draws
        locked.draws = position + 1
        locked.save(update_fields=["draws"])
    rng = random.Random(f"{locked.seed}:{position}")
    # Always four draws in the same order, so one rate's change does not shift the others.
    error, limited, slow, drop = (Decimal(str(rng.random())) for _ in range(4))
    return FaultPlan(
        error_status=locked.error_status if error < locked.error_rate else None,
        rate_limited=limited < locked.rate_limit_rate,
        delay_ms=locked.slow_ms if slow < locked.slow_rate else 0,
        drop_after_commit=is_write and drop < locked.drop_rate,
    )


def apply_delay(plan: FaultPlan) -> None:
    if plan.delay_ms:
        time.sleep(plan.delay_ms / 1000)


def _client_socket(environ: dict) -> socket.socket | None:
    """The client's socket behind ``wsgi.input``: Django's server (LimitedStream → bound read
    → buffered reader → SocketIO → socket) or gunicorn (Body → reader → unreader → sock)."""
    seen: set[int] = set()
    frontier = [environ.get("wsgi.input")]
    for _ in range(6):
        found = []
        for obj in frontier:
            if obj is None or id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, socket.socket):
                return obj
            for name in ("stream", "raw", "_sock", "sock", "reader", "unreader", "rfile", "_read"):
                child = getattr(obj, name, None)
                # Django's LimitedStream keeps only the bound ``read`` of the stream it wraps.
                child = getattr(child, "__self__", child)
                if child is not None:
                    found.append(child)
        frontier = found
    return None


def dropped_response(
    environ: dict, body: bytes, *, status: int = 200, content_type: str = "application/json"
) -> StreamingHttpResponse:
    """A response that breaks after its first bytes (see the module's docstring)."""

    def stream() -> Iterator[bytes]:
        yield body[: max(1, len(body) // 2)]
        sock = _client_socket(environ)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        raise ConnectionDropped("sandbox fault: connection dropped after the write was committed")

    response = StreamingHttpResponse(stream(), status=status, content_type=content_type)
    response["Content-Length"] = str(len(body) + 1)  # never satisfiable, even for a one-byte body
    return response
