"""The HTTP client every connector uses: timeouts, the retry policy by error class (tenacity),
the shared rate budget, the call log, correlation ids, exact-Decimal JSON and the paging loops.

A connector builds one ``HttpClient`` per connection and adds only what is its own: the
authenticator, which headers carry the rate limits, how its error bodies read."""

from __future__ import annotations

import email.utils
import functools
import itertools
import json
import logging
import random
import ssl
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import parse_qsl, urlencode

import httpx
import orjson
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential_jitter

from connectors.base import (
    Action,
    AuthError,
    CallRecord,
    CallRecorder,
    Conflict,
    ConnectorError,
    ErrorClass,
    NotFound,
    RateBudget,
    RateLimited,
    RateObservation,
    ReauthorizationRequired,
    TransientError,
    UnknownOutcome,
    ValidationFailed,
    classify,
)

logger = logging.getLogger(__name__)

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# Query parameters whose values never reach the call log.
SECRET_PARAMS = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "client_secret",
        "code",
        "id_token",
        "key",
        "password",
        "refresh_token",
        "secret",
        "signature",
        "state",
        "token",
    }
)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


# --- JSON with exact money ---------------------------------------------------------------------


def json_loads(content: bytes | str) -> Any:
    """JSON with every non-integer number as ``Decimal`` (money never passes through float)."""
    return json.loads(content, parse_float=Decimal)


def json_dumps(value: Any) -> str:
    """JSON whose ``Decimal`` values are written digit for digit. Floats are refused: a float
    reaching a request body is a bug upstream (money must stay Decimal)."""
    return json_encode(value).decode()


def json_encode(value: Any) -> bytes:
    """``json_dumps`` as UTF-8 bytes, a request body. Checked, then written by orjson: a
    50-invoice Xero batch in about a quarter of the time that writing it in Python took (the
    standard library's encoder cannot write a Decimal as a number)."""
    _check_sendable(value)
    return orjson.dumps(value, default=_decimal_as_number, option=orjson.OPT_NON_STR_KEYS)


# Leaves written as they are: text, integers, booleans, null (subclasses, such as str enums,
# are checked with isinstance below).
_PLAIN_LEAVES = frozenset({str, int, bool, type(None)})


def _check_sendable(value: Any) -> None:
    """Refuse what the body must not carry (floats, NaN and infinite Decimals, dates and other
    objects) before anything is written; containers are walked without a call per leaf."""
    kind = type(value)
    if kind in _PLAIN_LEAVES:
        return
    if kind is dict:
        values: Any = value.values()
    elif kind is list or kind is tuple:
        values = value
    else:
        _check_leaf(value)
        return
    for item in values:
        item_kind = type(item)
        if item_kind in _PLAIN_LEAVES:
            continue
        if item_kind is Decimal and item.is_finite():
            continue
        _check_sendable(item)


