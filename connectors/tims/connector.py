"""Building a ``TimsClient`` from what the engine holds about a connection: the site's base URL,
the client credentials, an optional CA bundle, and the token store, call recorder and rate
budget the engine implements."""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from connectors.base import CallRecorder, ConnectionSettings, ConnectorError, RateBudget, RateObservation, TokenStore
from connectors.http import HttpClient, RateHeaders, RetryPolicy
from connectors.rate import RateLimits, Window
from connectors.tims.auth import DEFAULT_SCOPES, TimsEndpoints, TimsOAuth
from connectors.tims.client import TimsClient
from connectors.tims.errors import read_tims_error

# 120 requests per fixed 60-second window per OAuth client, at most 10 in flight (README "Rate
# limits"): the budget's own sliding window never exceeds that. A site may set other numbers;
# its RateLimit-* headers then pause every worker when its window is spent (TimsRateHeaders).
TIMS_RATE_LIMITS = RateLimits(windows=(Window("minute", 120, 60.0),), concurrency=10)

# Calls left in the site's window at which every worker waits for the window to reset: one is
# kept for the token requests, which count against the same client but are not drawn from the
# budget (see TimsOAuth).
TIMS_WINDOW_RESERVE = 1


@dataclass(frozen=True)
class TimsRateHeaders(RateHeaders):
    """The site's window is fixed and says when it resets (``RateLimit-Reset``, seconds). When
    ``RateLimit-Remaining`` is down to the reserve, the reset is passed on as a wait, so every
    worker pauses exactly until the site's window refills instead of running into 429s.

    The remaining count itself is reported under ``window``, a name the budget does not
    enforce: the budget would take a count as valid for its own 60-second window from the
    moment it was seen and, near the end of the site's window, wait up to a whole window
    longer than the site asks (or far longer on a site with a shorter window)."""

    reset: str = "RateLimit-Reset"

    def observe(self, response: httpx.Response) -> RateObservation:
        observed = super().observe(response)
        left = observed.remaining.get("window")
        reset = response.headers.get(self.reset, "").strip()
        if observed.retry_after is None and left is not None and left <= TIMS_WINDOW_RESERVE and reset.isdigit():
            return RateObservation(remaining=observed.remaining, retry_after=float(reset), problem="window")
        return observed


TIMS_RATE_HEADERS = TimsRateHeaders(
    remaining={"window": "RateLimit-Remaining"},
    retry_after="Retry-After",
    request_id="Request-Id",
)

PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


def tls_verify(settings: ConnectionSettings) -> ssl.SSLContext | bool:
    """How this connection checks the site's certificate (README "Base URL and TLS").

    Without a CA bundle: the system trust store. With one (``ca_bundle`` in the options or the
    credentials: a path to a PEM file or the PEM text itself) that bundle is trusted *instead*
    of the system store, for this connection only. Verification and host name checks are never
    switched off: ``verify_tls: false`` is refused. Every problem is a ConnectorError that
    says what is wrong with the setting."""
    options = settings.options or {}
    if options.get("verify_tls", True) in (False, "false", "False", "0", 0):
        raise ConnectorError(
            "TLS verification cannot be turned off for a TIMS connection (the TIMS contract never "
            "allows it): give the site's CA certificate as the connection's CA bundle instead",
            code="tls_verification_required",
        )
    bundle = options.get("ca_bundle") or settings.credentials.get("ca_bundle") or ""
    if not bundle:
        return True
    if not isinstance(bundle, str):
        raise ConnectorError("the TIMS CA bundle must be a file path or PEM text", code="ca_bundle_invalid")
    if PEM_CERTIFICATE in bundle:
        return _context_from_pem(bundle, "the CA bundle given as PEM text")
    path = Path(bundle).expanduser()
    where = f"the CA bundle file {str(path)!r}"
    try:
        pem = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConnectorError(f"{where} does not exist", code="ca_bundle_missing") from None
    except IsADirectoryError:
        raise ConnectorError(f"{where} is a directory, not a PEM file", code="ca_bundle_unreadable") from None
    except PermissionError:
        raise ConnectorError(f"{where} cannot be read (permission denied)", code="ca_bundle_unreadable") from None
    except UnicodeDecodeError:
        raise ConnectorError(f"{where} is not a PEM file (it holds binary data)", code="ca_bundle_invalid") from None
    except OSError as exc:
        raise ConnectorError(f"{where} cannot be read ({exc.strerror or exc})", code="ca_bundle_unreadable") from None
    return _context_from_pem(pem, where)


