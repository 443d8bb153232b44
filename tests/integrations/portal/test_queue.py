"""The review queue: filters, the codes panel, paging without counting, and the actions (bulk
and one at a time), each audited under one correlation id, for the roles that may act."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from integrations.models import AuditEvent, ExceptionStatus, RunStatus, RunTrigger, SyncException, SyncRun
from integrations.paginator import EstimatedCountPaginator
from integrations.services.exceptions import exception_retry
from tests.factories import make_exception
from tests.integrations.portal.queue_fixtures import SECRET, flows, people  # noqa: F401

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:integrations_openexception_changelist")
RESOLVED = reverse("admin:integrations_resolvedexception_changelist")


def _refs(response) -> set[str]:
    return {obj.record_ref for obj in response.context["cl"].result_list}


def _aged(exception, **delta):
    SyncException.objects.filter(pk=exception.pk).update(created_at=timezone.now() - timedelta(**delta))
    return exception


@pytest.fixture
def queue(flows, people):
    orders, customers, elsewhere = flows["orders"], flows["customers"], flows["elsewhere"]
    return {
        "acct": make_exception(orders, record_ref="SO-ACCT", code="xero.validation.account_code",
                               transformed_payload={"number": "SO-ACCT", "lines": [{"account_code": "999"}]}),
        "tax": _aged(make_exception(orders, record_ref="SO-TAX", code="xero.validation.tax_type",
                                    stage="load", assignee=people["finance"]), days=3),
        "old": _aged(make_exception(customers, record_ref="CU-OLD", code="mapping.value_map.missing",
                                    error_class="mapping", stage="transform", assignee=people["finance2"]), days=40),
        "retrying": make_exception(elsewhere, record_ref="SO-RETRY", code="xero.transient", error_class="transient",
                                   status=ExceptionStatus.RETRYING),
        # The same record as "acct", closed earlier: history, not part of the open queue.
        "closed": make_exception(orders, record_id=SyncException.objects.get(record_ref="SO-ACCT").record_id,
                                 record_ref="SO-ACCT", code="xero.validation.account_code",
                                 status=ExceptionStatus.AUTO_RESOLVED),
    }


FILTER_CASES = [
    ({}, {"SO-ACCT", "SO-TAX", "CU-OLD", "SO-RETRY"}),
    ({"flow__id__exact": "orders"}, {"SO-ACCT", "SO-TAX"}),
    ({"connection": "other"}, {"SO-RETRY"}),
    ({"connection": "xero"}, {"SO-ACCT", "SO-TAX", "CU-OLD"}),
    ({"error_class__exact": "mapping"}, {"CU-OLD"}),
    ({"stage__exact": "load"}, {"SO-TAX"}),
    ({"code": "xero.validation.tax_type"}, {"SO-TAX"}),
    ({"age": "1h"}, {"SO-ACCT", "SO-RETRY"}),
    ({"age": "7d"}, {"SO-TAX"}),
    ({"age": "old"}, {"CU-OLD"}),
    ({"assignee": "mine"}, {"SO-TAX"}),
    ({"assignee": "none"}, {"SO-ACCT", "SO-RETRY"}),
    ({"assignee": "finance2"}, {"CU-OLD"}),
    ({"status": "retrying"}, {"SO-RETRY"}),
    ({"q": "SO-TAX"}, {"SO-TAX"}),
]


def test_the_open_queue_filters(client, people, flows, queue):
    names = {"orders": flows["orders"].pk, "other": flows["other"].pk, "xero": flows["xero"].pk,
             "finance2": people["finance2"].pk}
    client.force_login(people["finance"])
    for query, expected in FILTER_CASES:
        response = client.get(QUEUE, {key: names.get(value, value) for key, value in query.items()})
        assert response.status_code == 200, query
        assert _refs(response) == expected, query


def test_closed_history_of_a_record_stays_out_of_the_open_queue_and_is_browsable(client, people, queue):
    client.force_login(people["finance"])
    open_ids = [obj.pk for obj in client.get(QUEUE).context["cl"].result_list]
    assert queue["closed"].pk not in open_ids and queue["acct"].pk in open_ids
    resolved = client.get(RESOLVED)
    assert [obj.pk for obj in resolved.context["cl"].result_list] == [queue["closed"].pk]
    assert client.get(RESOLVED, {"status": "auto_resolved"}).context["cl"].result_list[0].pk == queue["closed"].pk


def test_the_codes_panel_counts_each_code_within_the_filters(client, people, flows, queue, monkeypatch):
    for _ in range(2):
        make_exception(flows["orders"], code="xero.validation.tax_type")
    client.force_login(people["finance"])
    groups = client.get(QUEUE).context["code_groups"]
    assert [(g["code"], g["count"]) for g in groups] == [
        ("xero.validation.tax_type", 3), ("mapping.value_map.missing", 1), ("xero.transient", 1),
        ("xero.validation.account_code", 1)]
    filtered = client.get(QUEUE, {"flow__id__exact": flows["customers"].pk}).context["code_groups"]
    assert [(g["code"], g["count"]) for g in filtered] == [("mapping.value_map.missing", 1)]
    # A chosen code keeps the panel's other codes visible (it counts without the code filter).
    chosen = client.get(QUEUE, {"code": "xero.transient"})
    assert len(chosen.context["code_groups"]) == 4
    assert [g["code"] for g in chosen.context["code_groups"] if g["selected"]] == ["xero.transient"]
    assert "xero.validation.tax_type" in chosen.content.decode()
    # Filters no index serves with the code: the newest matching rows are grouped instead.
    by_stage = client.get(QUEUE, {"stage__exact": "validate"})
    assert by_stage.context["codes_sample"] is None  # all of them fit in the sample: exact
    assert sorted((g["code"], g["count"]) for g in by_stage.context["code_groups"]) == [
        ("xero.transient", 1), ("xero.validation.account_code", 1), ("xero.validation.tax_type", 2)]
    monkeypatch.setattr("integrations.admin.exceptions.CODES_SAMPLE", 2)
    sampled = client.get(QUEUE, {"stage__exact": "validate"})
    assert sampled.context["codes_sample"] == 2 and "By code (newest 2)" in sampled.content.decode()
    assert sum(g["count"] for g in sampled.context["code_groups"]) == 2


def test_pages_are_read_without_counting_the_whole_queue(client, people, flows, monkeypatch):
    monkeypatch.setattr(EstimatedCountPaginator, "exact_up_to", 5)
    for n in range(12):
        make_exception(flows["orders"], record_ref=f"SO-{n:03d}")
    paginator = EstimatedCountPaginator(SyncException.objects.order_by("record_ref"), 5)
    assert paginator.count >= 6 and paginator.is_estimate
    first, third = paginator.page(1), paginator.page(3)
    assert first.has_next() and [e.record_ref for e in first] == [f"SO-{n:03d}" for n in range(5)]
    assert not third.has_next() and [e.record_ref for e in third] == ["SO-010", "SO-011"]

    monkeypatch.setattr("integrations.admin.exceptions.OpenExceptionAdmin.list_per_page", 5)
    client.force_login(people["finance"])
    page = client.get(QUEUE, {"p": 3})
    assert len(page.context["cl"].result_list) == 2
    body = page.content.decode()
    assert 'rel="prev"' in body and 'rel="next"' not in body and "about" in body
    assert 'rel="next"' in client.get(QUEUE, {"p": 2}).content.decode()


def _post_action(client, action, exceptions, **extra):
    return client.post(QUEUE, {"action": action, "index": 0,
                               ACTION_CHECKBOX_NAME: [e.pk for e in exceptions], **extra})


def _one_operation(action: str, count: int) -> AuditEvent:
    events = list(AuditEvent.objects.filter(action=action))
    assert len(events) == count
    assert len({event.correlation_id for event in events}) == 1
    return events[0]


def test_bulk_retry_makes_them_due_and_asks_each_flow_for_one_retry_run(client, people, flows, queue):
    client.force_login(people["finance"])
    before = timezone.now()
    response = _post_action(client, "retry_selected", [queue["acct"], queue["tax"], queue["old"]])
    assert response.status_code == 302
    for key in ("acct", "tax", "old"):
        queue[key].refresh_from_db()
        assert queue[key].status == ExceptionStatus.RETRYING
        assert before <= queue[key].next_attempt_at <= timezone.now()
    runs = SyncRun.objects.filter(trigger=RunTrigger.RETRY, status=RunStatus.QUEUED)
    assert sorted(runs.values_list("flow__name", flat=True)) == ["Customers", "Orders"]
    event = _one_operation("exception.retried", 3)
    assert event.actor == people["finance"] and event.description == f"finance retried salesorder {event.object_ref}"
    assert "Retrying 3 exception(s)" in client.get(QUEUE).content.decode()


def test_retry_while_a_run_is_busy_is_left_to_the_retry_sweep(flows, people, queue):
    SyncRun.objects.create(flow=flows["orders"], trigger=RunTrigger.MANUAL, status=RunStatus.RUNNING)
    result = exception_retry(exceptions=[queue["acct"]], actor=people["finance"])
    assert result.count == 1 and result.runs == [] and result.busy_flows == [flows["orders"]]
    flows["orders"].refresh_from_db()
    assert flows["orders"].rerun_requested
    from integrations.services.retries import exceptions_due

    assert exceptions_due(flows["orders"]) == [queue["acct"].record_id]


def test_bulk_resolve_asks_for_a_note_then_closes_with_it(client, people, queue):
    client.force_login(people["finance"])
    chosen = [queue["acct"], queue["retrying"]]
    form = _post_action(client, "resolve_selected", chosen)
    assert form.status_code == 200
    body = form.content.decode()
    assert "Resolution note" in body and "SO-ACCT" in body and 'name="apply"' in body
    assert SyncException.objects.filter(pk=queue["acct"].pk, status=ExceptionStatus.OPEN).exists()

    missing = _post_action(client, "resolve_selected", chosen, apply="1", note=" ")
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()

    done = _post_action(client, "resolve_selected", chosen, apply="1", note="Entered by hand in Xero")
    assert done.status_code == 302
    for key in ("acct", "retrying"):
        queue[key].refresh_from_db()
        assert queue[key].status == ExceptionStatus.RESOLVED
        assert queue[key].resolution_note == "Entered by hand in Xero"
        assert queue[key].resolved_by == people["finance"] and queue[key].next_attempt_at is None
    event = _one_operation("exception.resolved", 2)
    assert event.data == {"note": "Entered by hand in Xero"}
    assert _refs(client.get(QUEUE)) == {"SO-TAX", "CU-OLD"}


def test_bulk_ignore_and_assign_across_the_filtered_queue(client, people, flows, queue):
    client.force_login(people["finance"])
    # select_across takes everything the filters hold; the filters travel in the query string.
    assign = client.post(f"{QUEUE}?flow__id__exact={flows['orders'].pk}",
                         {"action": "assign_selected", "index": 0, "select_across": "1", "apply": "1",
                          ACTION_CHECKBOX_NAME: [queue["acct"].pk], "assignee": people["finance2"].pk})
    assert assign.status_code == 302
    assert set(SyncException.objects.filter(assignee=people["finance2"], status="open")
               .values_list("record_ref", flat=True)) == {"SO-ACCT", "SO-TAX", "CU-OLD"}
    event = _one_operation("exception.assigned", 2)
    assert event.description.endswith("to finance2")

    ignored = _post_action(client, "ignore_selected", [queue["old"]], apply="1", note="a test customer")
    assert ignored.status_code == 302
    queue["old"].refresh_from_db()
    assert queue["old"].status == ExceptionStatus.IGNORED and queue["old"].resolution_note == "a test customer"
    assert _one_operation("exception.ignored", 1).actor_label == "finance"


def test_one_exception_page_acts_with_buttons(client, people, queue):
    client.force_login(people["finance"])
    exception = queue["acct"]
    page = client.get(reverse("admin:integrations_openexception_change", args=[exception.pk])).content.decode()
    for label in ("Retry now", "Edit and retry", "Resolve", "Ignore", "Assign"):
        assert label in page

    retried = client.post(reverse("integrations:exception_retry", args=[exception.pk]))
    assert retried.status_code == 302
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.RETRYING
    assert SyncRun.objects.filter(flow=exception.flow, trigger=RunTrigger.RETRY).count() == 1

    url = reverse("integrations:exception_action", args=[exception.pk, "assign"])
    assert "Nobody (unassign)" in client.get(url).content.decode()
    assert client.post(url, {"assignee": people["finance2"].pk}).status_code == 302
    exception.refresh_from_db()
    assert exception.assignee == people["finance2"]

    url = reverse("integrations:exception_action", args=[exception.pk, "resolve"])
    assert client.post(url, {"note": ""}).status_code == 200  # the form again, with its error
    back = client.post(url, {"note": "Duplicate of SO-TAX"})
    assert back.status_code == 302 and back["Location"].endswith(
        reverse("admin:integrations_resolvedexception_change", args=[exception.pk]))
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.RESOLVED and exception.resolution_note == "Duplicate of SO-TAX"
    assert exception.flow.pk == queue["tax"].flow.pk
    # Closed now: a second click changes nothing and the page offers no actions.
    assert client.post(reverse("integrations:exception_retry", args=[exception.pk])).status_code == 302
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.RESOLVED
    closed = client.get(reverse("admin:integrations_resolvedexception_change", args=[exception.pk])).content.decode()
    assert "Retry now" not in closed
    actions = list(AuditEvent.objects.filter(object_id=exception.record_id, actor=people["finance"])
                   .order_by("created_at", "id").values_list("action", "correlation_id"))
    assert [a for a, _ in actions] == ["exception.retried", "exception.assigned", "exception.resolved"]
    assert len({c for _, c in actions}) == 3  # one operation per click


@pytest.mark.parametrize("role", ["integrator", "auditor"])
def test_roles_that_may_not_act_get_403_and_no_buttons(client, people, queue, role):
    client.force_login(people[role])
    exception = queue["acct"]
    changelist = client.get(QUEUE)
    assert changelist.status_code == 200
    assert 'name="action"' not in changelist.content.decode()
    page = client.get(reverse("admin:integrations_openexception_change", args=[exception.pk])).content.decode()
    assert "Retry now" not in page and "Edit and retry" not in page and 'name="_save"' not in page
    urls = [reverse("integrations:exception_retry", args=[exception.pk]),
            reverse("integrations:exception_edit", args=[exception.pk])]
    urls += [reverse("integrations:exception_action", args=[exception.pk, a]) for a in ("resolve", "ignore", "assign")]
    for url in urls:
        assert client.get(url).status_code in (403, 405), url
        assert client.post(url, {"note": "x", "assignee": people[role].pk}).status_code == 403, url
    assert _post_action(client, "retry_selected", [exception]).status_code in (200, 302, 403)
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.OPEN and exception.assignee is None
    assert not AuditEvent.objects.filter(action__startswith="exception.").exists()


def test_no_queue_page_shows_a_secret(client, people, flows, queue):
    from django.db import connection as db

    with db.cursor() as cursor:
        cursor.execute("SELECT credentials FROM integrations_connection WHERE id = %s", [flows["xero"].pk])
        ciphertext = cursor.fetchone()[0]
    exception = queue["acct"]
    for role in ("finance", "superuser", "auditor"):
        client.force_login(people[role])
        urls = [QUEUE, RESOLVED, f"{QUEUE}?connection={flows['xero'].pk}",
                reverse("admin:integrations_openexception_change", args=[exception.pk]),
                reverse("admin:integrations_resolvedexception_change", args=[queue["closed"].pk])]
        if role != "auditor":
            urls += [reverse("integrations:exception_edit", args=[exception.pk])]
            urls += [reverse("integrations:exception_action", args=[exception.pk, a]) for a in ("resolve", "assign")]
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            body = response.content.decode()
            assert SECRET not in body and ciphertext not in body, url


def test_several_counts_in_one_round_trip_exact_up_to_the_cap(flows, django_assert_max_num_queries):
    from integrations.paginator import bounded_counts

    for n in range(5):
        make_exception(flows["orders"], code="xero.transient")
    make_exception(flows["customers"], code="xero.transient")
    open_ones = SyncException.objects.filter(status__in=["open", "retrying"])
    querysets = [open_ones.filter(flow=flows["orders"]), open_ones.filter(flow=flows["customers"]),
                 open_ones.filter(flow=flows["elsewhere"]), open_ones]
    with django_assert_max_num_queries(2):  # the bounded counts, then one EXPLAIN for those past the cap
        counts = bounded_counts(querysets, exact_up_to=3)
    assert counts[1:3] == [(1, False), (0, False)]
    (orders, orders_estimated), (everything, everything_estimated) = counts[0], counts[3]
    assert orders_estimated and everything_estimated
    assert orders >= 4 and everything >= 4  # never less than what was counted