def _check_leaf(value: Any) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot send {value} as JSON")
    elif isinstance(value, float):
        raise TypeError("floats are not sent: use Decimal")
    elif isinstance(value, Mapping):
        for item in value.values():
            _check_sendable(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_sendable(item)
    elif not isinstance(value, (str, int)):
        raise TypeError(f"cannot send {type(value).__name__} as JSON")


def _decimal_as_number(value: Any) -> Any:
    """orjson's hook for what it does not write itself: a Decimal as its digits (checked finite
    by ``_check_sendable``), another Mapping as a dict, a named tuple as a list."""
    if isinstance(value, Decimal):
        return orjson.Fragment(format(value, "f"))
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot send {type(value).__name__} as JSON")


# --- Policies as data --------------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """``attempts`` counts the first try. Waits grow ``initial * 2**n`` up to ``maximum``, plus
    up to ``jitter`` seconds at random so that workers do not retry in step."""

    attempts: int
    initial: float = 1.0
    maximum: float = 60.0
    jitter: float = 1.0


@dataclass(frozen=True)
class RetryPolicy:
    """In-call retries by error class. Classes not listed are not retried here (they go to the
    review queue, whose own schedule, 1m/5m/15m/1h/3h, lives in ``integrations``).

    ``max_wait`` caps any single wait, budget or Retry-After: beyond it the call raises
    ``RateLimited`` so the engine parks the tenant instead of holding a worker for hours
    (a 429 for the daily limit, api-notes/xero.md §2)."""

    by_class: Mapping[ErrorClass, Backoff] = field(
        default_factory=lambda: {
            ErrorClass.TRANSIENT: Backoff(attempts=4, initial=1.0, maximum=30.0, jitter=1.0),
            ErrorClass.RATE_LIMITED: Backoff(attempts=5, initial=5.0, maximum=60.0, jitter=2.0),
        }
    )
    max_wait: float = 120.0

    def backoff(self, error_class: ErrorClass | None) -> Backoff | None:
        return self.by_class.get(error_class) if error_class else None


@dataclass(frozen=True)
class RateHeaders:
    """Which response headers carry a system's limits. ``remaining`` maps a budget window name
    to its header (Xero: {"minute": "X-MinLimit-Remaining", "day": "X-DayLimit-Remaining"})."""

    remaining: Mapping[str, str] = field(default_factory=dict)
    retry_after: str = "Retry-After"
    problem: str = ""
    request_id: str = ""

    def observe(self, response: httpx.Response) -> RateObservation:
        remaining: dict[str, int] = {}
        for window, header in self.remaining.items():
            value = response.headers.get(header)
            if value is not None and value.strip().lstrip("-").isdigit():
                remaining[window] = int(value)
        return RateObservation(
            remaining=remaining,
            retry_after=parse_retry_after(response.headers.get(self.retry_after)),
            problem=response.headers.get(self.problem, "") if self.problem else "",
        )


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


# --- Interfaces the client is given ------------------------------------------------------------


class Authenticator(Protocol):
    """Adds credentials to requests. ``auth_headers`` returns fresh headers (refreshing an expiring
    token first); ``handle_unauthorized`` is called once after a 401 with the headers that were
    refused, and returns True when new credentials are ready for one more try."""

    def auth_headers(self) -> dict[str, str]: ...

    def handle_unauthorized(self, refused: Mapping[str, str]) -> bool: ...


@dataclass(frozen=True)
class ErrorDetails:
    code: str = ""
    message: str = ""
    elements: Sequence[Mapping[str, Any]] = ()


ErrorReader = Callable[[httpx.Response, Any], ErrorDetails]


def read_error_generic(response: httpx.Response, body: Any) -> ErrorDetails:
    """OAuth (``error``/``error_description``), problem+json (``title``/``detail``) or text."""
    if isinstance(body, Mapping):
        lowered = {str(k).lower(): v for k, v in body.items()}
        code = lowered.get("error") or lowered.get("type") or lowered.get("code") or ""
        message = (
            lowered.get("error_description")
            or lowered.get("message")
            or lowered.get("detail")
            or lowered.get("title")
            or ""
        )
        return ErrorDetails(code=str(code), message=str(message))
    return ErrorDetails(message=str(body or "")[:300])


# --- The client --------------------------------------------------------------------------------


def redact_url(url: httpx.URL, secret_params: frozenset[str] = SECRET_PARAMS) -> str:
    """The path and query for the call log, with secret query values replaced by ``***``."""
    query = parse_qsl(url.query.decode(), keep_blank_values=True)
    safe = [(k, "***" if k.lower() in secret_params else v) for k, v in query]
    return url.path + (f"?{urlencode(safe, safe='*')}" if safe else "")


@dataclass(frozen=True)
class _Outbound:
    """One logical request, as every attempt of it is sent."""

    method: str
    path: str
    params: Mapping[str, Any] | None
    content: bytes | None
    headers: Mapping[str, str]
    idempotency_key: str
    correlation_id: str


@functools.cache
def system_trust() -> ssl.SSLContext:
    """The trust store ``verify=True`` means (httpx's: certifi's bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR``), built once per process and shared: building one parses every CA
    certificate, about 50 ms of CPU, and each connection of each lane process would pay it
    again. A context is safe to share between clients and threads; lane processes inherit the
    fork server's (``integrations.engine.lane_preload``)."""
    return httpx.create_ssl_context()


class HttpClient:
    """One connection's door to its remote system. Thread-safe (httpx.Client is)."""

    def __init__(
        self,
        base_url: str,
        *,
        auth: Authenticator | None = None,
        budget: RateBudget | None = None,
        budget_key: str = "",
        recorder: CallRecorder | None = None,
        retry_policy: RetryPolicy | None = None,
        rate_headers: RateHeaders | None = None,
        read_error: ErrorReader = read_error_generic,
        headers: Mapping[str, str] | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        correlation_header: str = "X-Correlation-Id",
        correlation_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``verify``: True for the system trust store, or an ``ssl.SSLContext`` holding a
        connection's own CA bundle (an on-premises server with a private CA)."""
        if budget is not None and not budget_key:
            raise ValueError("a rate budget needs a budget_key (system and tenant)")
        self.auth = auth
        self.budget = budget
        self.budget_key = budget_key
        self.recorder = recorder
        self.retry_policy = retry_policy or RetryPolicy()
        self.rate_headers = rate_headers or RateHeaders()
        self.read_error = read_error
        self.correlation_header = correlation_header
        self.correlation_id = correlation_id
        self._sleep = sleep
        self._clock = clock
        self._client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            verify=system_trust() if verify is True else verify,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # The public call ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str = "",
        correlation_id: str | None = None,
    ) -> httpx.Response:
        """Send one logical request, retrying by policy; a 2xx response, or a ConnectorError.

        Writes that lose their connection after sending raise ``UnknownOutcome`` and are never
        retried here: the caller settles them by looking the record up (DESIGN §4)."""
        extra = dict(headers or {})
        if json is not None:
            content = json_encode(json)
            extra["Content-Type"] = "application/json"
        if idempotency_key:
            extra["Idempotency-Key"] = idempotency_key
        correlation = correlation_id or self.correlation_id or uuid.uuid4().hex
        extra[self.correlation_header] = correlation
        outbound = _Outbound(method.upper(), path, params, content, extra, idempotency_key, correlation)
        attempts = itertools.count(1)

        def attempt() -> httpx.Response:
            return self._attempt(outbound, next(attempts))

        def log_retry(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            # The path only: query strings may carry codes or states.
            logger.info(
                "retrying %s %s (attempt %d) in %.1f s after %s: %s",
                outbound.method,
                outbound.path,
                state.attempt_number + 1,
                state.upcoming_sleep,
                getattr(exc, "error_class", ErrorClass.TRANSIENT).value,
                getattr(exc, "message", type(exc).__name__),
            )

        def retryable(exc: BaseException) -> bool:
            if idempotency_key and isinstance(exc, TransientError) and exc.status_code is not None:
                # An error *answer* to a keyed write is cached under its Idempotency-Key
                # (api-notes/xero.md §5.5): resending it would only replay the error for minutes.
                # The caller looks the records up and sends again under a new key.
                return False
            return self._retryable(exc)

        retrying = Retrying(
            retry=retry_if_exception(retryable),
            stop=self._stop,
            wait=self._wait,
            sleep=self._sleep,
            before_sleep=log_retry,
            reraise=True,
        )
        return retrying(attempt)

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return json_loads(self.request("GET", path, **kwargs).content)

    # Retry decisions, all read from the policy ------------------------------------------------

    def _retryable(self, exc: BaseException) -> bool:
        action, error_class = classify(exc)
        if action not in (Action.RETRY, Action.WAIT):
            return False
        if isinstance(exc, RateLimited) and exc.retry_after and exc.retry_after > self.retry_policy.max_wait:
            return False
        return self.retry_policy.backoff(error_class) is not None

    def _stop(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        backoff = self.retry_policy.backoff(classify(exc).error_class) if exc else None
        return backoff is None or state.attempt_number >= backoff.attempts

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if exc is None:
            return 0.0
        backoff = self.retry_policy.backoff(classify(exc).error_class)
        if backoff is None:
            return 0.0
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            # The remote said when: wait that long, plus a little jitter so that the workers
            # waiting on one tenant do not all come back in the same millisecond.
            return exc.retry_after + random.uniform(0, backoff.jitter)
        exponential = wait_exponential_jitter(multiplier=backoff.initial, max=backoff.maximum, jitter=backoff.jitter)
        return exponential(state)

    # One attempt ---------------------------------------------------------------------------------

    def _attempt(self, outbound: _Outbound, attempt: int) -> httpx.Response:
        lease = self._enter_slot()
        try:
            self._spend_call()
            auth_headers = self.auth.auth_headers() if self.auth is not None else {}
            response, error = self._send(outbound, auth_headers, attempt)
            # 401: refresh once and try again (DESIGN §5); a second 401 is an AuthError.
            if response is not None and response.status_code == 401 and self.auth is not None:
                if self.auth.handle_unauthorized(auth_headers):
                    self._spend_call()  # the second try is a call like any other
                    response, error = self._send(outbound, self.auth.auth_headers(), attempt)
            if error is not None:
                raise error
            assert response is not None
            return response
        finally:
            if lease is not None and self.budget is not None:
                self.budget.leave(self.budget_key, lease)

    def _enter_slot(self) -> str | None:
        """One of the tenant's concurrent slots, polled for; RateLimited beyond ``max_wait``."""
        if self.budget is None:
            return None
        started = self._clock()
        poll = 0.05
        while (lease := self.budget.enter(self.budget_key)) is None:
            if self._clock() - started > self.retry_policy.max_wait:
                raise RateLimited("every concurrent slot of this tenant stayed busy", retry_after=poll, problem="concurrent")
            self._sleep(poll + random.uniform(0, poll))
            poll = min(poll * 2, 1.0)
        return lease

    def _spend_call(self) -> None:
        """One call of the shared budget, sleeping while the budget says so; a wait beyond
        ``max_wait`` raises RateLimited rather than hold the worker."""
        if self.budget is None:
            return
        started = self._clock()
        while (wait := self.budget.acquire(self.budget_key)) > 0:
            if self._clock() - started + wait > self.retry_policy.max_wait:
                raise RateLimited(
                    f"the tenant's rate budget is spent for the next {wait:.0f} s", retry_after=wait, problem="budget"
                )
            self._sleep(wait + random.uniform(0, 0.05))

    def _send(
        self, outbound: _Outbound, auth_headers: Mapping[str, str], attempt: int
    ) -> tuple[httpx.Response | None, ConnectorError | None]:
        """One exchange on the wire, recorded whatever happens: the response (None when none
        came) and the error it amounts to (None for a 2xx)."""
        request = self._client.build_request(
            outbound.method,
            outbound.path,
            params=outbound.params,
            content=outbound.content,
            headers={**outbound.headers, **auth_headers},
        )
        started_at = datetime.now(timezone.utc)
        started = time.perf_counter()
        response: httpx.Response | None = None
        error: ConnectorError | None = None
        observation = RateObservation()
        try:
            response = self._client.send(request)
            response.read()
        except httpx.TransportError as exc:
            response = None
            error = self._transport_error(exc, outbound.method)
            error.__cause__ = exc
        if response is not None:
            observation = self.rate_headers.observe(response)
            if self.budget is not None and observation:
                self.budget.observe(self.budget_key, observation)
            if response.status_code >= 400:
                error = self._error(response, outbound.method)
        if self.recorder is not None:
            self.recorder.record(
                CallRecord(
                    method=outbound.method,
                    path=redact_url(request.url),
                    status_code=response.status_code if response is not None else None,
                    duration_ms=int((time.perf_counter() - started) * 1000),
                    attempt=attempt,
                    started_at=started_at,
                    idempotency_key=outbound.idempotency_key,
                    correlation_id=outbound.correlation_id,
                    request_id=response.headers.get(self.rate_headers.request_id, "")
                    if response is not None and self.rate_headers.request_id
                    else "",
                    error_class=error.error_class.value if error else "",
                    error=error.message[:500] if error else "",
                    rate=observation,
                )
            )
        return response, error

    @staticmethod
    def _transport_error(exc: httpx.TransportError, method: str) -> ConnectorError:
        untrusted = _certificate_failure(exc)
        if untrusted is not None:
            # The server's certificate is not trusted: a wrong CA bundle, a host name that does
            # not match, an expired certificate or someone in the middle. Retrying cannot fix
            # it and nothing was sent; a person must look at the connection.
            try:
                host = exc.request.url.host
            except RuntimeError:  # httpx sets the request on every error it raises from send
                host = "the server"
            return ReauthorizationRequired(
                f"TLS certificate verification failed for {host}: {untrusted}. "
                "Check the connection's CA bundle and the server's certificate and host name.",
                code="tls_verification_failed",
            )
        # Connect errors happen before a byte is sent; any later failure of a write leaves the
        # remote state unknown, and a blind retry could create the record twice.
        not_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
        if method in WRITE_METHODS and not not_sent:
            return UnknownOutcome(f"the connection failed after the request was sent ({type(exc).__name__})")
        return TransientError(f"the remote could not be reached ({type(exc).__name__}: {exc})")

    def _error(self, response: httpx.Response, method: str) -> ConnectorError:
        try:
            body: Any = json_loads(response.content) if response.content else None
        except ValueError:
            # Outages and some OAuth errors answer in plain text or a form (api-notes/xero.md §4).
            body = response.text[:1000]
        details = self.read_error(response, body)
        status = response.status_code
        message = details.message or f"HTTP {status}"
        common = {"code": details.code, "response": body, "status_code": status}
        action, error_class = classify(response)
        if action is Action.WAIT:
            observation = self.rate_headers.observe(response)
            return RateLimited(message, retry_after=observation.retry_after, problem=observation.problem, **common)
        if action is Action.REAUTHORIZE:
            return ReauthorizationRequired(message, **common)
        if action is Action.REFRESH_AUTH:
            return AuthError(message, **common)
        if action is Action.RETRY:
            if method in WRITE_METHODS and status in (502, 504):
                # A gateway gave up waiting: the remote may still have applied the write.
                return UnknownOutcome(message, **common)
            return TransientError(message, **common)
        if error_class is ErrorClass.NOT_FOUND:
            return NotFound(message, **common)
        if error_class is ErrorClass.CONFLICT:
            return Conflict(message, **common)
        return ValidationFailed(message, elements=details.elements, **common)


def _certificate_failure(exc: BaseException) -> str | None:
    """The reason of a certificate verification failure somewhere in ``exc``'s chain (httpx
    wraps httpcore's error, which wraps the ``ssl`` one), or None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current.verify_message or current.reason or str(current)
        current = current.__cause__ or current.__context__
    return None


# --- Paging ----------------------------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    has_more: bool = False
    next_cursor: str | None = None


def pages_by_number(fetch: Callable[[int], Page[T]], *, first: int = 1) -> Iterator[Page[T]]:
    """Page-number paging: fetch 1, 2, ... until a page says there is no more (or is empty).
    One page in memory at a time."""
    number = first
    while True:
        page = fetch(number)
        yield page
        if not page.has_more or not page.items:
            return
        number += 1


def pages_by_cursor(fetch: Callable[[str | None], Page[T]], *, cursor: str | None = None) -> Iterator[Page[T]]:
    """Cursor paging: follow ``next_cursor`` until there is none (a repeated cursor stops the
    loop instead of spinning on it)."""
    seen: set[str] = set()
    while True:
        page = fetch(cursor)
        yield page
        if not page.next_cursor or page.next_cursor in seen:
            return
        seen.add(page.next_cursor)
        cursor = page.next_cursor


def items(pages: Iterator[Page[T]]) -> Iterator[T]:
    for page in pages:
        yield from page.items


def chunked(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
