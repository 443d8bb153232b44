"""Xero OAuth 2.0 (api-notes/xero.md §1): the authorisation code flow with rotating, single-use
refresh tokens; client credentials for Custom Connections; the ``/connections`` tenant list.

authlib supplies the protocol pieces (the authorise URI, token request bodies, state
generation). Its own httpx client is not used: it refreshes tokens on its own schedule, outside
our lock, and sends without our call log; token calls go through ``connectors.http.HttpClient``
like every other call, and refreshes happen only under the TokenStore lock."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request

from connectors.base import AuthError, TokenSet, TokenStore, UnknownOutcome
from connectors.http import HttpClient, json_loads
from connectors.oauth import BearerAuthenticator, basic_auth, no_tokens, renew_under_lock, token_set_from_response

# What the TIMS sync needs, in the granular scopes that apps created after 2 March 2026 must
# use (api-notes/xero.md §1.4). offline_access, or no refresh token is issued.
DEFAULT_SCOPES = (
    "offline_access",
    "accounting.contacts",
    "accounting.settings",
    "accounting.invoices",
    "accounting.payments",
    "accounting.banktransactions",
    "accounting.manualjournals",
)

# Refresh this long before the 30-minute access token expires (api-notes/xero.md §1.2).
REFRESH_LEEWAY_SECONDS = 300


@dataclass(frozen=True)
class XeroEndpoints:
    api_root: str
    authorize_url: str
    token_url: str
    connections_url: str
    revocation_url: str

    @classmethod
    def production(cls) -> XeroEndpoints:
        return cls(
            api_root="https://api.xero.com/api.xro/2.0/",
            authorize_url="https://login.xero.com/identity/connect/authorize",
            token_url="https://identity.xero.com/connect/token",
            connections_url="https://api.xero.com/connections",
            revocation_url="https://identity.xero.com/connect/revocation",
        )

    @classmethod
    def from_base_url(cls, base_url: str = "") -> XeroEndpoints:
        """Empty: the real Xero hosts. Otherwise an emulator mounted at ``<base>/xero/...``
        (the sandbox: ``<SANDBOX_BASE_URL>/xero/api.xro/2.0/`` and so on); ``base_url`` may
        already end in ``/xero``."""
        if not base_url:
            return cls.production()
        root = base_url.rstrip("/")
        if not root.endswith("/xero"):
            root += "/xero"
        return cls(
            api_root=f"{root}/api.xro/2.0/",
            authorize_url=f"{root}/identity/connect/authorize",
            token_url=f"{root}/identity/connect/token",
            connections_url=f"{root}/connections",
            revocation_url=f"{root}/identity/connect/revocation",
        )


@dataclass(frozen=True)
class XeroTenant:
    """One row of ``GET /connections`` (api-notes/xero.md §1.3)."""

    connection_id: str
    tenant_id: str
    tenant_type: str
    tenant_name: str
    auth_event_id: str
    created_at: datetime | None
    updated_at: datetime | None


def _parse_iso(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


class XeroOAuth:
    """The app's side of Xero identity. ``http`` is an HttpClient without a rate budget (the
    identity endpoints are not tenant calls) but with the call recorder."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        http: HttpClient,
        endpoints: XeroEndpoints | None = None,
        redirect_uri: str = "",
        scopes: Sequence[str] = DEFAULT_SCOPES,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.http = http
        self.endpoints = endpoints or XeroEndpoints.production()
        self.redirect_uri = redirect_uri
        self.scopes = tuple(scopes)

    def __repr__(self) -> str:
        return f"XeroOAuth(client_id={self.client_id!r}, token_url={self.endpoints.token_url!r})"

    # The authorisation code flow ----------------------------------------------------------------

    def authorization_url(self, *, state: str | None = None, scopes: Sequence[str] | None = None) -> tuple[str, str]:
        """The URL to send the person to, and the ``state`` to keep in their session (CSRF)."""
        state = state or generate_token(32)
        url = prepare_grant_uri(
            self.endpoints.authorize_url,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=self.redirect_uri,
            scope=" ".join(scopes or self.scopes),
            state=state,
        )
        return url, state

    def exchange_code(self, code: str, *, state: str, expected_state: str) -> TokenSet:
        """Trade the callback's code for the first token set (the caller saves it)."""
        if not expected_state or not hmac.compare_digest(state.encode(), expected_state.encode()):
            raise AuthError("the authorisation answer does not carry the state we sent", code="state_mismatch")
        body = prepare_token_request("authorization_code", code=code, redirect_uri=self.redirect_uri)
        return self._token_request(body)

    # Renewal ------------------------------------------------------------------------------------

    def refresh(self, store: TokenStore, *, stale_access_token: str | None = None) -> TokenSet:
        """A fresh token set, refreshing at most once across every worker sharing ``store``
        (``connectors.oauth.renew_under_lock``): Xero refresh tokens are single-use, so the
        new pair is saved before the lock is released (api-notes/xero.md §1.2)."""
        return renew_under_lock(
            store, self._renewal_grant, leeway=REFRESH_LEEWAY_SECONDS, stale_access_token=stale_access_token
        )

    def _renewal_grant(self, tokens: TokenSet | None) -> TokenSet:
        if tokens is None:
            return no_tokens()
        if tokens.refresh_token:
            return self._refresh_grant(tokens.refresh_token)
        # Custom Connections have no refresh token: ask again (§1.5).
        return self.client_credentials(scopes=tokens.scope.split() or None)

    def _refresh_grant(self, refresh_token: str) -> TokenSet:
        body = prepare_token_request("refresh_token", refresh_token=refresh_token)
        try:
            return self._token_request(body)
        except UnknownOutcome:
            # The answer was lost: the old refresh token stays valid for a 30-minute grace
            # period after its use (api-notes/xero.md §1.2), so asking again is safe.
            return self._token_request(body)

    def client_credentials(self, *, scopes: Sequence[str] | None = None) -> TokenSet:
        """A token for a Custom Connection: no refresh token, no tenant header (§1.5)."""
        params: dict[str, str] = {}
        if scopes:
            params["scope"] = " ".join(scopes)
        return self._token_request(prepare_token_request("client_credentials", **params))

    def _token_request(self, body: str) -> TokenSet:
        response = self.http.request(
            "POST",
            self.endpoints.token_url,
            content=body.encode(),
            headers={**_FORM, "Authorization": basic_auth(self.client_id, self._client_secret), "Accept": "application/json"},
        )
        return token_set_from_response(json_loads(response.content), default_expires_in=1800, issuer="Xero's token endpoint")

    def revoke(self, refresh_token: str) -> None:
        """Revoke a refresh token (and, Xero says, the app's connections for that user)."""
        self.http.request(
            "POST",
            self.endpoints.revocation_url,
            content=f"token={quote(refresh_token, safe='')}".encode(),
            headers={**_FORM, "Authorization": basic_auth(self.client_id, self._client_secret)},
        )

    # Tenants ------------------------------------------------------------------------------------

    def list_connections(self, access_token: str, *, auth_event_id: str = "") -> list[XeroTenant]:
        """The tenants this token set reaches; ``auth_event_id`` narrows them to those the
        person just picked (api-notes/xero.md §1.3)."""
        params = {"authEventId": auth_event_id} if auth_event_id else None
        rows = self.http.get_json(self.endpoints.connections_url, params=params, headers=_bearer(access_token))
        return [
            XeroTenant(
                connection_id=str(row.get("id", "")),
                tenant_id=str(row.get("tenantId", "")),
                tenant_type=str(row.get("tenantType", "")),
                tenant_name=str(row.get("tenantName") or ""),
                auth_event_id=str(row.get("authEventId") or ""),
                created_at=_parse_iso(row.get("createdDateUtc")),
                updated_at=_parse_iso(row.get("updatedDateUtc")),
            )
            for row in rows or []
        ]

    def delete_connection(self, access_token: str, connection_id: str) -> None:
        """Disconnect one tenant (204)."""
        self.http.request(
            "DELETE", f"{self.endpoints.connections_url}/{quote(connection_id, safe='')}", headers=_bearer(access_token)
        )


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}


class XeroAuthenticator(BearerAuthenticator):
    """The bearer token and the ``xero-tenant-id`` header, which every Accounting API call
    needs except on a Custom Connection (api-notes/xero.md §1.3, §1.5)."""

    def __init__(self, oauth: XeroOAuth, store: TokenStore, *, tenant_id: str = "") -> None:
        super().__init__(
            store,
            lambda s, stale: oauth.refresh(s, stale_access_token=stale),
            leeway=REFRESH_LEEWAY_SECONDS,
            headers={"xero-tenant-id": tenant_id} if tenant_id else None,
        )
        self.oauth = oauth
        self.tenant_id = tenant_id
