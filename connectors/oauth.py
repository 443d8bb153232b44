"""OAuth 2.0 pieces every connector shares: the Basic client header, a token endpoint's answer
as a ``TokenSet``, renewal under the TokenStore's lock, and the bearer ``Authenticator``.
The grants themselves (which form to post where) stay in each system's ``auth.py``."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from connectors.base import AuthError, ReauthorizationRequired, TokenSet, TokenStore


def basic_auth(client_id: str, client_secret: str) -> str:
    """The client's HTTP Basic header; RFC 6749 §2.3.1 form-encodes both parts first."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def token_set_from_response(body: Any, *, default_expires_in: int, issuer: str = "the token endpoint") -> TokenSet:
    """A token endpoint's JSON answer (RFC 6749 §5.1) as a TokenSet with an aware expiry."""
    if not isinstance(body, Mapping) or not body.get("access_token"):
        raise AuthError(f"{issuer} answered without an access token", code="no_access_token")
    expires_in = int(body.get("expires_in") or default_expires_in)
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
        expires_at=datetime.now(timezone.utc) + timedelta(seconds=expires_in),
        token_type=str(body.get("token_type") or "Bearer"),
        scope=str(body.get("scope") or ""),
    )


def renew_under_lock(
    store: TokenStore,
    grant: Callable[[TokenSet | None], TokenSet],
    *,
    leeway: float,
    stale_access_token: str | None = None,
) -> TokenSet:
    """Fresh tokens, asked for at most once across every worker sharing ``store``.

    Under the lock the newest tokens are re-read: when another worker already renewed them
    (not near expiry, and not the access token that was just refused) they are used as they
    are. Otherwise ``grant`` is called with them (None when there are none) and its answer is
    saved before the lock is released: with rotating refresh tokens two renewals would break
    each other (api-notes/xero.md §1.2)."""
    with store.locked() as tokens:
        if (
            tokens is not None
            and not tokens.expires_within(leeway)
            and (stale_access_token is None or tokens.access_token != stale_access_token)
        ):
            return tokens
        fresh = grant(tokens)
        store.save(fresh)
        return fresh


class BearerAuthenticator:
    """``connectors.http.Authenticator`` over a TokenStore: the bearer token (plus any fixed
    headers), renewed through ``renew(store, stale_access_token)`` shortly before expiry and
    once after a 401. The last tokens are kept in memory: an access token stays valid until it
    expires even after another worker renewed, so the store is read only near expiry."""

    def __init__(
        self,
        store: TokenStore,
        renew: Callable[[TokenStore, str | None], TokenSet],
        *,
        leeway: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self._renew = renew
        self._leeway = leeway
        self._headers = dict(headers or {})
        self._tokens: TokenSet | None = None

    def auth_headers(self) -> dict[str, str]:
        tokens = self._tokens
        if tokens is None or tokens.expires_within(self._leeway):
            tokens = self.store.load()
            if tokens is None or tokens.expires_within(self._leeway):
                tokens = self._renew(self.store, None)
            self._tokens = tokens
        return {"Authorization": f"{tokens.token_type or 'Bearer'} {tokens.access_token}", **self._headers}

    def handle_unauthorized(self, refused: Mapping[str, str]) -> bool:
        stale = refused.get("Authorization", "").partition(" ")[2]
        self._tokens = self._renew(self.store, stale)
        return True


def no_tokens(_: TokenSet | None = None) -> TokenSet:
    """The grant of a connection that was never connected: a person must connect it."""
    raise ReauthorizationRequired("this connection has no tokens: connect it first", code="no_tokens")
