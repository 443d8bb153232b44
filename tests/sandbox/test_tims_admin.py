"""The TIMS sandbox's admin pages open, with data in them, and the outbox action flushes."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.urls import reverse

from sandbox.models import TimsApiClient
from sandbox.tims.services import tims_demo_seed

TIMS_ADMINS = [model for model in admin.site._registry if model._meta.app_label == "sandbox" and model.__name__.startswith("Tims")]


@pytest.fixture
def staff(client, tims_site, tims_client):
    tims_demo_seed(site=tims_site, seed=1)
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def test_sites_clients_and_faults_are_in_admin():
    names = {model.__name__ for model in TIMS_ADMINS}
    assert {"TimsSite", "TimsApiClient", "TimsWebhookSubscription", "TimsWebhookEvent"} <= names
    assert any(model.__name__ == "FaultSetting" for model in admin.site._registry)


def test_changelist_and_change_pages(staff):
    # One seeded site for every page (seeding per model would cost more than the pages).
    opened = []
    for model in TIMS_ADMINS:
        opts = model._meta
        assert staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"), {"q": "C0045"}).status_code == 200, model
        row = model.objects.first()
        if row is not None:
            assert staff.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])).status_code == 200, model
            opened.append(model.__name__)
    assert {"TimsSite", "TimsApiClient", "TimsSalesOrder", "TimsGlEntry"} <= set(opened)


def test_client_limits_are_editable(staff, tims_client):
    url = reverse("admin:sandbox_timsapiclient_change", args=[tims_client.pk])
    page = staff.get(url).content.decode()
    assert "minute_limit" in page and "concurrent_limit" in page and "window_seconds" in page
    assert TimsApiClient.objects.get(pk=tims_client.pk).minute_limit == 120


def test_site_page_links_its_faults(staff, tims_site):
    from sandbox.common.faults import fault_setting_update

    url = reverse("admin:sandbox_timssite_change", args=[tims_site.pk])
    assert "tenant_key=acme" in staff.get(url).content.decode()
    setting = fault_setting_update(system="tims", tenant_key=tims_site.code, error_rate=0.2)
    assert reverse("admin:sandbox_faultsetting_change", args=[setting.pk]) in staff.get(url).content.decode()
