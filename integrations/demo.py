"""What ``make demo`` puts in place: sandbox systems, connections, mapping templates, flows.

The sandboxes are an outside world: the demo drives them only through their management
commands (as a person would from a shell), never by importing them. Every step is
idempotent, so ``make demo`` can be run again on the same database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from io import StringIO
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
from django.conf import settings
from django.core.management import call_command

from integrations.mapping_templates import templates_install
from integrations.models import AuthKind, Connection, ConnectionStatus, Environment, Flow, FlowTrigger, MappingSet, System

XERO = "Xero (sandbox)"
TIMS = "TIMS (sandbox)"
TIMS_SITE = "acme"

# slug and mapping set (which names the direction); every flow polls each minute.
DEMO_FLOWS = [
    # First, so that lines find their tracking categories and options in Xero.
    ("tims-dimensions-to-xero", "TIMS dimensions → Xero tracking categories"),
    ("tims-dimension-values-to-xero", "TIMS dimension values → Xero tracking options"),
    ("tims-customers-to-xero", "TIMS customers → Xero contacts"),
    ("tims-vendors-to-xero", "TIMS vendors → Xero contacts"),
    ("tims-products-to-xero", "TIMS products → Xero items"),
    ("tims-orders-to-xero", "TIMS sales orders → Xero invoices"),
    ("tims-bills-to-xero", "TIMS vendor bills → Xero bills"),
    ("tims-payments-to-xero", "TIMS AR payments → Xero payments"),
    ("xero-payments-to-tims", "Xero payments → TIMS AR payments"),
    ("tims-stock-to-xero", "TIMS inventory adjustments → Xero manual journals"),
    ("tims-journals-to-xero", "TIMS GL entries → Xero manual journals"),
]


def _portal_url() -> str:
    return settings.SANDBOX_BASE_URL.rstrip("/").rsplit("/sandbox", 1)[0]


def demo_seed() -> Iterator[str]:
    """Sandboxes, connections (not yet authorised), templates and flows (not yet enabled)."""
    if not settings.DEBUG:
        raise RuntimeError("The demo seeds development databases only.")
    yield from _templates()
    if not settings.SANDBOX_ENABLED:
        yield "SANDBOX_ENABLED is off: no sandbox systems, connections or flows."
        return
    yield from _xero()
    yield from _tims()
    yield from _flows()


def _templates() -> Iterator[str]:
    for line in templates_install():
        yield f"Installed {line}"


def _xero() -> Iterator[str]:
    connection = Connection.objects.filter(name=XERO).first()
    credentials = connection.get_credentials() if connection else {}
    args = ["--json", "--redirect-uri", f"{_portal_url()}/integrations/oauth/callback/"]
    if credentials.get("client_id"):
        # name=value: a secret may begin with "-", which argparse would take for an option
        args += [f"--client-id={credentials['client_id']}", f"--client-secret={credentials['client_secret']}"]
    out = StringIO()
    call_command("sandbox_xero_seed", *args, stdout=out)
    app = json.loads(out.getvalue())
    if connection is None:
        connection = Connection.objects.create(
            name=XERO, system=System.XERO, environment=Environment.SANDBOX,
            auth_kind=AuthKind.OAUTH2_AUTHORIZATION_CODE, tenant_id=app["tenants"][0]["tenant_id"],
            tenant_name=app["tenants"][0]["name"],
        )
        yield f"Created the connection \u201c{XERO}\u201d to {app['tenants'][0]['name']}"
    connection.set_credentials({**credentials, "client_id": app["client_id"], "client_secret": app["client_secret"],
                                "webhook_key": app["webhook_key"]})
    connection.save()


def _tims() -> Iterator[str]:
    connection = Connection.objects.filter(name=TIMS).first()
    out = StringIO()
    call_command("sandbox_tims_seed", site=TIMS_SITE, seed=1, stdout=out)
    printed = dict(re.findall(r"^\s+(client_id|client_secret):\s+(\S+)", out.getvalue(), re.M))
    if connection is None:
        connection = Connection.objects.create(
            name=TIMS, system=System.TIMS, environment=Environment.SANDBOX,
            auth_kind=AuthKind.OAUTH2_CLIENT_CREDENTIALS, tenant_id=TIMS_SITE, tenant_name="Acme Gas & Welding",
        )
        yield f"Created the connection \u201c{TIMS}\u201d to the TIMS site {TIMS_SITE}"
    if printed:
        connection.set_credentials({**connection.get_credentials(), **printed})
        connection.save()


def _flows() -> Iterator[str]:
    by_system = {System.XERO: Connection.objects.get(name=XERO), System.TIMS: Connection.objects.get(name=TIMS)}
    for slug, template in DEMO_FLOWS:
        mapping = MappingSet.objects.get(name=template)
        _, created = Flow.objects.get_or_create(slug=slug, defaults={
            "name": template, "source_connection": by_system[mapping.source_system], "source_entity": mapping.source_entity,
            "target_connection": by_system[mapping.target_system], "target_entity": mapping.target_entity, "mapping_set": mapping,
            "trigger": FlowTrigger.SCHEDULE, "interval_minutes": 1, "batch_size": 50, "enabled": False,
        })
        if created:
            yield f"Created the flow \u201c{template}\u201d (every minute, enabled once connected)"


def demo_connect(actor: Any = None) -> Iterator[str]:
    """Authorise the sandbox connections against the running server and enable the flows.

    Demo only: for the Xero sandbox it gives the consent a person would give on the consent
    page (picking the organisation), then finishes the ordinary authorisation-code flow.
    """
    from integrations.oauth import connection_finish, oauth_for

    for connection in Connection.objects.filter(environment=Environment.SANDBOX, name__in=[XERO, TIMS]):
        if connection.status == ConnectionStatus.ACTIVE:
            continue
        if connection.auth_kind == AuthKind.OAUTH2_CLIENT_CREDENTIALS:
            connection.status = ConnectionStatus.ACTIVE
            connection.save(update_fields=["status"])
            yield f"{connection.name}: client credentials; tokens are fetched on first use"
            continue
        oauth = oauth_for(connection, redirect_uri=f"{_portal_url()}/integrations/oauth/callback/")
        url, state = oauth.authorization_url()
        query = dict(parse_qsl(urlsplit(url).query))
        with httpx.Client(timeout=30) as browser:
            page = browser.get(url)
            page.raise_for_status()
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            consent = browser.post(url.split("?")[0], headers={"Referer": url}, data={
                **query, "csrfmiddlewaretoken": csrf.group(1) if csrf else "", "tenant": connection.tenant_id, "allow": "1"})
        if "location" not in consent.headers:
            raise RuntimeError(f"The Xero sandbox's consent page answered {consent.status_code} instead of a redirect.")
        code = dict(parse_qsl(urlsplit(consent.headers["location"]).query))["code"]
        tokens = oauth.exchange_code(code, state=state, expected_state=state)
        connection_finish(connection, oauth, tokens, actor=actor)
        yield f"{connection.name}: authorised (as a person would on the sandbox's consent page)"
    enabled = Flow.objects.filter(slug__in=[slug for slug, _ in DEMO_FLOWS], enabled=False, paused_reason="")
    for flow in enabled:
        flow.enabled = True
        flow.save()  # the polling schedule follows
    if enabled:
        yield "Flows enabled: they poll TIMS every minute."
    yield from _tims_webhooks()


def _tims_webhooks() -> Iterator[str]:
    """TIMS tells the portal about changes as they happen; polling stays as the safety net."""
    from django.urls import reverse

    from connectors.base import ConnectorError
    from integrations.services.webhooks import tims_webhooks_subscribe

    connection = Connection.objects.filter(name=TIMS, status=ConnectionStatus.ACTIVE).first()
    if connection is None:
        return
    receiver = f"{_portal_url()}{reverse('integrations:webhook_inbox', args=[connection.pk])}"
    try:
        subscription = tims_webhooks_subscribe(connection=connection, receiver_url=receiver)
    except ConnectorError as exc:
        yield f"{connection.name}: webhooks not subscribed ({exc.message}); the flows poll every minute."
        return
    yield f"{connection.name}: subscribed to {len(subscription.events)} TIMS event types at {receiver}"
