"""What every connector shares: the error classes, ``classify``, the small interfaces a
connector is given (token store, call recorder, rate budget), the Connector protocol and the
registry the engine uses to find a connector by system name.

Connectors know nothing of Django: ``integrations`` implements these Protocols over its models
(a row lock for the token store, ``ApiCall`` rows for the recorder) and passes them in.
"""

from __future__ import annotations

import enum
import importlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, NamedTuple, Protocol, runtime_checkable

import httpx


class ErrorClass(str, enum.Enum):
    """The classes of ``SyncException`` (DESIGN §3); values match ``integrations``' choices."""

    VALIDATION = "validation"
    MAPPING = "mapping"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    CONFLICT = "conflict"
    NOT_FOUND = "not_found"
    DUPLICATE = "duplicate"
    ANOMALY = "anomaly"


class Action(str, enum.Enum):
    """What the caller should do about a failure (DESIGN §5)."""

    NONE = "none"  # not a failure
    RETRY = "retry"  # backoff with jitter, then try again
    WAIT = "wait"  # wait for Retry-After (or the window), then pace the rest
    REFRESH_AUTH = "refresh_auth"  # refresh the token once, then retry
    REAUTHORIZE = "reauthorize"  # a person must connect again; flows pause
    VERIFY = "verify"  # the write may have happened: look the record up before any retry
    FAIL = "fail"  # no retry: to the review queue


class ConnectorError(Exception):
    """Base of every error a connector raises.

    ``message`` is for people; ``code`` is the remote's own error code when it has one;
    ``response`` is the parsed remote body (never a request header, never a token)."""

    error_class: ClassVar[ErrorClass] = ErrorClass.ANOMALY

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        response: Any = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.response = response
        self.status_code = status_code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r}, status_code={self.status_code})"


class TransientError(ConnectorError):
    """5xx, a timeout or a dropped connection before the request was sent: safe to retry."""

    error_class = ErrorClass.TRANSIENT


