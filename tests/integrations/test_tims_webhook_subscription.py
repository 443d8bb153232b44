"""Subscribing a TIMS connection to TIMS webhooks from the portal: the subscription is made once,
its signing secret stored encrypted, and a change in TIMS reaches the inbox as a signed
delivery that asks for a run of the flow reading that entity."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse

from integrations.models import AuditEvent, Flow, MappingSet, WebhookDelivery
from integrations.mapping_templates import templates_install
from integrations.roles import AUDITORS, INTEGRATION_ADMINS
from integrations.services.webhooks import tims_webhooks_subscribe, webhook_process
from tests.sandboxes import tims_connection, xero_connection

pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tims(settings, live_server):
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    templates_install()
    connection, site = tims_connection("acme", seed=1)
    xero, _tenant = xero_connection("Acme Gases Ltd")
    mapping = MappingSet.objects.get(name="TIMS customers → Xero contacts")
    flow = Flow.objects.create(slug="customers", name="Customers", source_connection=connection, source_entity="customer",
                               target_connection=xero, target_entity="contact", mapping_set=mapping, enabled=True)
    return connection, site, flow


def _receiver(live_server, connection) -> str:
    return f"{live_server.url}{reverse('integrations:webhook_inbox', args=[connection.pk])}"


def test_subscribing_twice_keeps_one_subscription_and_a_change_asks_for_a_run(tims, live_server):
    from sandbox.models import TimsWebhookSubscription
    from sandbox.tims.masterdata import customer_update
    from sandbox.tims.webhooks import deliver_pending
    from sandbox.models import TimsCustomer

    connection, site, flow = tims
    site.allow_http_webhook_urls = True  # the contract wants https; the test server is http
    site.save()
    first = tims_webhooks_subscribe(connection=connection, receiver_url=_receiver(live_server, connection))
    assert first.created and "customer.updated" in first.events
    assert "salesorder.status_changed" not in first.events  # no flow reads orders from this connection
    again = tims_webhooks_subscribe(connection=connection, receiver_url=_receiver(live_server, connection))
    assert not again.created and again.subscription_id == first.subscription_id
    subscriptions = TimsWebhookSubscription.objects.filter(deleted_at__isnull=True)
    assert subscriptions.count() == 1
    connection.refresh_from_db()
    stored = connection.get_credentials()
    assert stored["webhook_key"] == subscriptions.get().secret
    assert stored["webhook_key"] not in str(connection.credentials)  # encrypted at rest
    assert AuditEvent.objects.filter(action="connection.webhooks_subscribed").count() == 2

    customer = TimsCustomer.objects.filter(site=site).first()
    customer_update(customer=customer, body={"phone": "+44 113 496 0000"}, actor={"type": "user", "id": "test"})
    deliver_pending(site=site)
    delivery = WebhookDelivery.objects.get(connection=connection, status="received")
    assert delivery.signature_valid
    [run] = webhook_process(delivery_id=delivery.pk)
    assert run.flow == flow and run.trigger == "webhook"


def test_a_lost_secret_is_rotated_and_an_https_only_site_refuses_a_plain_receiver(tims, live_server):
    from connectors.base import ConnectorError
    from sandbox.models import TimsWebhookSubscription

    connection, site, _flow = tims
    with pytest.raises(ConnectorError) as refused:
        tims_webhooks_subscribe(connection=connection, receiver_url=_receiver(live_server, connection))
    assert refused.value.status_code == 422
    assert not TimsWebhookSubscription.objects.exists()

    site.allow_http_webhook_urls = True
    site.save()
    first = tims_webhooks_subscribe(connection=connection, receiver_url=_receiver(live_server, connection))
    credentials = connection.get_credentials()
    credentials.pop("webhook_key")
    connection.set_credentials(credentials)
    connection.save()
    kept = tims_webhooks_subscribe(connection=connection, receiver_url=_receiver(live_server, connection))
    assert kept.subscription_id == first.subscription_id and not kept.created
    connection.refresh_from_db()
    subscription = TimsWebhookSubscription.objects.get()
    assert connection.get_credentials()["webhook_key"] == subscription.secret and subscription.secret_rotated_at


def test_the_button_is_for_integration_admins_only(tims, client):
    connection, site, _flow = tims
    site.allow_http_webhook_urls = True
    site.save()
    url = reverse("integrations:connection_webhooks_subscribe", args=[connection.pk])
    auditor = User.objects.create_user("audrey", is_staff=True)
    auditor.groups.add(Group.objects.get(name=AUDITORS))
    client.force_login(auditor)
    assert client.post(url).status_code == 403
    page = client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    assert b"Subscribe to webhooks" not in page.content

    admin = User.objects.create_user("ada", is_staff=True)
    admin.groups.add(Group.objects.get(name=INTEGRATION_ADMINS))
    client.force_login(admin)
    page = client.get(reverse("admin:integrations_connection_change", args=[connection.pk]))
    assert b"Subscribe to webhooks" in page.content
    answer = client.post(url, follow=True)
    assert b"Subscribed" in answer.content
    connection.refresh_from_db()
    assert connection.get_credentials()["webhook_key"].encode() not in answer.content
