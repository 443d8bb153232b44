"""Product connections to the sandbox systems, served by pytest-django's live server."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from connectors.base import TokenSet
from integrations.models import AuthKind, Connection, Environment, System
from integrations.services.connections import connection_connected


def xero_connection(name: str, *, minute_limit: int | None = None, samples: bool = False):
    """A sandbox Xero organisation and a connected product Connection to it."""
    from sandbox.xero.services import xero_app_create, xero_connect, xero_tenant_create, xero_tenant_set_limits

    tenant = xero_tenant_create(name=name, with_samples=samples)
    xero_tenant_set_limits(tenant=tenant, minute=minute_limit, day=None, concurrent=None)
    app = xero_app_create(name=f"Ledgerbridge for {name}", redirect_uris=["http://testserver/integrations/oauth/callback/"])
    granted = xero_connect(app=app, tenants=[tenant])
    connection = Connection.objects.create(name=f"Xero {name}", system=System.XERO, environment=Environment.SANDBOX,
                                           auth_kind=AuthKind.OAUTH2_AUTHORIZATION_CODE)
    connection.set_credentials({"client_id": app.client_id, "client_secret": app.client_secret})
    connection.save()
    tokens = TokenSet(access_token=granted["access_token"], refresh_token=granted["refresh_token"],
                      expires_at=timezone.now() + timedelta(seconds=int(granted["expires_in"])))
    connection = connection_connected(connection=connection, tokens=tokens, tenant_id=str(tenant.tenant_id),
                                      tenant_name=tenant.name, tenants=[])
    return connection, tenant


def tims_connection(code: str = "acme", *, seed: int | None = 1, minute_limit: int | None = None):
    """A TIMS sandbox site (seeded with demo data when ``seed`` is given) and a product
    Connection to it with client credentials."""
    from sandbox.tims.services import tims_client_create, tims_client_set_limits, tims_demo_seed, tims_site_create

    site = tims_site_create(code=code, name=f"{code.title()} Gases")
    client = tims_client_create(site=site, name="Ledgerbridge")
    tims_client_set_limits(client=client, minute=minute_limit or 100_000, concurrent=None)
    if seed is not None:
        tims_demo_seed(site=site, seed=seed)
    connection = Connection.objects.create(name=f"TIMS {code}", system=System.TIMS, environment=Environment.SANDBOX,
                                           auth_kind=AuthKind.OAUTH2_CLIENT_CREDENTIALS, tenant_id=code)
    connection.set_credentials({"client_id": client.client_id, "client_secret": client.client_secret})
    connection.save()
    return connection, site
