"""The dashboard draws its charts from the runs and refreshes the live runs by itself; the
admin's home page shows the operations panel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import ApiCall, Connection, RunStatus, SyncRun
from tests.integrations.portal.timeline_story import make_story, role_users

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_dashboard_renders_its_charts_and_live_runs(browser_as, monkeypatch):
    monkeypatch.setattr("integrations.views.monitor.POLL_SECONDS", 1)  # the page polls every second here
    story = make_story()
    now = timezone.now()
    for hours, read, failed in ((3, 120, 6), (4, 80, 0), (6, 200, 20), (10, 60, 3)):
        run = SyncRun.objects.create(flow=story.flow, trigger="schedule", status="partial" if failed else "succeeded",
                                     read_count=read, created_count=read - failed, failed_count=failed)
        SyncRun.objects.filter(pk=run.pk).update(created_at=now - timedelta(hours=hours))
    for seconds in range(0, 50, 2):
        ApiCall.objects.create(connection=story.xero, method="GET", path="/x", status_code=200,
                               started_at=now - timedelta(seconds=seconds))
    Connection.objects.filter(pk=story.tims.pk).update(status="needs_reauth", status_reason="The client secret was rotated")

    users = role_users()
    page = browser_as(users["integrator"])
    page.goto("/admin/")
    page.get_by_role("link", name="Run monitor").first.click()
    page.wait_for_url(f"**{reverse('integrations:monitor')}")

    # The seeded hours, each its own bar and point; the story's two one-record runs of the last
    # hour fall into one or two bars depending on the minute.
    bars = page.locator("#chart-throughput rect.bar")
    values = sorted(int(v) for v in bars.evaluate_all("els => els.map(e => e.dataset.value)"))
    assert values[-4:] == [60, 80, 120, 200] and sum(values[:-4]) == 2
    points = page.locator("#chart-failures circle.point")
    percents = [float(v) for v in points.evaluate_all("els => els.map(e => e.dataset.value)")]
    assert sorted(percents[:4]) == [0, 5, 5, 10]
    assert page.locator("#chart-throughput").bounding_box()["height"] > 100
    assert page.get_by_text("needs re-authorisation: The client secret was rotated").is_visible()
    minute = page.locator("#budgets tr", has_text="Xero Demo").locator("td").nth(2)
    assert minute.inner_text().strip().endswith("of 60")

    # A run starts: the live table picks it up without a reload.
    assert page.locator("#live-runs tbody tr.empty").count() == 1
    SyncRun.objects.create(flow=story.flow, trigger="manual", status=RunStatus.RUNNING, read_count=30,
                           progress_total=120, started_at=now, heartbeat_at=timezone.now())
    page.locator("#live-runs tbody tr[data-run]").wait_for(timeout=8_000)
    row = page.locator("#live-runs tbody tr[data-run]")
    assert "30 / 120" in row.inner_text()
    assert page.locator('#live-runs [role="progressbar"]').get_attribute("aria-valuenow") == "25"
    assert page.locator('[data-summary="running"]').inner_text() == "1"

    # The 7-day view draws six-hour bars.
    page.get_by_role("link", name="Last 7d").click()
    page.wait_for_url("**period=7d*")
    assert page.locator("#chart-throughput rect.bar").count() >= 2
    page.locator("#charts-heading").scroll_into_view_if_needed()

    # The admin's home page: the operations panel, as finance sees it (one failed run above).
    SyncRun.objects.filter(pk=story.failed_run.pk).update(status=RunStatus.FAILED)
    home = browser_as(users["finance"])
    home.goto("/admin/")
    panel = home.locator(".ops-panel")
    assert panel.get_by_role("link", name="Review queue").get_attribute("href") == reverse(
        "admin:integrations_openexception_changelist")
    assert panel.locator(".card", has_text="failed runs, 24 h").locator(".figure").inner_text() == "1"
    assert panel.get_by_role("link", name="Record timeline").is_visible()
