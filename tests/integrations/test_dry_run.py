"""The flow dry run (admin page and service) against the TIMS and Xero sandboxes: what a run
would do with one live source record, and that nothing is written."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.contrib.auth.models import Group, User
from django.urls import reverse
from django.utils import timezone

from integrations.models import ApiCall, AuditEvent, Flow, RecordLink, SyncException
from integrations.roles import AUDITORS, FINANCE, INTEGRATION_ADMINS
from integrations.services.dry_run import flow_dry_run
from tests.factories import make_flow
# The two sandboxes with the default mapping templates, and flows over them, as the flow tests make them.
from tests.integrations.engine.test_flows_tims_xero import _flow, _run, systems  # noqa: F401 (systems: a fixture)

pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")

INVOICEABLE = ("shipped", "completed")
ACTOR = {"type": "user", "id": "test"}


def _user(name: str, group: str | None) -> User:
    if group is None:
        return User.objects.create_superuser(name, password="pw")
    user = User.objects.create_user(name, password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    return user


def _url(flow: Flow) -> str:
    return reverse("admin:integrations_flow_dry_run", args=[flow.pk])


def _written(tenant) -> tuple[int, ...]:
    from sandbox.models import XeroContact, XeroInvoice

    return (RecordLink.objects.count(), SyncException.objects.count(), AuditEvent.objects.count(),
            XeroInvoice.objects.filter(tenant=tenant).count(), XeroContact.objects.filter(tenant=tenant).count())


def _orders(site):
    from sandbox.models import TimsSalesOrder

    return TimsSalesOrder.objects.filter(site=site).order_by("order_number")


def _shipped_order(site):
    """A new shipped order: the seed's shipped orders are paid, and TIMS cancels no paid order."""
    from decimal import Decimal

    from sandbox.models import TimsCustomer, TimsProduct
    from sandbox.tims.sales import LineInput, sales_order_allocate, sales_order_create, sales_order_ship

    product = TimsProduct.objects.get(site=site, sku="HELMET-AD")
    with transaction.atomic():  # as the TIMS API does around its services (row locks)
        order = sales_order_create(customer=TimsCustomer.objects.filter(site=site).order_by("customer_code").first(),
                                   actor=ACTOR, lines=[LineInput(description=product.name, quantity=Decimal(2),
                                                                 unit_price=Decimal("119.00"), product=product, tax_code="S20")])
        sales_order_allocate(order, actor=ACTOR)
        sales_order_ship(order, actor=ACTOR)
    order.refresh_from_db()
    return order


@pytest.mark.django_db(transaction=True)
def test_a_shipped_order_would_be_created_writing_nothing_and_is_unchanged_after_a_run(systems, client):
    tims, site, xero, tenant = systems
    # The contacts and items the invoices refer to, as in production.
    customers = _flow(tims, xero, "TIMS customers → Xero contacts", "customers")
    _run(customers)
    _run(_flow(tims, xero, "TIMS products → Xero items", "products"))
    flow = _flow(tims, xero, "TIMS sales orders → Xero invoices", "orders")
    order = _shipped_order(site)
    client.force_login(_user("integrator", INTEGRATION_ADMINS))

    before, calls_before = _written(tenant), ApiCall.objects.count()
    page = client.get(_url(flow))
    assert page.status_code == 200
    assert order.id in page.content.decode() and order.order_number in page.content.decode()
    answer = client.post(_url(flow), {"source_id": order.id})
    assert answer.status_code == 200
    result = answer.context["result"]
    assert result.action == "create", (result.summary, result.problems)
    assert result.source["number"] == order.order_number
    assert result.payload["number"] == order.order_number
    # Xero's own JSON, as the connector would PUT it: PascalCase, the linked contact's id.
    [invoice] = result.encoded["Invoices"]
    assert invoice["InvoiceNumber"] == order.order_number and invoice["Type"] == "ACCREC"
    assert invoice["Contact"]["ContactID"] and invoice["LineItems"][0]["AccountCode"]
    html = answer.content.decode()
    assert "Create." in html and "&quot;InvoiceNumber&quot;" in html and "As Xero would receive it" in html
    assert _written(tenant) == before
    # Reads only, logged as usual and shared by one correlation id; never a write to Xero or TIMS.
    calls = ApiCall.objects.filter(correlation_id=result.correlation_id)
    assert ApiCall.objects.count() > calls_before and calls.exists()
    assert not calls.exclude(method="GET").exclude(path__contains="token").exists()

    assert _run(flow).created_count > 0
    again = flow_dry_run(flow=flow, source_id=order.id)
    assert again.action == "unchanged", (again.summary, again.problems)
    assert again.link.target_id and again.link.target_id in again.summary
    assert again.encoded["Invoices"][0]["InvoiceNumber"] == order.order_number

    from sandbox.tims.sales import sales_order_cancel

    with transaction.atomic():
        sales_order_cancel(order, actor=ACTOR, reason="Customer changed their mind")
    before = _written(tenant)
    cancelled = flow_dry_run(flow=flow, source_id=order.id)
    assert cancelled.action == "void" and cancelled.reason == "The order was cancelled in TIMS"
    assert again.link.target_id in cancelled.summary
    assert _written(tenant) == before

    # A contact Xero already has but no link knows of: linked and updated, never created twice.
    link = RecordLink.objects.filter(source_type="customer", state="linked").first()
    RecordLink.objects.filter(pk=link.pk).delete()
    before = _written(tenant)
    twin = flow_dry_run(flow=customers, source_id=link.source_id)
    assert twin.action == "update" and link.target_id in twin.summary and "instead of creating a twin" in twin.summary
    assert twin.encoded["Contacts"][0]["ContactID"] == link.target_id
    # Both ways, the last writer wins: the contact changed in Xero after the customer in TIMS stays.
    customers.conflict_policy = "last_writer_wins"
    customers.save()
    kept = flow_dry_run(flow=customers, source_id=link.source_id)
    assert kept.action == "skip" and "the last writer wins" in kept.reason and kept.encoded is None
    assert _written(tenant) == before


