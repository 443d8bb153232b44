"""The role matrix: each role × each admin page — what it may see and do — and secrets
never render anywhere."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

from integrations.models import (
    Alert, ApiCall, AuditSource, FieldMapping, MappingSet, RecordLink, Rule, SyncRun, ValueMap, ValueMapEntry,
    WebhookDelivery,
)
from integrations.roles import AUDITORS, FINANCE, INTEGRATION_ADMINS
from integrations.services.audit import audit_event_record
from reconciliation.models import DocumentKind, MatchAllocation
from tests.factories import make_connection, make_document, make_exception, make_flow, make_match

pytestmark = pytest.mark.django_db

SECRET = "s3cr3t-value-that-must-never-render"

CONFIG = {"connection", "flow", "mappingset", "fieldmapping", "valuemap", "valuemapentry", "rule"}
HISTORY = {"syncrun", "recordlink", "auditevent", "apicall", "webhookdelivery", "alert"}
QUEUE = {"openexception", "resolvedexception"}
LEDGER = {"ledgerdocument", "match", "matchallocation"}
ALL = CONFIG | HISTORY | QUEUE | LEDGER

# Written out by hand from the roles' job descriptions, not derived from integrations/roles.py.
EXPECTED = {
    "finance": {
        "view": {"connection", "flow", "syncrun", "recordlink", "auditevent", "alert"} | QUEUE | LEDGER,
        "add": set(),
        "change": QUEUE,  # the assignee; matches change on the reconciliation screen
    },
    "integrator": {
        "view": CONFIG | HISTORY | QUEUE,
        "add": CONFIG,
        "change": CONFIG,
    },
    "auditor": {"view": ALL, "add": set(), "change": set()},
    "superuser": {"view": ALL, "add": CONFIG, "change": CONFIG | QUEUE},
}
APP = {name: "reconciliation" if name in LEDGER else "integrations" for name in ALL}


@pytest.fixture
def users():
    result = {}
    for name, group in (("finance", FINANCE), ("integrator", INTEGRATION_ADMINS), ("auditor", AUDITORS)):
        user = User.objects.create_user(name, password="pw", is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        result[name] = user
    result["superuser"] = User.objects.create_superuser("root", password="pw")
    return result


@pytest.fixture
def objects():
    xero = make_connection(name="Xero Demo")
    xero.set_credentials({"client_secret": SECRET, "refresh_token": SECRET + "-rt"})
    xero.save()
    flow = make_flow(target_connection=xero)
    mapping_set = MappingSet.objects.create(name="Orders", source_system="tims", source_entity="salesorder",
                                            target_system="xero", target_entity="invoice")
    value_map = ValueMap.objects.create(name="Categories")
    run = SyncRun.objects.create(flow=flow, trigger="manual", status="succeeded")
    link = RecordLink.objects.create(source_connection=flow.source_connection, source_type="salesorder",
                                     source_id="so-1", target_connection=xero, target_type="invoice",
                                     target_id="inv-1", state="linked")
    invoice = make_document(xero, amount="10.00")
    payment = make_document(xero, DocumentKind.PAYMENT, amount="10.00", reference="INV-1")
    match = make_match(payment)
    result = {
        "connection": xero,
        "flow": flow,
        "mappingset": mapping_set,
        "fieldmapping": FieldMapping.objects.create(mapping_set=mapping_set, target_field="Reference", source_path="number"),
        "valuemap": value_map,
        "valuemapentry": ValueMapEntry.objects.create(value_map=value_map, source_value="Widgets", target_value="200"),
        "rule": Rule.objects.create(mapping_set=mapping_set, name="Skip zero", condition="total == 0", action="skip"),
        "syncrun": run,
        "recordlink": link,
        "auditevent": audit_event_record(action="record.created", source=AuditSource.WORKER, object_system="xero",
                                         object_type="invoice", object_id="inv-1", object_ref="INV-1"),
        "apicall": ApiCall.objects.create(connection=xero, method="POST", path="/api.xro/2.0/Invoices",
                                          status_code=200, started_at=timezone.now()),
        "webhookdelivery": WebhookDelivery.objects.create(system="xero", connection=xero, raw_body=b'{"events":[]}',
                                                          signature_valid=True),
        "alert": Alert.objects.create(kind="run_failed", dedup_key="run_failed:1", subject="A run failed", message="x"),
        "openexception": make_exception(flow),
        "resolvedexception": make_exception(flow, status="resolved"),
        "ledgerdocument": invoice,
        "match": match,
        "matchallocation": MatchAllocation.objects.create(match=match, document=invoice, amount=Decimal("10"),
                                                          payment_amount=Decimal("10")),
    }
    return result


def _ciphertext(connection) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [connection.pk])
        return cursor.fetchone()[0]


def _assert_no_secret(response, ciphertext):
    body = response.content.decode()
    assert SECRET not in body
    assert ciphertext not in body


@pytest.mark.parametrize("role", ["finance", "integrator", "auditor", "superuser"])
def test_role_matrix(client, users, objects, role):
    client.force_login(users[role])
    ciphertext = _ciphertext(objects["connection"])
    expected = EXPECTED[role]
    for model in sorted(ALL):
        app, obj = APP[model], objects[model]
        changelist = client.get(reverse(f"admin:{app}_{model}_changelist"))
        assert changelist.status_code == (200 if model in expected["view"] else 403), (role, model, "changelist")
        _assert_no_secret(changelist, ciphertext)

        add = client.get(reverse(f"admin:{app}_{model}_add"))
        assert add.status_code == (200 if model in expected["add"] else 403), (role, model, "add")

        change = client.get(reverse(f"admin:{app}_{model}_change", args=[obj.pk]))
        can_view = model in expected["view"]
        assert change.status_code == (200 if can_view else 403), (role, model, "change page")
        if can_view:
            _assert_no_secret(change, ciphertext)
            can_save = 'name="_save"' in change.content.decode()
            assert can_save == (model in expected["change"]), (role, model, "save button")

        if model not in expected["change"]:
            post = client.post(reverse(f"admin:{app}_{model}_change", args=[obj.pk]), {})
            assert post.status_code == 403, (role, model, "post")


@pytest.mark.parametrize("role", ["finance", "integrator", "auditor", "superuser"])
def test_connection_history_and_index_never_show_secrets(client, users, objects, role):
    client.force_login(users[role])
    connection = objects["connection"]
    connection.name = "Xero Demo (renamed)"
    connection.save()
    ciphertext = _ciphertext(connection)
    for url in (reverse("admin:index"), reverse("admin:integrations_connection_history", args=[connection.pk])):
        response = client.get(url)
        assert response.status_code in (200, 403)
        _assert_no_secret(response, ciphertext)


def test_finance_may_assign_an_exception_and_it_is_audited(client, users, objects):
    client.force_login(users["finance"])
    exception = objects["openexception"]
    response = client.post(reverse("admin:integrations_openexception_change", args=[exception.pk]),
                           {"assignee": users["finance"].pk})
    assert response.status_code == 302
    exception.refresh_from_db()
    assert exception.assignee == users["finance"]
    assert exception.message == "The account code 999 does not exist in Xero."  # nothing else changed


def test_integration_admin_sets_a_secret_write_only(client, users, objects):
    client.force_login(users["integrator"])
    connection = objects["connection"]
    url = reverse("admin:integrations_connection_change", args=[connection.pk])
    form = client.get(url)
    assert 'name="client_secret"' in form.content.decode()
    data = {"name": connection.name, "system": "xero", "environment": "sandbox", "base_url": "",
            "auth_kind": connection.auth_kind, "tenant_id": connection.tenant_id, "tenant_name": "",
            "status": "active", "status_reason": "", "client_id": "", "client_secret": "new-typed-secret"}
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    connection.refresh_from_db()
    assert connection.get_credentials()["client_secret"] == "new-typed-secret"
    assert connection.get_credentials()["refresh_token"] == SECRET + "-rt"  # merged, not replaced
    page = client.get(url).content.decode()
    assert "new-typed-secret" not in page and SECRET not in page
