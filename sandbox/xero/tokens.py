"""Issuing and checking the emulator's OAuth 2.0 tokens (api-notes §1.2, §1.5).

Access tokens last 30 minutes. Refresh tokens are single use and rotate; a rotated token still
answers, with the same new pair, for a 30-minute grace period, then ``invalid_grant``. An
unused refresh token expires after 60 days.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from config.db import select_rows

from sandbox.models import XeroAccessToken, XeroApp, XeroAuthCode, XeroGrant, XeroRefreshToken

ACCESS_TOKEN_SECONDS = 30 * 60
REFRESH_TOKEN_DAYS = 60
REFRESH_GRACE = timedelta(minutes=30)
AUTH_CODE_SECONDS = 5 * 60


class OAuthError(Exception):
    def __init__(self, error: str, status: int = 400, description: str = ""):
        super().__init__(error)
        self.error = error
        self.status = status
        self.description = description


@dataclass(frozen=True)
class TokenSet:
    access: XeroAccessToken
    refresh: XeroRefreshToken | None
    id_token: str | None

    def as_response(self) -> dict:
        body = {
            "access_token": self.access.token,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "token_type": "Bearer",
            "scope": self.access.scopes,
        }
        if self.id_token:
            body["id_token"] = self.id_token
        if self.refresh is not None:
            body["refresh_token"] = self.refresh.token
        return body


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _id_token(grant: XeroGrant, now: datetime) -> str:
    """An HS256 JWT signed with the client secret, as OpenID Connect allows for confidential clients."""
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {
        "iss": "https://identity.xero.com",
        "aud": grant.app.client_id,
        "sub": hashlib.sha256(grant.user_email.encode()).hexdigest()[:32],
        "email": grant.user_email,
        "xero_userid": hashlib.md5(grant.user_email.encode()).hexdigest(),
        "global_session_id": str(grant.auth_event_id).replace("-", ""),
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 300,
    }
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = hmac.new(grant.app.client_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


def _new_access(app: XeroApp, grant: XeroGrant | None, scopes: str, now: datetime) -> XeroAccessToken:
    return XeroAccessToken.objects.create(
        token=secrets.token_urlsafe(48),
        app=app,
        grant=grant,
        scopes=scopes,
        created_at=now,
        expires_at=now + timedelta(seconds=ACCESS_TOKEN_SECONDS),
    )


def _issue(grant: XeroGrant, now: datetime) -> TokenSet:
    access = _new_access(grant.app, grant, grant.scopes, now)
    refresh = None
    if "offline_access" in grant.scopes.split():  # no offline_access, no refresh token (§1.1)
        refresh = XeroRefreshToken.objects.create(
            token=secrets.token_hex(32),
            grant=grant,
            created_at=now,
            expires_at=now + timedelta(days=REFRESH_TOKEN_DAYS),
        )
    id_token = _id_token(grant, now) if "openid" in grant.scopes.split() else None
    return TokenSet(access, refresh, id_token)


def authenticate_client(client_id: str, client_secret: str) -> XeroApp:
    app = XeroApp.objects.filter(client_id=client_id).first()
    if app is None or not hmac.compare_digest(app.client_secret, client_secret):
        raise OAuthError("invalid_client")
    return app


def auth_code_create(*, grant: XeroGrant, redirect_uri: str) -> str:
    code = secrets.token_urlsafe(32)
    XeroAuthCode.objects.create(
        code=code,
        grant=grant,
        redirect_uri=redirect_uri,
        expires_at=timezone.now() + timedelta(seconds=AUTH_CODE_SECONDS),
    )
    return code


def exchange_code(*, app: XeroApp, code: str, redirect_uri: str) -> TokenSet:
    now = timezone.now()
    with transaction.atomic():
        row = XeroAuthCode.objects.select_for_update().select_related("grant__app").filter(code=code).first()
        if row is None or row.grant.app_id != app.pk or row.used_at or row.expires_at <= now:
            raise OAuthError("invalid_grant")
        if row.redirect_uri != redirect_uri:
            raise OAuthError("invalid_grant")
        row.used_at = now
        row.save(update_fields=["used_at"])
        return _issue(row.grant, now)


def refresh(*, app: XeroApp, token: str) -> TokenSet:
    now = timezone.now()
    with transaction.atomic():
        row = XeroRefreshToken.objects.select_for_update().select_related("grant__app").filter(token=token).first()
        if row is None or row.grant.app_id != app.pk or row.grant.revoked_at or row.expires_at <= now:
            raise OAuthError("invalid_grant")
        if row.rotated_at is not None:
            # The response to the first refresh may have been lost: replay it within the grace period.
            if now - row.rotated_at <= REFRESH_GRACE and row.replaced_by and row.replacement_access_token:
                access = row.replacement_access_token
                if access.expires_at <= now:
                    access = _new_access(app, row.grant, row.grant.scopes, now)
                id_token = _id_token(row.grant, now) if "openid" in row.grant.scopes.split() else None
                return TokenSet(access, row.replaced_by, id_token)
            raise OAuthError("invalid_grant")
        issued = _issue(row.grant, now)
        row.rotated_at = now
        row.replaced_by = issued.refresh
        row.replacement_access_token = issued.access
        row.save(update_fields=["rotated_at", "replaced_by", "replacement_access_token"])
        return issued


def client_credentials(*, app: XeroApp) -> TokenSet:
    """Custom Connections: one tenant, no refresh token (api-notes §1.5)."""
    if app.app_type != XeroApp.AppType.CUSTOM_CONNECTION or app.custom_connection_tenant_id is None:
        raise OAuthError("unauthorized_client")
    return TokenSet(_new_access(app, None, app.custom_connection_scopes, timezone.now()), None, None)


def revoke(*, app: XeroApp, token: str) -> None:
    """Revoking a refresh token ends the grant and removes its connections."""
    row = XeroRefreshToken.objects.select_related("grant").filter(token=token, grant__app=app).first()
    if row is None:
        return
    grant = row.grant
    grant.revoked_at = timezone.now()
    grant.save(update_fields=["revoked_at"])
    XeroAccessToken.objects.filter(grant=grant).delete()
    app.connections.filter(user_email=grant.user_email).delete()


def access_token_lookup(token: str) -> XeroAccessToken | None:
    """The token with its app and grant. Every API call asks: three statements made once
    (``select_rows``) cost about half of one queryset with its joins built each time."""
    found = select_rows(XeroAccessToken, None, token=token)
    if not found:
        return None
    access = found[0]
    access.app = select_rows(XeroApp, None, id=access.app_id)[0]
    access.grant = select_rows(XeroGrant, None, id=access.grant_id)[0] if access.grant_id is not None else None
    return access
