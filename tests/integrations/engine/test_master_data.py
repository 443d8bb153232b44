"""Master data is matched before it is created: by reference, email, then normalised name;
an ambiguous match waits for a person as a duplicate, never a guess."""

from __future__ import annotations

import pytest

from integrations.engine.matching import normalise_name
from integrations.models import AuditEvent, RecordLink, SyncException
from tests.integrations.engine.test_flows_tims_xero import _flow, _run, systems  # noqa: F401  (fixture)

pytest.importorskip("sandbox.tims.services", reason="the sandbox app is off (SANDBOX_ENABLED=false)")
pytestmark = pytest.mark.django_db(transaction=True)


def test_names_are_normalised_for_matching():
    assert normalise_name("Pennine Pipework PLC") == normalise_name("pennine pipework")
    assert normalise_name("Dales Farm Dairies Ltd.") == normalise_name("DALES FARM DAIRIES LIMITED")
    assert normalise_name("Acme & Sons") == normalise_name("Acme and Sons")
    assert normalise_name("Acme North") != normalise_name("Acme South")


def test_existing_contacts_are_linked_and_ambiguous_ones_wait_for_a_person(systems):
    from sandbox.models import TimsCustomer, XeroContact

    tims, site, xero, tenant = systems
    customers = list(TimsCustomer.objects.filter(site=site).order_by("name"))
    by_email, by_name, ambiguous = customers[0], customers[1], customers[2]
    typed = XeroContact.objects.create(tenant=tenant, name="Somebody typed this by hand", email_address=by_email.email.upper())
    XeroContact.objects.create(tenant=tenant, name=f"{by_name.name.upper()} LIMITED")
    for suffix in ("Ltd", "Limited"):
        XeroContact.objects.create(tenant=tenant, name=f"{ambiguous.name.replace(' Ltd', '')} {suffix}")
    before = XeroContact.objects.filter(tenant=tenant).count()

    run = _run(_flow(tims, xero, "TIMS customers → Xero contacts", "customers"))

    created = len(customers) - 3
    assert run.created_count == created and run.updated_count == 2 and run.failed_count == 1
    assert XeroContact.objects.filter(tenant=tenant).count() == before + created
    linked = XeroContact.objects.get(tenant=tenant, contact_number=by_email.customer_code)
    assert linked.contact_id == typed.contact_id  # the existing contact, brought in line by the update
    assert linked.name == by_email.name
    assert AuditEvent.objects.filter(action="record.linked").count() == 2
    duplicate = SyncException.objects.get(code="master_data.ambiguous")
    assert duplicate.error_class == "duplicate" and duplicate.record_id == ambiguous.id
    assert len(duplicate.remote_response["candidates"]) == 2
    assert RecordLink.objects.filter(state="linked").count() == len(customers) - 1
