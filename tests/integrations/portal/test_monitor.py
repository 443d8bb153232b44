"""The run monitor and dashboard: who sees it and who may act, live progress as JSON, history
with filters, charts drawn from the runs, API budgets, re-authorisation and stale runs."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import ApiCall, AuditEvent, Connection, Flow, RunStatus, SyncRun
from integrations.services import dashboard
from integrations.services.runs import stale_after
from tests.integrations.portal.timeline_story import SECRET
from tests.integrations.portal.timeline_story import story, users  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

ACTION_BUTTONS = ("Run now", "Pause flow", "Resume")


def _buttons(body: str) -> list[str]:
    """The action buttons of the page's content (not the header's Log out)."""
    content = body.split('id="content-main"', 1)[1]
    return re.findall(r'<button type="submit"[^>]*>([^<]+)</button>', content)


@pytest.mark.parametrize("role", ["finance", "auditor"])
def test_finance_and_auditors_watch_but_cannot_act(client, story, users, role):
    client.force_login(users[role])
    response = client.get(reverse("integrations:monitor"))
    assert response.status_code == 200
    body = response.content.decode()
    assert story.flow.name in body and "Recent runs" in body
    assert _buttons(body) == []
    for action in ("run-now", "pause", "resume"):
        refused = client.post(reverse("integrations:monitor_flow_action", args=[story.flow.pk, action]))
        assert refused.status_code == 403
    assert not SyncRun.objects.filter(trigger="manual").exists()
    assert Flow.objects.get(pk=story.flow.pk).enabled


def test_integration_admins_run_pause_and_resume(client, story, users):
    client.force_login(users["integrator"])
    body = client.get(reverse("integrations:monitor")).content.decode()
    assert _buttons(body) == ["Run now", "Pause flow"]

    response = client.post(reverse("integrations:monitor_flow_action", args=[story.flow.pk, "run-now"]),
                           {"next": reverse("integrations:monitor") + "?period=7d"})
    assert response.status_code == 302 and response["Location"].endswith("?period=7d")
    run = SyncRun.objects.get(trigger="manual")
    assert run.status == RunStatus.QUEUED and run.triggered_by == users["integrator"]
    assert AuditEvent.objects.filter(action="flow.run_requested", actor=users["integrator"]).exists()

    client.post(reverse("integrations:monitor_flow_action", args=[story.flow.pk, "pause"]))
    assert not Flow.objects.get(pk=story.flow.pk).enabled
    body = client.get(reverse("integrations:monitor")).content.decode()
    assert _buttons(body) == ["Run now", "Resume"]
    client.post(reverse("integrations:monitor_flow_action", args=[story.flow.pk, "resume"]))
    assert Flow.objects.get(pk=story.flow.pk).enabled
    assert AuditEvent.objects.filter(action__in=["flow.paused", "flow.resumed"]).count() == 2


def test_actions_take_posts_with_the_csrf_token_only(story, users):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(users["integrator"])
    url = reverse("integrations:monitor_flow_action", args=[story.flow.pk, "run-now"])
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403  # no CSRF token
    assert not SyncRun.objects.filter(trigger="manual").exists()


def test_an_offsite_next_is_ignored(client, story, users):
    client.force_login(users["integrator"])
    response = client.post(reverse("integrations:monitor_flow_action", args=[story.flow.pk, "pause"]),
                           {"next": "https://evil.example/"})
    assert response["Location"] == reverse("integrations:monitor")


def test_people_without_run_permissions_are_refused(client, story, users):
    client.force_login(users["nobody"])
    assert client.get(reverse("integrations:monitor")).status_code == 403
    assert client.get(reverse("integrations:monitor_live")).status_code == 403
    assert client.get(reverse("integrations:monitor_run", args=[story.run.pk])).status_code == 403


def test_live_json_reports_progress_and_heartbeat_age(client, story, users):
    now = timezone.now()
    SyncRun.objects.create(flow=story.flow, trigger="schedule", status=RunStatus.RUNNING, read_count=40,
                           created_count=30, updated_count=5, failed_count=2, progress_total=160,
                           started_at=now - timedelta(minutes=1), heartbeat_at=now - timedelta(seconds=12))
    client.force_login(users["auditor"])
    data = client.get(reverse("integrations:monitor_live")).json()
    [run] = data["runs"]
    assert (run["read"], run["created"], run["updated"], run["failed"], run["total"], run["percent"]) == (
        40, 30, 5, 2, 160, 25)
    assert 12 <= run["heartbeat_age"] <= 20 and run["stale"] is False
    assert data["summary"]["running"] == 1


def test_a_silent_run_is_stale_everywhere(client, story, users):
    beat = timezone.now() - stale_after() - timedelta(seconds=30)
    run = SyncRun.objects.create(flow=story.flow, trigger="schedule", status=RunStatus.RUNNING, started_at=beat,
                                 heartbeat_at=beat)
    client.force_login(users["finance"])
    assert client.get(reverse("integrations:monitor_live")).json()["runs"][0]["stale"] is True
    body = client.get(reverse("integrations:monitor")).content.decode()
    assert f"Run #{run.pk} of {story.flow.name}</a>\n              has sent no heartbeat" in body
    assert [r.pk for r in dashboard.runs_stale()] == [run.pk]


def test_connections_needing_reauthorisation_are_listed(client, story, users):
    Connection.objects.filter(pk=story.xero.pk).update(status="needs_reauth", status_reason="invalid_grant")
    client.force_login(users["auditor"])
    body = client.get(reverse("integrations:monitor")).content.decode()
    assert "Xero Demo</a>\n              (Xero) needs re-authorisation: invalid_grant" in body


def test_recent_runs_filter_by_flow_and_status(client, story, users):
    other = Flow.objects.create(slug="other", name="Other flow", source_connection=story.xero,
                                target_connection=story.tims, source_entity="payment", target_entity="payment")
    failed = SyncRun.objects.create(flow=other, trigger="schedule", status=RunStatus.FAILED, error_message="boom")
    client.force_login(users["finance"])
    rows = lambda body: re.findall(r'monitor/runs/(\d+)/">#\d+</a></td>\s*<td>', body)  # noqa: E731
    everything = rows(client.get(reverse("integrations:monitor")).content.decode())
    assert set(map(int, everything)) == {story.run.pk, story.failed_run.pk, failed.pk}
    by_flow = rows(client.get(reverse("integrations:monitor"), {"flow": other.pk}).content.decode())
    assert list(map(int, by_flow)) == [failed.pk]
    by_status = rows(client.get(reverse("integrations:monitor"), {"status": "partial"}).content.decode())
    assert list(map(int, by_status)) == [story.failed_run.pk]


def _runs_at(flow, hours_ago: list[tuple[int, int, int]], now: datetime) -> None:
    for hours, read, failed in hours_ago:
        when = now - timedelta(hours=hours)
        run = SyncRun.objects.create(flow=flow, trigger="schedule", status="succeeded" if not failed else "partial",
                                     read_count=read, created_count=read - failed, failed_count=failed)
        SyncRun.objects.filter(pk=run.pk).update(created_at=when)


def test_throughput_buckets_sum_runs_per_hour():
    from tests.factories import make_flow

    flow = make_flow()
    now = datetime(2026, 11, 20, 12, 30, tzinfo=dt_timezone.utc)
    _runs_at(flow, [(0, 10, 0), (0, 30, 4), (3, 50, 5), (30, 999, 0)], now)
    buckets = dashboard.throughput(period="24h", now=now)
    assert len(buckets) == 24 and buckets[-1].start == datetime(2026, 11, 20, 12, tzinfo=dt_timezone.utc)
    assert (buckets[-1].read, buckets[-1].failed, buckets[-1].runs, buckets[-1].failure_percent) == (40, 4, 2, 10.0)
    assert (buckets[-4].read, buckets[-4].failure_percent) == (50, 10.0)
    assert sum(b.read for b in buckets) == 90  # the run of 30 hours ago is outside
    week = dashboard.throughput(period="7d", now=now)
    assert len(week) == 28 and sum(b.read for b in week) == 1089
    assert week[-1].read == 90  # 12:00 and 09:00 share the last six-hour bar (07:00-13:00)


def test_charts_draw_a_bar_and_a_point_per_active_hour(client, users):
    from tests.factories import make_flow

    flow = make_flow()
    now = timezone.now()
    _runs_at(flow, [(0, 20, 5), (2, 40, 0)], now)
    client.force_login(users["auditor"])
    body = client.get(reverse("integrations:monitor")).content.decode()
    throughput = body.split('id="chart-throughput"')[1].split("</svg>")[0]
    failures = body.split('id="chart-failures"')[1].split("</svg>")[0]
    assert sorted(re.findall(r'class="bar"[^>]*data-value="(\d+)"', throughput)) == ["20", "40"]
    assert sorted(re.findall(r'class="point"[^>]*data-value="([\d.]+)"', failures)) == ["0", "25"]
    assert "60 records read, 55 written, 5 failed in 2 runs" in body


def test_api_budget_counts_our_calls_and_the_apis_word(story):
    now = timezone.now()
    for seconds in (5, 20, 40):
        ApiCall.objects.create(connection=story.xero, method="GET", path="/x", status_code=200, started_at=now - timedelta(seconds=seconds))
    ApiCall.objects.create(connection=story.xero, method="GET", path="/x", status_code=200, started_at=now - timedelta(hours=3))
    by_name = {budget.connection.name: budget for budget in dashboard.connection_budgets(now=now)}
    xero = by_name["Xero Demo"]
    # The story's two calls were half an hour ago: today, not this minute.
    assert (xero.minute.limit, xero.minute.used, xero.minute.left) == (60, 3, 57)
    assert (xero.day.limit, xero.day.used, xero.day.left) == (5000, 6, 4994)
    Connection.objects.filter(pk=story.xero.pk).update(rate_minute_remaining=10, rate_day_remaining=4000,
                                                        rate_updated_at=now - timedelta(seconds=10))
    xero = {b.connection.name: b for b in dashboard.connection_budgets(now=now)}["Xero Demo"]
    assert (xero.minute.left, xero.day.left) == (10, 4000)
    tims = by_name["TIMS Demo"]
    assert tims.minute.limit == 120 and tims.day is None


def test_run_page_shows_counts_and_records(client, story, users):
    client.force_login(users["auditor"])
    body = client.get(reverse("integrations:monitor_run", args=[story.run.pk])).content.decode()
    assert "Created invoice SO-1001 in the target system" in body
    assert "Created invoice SO-1002" in body  # the other record of the run
    assert "(took 5 s)" in body
    assert _buttons(body) == []


@pytest.mark.parametrize("role", ["finance", "integrator", "auditor"])
def test_no_page_shows_a_secret(client, story, users, role):
    client.force_login(users[role])
    pages = [reverse("integrations:monitor"), reverse("integrations:monitor_live"), reverse("admin:index"),
             reverse("integrations:monitor_run", args=[story.run.pk]),
             reverse("integrations:timeline") + f"?system=xero&type=invoice&id={story.link.target_id}"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert SECRET not in response.content.decode(), url
    if role == "integrator":
        assert client.get(reverse("admin:integrations_flow_changelist")).status_code == 200


@pytest.mark.parametrize("role,links", [
    ("finance", ["Run monitor", "Review queue", "Record timeline", "Audit trail"]),
    ("integrator", ["Run monitor", "Review queue", "Record timeline", "Audit trail"]),
    ("auditor", ["Run monitor", "Review queue", "Record timeline", "Audit trail"]),
])
def test_admin_home_has_the_operations_panel(client, story, users, role, links):
    SyncRun.objects.create(flow=story.flow, trigger="schedule", status=RunStatus.FAILED)
    client.force_login(users[role])
    body = client.get(reverse("admin:index")).content.decode()
    panel = body.split('id="ops-panel-heading"')[1].split("</section>")[0]
    assert re.findall(r'<li><a href="[^"]+">([^<]+)</a></li>', panel) == links
    assert '<span class="figure">1</span><span class="label">failed runs, 24 h</span>' in panel
    assert reverse("admin:integrations_openexception_changelist") in panel


def test_admin_home_without_operations_rights_has_no_panel(client, users):
    client.force_login(users["nobody"])
    assert 'id="ops-panel-heading"' not in client.get(reverse("admin:index")).content.decode()


@pytest.mark.parametrize("seconds,words", [(None, "\u2014"), (4, "4 s"), (125, "2 min 5 s"), (120, "2 min"),
                                           (4320, "1 h 12 min"), (7200, "2 h"), (timedelta(seconds=61), "1 min 1 s")])
def test_durations_read_at_a_glance(seconds, words):
    from integrations.templatetags.ops import duration

    assert duration(seconds) == words


def test_charts_escape_their_text_and_break_lines_at_gaps():
    from integrations.charts import Point, bar_chart, line_chart

    bars = bar_chart(chart_id="c1", title="<script>", description="d", points=[Point("<b>x</b>", 3), Point("y", None)])
    assert "<script>" not in bars and "&lt;script&gt;" in bars and "&lt;b&gt;x&lt;/b&gt;" in bars
    assert bars.count('class="bar"') == 1
    assert re.findall(r'text-anchor="end">([^<]+)<', bars) == ["0", "3", "6"]  # whole numbers for counts
    line = line_chart(chart_id="c2", title="t", description="d", unit="%", y_max=100,
                      points=[Point("a", 10), Point("b", 20), Point("c", None), Point("d", 30), Point("e", 40)])
    assert line.count("<polyline") == 2 and line.count('class="point"') == 4
