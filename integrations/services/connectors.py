"""Building a connector for a connection: the one place the engine turns a Connection row
into a live client (settings and secrets, token store, call log, shared rate budget)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from connectors.base import ReauthorizationRequired, registry
from integrations.adapters import ApiCallRecorder, ConnectionTokenStore
from integrations.models import Connection, SyncRun
from integrations.rate_budget import rate_budget_for
from integrations.services.audit import current_correlation_id
from integrations.services.connections import connection_mark_needs_reauth, connection_settings


def rate_limits_path(system: str) -> str | None:
    """Where the limits the rate budget keeps for ``system`` are published: each connector
    package publishes its tenant limits (``settings.CONNECTOR_RATE_LIMITS``); the budget
    enforcing them is ours (database or Redis), shared by every worker."""
    return settings.CONNECTOR_RATE_LIMITS.get(system)


def connector_for(connection: Connection, *, run: SyncRun | None = None, **options: Any) -> Any:
    """A ready client for ``connection``; API calls are logged against ``run`` when given.

    Whatever the call, a refused grant (``invalid_grant``, a revoked consent) marks the
    connection as needing re-authorisation, which pauses its flows and alerts people once.
    """
    factory = registry.get(connection.system)
    limits_path = rate_limits_path(connection.system)
    correlation_id = current_correlation_id() or (run.correlation_id if run else None)
    client = factory(
        connection_settings(connection),
        token_store=ConnectionTokenStore(connection.pk),
        recorder=ApiCallRecorder(connection.pk, run_id=run.pk if run else None),
        budget=rate_budget_for(import_string(limits_path)) if limits_path else None,
        correlation_id=str(correlation_id) if correlation_id else None,
        **options,
    )
    return ReauthGuard(client, connection)


class ReauthGuard:
    """Passes every call through to the client; on ``ReauthorizationRequired`` (also while
    iterating a listing) marks the connection, then re-raises."""

    def __init__(self, client: Any, connection: Connection) -> None:
        self._client = client
        self._connection = connection

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        @functools.wraps(attribute)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            result = self._guard(attribute, *args, **kwargs)
            if inspect.isgenerator(result) or isinstance(result, Iterator) and not isinstance(result, (list, dict)):
                return self._guard_iteration(result)
            return result

        return guarded

    def _guard(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ReauthorizationRequired as exc:
            connection_mark_needs_reauth(connection=self._connection, reason=exc.message)
            raise

    def _guard_iteration(self, iterator: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from iterator
        except ReauthorizationRequired as exc:
            connection_mark_needs_reauth(connection=self._connection, reason=exc.message)
            raise