@pytest.mark.django_db(transaction=True)
def test_review_skip_void_and_a_missing_id_say_why_in_plain_words(systems, client):
    tims, site, xero, tenant = systems
    flow = _flow(tims, xero, "TIMS sales orders → Xero invoices", "orders")
    medical = _orders(site).filter(status__in=INVOICEABLE, lines__product__category="GAS-MED").first()
    unshipped = _orders(site).filter(status__in=("open", "allocated")).first()
    cancelled = _orders(site).filter(status="cancelled").first()
    before = _written(tenant)

    review = flow_dry_run(flow=flow, source_id=medical.id)
    assert review.action == "review" and review.verdict == "review"
    assert any("GAS-MED" in p and "value map" in p for p in review.problems), review.problems
    assert review.encoded is None

    skip = flow_dry_run(flow=flow, source_id=unshipped.id)
    assert skip.action == "skip" and skip.reason == "Not shipped yet: invoiced when TIMS ships it"

    never_sent = flow_dry_run(flow=flow, source_id=cancelled.id)
    assert never_sent.action == "skip" and never_sent.reason == "The order was cancelled in TIMS; it was never sent"

    missing = flow_dry_run(flow=flow, source_id="so_does_not_exist")
    assert missing.action == "not_found" and "so_does_not_exist" in missing.summary and missing.source is None
    assert _written(tenant) == before

    client.force_login(_user("root", None))
    page = client.post(_url(flow), {"source_id": medical.id}).content.decode()
    assert "Review." in page and "GAS-MED" in page and "has no entry in the value map" in page
    page = client.post(_url(flow), {"source_id": unshipped.id}).content.decode()
    assert "Skip." in page and "Not shipped yet" in page
    page = client.post(_url(flow), {"source_id": "so_does_not_exist"}).content.decode()
    assert "Not found." in page and "so_does_not_exist" in page
    assert _written(tenant) == before

    # An order the reverse flow wrote into TIMS, unchanged since: our own change is not sent back.
    echoed = _orders(site).filter(status__in=INVOICEABLE).exclude(pk=medical.pk).first()
    RecordLink.objects.create(source_connection=xero, source_type="invoice", source_id="inv-from-xero",
                              target_connection=tims, target_type="sales_order", target_id=echoed.id,
                              state="linked", last_synced_at=timezone.now())
    echo = flow_dry_run(flow=flow, source_id=echoed.id)
    assert echo.action == "skip" and "not sent back" in echo.summary and echo.payload is None


@pytest.mark.django_db(transaction=True)
def test_only_people_who_may_change_the_flow_can_dry_run(client):
    flow = make_flow()
    change = reverse("admin:integrations_flow_change", args=[flow.pk])
    for name, group in (("finance", FINANCE), ("auditor", AUDITORS)):
        client.force_login(_user(name, group))
        assert client.get(_url(flow)).status_code == 403
        assert client.post(_url(flow), {"source_id": "so_1"}).status_code == 403
        assert _url(flow) not in client.get(change).content.decode()
    client.force_login(_user("integrator", INTEGRATION_ADMINS))
    assert _url(flow) in client.get(change).content.decode()
    # A flow not yet set up (no credentials, no mapping set) says why instead of failing.
    page = client.get(_url(flow))
    assert page.status_code == 200 and "The recent records could not be read" in page.content.decode()
    answer = client.post(_url(flow), {"source_id": "so_1"})
    assert answer.status_code == 200 and answer.context["result"].action == "error"
    assert "Could not finish." in answer.content.decode()
    assert client.post(_url(flow), {"source_id": "  "}).context["result"] is None  # required
    assert client.post(reverse("admin:integrations_flow_dry_run", args=[flow.pk + 1000]), {"source_id": "x"}).status_code == 404
    client.logout()
    assert client.get(_url(flow)).status_code == 302  # to the login page
