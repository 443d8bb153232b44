"""Every admin page of the product renders with its search, filters and date hierarchy."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

pytestmark = pytest.mark.django_db

PRODUCT_APPS = {"integrations", "reconciliation"}


def _product_admins():
    return [(model, model_admin) for model, model_admin in admin.site._registry.items()
            if model._meta.app_label in PRODUCT_APPS]


def _lists():
    # The reconciliation screen's admin entry opens the screen, not a list of records.
    from reconciliation.models import ReconciliationScreen

    return [(model, model_admin) for model, model_admin in _product_admins() if model is not ReconciliationScreen]


def test_every_product_model_is_in_admin():
    from django.apps import apps

    registered = {model for model, _ in _product_admins()}
    concrete = {m for app in PRODUCT_APPS for m in apps.get_app_config(app).get_models()
                if not m.__name__.startswith("Historical")}
    # The exceptions table is shown through its two proxies: open and resolved. The rate
    # budget's bookkeeping rows are internal; people see the budget on each connection.
    from integrations.models import RateBudgetState, RateGrant, RateLease, SyncException

    assert concrete - registered == {SyncException, RateBudgetState, RateGrant, RateLease}


@pytest.mark.parametrize("model,model_admin", _lists(), ids=lambda v: getattr(v, "__name__", ""))
def test_changelist_search_filters_and_date_hierarchy(client, model, model_admin):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    assert model_admin.list_display and model_admin.list_filter and model_admin.search_fields, model
    assert model_admin.date_hierarchy, model
    assert client.get(url).status_code == 200
    assert client.get(url, {"q": "INV-0001"}).status_code == 200
    assert client.get(url, {f"{model_admin.date_hierarchy}__year": "2026"}).status_code == 200


def test_runs_links_and_audit_events_lead_to_the_record_timeline_and_the_run_monitor(client):
    from integrations.models import AuditSource, RecordLink, SyncRun
    from integrations.services.audit import audit_event_record
    from tests.factories import make_flow

    client.force_login(User.objects.create_superuser("root", password="pw"))
    flow = make_flow()
    run = SyncRun.objects.create(flow=flow, trigger="manual")
    RecordLink.objects.create(source_connection=flow.source_connection, source_type="sales_order", source_id="so_42",
                              target_connection=flow.target_connection, target_type="invoice", target_id="inv-9")
    audit_event_record(action="record.created", source=AuditSource.WORKER, object_system="xero", object_type="invoice",
                       object_id="inv-9", object_ref="SO-42")
    links = client.get(reverse("admin:integrations_recordlink_changelist")).content.decode()
    assert f"{reverse('integrations:timeline')}?system={flow.source_connection.system}&amp;type=sales_order&amp;id=so_42" in links
    events = client.get(reverse("admin:integrations_auditevent_changelist")).content.decode()
    assert f"{reverse('integrations:timeline')}?system=xero&amp;type=invoice&amp;id=inv-9" in events
    runs = client.get(reverse("admin:integrations_syncrun_changelist")).content.decode()
    assert reverse("integrations:monitor_run", args=[run.pk]) in runs
