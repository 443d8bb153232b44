from io import StringIO

from django.core.management import call_command

from sandbox.models import XeroAccount, XeroApp, XeroContact, XeroTenant


def test_seed_creates_an_app_and_two_organisations_once(db):
    out = StringIO()
    call_command("sandbox_xero_seed", stdout=out)
    app = XeroApp.objects.get()
    text = out.getvalue()
    assert app.client_id in text and app.client_secret in text
    assert XeroTenant.objects.count() == 2
    tenant = XeroTenant.objects.first()
    assert XeroAccount.objects.filter(tenant=tenant, system_account="ROUNDING").exists()
    assert XeroContact.objects.filter(tenant=tenant).count() == 3
    call_command("sandbox_xero_seed", stdout=StringIO())
    assert XeroApp.objects.count() == 1 and XeroTenant.objects.count() == 2


def test_deliver_webhooks_command_runs(db):
    out = StringIO()
    call_command("sandbox_deliver_webhooks", stdout=out)
    assert "Delivered 0 events" in out.getvalue()


def test_sandbox_admin_pages_render(admin_client, db):
    call_command("sandbox_xero_seed", stdout=StringIO())
    for name in ("xerotenant", "xeroapp", "faultsetting", "xerowebhookevent", "xerocontact", "xeroinvoice", "xeroaccount"):
        assert admin_client.get(f"/admin/sandbox/{name}/").status_code == 200, name
    app = XeroApp.objects.get()
    assert admin_client.get(f"/admin/sandbox/xeroapp/{app.pk}/change/").status_code == 200


def test_admin_action_seeds_a_tenant_made_in_the_admin(admin_client, db):
    tenant = XeroTenant.objects.create(name="Made in admin")
    response = admin_client.post(
        "/admin/sandbox/xerotenant/", {"action": "seed_chart", "_selected_action": [tenant.pk]}, follow=True
    )
    assert response.status_code == 200
    assert XeroAccount.objects.filter(tenant=tenant, code="090", type="BANK").exists()
    assert tenant.pk and XeroAccount.objects.filter(tenant=tenant).count() == 18


def test_seed_with_fixed_credentials_and_json(db):
    import json

    out = StringIO()
    call_command("sandbox_xero_seed", "--orgs", "1", "--client-id", "DEMOCLIENT", "--client-secret", "demo-secret", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["client_id"] == "DEMOCLIENT" and data["client_secret"] == "demo-secret"
    assert len(data["tenants"]) == 1 and data["base_url"].endswith("/xero")
    assert XeroApp.objects.get().client_id == "DEMOCLIENT"