class RateLimited(ConnectorError):
    """429, or the shared budget says the next call would exceed the limit."""

    error_class = ErrorClass.RATE_LIMITED

    def __init__(self, message: str, *, retry_after: float | None = None, problem: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
        self.problem = problem  # which limit: Xero's X-Rate-Limit-Problem (minute, day, ...)


class AuthError(ConnectorError):
    """401: the access token was refused (refreshed once, then this is raised)."""

    error_class = ErrorClass.AUTH


class ReauthorizationRequired(AuthError):
    """``invalid_grant`` or a revoked/disconnected tenant: a person must connect again."""


class ValidationFailed(ConnectorError):
    """The remote refused the data (400). ``elements`` holds one entry per refused element:
    ``{"index": int | None, "messages": [str, ...]}`` plus whatever the remote echoed."""

    error_class = ErrorClass.VALIDATION

    def __init__(self, message: str, *, elements: Sequence[Mapping[str, Any]] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.elements = list(elements)


class NotFound(ConnectorError):
    error_class = ErrorClass.NOT_FOUND


class Conflict(ConnectorError):
    """The remote state forbids the change (e.g. a paid invoice cannot be edited)."""

    error_class = ErrorClass.CONFLICT


class MappingFailed(ConnectorError):
    """A remote record could not be decoded into the canonical model (or the reverse)."""

    error_class = ErrorClass.MAPPING


class UnknownOutcome(ConnectorError):
    """A write was sent and no answer came back: it may have been applied. Settle it by
    looking the record up (by our reference) before any retry (DESIGN §4)."""

    error_class = ErrorClass.TRANSIENT


@dataclass(frozen=True)
class Undecodable:
    """A listed record that could not be decoded into the canonical model. Listings yield it
    in the record's place, so one bad record goes to the review queue and the rest go on."""

    entity: str
    remote_id: str
    raw: Any = field(repr=False)
    message: str = ""


@dataclass(frozen=True)
class RawRecord:
    """A listed record as the source sent it, decoded where it is worked rather than where it
    was read. A run's reader hands its batches to lane processes, and raw JSON pickles about six
    times faster than canonical records (a batch of 50 four-line TIMS orders there and back:
    about 10 µs an order against 67); ``remote_id`` and ``updated_at``, all the reader needs for
    its batches and its cursor, are read without decoding. ``decode`` must be a module's
    function, pickled by name."""

    decode: Callable[[Any], Any]
    raw: Any = field(repr=False)
    entity: str
    remote_id: str
    updated_at: datetime | None

    def decoded(self) -> Any:
        """The canonical record, or ``Undecodable`` in its place."""
        return decode_or_mark(self.decode, self.raw, entity=self.entity, remote_id=self.remote_id)


def decode_or_mark(decode: Callable[[Any], Any], raw: Any, *, entity: str, remote_id: str) -> Any:
    try:
        return decode(raw)
    except MappingFailed as exc:
        return Undecodable(entity=entity, remote_id=remote_id, raw=raw, message=exc.message)
    except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
        return Undecodable(entity=entity, remote_id=remote_id, raw=raw, message=f"{type(exc).__name__}: {exc}")


class Classification(NamedTuple):
    action: Action
    error_class: ErrorClass | None


_ACTION_BY_CLASS: dict[type[ConnectorError], Action] = {
    UnknownOutcome: Action.VERIFY,
    ReauthorizationRequired: Action.REAUTHORIZE,
    AuthError: Action.REFRESH_AUTH,
    RateLimited: Action.WAIT,
    TransientError: Action.RETRY,
}


def classify(outcome: httpx.Response | BaseException) -> Classification:
    """``(action, class)`` for a response or an exception, as DESIGN §5 lays out."""
    if isinstance(outcome, httpx.Response):
        return _classify_status(outcome.status_code, _oauth_error(outcome))
    if isinstance(outcome, ConnectorError):
        for cls in type(outcome).__mro__:
            if cls in _ACTION_BY_CLASS:
                return Classification(_ACTION_BY_CLASS[cls], outcome.error_class)
        return Classification(Action.FAIL, outcome.error_class)
    if isinstance(outcome, httpx.TransportError):
        # Timeouts, refused or dropped connections, protocol errors: all worth another try.
        return Classification(Action.RETRY, ErrorClass.TRANSIENT)
    return Classification(Action.FAIL, ErrorClass.ANOMALY)


# RFC 6749 §5.2 errors that no retry fixes: a spent or revoked grant, wrong client
# credentials, a scope or client the app is not allowed.
_OAUTH_NEEDS_A_PERSON = frozenset(
    {"invalid_grant", "invalid_client", "unauthorized_client", "invalid_scope", "access_denied"}
)


def _classify_status(status: int, oauth_error: str) -> Classification:
    if status < 400:
        return Classification(Action.NONE, None)
    if oauth_error in _OAUTH_NEEDS_A_PERSON:
        return Classification(Action.REAUTHORIZE, ErrorClass.AUTH)
    if status == 429:
        return Classification(Action.WAIT, ErrorClass.RATE_LIMITED)
    if status == 401:
        return Classification(Action.REFRESH_AUTH, ErrorClass.AUTH)
    if status == 403:
        # Wrong or disconnected tenant, or a missing scope (api-notes/xero.md §4): only a new
        # consent fixes it.
        return Classification(Action.REAUTHORIZE, ErrorClass.AUTH)
    if status == 404:
        return Classification(Action.FAIL, ErrorClass.NOT_FOUND)
    if status == 409:
        return Classification(Action.FAIL, ErrorClass.CONFLICT)
    if status in (408, 425) or status >= 500:
        return Classification(Action.RETRY, ErrorClass.TRANSIENT)
    return Classification(Action.FAIL, ErrorClass.VALIDATION)


def _oauth_error(response: httpx.Response) -> str:
    """The RFC 6749 ``error`` of a token-endpoint answer ('' when there is none)."""
    if response.status_code not in (400, 401):
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    return body.get("error", "") if isinstance(body, dict) and isinstance(body.get("error"), str) else ""


# --- Tokens ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSet:
    """One OAuth token set. Secrets never appear in ``repr``."""

    access_token: str = field(repr=False)
    expires_at: datetime
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str = "Bearer"
    scope: str = ""

    def expires_within(self, seconds: float, *, now: datetime | None = None) -> bool:
        now = now or datetime.now(timezone.utc)
        return self.expires_at - now <= timedelta(seconds=seconds)

    def to_dict(self) -> dict[str, Any]:
        """For the encrypted credentials field."""
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            "token_type": self.token_type,
            "scope": self.scope,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenSet:
        expires_at = datetime.fromisoformat(data["expires_at"])
        if expires_at.tzinfo is None:
            raise ValueError("expires_at must be timezone-aware")
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            expires_at=expires_at.astimezone(timezone.utc),
            token_type=data.get("token_type") or "Bearer",
            scope=data.get("scope") or "",
        )


class TokenStore(Protocol):
    """The single stored copy of one token set.

    ``locked()`` takes an exclusive lock shared by every worker (``integrations``: a
    ``SELECT ... FOR UPDATE`` on the connection row inside ``transaction.atomic``), re-reads the
    newest tokens and yields them; ``save()`` called inside that block must be durable when the
    block exits. Xero refresh tokens are single-use (api-notes/xero.md §1.2): two workers
    refreshing the same set break each other, hence the lock."""

    def load(self) -> TokenSet | None: ...

    def locked(self) -> AbstractContextManager[TokenSet | None]: ...

    def save(self, tokens: TokenSet) -> None: ...


class InMemoryTokenStore:
    """A TokenStore for tests and scripts: a process-wide lock around one token set."""

    def __init__(self, tokens: TokenSet | None = None) -> None:
        self._tokens = tokens
        self._lock = threading.RLock()
        self.saves = 0

    def load(self) -> TokenSet | None:
        return self._tokens

    def locked(self) -> AbstractContextManager[TokenSet | None]:
        return _Locked(self)

    def save(self, tokens: TokenSet) -> None:
        with self._lock:
            self._tokens = tokens
            self.saves += 1


class _Locked:
    def __init__(self, store: InMemoryTokenStore) -> None:
        self._store = store

    def __enter__(self) -> TokenSet | None:
        self._store._lock.acquire()
        return self._store._tokens

    def __exit__(self, *exc: object) -> None:
        self._store._lock.release()


# --- Call log ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RateObservation:
    """What the remote said about its limits on one response. ``remaining`` is keyed by the
    rate window names of the budget ("minute", "day"); ``retry_after`` in seconds."""

    remaining: Mapping[str, int] = field(default_factory=dict)
    retry_after: float | None = None
    problem: str = ""

    def __bool__(self) -> bool:
        return bool(self.remaining) or self.retry_after is not None


@dataclass(frozen=True)
class CallRecord:
    """One attempt of one outbound call; the fields of ``integrations.ApiCall``.
    ``path`` has secret query values redacted; no header is ever recorded."""

    method: str
    path: str
    status_code: int | None
    duration_ms: int
    attempt: int
    started_at: datetime
    idempotency_key: str = ""
    correlation_id: str = ""
    request_id: str = ""
    error_class: str = ""
    error: str = ""
    rate: RateObservation = field(default_factory=RateObservation)


class CallRecorder(Protocol):
    """Receives every attempt (``integrations``: writes an ``ApiCall`` row; keep it cheap, it is
    on the hot path, and never let it raise into the call)."""

    def record(self, call: CallRecord) -> None: ...


class MemoryCallRecorder:
    """A CallRecorder for tests: keeps the records in a list."""

    def __init__(self) -> None:
        self.calls: list[CallRecord] = []
        self._lock = threading.Lock()

    def record(self, call: CallRecord) -> None:
        with self._lock:
            self.calls.append(call)


# --- Rate budget -------------------------------------------------------------------------------


class RateBudget(Protocol):
    """A per-tenant budget shared by every worker (``key`` is e.g. ``"xero:<tenant id>"``).

    - ``acquire`` reserves ``cost`` calls and returns 0, or reserves nothing and returns the
      seconds to wait before asking again;
    - ``observe`` feeds the remote's own remaining-calls headers and Retry-After, so a backfill
      paces itself below the limit and one worker's 429 pauses all of them;
    - ``enter``/``leave`` hold one of the limited concurrent slots (a lease that expires, so a
      crashed worker cannot leak it); ``enter`` returns None when every slot is taken."""

    def acquire(self, key: str, cost: int = 1) -> float: ...

    def observe(self, key: str, observation: RateObservation) -> None: ...

    def enter(self, key: str) -> str | None: ...

    def leave(self, key: str, lease: str) -> None: ...


# --- Connectors --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ElementResult:
    """The outcome of one element of a batch write, mapped back to the caller's key."""

    source_ref: str
    ok: bool
    remote_id: str = ""
    record: Any = None  # the canonical record as the remote saved it
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    error_class: ErrorClass | None = None


@dataclass(frozen=True)
class ConnectionSettings:
    """What the engine knows of a connection, minus Django: the connector's whole input."""

    system: str
    base_url: str = ""  # empty: the system's production hosts
    tenant_id: str = ""
    credentials: Mapping[str, Any] = field(default_factory=dict, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    """One external system behind one interface. The engine calls these with canonical entity
    names ("contact", "item", "invoice", ...) and never branches on the system.

    Optional: a connector whose class sets ``lists_undecoded = True`` takes
    ``list_records(..., undecoded=True)`` and then yields ``RawRecord``s, which a run decodes
    batch by batch where it works them (the TIMS client does)."""

    system: ClassVar[str]
    entities: ClassVar[frozenset[str]]
    batch_limit: ClassVar[int]

    def list_records(self, entity: str, *, modified_since: datetime | None = None) -> Iterator[Any]: ...

    def get_records(self, entity: str, ids: Sequence[str]) -> list[Any]: ...

    def find_records(self, entity: str, refs: Sequence[str]) -> list[Any]:
        """Look records up by our reference (InvoiceNumber, ContactNumber, ...): how an
        ``UnknownOutcome`` is settled."""
        ...

    def settle_records(self, entity: str, batch: Mapping[str, Any]) -> list[ElementResult]:
        """After ``UnknownOutcome`` on ``create_records(entity, batch)``: per element, ok with the
        remote id (it was created: link it), NOT_FOUND (safe to create again) or DUPLICATE
        (cannot be told: a person decides)."""
        ...

    def create_records(self, entity: str, batch: Mapping[str, Any], *, idempotency_key: str | None = None) -> list[ElementResult]: ...

    def update_records(self, entity: str, batch: Mapping[str, Any], *, idempotency_key: str | None = None) -> list[ElementResult]: ...

    def check(self) -> Mapping[str, Any]:
        """A cheap authenticated call: the connection works (the admin's "Test")."""
        ...


ConnectorFactory = Callable[..., Connector]


class ConnectorRegistry:
    """System name → connector factory. A system's package (``connectors.<system>``) registers
    itself on import; ``get`` imports it on first use, so callers need only the name."""

    def __init__(self, package: str = "connectors") -> None:
        self._package = package
        self._factories: dict[str, ConnectorFactory] = {}
        self._lock = threading.Lock()

    def register(self, system: str, factory: ConnectorFactory) -> None:
        with self._lock:
            existing = self._factories.get(system)
            if existing is not None and existing is not factory:
                raise ValueError(f"a connector is already registered for {system!r}")
            self._factories[system] = factory

    def get(self, system: str) -> ConnectorFactory:
        if system not in self._factories:
            try:
                importlib.import_module(f"{self._package}.{system}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{self._package}.{system}":
                    raise
        try:
            return self._factories[system]
        except KeyError:
            raise LookupError(f"no connector registered for system {system!r}") from None

    def systems(self) -> list[str]:
        return sorted(self._factories)


registry = ConnectorRegistry()