def _context_from_pem(pem: str, where: str) -> ssl.SSLContext:
    if PEM_CERTIFICATE not in pem:
        raise ConnectorError(f"{where} holds no PEM certificate (-----BEGIN CERTIFICATE-----)", code="ca_bundle_invalid")
    try:
        # cadata alone: the bundle replaces the system store rather than adding to it.
        return ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or str(exc)
        raise ConnectorError(f"{where} holds an invalid certificate ({reason})", code="ca_bundle_invalid") from None


def _credential(settings: ConnectionSettings, name: str) -> str:
    value = settings.credentials.get(name)
    if not value:
        raise ConnectorError(f"the TIMS connection's credentials lack {name}", code="credentials_incomplete")
    return str(value)


def _scopes(settings: ConnectionSettings) -> Sequence[str]:
    scopes = settings.credentials.get("scopes") or settings.options.get("scopes") or DEFAULT_SCOPES
    return scopes.split() if isinstance(scopes, str) else tuple(scopes)


def tims_oauth(
    settings: ConnectionSettings,
    *,
    recorder: CallRecorder | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
    verify: ssl.SSLContext | bool | None = None,
) -> TimsOAuth:
    """The token side of a connection. Credentials: ``client_id``, ``client_secret``, optional
    ``scopes`` (a list or a space-separated string) and ``ca_bundle``."""
    endpoints = TimsEndpoints.from_base_url(settings.base_url, site=settings.tenant_id)
    http = HttpClient(
        "",
        recorder=recorder,
        read_error=read_tims_error,
        rate_headers=TIMS_RATE_HEADERS,  # for the Request-Id in the call log; no budget here
        transport=transport,
        sleep=sleep or time.sleep,
        verify=tls_verify(settings) if verify is None else verify,
    )
    return TimsOAuth(
        client_id=_credential(settings, "client_id"),
        client_secret=_credential(settings, "client_secret"),
        http=http,
        endpoints=endpoints,
        scopes=_scopes(settings),
    )


def connect(
    settings: ConnectionSettings,
    *,
    token_store: TokenStore,
    recorder: CallRecorder | None = None,
    budget: RateBudget | None = None,
    retry_policy: RetryPolicy | None = None,
    correlation_id: str | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] | None = None,
    page_size: int | None = None,
) -> TimsClient:
    """The registry's factory for "tims". The budget is per OAuth client at a site (README
    "Rate limits"), so its key names both: every worker of this connection shares it."""
    verify = tls_verify(settings)
    oauth = tims_oauth(settings, recorder=recorder, transport=transport, sleep=sleep, verify=verify)
    site = settings.tenant_id or urlsplit(oauth.endpoints.base_url).netloc
    http = HttpClient(
        oauth.endpoints.api_root,
        auth=oauth.authenticator(token_store),
        budget=budget,
        budget_key=f"tims:{site}:{oauth.client_id}",
        recorder=recorder,
        retry_policy=retry_policy,
        rate_headers=TIMS_RATE_HEADERS,
        read_error=read_tims_error,
        headers={"Accept": "application/json"},
        correlation_id=correlation_id,
        transport=transport,
        sleep=sleep or time.sleep,
        verify=verify,
    )
    options: Mapping[str, int] = {"page_size": page_size} if page_size else {}
    return TimsClient(
        http,
        client_id=oauth.client_id,
        base_url=oauth.endpoints.base_url,
        token=lambda: oauth.token(token_store),
        **options,
    )
