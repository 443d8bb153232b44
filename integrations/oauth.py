"""The OAuth 2.0 consent flow of a connection: send the person to the system's consent page,
take the code back, store the tokens and the tenant.

Each system's connector package offers an OAuth object (``authorization_url``,
``exchange_code``, ``client_credentials``, ``list_connections``); this table says where.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.utils.module_loading import import_string

from connectors.base import TokenSet
from integrations.adapters import ApiCallRecorder
from integrations.models import AuthKind, Connection, System
from integrations.services.connections import connection_connected, connection_settings

OAUTH_FACTORIES = {System.XERO: "connectors.xero.xero_oauth"}


class ConnectError(Exception):
    """Why a connection could not be authorised, in words for the person connecting it."""


def supports_consent(connection: Connection) -> bool:
    return connection.system in OAUTH_FACTORIES and connection.auth_kind in (
        AuthKind.OAUTH2_AUTHORIZATION_CODE, AuthKind.OAUTH2_CLIENT_CREDENTIALS,
    )


def oauth_for(connection: Connection, *, redirect_uri: str = "") -> Any:
    credentials = connection.get_credentials()
    if not credentials.get("client_id") or not credentials.get("client_secret"):
        raise ConnectError(f"Enter the client id and client secret of {connection.name} first, then connect.")
    factory = import_string(OAUTH_FACTORIES[connection.system])
    return factory(connection_settings(connection, redirect_uri=redirect_uri), recorder=ApiCallRecorder(connection.pk))


def _pick_tenant(connection: Connection, tenants: list[Any]) -> Any:
    if not tenants:
        raise ConnectError("The consent reached no organisation: pick one on the consent page.")
    if connection.tenant_id:
        for tenant in tenants:
            if tenant.tenant_id == connection.tenant_id:
                return tenant
        raise ConnectError(
            f"The consent does not include the organisation {connection.tenant_name or connection.tenant_id} "
            "this connection is for; connect again and tick it."
        )
    return tenants[0]


def connection_finish(connection: Connection, oauth: Any, tokens: TokenSet, *, actor: Any) -> Connection:
    tenants = oauth.list_connections(tokens.access_token)
    tenant = _pick_tenant(connection, tenants)
    return connection_connected(
        connection=connection, tokens=tokens, tenant_id=tenant.tenant_id, tenant_name=tenant.tenant_name,
        tenants=[{k: str(v) for k, v in asdict(t).items() if k in ("tenant_id", "tenant_name", "connection_id")} for t in tenants],
        actor=actor,
    )


def connection_connect_client_credentials(connection: Connection, *, actor: Any) -> Connection:
    """Custom Connections: no consent page; the client credentials are the grant."""
    oauth = oauth_for(connection)
    return connection_finish(connection, oauth, oauth.client_credentials(), actor=actor)
