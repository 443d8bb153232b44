"""TIMS OAuth 2.0 client credentials (README "Authentication", openapi.yaml ``issueAccessToken``).

No refresh token is issued: a new access token is asked for about a minute before the old one
expires, and once after a 401. The token lives in the connection's TokenStore so every worker
shares it; a new one is asked for only under the store's lock, after re-reading it, so many
workers finding the token stale at once make one token request between them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from authlib.oauth2.rfc6749.parameters import prepare_token_request

from connectors.base import ConnectorError, ReauthorizationRequired, TokenSet, TokenStore
from connectors.http import HttpClient, json_loads
from connectors.oauth import BearerAuthenticator, basic_auth, renew_under_lock, token_set_from_response

# What the Xero <-> TIMS flows need (README "Resources and the flows they serve"). A site may
# grant fewer; the token answer says which (`scope`), and a call outside them gets 403.
DEFAULT_SCOPES = (
    "customers:read",
    "customers:write",
    "vendors:read",
    "vendors:write",
    "products:read",
    "products:write",
    "salesorders:read",
    "purchaseorders:read",
    "bills:read",
    "invoices:read",
    "invoices:write",
    "payments:read",
    "payments:write",
    "inventory:read",
    "gl:read",
    "dimensions:read",
    "external_refs:write",
    "webhooks:manage",
)

# "Request a new token about a minute before expires_in runs out" (README "Authentication").
REFRESH_LEEWAY_SECONDS = 60
DEFAULT_EXPIRES_IN = 3600  # openapi.yaml `TokenResponse.expires_in`

# The Ledgerbridge sandbox serves its TIMS sites under <SANDBOX_BASE_URL>/tims/<site code>.
SANDBOX_SUFFIX = "/sandbox"
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


@dataclass(frozen=True)
class TimsEndpoints:
    """Where one TIMS site answers. Paths are absolute from the site's base URL (openapi.yaml
    ``servers``): the token endpoint at ``/oauth/token``, the API under ``/api/v1/``."""

    base_url: str
    api_root: str
    token_url: str

    @classmethod
    def from_base_url(cls, base_url: str, *, site: str = "") -> TimsEndpoints:
        """The connection's site URL (``https://tims.plant.acme.internal:8443``). A base ending
        in ``/sandbox`` is the Ledgerbridge sandbox root, whose TIMS sites live under
        ``/tims/<site code>`` (``site``, the connection's tenant id)."""
        root = (base_url or "").strip().rstrip("/")
        if not root:
            raise ConnectorError("this TIMS connection has no base URL: every TIMS site has its own", code="no_base_url")
        parts = urlsplit(root)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConnectorError(f"the TIMS base URL {root!r} is not an http(s) URL", code="bad_base_url")
        if root.endswith(SANDBOX_SUFFIX):
            if not site:
                raise ConnectorError(
                    "a sandbox TIMS connection needs its site code as the tenant id (<sandbox>/tims/<site code>)",
                    code="no_site",
                )
            root += f"/tims/{quote(site, safe='')}"
        sandbox = f"{SANDBOX_SUFFIX}/tims/" in urlsplit(root).path + "/"
        if parts.scheme == "http" and not sandbox and (parts.hostname or "") not in _LOOPBACK_HOSTS:
            # "Only https is allowed" (README "Base URL and TLS"); plain http is left to the
            # sandbox emulator and to servers on this machine.
            raise ConnectorError(
                f"the TIMS base URL {root!r} uses plain http: TIMS sites are reached over https only",
                code="insecure_base_url",
            )
        return cls(base_url=root, api_root=f"{root}/api/v1/", token_url=f"{root}/oauth/token")


class TimsOAuth:
    """The connection's OAuth client. ``http`` is an HttpClient with the call recorder and the
    connection's TLS settings but no rate budget: a token request happens inside an API call
    that already holds a budget slot, and taking a second slot there could deadlock workers."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        http: HttpClient,
        endpoints: TimsEndpoints,
        scopes: Sequence[str] = DEFAULT_SCOPES,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.http = http
        self.endpoints = endpoints
        self.scopes = tuple(scopes)

    def __repr__(self) -> str:
        return f"TimsOAuth(client_id={self.client_id!r}, token_url={self.endpoints.token_url!r})"

    def request_token(self, _previous: TokenSet | None = None) -> TokenSet:
        """One token request. Client credentials go in HTTP Basic, never also in the body."""
        params = {"scope": " ".join(self.scopes)} if self.scopes else {}
        body = prepare_token_request("client_credentials", **params)
        try:
            response = self.http.request(
                "POST",
                self.endpoints.token_url,
                content=body.encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                    "Authorization": basic_auth(self.client_id, self._client_secret),
                },
            )
        except ReauthorizationRequired as exc:
            # invalid_client, invalid_scope, ...: the connection's credentials or scopes are wrong.
            raise ReauthorizationRequired(
                f"the TIMS token endpoint refused this connection's credentials ({exc.code}): {exc.message}",
                code=exc.code, response=exc.response, status_code=exc.status_code,
            ) from exc
        return token_set_from_response(
            json_loads(response.content), default_expires_in=DEFAULT_EXPIRES_IN, issuer="the TIMS token endpoint"
        )

    def token(self, store: TokenStore, stale_access_token: str | None = None) -> TokenSet:
        """A usable token, asked for at most once across every worker sharing ``store``: under
        the store's lock, a token another worker already replaced is used as it is."""
        return renew_under_lock(
            store, self.request_token, leeway=REFRESH_LEEWAY_SECONDS, stale_access_token=stale_access_token
        )

    def authenticator(self, store: TokenStore) -> BearerAuthenticator:
        """``connectors.http.Authenticator`` for the API: the bearer token, a new one shortly
        before expiry and once after a 401 (the shared client asks at most once)."""
        return BearerAuthenticator(store, self.token, leeway=REFRESH_LEEWAY_SECONDS)
