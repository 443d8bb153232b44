"""The auditors' views: the trail by record, run, user, operation and time, read as sentences;
the CSV export streaming the same filter; the configuration history without secrets; and
auditors changing nothing anywhere."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.contrib import admin
from django.http import StreamingHttpResponse
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from integrations.models import AuditEvent, AuditSource, Connection, SyncRun
from integrations.services.audit import audit_event_record, operation
from integrations.services.connections import connection_credentials_update
from tests.factories import make_exception
from tests.integrations.portal.queue_fixtures import SECRET, flows, people  # noqa: F401

pytestmark = pytest.mark.django_db

TRAIL = reverse("integrations:audit_trail")
EXPORT = reverse("integrations:audit_export")
CONFIG = reverse("integrations:config_history")


@pytest.fixture
def trail(flows, people):
    """A small trail: two records, one run, one person's click (two events, one operation), an old event."""
    run = SyncRun.objects.create(flow=flows["orders"], trigger="manual", status="succeeded")
    record = dict(object_system="tims", object_type="sales_order", flow=flows["orders"])
    events = {
        "created": audit_event_record(action="record.created", source=AuditSource.WORKER, object_id="so-1",
                                      object_ref="SO-0001", run=run, **record),
        "failed": audit_event_record(action="record.failed", source=AuditSource.WORKER, object_id="so-2",
                                     object_ref="SO-0002", run=run, data={"message": "Account code 2999 is unknown"},
                                     **record),
    }
    with operation():
        events["retried"] = audit_event_record(action="exception.retried", source=AuditSource.UI,
                                               actor=people["finance"], object_id="so-2", object_ref="SO-0002", **record)
        events["assigned"] = audit_event_record(action="exception.assigned", source=AuditSource.UI,
                                                actor=people["finance"], object_id="so-1", object_ref="SO-0001",
                                                data={"assignee": "finance2"}, **record)
    events["other"] = audit_event_record(action="record.created", source=AuditSource.WORKER, object_id="so-0",
                                         object_ref="SO-0000", **record)
    from django.db import connection as db

    with db.cursor() as cursor:  # an event from last month (the trigger refuses UPDATE on PostgreSQL)
        cursor.execute(
            "INSERT INTO integrations_auditevent (created_at, actor_label, source, action, object_system, object_type,"
            " object_id, object_ref, data, correlation_id) VALUES (%s, '', 'worker', 'record.created', 'tims',"
            " 'sales_order', 'so-9', 'SO-0009', '{}', %s)",
            [timezone.now() - timedelta(days=30), "0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b"])
    events["run"] = run
    return events


def _refs(response) -> list[str]:
    return [row["event"].object_ref for row in response.context["rows"]]


