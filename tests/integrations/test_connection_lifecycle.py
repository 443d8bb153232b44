"""A connection that loses its grant pauses its flows and alerts once; connecting again
resumes them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.core import mail

from connectors.base import TokenSet
from integrations.models import Alert, AuditEvent, ConnectionStatus
from integrations.services.connections import connection_connected, connection_mark_needs_reauth
from tests.factories import make_connection, make_flow

pytestmark = pytest.mark.django_db(transaction=True)  # alerts are sent after commit


def test_needs_reauth_pauses_flows_alerts_once_and_reconnecting_resumes(settings):
    settings.ALERT_EMAILS = ["ops@example.com"]
    xero = make_connection(name="Xero Demo", status=ConnectionStatus.ACTIVE)
    orders = make_flow(target_connection=xero, enabled=True, name="Orders to invoices")
    payments = make_flow(source_connection=xero, enabled=True, name="Payments to TIMS")
    idle = make_flow(target_connection=xero, enabled=False, name="Disabled by a person")
    elsewhere = make_flow(enabled=True)

    for _ in range(3):  # three workers meet invalid_grant
        connection_mark_needs_reauth(connection=xero, reason="invalid_grant")

    xero.refresh_from_db()
    assert xero.status == ConnectionStatus.NEEDS_REAUTH
    for flow in (orders, payments, idle, elsewhere):
        flow.refresh_from_db()
    assert (orders.enabled, payments.enabled, idle.enabled, elsewhere.enabled) == (False, False, False, True)
    assert "re-authorisation" in orders.paused_reason and idle.paused_reason == ""
    assert Alert.objects.filter(kind="needs_reauth").count() == 1
    assert len(mail.outbox) == 1 and "Xero Demo needs re-authorisation" in mail.outbox[0].subject
    assert AuditEvent.objects.filter(action="connection.needs_reauth").count() == 1

    tokens = TokenSet(access_token="at", refresh_token="rt", expires_at=datetime.now(timezone.utc) + timedelta(minutes=30))
    connection_connected(connection=xero, tokens=tokens, tenant_id="t-1", tenant_name="Demo Company (UK)", tenants=[])
    for flow in (orders, payments, idle):
        flow.refresh_from_db()
    assert (orders.enabled, payments.enabled, idle.enabled) == (True, True, False)
    assert Alert.objects.get().cleared_at is not None
    xero.refresh_from_db()
    assert xero.status == ConnectionStatus.ACTIVE and xero.get_credentials()["token"]["access_token"] == "at"

    connection_mark_needs_reauth(connection=xero, reason="invalid_grant")  # a new outage alerts again
    assert len(mail.outbox) == 2
