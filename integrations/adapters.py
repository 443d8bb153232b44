"""What ``integrations`` hands a connector: its small interfaces (``connectors.base``)
implemented over the Django models — the token store on the connection row, the call log in
``ApiCall``. (The shared rate budget is in ``integrations.rate_budget``.)"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import DatabaseError, connection as db, transaction
from django.utils import timezone

from config.db import bulk_insert, bulk_update_fields
from connectors.base import CallRecord, TokenSet
from integrations.models import ApiCall, Connection

logger = logging.getLogger(__name__)

TOKEN_KEY = "token"


class ConnectionTokenStore:
    """The connection's token set, inside its encrypted credentials.

    ``locked()`` holds ``SELECT ... FOR UPDATE`` on the connection row for the whole refresh,
    so two workers never spend the same single-use refresh token (api-notes/xero.md §1.2):
    the second waits, then reads the tokens the first one saved.

    SQLite has no row locks: a write transaction held across the refresh call would lock the
    whole file, and the demo's sandbox answering that call writes to the same file. SQLite
    means one machine, so an exclusive file lock per connection does the job there.
    """

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id
        self._held = threading.local()

    @staticmethod
    def _tokens(connection: Connection) -> TokenSet | None:
        data = connection.get_credentials().get(TOKEN_KEY)
        return TokenSet.from_dict(data) if data else None

    def load(self) -> TokenSet | None:
        return self._tokens(Connection.objects.get(pk=self.connection_id))

    @contextmanager
    def locked(self) -> Iterator[TokenSet | None]:
        if not db.features.has_select_for_update:
            with _file_lock(f"connection-{self.connection_id}"):
                yield self.load()
            return
        with transaction.atomic():
            connection = Connection.objects.select_for_update().get(pk=self.connection_id)
            self._held.connection = connection
            try:
                yield self._tokens(connection)
            finally:
                self._held.connection = None

    def save(self, tokens: TokenSet) -> None:
        held = getattr(self._held, "connection", None)
        with transaction.atomic():
            connection = held or Connection.objects.select_for_update().get(pk=self.connection_id)
            credentials = connection.get_credentials()
            credentials[TOKEN_KEY] = tokens.to_dict()
            connection.set_credentials(credentials)
            connection.token_expires_at = tokens.expires_at
            # A token refresh is not a configuration change: no history row for it.
            connection.skip_history_when_saving = True
            try:
                connection.save(update_fields=["credentials", "token_expires_at", "updated_at"])
            finally:
                del connection.skip_history_when_saving


@contextmanager
def _file_lock(name: str) -> Iterator[None]:
    """An exclusive lock between the processes of one machine, scoped to this database."""
    scope = hashlib.sha256(str(db.settings_dict["NAME"]).encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "ledgerbridge-locks"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{scope}-{name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class ApiCallRecorder:
    """Writes each attempt as an ``ApiCall`` row and keeps the connection's rate budget
    columns (calls left this minute and today) up to date. Never raises into the call."""

    def __init__(self, connection_id: int, *, run_id: int | None = None) -> None:
        self.connection_id = connection_id
        self.run_id = run_id

    def record(self, call: CallRecord) -> None:
        # Two statements made once (not an ORM save and update compiled per call): every call
        # of a run is recorded, a backfill's hundreds included.
        try:
            bulk_insert(ApiCall, [ApiCall(
                connection_id=self.connection_id,
                run_id=self.run_id,
                method=call.method,
                path=call.path[:500],
                status_code=call.status_code,
                duration_ms=call.duration_ms,
                attempt=call.attempt,
                idempotency_key=call.idempotency_key,
                correlation_id=_uuid_or_none(call.correlation_id),
                request_id=call.request_id[:100],
                error_class=call.error_class,
                error=call.error[:500],
                rate_minute_remaining=call.rate.remaining.get("minute"),
                rate_day_remaining=call.rate.remaining.get("day"),
                retry_after_seconds=int(call.rate.retry_after) if call.rate.retry_after else None,
                started_at=call.started_at,
            )])
            remaining = call.rate.remaining
            if "minute" in remaining or "day" in remaining:
                fields = ["rate_updated_at", *(f"rate_{window}_remaining" for window in ("minute", "day") if window in remaining)]
                readings = Connection(pk=self.connection_id, rate_updated_at=timezone.now(),
                                      rate_minute_remaining=remaining.get("minute"), rate_day_remaining=remaining.get("day"))
                bulk_update_fields(Connection, [readings], fields)
        except DatabaseError:
            logger.exception("Could not record an API call of connection %s", self.connection_id)