def test_the_trail_filters_by_record_run_user_operation_and_time(client, people, trail):
    client.force_login(people["auditor"])
    assert len(_refs(client.get(TRAIL))) == 6
    by_record = client.get(TRAIL, {"system": "tims", "object_type": "sales_order", "object_id": "so-2"})
    assert _refs(by_record) == ["SO-0002", "SO-0002"]
    body = by_record.content.decode()
    assert "finance retried sales_order SO-0002" in body
    assert "sales_order SO-0002 failed: Account code 2999 is unknown" in body
    assert _refs(client.get(TRAIL, {"run": trail["run"].pk})) == ["SO-0002", "SO-0001"]
    assert _refs(client.get(TRAIL, {"user": "finance"})) == ["SO-0001", "SO-0002"]
    operation_id = trail["retried"].correlation_id
    assert sorted(_refs(client.get(TRAIL, {"correlation_id": operation_id}))) == ["SO-0001", "SO-0002"]
    recent = client.get(TRAIL, {"since": (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")})
    assert "SO-0009" not in _refs(recent) and len(_refs(recent)) == 5
    older = client.get(TRAIL, {"until": (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")})
    assert _refs(older) == ["SO-0009"]
    assert _refs(client.get(TRAIL, {"action": "exception.assigned"})) == ["SO-0001"]
    wrong = client.get(TRAIL, {"since": "2026-11-20T10:00", "until": "2026-11-01T10:00"})
    assert "is before" in wrong.content.decode()


def _csv(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_export_streams_the_same_filter_as_csv(client, people, trail, monkeypatch):
    monkeypatch.setattr("integrations.views.audit.EXPORT_CHUNK", 2)  # several fetches, as at millions of rows
    client.force_login(people["auditor"])
    response = client.get(EXPORT, {"system": "tims", "object_type": "sales_order", "object_id": "so-2"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    header, *rows = _csv(response)
    assert header[:4] == ["time (UTC)", "action", "what happened", "user"]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("exception.retried", "finance retried sales_order SO-0002", "finance"),
        ("record.failed", "sales_order SO-0002 failed: Account code 2999 is unknown", "system"),
    ]
    assert rows[0][0].endswith("+00:00")
    everything = _csv(client.get(EXPORT))
    assert len(everything) == 1 + AuditEvent.objects.count() == 7


def test_the_export_writes_rows_in_chunks():
    from integrations.views.audit import audit_csv_chunks

    AuditEvent.objects.bulk_create([AuditEvent(action="record.created", source="worker", object_type="invoice",
                                               object_id=str(n), object_ref=f"INV-{n}") for n in range(2500)])
    chunks = list(audit_csv_chunks(AuditEvent.objects.order_by("-id"), chunk_size=500))
    assert len(chunks) == 3  # a chunk per thousand rows, then the rest: never the whole file at once
    assert sum(chunk.count("\n") for chunk in chunks) == 2501


def test_config_history_says_who_changed_what_and_never_holds_credentials(client, people, flows):
    flow = flows["orders"]
    flow._history_user = people["integrator"]
    flow.batch_size = 25
    flow.save()
    connection = flows["xero"]
    connection._history_user = people["integrator"]
    connection.name = "Xero Acme (live)"
    connection.save()
    connection_credentials_update(connection=connection, values={"client_secret": SECRET + "-new"},
                                  actor=people["integrator"])
    assert "credentials" not in {f.name for f in Connection.history.model._meta.fields}

    client.force_login(people["auditor"])
    flows_page = client.get(CONFIG, {"model": "flow"})
    body = flows_page.content.decode()
    assert "Batch size" in body and "<del>50</del>" in body and "<ins>25</ins>" in body and "integrator" in body
    for model in ("connection", "flow", "mappingset", "fieldmapping", "valuemap", "valuemapentry", "rule"):
        page = client.get(CONFIG, {"model": model})
        assert page.status_code == 200, model
        assert SECRET not in page.content.decode(), model
    connections = client.get(CONFIG, {"model": "connection", "user": "integrator"}).content.decode()
    assert "Xero Acme (live)" in connections and "<del>Xero Acme</del>" in connections

    # Finance may view connections and flows but not mappings: only those tabs, 404 for the rest.
    client.force_login(people["finance"])
    tabs = [tab["name"] for tab in client.get(CONFIG).context["tabs"]]
    assert tabs == ["connection", "flow"]
    assert client.get(CONFIG, {"model": "rule"}).status_code == 404


def test_no_audit_page_shows_a_secret(client, people, flows, trail):
    from django.db import connection as db

    connection_credentials_update(connection=flows["xero"], values={"client_secret": SECRET}, actor=people["superuser"])
    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [flows["xero"].pk])
        ciphertext = cursor.fetchone()[0]
    for role in ("auditor", "superuser", "finance"):
        client.force_login(people[role])
        for url in (TRAIL, f"{TRAIL}?object_type=connection", f"{CONFIG}?model=connection",
                    reverse("admin:integrations_auditevent_changelist")):
            body = client.get(url).content.decode()
            assert SECRET not in body and ciphertext not in body, (role, url)
        export = b"".join(client.get(EXPORT).streaming_content).decode()
        assert SECRET not in export and ciphertext not in export
        assert "changed the credentials of" in export


def test_auditors_may_view_everything_and_change_nothing_anywhere(client, people, flows, trail):
    auditor = people["auditor"]
    request = RequestFactory().get("/admin/")
    request.user = auditor
    for model, model_admin in admin.site._registry.items():
        assert not model_admin.has_add_permission(request), model
        assert not model_admin.has_change_permission(request), model
        assert not model_admin.has_delete_permission(request), model
        if model._meta.app_label in ("integrations", "reconciliation"):
            assert model_admin.has_view_permission(request), model
        assert not model_admin.get_actions(request), model
    client.force_login(auditor)
    for url in (TRAIL, EXPORT, CONFIG):
        assert client.get(url).status_code == 200, url
    assert client.post(TRAIL).status_code == 405 and client.post(EXPORT).status_code == 405
    exception = make_exception(flows["orders"])
    queue = reverse("admin:integrations_openexception_changelist")
    for action in ("retry_selected", "resolve_selected", "ignore_selected", "assign_selected"):
        client.post(queue, {"action": action, "index": 0, "_selected_action": [exception.pk], "apply": "1",
                            "note": "x", "assignee": auditor.pk})
    exception.refresh_from_db()
    assert exception.status == "open" and exception.assignee is None
    assert not AuditEvent.objects.filter(actor=auditor).exists()


def test_people_without_the_audit_permission_get_403(client, flows):
    from django.contrib.auth.models import User

    client.force_login(User.objects.create_user("visitor", is_staff=True))
    for url in (TRAIL, EXPORT, CONFIG):
        assert client.get(url).status_code == 403, url
    client.logout()
    assert client.get(TRAIL).status_code == 302  # to the login page
