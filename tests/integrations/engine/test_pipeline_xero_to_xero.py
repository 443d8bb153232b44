"""The pipeline end to end against the sandbox, between two Xero organisations (contacts and
invoices): created once, unchanged records cost no call, updates, failures to the queue,
auto-resolve on a later success, unknown outcomes settled by lookup."""

from __future__ import annotations


import pytest

from integrations.models import ApiCall, AuditEvent, FieldMapping, Flow, MappingSet, RecordLink, SyncException
from integrations.services.runs import flow_run_request, run_claim
from integrations.engine.pipeline import run_execute
from tests.sandboxes import xero_connection

sandbox = pytest.importorskip("sandbox.xero.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def orgs(settings, live_server):
    settings.SANDBOX_BASE_URL = f"{live_server.url}/sandbox"
    source, source_tenant = xero_connection("Source Org")
    target, target_tenant = xero_connection("Target Org")
    return source, source_tenant, target, target_tenant


@pytest.fixture
def contacts_flow(orgs):
    source, _, target, _ = orgs
    mapping = MappingSet.objects.create(name="Contacts", source_system="xero", source_entity="contact",
                                        target_system="xero", target_entity="contact")
    for position, (target_field, options) in enumerate([
        ("name", {"source_path": "name", "required": True}),
        ("number", {"expression": "concat('SRC-', remote_id[:8])"}),
        ("email", {"source_path": "email"}),
    ]):
        FieldMapping.objects.create(mapping_set=mapping, target_field=target_field, position=position, **options)
    return Flow.objects.create(slug="contacts", name="Contacts across orgs", source_connection=source,
                               source_entity="contact", target_connection=target, target_entity="contact",
                               mapping_set=mapping, batch_size=10, enabled=True)


def _seed_contacts(tenant, count: int, prefix: str = "Customer"):
    from sandbox.models import XeroContact

    for n in range(count):
        XeroContact.objects.create(tenant=tenant, name=f"{prefix} {n:03d}", email_address=f"c{n}@example.test")


def _run(flow, full=False):
    run = flow_run_request(flow=flow, trigger="manual", full=full, enqueue=False)
    return run_execute(run_claim(run_id=run.pk))


def _target_contacts(tenant):
    from sandbox.models import XeroContact

    return XeroContact.objects.filter(tenant=tenant)


def test_contacts_are_created_once_and_unchanged_ones_cost_nothing(orgs, contacts_flow):
    _, source_tenant, _, target_tenant = orgs
    _seed_contacts(source_tenant, 25)

    first = _run(contacts_flow)
    assert (first.status, first.read_count, first.created_count, first.failed_count) == ("succeeded", 25, 25, 0)
    assert _target_contacts(target_tenant).count() == 25
    assert RecordLink.objects.filter(state="linked", target_id__isnull=False).count() == 25
    writes = ApiCall.objects.filter(run=first, method__in=["PUT", "POST"]).count()
    assert writes == 3  # 25 records in batches of 10

    second = _run(contacts_flow, full=True)
    assert (second.read_count, second.unchanged_count, second.created_count) == (25, 25, 0)
    assert ApiCall.objects.filter(run=second, method__in=["PUT", "POST"]).count() == 0
    assert _target_contacts(target_tenant).count() == 25


def test_a_changed_contact_is_updated_not_duplicated(orgs, contacts_flow):
    from sandbox.models import XeroContact

    _, source_tenant, _, target_tenant = orgs
    _seed_contacts(source_tenant, 3)
    _run(contacts_flow)
    contact = XeroContact.objects.filter(tenant=source_tenant).order_by("name").first()
    contact.email_address = "new-address@example.test"
    contact.save()

    run = _run(contacts_flow)
    assert (run.updated_count, run.created_count) == (1, 0)
    assert _target_contacts(target_tenant).count() == 3
    assert _target_contacts(target_tenant).filter(email_address="new-address@example.test").count() == 1
    assert AuditEvent.objects.filter(action="record.updated", run=run).count() == 1


def test_a_record_that_looks_like_another_goes_to_the_queue_and_a_later_success_resolves_it(orgs, contacts_flow):
    """Two source contacts with one name: the second would be a twin of the first in the
    target, so it waits for a person; once renamed at the source it syncs and its exception
    closes by itself."""
    from sandbox.models import XeroContact

    _, source_tenant, _, target_tenant = orgs
    _seed_contacts(source_tenant, 3)
    twin = XeroContact.objects.create(tenant=source_tenant, name="Customer 000 Ltd", email_address="twin@example.test")
    run = _run(contacts_flow)
    assert (run.status, run.created_count, run.failed_count) == ("partial", 3, 1)
    exception = SyncException.objects.get()
    assert (exception.stage, exception.error_class, exception.status) == ("load", "duplicate", "open")
    assert exception.record_id == str(twin.contact_id) and "Possible duplicate" in exception.message
    assert exception.transformed_payload["name"] == "Customer 000 Ltd"

    twin.name = "Customer 999"
    twin.save()
    again = _run(contacts_flow)
    assert again.created_count == 1
    exception.refresh_from_db()
    assert exception.status == "auto_resolved"
    assert _target_contacts(target_tenant).count() == 4


def test_a_dropped_connection_after_commit_is_settled_by_lookup(orgs, contacts_flow):
    """The sandbox commits the create, then drops the connection: the run looks the contacts
    up by ContactNumber, links them, and creates nothing twice."""
    from sandbox.common.faults import fault_setting_update

    _, source_tenant, _, target_tenant = orgs
    _seed_contacts(source_tenant, 10)
    fault_setting_update(system="xero", tenant_key=str(target_tenant.tenant_id), drop_rate=1.0, seed=1)
    run = _run(contacts_flow)
    fault_setting_update(system="xero", tenant_key=str(target_tenant.tenant_id), drop_rate=0.0)
    assert _target_contacts(target_tenant).count() == 10
    assert RecordLink.objects.filter(state="linked").count() == 10
    assert run.created_count == 10 and run.failed_count == 0
    dropped = ApiCall.objects.filter(run=run, method="PUT", status_code__isnull=True)
    assert dropped.count() >= 1  # the create's answer really was lost
    assert ApiCall.objects.filter(run=run, method="GET", path__contains="Contacts").exists()  # the lookup


def test_a_record_the_source_cannot_decode_goes_to_the_queue_and_the_batch_goes_on(orgs, contacts_flow, monkeypatch):
    """A contact Xero returns in a shape our codec refuses: extract-stage exception with the
    raw payload; the other contacts of the batch sync."""
    from dataclasses import replace

    from connectors.base import MappingFailed
    from connectors.xero import client as xero_client

    _, source_tenant, _, target_tenant = orgs
    _seed_contacts(source_tenant, 4)
    contact = xero_client.RESOURCES["contact"]

    def decode(raw):
        if raw.get("Name") == "Customer 002":
            raise MappingFailed("UpdatedDateUTC is not a Xero date")
        return contact.decode(raw)

    monkeypatch.setitem(xero_client.RESOURCES, "contact", replace(contact, decode=decode))
    run = _run(contacts_flow)
    assert (run.read_count, run.created_count, run.failed_count) == (4, 3, 1)
    exception = SyncException.objects.get()
    assert (exception.stage, exception.code) == ("extract", "extract.undecodable")
    assert "could not be read" in exception.message and exception.source_payload["Name"] == "Customer 002"
    assert _target_contacts(target_tenant).count() == 3
